"""Reviewing community maps: counts, problem and wish lists, comparing groups, checking wishes.

* :func:`counts` — features by category (or BRIEF group) per session or per participant group;
* :func:`problems`, :func:`wishes` — the lists for the problem gallery, sorted by votes;
* :func:`compare` — what one group mapped that another did not (same category within a distance);
* :func:`check_against_restrictions` — wishes checked for their intended use with the zoning parcel check
  (a wished school in a mudflow zone is prohibited), problems located in restriction and hazard zones.

Distances are measured in the metric CRS of the place (Kyrg-06 zone, :func:`gis_planner.crs.kyrg06_epsg`).

Examples
--------
>>> table = counts(store, village="Tört-Kül", by="participant_group")     # doctest: +SKIP
>>> res = compare(store, "Tört-Kül", "women", "men", tolerance_m=100)     # doctest: +SKIP
>>> res.summary[["category", "a", "b", "only_a", "only_b"]]              # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalog import catalogue
from ..crs import kyrg06_epsg
from ..errors import GisPlannerError
from ..i18n import check_lang, t
from .store import CommunityStore, categories, rules


def _review_rules(ws=None) -> dict:
    return dict(rules(ws).get("review") or {})


def _metric_crs(gdf: gpd.GeoDataFrame) -> int:
    minx, miny, maxx, maxy = gdf.total_bounds
    return kyrg06_epsg((minx + maxx) / 2, (miny + maxy) / 2)


def counts(store: CommunityStore, *, village: str | None = None, session_id=None, by: str = "session",
           level: str = "category", lang: str | None = None) -> pd.DataFrame:
    """Number of live features by category (rows) and session or participant group (columns).

    Parameters
    ----------
    by : ``"session"`` (columns are session ids) or ``"participant_group"`` (women, men, …).
    level : ``"category"`` or ``"group"`` (the BRIEF headings: infrastructure, water, …).
    lang : if given, an extra first column ``label`` with the category/group name.

    The last row ``total`` sums each column; the last column ``total`` sums each row.
    """
    if by not in ("session", "participant_group"):
        raise GisPlannerError(f"cannot count by '{by}'", fix="use by='session' or by='participant_group'",
                              code="bad_option")
    gdf = store.features(session_id=session_id, village=village)
    cats = categories(store.ws)
    key = "category"
    if level == "group":
        gdf = gdf.assign(group=gdf["category"].map(lambda c: cats.items.get(c, {}).get("group", c)))
        key = "group"
    elif level != "category":
        raise GisPlannerError(f"unknown level '{level}'", fix="use level='category' or level='group'",
                              code="bad_option")
    col = "session_id" if by == "session" else "participant_group"
    table = pd.crosstab(gdf[key], gdf[col]) if len(gdf) else pd.DataFrame()
    order_src = cats if key == "category" else catalogue("community_categories", store.ws, section="groups")
    rows = [c for c in order_src.codes if c in table.index] + [c for c in table.index if c not in order_src.items]
    table = table.reindex(rows).fillna(0).astype("int64")
    table.columns = [c for c in table.columns]
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name = key
    table.columns.name = col
    if lang is not None:
        lang = check_lang(lang)
        labels = [order_src.label(c, lang) if c != "total" else t("community.total", lang) for c in table.index]
        table.insert(0, "label", labels)
    return table


def participation(store: CommunityStore, *, village: str | None = None) -> pd.DataFrame:
    """Who took part, per village: sessions, groups covered, participants by sex, share of women, features.

    Counts only (no names are stored). ``share_female`` is women / all participants (NaN when nobody was
    counted); ``groups`` lists the participant groups that held a session, so a missing group is visible.
    """
    s = store.list_sessions(village=village)
    cols = ["village", "sessions", "groups", "participants_female", "participants_male", "participants",
            "share_female", "features"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    groups = catalogue("community_categories", store.ws, section="participant_groups")
    order = {c: i for i, c in enumerate(groups.codes)}
    out = s.groupby("village", sort=True).agg(
        sessions=("id", "size"),
        groups=("participant_group", lambda g: sorted(set(g), key=lambda c: order.get(c, 99))),
        participants_female=("participants_female", "sum"), participants_male=("participants_male", "sum"),
        features=("features", "sum")).reset_index()
    out["participants"] = out["participants_female"] + out["participants_male"]
    out["share_female"] = np.where(out["participants"] > 0,
                                   out["participants_female"] / out["participants"].where(out["participants"] > 0, 1),
                                   np.nan)
    return out[cols]


def _listing(store: CommunityStore, flag: str, village, session_id, group, lang) -> pd.DataFrame:
    gdf = store.features(session_id=session_id, village=village, group=group)
    gdf = gdf[gdf[flag]].copy()
    cats = categories(store.ws)
    pts = gdf.geometry.representative_point() if len(gdf) else gpd.GeoSeries([], crs=4326)
    out = pd.DataFrame({
        "id": gdf["id"].to_numpy(), "village": gdf["village"].to_numpy(), "session_id": gdf["session_id"].to_numpy(),
        "participant_group": gdf["participant_group"].to_numpy(), "category": gdf["category"].to_numpy(),
        "title": gdf["title"].to_numpy(), "description": gdf["description"].to_numpy(),
        "condition": gdf["condition"].to_numpy(), "sufficiency": gdf["sufficiency"].to_numpy(),
        "activity": gdf["activity"].to_numpy(), "votes": gdf["votes"].to_numpy(),
        "lon": np.round(pts.x.to_numpy(), 6), "lat": np.round(pts.y.to_numpy(), 6)})
    if lang is not None:
        lang = check_lang(lang)
        groups = catalogue("community_categories", store.ws, section="participant_groups")
        out.insert(5, "category_label", [cats.label(c, lang) for c in out["category"]])
        out.insert(4, "group_label", [groups.label(g, lang) for g in out["participant_group"]])
    return out.sort_values(["votes", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def problems(store: CommunityStore, *, village: str | None = None, session_id=None, group: str | None = None,
             lang: str | None = None) -> pd.DataFrame:
    """Features flagged as problems, most voted first (id, village, session, group, category, title, …, lon, lat)."""
    return _listing(store, "is_problem", village, session_id, group, lang)


def wishes(store: CommunityStore, *, village: str | None = None, session_id=None, group: str | None = None,
           lang: str | None = None) -> pd.DataFrame:
    """Features flagged as wishes (objects that do not exist yet), most voted first."""
    return _listing(store, "is_wish", village, session_id, group, lang)


@dataclass
class Comparison:
    """Result of :func:`compare`: features only one side mapped, matched pairs and a summary by category."""

    village: str
    a: str
    b: str
    tolerance_m: float
    only_a: gpd.GeoDataFrame
    only_b: gpd.GeoDataFrame
    pairs: pd.DataFrame
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)


def _side(store: CommunityStore, village: str, side) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(side, (int, np.integer)):
        return store.features(session_id=int(side)), f"session {int(side)}"
    groups = catalogue("community_categories", store.ws, section="participant_groups")
    code = groups.lookup(side)
    if code is None:
        raise GisPlannerError(f"unknown participant group '{side}'", fix=f"use a session id or one of "
                              f"{', '.join(groups.codes)}", code="unknown_group")
    return store.features(village=village, group=code), code


def compare(store: CommunityStore, village: str, a, b, *, tolerance_m: float | None = None) -> Comparison:
    """Compare two groups' maps of one village.

    ``a`` and ``b`` are participant groups (``"women"``, ``"men"`` …, all their sessions in the village) or
    session ids. A feature of ``a`` is *matched* when ``b`` has a feature of the same category within
    ``tolerance_m`` metres of it (geometry-to-geometry distance; default ``review.compare_tolerance_m``);
    otherwise it is in ``only_a`` — what ``a`` mapped and ``b`` did not (and vice versa).

    ``summary`` has one row per category: ``a``, ``b`` (numbers of features), ``matched_a``, ``matched_b``,
    ``only_a``, ``only_b``.
    """
    tol = float(tolerance_m if tolerance_m is not None else _review_rules(store.ws).get("compare_tolerance_m", 100))
    if not np.isfinite(tol) or tol < 0:
        raise GisPlannerError(f"tolerance {tolerance_m} m is not a distance", fix="give metres >= 0",
                              code="bad_option")
    ga, la = _side(store, village, a)
    gb, lb = _side(store, village, b)
    ga = ga.reset_index(drop=True)
    gb = gb.reset_index(drop=True)
    both = pd.concat([ga.geometry, gb.geometry])
    pairs = pd.DataFrame({"id_a": pd.Series([], dtype="int64"), "id_b": pd.Series([], dtype="int64"),
                          "category": pd.Series([], dtype="str"), "distance_m": pd.Series([], dtype="float64")})
    matched_a = np.zeros(len(ga), dtype=bool)
    matched_b = np.zeros(len(gb), dtype=bool)
    if len(ga) and len(gb):
        crs = _metric_crs(gpd.GeoDataFrame(geometry=both, crs=4326))
        pa = ga.geometry.to_crs(crs)
        pb = gb.geometry.to_crs(crs)
        ia, ib = pb.sindex.query(pa.values, predicate="dwithin", distance=tol)
        same = ga["category"].to_numpy()[ia] == gb["category"].to_numpy()[ib]
        ia, ib = ia[same], ib[same]
        matched_a[ia] = True
        matched_b[ib] = True
        pairs = pd.DataFrame({"id_a": ga["id"].to_numpy()[ia], "id_b": gb["id"].to_numpy()[ib],
                              "category": ga["category"].to_numpy()[ia],
                              "distance_m": shapely.distance(pa.values[ia], pb.values[ib])})
    only_a = ga[~matched_a]
    only_b = gb[~matched_b]
    cats = categories(store.ws)
    present = set(ga["category"]) | set(gb["category"])
    rows = []
    for c in [c for c in cats.codes if c in present] + sorted(present - set(cats.items)):
        rows.append({"category": c, "a": int((ga["category"] == c).sum()), "b": int((gb["category"] == c).sum()),
                     "matched_a": int(matched_a[ga["category"].to_numpy() == c].sum()),
                     "matched_b": int(matched_b[gb["category"].to_numpy() == c].sum()),
                     "only_a": int((only_a["category"] == c).sum()), "only_b": int((only_b["category"] == c).sum())})
    summary = pd.DataFrame(rows, columns=["category", "a", "b", "matched_a", "matched_b", "only_a", "only_b"])
    return Comparison(village=village, a=la, b=lb, tolerance_m=tol, only_a=only_a, only_b=only_b,
                      pairs=pairs, summary=summary)


def check_against_restrictions(store: CommunityStore, ws=None, *, village: str | None = None, session_id=None,
                               lang: str | None = None, restrictions: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Check wishes and problems against the restriction and hazard zones of the workspace.

    Wishes with an ``activity`` (a wished school is ``social_facility``) go through
    :func:`gis_planner.zoning.check_many` for that use: ``verdict`` is allowed / conditional / prohibited with
    the ``reasons`` (rule, hazard type and level, share, legal source). Points are checked as a disc of
    ``review.point_footprint_m`` and lines as a corridor of ``review.line_buffer_m`` (a wished object needs
    ground). Problems (and wishes without an activity) get the restriction zones they touch in ``zones``
    and verdict ``None``. ``flagged`` is true for prohibited / conditional wishes and for anything in a hazard zone.

    Returns a DataFrame: ``id, title, category, is_problem, is_wish, activity, votes, verdict,
    prohibited_share, reasons, zones, flagged, message`` (``message`` in ``lang``).
    """
    from .. import zoning  # lazily: the zoning package is heavier and optional for the store

    ws = ws if ws is not None else store.ws
    if ws is None:
        raise GisPlannerError("checking against restrictions needs the workspace",
                              fix="open the store with open_store(ws) or pass ws=", code="no_workspace")
    lang = check_lang(lang)
    gdf = store.features(session_id=session_id, village=village)
    gdf = gdf[gdf["is_wish"] | gdf["is_problem"]].reset_index(drop=True)
    cols = ["id", "title", "category", "is_problem", "is_wish", "activity", "votes", "verdict",
            "prohibited_share", "reasons", "zones", "flagged", "message"]
    if gdf.empty:
        return pd.DataFrame(columns=cols)
    restr = zoning.build_restrictions(ws) if restrictions is None else restrictions
    rr = _review_rules(ws)
    metric = gdf.geometry.to_crs(ws.crs)
    kinds = gdf["kind"].to_numpy()
    foot = metric.values.copy()
    pt = kinds == "point"
    ln = kinds == "line"
    foot[pt] = shapely.buffer(foot[pt], float(rr.get("point_footprint_m", 20)))
    foot[ln] = shapely.buffer(foot[ln], float(rr.get("line_buffer_m", 5)))
    plots = gpd.GeoDataFrame({"id": gdf["id"].to_numpy()}, geometry=foot, crs=ws.crs)

    verdict = np.full(len(gdf), None, dtype=object)
    share = np.full(len(gdf), np.nan)
    reasons: list = [[] for _ in range(len(gdf))]
    acts = gdf["activity"].where(gdf["is_wish"], None)
    for act in sorted({a for a in acts.dropna().unique()}):
        idx = np.flatnonzero((acts == act).to_numpy())
        res = zoning.check_many(ws, act, plots.iloc[idx], restrictions=restr)
        verdict[idx] = res["verdict"].to_numpy()
        share[idx] = res["prohibited_share"].to_numpy()
        for j, rs in zip(idx, res["reasons"]):
            reasons[j] = list(rs)

    # zones touched (any restriction / hazard polygon), for problems and wishes alike
    zones: list = [[] for _ in range(len(gdf))]
    in_hazard = np.zeros(len(gdf), dtype=bool)
    if len(restr):
        ip, ir = restr.sindex.query(foot, predicate="intersects")
        rk = restr["kind"].to_numpy()
        rs = restr["subtype"].to_numpy() if "subtype" in restr else np.full(len(restr), None)
        rl = restr["level"].to_numpy() if "level" in restr else np.full(len(restr), None)
        seen: set = set()
        for p, r in zip(ip, ir):
            key = (p, rk[r], rs[r], rl[r])
            if key in seen:
                continue
            seen.add(key)
            zones[p].append({"kind": rk[r], "subtype": _none(rs[r]), "level": _none(rl[r])})
            if rk[r] == "hazard":
                in_hazard[p] = True
    flagged = np.isin(verdict.astype(str), ["prohibited", "conditional"]) | in_hazard
    zone_names = zoning.zoning_rules(ws).get("zones") or {}
    messages = []
    for i in range(len(gdf)):
        v = verdict[i]
        zone_txt = ", ".join(_zone_label(z, lang, zone_names) for z in zones[i]) or t("community.no_zones", lang)
        if v is not None:
            messages.append(t("community.check_wish", lang, title=gdf["title"].iat[i],
                              verdict=t(f"zoning.verdict.{v}", lang), zones=zone_txt))
        else:
            messages.append(t("community.check_zones", lang, title=gdf["title"].iat[i], zones=zone_txt))
    out = pd.DataFrame({"id": gdf["id"].to_numpy(), "title": gdf["title"].to_numpy(),
                        "category": gdf["category"].to_numpy(), "is_problem": gdf["is_problem"].to_numpy(),
                        "is_wish": gdf["is_wish"].to_numpy(), "activity": acts.to_numpy(),
                        "votes": gdf["votes"].to_numpy(), "verdict": pd.Series(verdict, dtype=object), "prohibited_share": share,
                        "reasons": reasons, "zones": zones, "flagged": flagged, "message": messages})
    return out


def _none(v):
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _t_or(key: str, lang: str, fallback: str) -> str:
    text = t(key, lang)
    return fallback if text == key else text


def _zone_label(z: dict, lang: str, zone_names: dict | None = None) -> str:
    parts = [_t_or(f"community.zone.{z['kind']}", lang, str(z["kind"]))]
    if z.get("subtype"):
        sub = str(z["subtype"])
        if z["kind"] == "hazard":
            parts.append(_t_or(f"zoning.hazard.{sub}", lang, sub))
        elif z["kind"] in ("water_protection_zone", "coastal_strip"):
            parts.append(_t_or(f"zoning.water.{sub}", lang, sub))
        elif z["kind"] == "protected_area":
            parts.append(_t_or(f"zoning.regime.{sub}", lang, sub))
        elif z["kind"] == "legal_zone":  # the zone's name from layers/zoning_rules.yaml, not its code
            names = ((zone_names or {}).get(sub) or {}).get("names") or {}
            parts.append(f"«{names.get(lang) or sub}»")
        else:
            parts.append(sub)
    if z.get("level"):
        lev = str(z["level"])
        parts.append(_t_or(f"zoning.level.{lev}", lang, lev))
    return " ".join(parts)


__all__ = ["counts", "participation", "problems", "wishes", "compare", "Comparison", "check_against_restrictions"]
