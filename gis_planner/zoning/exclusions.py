"""Land that is never candidate land for building: sanitary zones, infrastructure, unsuitable terrain.

Three restriction kinds built from the workspace by the rules of ``layers/restrictions.yaml``
(sections ``sanitary_zones``, ``infrastructure``, ``terrain``) and the thresholds of
``layers/scenario_norms.yaml`` (``settlement_terrain``). They are rows of the ordinary restriction
frame (:func:`gis_planner.zoning.build_restrictions`), so the parcel check, the restriction map, the
report's restriction tables and the allocation all see them:

* ``sanitary_zone`` — the sanitary protection zone (СЗЗ) around landfills, dumps, cattle burial sites,
  cemeteries, sewage works, livestock farms and industrial sites, found by layer/field/value
  (``sanitary_zones.sources``) and buffered by the width of the object type (``sanitary_zones.objects``,
  each with its legal source and ``confirmed`` flag). The object itself lies inside its zone.
* ``infrastructure`` — roads, streets, canals, rivers and water bodies themselves: parcels whose
  ``land_use`` is listed (road, water), the road lines buffered by half their right of way by
  ``road_class`` and water lines by half their channel width; water polygons as they are.
* ``terrain`` — DEM cells higher than ``min(max_elevation_m, highest settlement cell +
  max_above_settlement_m)`` (subtype ``elevation``) or steeper than ``max_slope_deg`` (subtype
  ``slope``), polygonised; pieces smaller than ``terrain.min_area_m2`` are dropped.

Examples
--------
>>> r = build_restrictions(ws)                                        # doctest: +SKIP
>>> r[r.kind == "sanitary_zone"][["subtype", "width_m"]]              # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalog import load_rules
from .rules import localized

KINDS = ("sanitary_zone", "infrastructure", "terrain")


def _norm(v) -> str | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    s = str(v).strip().lower()
    return s or None


def _frame(rows: list[dict], geoms: list, crs, columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [r.get(c) for r in rows] for c in columns}, geometry=list(geoms), crs=crs)


def sanitary_objects(ws, rules: dict, read) -> list[tuple[str, str, int, Any, Any]]:
    """``(object_type, layer, fid, name, geometry)`` of every object that carries a sanitary zone."""
    cfg = rules.get("sanitary_zones") or {}
    out = []
    for src in cfg.get("sources") or []:
        df = read(ws, src.get("layer"))
        field = src.get("field")
        if df is None or df.empty or field not in df.columns:
            continue
        lut = {_norm(k): v for k, v in (src.get("values") or {}).items()}
        types = df[field].map(lambda v: lut.get(_norm(v)))
        sel = df[types.notna().to_numpy() & ~df.geometry.isna().to_numpy()]
        names = sel.get("name", sel.get("cadastral_no", pd.Series([None] * len(sel), index=sel.index)))
        for fid, t, nm, g in zip(sel.index, types[sel.index], names, sel.geometry.values):
            out.append((t, src.get("layer"), int(fid), nm, g))
    return out


def sanitary_zones(ws, rules: dict, crs, read, columns) -> tuple[gpd.GeoDataFrame, list[str]]:
    cfg = rules.get("sanitary_zones") or {}
    objs = cfg.get("objects") or {}
    rid = cfg.get("rule", "sanitary_zone")
    warn, rows, geoms = [], [], []
    found = sanitary_objects(ws, rules, read)
    missing = sorted({t for t, *_ in found if t not in objs})
    if missing:
        warn.append(f"sanitary objects without a zone width in layers/restrictions.yaml: {', '.join(missing)}")
    for t, layer, fid, name, g in found:
        e = objs.get(t)
        if e is None:
            continue
        w = float(e.get("width_m") or 0)
        geoms.append(shapely.buffer(g, w, quad_segs=64) if w > 0 else g)
        rows.append({"kind": "sanitary_zone", "subtype": t, "level": None, "rule_id": rid,
                     "legal_source": localized(e.get("source")), "source_layer": layer, "source_fid": fid,
                     "name": None if name is None or name != name else str(name), "width_m": w,
                     "confirmed": bool(e.get("confirmed", False))})
    return _frame(rows, geoms, crs, columns), warn


def infrastructure(ws, rules: dict, crs, read, columns) -> gpd.GeoDataFrame:
    cfg = rules.get("infrastructure") or {}
    rid = cfg.get("rule", "infrastructure_land")
    rows, geoms = [], []
    pc = cfg.get("parcels") or {}
    parcels = read(ws, "parcels")
    src_rd = localized((cfg.get("roads") or {}).get("source"))
    if parcels is not None and len(parcels) and pc.get("field") in parcels.columns:
        vals = {_norm(v) for v in pc.get("values") or []}
        lu = parcels[pc["field"]].map(_norm)
        sel = parcels[lu.isin(vals).to_numpy()]
        for fid, u, cad, g in zip(sel.index, lu[sel.index], sel.get("cadastral_no", [None] * len(sel)),
                                  sel.geometry.values):
            rows.append({"kind": "infrastructure", "subtype": u, "rule_id": rid, "legal_source": src_rd,
                         "source_layer": "parcels", "source_fid": int(fid), "name": cad, "confirmed": True})
            geoms.append(g)
    for layer in ("roads", "water_bodies"):
        lc = cfg.get(layer) or {}
        df = read(ws, layer)
        if df is None or df.empty or not lc:
            continue
        hw = lc.get("half_width_m") or {}
        src = localized(lc.get("source"))
        field = lc.get("field")
        types = df[field].map(_norm) if field in df.columns else pd.Series([None] * len(df), index=df.index)
        g = np.asarray(df.geometry.values)
        live = ~shapely.is_missing(g) & ~shapely.is_empty(g)
        poly = np.isin(shapely.get_type_id(g), [3, 6])
        widths = np.array([float(hw.get(t, hw.get("default", 0)) or 0) for t in types])
        for i in np.flatnonzero(live):
            if poly[i]:
                geom, w = g[i], None
            elif widths[i] > 0:
                geom, w = shapely.buffer(g[i], widths[i], quad_segs=8), widths[i]
            else:
                continue
            names = df.get("name")
            rows.append({"kind": "infrastructure", "subtype": types.iloc[i] or layer, "rule_id": rid,
                         "legal_source": src, "source_layer": layer, "source_fid": int(df.index[i]),
                         "name": None if names is None else names.iloc[i], "width_m": w, "confirmed": True})
            geoms.append(geom)
    return _frame(rows, geoms, crs, columns)


def terrain_limits(ws, settlements: gpd.GeoDataFrame | None, dem_path) -> dict:
    """Effective terrain thresholds: ``max_elevation_m`` (absolute, lowered to the highest settlement
    cell + ``max_above_settlement_m``), ``max_slope_deg`` and the sources."""
    norms = load_rules("scenario_norms", ws).get("settlement_terrain") or {}

    def val(k):
        node = norms.get(k) or {}
        return node.get("value") if isinstance(node, dict) else node

    def src(k):
        node = norms.get(k) or {}
        return f"layers/scenario_norms.yaml settlement_terrain.{k}: {node.get('source', '')}"

    out = {"max_slope_deg": val("max_slope_deg"), "max_elevation_m": val("max_elevation_m"),
           "source_elevation": src("max_elevation_m"), "source_slope": src("max_slope_deg"),
           "highest_settlement_m": None}
    rel = val("max_above_settlement_m")
    if rel is not None and settlements is not None and len(settlements) and dem_path is not None:
        top = _settlement_top(dem_path, settlements)
        if top is not None:
            out["highest_settlement_m"] = top
            cand = top + float(rel)
            if out["max_elevation_m"] is None or cand < float(out["max_elevation_m"]):
                out["max_elevation_m"] = cand
                out["source_elevation"] = src("max_above_settlement_m") + f" (highest settlement cell {top:.0f} m)"
    return out


def _settlement_top(dem_path, settlements) -> float | None:
    import rasterio
    from rasterio import features, windows

    with rasterio.open(dem_path) as ds:
        st = settlements.to_crs(ds.crs) if settlements.crs is not None and ds.crs is not None else settlements
        minx, miny, maxx, maxy = st.total_bounds
        win = windows.from_bounds(minx, miny, maxx, maxy, ds.transform).round_offsets().round_lengths()
        win = win.intersection(windows.Window(0, 0, ds.width, ds.height))
        z = ds.read(1, window=win, masked=True).astype("float64").filled(np.nan)
        m = features.geometry_mask(list(st.geometry.values), z.shape, ds.window_transform(win), invert=True,
                                   all_touched=True)
    v = z[m & np.isfinite(z)]
    return float(v.max()) if v.size else None


def terrain(ws, rules: dict, crs, read, columns) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Polygons of land above the settlement-suitable elevation or steeper than the slope limit."""
    cfg = rules.get("terrain") or {}
    dem = getattr(ws, "dem_path", None)
    if dem is None or not cfg:
        return _frame([], [], crs, columns), []
    import rasterio
    from rasterio import features
    from rasterio.vrt import WarpedVRT

    lim = terrain_limits(ws, read(ws, "settlements"), dem)
    with rasterio.open(dem) as src:
        same = crs is None or (src.crs is not None and src.crs == crs)
        ds = src if same else WarpedVRT(src, crs=crs)
        try:
            z = ds.read(1, masked=True).astype("float64").filled(np.nan)
            tr = ds.transform
            xres, yres = abs(tr.a), abs(tr.e)
        finally:
            if not same:
                ds.close()
    from ..hazards.terrain import slope_aspect

    slope = np.asarray(slope_aspect(z, xres, yres, edges=True, aspect=False)[0], dtype="float64")
    min_area = float(cfg.get("min_area_m2", 0) or 0)
    rows, geoms = [], []
    rules_r = rules.get("rules") or {}
    for sub, rid_key, mask, thr, srcn in (
            ("elevation", "rule_elevation", z > float(lim["max_elevation_m"] or np.inf), lim["max_elevation_m"],
             lim["source_elevation"]),
            ("slope", "rule_slope", slope > float(lim["max_slope_deg"] or 90), lim["max_slope_deg"],
             lim["source_slope"])):
        rid = cfg.get(rid_key)
        if rid is None or not mask.any():
            continue
        mask = np.where(np.isfinite(z), mask, False).astype("uint8")
        shapes = [shapely.geometry.shape(s) for s, v in features.shapes(mask, mask=mask.astype(bool), transform=tr)
                  if v == 1]
        shapes = [s for s in shapes if s.area >= min_area]
        if not shapes:
            continue
        g = shapely.union_all(shapes)
        legal = localized((rules_r.get(rid) or {}).get("legal_source"))
        rows.append({"kind": "terrain", "subtype": sub, "rule_id": rid,
                     "legal_source": f"{legal}; {srcn}" if legal else srcn, "source_layer": "dem",
                     "name": f"{sub} > {float(thr):g}", "width_m": None, "confirmed": False})
        geoms.append(g)
    return _frame(rows, geoms, crs, columns), []


def exclusion_frames(ws, rules: dict, crs, read, columns) -> tuple[list[gpd.GeoDataFrame], list[str]]:
    """The three exclusion kinds as restriction-frame parts (see module docstring)."""
    s, w1 = sanitary_zones(ws, rules, crs, read, columns)
    i = infrastructure(ws, rules, crs, read, columns)
    t, w2 = terrain(ws, rules, crs, read, columns)
    return [s, i, t], w1 + w2


__all__ = ["KINDS", "exclusion_frames", "sanitary_objects", "terrain_limits"]
