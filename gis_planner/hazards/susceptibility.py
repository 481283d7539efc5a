"""Susceptibility zones from a DEM: flood, mudflow, landslide, avalanche → ``hazard_zones`` polygons.

Pipeline (every threshold from ``layers/hazards.yaml``, per-municipality overrides apply):

1. :func:`load_dem` reads the DEM GeoTIFF and warps it to the workspace CRS (a Kyrg-06 zone) when it
   is geographic or in another CRS; :func:`compute_terrain` runs the kernels of
   :mod:`gis_planner.hazards.terrain` (slope, curvature, priority-flood, D8, accumulation), with lake
   polygons from ``water_bodies`` as outlets of closed basins.
2. ``*_levels`` functions turn the terrain into a level raster (0 none, 1 low, 2 medium, 3 high).
3. :func:`levels_to_polygons` sieves regions smaller than the minimum area, vectorises
   (``rasterio.features.shapes``), simplifies the coverage (neighbours stay edge-matched) and keeps
   only valid polygons.
4. :func:`compute_hazard_zones` does all of it for a workspace; :func:`store_hazard_zones` writes the
   result into ``hazard_zones``, replacing only computed rows (``method == "official"`` rows stay).

Example
-------
>>> from gis_planner import Workspace                                  # doctest: +SKIP
>>> ws = Workspace("data/cadastre/demo")                              # doctest: +SKIP
>>> zones = run_hazards(ws, progress=lambda f, m: print(f"{f:.0%} {m}"))  # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from pyproj import CRS

from ..catalog import load_rules, rules_version
from ..errors import GisPlannerError
from ..i18n import label, t
from . import conditioning as C
from . import terrain as T
from ..lazy import LazyModule

# the vector stack and the zone table are loaded by the functions that use them, not by the terrain
# (compute_terrain in a process of its own stays ~110 MB lighter: benchmarks/terrain_pipeline_mem.py)
gpd = LazyModule("geopandas")
pd = LazyModule("pandas")
shapely = LazyModule("shapely")
_official = LazyModule("gis_planner.hazards.official")

Progress = Callable[[float, str], None]

HAZARD_TYPES = ("flood", "mudflow", "landslide", "avalanche")
LEVEL_NAMES = {1: "low", 2: "medium", 3: "high"}
LEVEL_CODES = {v: k for k, v in LEVEL_NAMES.items()}


def _noop(fraction: float, message: str) -> None:  # pragma: no cover - default callback
    return None


class _Steps:
    """Maps the progress of sub-steps onto [start, end] of the caller's progress bar."""

    def __init__(self, progress: Progress | None, start: float = 0.0, end: float = 1.0):
        self.cb = progress or _noop
        self.start = start
        self.end = end

    def __call__(self, fraction: float, message: str) -> None:
        f = self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0)
        self.cb(float(f), message)

    def sub(self, a: float, b: float) -> "_Steps":
        span = self.end - self.start
        return _Steps(self.cb, self.start + span * a, self.start + span * b)


def hazard_rules(workspace=None) -> dict:
    """``layers/hazards.yaml`` merged with the workspace override."""
    return load_rules("hazards", workspace)


# ----------------------------------------------------------------------------- DEM → terrain
class _FlowArray:
    """``Terrain.rec`` / ``Terrain.order``: the D8 receivers and upstream-first order (8 bytes a cell),
    built together from ``fdir`` by :func:`terrain.flow_order` when a zone rule first asks (not kept by
    the terrain pipeline: its memory peak, benchmarks/terrain_pipeline_mem.py) and kept out of core."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, terr, owner=None):
        if terr is None:
            return self
        if terr._rec is None or terr._order is None:
            terr._rec, terr._order = (terr.keep(a) for a in T.flow_order(terr.fdir))
        return getattr(terr, self.slot)

    def __set__(self, terr, value):
        setattr(terr, self.slot, value)


@dataclass
class Terrain:
    """The DEM on a metric grid and its derived rasters (all the same shape, north-up).

    Out of core: :meth:`out_of_core` moves the rasters (and the arrays of ``extra``) into memory-mapped
    temporary files (:class:`mapped.MappedStore`) and drops their pages from the process; what a zone rule
    reads comes back from the page cache or the disk while it reads it. :func:`compute_terrain` and the
    ``*_levels`` functions do this at each step; until then (a ``Terrain`` built by hand) everything is in
    memory as before."""

    dem: np.ndarray                 # float64 (float32 when the DEM given was float32), NaN nodata
    transform: object               # affine.Affine
    crs: CRS
    filled: np.ndarray = None
    fdir: np.ndarray = None         # int8 D8 indices
    acc: np.ndarray = None          # upstream cells (float64)
    slope: np.ndarray = None        # degrees, float32 (edges computed)
    plan: np.ndarray = None         # plan curvature 1/m
    profile: np.ndarray = None      # profile curvature 1/m
    lakes: np.ndarray = None        # bool, outlet cells (lake surfaces)
    acc_mfd: np.ndarray = None      # upstream cells by MFD (Freeman), D8 on channels; None with fill_d8
    extra: dict = field(default_factory=dict)
    _rec: np.ndarray = field(default=None, repr=False)
    _order: np.ndarray = field(default=None, repr=False)
    _store: object = field(default=None, repr=False, compare=False)

    rec = _FlowArray()     # flat index of each cell's D8 receiver (-1 for none), terrain.flow_order
    order = _FlowArray()   # upstream-first order of the cells that drain, terrain.flow_order

    _RASTERS = ("dem", "filled", "fdir", "acc", "slope", "plan", "profile", "lakes", "acc_mfd", "_rec", "_order")

    def keep(self, a):
        """``a`` out of core when the terrain is (:meth:`out_of_core`), else as it is."""
        return a if self._store is None else self._store.put(a)

    def out_of_core(self, workdir=None) -> "Terrain":
        """Move every raster and every array of ``extra`` into memory-mapped temporary files (once; arrays
        added later on each call) and drop their resident pages (:meth:`release`). The same values, as
        arrays on those maps; an array held twice (``filled`` is ``extra["routing"]`` without lakes or
        burn) stays one. Returns the terrain."""
        from .mapped import MappedStore

        if self._store is None:
            self._store = MappedStore(workdir)
        seen: dict[int, np.ndarray] = {}

        def put(a):
            if isinstance(a, np.ndarray):
                seen.setdefault(id(a), (a, self._store.put(a)))
                return seen[id(a)][1]
            return a

        for name in self._RASTERS:
            setattr(self, name, put(getattr(self, name)))
        for k, v in list(self.extra.items()):
            self.extra[k] = put(v)
        del seen
        self.release()
        return self

    def release(self) -> None:
        """Drop the resident pages of the out-of-core rasters from the process (nothing without
        :meth:`out_of_core`)."""
        if self._store is not None:
            self._store.release()

    @property
    def xres(self) -> float:
        return abs(float(self.transform.a))

    @property
    def yres(self) -> float:
        return abs(float(self.transform.e))

    @property
    def cell_area_m2(self) -> float:
        return self.xres * self.yres

    @property
    def shape(self) -> tuple[int, int]:
        return self.dem.shape

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.dem)

    def catchment_km2(self) -> np.ndarray:
        return self.acc * self.cell_area_m2 / 1e6

    def cells(self, km2: float) -> float:
        """Number of cells in an area of ``km2``."""
        return float(km2) * 1e6 / self.cell_area_m2


def load_dem(path, dst_crs=None, resolution: float | None = None, resampling: str = "bilinear"):
    """Read a DEM raster as float64 (NaN nodata) on a metric grid; a DEM already on the target grid whose
    values float32 holds exactly (float32, 8/16-bit integers) is returned as float32.

    A geographic DEM (or one in another CRS than ``dst_crs``) is warped to ``dst_crs`` (default: the
    Kyrg-06 zone of the DEM centre) with square cells of ``resolution`` metres (default: the smaller of
    the DEM's own cell width and height at its centre, so the grid is no coarser along either axis).

    Returns ``(z, transform, crs)``.
    """
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from ..crs import metric_crs_for

    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise GisPlannerError(f"cannot read the DEM ({exc})", file=str(path),
                              fix="give a GeoTIFF elevation raster (gis-planner dem set FILE)",
                              code="bad_dem") from None
    with ds:
        src_crs = ds.crs
        if src_crs is None:
            raise GisPlannerError("the DEM has no CRS", file=str(path),
                                  fix="assign one (e.g. gdal_edit.py -a_srs EPSG:4326 FILE)", code="missing_crs")
        src_crs = CRS.from_user_input(src_crs)
        target = CRS.from_user_input(dst_crs) if dst_crs is not None else (
            src_crs if (src_crs.is_projected and src_crs.axis_info[0].unit_name in ("metre", "meter"))
            else metric_crs_for(ds.bounds, src_crs))
        raw = ds.read(1)
        if target == src_crs and (resolution is None or np.isclose(abs(ds.res[0]), resolution)):
            # not warped: a type that float32 holds exactly (the workspace DEM is float32) stays float32,
            # half the memory; the terrain kernels work in float64 on it (compute_terrain)
            if raw.dtype in (np.float32, np.int16, np.uint16, np.int8, np.uint8):
                z = T.as_float_dem(raw, ds.nodata, copy=False)   # float32 (nodata compared in float64)
            else:
                z = T.as_float_dem(raw.astype(np.float64), ds.nodata)
            return z, ds.transform, target
        z = T.as_float_dem(raw.astype(np.float64), ds.nodata)
        del raw
        resampling_enum = getattr(Resampling, resampling, None)
        if resampling_enum is None:
            raise GisPlannerError(f"unknown resampling '{resampling}'", file="layers/hazards.yaml",
                                  fix="use bilinear, cubic or nearest", code="bad_rules")
        kwargs = {"resolution": resolution} if resolution else {}
        transform, width, height = calculate_default_transform(src_crs, target, ds.width, ds.height,
                                                               *ds.bounds, **kwargs)
        if not resolution:  # square cells no coarser than the source along either axis
            from .fitness import raster_profile

            prof = raster_profile(path)
            res = float(min(prof["cell_x_m"], prof["cell_y_m"]))
            transform, width, height = calculate_default_transform(src_crs, target, ds.width, ds.height,
                                                                   *ds.bounds, resolution=res)
        out = np.full((height, width), np.nan, dtype=np.float64)
        reproject(z, out, src_transform=ds.transform, src_crs=src_crs, src_nodata=np.nan,
                  dst_transform=transform, dst_crs=target, dst_nodata=np.nan, resampling=resampling_enum)
        if resampling_enum != Resampling.nearest:
            # a cell interpolated partly from outside the data (footprint border, nodata holes) is biased
            # toward its valid neighbours: such cells become nodata (the slope kernels extrapolate there)
            full = np.zeros((ds.height + 2, ds.width + 2), dtype=np.float32)
            full[1:-1, 1:-1] = np.isfinite(z)
            share = np.zeros((height, width), dtype=np.float32)
            reproject(full, share, src_transform=ds.transform @ ds.transform.translation(-1, -1),
                      src_crs=src_crs, dst_transform=transform, dst_crs=target, resampling=resampling_enum)
            out[share < 0.999] = np.nan
    return out, transform, target


def rasterize_mask(geoms, shape, transform) -> np.ndarray:
    """Boolean mask of the cells whose centres fall in ``geoms`` (lines: touched cells)."""
    from rasterio.features import rasterize

    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(shape, dtype=bool)
    lines = [g for g in geoms if g.geom_type in ("LineString", "MultiLineString")]
    polys = [g for g in geoms if g.geom_type not in ("LineString", "MultiLineString")]
    out = np.zeros(shape, dtype=np.uint8)
    if polys:
        out |= rasterize(((g, 1) for g in polys), out_shape=shape, transform=transform, fill=0, dtype="uint8")
    if lines:
        out |= rasterize(((g, 1) for g in lines), out_shape=shape, transform=transform, fill=0,
                         dtype="uint8", all_touched=True)
    return out.astype(bool)


def metric_grid(z: np.ndarray, crs, keep_float32: bool = False) -> tuple[np.ndarray, CRS]:
    """The DEM as float64 (``keep_float32``: a float32 DEM as it is) and its CRS, refused if the CRS is
    geographic or no cell is valid."""
    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        raise GisPlannerError("terrain analysis needs a metric grid, the DEM is geographic",
                              fix="warp it with load_dem() (done automatically for workspaces)", code="bad_dem")
    z = np.asarray(z)
    if not (keep_float32 and z.dtype == np.float32):
        z = np.asarray(z, dtype=np.float64)
    if not np.isfinite(z).any():
        raise GisPlannerError("the DEM has no valid cells", code="bad_dem", fix="check the DEM nodata value")
    return z, crs


def compute_terrain(z: np.ndarray, transform, crs, lakes: np.ndarray | None = None,
                    progress: Progress | None = None, lang: str | None = None,
                    streams: np.ndarray | None = None, conditioning: dict | None = None) -> Terrain:
    """Run the terrain kernels on a metric DEM grid.

    Parameters
    ----------
    z : float array (NaN nodata), transform : affine, crs : metric CRS
    lakes : bool array, optional — lake cells, outlets of the drainage (not filled, not breached)
    progress : callback ``(fraction, message)``
    streams : bool array, optional — mapped river cells, burned into the routing surface
    conditioning : ``terrain.conditioning`` rules (default: ``layers/hazards.yaml``); method
        ``breach_mfd`` (burn, breach, fill, flats, MFD) or ``fill_d8`` (fill and D8 only, v1)
    """
    steps = _Steps(progress)
    # a float32 DEM is kept as it is (no float64 copy, ~8 bytes a cell): every kernel below works in
    # float64 on it (bands or its own working surface), so the results are those of the float64 DEM
    z, crs = metric_grid(z, crs, keep_float32=True)
    terr = Terrain(dem=z, transform=transform, crs=crs)
    terr.lakes = np.zeros(z.shape, bool) if lakes is None else (np.asarray(lakes, bool) & np.isfinite(z))
    # the routing first, slope and curvature last: the conditioning's working arrays (~25 bytes a cell)
    # and the MFD's (~15) are not on top of the 12 bytes a cell of slope and curvature
    cr = conditioning_rules(hazard_rules()) if conditioning is None else conditioning
    method = cr.get("method", "fill_d8")
    if method == "fill_d8":
        steps(0.0, t("hazards.step.fill", lang))
        terr.filled, flood_dir, _ = T.fill_depressions(np.asarray(z, np.float64), terr.lakes)
        steps(0.3, t("hazards.step.flow_direction", lang))
        terr.fdir = T.flow_direction_d8(terr.filled, terr.xres, terr.yres, flood_dir=flood_dir, outlets=terr.lakes)
        steps(0.45, t("hazards.step.flow_accumulation", lang))
        terr.out_of_core()
        terr.acc = T.flow_accumulation(terr.fdir)       # receivers and order: Terrain.rec/order, on demand
        terr.extra["conditioning"] = {"method": method}
    elif method == "breach_mfd":
        steps(0.0, t("hazards.step.condition", lang))
        cond = C.condition_dem(z, terr.xres, terr.yres, outlets=terr.lakes, streams=streams,
                               burn_depth_m=float(cr.get("burn_depth_m") or 0.0),
                               max_breach_depth_m=_limit(cr.get("breach_max_depth_m")),
                               max_breach_length_m=_limit(cr.get("breach_max_length_m")))
        terr.filled, terr.fdir = cond.heights, cond.fdir
        terr.extra["routing"] = cond.routing
        terr.extra["conditioning"] = {"method": method, "breaches": cond.breaches,
                                      "breached_cells": cond.breached_cells, "filled_cells": cond.filled_cells,
                                      "burned_cells": cond.burned_cells}
        del cond
        terr.out_of_core()      # each raster into its file as it is made, its pages dropped (Terrain)
        steps(0.4, t("hazards.step.mfd", lang))
        channel_km2 = cr.get("mfd_channel_km2")
        if channel_km2 is None:
            channel_km2 = hazard_rules()["flood"]["drainage_min_catchment_km2"]
        # the MFD order (4 bytes a cell) out of core at once: read in parts by the accumulation, kept
        # for the Flow-Py runout (_mfd_order)
        _mfd_order(terr)
        terr.acc_mfd = C.mfd_accumulation(terr.extra["routing"], terr.fdir, terr.xres, terr.yres,
                                          exponent=float(cr.get("mfd_exponent", 1.1)),
                                          channel_cells=terr.cells(float(channel_km2)), outlets=terr.lakes,
                                          order=terr.extra["mfd_order"], release=terr.release)
        terr.out_of_core()
        steps(0.55, t("hazards.step.flow_accumulation", lang))
        terr.acc = T.flow_accumulation(terr.fdir)       # receivers and order: Terrain.rec/order, on demand
    else:
        raise GisPlannerError(f"unknown DEM conditioning method '{method}'", file="layers/hazards.yaml",
                              feature="terrain.conditioning.method", fix="use breach_mfd or fill_d8",
                              code="bad_rules")
    terr.out_of_core()
    steps(0.65, t("hazards.step.slope", lang))
    # border cells of the data (grid edge, warped footprint, nodata) extrapolated linearly: full slope
    terr.slope, _ = T.slope_aspect(z, terr.xres, terr.yres, edges="linear", aspect=False, dtype=np.float64)
    terr.out_of_core()
    steps(0.8, t("hazards.step.curvature", lang))
    terr.profile, terr.plan = T.curvature(z, terr.xres, terr.yres, edges="linear")
    terr.out_of_core()
    steps(1.0, t("hazards.step.terrain_done", lang))
    return terr


def describe_conditioning(info: dict | None, lang: str | None = None) -> str | None:
    """One translated line on what the conditioning did (``Terrain.extra["conditioning"]``), or None."""
    if not info or info.get("method") != "breach_mfd":
        return None
    return t("hazards.cond.summary", lang, method=info["method"], breaches=info["breaches"],
             breached=info["breached_cells"], filled=info["filled_cells"], burned=info["burned_cells"])


def _limit(value) -> float:
    """A breach limit from the rules: null means none."""
    return np.inf if value is None else float(value)


def conditioning_rules(rules: dict) -> dict:
    """``terrain.conditioning`` with the MFD channel threshold resolved from the flood drainage."""
    cr = dict((rules.get("terrain", {}) or {}).get("conditioning") or {})
    cr["flood_drainage_km2"] = float(rules["flood"]["drainage_min_catchment_km2"])
    if cr.get("mfd_channel_km2") is None:
        cr["mfd_channel_km2"] = cr["flood_drainage_km2"]
    return cr


def terrain_for_workspace(ws, rules: dict | None = None, progress: Progress | None = None,
                          lang: str | None = None) -> Terrain:
    """The terrain of a workspace: its DEM warped to the workspace CRS, lakes from ``water_bodies``."""
    rules = rules or hazard_rules(ws)
    dem_path = ws.dem_path
    if dem_path is None:
        raise GisPlannerError("the workspace has no DEM (dem.tif)", file=str(ws.root),
                              fix="add one with `gis-planner dem set FILE --source SOURCE` (any GeoTIFF; geographic is fine)",
                              code="missing_dem")
    tr = rules.get("terrain", {}) or {}
    steps = _Steps(progress)
    steps(0.0, t("hazards.step.read_dem", lang))
    z, transform, crs = load_dem(dem_path, ws.crs, tr.get("resolution_m"), tr.get("resampling", "bilinear"))
    lakes = streams = None
    cr = conditioning_rules(rules)
    water = ws.read_layer("water_bodies", missing_ok=True)
    if water is not None and len(water):
        water = water.to_crs(crs) if water.crs is not None else water
        types = set(tr.get("lake_water_types") or [])
        wt = water["water_type"].astype(str) if "water_type" in water else pd.Series("", index=water.index)
        sel = water[wt.isin(types) & water.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
        if len(sel):
            lakes = rasterize_mask(sel.geometry.values, z.shape, transform)
        burn = set(cr.get("burn_water_types") or [])
        rivers = water[wt.isin(burn) & water.geometry.geom_type.isin(["LineString", "MultiLineString"])]
        if len(rivers) and cr.get("burn_depth_m"):
            streams = rasterize_mask(rivers.geometry.values, z.shape, transform)
    if z.size >= int(tr.get("tiled_min_cells") or np.iinfo(np.int64).max):  # a large DEM: by tiles
        from .tiled import compute_terrain_tiled

        z = np.asarray(z, dtype=np.float64)     # the tiled files in float64, as before (load_dem may give float32)
        # the tiled kernels condition by priority-flood fill and route by D8 (docs/hazards.md, large DEMs)
        terr = compute_terrain_tiled(z, transform, crs, lakes, tile=int(tr.get("tile_cells", 1024)),
                                     progress=steps.sub(0.1, 1.0), lang=lang)
        terr.extra["conditioning"] = {"method": "fill_d8_tiled", **terr.extra["tiled"]}
        del z
        # its rasters are maps of the tiled files already (only released between the zone rules' steps);
        # the DEM, the lakes and the receivers/order built later go into files too
        terr.out_of_core()
    else:
        terr = compute_terrain(z, transform, crs, lakes, progress=steps.sub(0.1, 1.0), lang=lang,
                               streams=streams, conditioning=cr)
    terr.extra["dem_source"] = (ws.provenance("dem") or {}).get("source")
    terr.extra["dem_date"] = (ws.provenance("dem") or {}).get("source_date")
    return terr


# ----------------------------------------------------------------------------- level rasters
def _level_rule(fn):
    """A ``*_levels`` function on an out-of-core terrain (:meth:`Terrain.out_of_core`) moves what it adds
    to the terrain (receivers, order, kept diagnostics) out of core and drops the pages it read."""
    import functools

    @functools.wraps(fn)
    def run(terr, *args, **kwargs):
        try:
            return fn(terr, *args, **kwargs)
        finally:
            if terr._store is not None:
                terr.out_of_core()
    return run


def _feature_transform(mask: np.ndarray, terr: Terrain) -> np.ndarray:
    """``distance_transform_edt(~mask, sampling=(yres, xres), return_indices=True)``'s feature transform
    (int32, shape ``(2, rows, cols)``), by scipy's own C routine on an int8 copy of ``~mask``: scipy
    builds that copy through an int64 array (8 bytes a cell more at the peak of the zone rules). Falls
    back to the public function if the routine is not there."""
    from scipy.ndimage import distance_transform_edt

    try:
        from scipy.ndimage import _nd_image
        run = _nd_image.euclidean_feature_transform
    except (ImportError, AttributeError):      # pragma: no cover - another scipy layout
        return distance_transform_edt(~mask, sampling=(terr.yres, terr.xres), return_distances=False,
                                      return_indices=True)
    inp = np.ascontiguousarray(~np.asarray(mask, bool)).view(np.int8)    # 1 where not mask, as scipy's
    ft = np.zeros((2,) + inp.shape, dtype=np.int32)
    run(inp, np.ascontiguousarray([terr.yres, terr.xres], dtype=np.float64), ft)
    return ft


def _near(mask: np.ndarray, terr: Terrain, dist_m: float) -> np.ndarray:
    """Cells within ``dist_m`` metres of a True cell of ``mask`` (bool).

    Exactly ``scipy.ndimage.distance_transform_edt(~mask, sampling=(yres, xres)) <= dist_m`` (the same
    float64 operations in the same order), but the distances are taken from the feature transform a band
    of rows at a time: 8 bytes a cell for the transform instead of ~40 for scipy's distance grid."""
    dist_m = float(dist_m)
    if not mask.any():
        return np.full(mask.shape, np.inf <= dist_m)
    ft = _feature_transform(mask, terr)
    rows, cols = mask.shape
    out = np.empty(mask.shape, bool)
    col = np.arange(cols, dtype=ft.dtype)
    sy, sx = np.float64(terr.yres), np.float64(terr.xres)
    for r0 in range(0, rows, 256):
        r1 = min(rows, r0 + 256)
        dy = (ft[0, r0:r1] - np.arange(r0, r1, dtype=ft.dtype)[:, None]).astype(np.float64)
        dx = (ft[1, r0:r1] - col).astype(np.float64)
        dy *= sy
        dx *= sx
        np.multiply(dy, dy, dy)
        np.multiply(dx, dx, dx)
        dy += dx
        np.sqrt(dy, dy)
        np.less_equal(dy, dist_m, out=out[r0:r1])
    return out


def flood_drainage(terr: Terrain, rules: dict) -> np.ndarray:
    """Rivers that can flood (catchment ≥ ``flood.drainage_min_catchment_km2``, by MFD accumulation when
    the terrain has it, else D8) plus the lake cells."""
    acc = terr.acc_mfd if terr.acc_mfd is not None else terr.acc
    return T.stream_network(acc, terr.cells(rules["flood"]["drainage_min_catchment_km2"])) | terr.lakes


@_level_rule
def flood_levels(terr: Terrain, rules: dict) -> np.ndarray:
    """Flood susceptibility: HAND (height above the nearest drainage) classes near rivers and lakes.

    Drainage = channels whose catchment is at least ``drainage_min_catchment_km2`` plus lake cells.
    A cell is high/medium/low when its HAND is at most the class threshold (``lake_hand_m`` for cells
    draining to a lake, ``hand_m`` for rivers) and it lies within ``max_distance_m`` of the
    drainage. Lake cells themselves are water, not zone.
    """
    r = rules["flood"]
    drainage = flood_drainage(terr, rules)
    terr.release()               # out of core: the accumulation read for the drainage leaves memory
    rec, order = terr.rec, terr.order     # built here on first use (then out of core)
    terr.release()
    lake_m = r.get("lake_hand_m") or r["hand_m"]
    names = ("low", "medium", "high")    # in turn: the last class a cell passes wins
    # HAND (negative: a bank below its burned river's DEM height, at the river's level) in float32 for
    # inspection and its classes (in float64: the lake threshold where the cell drains to a lake, the
    # river one elsewhere), in one pass over the order in parts (the heights, receivers and order
    # read leave memory between them)
    hand32, lv = T.hand_classes(terr.filled, drainage, terr.lakes, [float(lake_m[k]) for k in names],
                                [float(r["hand_m"][k]) for k in names], [LEVEL_CODES[k] for k in names],
                                rec, order, release=terr.release)
    del rec, order
    terr.extra["hand"] = terr.keep(hand32)
    del hand32
    terr.release()               # the classes by HAND first, then only within the distance (the same
    lv[~_near(drainage, terr, float(r["max_distance_m"]))] = 0          # mask for every class)
    del drainage
    lv[terr.lakes | ~terr.valid] = 0
    return lv


@_level_rule
def mudflow_levels(terr: Terrain, rules: dict) -> np.ndarray:
    """Mudflow (debris-flow) susceptibility: steep channels of steep catchments and their alluvial fans.

    The level of a channel cell (catchment ≥ ``min_catchment_km2``) comes from its catchment (Wilford
    et al. 2004): Melton ratio R = relief / √area and the longest flow path L: debris flow (high) where
    R ≥ ``melton.high`` and L < ``debris_flow_max_length_km``; debris flood (medium) where
    R ≥ ``melton.medium`` otherwise; a flood channel (nothing here) below. Only the steep course is a
    mudflow channel: cells whose gradient along the flow path (over ``apex_reach_m``) is at least
    ``apex_slope_deg``; a corridor of ``channel_half_width_m`` each side takes the level. Below the break
    of slope the flow spreads and stops: the fan apex is the first cell under ``apex_slope_deg``; the
    fan is the sector of ``fan_angle_deg`` centred on the flow direction below the apex, of area
    ``c·A^n`` (Bull), on ground lower than the apex and gentler than ``fan_max_slope_deg``; the inner half
    of its radius keeps the channel's level, the outer half one level lower. The river farther down is
    fluvial, not a mudflow channel.
    """
    r = rules["mudflow"]
    valid = terr.valid & ~terr.lakes
    max_len = float(r.get("debris_flow_max_length_km", np.inf) or np.inf)
    # one n-sized float64 raster at a time (out of core, the pages read are dropped after each step):
    # the flow length's comparison and its float32 copy, then Melton's ratio, then the path gradient
    length_km = T.upstream_length(terr.fdir, terr.xres, terr.yres, terr.rec, terr.order, release=terr.release)
    length_km /= 1000.0
    terr.extra["flow_length_km"] = terr.keep(length_km.astype(np.float32))  # for inspection (float32)
    short = length_km < max_len
    del length_km
    terr.release()
    drain = np.empty(terr.shape, bool)
    melton = T.upstream_max(terr.dem, terr.fdir, terr.rec, terr.order,     # the top, turned in place into
                            release=terr.release)
    terr.release()                                                          # (top - dem) / sqrt(area)
    with np.errstate(invalid="ignore", divide="ignore"):
        for r0 in range(0, terr.shape[0], 256):     # the catchment areas by bands (no n-sized array)
            melton[r0:r0 + 256] -= terr.dem[r0:r0 + 256]
            area_m2 = terr.acc[r0:r0 + 256] * terr.cell_area_m2
            np.greater_equal(area_m2, float(r["min_catchment_km2"]) * 1e6, out=drain[r0:r0 + 256])
            melton[r0:r0 + 256] /= np.sqrt(area_m2, out=area_m2)
            terr.release()                          # the DEM's and accumulation's pages of the band
    drain &= valid
    del area_m2
    catch_level = np.zeros(terr.shape, np.uint8)          # the class of each drainage cell's catchment
    with np.errstate(invalid="ignore"):
        catch_level[drain & (melton >= float(r["melton"]["medium"]))] = 2
        catch_level[drain & (melton >= float(r["melton"]["high"])) & short] = 3
    del short
    # kept for inspection in float32 (6e-8 relative); the classes above are taken in float64
    terr.extra["melton"] = terr.keep(melton.astype(np.float32))
    del melton
    terr.release()
    grad = _channel_gradient_deg(terr, float(r.get("apex_reach_m", 200)))
    t_apex = float(r["apex_slope_deg"])
    steep = drain & (grad.reshape(terr.shape) >= t_apex)
    below_apex = grad < t_apex                            # flat, for the apexes below
    stop = (r.get("runout") or {}).get("stop_slope_deg")
    # the runout flows on where the channel gradient is at least the stop slope; the gradients themselves
    # (8 bytes a cell) are not kept to the distances of the runout, where the zone rules peak
    flowing = None if stop is None else (grad.reshape(terr.shape) >= float(stop))
    del grad
    terr.release()
    ch_level = np.where(steep, catch_level, 0).astype(np.uint8)
    lv = np.zeros(terr.shape, np.uint8)
    for code, name in ((2, "medium"), (3, "high")):
        src = ch_level >= code
        if src.any():
            lv[_near(src, terr, float(r["channel_half_width_m"][name]))] = code
    # fan apexes: the drainage cell below a steep mudflow channel cell where the gradient drops under
    # the apex slope (the break of slope); its level is that of the channel reaching it
    idx = np.flatnonzero(ch_level.ravel() > 0)
    recv = terr.rec[idx]
    ok = recv >= 0
    idx, recv = idx[ok], recv[ok]
    apex_mask = below_apex[recv] & drain.ravel()[recv]
    apex_level = np.zeros(terr.rec.shape[0], np.uint8)
    np.maximum.at(apex_level, recv[apex_mask], ch_level.ravel()[idx[apex_mask]])
    apexes = np.unique(recv[apex_mask])
    terr.extra["fan_apexes"] = apexes
    rows, cols = terr.shape
    zr = terr.dem
    fan_slope = float(r["fan_max_slope_deg"])
    half_angle = np.radians(float(r.get("fan_angle_deg", 180.0)) / 2.0)
    reach = float(r.get("apex_reach_m", 200))
    for n_done, a in enumerate(apexes):
        if n_done % 4096 == 4095:
            # out of core: the apexes go down the grid in raster order, so the pages of the rasters read
            # around them (accumulation, DEM, slope, receivers) are dropped as the loop moves on
            terr.release()
        ar, ac = divmod(int(a), cols)
        a_km2 = float(terr.acc[ar, ac]) * terr.cell_area_m2 / 1e6
        fan_area_m2 = float(r["fan_area_c"]) * a_km2 ** float(r["fan_area_n"]) * 1e6
        # sector of angle 2·half_angle and that area: ½ · 2·half_angle · radius²
        radius = float(np.clip(np.sqrt(fan_area_m2 / half_angle), r["fan_min_radius_m"], r["fan_max_radius_m"]))
        nr, nc = int(np.ceil(radius / terr.yres)), int(np.ceil(radius / terr.xres))
        r0, r1, c0, c1 = max(0, ar - nr), min(rows, ar + nr + 1), max(0, ac - nc), min(cols, ac + nc + 1)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        dy, dx = (yy - ar) * terr.yres, (xx - ac) * terr.xres
        dist = np.hypot(dy, dx)
        fy, fx = _downstream_vector(terr, int(a), reach)
        with np.errstate(invalid="ignore"):
            cosang = np.where(dist > 0, (dy * fy + dx * fx) / np.where(dist > 0, dist, 1.0), 1.0)
            in_sector = cosang >= np.cos(half_angle) - 1e-12
            fan = (dist <= radius) & in_sector & (zr[r0:r1, c0:c1] <= zr[ar, ac]) \
                & (terr.slope[r0:r1, c0:c1] <= fan_slope) & valid[r0:r1, c0:c1]
        level = int(apex_level[a])
        inner = np.where(fan & (dist <= radius / 2), level, 0)
        outer = np.where(fan & (dist > radius / 2), max(level - 1, 1), 0)
        win = lv[r0:r1, c0:c1]
        np.maximum(win, np.maximum(inner, outer).astype(np.uint8), out=win)
    del below_apex, steep, drain, catch_level, apex_level, valid
    source = ch_level == 3
    del ch_level                 # only the masks the runout needs are alive during it
    terr.release()
    _debris_runout(terr, r, source, flowing, lv)
    lv[~(terr.valid & ~terr.lakes)] = 0
    return lv


def _debris_runout(terr: Terrain, r: dict, source: np.ndarray, flowing: np.ndarray | None, lv: np.ndarray) -> None:
    """Raise ``lv`` (in place) along the D8 channel below the debris-flow ``source`` cells while the energy
    line from each source cell, falling at ``mudflow.runout.alpha_deg``, is above the ground and the channel
    gradient (degrees, over ``apex_reach_m``) is at least ``mudflow.runout.stop_slope_deg``: ``flowing``, that
    comparison taken by the caller (None without a stop slope)."""
    ro = r.get("runout") or {}
    if not ro.get("alpha_deg") or not source.any():
        return
    level = ro.get("level", "medium")
    if level not in LEVEL_CODES:
        raise GisPlannerError(f"unknown level '{level}'", file="layers/hazards.yaml", feature="mudflow.runout.level",
                              fix="use high, medium or low", code="bad_rules")
    passable = None
    if ro.get("stop_slope_deg") is not None:  # the flow stops on gentle ground: no energy line passes there
        passable = source | flowing
    # the runout reads the heights, receivers and order only where it reaches (out of core)
    reach = T.runout_alpha(terr.filled, terr.fdir, source, float(ro["alpha_deg"]), terr.xres, terr.yres,
                           terr.rec, terr.order, passable=passable, release=terr.release)
    del passable
    path = reach & ~source
    del reach
    terr.release()
    terr.extra["debris_sources"] = source
    terr.extra["debris_runout"] = path
    if path.any():
        code = LEVEL_CODES[level]
        half = float((r.get("channel_half_width_m") or {}).get(level, r["channel_half_width_m"]["medium"]))
        near = _near(path, terr, half)
        lv[near & (lv < code)] = code


def _downstream_vector(terr: Terrain, start: int, reach_m: float) -> tuple[float, float]:
    """Unit vector (rows down, columns right; metres) from ``start`` to the cell ``reach_m`` down its flow path."""
    cols = terr.shape[1]
    cur, length = start, 0.0
    step_max = max(1, int(np.ceil(reach_m / min(terr.xres, terr.yres))))
    for _ in range(step_max):
        nxt = int(terr.rec[cur])
        if nxt < 0 or length >= reach_m:
            break
        length += float(np.hypot((nxt // cols - cur // cols) * terr.yres, (nxt % cols - cur % cols) * terr.xres))
        cur = nxt
    vy = (cur // cols - start // cols) * terr.yres
    vx = (cur % cols - start % cols) * terr.xres
    norm = float(np.hypot(vy, vx))
    if norm == 0:  # an outlet: no direction, the whole disc
        return 0.0, 0.0
    return vy / norm, vx / norm


def _channel_gradient_deg(terr: Terrain, reach_m: float) -> np.ndarray:
    """Mean gradient (degrees, flat array) along each cell's D8 path over the next ``reach_m`` metres."""
    z = terr.filled.ravel()
    if z.dtype != np.float64:
        z = z.astype(np.float64)
    steps = max(1, int(np.ceil(reach_m / min(terr.xres, terr.yres))))
    rec = terr.rec
    grad = np.empty(z.shape[0], dtype=np.float64)
    for i0, i1 in T.parts(z.shape[0], terr.release):   # out of core: the heights and receivers read
        _path_gradient(z, rec, terr.shape[1], float(terr.xres), float(terr.yres),     # leave memory
                       float(np.hypot(terr.xres, terr.yres)), float(reach_m), steps, grad, i0, i1)
        terr.release()
    np.arctan(grad, out=grad)
    return np.degrees(grad, out=grad)


@T.nb.njit(cache=True)
def _path_gradient(z, rec, cols, xres, yres, diag, reach_m, steps, out, i0, i1):
    """``out[i0:i1]``: tan of the mean gradient along each cell's D8 path: at most ``steps`` steps while
    the path is shorter than ``reach_m`` (0 where the cell has no receiver; one cell at a time, no
    n-sized temporaries)."""
    for i in range(i0, i1):
        cur = i
        length = 0.0
        for _ in range(steps):
            nxt = rec[cur]
            if nxt < 0 or not length < reach_m:
                break
            if cur // cols == nxt // cols:
                length += xres
            elif cur % cols == nxt % cols:
                length += yres
            else:
                length += diag
            cur = nxt
        out[i] = (z[i] - z[cur]) / length if length > 0 else 0.0


def _shift_levels(lv: np.ndarray, mask: np.ndarray, step: int, eligible: np.ndarray) -> None:
    """Move the level of ``mask`` cells by ``step`` (in place, within 0..3); a raise also gives an
    ``eligible`` cell without a level the level ``step``."""
    if step == 0:
        return
    sel = mask & ((lv > 0) | (eligible if step > 0 else False))
    cur = lv[sel].astype(np.int16)
    new = np.where(cur > 0, cur + step, step)
    lv[sel] = np.clip(new, 0, 3).astype(np.uint8)


def load_class_raster(path, terr: Terrain) -> np.ndarray:
    """A class raster (e.g. lithology) resampled (nearest) onto the terrain grid; -1 where missing."""
    from rasterio.warp import Resampling, reproject

    with rasterio_open(path) as ds:
        src = ds.read(1).astype(np.int32)
        nodata = ds.nodata
        out = np.full(terr.shape, -1, dtype=np.int32)
        reproject(src, out, src_transform=ds.transform, src_crs=ds.crs, src_nodata=nodata,
                  dst_transform=terr.transform, dst_crs=terr.crs, dst_nodata=-1, resampling=Resampling.nearest)
    return out


def rasterio_open(path):
    """Open a raster with a project error naming the file when it cannot be read."""
    import rasterio

    from ..io.safety import check_input

    check_input(path)  # a VRT could point at remote or local files (docs/security.md)
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise GisPlannerError(f"cannot read the raster ({exc})", file=str(path),
                              fix="give a GeoTIFF with a CRS", code="bad_raster") from None
    if ds.crs is None:
        ds.close()
        raise GisPlannerError("the raster has no CRS", file=str(path),
                              fix="assign one (e.g. gdal_edit.py -a_srs EPSG:7695 FILE)", code="missing_crs")
    return ds


@_level_rule
def landslide_levels(terr: Terrain, rules: dict, inventory: gpd.GeoDataFrame | None = None,
                     lithology: np.ndarray | None = None) -> np.ndarray:
    """Landslide susceptibility: slope class × plan-curvature class matrix, then optional weights.

    ``inventory`` (known landslides, points or polygons): cells within ``inventory_radius_m`` go one
    level up. ``lithology`` (a class array on the terrain grid, see :func:`load_class_raster`):
    each class listed in ``lithology_weights`` moves its cells by that many levels (e.g. loess +1,
    massive granite -1). Raises only touch slopes of at least the lowest slope class.
    """
    r = rules["landslide"]
    classes = r["slope_classes_deg"]
    names = sorted(classes, key=lambda k: float(classes[k]))
    sl = terr.slope
    slope_class = np.full(terr.shape, -1, np.int8)
    with np.errstate(invalid="ignore"):
        for i, name in enumerate(names):
            slope_class[sl >= float(classes[name])] = i
    thr = float(r["plan_curvature_threshold"])
    curv_class = np.ones(terr.shape, np.int8)            # 1 planar
    curv_class[terr.plan < -thr] = 0                     # 0 convergent
    curv_class[terr.plan > thr] = 2                      # 2 divergent
    lv = np.zeros(terr.shape, np.uint8)
    matrix = r["matrix"]
    for i, name in enumerate(names):
        row = matrix.get(name) or {}
        for j, cname in enumerate(("convergent", "planar", "divergent")):
            level = row.get(cname)
            if level:
                if level not in LEVEL_CODES:
                    raise GisPlannerError(f"unknown level '{level}'", file="layers/hazards.yaml",
                                          feature=f"landslide.matrix.{name}.{cname}",
                                          fix="use high, medium, low or null", code="bad_rules")
                lv[(slope_class == i) & (curv_class == j)] = LEVEL_CODES[level]
    eligible = slope_class >= 0
    if lithology is not None:
        for cls, step in (r.get("lithology_weights") or {}).items():
            _shift_levels(lv, np.asarray(lithology) == int(cls), int(step), eligible)
    if inventory is not None and len(inventory):
        inv = inventory.to_crs(terr.crs) if inventory.crs is not None else inventory
        known = rasterize_mask(inv.geometry.values, terr.shape, terr.transform)
        _shift_levels(lv, _near(known, terr, float(r["inventory_radius_m"])), 1, eligible)
    lv[~terr.valid | terr.lakes] = 0
    return lv


def _mfd_order(terr: Terrain) -> np.ndarray:
    """The upstream-first order of the MFD graph on the routing surface (computed once per terrain)."""
    if terr.extra.get("mfd_order") is None:
        terr.extra["mfd_order"] = terr.keep(C.mfd_order(terr.extra.get("routing", terr.filled), terr.fdir,
                                                        terr.lakes, release=terr.release))
        terr.release()
    return terr.extra["mfd_order"]


@_level_rule
def avalanche_levels(terr: Terrain, rules: dict) -> np.ndarray:
    """Avalanche start zones (slope band above a minimum elevation) and their alpha-angle runout."""
    r = rules["avalanche"]
    sl, z = terr.slope, terr.dem
    with np.errstate(invalid="ignore"):
        start = z >= np.float64(r["min_elevation_m"])      # float64 comparison on a float32 DEM too
        start &= (sl >= float(r["start_slope_deg"]["min"])) & (sl <= float(r["start_slope_deg"]["max"]))
    lv = np.zeros(terr.shape, np.uint8)
    if not start.any():
        return lv
    half = float(r["runout_half_width_m"])
    model = r.get("runout_model", "d8")
    if model not in ("d8", "flowpy"):
        raise GisPlannerError(f"unknown avalanche runout model '{model}'", file="layers/hazards.yaml",
                              feature="avalanche.runout_model", fix="use flowpy or d8", code="bad_rules")
    for name in ("low", "medium"):
        alpha = (r.get("runout_alpha_deg") or {}).get(name)
        if alpha is None:
            continue
        terr.release()           # also the heap the distances of the last runout freed
        if model == "flowpy":
            reach = C.runout_energy_line(terr.extra.get("routing", terr.filled), terr.fdir, start, float(alpha),
                                         terr.xres, terr.yres, exponent=float(r.get("runout_exponent", 8)),
                                         min_share=float(r.get("runout_min_share", 3e-4)), outlets=terr.lakes,
                                         ground=terr.filled, order=_mfd_order(terr), release=terr.release)
        else:
            reach = T.runout_alpha(terr.filled, terr.fdir, start, float(alpha), terr.xres, terr.yres,
                                   terr.rec, terr.order, release=terr.release)
        path = reach & ~start
        del reach
        terr.release()           # out of core: the surfaces and orders of the runout leave memory
        if path.any():
            lv[_near(path, terr, half) & (lv < LEVEL_CODES[name])] = LEVEL_CODES[name]
        del path                 # not alive during the next runout
    lv[start] = 2
    with np.errstate(invalid="ignore"):
        lv[start & (sl >= float(r["start_high_deg"]["min"])) & (sl <= float(r["start_high_deg"]["max"]))] = 3
    lv[~terr.valid | terr.lakes] = 0
    return lv


# ----------------------------------------------------------------------------- polygons
def levels_to_polygons(levels: np.ndarray, transform, crs, rules: dict, *, hazard_type: str,
                       method: str, source: str, date: str, clip=None) -> gpd.GeoDataFrame:
    """Vectorise a level raster (0 none, 1 low, 2 medium, 3 high) into valid, simplified polygons.

    Regions smaller than ``polygons.min_area_ha`` are first merged into their neighbours (sieve), so
    no gaps appear; the polygons of all levels are simplified together as a coverage; pieces still
    smaller than the minimum area (e.g. after clipping) are dropped.
    """
    from rasterio.features import shapes, sieve

    pr = rules.get("polygons", {}) or {}
    xres = abs(transform.a)
    yres = abs(transform.e)
    min_ha = float(pr.get("min_area_ha", 0) or 0)
    min_cells = int(np.floor(min_ha * 10_000 / (xres * yres)))
    lv = np.ascontiguousarray(levels, dtype=np.uint8)
    if min_cells > 1 and lv.any():
        lv = sieve(lv, size=min_cells, connectivity=8)
    if not lv.any():
        return _official._empty(crs)
    geoms, codes = [], []
    for geom, value in shapes(lv, mask=lv > 0, transform=transform, connectivity=4):
        geoms.append(shapely.geometry.shape(geom))
        codes.append(int(value))
    arr = np.array(geoms, dtype=object)
    tol = float(pr.get("simplify_cells", 0.5) or 0) * min(xres, yres)
    if tol > 0:
        arr = shapely.coverage_simplify(arr, tol)
    arr = shapely.make_valid(arr)
    if clip is not None and not clip.is_empty:
        arr = shapely.intersection(arr, clip)
    arr = np.array([_official._polygonal(g) for g in arr], dtype=object)
    gdf = gpd.GeoDataFrame({"level": [LEVEL_NAMES[c] for c in codes]}, geometry=arr, crs=crs)
    gdf = gdf[~(shapely.is_empty(gdf.geometry.values) | shapely.is_missing(gdf.geometry.values))]
    if len(gdf):
        gdf = gdf.dissolve(by="level", as_index=False).explode(index_parts=False)
        gdf = gdf[gdf.geometry.area >= min_ha * 10_000]
    gdf = gdf.assign(hazard_type=hazard_type, method=method, source=source, date=date)
    gdf = gdf[_official.ZONE_COLUMNS + ["geometry"]].reset_index(drop=True)
    rank = gdf["level"].map({"high": 0, "medium": 1, "low": 2})
    return gdf.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


# ----------------------------------------------------------------------------- workspace
def _today() -> str:
    return _dt.date.today().isoformat()


def compute_hazard_zones(ws, hazards: Iterable[str] | None = None, progress: Progress | None = None,
                         inventory: gpd.GeoDataFrame | None = None, terrain: Terrain | None = None,
                         date: str | None = None, lang: str | None = None) -> gpd.GeoDataFrame:
    """Compute susceptibility zones for a workspace (nothing is written; see :func:`run_hazards`).

    Parameters
    ----------
    ws : Workspace (with ``dem.tif``)
    hazards : hazard types to compute (default all of :data:`HAZARD_TYPES`)
    progress : callback ``(fraction 0..1, message)``, e.g. a click progress bar or ``st.progress``
    inventory : landslide inventory (points/polygons); default: the workspace layer named in the rules
    terrain : a precomputed :class:`Terrain` (reused between calls)
    date : the ``date`` written on the zones (default today)
    lang : language of the progress messages (ky, ru, en)

    Returns
    -------
    GeoDataFrame with ``hazard_type, level, method, source, date, geometry`` in the workspace CRS.
    """
    hazards = list(hazards) if hazards else list(HAZARD_TYPES)
    unknown = [h for h in hazards if h not in HAZARD_TYPES]
    if unknown:
        raise GisPlannerError(f"cannot compute hazard type(s) {unknown}", fix=f"use {', '.join(HAZARD_TYPES)}",
                              code="bad_hazard_type")
    rules = hazard_rules(ws)
    steps = _Steps(progress)
    fitness = None
    if ws is not None and ws.dem_path is not None:
        # what the DEM can support, before any work: a DEM that misses the municipality is refused
        from .fitness import check_coverage, dem_profile, model_fitness

        profile = dem_profile(ws, rules=rules)
        check_coverage(profile, rules, ws, file=str(ws.dem_path))
        fitness = model_fitness(profile, rules, hazards)
    if terrain is None:
        terrain = terrain_for_workspace(ws, rules, progress=steps.sub(0.0, 0.5), lang=lang)
    rv = rules_version("hazards", ws)
    dem_src = terrain.extra.get("dem_source") or "DEM"
    date = date or _today()
    clip = None
    if ws is not None and ws.has_layer("boundary") and rules.get("polygons", {}).get("clip_to_boundary", True):
        b = ws.read_layer("boundary")
        if len(b):
            clip = shapely.union_all(b.to_crs(terrain.crs).geometry.values)
            buf = float(rules.get("polygons", {}).get("boundary_buffer_m", 0) or 0)
            if buf:
                clip = clip.buffer(buf)
    lithology = None
    if "landslide" in hazards:
        name = rules["landslide"].get("inventory_layer")
        if inventory is None and name and ws.has_layer(name):
            inventory = ws.read_layer(name)
        lith = rules["landslide"].get("lithology_raster")
        if lith:
            from pathlib import Path

            path = Path(lith) if Path(lith).is_absolute() else Path(ws.root) / lith
            lithology = load_class_raster(path, terrain)
    frames = []
    per = 0.5 / len(hazards)
    for k, h in enumerate(hazards):
        steps(0.5 + per * k, t("hazards.step.zones", lang, hazard=label("hazards", h, lang)))
        if h == "flood":
            lv = flood_levels(terrain, rules)
        elif h == "mudflow":
            lv = mudflow_levels(terrain, rules)
        elif h == "landslide":
            lv = landslide_levels(terrain, rules, inventory, lithology)
        else:
            lv = avalanche_levels(terrain, rules)
        method = rules[h]["method"]
        screening = fitness is not None and not fitness[h]["fit"]
        source = (f"gis_planner {method}{' (screening)' if screening else ''} on {dem_src}; "
                  f"layers/hazards.yaml v{rv['version']} ({rv['sha256']})")
        poly = levels_to_polygons(lv, terrain.transform, terrain.crs, rules, hazard_type=h,
                                  method=method, source=source, date=date, clip=clip)
        frames.append(poly.assign(screening=np.full(len(poly), int(screening), dtype="int64")))
    steps(1.0, t("hazards.step.done", lang))
    out = pd.concat(frames, ignore_index=True) if frames else frames
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=terrain.crs)
    out.attrs["dem_fitness"] = fitness
    out.attrs["conditioning"] = terrain.extra.get("conditioning")
    return out


def store_hazard_zones(ws, computed: gpd.GeoDataFrame, hazards: Iterable[str] | None = None) -> dict:
    """Write computed zones into ``hazard_zones``, replacing only computed rows of ``hazards``.

    Official rows (``method == "official"``) and computed rows of other hazard types are kept.
    Returns a summary ``{"kept_official": n, "kept_computed": n, "written": n}``.
    """
    hazards = set(hazards) if hazards else set(computed["hazard_type"].unique()) | set(HAZARD_TYPES)
    existing = _official.read_hazard_zones(ws).drop(columns="fid", errors="ignore")  # the GeoPackage assigns new fids
    is_off = _official.is_official(existing)
    keep_mask = is_off | ~existing["hazard_type"].astype("string").isin(hazards).fillna(False)
    keep = existing[keep_mask]
    n_off = int(is_off.sum())
    n_comp = int((keep_mask & ~is_off).sum())
    frames = [f for f in (keep, computed) if f is not None and len(f)]
    if frames:
        crs = computed.crs if computed is not None and computed.crs is not None else ws.crs
        merged = gpd.GeoDataFrame(pd.concat([f.to_crs(crs) for f in frames], ignore_index=True),
                                  geometry="geometry", crs=crs)
    else:
        merged = computed
    rv = rules_version("hazards", ws)
    if "screening" in merged:  # official rows and rows computed before fitness existed: not screening
        merged["screening"] = pd.to_numeric(merged["screening"], errors="coerce").fillna(0).astype("int64")
    fitness = computed.attrs.get("dem_fitness") if computed is not None else None
    ws.write_layer("hazard_zones", merged, source="gis_planner hazards (computed) + official imports",
                   source_date=_today(),
                   notes={"computed_types": sorted(hazards), "rules": rv, "kept_official": n_off,
                          "kept_computed": n_comp, "written_computed": int(len(computed)),
                          "screening_types": sorted(m for m, f in (fitness or {}).items() if not f["fit"]),
                          "dem_fitness": fitness,
                          "conditioning": computed.attrs.get("conditioning") if computed is not None else None})
    return {"kept_official": n_off, "kept_computed": n_comp, "written": int(len(computed))}


def run_hazards(ws, hazards: Iterable[str] | None = None, progress: Progress | None = None,
                inventory: gpd.GeoDataFrame | None = None, write: bool = True,
                lang: str | None = None) -> gpd.GeoDataFrame:
    """Compute the zones and (by default) store them in the workspace; returns the computed zones."""
    zones = compute_hazard_zones(ws, hazards, progress=progress, inventory=inventory, lang=lang)
    if write:
        store_hazard_zones(ws, zones, hazards)
    return zones


def write_terrain_rasters(terr: Terrain, out_dir, rules: dict | None = None) -> list:
    """Write slope (°), flow accumulation (km²), D8 (ESRI codes), HAND (m) and curvature GeoTIFFs.

    HAND uses the flood drainage of ``rules`` (``flood.drainage_min_catchment_km2``) and lakes.
    Returns the written paths.
    """
    import rasterio
    from pathlib import Path

    rules = rules or hazard_rules()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hand = T.height_above_drainage(terr.filled, terr.fdir, flood_drainage(terr, rules), terr.rec, terr.order)
    layers = {"slope_deg": terr.slope, "flow_acc_km2": terr.catchment_km2(), "hand_m": np.where(hand < 0, 0.0, hand),
              "plan_curvature": terr.plan, "profile_curvature": terr.profile, "d8_esri": T.d8_to_esri(terr.fdir)}
    if terr.acc_mfd is not None:
        layers["flow_acc_mfd_km2"] = terr.acc_mfd * terr.cell_area_m2 / 1e6
    paths = []
    for name, arr in layers.items():
        p = out / f"{name}.tif"
        dtype = "uint8" if arr.dtype == np.uint8 else "float32"
        nodata = None if dtype == "uint8" else np.nan
        with rasterio.open(p, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1,
                           dtype=dtype, crs=terr.crs.to_wkt(), transform=terr.transform, nodata=nodata,
                           compress="deflate", tiled=True) as ds:
            ds.write(arr.astype(dtype), 1)
        paths.append(p)
    return paths
