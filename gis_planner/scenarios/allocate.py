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
from . import shared
from .demand import Demand
from .model import Norms

HA = 10_000.0
EPS_M2 = 1e-6

NEVER_KINDS = ("sanitary_zone", "infrastructure")    # never candidate land, whatever the use
PIECE_COLUMNS = ["piece_id", "use", "kind", "cadastral_no", "plots", "area_ha", "rank", "score", "s_slope",
                 "s_settlement", "s_road", "s_water", "s_gravity", "hazard_penalty", "farmland_penalty", "slope_deg",
                 "dist_settlement_m", "dist_road_m", "dist_water_m", "elev_m", "canal_elev_m", "verdict",
                 "reasons", "candidate_rule", "why", "category", "land_type", "owner_type", "use_status",
                 "target_category", "target_land_type", "village", "protected_farmland", "legal_step"]


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
    villages: pd.DataFrame | None = None    # per village and growth use: demand, allocated, unmet, capacity
    unmet_options: list = field(default_factory=list)   # per village with unmet housing: the alternatives

    def unmet(self) -> dict:
        return {r.use: r.unmet for r in self.summary.itertuples() if r.unmet > 0}


from .candidates import (Context, _as_list, _build_restrictions, _norm_value, _zoning, candidate_mask,  # noqa: F401
                         load_context, parcel_check, restriction_effects)
from .placement import _orientation, _polys, _rotate, cut_area, subdivide_plots  # noqa: F401
from .growth import (GROWTH_USES, farmland_tier, load_villages, nearest_village, reach_m,  # noqa: E402
                     split_float, split_integer, unmet_options)
from .scoring import (_closeness, _dist, _horn_slope, _sample, _slope_fn, parcel_terrain, sample_dem,  # noqa: F401
                      score_parcels, water_source_elevation)


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
    village_rows: list[dict] = []
    restr = ctx.restrictions
    prohibited_cache: dict = {}
    psize = float(n.value("housing.plot_size_ha")) * HA
    layout = (psize, float(n.value("housing.plot_width_m")), float(n.value("housing.street_width_m")),
              int(n.value("housing.plots_between_streets")),
              max(float(n.value("housing.plot_size_min_ha")) * HA, float(n.value("allocation.plot_keep_share")) * psize))
    villages = load_villages(ctx.settlements, n)
    if villages is not None and villages.crs is not None and villages.crs != parcels.crs:
        villages = villages.to_crs(parcels.crs)
    vgeoms = np.asarray(villages.geometry.values) if villages is not None else np.array([])
    tier_all, legal_all = farmland_tier(parcels["land_type"].astype(object).to_numpy()
                                        if "land_type" in parcels.columns else [None] * len(parcels), n)
    spare: dict = {}
    housing_mask = np.zeros(len(parcels), dtype=bool)
    housing_prohibited = None
    # kinds that are never candidate land for any use, whatever the regime conditions (issue 14)
    never_mask = restr["kind"].isin(NEVER_KINDS).to_numpy() if restr is not None and len(restr) else None
    memo = _memo(_frame_key(ws, restr))
    for use, unit, amount in _demand_items(dem, order, uses):
        zoning_use = "housing" if use == "multistorey_housing" else (
            "irrigated_agriculture" if use == "perennial_crop" else use)
        rules = n.section("candidates", use)
        mask, why = candidate_mask(parcels, rules)
        idx = np.flatnonzero(mask & ~shapely.is_empty(remaining))
        rows = pd.DataFrame({"use": use, "cadastral_no": ids[idx], "candidate_rule": [why[i] for i in idx]})
        # prohibited land for this use: the polygons that prohibit it and the never-candidate kinds,
        # split into parts and indexed, each candidate cut by the few parts it meets
        usable = remaining[idx].copy()
        if restr is not None and len(restr):
            if zoning_use not in prohibited_cache:
                eff = restriction_effects(ws, zoning_use, restr)
                sel = (eff == "prohibited") | never_mask
                parts = shapely.get_parts(np.asarray(restr.geometry.values)[sel])
                parts = parts[~shapely.is_empty(parts)]
                prohibited_cache[zoning_use] = (parts, shapely.STRtree(parts)) if len(parts) else None
            if prohibited_cache[zoning_use] is not None and len(usable):
                usable = _cut_out_memo(memo, zoning_use, usable, *prohibited_cache[zoning_use])
        if use == "housing":
            housing_mask = mask
            housing_prohibited = prohibited_cache.get(zoning_use)
        ua = shapely.area(usable)
        ra = shapely.area(remaining[idx])
        rows["usable_ha"] = ua / HA
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["prohibited_share"] = np.where(ra > 0, np.clip(1.0 - ua / np.where(ra > 0, ra, 1.0), 0.0, 1.0), 0.0)
        # growth uses: each piece belongs to its nearest village and must lie within reach of it
        growth = use in GROWTH_USES and villages is not None and len(villages) > 0
        pre_growth = usable.copy()
        vidx = np.zeros(len(idx), dtype=int)
        vdist = np.zeros(len(idx))
        beyond = np.zeros(len(idx), dtype=bool)
        if growth and len(idx):
            reach = reach_m(use, n)
            live = np.where(ua > EPS_M2, usable, remaining[idx])
            vidx, vdist = nearest_village(live, villages)
            zones = shapely.buffer(vgeoms, reach, quad_segs=16)
            clipped = np.array([_polys(g) for g in shapely.intersection(usable, zones[vidx])], dtype=object)
            beyond = (ua > EPS_M2) & (shapely.area(clipped) < max(min_piece, EPS_M2))
            usable = clipped
            ua = shapely.area(usable)
            rows["village"] = villages["village"].to_numpy()[vidx]
            rows["dist_village_m"] = np.round(vdist, 1)
        # the zoning check of the land that can be used (or of the whole parcel when nothing is left: why)
        checked = np.where(shapely.area(pre_growth) > EPS_M2, pre_growth, remaining[idx])
        chk = _check_memo(memo, ws, zoning_use, ids[idx], checked, parcels.crs, restr) if len(idx) else None
        if chk is not None:
            rows["verdict"], rows["reasons"] = chk
        else:
            rows["verdict"] = None
            rows["reasons"] = ""
        suit = n.section("suitability", use if use in n.node("suitability") else (
            "housing" if use in ("housing", "multistorey_housing", "social_facility") else "default"))
        lts = parcels["land_type"].astype(object).to_numpy()[idx] if "land_type" in parcels.columns else None
        sc = _score_memo(usable, ctx, suit, hazard_cfg, lts) if len(idx) else pd.DataFrame()
        for col in sc.columns:
            rows[col] = sc[col].to_numpy()
        tier = tier_all[idx]
        rows["farmland_tier"] = tier
        status = np.full(len(idx), "candidate", dtype=object)
        status[ua < max(min_piece, EPS_M2)] = "prohibited_or_too_small"
        site = n.node("allocation.min_site_ha").get(use) if isinstance(n.node("allocation.min_site_ha"), dict) else None
        if site is not None:          # a facility needs a site of its own: no scraps smaller than that
            status[(status == "candidate") & (ua < float(site.get("value", 0)) * HA)] = "smaller_than_a_site"
        status[beyond] = "beyond_growth_distance"
        if len(idx):
            steep = np.isfinite(sc["slope_deg"].to_numpy()) & (sc["slope_deg"].to_numpy() > float(suit.get("max_slope_deg", 90)))
            status[(status == "candidate") & steep] = "too_steep"
            if suit.get("require_gravity"):
                no_grav = sc["s_gravity"].to_numpy() < 1.0
                status[(status == "candidate") & no_grav] = "above_water_source"
                if ctx.dem_path is None:
                    warn.append(f"{use}: no DEM, the gravity condition cannot be checked")
        rows["status"] = status
        info_cols = ["score", "s_slope", "s_settlement", "s_road", "s_water", "s_gravity", "hazard_penalty",
                     "farmland_penalty",
                     "slope_deg", "dist_settlement_m", "dist_road_m", "dist_water_m", "elev_m", "canal_elev_m",
                     "verdict", "reasons", "candidate_rule", "why", "village"]
        infos = rows[[c for c in info_cols if c in rows.columns]].to_dict("records")
        scores = rows["score"].to_numpy() if "score" in rows.columns else np.zeros(len(rows))
        # groups: one per village for growth uses (demand split by households), else one pool
        if growth:
            groups = list(range(len(villages)))
            w = villages["weight"].to_numpy()
            amounts = split_integer(int(round(amount)), w) if unit == "plots" else split_float(amount, w)
        else:
            groups, amounts = [0], [amount]
        got_total = 0.0
        rank = 0
        ranks: dict = {}
        for gi, g_amount in zip(groups, amounts):
            ok = np.flatnonzero((status == "candidate") & ((vidx == gi) if growth else True))
            toward = vgeoms[gi] if growth else ctx.settlement
            got = 0.0
            capacity = 0
            if unit == "plots":
                # every plot the village's candidate land holds, taken from the village edge outwards:
                # protected farmland last, then nearest, then best score
                cand_plots = []
                layouts = {}
                tkey = shared.geoms_fingerprint([toward])
                for k in ok:   # (the layout of a candidate is the same in every scenario: shared)
                    plots, fronts, streets = shared.memo(
                        "layout", (shapely.to_wkb(usable[k]), layout, tkey),
                        lambda k=k: subdivide_plots(usable[k], *layout, toward))
                    layouts[k] = (plots, fronts, streets)
                    if plots:
                        d = np.round(shapely.distance(np.asarray(plots, dtype=object), toward), 0) \
                            if toward is not None else np.zeros(len(plots))
                        for j in range(len(plots)):
                            cand_plots.append((int(tier[k]), float(d[j]), -float(scores[k]), ids[idx[k]], j, k))
                capacity = len(cand_plots)
                cand_plots.sort()
                need = int(round(g_amount))
                chosen = cand_plots[:need]
                by_parcel: dict = {}
                for *_, j, k in chosen:               # dict order = order of each parcel's first plot
                    by_parcel.setdefault(k, []).append(j)
                for k in by_parcel:
                    rank += 1
                    ranks[k] = rank
                    plots, fronts, streets = layouts[k]
                    js = sorted(by_parcel[k])
                    taken = [("plot", plots[j], 1) for j in js]
                    for s_ in sorted({fronts[j] for j in js}):
                        sg = _polys(streets[s_])
                        if sg.area > EPS_M2:
                            taken.append(("street", sg, 0))
                    got += len(js)
                    _take(taken, k, idx, remaining, pieces, use, ids, infos, rank, tier, legal_all)
                if growth:
                    spare[villages["village"].iloc[gi]] = capacity - len(chosen)
            else:
                if growth:
                    key = lambda k: (int(tier[k]), round(float(vdist[k]), 0), -scores[k], ids[idx[k]])  # noqa: E731
                else:
                    key = lambda k: (int(tier[k]), -scores[k], ids[idx[k]])  # noqa: E731
                for k in sorted(ok, key=key):
                    if (g_amount - got) * HA < 1.0:          # less than 1 m² left: met
                        break
                    g = usable[k]
                    need_m2 = (g_amount - got) * HA
                    piece = g if g.area <= need_m2 + 1e-4 else _polys(cut_area(g, need_m2, toward))
                    if piece.area <= EPS_M2:
                        continue
                    rank += 1
                    got += piece.area / HA
                    _take([("area", piece, 0)], k, idx, remaining, pieces, use, ids, infos, rank, tier, legal_all)
                if abs(got - g_amount) * HA < 1.0:
                    got = g_amount
            got_total += got
            if growth:
                village_rows.append({"village": villages["village"].iloc[gi], "use": use, "unit": unit,
                                     "demand": g_amount, "allocated": got, "unmet": max(g_amount - got, 0.0)
                                     if max(g_amount - got, 0.0) > 1e-6 else 0.0,
                                     "capacity": capacity if unit == "plots" else None})
        got = got_total
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
    vrows = pd.DataFrame(village_rows, columns=["village", "use", "unit", "demand", "allocated", "unmet", "capacity"])
    options = unmet_options(villages, vrows, spare, parcels, housing_mask, housing_prohibited, n,
                            parcels_key=shared.frame_fingerprint(parcels)) if villages is not None else []
    if villages is None and any(u in GROWTH_USES for u, *_ in _demand_items(dem, order, uses)):
        warn.append("no settlements layer: housing and social facilities are not tied to a village and its "
                    "growth distance")
    prov = {"norms": n.provenance()}
    if ws is not None:
        prov["layers"] = {name: ws.provenance(name) for name in ("parcels", "settlements", "roads", "water_bodies",
                                                                  "hazard_zones") if ws.has_layer(name)}
    return Allocation(dem.scenario_id, pieces_gdf, summary_df, cands, dens, warn, prov, ctx.roads, vrows, options)


# Per-plot results that depend only on the plot's geometry, the intended use and the restriction frame:
# the zoning check of a candidate and the candidate minus the land that prohibits the use. Scenarios of
# one workspace (a comparison of four, a re-run after an edit of the demand) share most candidates, so
# each plot is checked and cut once per restriction frame (the frame's fingerprint is part of the key; a
# new frame — another data version or rule edit — starts afresh).
_MEMO: dict = {"key": None, "check": {}, "cut": {}}
_MEMO_MAX = 200_000


def _frame_key(ws: Any, restr: gpd.GeoDataFrame | None) -> tuple | None:
    """Fingerprint of the restriction frame (geometry and every attribute) and of the rule files."""
    if restr is None or not len(restr):
        return None
    prov = None
    if ws is not None:
        try:
            prov = tuple(p.get("sha256") for p in importlib.import_module("gis_planner.zoning.rules")
                         .rules_provenance(ws))
        except (ImportError, AttributeError):
            prov = None
    return (str(getattr(ws, "gpkg", "")), prov, shared.frame_fingerprint(restr))


def _memo(key: tuple | None) -> dict:
    if key is None:
        return {"check": {}, "cut": {}}
    if _MEMO["key"] != key or len(_MEMO["check"]) + len(_MEMO["cut"]) > _MEMO_MAX:
        _MEMO.update(key=key, check={}, cut={})
    return _MEMO


def _cut_out_memo(memo: dict, use: str, geoms: np.ndarray, parts: np.ndarray, tree) -> np.ndarray:
    """:func:`cut_out`, each geometry cut once per (use, geometry) of one restriction frame."""
    store = memo["cut"]
    wkb = shapely.to_wkb(geoms)
    keys = [(use, w) for w in wkb]
    miss = [i for i, k in enumerate(keys) if k not in store]
    if miss:
        done = cut_out(geoms[miss], parts, tree)
        for i, g in zip(miss, done):
            store[keys[i]] = g
    return np.array([store[k] for k in keys], dtype=object)


def _check_memo(memo: dict, ws: Any, use: str, ids: np.ndarray, geoms: np.ndarray, crs,
                restr) -> tuple[list, list] | None:
    """The zoning check's ``(verdicts, reasons texts)`` of each plot, checked once per (use, geometry)."""
    store = memo["check"]
    keys = [(use, w) for w in shapely.to_wkb(geoms)]
    miss = [i for i, k in enumerate(keys) if k not in store]
    if miss:
        chk = parcel_check(ws, use, gpd.GeoDataFrame({"cadastral_no": ids[miss]}, geometry=list(geoms[miss]),
                                                     crs=crs), restr)
        if chk is None or len(chk) != len(miss):
            return None
        verd = chk["verdict"].astype(object).to_numpy() if "verdict" in chk else [None] * len(miss)
        reas = [_reasons_text(r) for r in chk["reasons"]] if "reasons" in chk else [""] * len(miss)
        for i, v, r in zip(miss, verd, reas):
            store[keys[i]] = (v, r)
    return [store[k][0] for k in keys], [store[k][1] for k in keys]


def _score_memo(geoms: np.ndarray, ctx: Context, suit: dict, hazard_cfg: dict, land_types) -> pd.DataFrame:
    """:func:`score_parcels`, once per (context, candidate geometries, suitability rules, land types): the
    candidates of a use that comes first are the same in every scenario of a workspace."""
    key = (shared.token(ctx), shared.geoms_fingerprint(geoms), shared.value_key(suit), shared.value_key(hazard_cfg),
           shared.value_key(None if land_types is None else [None if v is None or v != v else str(v)
                                                               for v in land_types]))
    return shared.memo("score", key, lambda: score_parcels(geoms, ctx, suit, hazard_cfg, land_types)).copy()


def cut_out(geoms: np.ndarray, parts: np.ndarray, tree) -> np.ndarray:
    """``geoms`` minus the polygons ``parts`` (indexed by ``tree``): each geometry is cut by the union of
    the few parts it meets only (much cheaper than one difference with the union of all of them)."""
    out = np.asarray(geoms, dtype=object).copy()
    gi, pi = tree.query(out, predicate="intersects")
    if not len(gi):
        return out
    order = np.argsort(gi, kind="stable")
    gi, pi = gi[order], pi[order]
    # each part clipped to the bounding box of the geometry it meets first (large zones shrink to a box)
    b = shapely.bounds(out[gi])
    local = shapely.intersection(parts[pi], shapely.box(b[:, 0] - 1, b[:, 1] - 1, b[:, 2] + 1, b[:, 3] + 1))
    starts = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1]])
    ends = np.r_[starts[1:], len(gi)]
    for a, e in zip(starts, ends):
        k = gi[a]
        cut = local[a] if e - a == 1 else shapely.union_all(local[a:e])
        out[k] = _polys(shapely.difference(out[k], cut))
    return out


def _take(taken: list, k: int, idx: np.ndarray, remaining: np.ndarray, pieces: list, use: str, ids: np.ndarray,
          infos: list, rank: int, tier: np.ndarray, legal: list) -> None:
    """Record the pieces taken from candidate ``k`` and cut them out of its parcel."""
    pi = idx[k]
    remaining[pi] = _polys(shapely.difference(remaining[pi], shapely.union_all([t[1] for t in taken])))
    for kind, geom_, nplots in taken:
        pieces.append({"use": use, "kind": kind, "cadastral_no": ids[pi], "plots": nplots,
                       "area_ha": geom_.area / HA, "rank": rank, "_parcel": pi, "geometry": geom_,
                       "protected_farmland": bool(tier[k]), "legal_step": legal[pi], **infos[k]})


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
    for col in PIECE_COLUMNS:
        if col not in df.columns:
            df[col] = None
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

