"""How settlements grow: villages, growth reach, farmland priority, unmet demand and its alternatives.

Rules (``layers/scenario_norms.yaml``, each with its source):

* ``growth.max_distance_m`` — new house plots (and multi-storey blocks) lie within this distance of the
  edge of an existing village; each candidate piece belongs to its nearest village;
* ``growth.service_radius_m.social_facility`` — social facility land lies within this radius of the
  village whose houses it serves;
* ``growth.demand_split`` — the housing and social demand is split between villages in proportion to
  their households (settlements layer);
* ``farmland_protection.land_types`` — irrigated arable land, perennial plantings and pastures come last
  (tier 1): taken only when no other candidate land of the village fits, each piece carrying the legal
  step it needs (``farmland_protection.legal_step``).

Whatever does not fit is **unmet demand** of the village, reported with four alternatives:
densification of existing house plots, the multi-storey share, spare land of another village and the
specific land a council decision could release (with its trade-off).

>>> split_integer(10, [1, 1, 1])
[4, 3, 3]
"""
from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .model import Norms

HA = 10_000.0
GROWTH_USES = ("housing", "multistorey_housing", "social_facility")


def split_integer(total: int, weights) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder; ties to the first)."""
    w = np.asarray([max(float(x), 0.0) for x in weights], dtype=float)
    if not len(w):
        return []
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = total * w / w.sum()
    base = np.floor(exact + 1e-9).astype(int)
    rest = int(total - base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base.tolist()


def split_float(total: float, weights) -> list[float]:
    w = np.asarray([max(float(x), 0.0) for x in weights], dtype=float)
    if not len(w):
        return []
    if w.sum() <= 0:
        w = np.ones(len(w))
    return (total * w / w.sum()).tolist()


def load_villages(settlements: gpd.GeoDataFrame | None, norms: Norms) -> gpd.GeoDataFrame | None:
    """One row per village: ``village`` (name), ``households``, ``population``, ``weight``, geometry.

    Households missing are population / household size; a village with neither weighs 1.
    """
    if settlements is None or not len(settlements):
        return None
    field = str(norms.value("growth.village_field"))
    names = settlements[field] if field in settlements.columns else pd.Series(
        [f"#{i + 1}" for i in range(len(settlements))], index=settlements.index)
    hs = float(norms.value("population.household_size"))
    hh = pd.to_numeric(settlements.get("households"), errors="coerce") if "households" in settlements else None
    pop = pd.to_numeric(settlements.get("population"), errors="coerce") if "population" in settlements else None
    n = len(settlements)
    hh = hh.to_numpy(dtype=float) if hh is not None else np.full(n, np.nan)
    popv = pop.to_numpy(dtype=float) if pop is not None else np.full(n, np.nan)
    hh = np.where(np.isfinite(hh), hh, popv / hs)
    weight = np.where(np.isfinite(hh) & (hh > 0), hh, 1.0)
    df = gpd.GeoDataFrame({"village": names.astype(str).to_numpy(), "households": hh, "population": popv,
                           "weight": weight}, geometry=list(settlements.geometry.values), crs=settlements.crs)
    # several polygons of one village form one village
    if df["village"].duplicated().any():
        df = df.dissolve(by="village", aggfunc={"households": "sum", "population": "sum", "weight": "sum"}).reset_index()
    return df.reset_index(drop=True)


def nearest_village(geoms: np.ndarray, villages: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest village of each geometry and the distance to it (m)."""
    vg = np.asarray(villages.geometry.values)
    if not len(geoms):
        return np.zeros(0, dtype=int), np.zeros(0)
    d = np.column_stack([shapely.distance(geoms, v) for v in vg])
    d = np.where(np.isnan(d), np.inf, d)
    idx = np.argmin(d, axis=1)
    return idx, d[np.arange(len(geoms)), idx]


def reach_m(use: str, norms: Norms) -> float:
    """How far from its village a piece of ``use`` may lie (growth distance or service radius)."""
    if use == "social_facility":
        return float(norms.value("growth.service_radius_m.social_facility"))
    return float(norms.value("growth.max_distance_m"))


def farmland_tier(land_types, norms: Norms) -> tuple[np.ndarray, list[str | None]]:
    """1 for land the Land Code protects (irrigated, perennial, pasture), else 0; and the legal step."""
    protected = {str(x).lower() for x in norms.value("farmland_protection.land_types") or []}
    steps = norms.node("farmland_protection.legal_step")
    lt = [str(v).strip().lower() if v is not None and v == v else "" for v in land_types]
    tier = np.array([1 if v in protected else 0 for v in lt], dtype=int)
    legal = [(steps.get(v) or {}).get("value") if v in protected and isinstance(steps.get(v), dict) else None
             for v in lt]
    return tier, legal


def densification_plots(parcels: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, norms: Norms) -> np.ndarray:
    """Extra house plots per village if existing house plots were split down to the legal minimum.

    A house plot (``land_use`` housing) of area A gives ⌊A / minimum plot size⌋ − 1 more plots
    (``housing.plot_size_min_ha``, the lower bound of the rural plot norm): a 0.13 ha plot gives one more.
    """
    out = np.zeros(len(villages), dtype=int)
    if parcels is None or "land_use" not in parcels.columns:
        return out
    psize = float(norms.value("housing.plot_size_min_ha")) * HA
    lu = parcels["land_use"].astype(object).map(lambda v: str(v).lower() if v is not None and v == v else "")
    sel = parcels[(lu == "housing").to_numpy()]
    if not len(sel):
        return out
    a = shapely.area(np.asarray(sel.geometry.values))
    extra = np.floor(a / psize + 1e-9).astype(int) - 1
    ok = extra > 0
    if not ok.any():
        return out
    vi, d = nearest_village(shapely.point_on_surface(np.asarray(sel.geometry.values)[ok]), villages)
    inside = d <= 1.0
    np.add.at(out, vi[inside], extra[ok][inside])
    return out


def tradeoff_code(land_type: Any, owner_type: Any) -> str:
    """Key of the trade-off of releasing a parcel (``scenarios.tradeoff.<code>`` in the catalogues)."""
    lt = str(land_type or "").lower()
    ow = str(owner_type or "").lower()
    if lt in ("irrigated", "perennial"):
        return "irrigated"
    if lt in ("pasture", "hayfield"):
        return "pasture"
    if ow == "private":
        return "private"
    return "in_use"


def council_land(parcels: gpd.GeoDataFrame, cand_mask: np.ndarray, prohibited, village_geom, reach: float,
                 psize_m2: float, limit: int = 5) -> list[dict]:
    """Land near a village the candidate rules kept out (private, farmland, land in use) that a council
    decision could release: not prohibited, within the growth distance, nearest first."""
    geoms = np.asarray(parcels.geometry.values)
    d = shapely.distance(geoms, village_geom)
    cat = parcels.get("category", pd.Series([None] * len(parcels))).astype(object).to_numpy()
    near = (~cand_mask) & (d > 0.5) & (d <= reach) & ~np.isin(cat, ["settlement", "water_fund", "forest_fund",
                                                                      "protected"])
    idx = np.flatnonzero(near)
    if not len(idx):
        return []
    g = geoms[idx]
    if prohibited is not None:                 # (parts, STRtree) of the land the use may never take
        from .allocate import cut_out

        g = cut_out(g, *prohibited)
    g = shapely.intersection(g, shapely.buffer(village_geom, reach))
    a = shapely.area(g)
    ok = a >= psize_m2
    rows = []
    for k in sorted(np.flatnonzero(ok), key=lambda k: (round(float(d[idx[k]]), 1), str(parcels["cadastral_no"].iloc[idx[k]]))):
        i = idx[k]
        r = parcels.iloc[i]
        rows.append({"cadastral_no": str(r["cadastral_no"]), "area_ha": round(float(a[k]) / HA, 4),
                     "plots": int(math.floor(a[k] / psize_m2 * 0.8)), "distance_m": round(float(d[i]), 1),
                     "land_type": r.get("land_type"), "owner_type": r.get("owner_type"),
                     "category": r.get("category"), "tradeoff": tradeoff_code(r.get("land_type"), r.get("owner_type"))})
        if len(rows) >= limit:
            break
    return rows


def _council_memo(parcels_key, parcels, cand_mask, prohibited, village_geom, reach, psize) -> list[dict]:
    if parcels_key is None:
        return council_land(parcels, cand_mask, prohibited, village_geom, reach, psize)
    import copy
    import hashlib

    from . import shared

    key = (parcels_key, hashlib.sha1(np.asarray(cand_mask, dtype=bool).tobytes()).hexdigest(),
           None if prohibited is None else shared.geoms_fingerprint(prohibited[0]),
           shapely.to_wkb(village_geom), float(reach), float(psize))
    return copy.deepcopy(shared.memo("council", key, lambda: council_land(parcels, cand_mask, prohibited,
                                                                         village_geom, reach, psize)))


def unmet_options(villages: gpd.GeoDataFrame, village_rows: pd.DataFrame, spare: dict, parcels: gpd.GeoDataFrame,
                  cand_mask: np.ndarray, prohibited, norms: Norms, parcels_key: str | None = None) -> list[dict]:
    """For each village with unmet housing demand: the four alternatives, with numbers.

    ``parcels_key`` (:func:`gis_planner.scenarios.shared.frame_fingerprint` of ``parcels``): the council
    land of a village is looked up once per parcels, candidate mask and prohibited land (the same in every
    scenario of a workspace) instead of being searched again."""
    out = []
    if village_rows is None or not len(village_rows):
        return out
    hous = village_rows[village_rows["use"] == "housing"].set_index("village")
    dens_per_ha = float(norms.value("housing.multistorey_households_per_ha"))
    psize = float(norms.value("housing.plot_size_ha")) * HA
    dens = densification_plots(parcels, villages, norms)
    reach = reach_m("housing", norms)
    for i, v in enumerate(villages["village"]):
        if v not in hous.index:
            continue
        unmet = int(round(float(hous.loc[v, "unmet"])))
        if unmet <= 0:
            continue
        others = [{"village": w, "spare_plots": int(spare.get(w, 0))} for w in villages["village"]
                  if w != v and int(spare.get(w, 0)) > 0]
        out.append({
            "village": v, "unmet_plots": unmet,
            "densification_plots": int(dens[i]),
            "multistorey_ha": round(unmet / dens_per_ha, 2) if dens_per_ha else None,
            "multistorey_source": norms.source("housing.multistorey_households_per_ha"),
            "other_villages": others,
            "council_land": _council_memo(parcels_key, parcels, cand_mask, prohibited, villages.geometry.iloc[i],
                                          reach, psize),
            "growth_distance_m": reach, "growth_source": norms.source("growth.max_distance_m"),
        })
    return out


__all__ = ["GROWTH_USES", "split_integer", "split_float", "load_villages", "nearest_village", "reach_m",
           "farmland_tier", "densification_plots", "council_land", "unmet_options", "tradeoff_code"]
