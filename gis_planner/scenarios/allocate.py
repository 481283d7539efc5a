"""Allocation: where the land demand of a scenario can go, parcel by parcel, with the reasons.

1. **Candidates** for a use are parcels matching the ``candidates`` rules of
   ``layers/scenario_norms.yaml`` (unused / reserve / State Fund / municipal, never private, protected,
   forest or water fund — all configurable).
2. **Prohibited land is removed**: the zoning restriction frame (``gis_planner.zoning``) gives, per
   restriction polygon, the effect of its rule on the use; the union of polygons that *prohibit* the use
   is cut out of every candidate, so nothing is ever allocated inside a coastal strip, a reserve core or a
   high hazard zone (whatever the rule files say). The zoning parcel check
   (``gis_planner.zoning.check_many``) gives the verdict and reasons shown for every parcel.
3. **Suitability** ``Σ weight × component − hazard penalty − farmland penalty`` with components in 0..1:
   slope (mean Horn slope of the DEM inside the parcel), distance to the settlement, roads and
   water/canals, gravity (the parcel lies below the canal, for irrigation); the farmland penalty keeps
   building off irrigated and planted land where other land exists — weights in
   ``layers/scenario_norms.yaml``.
4. **Allocation** in descending score (ties: cadastral number): housing as house plots of the norm size,
   laid out as blocks two plots deep along a street, the plots nearest the settlement first; area uses
   take whole usable pieces, the last one cut to the exact remaining area on the side nearest the
   settlement. Unmet demand is reported with the densification alternative.

Deterministic: the same inputs give the same pieces in the same order.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field

from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry import box

from ..errors import GisPlannerError
from .demand import Demand
from .model import Norms

HA = 10_000.0
EPS_M2 = 1e-6

PIECE_COLUMNS = ["piece_id", "use", "kind", "cadastral_no", "plots", "area_ha", "rank", "score", "s_slope",
                 "s_settlement", "s_road", "s_water", "s_gravity", "hazard_penalty", "farmland_penalty", "slope_deg",
                 "dist_settlement_m", "dist_road_m", "dist_water_m", "elev_m", "canal_elev_m", "verdict",
                 "reasons", "candidate_rule", "why", "category", "land_type", "owner_type", "use_status",
                 "target_category", "target_land_type"]


# --------------------------------------------------------------------------- result
@dataclass
class Allocation:
    """Result of :func:`allocate`.

    ``pieces`` (GeoDataFrame) holds every allocated piece (house plots, streets, areas) with its score
    components and reasons; ``summary`` the demand, allocated and unmet amount per use; ``candidates``
    every candidate parcel per use with its score or the reason it was rejected.
    """

    scenario_id: str
    pieces: gpd.GeoDataFrame
    summary: pd.DataFrame
    candidates: pd.DataFrame
    densification: dict
    warnings: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    roads: Any = None                 # union of the road network (access-road lengths)

    def unmet(self) -> dict:
        return {r.use: r.unmet for r in self.summary.itertuples() if r.unmet > 0}


# --------------------------------------------------------------------------- candidates
def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple, set)) else [v]


def _norm_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "yes", "1"):
            return True if s != "1" else s
        return s
    return v


def candidate_mask(parcels: pd.DataFrame, rules: dict) -> tuple[np.ndarray, list[str | None]]:
    """Which parcels are candidates under ``rules`` (``include``/``exclude`` lists) and the rule matched.

    >>> df = pd.DataFrame({"use_status": ["unused", "used", "used"], "owner_type": ["state", "private",
    ...                    "municipal"], "category": ["agricultural"] * 3})
    >>> m, why = candidate_mask(df, {"include": [{"use_status": ["unused"]}, {"owner_type": ["municipal"]}],
    ...                              "exclude": [{"owner_type": ["private"]}]})
    >>> m.tolist(), why
    ([True, False, True], ['use_status=unused', None, 'owner_type=municipal'])
    """
    n = len(parcels)
    normed: dict[str, np.ndarray] = {}

    def column(col: str) -> np.ndarray:
        if col not in normed:
            codes, uniq = pd.factorize(parcels[col].astype(object), use_na_sentinel=True)
            if col == "has_building":
                lut = [_norm_value(v) in (True, "true", "yes", "1", 1) for v in uniq]
            else:
                lut = [_norm_value(v) for v in uniq]
            lut_arr = np.array(lut + [None], dtype=object)       # code -1 (missing) → None
            normed[col] = lut_arr[codes]
        return normed[col]

    def match(rule: dict) -> np.ndarray:
        m = np.ones(n, dtype=bool)
        for col, allowed in rule.items():
            if col not in parcels.columns:
                return np.zeros(n, dtype=bool)
            allowed_n = {_norm_value(a) for a in _as_list(allowed)}
            m &= pd.Series(column(col)).isin(allowed_n).to_numpy()
        return m

    inc = np.zeros(n, dtype=bool)
    why: list[str | None] = [None] * n
    for rule in rules.get("include") or []:
        m = match(rule)
        label = ", ".join(f"{k}={'/'.join(str(x) for x in _as_list(v))}" for k, v in rule.items())
        for i in np.flatnonzero(m & ~inc):
            why[i] = label
        inc |= m
    exc = np.zeros(n, dtype=bool)
    for rule in rules.get("exclude") or []:
        exc |= match(rule)
    mask = inc & ~exc
    return mask, [w if mask[i] else None for i, w in enumerate(why)]


# --------------------------------------------------------------------------- zoning
def _zoning():
    try:
        return importlib.import_module("gis_planner.zoning")
    except ImportError:
        return None


def restriction_effects(ws: Any, use: str, restrictions: gpd.GeoDataFrame) -> np.ndarray:
    """Effect of each restriction polygon on ``use`` (``prohibited``/``conditional``/``permitted``/None).

    An ``effect`` column in ``restrictions`` wins (a hand-made frame); otherwise the zoning rule files
    decide, through the same look-up the zoning parcel check uses.
    """
    if "effect" in restrictions.columns:
        return restrictions["effect"].astype(object).to_numpy()
    try:
        check_mod = importlib.import_module("gis_planner.zoning.check")
        rules_mod = importlib.import_module("gis_planner.zoning.rules")
    except ImportError:
        raise GisPlannerError("the zoning rules are not available to decide which restrictions prohibit "
                              f"'{use}'", fix="install the zoning package or pass a restriction frame with an "
                              "`effect` column", code="missing_zoning") from None
    rules, zrules = rules_mod.restriction_rules(ws), rules_mod.zoning_rules(ws)
    if hasattr(check_mod, "with_effects"):
        tagged = check_mod.with_effects(restrictions.assign(_row=np.arange(len(restrictions))), use, ws, rules,
                                        zrules)
        out = np.full(len(restrictions), None, dtype=object)
        out[tagged["_row"].to_numpy(dtype=int)] = tagged["effect"].to_numpy()
        return out
    out = []
    for k, r in zip(restrictions["kind"], restrictions["rule_id"]):
        out.append(rules_mod.zone_effect(zrules, r, use) if k == "legal_zone" else rules_mod.effect_of(rules, r, use))
    return np.array(out, dtype=object)


def _build_restrictions(ws: Any) -> gpd.GeoDataFrame | None:
    z = _zoning()
    fn = getattr(z, "build_restrictions", None) if z is not None else None
    if fn is None:
        try:
            fn = importlib.import_module("gis_planner.zoning.restrictions").build_restrictions
        except ImportError:
            return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(ws)


def parcel_check(ws: Any, use: str, parcels: gpd.GeoDataFrame,
                 restrictions: gpd.GeoDataFrame | None = None) -> pd.DataFrame | None:
    """The zoning parcel check (``gis_planner.zoning.check_many``) for the candidates, if available."""
    z = _zoning()
    fn = getattr(z, "check_many", None) if z is not None else None
    if fn is None or ws is None:
        return None
    res = fn(ws, use, parcels, restrictions) if restrictions is not None else fn(ws, use, parcels)
    return pd.DataFrame(res).reset_index(drop=True) if res is not None else None


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


# --------------------------------------------------------------------------- context
@dataclass
class Context:
    """Layers the allocation scores against (all in the workspace CRS)."""

    crs: Any
    settlement: Any = None          # union geometry or None
    roads: Any = None
    water: gpd.GeoDataFrame | None = None
    hazards: gpd.GeoDataFrame | None = None
    restrictions: gpd.GeoDataFrame | None = None
    dem_path: Any = None


def load_context(ws: Any, parcels: gpd.GeoDataFrame) -> Context:
    """Read settlements, roads, water bodies, hazard zones and restrictions of a workspace."""
    crs = parcels.crs

    def layer(name):
        df = ws.read_layer(name, missing_ok=True) if ws is not None else None
        if df is None or df.empty:
            return None
        return df.to_crs(crs) if df.crs is not None and df.crs != crs else df

    st = layer("settlements")
    if st is not None:
        settlement = shapely.union_all(np.asarray(st.geometry.values))
    else:
        cat = parcels.get("category")
        settlement = (shapely.union_all(np.asarray(parcels.geometry.values[(cat == "settlement").to_numpy()]))
                      if cat is not None and (cat == "settlement").any() else None)
    roads = layer("roads")
    hz = None
    if ws is not None:
        try:
            hz = importlib.import_module("gis_planner.zoning.restrictions").hazard_frame(ws)
        except (ImportError, AttributeError):
            hz = layer("hazard_zones")
    restr = _build_restrictions(ws) if ws is not None else None
    return Context(crs=crs, settlement=settlement,
                   roads=shapely.union_all(np.asarray(roads.geometry.values)) if roads is not None else None,
                   water=layer("water_bodies"), hazards=hz, restrictions=restr,
                   dem_path=ws.dem_path if ws is not None else None)


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


# --------------------------------------------------------------------------- geometry
def _rotate(geoms: np.ndarray, ang: float, origin) -> np.ndarray:
    """Rotate an array of geometries by ``ang`` degrees (counter-clockwise) about ``origin`` (vectorised)."""
    if not ang:
        return geoms
    a = math.radians(ang)
    ca, sa = math.cos(a), math.sin(a)
    ox, oy = origin.x, origin.y

    def tf(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0] - ox, xy[:, 1] - oy
        return np.column_stack([ox + ca * x - sa * y, oy + sa * x + ca * y])

    return shapely.transform(np.asarray(geoms, dtype=object), tf)


def _orientation(geom) -> float:
    """Angle (degrees, 0–180) of the long side of the minimum-area bounding rectangle (plots align with it).

    Rotating calipers over the convex-hull edges, in coordinates relative to the centroid (exact for
    large projected coordinates, unlike a rectangle fitted in absolute coordinates).
    """
    hull = geom.convex_hull
    if hull.geom_type != "Polygon":
        return 0.0
    xy = np.asarray(hull.exterior.coords)
    xy = xy - xy.mean(axis=0)
    d = np.diff(xy, axis=0)
    lens = np.hypot(d[:, 0], d[:, 1])
    d = d[lens > 1e-9]
    if not len(d):
        return 0.0
    angles = np.unique(np.round(np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 90.0, 9))
    best = None
    for a in angles:
        r = math.radians(a)
        ca, sa = math.cos(r), math.sin(r)
        x = ca * xy[:, 0] + sa * xy[:, 1]
        y = -sa * xy[:, 0] + ca * xy[:, 1]
        w, h = x.max() - x.min(), y.max() - y.min()
        area = round(w * h, 6)
        if best is None or area < best[0]:
            best = (area, a, w, h)
    _, a, w, h = best
    ang = a if w >= h - 1e-9 else a + 90.0
    ang = ang % 180.0
    return 0.0 if abs(ang) < 1e-7 or abs(ang - 180.0) < 1e-7 else float(ang)


def subdivide_plots(geom, plot_area_m2: float, width_m: float, street_m: float, rows_per_block: int = 2,
                    keep_m2: float | None = None, toward=None) -> tuple[list, list, list]:
    """Lay out house plots (``width × depth`` with ``depth = area / width``) in blocks along streets.

    The grid is aligned with the longest side of the polygon's minimum rotated rectangle, starts at its
    lower-left corner and repeats ``[plot row, street, plot row]`` (``rows_per_block=2``). Plots clipped by
    the polygon keep only if their area ≥ ``keep_m2`` (default: the full plot area). Returns the plots,
    for each plot the index of the street cell it fronts, and the street cells (clipped), plots sorted
    by distance to ``toward`` (the settlement) then by position.

    >>> plots, _, streets = subdivide_plots(box(0, 0, 100, 100), 1000, 25, 12)
    >>> len(plots), round(sum(p.area for p in plots)), sum(not s.is_empty for s in streets)
    (8, 8000, 4)
    """
    if geom is None or geom.is_empty:
        return [], [], []
    keep = plot_area_m2 if keep_m2 is None else keep_m2
    depth = plot_area_m2 / width_m
    ang = _orientation(geom)
    origin = geom.centroid
    g = affinity.rotate(geom, -ang, origin=origin) if ang else geom
    minx, miny, maxx, maxy = g.bounds
    ncol = int(math.floor((maxx - minx) / width_m + 1e-9))
    block = rows_per_block * depth + street_m
    nblock = int(math.ceil((maxy - miny) / block)) + 1
    if ncol <= 0:
        return [], [], []
    # rows_per_block plot rows per block: the first below the street, the others above it
    b_i, c_i = np.meshgrid(np.arange(nblock), np.arange(ncol), indexing="ij")
    b_i, c_i = b_i.ravel(), c_i.ravel()
    sx0 = minx + c_i * width_m
    sy0 = miny + b_i * block + depth
    street_cells = shapely.box(sx0, sy0, sx0 + width_m, sy0 + street_m)
    offsets = np.array([0.0] + [depth + street_m + k * depth for k in range(rows_per_block - 1)])
    r_i = np.tile(np.arange(rows_per_block), len(b_i))
    sidx = np.repeat(np.arange(len(b_i)), rows_per_block)
    px0 = np.repeat(sx0, rows_per_block)
    py0 = np.repeat(miny + b_i * block, rows_per_block) + offsets[r_i]
    cell_geoms = shapely.box(px0, py0, px0 + width_m, py0 + depth)
    cells = list(zip(np.repeat(b_i, rows_per_block), r_i, np.repeat(c_i, rows_per_block)))
    fronts = sidx.tolist()
    clipped = shapely.intersection(cell_geoms, g)
    areas = shapely.area(clipped)
    ok = areas >= keep - 1e-6
    street_geoms = shapely.intersection(street_cells, g)
    if ang:
        clipped = _rotate(clipped, ang, origin)
        street_geoms = _rotate(street_geoms, ang, origin)
    idx = np.flatnonzero(ok)
    if toward is not None and not shapely.is_empty(toward):
        d = np.round(shapely.distance(clipped[idx], toward), 6)
    else:
        d = np.zeros(len(idx))
    order = sorted(range(len(idx)), key=lambda k: (d[k], cells[idx[k]][0], cells[idx[k]][1], cells[idx[k]][2]))
    plots = [clipped[idx[k]] for k in order]
    fr = [fronts[idx[k]] for k in order]
    return plots, fr, list(street_geoms)


def cut_area(geom, area_m2: float, toward=None, tol_m2: float = 1e-4):
    """The part of ``geom`` of exactly ``area_m2`` on the side nearest ``toward`` (a strip swept across).

    >>> round(cut_area(box(0, 0, 100, 100), 2500).area, 6)
    2500.0
    """
    total = geom.area
    if area_m2 >= total - tol_m2:
        return geom
    if area_m2 <= 0:
        return shapely.Polygon()
    c = geom.centroid
    if toward is not None and not shapely.is_empty(toward):
        p = shapely.get_point(shapely.shortest_line(c, toward), 1)
        dx, dy = p.x - c.x, p.y - c.y
        ang = math.degrees(math.atan2(dy, dx)) if math.hypot(dx, dy) > 1e-9 else 180.0
    else:
        ang = 180.0  # sweep from the west
    # rotate so that the sweep comes from -x (the side facing `toward`)
    rot = 180.0 - ang
    g = affinity.rotate(geom, rot, origin=c)
    minx, miny, maxx, maxy = g.bounds
    lo, hi = minx, maxx
    piece = None
    for _ in range(200):
        mid = (lo + hi) / 2.0
        piece = g.intersection(box(minx - 1, miny - 1, mid, maxy + 1))
        a = piece.area
        if abs(a - area_m2) <= tol_m2:
            break
        if a < area_m2:
            lo = mid
        else:
            hi = mid
    return affinity.rotate(piece, -rot, origin=c)


def _polys(geom):
    """Polygonal part of a geometry (drops lines and points left by differences)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# --------------------------------------------------------------------------- allocate
def _demand_items(dem: Demand, order: list[str], uses: list[str] | None) -> list[tuple[str, str, float]]:
    items = []
    wanted = set(uses) if uses else None
    for use in order:
        if wanted is not None and use not in wanted:
            continue
        if use == "housing":
            if dem.housing_plots > 0:
                items.append(("housing", "plots", float(dem.housing_plots)))
        elif use in dem.land_ha and dem.land_ha[use] > 0:
            items.append((use, "ha", float(dem.land_ha[use])))
    return items


def allocate(ws: Any, dem: Demand, *, parcels: gpd.GeoDataFrame | None = None, context: Context | None = None,
             uses: list[str] | None = None, norms: Norms | None = None) -> Allocation:
    """Allocate the land demand of a scenario to parcels (see module docstring).

    Parameters
    ----------
    ws : Workspace or None
        Source of parcels, settlements, roads, water, hazards, DEM and the zoning restriction frame.
    dem : Demand
        From :func:`gis_planner.scenarios.demand`.
    parcels, context : optional
        Use these instead of reading the workspace (tests, what-if edits).
    uses : list, optional
        Only allocate these uses.

    Returns
    -------
    Allocation
    """
    n = norms or dem.norms
    if parcels is None:
        if ws is None:
            raise GisPlannerError("no parcels to allocate on", fix="give a workspace", code="missing_layer")
        parcels = ws.read_layer("parcels")
    if parcels.crs is None:
        raise GisPlannerError("the parcels have no CRS", file="parcels", fix="set the workspace CRS",
                              code="missing_crs")
    if parcels.crs.is_geographic:
        from ..crs import to_metric

        parcels = to_metric(parcels)
    parcels = parcels.reset_index(drop=True)
    if "cadastral_no" not in parcels.columns:
        raise GisPlannerError("the parcels have no 'cadastral_no'", file="parcels",
                              fix="import the cadastre with its cadastral numbers", code="missing_field")
    ctx = context or load_context(ws, parcels)
    geoms = np.asarray(shapely.make_valid(np.asarray(parcels.geometry.values)), dtype=object)
    geoms = np.array([_polys(g) for g in geoms], dtype=object)
    ids = parcels["cadastral_no"].astype(str).to_numpy()
    remaining = geoms.copy()
    order = list(n.value("allocation.order"))
    min_piece = float(n.value("allocation.min_piece_ha")) * HA
    hazard_cfg = n.section("suitability.hazard_penalty")
    warn: list[str] = []
    pieces: list[dict] = []
    cand_rows: list[pd.DataFrame] = []
    summary = []
    restr = ctx.restrictions
    prohibited_cache: dict = {}
    psize = float(n.value("housing.plot_size_ha")) * HA
    layout = (psize, float(n.value("housing.plot_width_m")), float(n.value("housing.street_width_m")),
              int(n.value("housing.plots_between_streets")),
              max(float(n.value("housing.plot_size_min_ha")) * HA, float(n.value("allocation.plot_keep_share")) * psize))
    for use, unit, amount in _demand_items(dem, order, uses):
        zoning_use = "housing" if use == "multistorey_housing" else (
            "irrigated_agriculture" if use == "perennial_crop" else use)
        rules = n.section("candidates", use)
        mask, why = candidate_mask(parcels, rules)
        idx = np.flatnonzero(mask & ~shapely.is_empty(remaining))
        rows = pd.DataFrame({"use": use, "cadastral_no": ids[idx], "candidate_rule": [why[i] for i in idx]})
        # prohibited land for this use
        usable = remaining[idx].copy()
        if restr is not None and len(restr):
            if zoning_use not in prohibited_cache:
                eff = restriction_effects(ws, zoning_use, restr)
                proh = np.asarray(restr.geometry.values)[eff == "prohibited"]
                pu = shapely.union_all(proh) if len(proh) else None
                if pu is not None:
                    shapely.prepare(pu)
                prohibited_cache[zoning_use] = pu
            pu = prohibited_cache[zoning_use]
            if pu is not None and len(usable):
                hit = shapely.intersects(usable, pu)
                if hit.any():
                    usable[hit] = [_polys(g) for g in shapely.difference(usable[hit], pu)]
        ua = shapely.area(usable)
        ra = shapely.area(remaining[idx])
        rows["usable_ha"] = ua / HA
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["prohibited_share"] = np.where(ra > 0, np.clip(1.0 - ua / np.where(ra > 0, ra, 1.0), 0.0, 1.0), 0.0)
        # the zoning check of the land that can be used (or of the whole parcel when nothing is left: why)
        checked = np.where(ua > EPS_M2, usable, remaining[idx])
        chk = parcel_check(ws, zoning_use, gpd.GeoDataFrame({"cadastral_no": ids[idx]}, geometry=list(checked),
                                                           crs=parcels.crs), restr) if len(idx) else None
        if chk is not None and len(chk) == len(idx):
            rows["verdict"] = chk["verdict"].astype(object).to_numpy() if "verdict" in chk else None
            rows["reasons"] = [_reasons_text(r) for r in chk["reasons"]] if "reasons" in chk else ""
        else:
            rows["verdict"] = None
            rows["reasons"] = ""
        suit = n.section("suitability", use if use in n.node("suitability") else (
            "housing" if use in ("housing", "multistorey_housing", "social_facility") else "default"))
        lts = parcels["land_type"].astype(object).to_numpy()[idx] if "land_type" in parcels.columns else None
        sc = score_parcels(usable, ctx, suit, hazard_cfg, lts) if len(idx) else pd.DataFrame()
        for col in sc.columns:
            rows[col] = sc[col].to_numpy()
        status = np.full(len(idx), "candidate", dtype=object)
        status[ua < max(min_piece, EPS_M2)] = "prohibited_or_too_small"
        if len(idx):
            steep = np.isfinite(sc["slope_deg"].to_numpy()) & (sc["slope_deg"].to_numpy() > float(suit.get("max_slope_deg", 90)))
            status[(status == "candidate") & steep] = "too_steep"
            if suit.get("require_gravity"):
                no_grav = sc["s_gravity"].to_numpy() < 1.0
                status[(status == "candidate") & no_grav] = "above_water_source"
                if ctx.dem_path is None:
                    warn.append(f"{use}: no DEM, the gravity condition cannot be checked")
        rows["status"] = status
        ok = np.flatnonzero(status == "candidate")
        got = 0.0
        rank = 0
        info_cols = ["score", "s_slope", "s_settlement", "s_road", "s_water", "s_gravity", "hazard_penalty",
                     "farmland_penalty",
                     "slope_deg", "dist_settlement_m", "dist_road_m", "dist_water_m", "elev_m", "canal_elev_m",
                     "verdict", "reasons", "candidate_rule", "why"]
        infos = rows[[c for c in info_cols if c in rows.columns]].to_dict("records")
        scores = rows["score"].to_numpy() if "score" in rows.columns else np.zeros(len(rows))
        rank_order = sorted(ok, key=lambda k: (-scores[k], ids[idx[k]]))
        for k in rank_order:
            if got >= amount - 1e-9:
                break
            pi = idx[k]
            g = usable[k]
            info = infos[k]
            rank += 1
            taken = []
            if unit == "plots":
                plots, fronts, streets = subdivide_plots(g, *layout, ctx.settlement)
                need = int(round(amount - got))
                chosen = plots[:need]
                used_streets = sorted(set(fronts[:need]))
                taken.extend(("plot", p, 1) for p in chosen)
                for s in used_streets:
                    sg = _polys(streets[s])
                    if sg.area > EPS_M2:
                        taken.append(("street", sg, 0))
                got += len(chosen)
            else:
                need_m2 = (amount - got) * HA
                piece = g if g.area <= need_m2 + 1e-4 else _polys(cut_area(g, need_m2, ctx.settlement))
                if piece.area > EPS_M2:
                    taken.append(("area", piece, 0))
                    got += piece.area / HA
            if not taken:
                continue
            taken_union = shapely.union_all([t[1] for t in taken])
            remaining[pi] = _polys(shapely.difference(remaining[pi], taken_union))
            for kind, geom_, nplots in taken:
                pieces.append({"use": use, "kind": kind, "cadastral_no": ids[pi], "plots": nplots,
                               "area_ha": geom_.area / HA, "rank": rank, "_parcel": pi, "geometry": geom_, **info})
        if unit == "ha":
            got = min(got, amount) if abs(got - amount) < 1e-6 else got
        unmet = max(amount - got, 0.0)
        if unit == "ha" and unmet < 1e-6:
            unmet = 0.0
        summary.append({"use": use, "unit": unit, "demand": amount, "allocated": got, "unmet": unmet,
                        "candidates": int((status == "candidate").sum()),
                        "rejected": int((status != "candidate").sum())})
        cand_rows.append(rows)
    pieces_gdf = _pieces_frame(pieces, parcels, n)
    summary_df = pd.DataFrame(summary, columns=["use", "unit", "demand", "allocated", "unmet", "candidates",
                                                "rejected"])
    dens = densification(summary_df, pieces_gdf, n)
    cands = pd.concat(cand_rows, ignore_index=True) if cand_rows else pd.DataFrame()
    prov = {"norms": n.provenance()}
    if ws is not None:
        prov["layers"] = {name: ws.provenance(name) for name in ("parcels", "settlements", "roads", "water_bodies",
                                                                  "hazard_zones") if ws.has_layer(name)}
    return Allocation(dem.scenario_id, pieces_gdf, summary_df, cands, dens, warn, prov, ctx.roads)


def _reasons_text(r: Any) -> str:
    if r is None:
        return ""
    if isinstance(r, str):
        return r
    if isinstance(r, float) and math.isnan(r):
        return ""
    if isinstance(r, dict):
        return "; ".join(f"{k}: {v}" for k, v in r.items())
    try:
        parts = []
        for x in r:
            if isinstance(x, dict):
                label = x.get("rule_id") or x.get("kind") or ""
                share = x.get("share")
                eff = x.get("effect") or ""
                parts.append(f"{label} {eff}".strip() + (f" {float(share) * 100:.1f}%" if share is not None else ""))
            else:
                parts.append(str(x))
        return "; ".join(parts)
    except TypeError:
        return str(r)


def _pieces_frame(pieces: list[dict], parcels: gpd.GeoDataFrame, n: Norms) -> gpd.GeoDataFrame:
    if not pieces:
        return gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in PIECE_COLUMNS},
                                geometry=gpd.GeoSeries([], crs=parcels.crs), crs=parcels.crs)
    df = pd.DataFrame(pieces)
    for col in ("category", "land_type", "owner_type", "use_status"):
        src = parcels[col] if col in parcels.columns else pd.Series([None] * len(parcels))
        df[col] = src.astype(object).to_numpy()[df["_parcel"].to_numpy()]
    targets = n.node("targets")
    df["target_category"] = [(targets.get(u) or {}).get("category") for u in df["use"]]
    df["target_land_type"] = [(targets.get(u) or {}).get("land_type") for u in df["use"]]
    df["piece_id"] = [f"{u}-{i + 1:05d}" for i, u in enumerate(df["use"])]
    gdf = gpd.GeoDataFrame(df.drop(columns=["_parcel"]), geometry="geometry", crs=parcels.crs)
    return gdf[PIECE_COLUMNS + ["geometry"]]


def densification(summary: pd.DataFrame, pieces: gpd.GeoDataFrame, n: Norms) -> dict:
    """The densification alternative: unmet households at the multi-storey norm density.

    ``unmet_households / households_per_ha`` ha of multi-storey blocks instead of plots, and how many
    households the land already allocated to house plots would hold at that density.
    """
    dens = float(n.value("housing.multistorey_households_per_ha"))
    psize = float(n.value("housing.plot_size_ha"))
    row = summary[summary["use"] == "housing"]
    unmet = int(round(float(row["unmet"].iloc[0]))) if len(row) else 0
    plot_land = float(pieces.loc[pieces["use"] == "housing", "area_ha"].sum()) if len(pieces) else 0.0
    return {"unmet_households": unmet, "households_per_ha": dens,
            "multistorey_ha_for_unmet": round(unmet / dens, 4) if dens else None,
            "plot_ha_for_unmet": round(unmet * psize, 4),
            "households_on_allocated_housing_land": int(math.floor(plot_land * dens + 1e-9)),
            "source": n.source("housing.multistorey_households_per_ha")}


def households_fit(area_ha: float, norms: Norms | None = None) -> int:
    """How many households fit in ``area_ha`` at the multi-storey norm density.

    >>> households_fit(1.5)
    150
    """
    n = norms or Norms.load()
    return int(math.floor(float(area_ha) * float(n.value("housing.multistorey_households_per_ha")) + 1e-9))


__all__ = ["Allocation", "Context", "allocate", "candidate_mask", "score_parcels", "subdivide_plots", "cut_area",
           "parcel_terrain", "sample_dem", "load_context", "restriction_effects", "parcel_check",
           "densification", "households_fit"]

