"""The parcel check: may this plot be used for X, and if not, why?

One engine, :func:`overlay_effects`, serves the single check (:func:`check`, used by the CLI and the
app), the vectorised check of thousands of parcels (:func:`check_many`, used by scenario allocation),
the conflicts table and the restriction map, so they always agree.

How a verdict is reached
------------------------
Every restriction polygon gets the *effect* of its rule on the intended use (``prohibited``,
``conditional``, ``permitted`` for legal zones, or none). Restriction polygons that cross the plot are
intersected with it (an R-tree query first; plots lying wholly inside a restriction are not intersected
at all). Pieces of one rule (kind, rule, subtype, level) are unioned before measuring, so overlapping
polygons are never counted twice. A rule touching the plot by less than ``check.sliver_m2`` (in
``layers/restrictions.yaml``) is edge contact and ignored. The verdict is

* ``prohibited`` if any prohibiting rule covers part of the plot (the plot cannot be used for X as a
  whole; ``prohibited_share`` says how much of it is affected),
* ``conditional`` if only conditions apply (or a legal zone's plot-size limit is not met),
* ``allowed`` otherwise.

Examples
--------
>>> res = check(ws, "housing", parcel_id="4-01-01-0001-0001", lang="en")     # doctest: +SKIP
>>> res.verdict, [r["rule_id"] for r in res.reasons]                          # doctest: +SKIP
('prohibited', ['coastal_strip', 'water_protection_zone'])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import GisPlannerError
from ..i18n import check_lang, label, t
from ..report.fmt import fmt_number, fmt_percent
from .restrictions import build_restrictions, layer_provenance, polygonal_part, read_layer_fid
from .category import (SEVERITY, category_provenance, category_reason, category_steps, procedure_lines,
                       step_message, strictest)
from .rules import (effect_of, localize_text, localized, restriction_rules, rules_provenance, source_translations,
                    zone_effect, zoning_rules, check_use)

GROUP = ["kind", "rule_id", "subtype", "level"]
VERDICTS = ("allowed", "conditional", "prohibited")
MAP_GRID_M = 0.001  # precision grid of the restriction map overlay (metres)


def with_effects(restrictions: gpd.GeoDataFrame, use: str, ws=None, rules: dict | None = None,
                 zrules: dict | None = None) -> gpd.GeoDataFrame:
    """The restriction frame with an ``effect`` column for ``use`` (rows with no effect dropped)."""
    rules = rules if rules is not None else restriction_rules(ws)
    zrules = zrules if zrules is not None else zoning_rules(ws)
    missing = {c: None for c in ("subtype", "level", "legal_source") if c not in restrictions.columns}
    if missing:  # a hand-made frame with only kind and rule_id
        restrictions = restrictions.assign(**missing)
    pairs = restrictions[["kind", "rule_id"]].drop_duplicates()
    lut = {}
    for kind, rid in pairs.itertuples(index=False):
        lut[(kind, rid)] = zone_effect(zrules, rid, use) if kind == "legal_zone" else effect_of(rules, rid, use)
    eff = [lut[(k, r)] for k, r in zip(restrictions["kind"], restrictions["rule_id"])]
    out = restrictions.assign(effect=eff)
    return out[out["effect"].notna()].reset_index(drop=True)


def _union_area(pieces: np.ndarray, keys: np.ndarray, areas: np.ndarray, full: np.ndarray,
                plot_areas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area of the union of ``pieces`` per key.

    A key with one piece takes its area; a key with a piece that is the whole plot (``full``) takes the
    plot area; only keys with several partial pieces are unioned (the only Python loop, over few keys).
    Returns the unique keys, their areas and the position of each key's first piece.
    """
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    uniq, start, counts = np.unique(k, return_index=True, return_counts=True)
    out = np.add.reduceat(areas[order], start)
    anyfull = np.maximum.reduceat(full[order].astype(np.int8), start) > 0
    out[anyfull] = np.maximum.reduceat(plot_areas[order], start)[anyfull]
    po = pieces[order]
    for i in np.flatnonzero((counts > 1) & ~anyfull):
        out[i] = shapely.area(shapely.union_all(po[start[i]:start[i] + counts[i]]))
    return uniq, out, order[start]


def overlay_effects(plots: gpd.GeoSeries, restr: gpd.GeoDataFrame, sliver_m2: float = 1.0) -> dict:
    """Intersect plots with effect-bearing restrictions (the engine of every check).

    Parameters
    ----------
    plots : GeoSeries
        Plot geometries (any index) in the workspace CRS.
    restr : GeoDataFrame
        Restrictions with an ``effect`` column (see :func:`with_effects`).
    sliver_m2 : float
        Rule pieces smaller than this are ignored as edge contact.

    Returns
    -------
    dict
        ``reasons``: DataFrame (``plot`` position, kind, rule_id, subtype, level, effect, legal_source,
        width_m, confirmed, area_m2, share); ``plot_area``, ``prohibited_m2``, ``conditional_m2``:
        arrays per plot (conditional excludes the prohibited part).
    """
    geoms = np.asarray(plots.values, dtype=object)
    n = len(geoms)
    parea = shapely.area(geoms)
    empty = {"reasons": pd.DataFrame(columns=["plot", *GROUP, "effect", "legal_source", "width_m",
                                              "confirmed", "area_m2", "share"]),
             "plot_area": parea, "prohibited_m2": np.zeros(n), "conditional_m2": np.zeros(n)}
    if n == 0 or restr is None or restr.empty:
        return empty
    rgeoms = np.asarray(restr.geometry.values, dtype=object)
    shapely.prepare(rgeoms)
    # R-tree on the (many, small) plots queried with the (few, large, prepared) restrictions: the
    # predicate is evaluated on the prepared restriction, so large rings cost log(n) per plot
    ri, pi = shapely.STRtree(geoms).query(rgeoms, predicate="intersects")
    if len(pi) == 0:
        return empty
    order = np.lexsort((ri, pi))
    pi, ri = pi[order], ri[order]
    inside = shapely.covers(rgeoms[ri], geoms[pi])
    pieces = geoms[pi].copy()
    cross = ~inside
    if cross.any():
        pieces[cross] = shapely.intersection(geoms[pi[cross]], rgeoms[ri[cross]])
    areas = shapely.area(pieces)
    gcols = GROUP + ["effect"]
    tuples = pd.Series(list(zip(*(restr[c].astype(object).where(restr[c].notna(), None) for c in gcols))),
                       dtype=object)
    gid, uniq = pd.factorize(tuples)
    groups = pd.DataFrame(list(uniq), columns=gcols)
    keys = pi.astype(np.int64) * (len(groups) + 1) + gid[ri]
    pa_el = parea[pi]
    ukeys, uarea, ufirst = _union_area(pieces, keys, areas, inside, pa_el)
    keep = uarea >= sliver_m2
    ukeys, uarea, ufirst = ukeys[keep], uarea[keep], ufirst[keep]
    kp = (ukeys // (len(groups) + 1)).astype(np.int64)
    kg = (ukeys % (len(groups) + 1)).astype(np.int64)
    g = groups.iloc[kg].reset_index(drop=True)
    first = ri[ufirst]
    reasons = pd.DataFrame({"plot": kp})
    for c in GROUP + ["effect"]:
        reasons[c] = g[c].to_numpy()
    reasons["legal_source"] = restr["legal_source"].to_numpy()[first]
    reasons["width_m"] = restr["width_m"].to_numpy()[first] if "width_m" in restr else np.nan
    reasons["confirmed"] = restr["confirmed"].to_numpy()[first] if "confirmed" in restr else True
    reasons["area_m2"] = uarea
    reasons["share"] = np.clip(reasons["area_m2"].to_numpy() / np.where(parea[kp] > 0, parea[kp], 1), 0, 1)
    order = {"prohibited": 0, "conditional": 1, "permitted": 2}
    reasons = reasons.sort_values(["plot", "effect", "share"], key=lambda s: s.map(order) if s.name == "effect"
                                  else (-s if s.name == "share" else s)).reset_index(drop=True)
    # per plot: prohibited area and (prohibited ∪ conditional) area, unions where rules overlap
    eff = restr["effect"].to_numpy()[ri]
    ok = np.isin(keys, ukeys)
    prohibited = np.zeros(n)
    restricted = np.zeros(n)
    for target, mask in ((prohibited, ok & (eff == "prohibited")),
                         (restricted, ok & np.isin(eff, ["prohibited", "conditional"]))):
        if mask.any():
            up, ua, _ = _union_area(pieces[mask], pi[mask], areas[mask], inside[mask], pa_el[mask])
            target[up] = ua
    return {"reasons": reasons, "plot_area": parea, "prohibited_m2": np.minimum(prohibited, parea),
            "conditional_m2": np.clip(np.minimum(restricted, parea) - prohibited, 0, None)}


def _plot_size_reasons(reasons: pd.DataFrame, parea: np.ndarray, use: str, zrules: dict) -> pd.DataFrame:
    """Conditional reasons where a legal zone's plot-size limit for ``use`` is not met."""
    zones = zrules.get("zones") or {}
    lz = reasons[reasons["kind"] == "legal_zone"]
    rows = []
    for rec in lz.itertuples(index=False):
        lim = ((zones.get(rec.rule_id) or {}).get("plot_size_ha") or {}).get(use)
        if not lim:
            continue
        a = parea[rec.plot] / 10_000
        lo, hi = lim.get("min"), lim.get("max")
        if (lo is not None and a < lo) or (hi is not None and a > hi):
            rows.append({"plot": rec.plot, "kind": "legal_zone", "rule_id": f"{rec.rule_id}.plot_size_ha",
                         "subtype": rec.subtype, "level": None, "effect": "conditional",
                         "legal_source": rec.legal_source, "width_m": np.nan, "confirmed": True,
                         "area_m2": rec.area_m2, "share": rec.share, "min_ha": lo, "max_ha": hi})
    return pd.DataFrame(rows)


def _verdicts(prohibited_m2, restricted_extra: np.ndarray, sliver: float) -> np.ndarray:
    return np.where(prohibited_m2 >= sliver, "prohibited", np.where(restricted_extra, "conditional", "allowed"))


def _sliver(rules: dict) -> float:
    return float((rules.get("check") or {}).get("sliver_m2", 1.0))


def check_many(ws, use: str, parcels: gpd.GeoDataFrame, restrictions: gpd.GeoDataFrame | None = None, *,
               plot_size: bool = False, category: bool = False) -> pd.DataFrame:
    """Check many parcels for one intended use at once (vectorised).

    Parameters
    ----------
    ws : Workspace
    use : str
        Activity code of ``layers/activities.yaml`` (``housing``, ``industry`` …).
    parcels : GeoDataFrame
        Plots to check, in the workspace CRS (reprojected if another CRS is set).
    restrictions : GeoDataFrame, optional
        A restriction frame (default :func:`build_restrictions`).
    plot_size : bool
        Also apply the legal zones' plot-size limits (off by default: allocation candidates are
        usually subdivided later).
    category : bool
        Also take the land-category step (``layers/category_uses.yaml``, see :mod:`.category`): the
        frame's ``category`` / ``land_type`` columns (the land type looked up by ``cadastral_no`` when
        missing), else the parcels under each plot. Adds ``restriction_verdict`` and ``category_effect``;
        ``verdict`` is then the strictest of both (off by default: allocation transforms land on purpose).

    Returns
    -------
    DataFrame
        Indexed like ``parcels``: ``verdict`` (allowed / conditional / prohibited), ``prohibited_share``,
        ``conditional_share`` (of the plot area, conditional excluding prohibited), ``area_ha`` and
        ``reasons`` (list of dicts: kind, rule_id, subtype, level, effect, share, area_ha, legal_source).

    Examples
    --------
    >>> parcels = ws.read_layer("parcels")                          # doctest: +SKIP
    >>> res = check_many(ws, "housing", parcels)                    # doctest: +SKIP
    >>> res.verdict.value_counts()                                  # doctest: +SKIP
    """
    use = check_use(use, ws)
    rules = restriction_rules(ws)
    zrules = zoning_rules(ws)
    restr = build_restrictions(ws) if restrictions is None else restrictions
    restr = with_effects(restr, use, ws, rules, zrules)
    geo = parcels.geometry
    if ws.crs is not None and geo.crs is not None and geo.crs != ws.crs:
        geo = geo.to_crs(ws.crs)
    sliver = _sliver(rules)
    res = overlay_effects(geo, restr, sliver)
    reasons = res["reasons"]
    parea = res["plot_area"]
    extra = np.zeros(len(geo), dtype=bool)
    if plot_size and len(reasons):
        ps = _plot_size_reasons(reasons, parea, use, zrules)
        if len(ps):
            reasons = pd.concat([reasons, ps], ignore_index=True)
            extra[ps["plot"].to_numpy()] = True
    cond = res["conditional_m2"] >= sliver
    verdict = _verdicts(res["prohibited_m2"], cond | extra, sliver)
    safe = np.where(parea > 0, parea, 1)
    out = pd.DataFrame({"verdict": verdict,
                        "prohibited_share": np.clip(res["prohibited_m2"] / safe, 0, 1),
                        "conditional_share": np.clip(res["conditional_m2"] / safe, 0, 1),
                        "area_ha": parea / 10_000}, index=parcels.index)
    lists: list[list] = [[] for _ in range(len(geo))]
    if len(reasons):
        recs = reasons.assign(area_ha=reasons["area_m2"] / 10_000).drop(columns=["area_m2"])
        cols = [c for c in ["kind", "rule_id", "subtype", "level", "effect", "share", "area_ha",
                            "legal_source", "width_m", "confirmed", "min_ha", "max_ha"] if c in recs]
        data = [[_clean(v) for v in recs[c].astype(object).where(recs[c].notna(), None).tolist()] for c in cols]
        for p, *vals in zip(recs["plot"].tolist(), *data):
            lists[p].append(dict(zip(cols, vals)))
    if category and len(geo):
        steps = _category_many(ws, use, parcels, geo)
        out["restriction_verdict"] = out["verdict"]
        out["category_effect"] = pd.Series([s["effect"] for s in steps], index=out.index, dtype=object)
        out["verdict"] = [strictest(v, s["effect"]) for v, s in zip(out["restriction_verdict"], steps)]
        for lst, s in zip(lists, steps):
            if s["effect"]:
                lst.append({"kind": "land_category", "rule_id": f"category.{s['rule_id']}",
                            "subtype": s["from_category"], "level": s["land_type"], "effect": s["effect"],
                            "share": 1.0, "legal_source": localized(s["legal_source"], "en"),
                            "confirmed": s["confirmed"], "to_category": s["to_category"],
                            "exceptional": s["exceptional"], "decided_by": list(s["decided_by"])})
    out["reasons"] = pd.Series(lists, index=parcels.index, dtype=object)
    out.attrs["use"] = use
    out.attrs["rules"] = rules_provenance(ws)
    out.attrs["layers"] = layer_provenance(ws)
    return out


def _category_many(ws, use: str, parcels: gpd.GeoDataFrame, geo: gpd.GeoSeries) -> list[dict]:
    """The category step of each plot of :func:`check_many` (strictest of the parcels under a plot
    that carries no category of its own)."""
    if "category" in parcels:
        from .transformation import _land_types

        return category_steps(ws, use, parcels["category"], _land_types(ws, parcels))
    sliver = _sliver(restriction_rules(ws))
    out = []
    for g in geo.values:
        parts = categories_under(ws, g, sliver) or [(None, None, g.area)]
        steps = category_steps(ws, use, [p[0] for p in parts], [p[1] for p in parts])
        out.append(max(steps, key=lambda s: SEVERITY[s["effect"] or "allowed"]))
    return out


def _clean(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


@dataclass
class CheckResult:
    """The answer to "may this plot be used for X?" (see :func:`check`)."""

    use: str
    verdict: str
    area_ha: float
    prohibited_share: float
    conditional_share: float
    reasons: list[dict] = field(default_factory=list)
    parcel_id: Any = None
    cadastral_no: str | None = None
    lang: str = "ky"
    verdict_label: str = ""
    message: str = ""
    provenance: dict = field(default_factory=dict)
    geometry: BaseGeometry | None = None
    category: list[dict] = field(default_factory=list)
    restriction_verdict: str = ""
    input: dict | None = None        # how a point/WKT argument was read (gis_planner.geoinput)
    at_point: dict | None = None     # what lies at a checked point (zones, water, boundary)

    @property
    def allowed(self) -> bool:
        return self.verdict == "allowed"

    @property
    def free_share(self) -> float:
        return max(0.0, 1.0 - self.prohibited_share - self.conditional_share)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("use", "verdict", "verdict_label", "message", "parcel_id",
                                            "cadastral_no", "area_ha", "prohibited_share",
                                            "conditional_share", "reasons", "provenance", "category",
                                            "restriction_verdict", "input", "at_point")}
        d["free_share"] = self.free_share
        return d

    def reasons_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.reasons)

    def __str__(self) -> str:
        lines = [self.message]
        for r in self.reasons:
            lines.append(f"  - {r['message']}")
            lines += [f"      {p}" for p in r.get("procedure") or []]
        lines += [f"  = {c['message']}" for c in self.category if c.get("effect") is None]
        return "\n".join(lines)


def _t_or(key: str, lang: str, fallback) -> str:
    text = t(key, lang)
    return str(fallback) if text == key else text


def _what(r: dict, lang: str, ws=None, zrules: dict | None = None) -> str:
    kind = r["kind"]
    head = t(f"zoning.kind.{kind}", lang)
    sub = r.get("subtype")
    if kind == "legal_zone":
        zone = ((zrules or {}).get("zones") or {}).get(sub) or {}
        name = (zone.get("names") or {}).get(lang) or sub
        return f"{head} «{name}»"
    if kind == "hazard":
        level = r.get("level")
        return f"{head} ({_t_or('zoning.hazard.' + str(sub), lang, sub)}, {_t_or('zoning.level.' + str(level), lang, level)})"
    if kind == "protected_area":
        return f"{head} ({_t_or('zoning.regime.' + str(sub), lang, sub)})"
    if kind in ("water_protection_zone", "coastal_strip"):
        wl = _t_or("zoning.water." + str(sub), lang, sub)
        w = r.get("width_m")
        width = ", " + t("zoning.reason_width", lang, width=num(w, lang)) if w is not None else ""
        return f"{head} ({wl}{width})"
    return head


def num(value, lang: str) -> str:
    """A rule value (width, floors, limit) written as short as it is (``12``, ``0.04``), with the
    decimal comma in ky/ru; "–" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{float(value):g}" if isinstance(value, (int, float)) else str(value)
    return text.replace(".", ",") if lang in ("ky", "ru") and isinstance(value, (int, float)) else text


def _share(value, lang: str) -> str:
    # whole percent as before ("50%" in en), the local way in ky/ru ("50 %")
    return fmt_percent(value, lang, 0)


def reason_message(r: dict, use: str, lang: str, ws=None, zrules: dict | None = None,
                   use_label: str | None = None, sources: dict | None = None) -> str:
    """Human sentence for one reason, from the i18n catalogue.

    Numbers are written the local way (``0,0963 га`` in ky/ru) and the legal source in ``lang``
    (``sources``: :func:`gis_planner.zoning.rules.source_translations`, looked up when not given).
    """
    if str(r.get("rule_id", "")).endswith(".plot_size_ha"):
        return t("zoning.plot_size", lang, area=fmt_number(r.get("plot_area_ha", 0), lang, 4),
                 min=num(r.get("min_ha"), lang), max=num(r.get("max_ha"), lang))
    if sources is None:
        sources = source_translations(ws)
    msg = t("zoning.reason", lang, what=_what(r, lang, ws, zrules), effect=t(f"zoning.effect.{r['effect']}", lang),
            use=use_label or label("activities", use, lang), share=_share(r["share"], lang),
            area=fmt_number(r["area_ha"], lang, 4), source=localize_text(r.get("legal_source"), lang, sources))
    if r["kind"] in ("water_protection_zone", "coastal_strip") and not r.get("confirmed", True):
        msg = f"{msg} ({t('zoning.width_unconfirmed', lang)})"
    if r["kind"] == "legal_zone" and r["effect"] != "prohibited":
        zone = ((zrules or {}).get("zones") or {}).get(r.get("subtype")) or {}
        if any(zone.get(k) is not None for k in ("max_floors", "max_height_m", "min_green_share")):
            g = zone.get("min_green_share")
            params = t("zoning.zone_params", lang, floors=num(zone.get("max_floors"), lang),
                       height=num(zone.get("max_height_m"), lang), green=_share(g, lang) if g is not None else "–")
            msg = f"{msg} {params}"
    return msg


_PARCELS: dict = {}


def _parcels(ws) -> tuple[gpd.GeoDataFrame | None, dict]:
    """The parcels (fid index, cadastral number and geometry) and their :class:`CadastralIndex` (a number
    found however it is written), read once per workspace version: a check by number or click does not
    read the layer again."""
    key = (str(ws.gpkg), getattr(ws, "version", None))
    hit = _PARCELS.get(key)
    if hit is not None and key[1] is not None:
        return hit
    if not ws.has_layer("parcels"):
        return None, {}
    fields = _fields(ws, "parcels")
    cols = [c for c in ("cadastral_no", "category", "land_type") if c in fields]
    parcels = read_layer_fid(ws, "parcels", columns=cols)
    from .cadastral import CadastralIndex

    by_cad = CadastralIndex(zip(parcels["cadastral_no"], parcels.index) if "cadastral_no" in parcels else ())
    _PARCELS.clear()
    _PARCELS[key] = (parcels, by_cad)
    return parcels, by_cad


def _fields(ws, layer: str) -> list[str]:
    import pyogrio

    return list(pyogrio.read_info(ws.gpkg, layer=layer)["fields"])


def _parcel_lookup(ws, parcel_id) -> gpd.GeoDataFrame:
    parcels, by_cad = _parcels(ws)
    if parcels is None:
        raise GisPlannerError("layer 'parcels' is not in the workspace", file=str(ws.gpkg),
                              fix="import parcels with `gis-planner import --layer parcels FILE`",
                              code="missing_layer")
    fid = by_cad.find(parcel_id)   # "4 02 01 0050 0003", "4.02.01.0050.0003", "4020100500003" too
    if fid is None:
        try:
            fid = int(parcel_id)
        except (TypeError, ValueError):
            fid = None
        if fid is not None and fid not in parcels.index:
            fid = None
    if fid is None:
        raise GisPlannerError(f"no parcel with id or cadastral number '{parcel_id}'", file=str(ws.gpkg),
                              feature=parcel_id, fix="give a parcel fid or cadastral_no from the parcels layer",
                              code="unknown_parcel", details={"parcel": str(parcel_id)})
    return parcels.loc[[fid]]


def _point_lookup(ws, point) -> gpd.GeoDataFrame:
    if not isinstance(point, BaseGeometry):
        try:
            x, y = point
        except (TypeError, ValueError):
            raise GisPlannerError(f"'{point}' is not a point", fix="give (x, y) in the workspace CRS",
                                  code="bad_point") from None
        point = shapely.Point(float(x), float(y))
    parcels, _ = _parcels(ws)
    if parcels is None or parcels.empty:
        raise GisPlannerError("layer 'parcels' is not in the workspace", file=str(ws.gpkg),
                              fix="import parcels first", code="missing_layer")
    idx = parcels.sindex.query(point, predicate="intersects")
    if len(idx) == 0:
        raise GisPlannerError(t("zoning.outside_parcels", "en") + f" ({point.x:.1f}, {point.y:.1f})",
                              file=str(ws.gpkg), fix="click inside a parcel or draw the plot as a polygon",
                              code="point_outside_parcels")
    return parcels.iloc[[int(np.sort(idx)[0])]]


def _as_geometry(ws, geometry) -> BaseGeometry:
    if isinstance(geometry, str):
        try:
            geometry = shapely.from_wkt(geometry)
        except shapely.errors.GEOSException as exc:
            raise GisPlannerError(f"not a WKT geometry ({exc})", fix="give a polygon in WKT",
                                  code="bad_geometry") from None
    if isinstance(geometry, (gpd.GeoDataFrame, gpd.GeoSeries)):
        gs = geometry.geometry if isinstance(geometry, gpd.GeoDataFrame) else geometry
        if gs.crs is not None and ws.crs is not None and gs.crs != ws.crs:
            gs = gs.to_crs(ws.crs)
        geometry = shapely.union_all(np.asarray(gs.values))
    if not isinstance(geometry, BaseGeometry) or geometry.is_empty:
        raise GisPlannerError("the plot geometry is empty", fix="draw a polygon", code="bad_geometry")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if geometry.area <= 0:
        raise GisPlannerError(f"the plot is a {geometry.geom_type}, not an area",
                              fix="draw a polygon, or give a point to check the parcel under it",
                              code="bad_geometry")
    return geometry


def check(ws, use: str, *, parcel_id=None, geometry=None, point=None,
          restrictions: gpd.GeoDataFrame | None = None, lang: str = "ky") -> CheckResult:
    """May this plot be used for ``use``? Verdict with every reason.

    Give exactly one of ``parcel_id`` (fid or cadastral number), ``geometry`` (shapely polygon in the
    workspace CRS, WKT, or a GeoSeries/GeoDataFrame with a CRS) or ``point`` ((x, y) or Point in the
    workspace CRS: the parcel containing it is checked).

    Returns
    -------
    CheckResult
        ``verdict`` (allowed / conditional / prohibited): the strictest of ``restriction_verdict`` (the
        restrictions and legal zones) and the land-category step (``category``, from
        ``layers/category_uses.yaml``: the transformation the use needs, who decides, the legal source;
        see :mod:`gis_planner.zoning.category`). ``reasons`` (each: kind, rule_id, subtype, level,
        effect, share of the plot, area_ha, legal_source, message; a category step that limits the use
        is a reason of kind ``land_category`` with its ``procedure``), the shares (of the restrictions)
        and a message.

    Examples
    --------
    >>> r = check(ws, "housing", point=(4300050, 4720050), lang="en")      # doctest: +SKIP
    >>> print(r)                                                            # doctest: +SKIP
    Housing: Prohibited
      - Coastal strip (river, width 20 m) prohibits Housing: 50% of the plot (0.5000 ha). Source: ...
    """
    lang = check_lang(lang)
    given = [x is not None for x in (parcel_id, geometry, point)]
    if sum(given) != 1:
        raise GisPlannerError("give exactly one of a parcel id, a geometry or a point",
                              fix="e.g. --parcel 4-01-01-0001-0001", code="bad_arguments")
    use = check_use(use, ws)
    pid = cad = None
    inp = at = None
    if geometry is not None and isinstance(geometry, (str, BaseGeometry)):
        # lon/lat or workspace coordinates, detected and said; a plot off the municipality refused
        from ..geoinput import read_geometry

        inp = read_geometry(ws, geometry, lang)
        geometry = inp.geometry
    if point is not None:
        from ..geoinput import at_point, read_point

        inp = read_point(ws, point, lang)
        point = inp.geometry
        at = at_point(ws, point, use, restrictions)
    if geometry is not None:
        geom = _as_geometry(ws, geometry)
    else:
        row = _parcel_lookup(ws, parcel_id) if parcel_id is not None else _point_lookup(ws, point)
        pid = int(row.index[0])
        cad = str(row["cadastral_no"].iloc[0]) if "cadastral_no" in row else None
        geom = _as_geometry(ws, row.geometry.iloc[0])
    frame = gpd.GeoDataFrame(geometry=[geom], crs=ws.crs)
    res = check_many(ws, use, frame, restrictions, plot_size=True)
    rec = res.iloc[0]
    zrules = zoning_rules(ws)
    sources = source_translations(ws, zrules=zrules)
    reasons = []
    for r in rec["reasons"]:
        r = dict(r)
        r["plot_area_ha"] = float(rec["area_ha"])
        r["source_text"] = localize_text(r.get("legal_source"), lang, sources)  # legal_source stays English
        r["message"] = reason_message(r, use, lang, ws, zrules, sources=sources)
        reasons.append(r)
    rverdict = str(rec["verdict"])
    category = category_under(ws, use, geom, row if geometry is None else None, lang)
    reasons += [category_reason(c, use, lang, area_ha=c["area_ha"], share=c["share"], ws=ws)
                for c in category if c["effect"]]
    reasons.sort(key=lambda r: _SEVERITY_ORDER.get(r["effect"], 3))   # stable: shares stay in order
    verdict = strictest(rverdict, *(c["effect"] for c in category))
    vlabel = t(f"zoning.verdict.{verdict}", lang)
    msg = t("zoning.check_title", lang, use=label("activities", use, lang), verdict=vlabel)
    if not reasons:
        msg = f"{msg}. {t('zoning.no_reasons', lang)}"
    elif not any(r["kind"] != "land_category" for r in reasons):
        msg = f"{msg}. {t('zoning.category.only', lang)}"
    return CheckResult(use=use, verdict=verdict, area_ha=float(rec["area_ha"]),
                       prohibited_share=float(rec["prohibited_share"]),
                       conditional_share=float(rec["conditional_share"]), reasons=reasons,
                       parcel_id=pid, cadastral_no=cad, lang=lang, verdict_label=vlabel, message=msg,
                       provenance={"rules": [*(res.attrs.get("rules") or []), category_provenance(ws)],
                                   "layers": res.attrs.get("layers")},
                       geometry=geom, category=category, restriction_verdict=rverdict,
                       input=inp.to_dict() if inp is not None else None, at_point=at)


_SEVERITY_ORDER = {"prohibited": 0, "conditional": 1, "permitted": 2}


def categories_under(ws, geom: BaseGeometry, sliver_m2: float = 1.0) -> list[tuple]:
    """``[(category, land_type, area_m2)]`` of the parcels under a drawn plot (pieces under ``sliver_m2``
    are edge contact); the part of the plot on no parcel comes as ``(None, None, area)``."""
    parcels, _ = _parcels(ws)
    if parcels is None or parcels.empty:
        return []
    idx = np.sort(parcels.sindex.query(geom, predicate="intersects"))
    sub = parcels.iloc[idx]
    pieces = shapely.intersection(np.asarray(sub.geometry.values), geom)
    areas = shapely.area(pieces)
    cats = sub["category"].astype(object).where(sub["category"].notna(), None).tolist() if "category" in sub \
        else [None] * len(sub)
    lts = sub["land_type"].astype(object).where(sub["land_type"].notna(), None).tolist() if "land_type" in sub \
        else [None] * len(sub)
    acc: dict = {}
    for c, lt, a in zip(cats, lts, areas):
        acc[(c, lt)] = acc.get((c, lt), 0.0) + float(a)
    covered = float(shapely.area(shapely.union_all(pieces))) if len(pieces) else 0.0
    rest = geom.area - covered
    if rest >= sliver_m2:
        acc[(None, None)] = acc.get((None, None), 0.0) + rest
    out = [(c, lt, a) for (c, lt), a in acc.items() if a >= sliver_m2]
    return sorted(out, key=lambda x: -x[2]) or [(None, None, geom.area)]


def category_under(ws, use: str, geom: BaseGeometry, row: gpd.GeoDataFrame | None = None,
                   lang: str = "ky") -> list[dict]:
    """The category steps of a plot: the parcel's own category and land type (``row``), or those of the
    parcels a drawn plot lies on, each with its ``share`` and ``area_ha``, ``message`` and ``procedure``."""
    if row is not None:
        parts = [(row["category"].iloc[0] if "category" in row else None,
                  row["land_type"].iloc[0] if "land_type" in row else None, geom.area)]
    else:
        parts = categories_under(ws, geom, _sliver(restriction_rules(ws)))
        if not parts:   # no parcels layer: the step is not checked, and the check says so
            step = {"use": use, "effect": None, "rule_id": "not_checked", "from_category": None, "land_type": None,
                    "to_category": None, "type_change": False, "exceptional": False, "exception": False,
                    "decided_by": [], "legal_source": None, "note": None, "confirmed": True, "share": 1.0,
                    "area_ha": geom.area / 10_000, "message": t("zoning.category.not_checked", lang),
                    "procedure": [], "legal_source_text": ""}
            return [step]
    steps = category_steps(ws, use, [p[0] for p in parts], [p[1] for p in parts])
    total = geom.area if geom.area > 0 else 1.0
    out = []
    for (_, _, a), st in zip(parts, steps):
        # the message and procedure in ``lang`` first, then the source as English text like every reason
        st.update(share=min(1.0, a / total), area_ha=a / 10_000, message=step_message(st, use, lang),
                  procedure=procedure_lines(st, lang, ws))
        st.update(legal_source_text=localized(st.get("legal_source"), lang) or "",
                  legal_source=localized(st.get("legal_source"), "en"), note=localized(st.get("note"), lang))
        out.append(st)
    return out


def check_pieces(ws, use: str, geometry, restrictions: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The parts of a plot under each rule that affects ``use`` (for drawing the check on a map).

    One row per rule (kind, rule_id, subtype, level, effect) with the plot ∩ rule geometry and area_ha.

    Examples
    --------
    >>> res = check(ws, "housing", parcel_id=7)                             # doctest: +SKIP
    >>> check_pieces(ws, "housing", res.geometry).plot(column="effect")     # doctest: +SKIP
    """
    use = check_use(use, ws)
    if isinstance(geometry, (str, BaseGeometry)):
        from ..geoinput import to_workspace

        geometry = to_workspace(ws, geometry).geometry   # a WKT in lon/lat is reprojected, not taken as metres
    geom = _as_geometry(ws, geometry)
    restr = with_effects(build_restrictions(ws) if restrictions is None else restrictions, use, ws)
    idx = restr.sindex.query(geom, predicate="intersects")
    sub = restr.iloc[np.sort(idx)]
    pieces = shapely.intersection(np.asarray(sub.geometry.values), geom)
    out = gpd.GeoDataFrame(sub[GROUP + ["effect", "legal_source"]].reset_index(drop=True),
                           geometry=[polygonal_part(g) for g in pieces], crs=ws.crs)
    out = out[~out.geometry.is_empty]
    if out.empty:
        return out.assign(area_ha=pd.Series([], dtype=float))
    keys = out[GROUP + ["effect"]].astype(object).where(out[GROUP + ["effect"]].notna(), "")
    out = out.assign(_key=keys.astype(str).agg("|".join, axis=1))
    out = out.dissolve(by="_key", aggfunc="first").reset_index(drop=True)
    out["area_ha"] = out.geometry.area / 10_000
    return out.sort_values(["effect", "area_ha"], ascending=[False, False]).reset_index(drop=True)


def restriction_map(ws, use: str, *, restrictions: gpd.GeoDataFrame | None = None, extent=None,
                    write: bool = True, geojson: str | Path | None = None, lang: str = "ky") -> gpd.GeoDataFrame:
    """Classified map (prohibited / conditional / free) of the territory for an intended use.

    The extent is the ``boundary`` layer (else the union of the parcels, or ``extent``). Prohibited is
    the union of every restriction that prohibits ``use``; conditional the union of those that condition
    it minus the prohibited part; free the rest. One dissolved row per class with ``area_ha``, so the
    three areas add up to the extent's area.

    With ``write`` the map is stored as workspace layer ``restriction_map_<use>`` and as GeoJSON
    (WGS 84, RFC 7946) at ``geojson`` (default ``<workspace>/exports/restriction_map_<use>.geojson``).

    Examples
    --------
    >>> m = restriction_map(ws, "housing")                               # doctest: +SKIP
    >>> m[["class", "area_ha"]]                                          # doctest: +SKIP
    """
    lang = check_lang(lang)
    use = check_use(use, ws)
    restr = build_restrictions(ws) if restrictions is None else restrictions
    restr = with_effects(restr, use, ws)
    if extent is None:
        b = read_layer_fid(ws, "boundary")
        if b is None or b.empty:
            b = read_layer_fid(ws, "parcels", columns=[])
        if b is None or b.empty:
            raise GisPlannerError("neither a boundary nor parcels in the workspace", file=str(ws.gpkg),
                                  fix="import the boundary layer", code="missing_layer")
        extent = shapely.union_all(np.asarray(b.geometry.values))
    else:
        extent = _as_geometry(ws, extent)
    g = np.asarray(restr.geometry.values, dtype=object)
    eff = restr["effect"].to_numpy()
    # fixed-precision overlay (1 mm grid): the unions of many polygons sharing edges with each other
    # (zones and parcels cut from the same lines) defeat floating-point overlay, which can return an
    # empty intersection for a plot lying inside the union; snapping to 1 mm makes it robust
    grid = MAP_GRID_M
    extent = shapely.union_all(shapely.get_parts(extent), grid_size=grid)
    # keep only the polygonal parts between steps: a snapped union or intersection can come back as a
    # GeometryCollection with slivers collapsed to lines, which GEOS refuses as overlay input (mixed dimension)
    P = (polygonal_part(shapely.union_all(g[eff == "prohibited"], grid_size=grid)) if (eff == "prohibited").any()
         else shapely.Polygon())
    R = (polygonal_part(shapely.union_all(g[np.isin(eff, ["prohibited", "conditional"])], grid_size=grid))
         if len(g) else shapely.Polygon())
    prohibited = shapely.intersection(extent, P, grid_size=grid)
    conditional = shapely.difference(polygonal_part(shapely.intersection(extent, R, grid_size=grid)), P,
                                     grid_size=grid)
    free = shapely.difference(extent, R, grid_size=grid)
    classes = ["prohibited", "conditional", "free"]
    out = gpd.GeoDataFrame({"class": classes, "use": [use] * 3,
                            "label": [t(f"zoning.class.{c}", lang) for c in classes]},
                           geometry=[polygonal_part(x) for x in (prohibited, conditional, free)], crs=ws.crs)
    out["area_ha"] = out.geometry.area / 10_000
    if write:
        layer = f"restriction_map_{use}"
        ws.write_layer(layer, out, source="derived by gis_planner.zoning.restriction_map",
                       notes={"use": use, "rules": rules_provenance(ws), "layers": layer_provenance(ws)})
        path = Path(geojson) if geojson is not None else ws.root / "exports" / f"{layer}.geojson"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.geojson")
        out.to_crs(4326).to_file(tmp, driver="GeoJSON")
        tmp.replace(path)
        out.attrs["geojson"] = str(path)
        out.attrs["layer"] = layer
    return out
