"""Candidate land of the allocation: candidate rules, the zoning restriction frame, the context layers."""
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

HA = 10_000.0


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
    settlements: gpd.GeoDataFrame | None = None    # the settlements layer (villages: name, households …)


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
    if restr is not None and restr.attrs:
        # the frame's provenance (attrs: layers, warnings) is not used by the allocation, and pandas
        # deep-copies attrs into every column and row selection of the frame (~1 000 per scenario)
        restr = restr.copy(deep=False)
        restr.attrs = {}
    return Context(crs=crs, settlement=settlement,
                   roads=shapely.union_all(np.asarray(roads.geometry.values)) if roads is not None else None,
                   water=layer("water_bodies"), hazards=hz, restrictions=restr,
                   dem_path=ws.dem_path if ws is not None else None, settlements=st)

