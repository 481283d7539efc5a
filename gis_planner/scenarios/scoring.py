"""Scoring of candidate land: DEM terrain per polygon, distances, gravity below the canal, penalties."""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry import box

from ..errors import GisPlannerError

from .candidates import Context


# --------------------------------------------------------------------------- terrain
def _slope_fn() -> Callable | None:
    try:
        terrain = importlib.import_module("gis_planner.hazards.terrain")
    except ImportError:
        return None
    fn = getattr(terrain, "slope_aspect", None)
    if fn is not None:
        return lambda z, xr, yr: fn(z, xr, yr, edges=True, aspect=False)[0]
    fn = getattr(terrain, "slope", None)
    return (lambda z, xr, yr: fn(z, xr, yr)) if fn is not None else None


def _horn_slope(z: np.ndarray, xres: float, yres: float) -> np.ndarray:
    """Horn slope in degrees with edge cells filled from the centre (fallback if hazards is absent)."""
    p = np.pad(z, 1, mode="edge")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f_, g = p[1:-1, :-2], p[1:-1, 2:], p[2:, :-2]
    h, i = p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f_ + i) - (a + 2 * d + g)) / (8 * abs(xres))
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * abs(yres))
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy)))


def parcel_terrain(dem_path, geoms: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray]:
    """Mean slope (degrees, Horn) and mean elevation (m) of the DEM cells inside each polygon.

    The DEM is warped to ``crs`` (the metric workspace CRS) on the fly when it is in another CRS.
    A polygon smaller than a cell takes the cell under its representative point.
    """
    import rasterio
    from rasterio import features, windows
    from rasterio.vrt import WarpedVRT
    from rasterio.enums import Resampling

    n = len(geoms)
    slope = np.full(n, np.nan)
    elev = np.full(n, np.nan)
    if n == 0 or dem_path is None:
        return slope, elev
    with rasterio.open(dem_path) as src:
        same = src.crs is not None and src.crs == crs
        ds = src if same else WarpedVRT(src, crs=crs, resampling=Resampling.bilinear)
        try:
            minx, miny, maxx, maxy = shapely.total_bounds(geoms)
            xres, yres = abs(ds.transform.a), abs(ds.transform.e)
            win = windows.from_bounds(minx - 2 * xres, miny - 2 * yres, maxx + 2 * xres, maxy + 2 * yres,
                                      ds.transform).round_offsets().round_lengths()
            win = win.intersection(windows.Window(0, 0, ds.width, ds.height))
            z = ds.read(1, window=win, masked=True).astype("float64").filled(np.nan)
            tr = ds.window_transform(win)
        finally:
            if not same:
                ds.close()
    if z.size == 0:
        return slope, elev
    fn = _slope_fn()
    s = np.asarray(fn(z, xres, yres) if fn is not None else _horn_slope(z, xres, yres), dtype="float64")
    if np.isnan(s).all() and not np.isnan(z).all():
        s = _horn_slope(z, xres, yres)
    labels = features.rasterize(((g, i + 1) for i, g in enumerate(geoms) if g is not None and not g.is_empty),
                                out_shape=z.shape, transform=tr, fill=0, dtype="int32")
    lab = labels.ravel()
    for arr, out in ((s, slope), (z, elev)):
        v = arr.ravel()
        ok = (lab > 0) & np.isfinite(v)
        cnt = np.bincount(lab[ok], minlength=n + 1)[1:]
        tot = np.bincount(lab[ok], weights=v[ok], minlength=n + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    missing = np.flatnonzero(np.isnan(elev))
    if len(missing):
        pts = shapely.point_on_surface(np.asarray(geoms[missing], dtype=object))
        vals_z = _sample(z, tr, pts)
        vals_s = _sample(s, tr, pts)
        elev[missing] = vals_z
        slope[missing] = vals_s
    return slope, elev


def _sample(arr: np.ndarray, tr, pts: np.ndarray) -> np.ndarray:
    from rasterio.transform import rowcol

    if len(pts) == 0:
        return np.array([])
    out = np.full(len(pts), np.nan)
    live = ~shapely.is_empty(pts) & ~shapely.is_missing(pts)
    if not live.any():
        return out
    xs = np.where(live, 0.0, 0.0)
    ys = xs.copy()
    xs[live], ys[live] = shapely.get_x(pts[live]), shapely.get_y(pts[live])
    rows, cols = rowcol(tr, xs, ys)
    rows, cols = np.asarray(rows), np.asarray(cols)
    ok = live & (rows >= 0) & (rows < arr.shape[0]) & (cols >= 0) & (cols < arr.shape[1])
    out[ok] = arr[rows[ok], cols[ok]]
    return out


def sample_dem(dem_path, points: np.ndarray, crs) -> np.ndarray:
    """DEM elevation at points given in ``crs`` (the cell under each point; NaN outside or on nodata).

    Reads one window covering all points (warped to ``crs`` when the DEM is in another CRS) and
    indexes it, instead of sampling point by point.
    """
    import rasterio
    from rasterio import windows
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    points = np.asarray(points, dtype=object)
    out = np.full(len(points), np.nan)
    if dem_path is None or len(points) == 0:
        return out
    live = ~shapely.is_empty(points) & ~shapely.is_missing(points)
    if not live.any():
        return out
    with rasterio.open(dem_path) as src:
        same = src.crs is not None and src.crs == crs
        ds = src if same else WarpedVRT(src, crs=crs, resampling=Resampling.bilinear)
        try:
            minx, miny, maxx, maxy = shapely.total_bounds(points[live])
            xres, yres = abs(ds.transform.a), abs(ds.transform.e)
            win = windows.from_bounds(minx - xres, miny - yres, maxx + xres, maxy + yres, ds.transform)
            win = win.round_offsets().round_lengths().intersection(windows.Window(0, 0, ds.width, ds.height))
            z = ds.read(1, window=win, masked=True).astype("float64").filled(np.nan)
            tr = ds.window_transform(win)
        except rasterio.errors.WindowError:
            return out
        finally:
            if not same:
                ds.close()
    return _sample(z, tr, points)


# --------------------------------------------------------------------------- scoring
def _dist(geoms: np.ndarray, target) -> np.ndarray:
    if target is None or shapely.is_empty(target):
        return np.full(len(geoms), np.nan)
    return shapely.distance(geoms, target)


def _closeness(d: np.ndarray, dmax: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(d), 0.0, np.clip(1.0 - d / float(dmax), 0.0, 1.0))


def water_source_elevation(geoms: np.ndarray, water, dem_path, crs, reach_m: float = 0.0,
                           spacing_m: float = 25.0) -> np.ndarray:
    """Elevation of the water source that could feed each polygon by gravity.

    With ``reach_m = 0``: the DEM at the point of the canal nearest the polygon. With ``reach_m > 0``:
    the highest canal point within ``reach_m`` of the polygon (a field ditch can take water from the
    canal upstream), sampled every ``spacing_m`` along the canals.
    """
    n = len(geoms)
    live = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    out = np.full(n, np.nan)
    if not live.any():
        return out
    if reach_m <= 0:
        nearest = np.full(n, None, dtype=object)
        nearest[live] = shapely.get_point(shapely.shortest_line(geoms[live], water), 1)
        return sample_dem(dem_path, nearest, crs)
    lines = shapely.boundary(water) if water.geom_type in ("Polygon", "MultiPolygon") else water
    pts = shapely.get_parts(shapely.points(shapely.get_coordinates(shapely.segmentize(lines, spacing_m))))
    if not len(pts):
        return out
    z = sample_dem(dem_path, pts, crs)
    tree = shapely.STRtree(pts)
    gi, pi = tree.query(np.where(live, geoms, None), predicate="dwithin", distance=reach_m)
    ok = np.isfinite(z[pi])
    if ok.any():
        best = pd.Series(z[pi][ok]).groupby(gi[ok]).max()
        out[best.index.to_numpy()] = best.to_numpy()
    # nothing within reach: fall back to the nearest point
    miss = live & np.isnan(out)
    if miss.any():
        nearest = np.full(n, None, dtype=object)
        nearest[miss] = shapely.get_point(shapely.shortest_line(geoms[miss], water), 1)
        out[miss] = sample_dem(dem_path, nearest, crs)[miss]
    return out


def score_parcels(geoms: np.ndarray, ctx: Context, suit: dict, hazard_cfg: dict,
                  land_types: np.ndarray | None = None) -> pd.DataFrame:
    """Suitability components and score for polygons ``geoms`` (see module docstring).

    ``land_types`` (the parcels' land type) applies the ``farmland_penalty`` of the use's suitability
    rules, so building uses prefer land that is not irrigated or planted.
    """
    n = len(geoms)
    w = suit.get("weights") or {}
    dmax = suit.get("max_distance_m") or {}
    out = pd.DataFrame(index=range(n))
    slope, elev = parcel_terrain(ctx.dem_path, geoms, ctx.crs) if ctx.dem_path is not None else (
        np.full(n, np.nan), np.full(n, np.nan))
    out["slope_deg"] = slope
    out["elev_m"] = elev
    max_slope = float(suit.get("max_slope_deg", 90))
    out["s_slope"] = np.where(np.isnan(slope), 0.5, np.clip(1.0 - slope / max_slope, 0.0, 1.0))
    out["dist_settlement_m"] = _dist(geoms, ctx.settlement)
    out["s_settlement"] = _closeness(out["dist_settlement_m"].to_numpy(), dmax.get("settlement", 2000))
    out["dist_road_m"] = _dist(geoms, ctx.roads)
    out["s_road"] = _closeness(out["dist_road_m"].to_numpy(), dmax.get("road", 1000))
    water = ctx.water
    wtypes = suit.get("water_types")
    if water is not None and wtypes and "water_type" in water.columns:
        water = water[water["water_type"].astype(str).str.lower().isin([str(x).lower() for x in wtypes])]
    wunion = shapely.union_all(np.asarray(water.geometry.values)) if water is not None and len(water) else None
    out["dist_water_m"] = _dist(geoms, wunion)
    out["s_water"] = _closeness(out["dist_water_m"].to_numpy(), dmax.get("water", 2000))
    canal_elev = np.full(n, np.nan)
    if wunion is not None and ctx.dem_path is not None and (w.get("gravity") or suit.get("require_gravity")):
        canal_elev = water_source_elevation(geoms, wunion, ctx.dem_path, ctx.crs,
                                            float(suit.get("gravity_reach_m", 0) or 0))
    out["canal_elev_m"] = canal_elev
    with np.errstate(invalid="ignore"):
        out["s_gravity"] = np.where(np.isfinite(canal_elev) & np.isfinite(elev) & (elev < canal_elev), 1.0, 0.0)
    # hazard penalty: level factor × share of the polygon in zones of that level
    pen = np.zeros(n)
    hz = ctx.hazards
    if hz is not None and len(hz) and "level" in hz.columns:
        areas = shapely.area(geoms)
        levels = hazard_cfg.get("levels") or {}
        for lv, factor in levels.items():
            sel = hz[hz["level"].astype(str).str.lower() == lv]
            if not len(sel):
                continue
            u = shapely.union_all(np.asarray(sel.geometry.values))
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(areas > 0, shapely.area(shapely.intersection(geoms, u)) / areas, 0.0)
            pen += float(factor) * share
        pen *= float(hazard_cfg.get("weight", 1.0))
    out["hazard_penalty"] = pen
    fp = suit.get("farmland_penalty") or {}
    if land_types is not None and fp:
        lt = pd.Series(land_types, dtype=object).map(lambda v: str(v).strip().lower() if v is not None and v == v else "")
        out["farmland_penalty"] = lt.map(lambda v: float(fp.get(v, 0.0))).to_numpy(dtype=float)
    else:
        out["farmland_penalty"] = 0.0
    pen = pen + out["farmland_penalty"].to_numpy()
    score = sum(float(w.get(k, 0)) * out[f"s_{k}"] for k in ("slope", "settlement", "road", "water", "gravity"))
    out["score"] = np.round(score - pen, 6)
    parts = [(float(w.get(k, 0)), k) for k in ("slope", "settlement", "road", "water", "gravity") if float(w.get(k, 0))]
    comp = {k: out[f"s_{k}"].to_numpy() for _, k in parts}
    hz_pen, fl_pen, sc = out["hazard_penalty"].to_numpy(), out["farmland_penalty"].to_numpy(), out["score"].to_numpy()
    out["why"] = [" + ".join(f"{wk:g}×{comp[k][i]:.2f} {k}" for wk, k in parts)
                  + f" − {hz_pen[i]:.2f} hazard − {fl_pen[i]:.2f} farmland = {sc[i]:.3f}" for i in range(n)]
    return out

