"""Exposure to natural hazards and the relocation candidate list.

What lies in each hazard type and level of the **effective** zones (official zones govern, see
:func:`gis_planner.hazards.official.effective_hazard_zones`): parcels, house plots, buildings,
settlement land, roads, community-map objects, households and people where the layers carry
them; and the house plots in high-level zones, for the hazard management plan.

Counting rules (thresholds in ``layers/hazards.yaml`` → ``exposure``):

- Within one hazard type the levels are made exclusive (high, then medium outside high, then low
  outside both), so nothing is counted twice.
- Areas (ha) and lengths (km) are the exact part inside each level (workspace CRS, metres).
- Each parcel is counted once per hazard type, at the highest level where its overlap reaches
  ``min_overlap_share`` of its area or ``min_overlap_m2``; its households and people go with it.
- Buildings and community objects count where their representative point lies.

Example
-------
>>> from gis_planner import Workspace                 # doctest: +SKIP
>>> ws = Workspace("data/cadastre/demo")             # doctest: +SKIP
>>> exposure_table(ws)                               # doctest: +SKIP
>>> relocation_candidates(ws).to_csv("relocation.csv", index=False)   # doctest: +SKIP
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalog import load_rules, rules_version
from .official import effective_hazard_zones

LEVEL_ORDER = ("high", "medium", "low")
EXPOSURE_COLUMNS = ["hazard_type", "level", "screening", "zone_ha", "parcels", "parcels_ha", "house_plots",
                    "households", "population", "buildings", "residents", "settlement_ha", "roads_km",
                    "community_features"]


def exclusive_levels(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One geometry per (hazard type, level, screening), levels made exclusive (high wins over medium over low).

    Within a level, zones that govern (official, or computed from a DEM fit for the model) win over
    screening zones (``basis == "screening"``), so each place is counted once per hazard type. The
    ``screening`` column says which part a row is.
    """
    rows = []
    scr_all = (zones["basis"].astype(str) == "screening").to_numpy() if "basis" in zones else np.zeros(len(zones), bool)
    for htype in sorted(zones["hazard_type"].astype(str).unique()):
        in_type = (zones["hazard_type"].astype(str) == htype).to_numpy()
        taken = shapely.Polygon()
        for level in LEVEL_ORDER:
            at_level = in_type & (zones["level"].astype(str) == level).to_numpy()
            for screening in (False, True):
                sel = zones.geometry.values[at_level & (scr_all == screening)]
                if not len(sel):
                    continue
                geom = shapely.union_all(shapely.make_valid(sel))
                geom = shapely.difference(geom, taken) if not taken.is_empty else geom
                taken = shapely.union(taken, geom)
                if not geom.is_empty:
                    rows.append({"hazard_type": htype, "level": level, "screening": screening, "geometry": geom})
    return gpd.GeoDataFrame(rows, columns=["hazard_type", "level", "screening", "geometry"], geometry="geometry",
                            crs=zones.crs)


def _is_true(s: pd.Series, true_values) -> np.ndarray:
    """Booleans from a bool column, or from text/number values listed in ``exposure.true_values``."""
    if s.dtype == bool:
        return s.to_numpy()
    txt = s.astype("string").str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    return txt.isin([str(v).lower() for v in true_values]).fillna(False).to_numpy()


def house_plot_mask(parcels: gpd.GeoDataFrame, rules: dict) -> np.ndarray:
    """House plots: ``land_use`` in the housing uses, or a settlement parcel with a building."""
    r = rules["exposure"]
    mask = np.zeros(len(parcels), bool)
    if "land_use" in parcels:
        mask |= parcels["land_use"].astype("string").isin(r["house_land_uses"]).fillna(False).to_numpy()
    if "category" in parcels and "has_building" in parcels:
        mask |= (parcels["category"].astype("string").isin(r["house_categories_with_building"]).fillna(False)
                 .to_numpy() & _is_true(parcels["has_building"], r.get("true_values") or ["true", "1"]))
    return mask


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def parcel_overlaps(parcels: gpd.GeoDataFrame, levels: gpd.GeoDataFrame, rules: dict) -> pd.DataFrame:
    """Pairs (parcel row, level row) with the overlap area (m²), share and the exposure flag."""
    if not len(parcels) or not len(levels):
        return pd.DataFrame(columns=["parcel", "zone", "overlap_m2", "share", "exposed"])
    zi, pi = parcels.sindex.query(levels.geometry.values, predicate="intersects")
    pg = parcels.geometry.values[pi]
    inter = shapely.intersection(pg, levels.geometry.values[zi])
    ov = shapely.area(inter)
    area = shapely.area(pg)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, ov / area, 0.0)
    r = rules["exposure"]
    exposed = (ov > 0) & ((share >= float(r["min_overlap_share"])) | (ov >= float(r["min_overlap_m2"])))
    return pd.DataFrame({"parcel": pi, "zone": zi, "overlap_m2": ov, "share": share, "exposed": exposed})


def _read(ws, name, columns=None):
    if ws is None:
        return None
    g = ws.read_layer(name, missing_ok=True)
    if g is None or not len(g):
        return None
    return g


def exposure_table(ws, zones: gpd.GeoDataFrame | None = None, community: gpd.GeoDataFrame | None = None,
                   layers: dict | None = None) -> pd.DataFrame:
    """Exposure per hazard type and level (see the module docstring for the counting rules).

    Parameters
    ----------
    ws : Workspace (layers read from it unless given in ``layers``)
    zones : hazard zones to use (default: ``effective_hazard_zones(ws)``)
    community : community-map features (default: the workspace layer ``community_features`` if present)
    layers : optional ``{"parcels": gdf, "buildings": gdf, "roads": gdf, "settlements": gdf}`` overrides

    Returns
    -------
    DataFrame with :data:`EXPOSURE_COLUMNS`; ``attrs["provenance"]`` lists the layers and rules used.
    """
    rules = load_rules("hazards", ws)
    layers = dict(layers or {})
    zones = effective_hazard_zones(ws if zones is None else zones)
    crs = zones.crs or (ws.crs if ws is not None else None)
    lv = exclusive_levels(zones)

    def get(name):
        g = layers.get(name) if name in layers else _read(ws, name)
        if g is not None and crs is not None and g.crs is not None and g.crs != crs:
            g = g.to_crs(crs)
        return g

    parcels, buildings, roads, settlements = get("parcels"), get("buildings"), get("roads"), get("settlements")
    if community is None:
        community = _read(ws, rules["exposure"].get("community_layer") or "community_features")
    if community is not None and crs is not None and community.crs is not None and community.crs != crs:
        community = community.to_crs(crs)

    out = pd.DataFrame({"hazard_type": lv["hazard_type"], "level": lv["level"],
                        "screening": lv["screening"].astype(bool),
                        "zone_ha": shapely.area(lv.geometry.values) / 1e4})
    for c in EXPOSURE_COLUMNS[4:]:
        out[c] = 0.0
    if len(lv):
        if parcels is not None:
            pairs = parcel_overlaps(parcels, lv, rules)
            out["parcels_ha"] = np.bincount(pairs["zone"], weights=pairs["overlap_m2"], minlength=len(lv)) / 1e4
            ex = pairs[pairs["exposed"]].copy()
            rank = lv["level"].map({lvl: i for i, lvl in enumerate(LEVEL_ORDER)}).to_numpy()
            ex["rank"] = rank[ex["zone"].to_numpy()]
            ex["htype"] = lv["hazard_type"].to_numpy()[ex["zone"].to_numpy()]
            ex["scr"] = lv["screening"].to_numpy(dtype=bool)[ex["zone"].to_numpy()]
            ex = ex.sort_values(["htype", "parcel", "rank", "scr"]).drop_duplicates(["htype", "parcel"])
            house = house_plot_mask(parcels, rules)
            hh, pop = _num(parcels, "households"), _num(parcels, "population")
            z = ex["zone"].to_numpy()
            p = ex["parcel"].to_numpy()
            out["parcels"] = np.bincount(z, minlength=len(lv))
            out["house_plots"] = np.bincount(z, weights=house[p].astype(float), minlength=len(lv))
            out["households"] = np.bincount(z, weights=np.nan_to_num(hh[p]), minlength=len(lv))
            out["population"] = np.bincount(z, weights=np.nan_to_num(pop[p]), minlength=len(lv))
            if np.isnan(hh).all():
                out["households"] = np.nan
            if np.isnan(pop).all():
                out["population"] = np.nan
        if buildings is not None:
            pts = shapely.point_on_surface(buildings.geometry.values)
            zi, bi = shapely.STRtree(pts).query(lv.geometry.values, predicate="contains")
            out["buildings"] = np.bincount(zi, minlength=len(lv))
            res = _num(buildings, "residents")
            out["residents"] = np.bincount(zi, weights=np.nan_to_num(res[bi]), minlength=len(lv)) \
                if not np.isnan(res).all() else np.nan
        if settlements is not None:
            geom = shapely.union_all(shapely.make_valid(settlements.geometry.values))
            out["settlement_ha"] = shapely.area(shapely.intersection(lv.geometry.values, geom)) / 1e4
        elif parcels is not None and "category" in parcels:
            sp = parcels[parcels["category"].astype("string") == "settlement"]
            geom = shapely.union_all(sp.geometry.values) if len(sp) else shapely.Polygon()
            out["settlement_ha"] = shapely.area(shapely.intersection(lv.geometry.values, geom)) / 1e4
        if roads is not None:
            zi, ri = roads.sindex.query(lv.geometry.values, predicate="intersects")
            lengths = shapely.length(shapely.intersection(roads.geometry.values[ri], lv.geometry.values[zi]))
            out["roads_km"] = np.bincount(zi, weights=lengths, minlength=len(lv)) / 1000.0
        if community is not None:
            pts = shapely.point_on_surface(community.geometry.values)
            zi, _ = shapely.STRtree(pts).query(lv.geometry.values, predicate="contains")
            out["community_features"] = np.bincount(zi, minlength=len(lv))
    for c in ("parcels", "house_plots", "buildings", "community_features"):
        out[c] = out[c].astype("int64")
    out["_rank"] = out["level"].map({lvl: i for i, lvl in enumerate(LEVEL_ORDER)})
    out = out.sort_values(["hazard_type", "_rank", "screening"], kind="stable").drop(columns="_rank").reset_index(drop=True)
    out.attrs["provenance"] = _provenance(ws, ["hazard_zones", "parcels", "buildings", "roads", "settlements",
                                               rules["exposure"].get("community_layer") or "community_features"])
    return out[EXPOSURE_COLUMNS]


def _provenance(ws, names) -> dict:
    if ws is None:
        return {"rules": rules_version("hazards")}
    layers = {}
    for n in names:
        if ws.has_layer(n):
            p = ws.provenance(n)
            layers[n] = {"source": p.get("source"), "date": p.get("source_date")}
    return {"layers": layers, "rules": rules_version("hazards", ws)}


def _empty_relocation(only_screening: int) -> pd.DataFrame:
    out = pd.DataFrame(columns=RELOCATION_COLUMNS)
    out.attrs["screening_only"] = only_screening
    return out


def _count_only_in(house: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, others: gpd.GeoDataFrame, rules) -> int:
    """House plots exposed to ``zones`` and not to ``others`` (plots left off the list, to be said so)."""
    if not len(zones) or not len(house):
        return 0

    def exposed(z):
        if not len(z):
            return set()
        u = gpd.GeoDataFrame(geometry=[shapely.union_all(shapely.make_valid(z.geometry.values))], crs=z.crs)
        p = parcel_overlaps(house, u, rules)
        return set(p.loc[p["exposed"], "parcel"].tolist())

    return len(exposed(zones) - exposed(others))


RELOCATION_COLUMNS = ["cadastral_no", "settlement", "address", "category", "land_use", "has_building",
                      "hazard_types", "level", "basis", "overlap_ha", "overlap_share", "households",
                      "population", "x", "y", "lon", "lat"]


def relocation_candidates(ws, zones: gpd.GeoDataFrame | None = None,
                          parcels: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """House plots in high-level zones (levels from ``exposure.relocation_levels``), for the hazard plan.

    One row per plot: cadastral number, settlement, address, what it is, the hazard types that reach
    it (``;``-joined, ordered), whether the zone is official or computed, overlap (ha, share of the
    plot), households and people (where present), and a point on the plot (workspace x/y and lon/lat).
    Owner names are never included. Sorted by overlap share, largest first.
    """
    rules = load_rules("hazards", ws)
    zones = effective_hazard_zones(ws if zones is None else zones)
    if parcels is None:
        parcels = ws.read_layer("parcels", missing_ok=True) if ws is not None else None
    if parcels is None or not len(parcels) or not len(zones):
        return pd.DataFrame(columns=RELOCATION_COLUMNS)
    if parcels.crs is not None and zones.crs is not None and parcels.crs != zones.crs:
        parcels = parcels.to_crs(zones.crs)
    levels = set(rules["exposure"]["relocation_levels"])
    z = zones[zones["level"].astype(str).isin(levels)]
    house = parcels[house_plot_mask(parcels, rules)].reset_index(drop=True)
    # screening zones (a DEM that cannot support the model) never make a house a candidate on their own
    screening = z["basis"].astype(str) == "screening"
    only_screening = _count_only_in(house, z[screening], z[~screening], rules)
    z = z[~screening]
    if not len(z) or not len(house):
        return _empty_relocation(only_screening)
    groups = []
    for (htype, basis), g in z.groupby(["hazard_type", "basis"]):
        groups.append({"hazard_type": htype, "basis": basis, "level": ",".join(sorted(set(g["level"]))),
                       "geometry": shapely.union_all(g.geometry.values)})
    zg = gpd.GeoDataFrame(groups, geometry="geometry", crs=zones.crs)
    pairs = parcel_overlaps(house, zg, rules)
    pairs = pairs[pairs["exposed"]]
    if not len(pairs):
        return _empty_relocation(only_screening)
    pairs = pairs.assign(hazard_type=zg["hazard_type"].to_numpy()[pairs["zone"]],
                         basis=zg["basis"].to_numpy()[pairs["zone"]],
                         level=zg["level"].to_numpy()[pairs["zone"]])
    # the union of the high zones of all types, to measure the overlap without double counting
    allhigh = shapely.union_all(zg.geometry.values)
    agg = pairs.groupby("parcel").agg(hazard_types=("hazard_type", lambda s: ";".join(sorted(set(s)))),
                                      basis=("basis", lambda s: ";".join(sorted(set(s)))),
                                      level=("level", lambda s: ",".join(sorted(set(",".join(s).split(","))))))
    idx = agg.index.to_numpy()
    geoms = house.geometry.values[idx]
    ov = shapely.area(shapely.intersection(geoms, allhigh))
    area = shapely.area(geoms)
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    ll = gpd.GeoSeries(pts, crs=zones.crs).to_crs(4326)

    def col(name):
        return house[name].to_numpy()[idx] if name in house else np.full(len(idx), None)

    out = pd.DataFrame({
        "cadastral_no": col("cadastral_no"), "settlement": col("settlement"), "address": col("address"),
        "category": col("category"), "land_use": col("land_use"), "has_building": col("has_building"),
        "hazard_types": agg["hazard_types"].to_numpy(), "level": agg["level"].to_numpy(),
        "basis": agg["basis"].to_numpy(), "overlap_ha": np.round(ov / 1e4, 4),
        "overlap_share": np.round(np.clip(np.where(area > 0, ov / np.where(area > 0, area, 1), 0.0), 0, 1), 4),
        "households": col("households"), "population": col("population"),
        "x": np.round(x, 2), "y": np.round(y, 2), "lon": np.round(ll.x.to_numpy(), 6),
        "lat": np.round(ll.y.to_numpy(), 6)})
    out = out.sort_values(["overlap_share", "cadastral_no"], ascending=[False, True]).reset_index(drop=True)
    out.attrs["provenance"] = _provenance(ws, ["hazard_zones", "parcels"])
    out.attrs["screening_only"] = only_screening
    return out[RELOCATION_COLUMNS]
