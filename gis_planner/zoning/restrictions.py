"""The restriction frame: restriction polygons derived from the workspace layers by the rules.

:func:`build_restrictions` returns one row per restriction polygon in the workspace CRS with the
columns of the contract in ``docs/data-model.md`` (``kind``, ``subtype``, ``level``, ``rule_id``,
``legal_source``, ``source_layer``, ``source_fid``) plus ``name``, ``width_m`` and ``confirmed``.
``legal_source`` is the English text of a multilingual source (``{ky, ru, en}`` in the rule files; a
plain-string source is kept as written): screens and messages show it in the user's language with
:func:`gis_planner.zoning.rules.localize_text`.


* ``water_protection_zone`` and ``coastal_strip`` — buffers of ``water_bodies`` by ``water_type`` /
  ``size_class`` with the widths of ``layers/restrictions.yaml`` (lines and points buffered around,
  polygons buffered *outward from the shore*: the water surface itself is not part of the zone);
  buffers are round-capped by default (a straight river of length L with width w gives
  2·w·L + π·w²), see ``geometry`` in the rule file;
* ``protected_area`` — ``protected_areas`` by regime (core: full ban, buffer: partial);
* ``forest_fund`` — parcels of the forest-fund category;
* ``hazard`` — hazard zones by type and level (``gis_planner.hazards.effective_hazard_zones`` when that
  module is present, else the ``hazard_zones`` layer, the official zone governing where an official and
  a computed zone of the same hazard type overlap);
* ``legal_zone`` — the ``legal_zones`` layer, through ``layers/zoning_rules.yaml``;
* ``sanitary_zone``, ``infrastructure``, ``terrain`` — land never candidate for building
  (:mod:`gis_planner.zoning.exclusions`).

Examples
--------
>>> r = build_restrictions(ws)                                  # doctest: +SKIP
>>> r.groupby("kind").geometry.count()                          # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..catalog import catalogue
from ..text import normalize_key
from ..errors import GisPlannerError
from ..catalog import rules_version
from .exclusions import exclusion_frames
from .rules import localized, restriction_rules, rules_provenance, zoning_rules

COLUMNS = ["kind", "subtype", "level", "rule_id", "legal_source", "source_layer", "source_fid",
           "name", "width_m", "confirmed"]

_CACHE: dict = {}
_LOG = logging.getLogger(__name__)
_CAPS = {"round": "round", "flat": "flat", "square": "square"}


def read_layer_fid(ws, name: str, columns=None) -> gpd.GeoDataFrame | None:
    """Read a workspace layer with the GeoPackage feature id as the index (``fid``), or None if absent."""
    if not ws.has_layer(name):
        return None
    kwargs: dict[str, Any] = {"layer": name, "fid_as_index": True, "use_arrow": True}
    if columns is not None:
        kwargs["columns"] = list(columns)
    df = pyogrio.read_dataframe(ws.gpkg, **kwargs)
    df.index.name = "fid"
    if isinstance(df, gpd.GeoDataFrame) and len(df):
        geoms = df.geometry.values
        bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
        if bad.any():
            df = df.copy()
            fixed = shapely.make_valid(np.asarray(geoms[bad]))
            df.loc[bad, df.geometry.name] = _polygonal(fixed) if name != "water_bodies" else fixed
    return df


def polygonal_part(g):
    """The polygonal part of an overlay result or repaired geometry (drops lines and points)."""
    if g is None or g.is_empty:
        return shapely.MultiPolygon()
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(shapely.get_parts(g)) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    return np.array([polygonal_part(g) for g in geoms], dtype=object)


def lookup_many(cat, values: pd.Series) -> pd.Series:
    """Catalogue codes for a column, looking each distinct value up once."""
    uniq = pd.unique(values.astype(object))
    lut = {v: cat.lookup(v) for v in uniq}
    return values.astype(object).map(lut)


def _norm(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    s = str(value).strip().lower()
    return s or None


def _empty(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in COLUMNS},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _frame(records: dict, geoms, crs) -> gpd.GeoDataFrame:
    df = gpd.GeoDataFrame({c: records.get(c, [None] * len(geoms)) for c in COLUMNS},
                          geometry=list(geoms), crs=crs)
    return df


def _alias(rules: dict, section: str, value) -> str | None:
    """Code for a water type / size class given in any listed spelling (``<section>`` of the rules)."""
    v = _norm(value)
    if v is None:
        return None
    key = normalize_key(v)
    for code, names in (rules.get(section) or {}).items():
        if key == normalize_key(code) or key in {normalize_key(n) for n in names or []}:
            return code
    return v


def water_width(rules: dict, water_type, size_class) -> dict | None:
    """Width entry (zone_m, strip_m, source, confirmed) for a water body, or None if its type has none."""
    classes = (rules.get("water_bodies") or {}).get(_alias(rules, "water_type_aliases", water_type) or "")
    if not classes:
        return None
    size = _alias(rules, "size_class_aliases", size_class)
    return classes.get(size) if size in classes else classes.get("default")


def buffer_style(rules: dict) -> dict:
    g = rules.get("geometry") or {}
    return {"cap_style": _CAPS.get(g.get("cap_style", "round"), "round"),
            "join_style": g.get("join_style", "round"), "quad_segs": int(g.get("quad_segs", 64))}


def water_zones(water: gpd.GeoDataFrame, rules: dict, crs) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Water-protection zones and coastal strips of ``water`` (vectorised buffers)."""
    warn: list[str] = []
    if water is None or water.empty:
        return _empty(crs), warn
    wt = water.get("water_type", pd.Series([None] * len(water), index=water.index))
    sc = water.get("size_class", pd.Series([None] * len(water), index=water.index))
    names = water.get("name", pd.Series([None] * len(water), index=water.index))
    entries = [water_width(rules, t, s) for t, s in zip(wt, sc)]
    missing = sorted({str(t) for t, e in zip(wt, entries) if e is None})
    if missing:
        warn.append(f"water types without a width in layers/restrictions.yaml: {', '.join(missing)}")
    keep = np.array([e is not None for e in entries]) & ~water.geometry.isna().to_numpy()
    if not keep.any():
        return _empty(crs), warn
    geoms = np.asarray(water.geometry.values)[keep]
    ents = [e for e, k in zip(entries, keep) if k]
    fids = water.index.to_numpy()[keep]
    types = [_alias(rules, "water_type_aliases", t) for t, k in zip(wt, keep) if k]
    nms = [n for n, k in zip(names, keep) if k]
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    style = buffer_style(rules)
    frames = []
    for kind, key in (("water_protection_zone", "zone_m"), ("coastal_strip", "strip_m")):
        widths = np.array([float(e.get(key) or 0) for e in ents])
        ok = widths > 0
        buf = shapely.buffer(geoms, widths, **style)
        outer = buf.copy()
        if polygonal.any():
            outer[polygonal] = shapely.difference(buf[polygonal], geoms[polygonal])
        outer = outer[ok]
        idx = np.flatnonzero(ok)
        frames.append(_frame({
            "kind": [kind] * len(idx), "subtype": [types[i] for i in idx], "level": [None] * len(idx),
            "rule_id": [kind] * len(idx), "legal_source": [localized(ents[i].get("source")) for i in idx],
            "source_layer": ["water_bodies"] * len(idx), "source_fid": [int(fids[i]) for i in idx],
            "name": [nms[i] for i in idx], "width_m": widths[ok].tolist(),
            "confirmed": [bool(ents[i].get("confirmed", False)) for i in idx]}, outer, crs))
    return pd.concat(frames, ignore_index=True), warn


def protected_zones(pa: gpd.GeoDataFrame, rules: dict, crs) -> gpd.GeoDataFrame:
    if pa is None or pa.empty:
        return _empty(crs)
    cfg = rules.get("protected_areas") or {}
    regimes = cfg.get("regimes") or {}
    default = cfg.get("default", "protected_core")
    rr = rules.get("rules") or {}
    reg = pa.get("regime", pd.Series([None] * len(pa), index=pa.index)).map(_norm)
    rule_ids = [regimes.get(r, default) if r else default for r in reg]
    subtypes = [r if r else rid.replace("protected_", "") for r, rid in zip(reg, rule_ids)]
    return _frame({"kind": ["protected_area"] * len(pa), "subtype": subtypes, "rule_id": rule_ids,
                   "legal_source": [localized((rr.get(r) or {}).get("legal_source")) for r in rule_ids],
                   "source_layer": ["protected_areas"] * len(pa), "source_fid": [int(i) for i in pa.index],
                   "name": list(pa.get("name", [None] * len(pa))), "confirmed": [True] * len(pa)},
                  pa.geometry.values, crs)


def forest_zones(parcels: gpd.GeoDataFrame, rules: dict, crs, ws=None) -> gpd.GeoDataFrame:
    if parcels is None or parcels.empty or "category" not in parcels:
        return _empty(crs)
    cfg = rules.get("forest_fund") or {}
    cats = set(cfg.get("categories") or ["forest_fund"])
    rid = cfg.get("rule", "forest_fund")
    cat = catalogue("land_categories", ws)
    codes = lookup_many(cat, parcels["category"])
    sel = parcels[codes.isin(cats).to_numpy()]
    if sel.empty:
        return _empty(crs)
    src = localized(((rules.get("rules") or {}).get(rid) or {}).get("legal_source"))
    return _frame({"kind": ["forest_fund"] * len(sel), "subtype": ["forest_fund"] * len(sel),
                   "rule_id": [rid] * len(sel), "legal_source": [src] * len(sel),
                   "source_layer": ["parcels"] * len(sel), "source_fid": [int(i) for i in sel.index],
                   "name": list(sel.get("cadastral_no", [None] * len(sel))), "confirmed": [True] * len(sel)},
                  sel.geometry.values, crs)


def _official_governs(hz: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Where an official and a computed zone of one hazard type overlap, keep the official one only."""
    method = hz.get("method", pd.Series([None] * len(hz), index=hz.index)).map(_norm)
    official = (method == "official").to_numpy()
    if not official.any() or official.all():
        return hz
    out = hz.copy()
    types = out["hazard_type"].map(_norm).to_numpy()
    geoms = np.asarray(out.geometry.values).copy()
    for t in set(types[official]):
        off_union = shapely.union_all(geoms[official & (types == t)])
        comp = ~official & (types == t)
        if comp.any():
            geoms[comp] = shapely.difference(geoms[comp], off_union)
    out = out.set_geometry(list(geoms), crs=hz.crs)
    return out[~out.geometry.is_empty]


def hazard_frame(ws) -> gpd.GeoDataFrame | None:
    """Hazard zones to use: ``gis_planner.hazards.effective_hazard_zones(ws)`` if available, else the layer."""
    try:
        mod = importlib.import_module("gis_planner.hazards")
    except ImportError:
        mod = None
    fn = getattr(mod, "effective_hazard_zones", None) if mod is not None else None
    if fn is not None:
        hz = fn(ws)
        if hz is not None and "fid" in getattr(hz, "columns", []):
            hz = hz.set_index("fid")
            hz.attrs["fid_index"] = True
        elif hz is not None:
            hz.attrs["fid_index"] = False  # rows not traceable to hazard_zones fids: source_fid stays null
        return hz
    hz = read_layer_fid(ws, "hazard_zones")
    if hz is None or hz.empty:
        return hz
    return _official_governs(hz)


def hazard_zones(hz: gpd.GeoDataFrame, rules: dict, crs) -> tuple[gpd.GeoDataFrame, list[str]]:
    warn: list[str] = []
    if hz is None or hz.empty:
        return _empty(crs), warn
    rr = rules.get("rules") or {}
    types = hz.get("hazard_type", pd.Series([None] * len(hz), index=hz.index)).map(_norm).tolist()
    levels = hz.get("level", pd.Series([None] * len(hz), index=hz.index)).map(_norm).tolist()
    basis = hz.get("basis", pd.Series([None] * len(hz), index=hz.index)).astype(str).tolist()
    rule_ids = []
    for t, lv, b in zip(types, levels, basis):
        rid = f"hazard_{t}_{lv}" if f"hazard_{t}_{lv}" in rr else f"hazard_{lv}"
        if b == "screening":  # a DEM too coarse for the model: a site survey, never a prohibition
            rid = f"hazard_screening_{lv}"
        rule_ids.append(rid if rid in rr else None)
    bad = sorted({f"{t}/{lv}" for t, lv, r in zip(types, levels, rule_ids) if r is None})
    if bad:
        warn.append(f"hazard zones without a rule in layers/restrictions.yaml: {', '.join(bad)}")
    keep = np.array([r is not None for r in rule_ids])
    srcs = hz.get("source", pd.Series([None] * len(hz), index=hz.index)).tolist()
    idx = np.flatnonzero(keep)
    fids: list = [None] * len(hz)
    if hz.attrs.get("fid_index", True):
        try:
            fids = [int(i) for i in hz.index]
        except (TypeError, ValueError):
            pass
    return _frame({"kind": ["hazard"] * len(idx), "subtype": [types[i] for i in idx],
                   "level": [levels[i] for i in idx], "rule_id": [rule_ids[i] for i in idx],
                   "legal_source": [localized(rr[rule_ids[i]].get("legal_source")) for i in idx],
                   "source_layer": ["hazard_zones"] * len(idx), "source_fid": [fids[i] for i in idx],
                   "name": [srcs[i] for i in idx], "confirmed": [True] * len(idx)},
                  np.asarray(hz.geometry.values)[keep], crs), warn


def legal_zone_frame(lz: gpd.GeoDataFrame, zrules: dict, crs) -> tuple[gpd.GeoDataFrame, list[str]]:
    warn: list[str] = []
    if lz is None or lz.empty:
        return _empty(crs), warn
    if "zone_code" not in lz:
        raise GisPlannerError("layer 'legal_zones' has no zone_code field", file="workspace.gpkg",
                              feature="legal_zones", fix="re-import it with a zone_code column",
                              code="missing_field")
    zones = zrules.get("zones") or {}
    codes = lz["zone_code"].map(_norm).tolist()
    unknown = sorted({str(c) for c in codes if c not in zones})
    if unknown:
        warn.append(f"legal zones with codes not in layers/zoning_rules.yaml: {', '.join(unknown)}")
    # a zone's own source, else the rule set's legal source, else the file's provenance source
    src = localized(zrules.get("legal_source")) or (zrules.get("meta") or {}).get("source")
    return _frame({"kind": ["legal_zone"] * len(lz), "subtype": codes, "rule_id": codes,
                   "legal_source": [localized((zones.get(c) or {}).get("source")) or src for c in codes],
                   "source_layer": ["legal_zones"] * len(lz), "source_fid": [int(i) for i in lz.index],
                   "name": list(lz.get("name", [None] * len(lz))), "confirmed": [True] * len(lz)},
                  lz.geometry.values, crs), warn


def build_restrictions(ws, rules: dict | None = None) -> gpd.GeoDataFrame:
    """Derive the restriction frame of a workspace (see module docstring and docs/data-model.md).

    Parameters
    ----------
    ws : Workspace
    rules : dict, optional
        A restriction-rules dict to use instead of ``layers/restrictions.yaml`` (+ workspace override),
        e.g. an edit not yet saved.

    Returns
    -------
    GeoDataFrame
        Columns ``kind, subtype, level, rule_id, legal_source, source_layer, source_fid, name, width_m,
        confirmed, geometry`` in the workspace CRS; ``attrs["warnings"]`` lists what was skipped
        (water types without widths, unknown zone codes …). Cached per workspace version and rule files.

    Examples
    --------
    >>> r = build_restrictions(ws)                                        # doctest: +SKIP
    >>> r[r.kind == "coastal_strip"].area.sum() / 1e4                     # doctest: +SKIP
    """
    key = None
    if rules is None:
        key = (str(ws.gpkg), ws.version, tuple(p["sha256"] for p in rules_provenance(ws)),
               rules_version("scenario_norms", ws)["sha256"], str(getattr(ws, "dem_path", None)))
        hit = _CACHE.get(key)
        if hit is not None:
            out = hit.copy()
            out.attrs = dict(hit.attrs)
            return out
        rules = restriction_rules(ws)
    zrules = zoning_rules(ws)
    crs = ws.crs
    water = read_layer_fid(ws, "water_bodies")
    pa = read_layer_fid(ws, "protected_areas")
    parcels = read_layer_fid(ws, "parcels", columns=["category", "cadastral_no"])
    lz = read_layer_fid(ws, "legal_zones")
    hz = hazard_frame(ws)
    if crs is None:
        for f in (parcels, water, pa, lz, hz):
            if f is not None and f.crs is not None:
                crs = f.crs
                break
    warn: list[str] = []
    w, w1 = water_zones(water, rules, crs)
    h, w2 = hazard_zones(hz, rules, crs)
    z, w3 = legal_zone_frame(lz, zrules, crs)
    warn += w1 + w2 + w3
    parts = [w, protected_zones(pa, rules, crs), forest_zones(parcels, rules, crs, ws), h, z]
    # sanitary zones, infrastructure land and unsuitable terrain (gis_planner.zoning.exclusions)
    memo = {"water_bodies": water}

    def read(ws_, name):
        if name not in memo:
            memo[name] = read_layer_fid(ws_, name)
        return memo[name]

    ex, w4 = exclusion_frames(ws, rules, crs, read, COLUMNS)
    warn += w4
    parts += ex
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else _empty(crs)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
    out = out[~(out.geometry.isna() | out.geometry.is_empty)].reset_index(drop=True)
    out["width_m"] = pd.to_numeric(out["width_m"], errors="coerce")
    out.attrs["warnings"] = warn
    out.attrs["layers"] = layer_provenance(ws)
    for msg in warn:
        _LOG.warning(msg)
    if key is not None:
        _CACHE.clear()
        _CACHE[key] = out.copy()
        _CACHE[key].attrs = dict(out.attrs)
    return out


SOURCE_LAYERS = ("water_bodies", "protected_areas", "parcels", "hazard_zones", "legal_zones", "waste_sites", "roads",
                 "settlements")


def layer_provenance(ws, layers=SOURCE_LAYERS) -> list[dict]:
    """Source and date of the workspace layers the restrictions come from (for output tables)."""
    if ws is None or not hasattr(ws, "provenance"):
        return []
    rows = {r["layer"]: r for r in ws.provenance()}
    return [{k: rows[name].get(k) for k in ("layer", "source", "source_date", "original_file")}
            for name in layers if name in rows]


def write_restrictions(ws, restrictions: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Build (or take) the restriction frame and store it as the workspace layer ``restrictions``."""
    r = build_restrictions(ws) if restrictions is None else restrictions
    ws.write_layer("restrictions", r, source="derived by gis_planner.zoning.build_restrictions",
                   notes={"layers": layer_provenance(ws), "rules": rules_provenance(ws),
                          "warnings": r.attrs.get("warnings", [])})
    return r
