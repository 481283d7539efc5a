"""Restriction regimes and legal-zoning rules as data: loading, effect look-up, validation, saving.

Two rule files drive the zoning package:

* ``layers/restrictions.yaml`` — widths of water-protection zones and coastal strips (each with its
  legal source and a ``confirmed`` flag), the mapping of protected-area regimes, forest fund and hazard
  levels to rules, and for every rule the activities it ``prohibits`` and ``conditions``;
* ``layers/zoning_rules.yaml`` — legal zone types with ``permitted`` / ``conditional`` /
  ``prohibited`` uses, building parameters and plot-size limits.

Both are read with :func:`gis_planner.catalog.load_rules`, so a copy (or only the changed keys) in
``<workspace>/layers/`` overrides the default without code changes.

Examples
--------
>>> rules = restriction_rules()
>>> effect_of(rules, "coastal_strip", "housing")
'prohibited'
>>> effect_of(rules, "water_protection_zone", "livestock_farm")
'prohibited'
"""
from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..catalog import catalogue, load_rules, rule_paths, rules_version
from ..errors import GisPlannerError
from ..settings import LANGUAGES

RESTRICTIONS = "restrictions"
ZONING = "zoning_rules"
EFFECTS = ("prohibited", "conditional", "permitted")
KINDS = ("protected_area", "water_protection_zone", "coastal_strip", "forest_fund", "hazard", "legal_zone",
         "sanitary_zone", "infrastructure", "terrain")
DEFAULT_ZONES = ("residential", "mixed_centre", "production", "agricultural", "recreation", "green", "reserve")


def restriction_rules(ws: Any = None) -> dict:
    """``layers/restrictions.yaml`` merged with the workspace override (a fresh copy)."""
    return load_rules(RESTRICTIONS, ws)


def zoning_rules(ws: Any = None) -> dict:
    """``layers/zoning_rules.yaml`` merged with the workspace override; zones set to null are removed."""
    data = load_rules(ZONING, ws)
    zones = data.get("zones") or {}
    data["zones"] = {code: z for code, z in zones.items() if z is not None}
    return data


SOURCE_KEYS = ("legal_source", "source", "note")


def localized(value: Any, lang: str = "en") -> str | None:
    """A rule text in ``lang``: ``{ky, ru, en}`` mappings pick the language (English, then any, if it
    is missing); a plain string (e.g. a workspace override) is returned as it is.

    Examples
    --------
    >>> localized({"ky": "токтом", "ru": "постановление", "en": "decree"}, "ru")
    'постановление'
    >>> localized("Decree of the akimiat No. 5", "ky")
    'Decree of the akimiat No. 5'
    """
    if value is None:
        return None
    if isinstance(value, dict):
        text = value.get(lang) or value.get("en") or next((v for v in value.values() if v), None)
        return None if text is None else str(text)
    return str(value)


def source_translations(ws: Any = None, rules: dict | None = None, zrules: dict | None = None) -> dict:
    """``{English text: {ky, ru, en}}`` of every multilingual source / note of the two rule files.

    The restriction frame and the tables written to files carry the English text of a source (one
    column, stable across languages); :func:`localize_text` turns it into the screen language with this.
    """
    rules = restriction_rules(ws) if rules is None else rules
    zrules = zoning_rules(ws) if zrules is None else zrules
    out: dict[str, dict] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SOURCE_KEYS and isinstance(v, dict) and v.get("en"):
                    out.setdefault(str(v["en"]), v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(rules)
    walk(zrules)
    return out


def localize_text(text: Any, lang: str, translations: dict) -> str:
    """``text`` (the English form of a rule source) in ``lang``; a text with no translation unchanged."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    if isinstance(text, dict):
        return localized(text, lang) or ""
    entry = translations.get(str(text))
    return (localized(entry, lang) or str(text)) if entry else str(text)


def activity_codes(ws: Any = None) -> list[str]:
    return catalogue("activities", ws).codes


def check_use(use: str, ws: Any = None) -> str:
    """Validate an intended use (activity code or any name/alias); return its code."""
    cat = catalogue("activities", ws)
    code = cat.lookup(use)
    if code is None:
        raise GisPlannerError(f"unknown intended use '{use}'", file="layers/activities.yaml",
                              fix=f"use one of: {', '.join(cat.codes)}", code="unknown_activity")
    return code


def _listed(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def effect_of(rules: dict, rule_id: str, use: str) -> str | None:
    """Effect of restriction rule ``rule_id`` on activity ``use``: prohibited / conditional / None."""
    rule = (rules.get("rules") or {}).get(rule_id)
    if rule is None:
        return None
    prohibits = rule.get("prohibits")
    if prohibits == "all":
        if use not in _listed(rule.get("except")):
            return "prohibited"
    elif use in _listed(prohibits):
        return "prohibited"
    if use in _listed(rule.get("conditions")):
        return "conditional"
    return None


def zone_effect(zrules: dict, zone_code: str, use: str) -> str | None:
    """Effect of legal zone ``zone_code`` on ``use``: prohibited / conditional / permitted / None.

    A zone code missing from the rules gives None (reported by :func:`validate_legal_zones`).
    """
    zone = (zrules.get("zones") or {}).get(zone_code)
    if zone is None:
        return None
    if use in _listed(zone.get("prohibited")):
        return "prohibited"
    if use in _listed(zone.get("conditional")):
        return "conditional"
    if use in _listed(zone.get("permitted")):
        return "permitted"
    unlisted = zone.get("unlisted", zrules.get("unlisted", "conditional"))
    return unlisted if unlisted in EFFECTS else "conditional"


def rule_effects(ws: Any, use: str, rules: dict | None = None, zrules: dict | None = None) -> dict:
    """``{(kind, rule_id): effect}`` for every rule and zone, for one use (None where unaffected)."""
    rules = rules if rules is not None else restriction_rules(ws)
    zrules = zrules if zrules is not None else zoning_rules(ws)
    out = {}
    for rid, rule in (rules.get("rules") or {}).items():
        out[(rule.get("kind"), rid)] = effect_of(rules, rid, use)
    for code in zrules.get("zones") or {}:
        out[("legal_zone", code)] = zone_effect(zrules, code, use)
    return out


def rules_provenance(ws: Any = None) -> list[dict]:
    """Provenance of the two rule files (version, source, hash, overridden)."""
    return [rules_version(RESTRICTIONS, ws), rules_version(ZONING, ws)]


# ---------------------------------------------------------------------- validation
def _meta_problems(data: dict, f: str) -> list[str]:
    meta = data.get("meta")
    if not isinstance(meta, dict) or meta.get("version") is None or not meta.get("source"):
        return [f"{f}: `meta` needs `version` and `source`"]
    return []


def _language_problems(value: Any, where: str) -> list[str]:
    """A multilingual text needs every language (a plain string is accepted as it is)."""
    if isinstance(value, dict):
        return [f"{where}: no text in '{lang}'" for lang in LANGUAGES if not value.get(lang)]
    return []


def validate_restriction_rules(data: dict | None = None, ws: Any = None) -> list[str]:
    """Problems in a restriction-rules dict (default: the merged ``restrictions.yaml``); [] if valid."""
    data = restriction_rules(ws) if data is None else data
    acts = set(activity_codes(ws))
    problems: list[str] = []
    f = "layers/restrictions.yaml"
    problems += _meta_problems(data, f)
    rules = data.get("rules") or {}
    if not rules:
        problems.append(f"{f}: no `rules`")
    for rid, rule in rules.items():
        if not isinstance(rule, dict):
            problems.append(f"{f} [rules.{rid}]: must be a mapping")
            continue
        if rule.get("kind") not in KINDS:
            problems.append(f"{f} [rules.{rid}]: kind '{rule.get('kind')}' is not one of {', '.join(KINDS)}")
        if not rule.get("legal_source"):
            problems.append(f"{f} [rules.{rid}]: no `legal_source`")
        problems += _language_problems(rule.get("legal_source"), f"{f} [rules.{rid}.legal_source]")
        pro = rule.get("prohibits")
        lists = {"conditions": _listed(rule.get("conditions")), "except": _listed(rule.get("except"))}
        if pro != "all":
            lists["prohibits"] = _listed(pro)
        for key, values in lists.items():
            for a in values:
                if a not in acts:
                    problems.append(f"{f} [rules.{rid}.{key}]: unknown activity '{a}' "
                                    f"(known: {', '.join(sorted(acts))})")
        both = set(lists.get("prohibits", [])) & set(lists["conditions"])
        if both:
            problems.append(f"{f} [rules.{rid}]: {sorted(both)} both prohibited and conditional")
    for wtype, classes in (data.get("water_bodies") or {}).items():
        for cls, w in (classes or {}).items():
            where = f"{f} [water_bodies.{wtype}.{cls}]"
            if not isinstance(w, dict):
                problems.append(f"{where}: must be a mapping with zone_m, strip_m, source")
                continue
            for key in ("zone_m", "strip_m"):
                v = w.get(key)
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                    problems.append(f"{where}: `{key}` must be a non-negative number of metres")
            if isinstance(w.get("zone_m"), (int, float)) and isinstance(w.get("strip_m"), (int, float)) \
                    and w["strip_m"] > w["zone_m"]:
                problems.append(f"{where}: the coastal strip ({w['strip_m']} m) is wider than the zone ({w['zone_m']} m)")
            if not w.get("source"):
                problems.append(f"{where}: no legal `source` for the width")
            problems += _language_problems(w.get("source"), f"{where}.source")
    for key in ("water_protection_zone", "coastal_strip"):
        if key not in rules:
            problems.append(f"{f}: rule '{key}' is missing")
    pa = data.get("protected_areas") or {}
    for regime, rid in {**(pa.get("regimes") or {}), "default": pa.get("default")}.items():
        if rid not in rules:
            problems.append(f"{f} [protected_areas.{regime}]: rule '{rid}' is not defined in `rules`")
    ff = (data.get("forest_fund") or {}).get("rule")
    if ff and ff not in rules:
        problems.append(f"{f} [forest_fund.rule]: rule '{ff}' is not defined in `rules`")
    cap = (data.get("geometry") or {}).get("cap_style", "round")
    if cap not in ("round", "flat", "square"):
        problems.append(f"{f} [geometry.cap_style]: '{cap}' is not round, flat or square")
    return problems


def validate_zoning_rules(data: dict | None = None, ws: Any = None) -> list[str]:
    """Problems in a zoning-rules dict (default: the merged ``zoning_rules.yaml``); [] if valid.

    Examples
    --------
    >>> p = validate_zoning_rules({"meta": {"version": 1, "source": "x"},
    ...     "zones": {"z": {"names": {"ky": "a", "ru": "b", "en": "c"}, "permitted": ["flying"]}}})
    >>> "unknown activity 'flying'" in p[0]
    True
    """
    if data is None:
        data = zoning_rules(ws)
    acts = set(activity_codes(ws))
    problems: list[str] = []
    f = "layers/zoning_rules.yaml"
    problems += _meta_problems(data, f)
    problems += _language_problems(data.get("legal_source"), f"{f} [legal_source]")
    if data.get("unlisted", "conditional") not in EFFECTS:
        problems.append(f"{f} [unlisted]: must be one of {', '.join(EFFECTS)}")
    zones = data.get("zones")
    if not isinstance(zones, dict) or not zones:
        problems.append(f"{f}: no `zones`")
        zones = {}
    for code, zone in zones.items():
        where = f"{f} [zones.{code}]"
        if zone is None:
            continue
        if not isinstance(zone, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if not str(code).replace("_", "").isalnum() or not str(code).isascii():
            problems.append(f"{where}: a zone code must be latin letters, digits and _")
        names = zone.get("names") or {}
        for lang in LANGUAGES:
            if not names.get(lang):
                problems.append(f"{where}: no name in '{lang}'")
        seen: dict[str, str] = {}
        for key in ("permitted", "conditional", "prohibited"):
            for a in _listed(zone.get(key)):
                if a not in acts:
                    problems.append(f"{where}.{key}: unknown activity '{a}' "
                                    f"(known: {', '.join(sorted(acts))})")
                elif a in seen:
                    problems.append(f"{where}: '{a}' is both {seen[a]} and {key}")
                else:
                    seen[a] = key
        for key in ("max_floors", "max_height_m"):
            v = zone.get(key)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
                problems.append(f"{where}.{key}: must be a positive number")
        g = zone.get("min_green_share")
        if g is not None and (not isinstance(g, (int, float)) or not 0 <= g <= 1):
            problems.append(f"{where}.min_green_share: must be a share between 0 and 1")
        for a, lim in (zone.get("plot_size_ha") or {}).items():
            if a not in acts:
                problems.append(f"{where}.plot_size_ha: unknown activity '{a}'")
            lo, hi = (lim or {}).get("min"), (lim or {}).get("max")
            if lo is not None and hi is not None and lo > hi:
                problems.append(f"{where}.plot_size_ha.{a}: min {lo} > max {hi}")
    return problems


def _raise(problems: list[str], file: str) -> None:
    if problems:
        raise GisPlannerError("; ".join(problems), file=file, fix="correct the listed rules",
                              code="bad_rules", details={"problems": problems})


def _diff(default: Any, edited: Any) -> Any:
    """Minimal override of ``default`` that deep-merges to ``edited`` (removed zone keys -> None)."""
    if isinstance(default, dict) and isinstance(edited, dict):
        out = {}
        for k, v in edited.items():
            if k not in default:
                out[k] = copy.deepcopy(v)
            elif v != default[k]:
                out[k] = _diff(default[k], v)
        return out
    return copy.deepcopy(edited)


def save_zoning_rules(ws: Any, rules: dict) -> Path:
    """Validate an edited zoning-rules dict and save it as the workspace override.

    Only the differences from the default ``layers/zoning_rules.yaml`` are written to
    ``<workspace>/layers/zoning_rules.yaml`` (zones removed in the edit are written as ``null``), so
    later fixes of the default still reach the municipality. Raises :class:`GisPlannerError` naming
    every unknown activity or malformed zone; nothing is written then.

    Examples
    --------
    >>> r = zoning_rules(ws)                                   # doctest: +SKIP
    >>> r["zones"]["residential"]["max_floors"] = 4            # doctest: +SKIP
    >>> save_zoning_rules(ws, r)                               # doctest: +SKIP
    """
    _raise(validate_zoning_rules(rules, ws) + legal_zone_problems(ws, rules), "zoning rules (edited)")
    default_path, override_path = rule_paths(ZONING, ws)
    if override_path is None:
        raise GisPlannerError("no workspace given to save the rules in", fix="pass the workspace",
                              code="no_workspace")
    default = load_rules(ZONING, None)
    edited = copy.deepcopy(rules)
    dz, ez = default.get("zones") or {}, edited.setdefault("zones", {})
    for code in dz:
        if code not in ez:
            ez[code] = None
    override = _diff(default, edited)
    _atomic_yaml(override_path, override, header="# Zoning rules of this municipality: differences from "
                 "gis_planner's layers/zoning_rules.yaml (saved by the rule editor).\n")
    return override_path


def save_restriction_rules(ws: Any, rules: dict) -> Path:
    """Validate an edited restriction-rules dict and save its differences as the workspace override."""
    _raise(validate_restriction_rules(rules, ws), "restriction rules (edited)")
    _, override_path = rule_paths(RESTRICTIONS, ws)
    if override_path is None:
        raise GisPlannerError("no workspace given to save the rules in", fix="pass the workspace",
                              code="no_workspace")
    override = _diff(load_rules(RESTRICTIONS, None), rules)
    _atomic_yaml(override_path, override, header="# Restriction rules of this municipality: differences "
                 "from gis_planner's layers/restrictions.yaml.\n")
    return override_path


def _atomic_yaml(path: Path, data: dict, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(header)
            yaml.safe_dump(data, fh, allow_unicode=True, sort_keys=False, default_flow_style=None, width=110)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def legal_zone_problems(ws: Any, zrules: dict | None = None) -> list[str]:
    """Zone codes of the workspace ``legal_zones`` layer that the zoning rules do not define."""
    if ws is None or not hasattr(ws, "has_layer") or not ws.has_layer("legal_zones"):
        return []
    zones = (zrules if zrules is not None else zoning_rules(ws)).get("zones") or {}
    codes = ws.read_layer("legal_zones", columns=["zone_code"])["zone_code"]
    counts = codes.astype(object).map(lambda c: str(c).strip().lower() if c is not None else None).value_counts()
    return [f"legal_zones: {n} zone(s) with zone_code '{c}', which layers/zoning_rules.yaml does not define"
            for c, n in counts.items() if c not in zones]


def validate_rules(ws: Any = None, legal_zones: bool = True) -> None:
    """Validate both rule files (merged with the workspace overrides) and, with ``legal_zones``, the
    zone codes of the workspace's legal zones. Raises one :class:`GisPlannerError` listing every problem.
    """
    from .category import validate_category_rules

    _raise(validate_restriction_rules(None, ws) + validate_zoning_rules(None, ws) + validate_category_rules(None, ws)
           + (legal_zone_problems(ws) if legal_zones else []), "layers/")


def validate_rules_file(path: str | os.PathLike, ws: Any = None) -> list[str]:
    """Problems of a rule file (``restrictions.yaml`` or ``zoning_rules.yaml``, full or a partial override).

    The file is deep-merged over the default as a workspace override would be, then validated.
    """
    from ..catalog import _read_yaml, deep_merge

    path = Path(path)
    kind = path.stem
    if kind not in (RESTRICTIONS, ZONING, "category_uses"):
        return [f"{path.name}: not a zoning rule file (expected {RESTRICTIONS}.yaml, {ZONING}.yaml or "
                "category_uses.yaml)"]
    merged = deep_merge(load_rules(kind, None), _read_yaml(path))
    if kind == "category_uses":
        from .category import validate_category_rules

        return validate_category_rules(merged, ws)
    if kind == ZONING:
        merged["zones"] = {c: z for c, z in (merged.get("zones") or {}).items() if z is not None}
        return validate_zoning_rules(merged, ws)
    return validate_restriction_rules(merged, ws)


# ---------------------------------------------------------------------- tables for reports and the app
def _labels(cat, codes, lang: str) -> str:
    return ", ".join(cat.label(c, lang) for c in _listed(codes))


def _t_or_none(key: str, lang: str) -> str | None:
    from ..i18n import t

    text = t(key, lang)
    return None if text == key else text


def regime_table(ws: Any = None, lang: str = "ky") -> "pd.DataFrame":
    """One row per restriction rule: kind, what it prohibits and conditions (labels), legal source.

    Examples
    --------
    >>> regime_table(lang="en").set_index("rule_id").loc["coastal_strip", "kind"]
    'Coastal strip'
    """
    import pandas as pd

    from ..i18n import check_lang, t

    lang = check_lang(lang)
    rules = restriction_rules(ws)
    acts = catalogue("activities", ws)
    rows = []
    for rid, rule in (rules.get("rules") or {}).items():
        pro = rule.get("prohibits")
        if pro == "all":
            pro = [a for a in acts.codes if a not in _listed(rule.get("except"))]
        rows.append({"rule_id": rid, "kind": t(f"zoning.kind.{rule.get('kind')}", lang),
                     "prohibited": _labels(acts, pro, lang), "conditional": _labels(acts, rule.get("conditions"), lang),
                     "legal_source": localized(rule.get("legal_source"), lang),
                     "note": _t_or_none(f"zoning.note.{rid}", lang) or localized(rule.get("note"), lang)})
    return pd.DataFrame(rows)


def width_table(ws: Any = None, lang: str = "ky") -> "pd.DataFrame":
    """Water-protection zone and coastal-strip widths by water type and size class, with sources."""
    import pandas as pd

    from ..i18n import check_lang, t

    lang = check_lang(lang)
    rows = []
    for wtype, classes in (restriction_rules(ws).get("water_bodies") or {}).items():
        for cls, w in (classes or {}).items():
            key = f"zoning.water.{wtype}"
            name = t(key, lang)
            rows.append({"water_type": wtype, "water_type_label": wtype if name == key else name,
                         "size_class": cls, "zone_m": w.get("zone_m"), "strip_m": w.get("strip_m"),
                         "confirmed": bool(w.get("confirmed", False)), "source": localized(w.get("source"), lang)})
    return pd.DataFrame(rows)


def zoning_table(ws: Any = None, lang: str = "ky") -> "pd.DataFrame":
    """One row per legal zone type: name, permitted / conditional / prohibited uses, parameters."""
    import pandas as pd

    from ..i18n import check_lang

    lang = check_lang(lang)
    z = zoning_rules(ws)
    acts = catalogue("activities", ws)
    rows = []
    for code, zone in (z.get("zones") or {}).items():
        sizes = "; ".join(f"{acts.label(a, lang)}: {lim.get('min', '–')}–{lim.get('max', '–')}"
                          for a, lim in (zone.get("plot_size_ha") or {}).items())
        rows.append({"zone_code": code, "name": (zone.get("names") or {}).get(lang) or code,
                     "permitted": _labels(acts, zone.get("permitted"), lang),
                     "conditional": _labels(acts, zone.get("conditional"), lang),
                     "prohibited": _labels(acts, zone.get("prohibited"), lang),
                     "max_floors": zone.get("max_floors"), "max_height_m": zone.get("max_height_m"),
                     "min_green_share": zone.get("min_green_share"), "plot_size_ha": sizes})
    return pd.DataFrame(rows)
