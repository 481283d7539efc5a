"""Terrain basemap from the workspace DEM: hillshade arrays for print maps and the offline app map.

The hillshade uses Horn's gradient (as ``gdaldem hillshade``) with the sun at azimuth 315°, altitude 45°.

>>> import numpy as np
>>> z = np.tile(np.arange(5.0), (5, 1)) * 10.0   # plane rising to the east, 10 m per 10 m cell
>>> hs = hillshade(z, 10.0, 10.0)
>>> round(float(hs[2, 2]), 4)   # slope 45° facing west, sun from the north-west
0.8536
>>> round(float(hillshade(z.T[::-1], 10.0, 10.0)[2, 2]), 4)  # rising to the north: faces south, in shadow
0.1464
"""
from __future__ import annotations

import math

import numpy as np


def hillshade(z: np.ndarray, res_x: float, res_y: float, azimuth: float = 315.0, altitude: float = 45.0,
              z_factor: float = 1.0) -> np.ndarray:
    """Hillshade in [0, 1] of elevation array ``z`` (rows north→south); NaN where ``z`` is NaN.

    Edge cells use the nearest interior values (edge replication), so the result has the shape of ``z``.
    """
    z = np.asarray(z, dtype="float64")
    p = np.pad(z, 1, mode="edge")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * res_x) * z_factor
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * res_y) * z_factor  # positive towards south
    zen = math.radians(90.0 - altitude)
    az = math.radians(azimuth)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    # aspect measured clockwise from north of the downslope direction
    aspect = np.arctan2(-dzdx, dzdy)
    aspect = np.where(aspect < 0, aspect + 2 * math.pi, aspect)
    shade = math.cos(zen) * np.cos(slope) + math.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0.0, 1.0)
    shade[~np.isfinite(z)] = np.nan
    return shade


def read_dem(ws, max_cells: int = 2_000_000, dst_crs=None):
    """Read the workspace DEM (decimated to at most ``max_cells``), optionally reprojected.

    Returns ``(z, bounds, crs, (res_x, res_y))`` with NaN for nodata, or ``None`` if the workspace has no DEM.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    path = ws.dem_path
    if path is None:
        return None
    with rasterio.open(path) as ds:
        crs = dst_crs or ds.crs
        if dst_crs is None or ds.crs == dst_crs:
            step = max(1, int(math.ceil(math.sqrt(ds.width * ds.height / max_cells))))
            out_shape = (max(1, ds.height // step), max(1, ds.width // step))
            z = ds.read(1, out_shape=out_shape, resampling=Resampling.average, masked=True).astype("float64")
            z = z.filled(np.nan)
            b = ds.bounds
            bounds = (b.left, b.bottom, b.right, b.top)
            res = ((b.right - b.left) / out_shape[1], (b.top - b.bottom) / out_shape[0])
            return z, bounds, ds.crs, res
        transform, width, height = calculate_default_transform(ds.crs, dst_crs, ds.width, ds.height, *ds.bounds)
        step = max(1, int(math.ceil(math.sqrt(width * height / max_cells))))
        width, height = max(1, width // step), max(1, height // step)
        transform, width, height = calculate_default_transform(ds.crs, dst_crs, ds.width, ds.height, *ds.bounds,
                                                               dst_width=width, dst_height=height)
        z = np.full((height, width), np.nan, dtype="float64")
        src = ds.read(1, masked=True).astype("float64").filled(np.nan)
        reproject(src, z, src_transform=ds.transform, src_crs=ds.crs, dst_transform=transform, dst_crs=dst_crs,
                  src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.bilinear)
        left, top = transform.c, transform.f
        right, bottom = left + transform.a * width, top + transform.e * height
        return z, (left, bottom, right, top), crs, (abs(transform.a), abs(transform.e))
