"""The land-category step of a parcel verdict: may this category (and land type) carry the use, and if
not, which transformation does it need, who decides, on which legal ground?

The table is data, ``layers/category_uses.yaml`` (a workspace copy overrides any key):

* ``categories.<code>.allows`` — the uses a category allows without a transformation; on agricultural
  land ``land_types.<type>.allows`` narrows it (irrigated arable land and pastures keep their type);
* ``home.<use>`` — the category a use belongs to (the target of the transformation);
* ``transformations`` — rows matched in order on ``from`` category (and ``land_type``): the verdict
  (``conditional``: possible by the five-step procedure; ``prohibited``: barred, e.g. the moratorium on
  irrigated arable land), ``exceptional``, use ``exceptions``, the bodies that decide and the source.

:func:`category_step` answers for one (use, category, land type); :func:`category_steps` for a frame of
parcels (one look-up per distinct pair); :func:`category_reason` turns a step into a reason of the
parcel check (kind ``land_category``), which :func:`gis_planner.zoning.check.check` combines with the
restriction and zone reasons (the strictest wins: prohibited > conditional > allowed).

Examples
--------
>>> s = category_step("housing", "agricultural", "pasture")
>>> s["effect"], s["to_category"], s["decided_by"][-1], s["exceptional"]
('conditional', 'settlement', 'cabinet', True)
>>> category_step("housing", "agricultural", "irrigated")["effect"]
'prohibited'
>>> category_step("housing", "settlement", None)["effect"] is None
True
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..catalog import catalogue, load_rules, rules_version
from ..errors import GisPlannerError
from ..i18n import check_lang, label, t
from ..settings import LANGUAGES
from .rules import activity_codes, localized

RULES = "category_uses"
FILE = f"layers/{RULES}.yaml"
SEVERITY = {"allowed": 0, "conditional": 1, "prohibited": 2}


def category_rules(ws: Any = None) -> dict:
    """``layers/category_uses.yaml`` merged with the workspace override (a fresh copy)."""
    return load_rules(RULES, ws)


def category_provenance(ws: Any = None) -> dict:
    return rules_version(RULES, ws)


def _code(value: Any, cat) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if not text:
        return None
    return cat.lookup(text) or text


def _listed(v: Any) -> list:
    return [] if v is None else ([v] if isinstance(v, str) else list(v))


def category_step(use: str, category: str | None, land_type: str | None = None, *, target: str | None = None,
                  rules: dict | None = None, ws: Any = None) -> dict:
    """The category step for ``use`` on land of ``category`` / ``land_type`` (codes).

    Returns a dict: ``effect`` (None when the category allows the use, else ``conditional`` or
    ``prohibited``), ``rule_id`` (the matched transformation row, ``allowed`` or ``unknown_category``),
    ``from_category``, ``land_type``, ``to_category`` (the use's home category, or ``target``),
    ``type_change`` (same category, another land type), ``exceptional``, ``exception`` (a use the law
    exempts), ``decided_by`` (body codes), ``legal_source`` (``{ky, ru, en}``), ``note``, ``confirmed``.

    With ``target`` (the transformation list) the step is the move to that category whatever the use.
    """
    rules = category_rules(ws) if rules is None else rules
    cats = rules.get("categories") or {}
    base = {"use": use, "from_category": category, "land_type": land_type, "to_category": None,
            "type_change": False, "exceptional": False, "exception": False, "decided_by": [],
            "legal_source": None, "note": None, "confirmed": True}
    if category is None or category not in cats:
        # nothing recorded (or a code the table does not know): the step cannot be checked, say so
        return {**base, "effect": "conditional", "rule_id": "unknown_category",
                "legal_source": (rules.get("meta") or {}).get("source"), "confirmed": False}
    entry = cats[category] or {}
    allows = set(_listed(entry.get("allows")))
    lt = (entry.get("land_types") or {}).get(land_type) if land_type else None
    if lt is not None and "allows" in lt:
        allows = set(_listed(lt.get("allows")))
    home = target or (rules.get("home") or {}).get(use)
    if target is None and use in allows:
        return {**base, "effect": None, "rule_id": "allowed", "to_category": category,
                "legal_source": entry.get("source"), "confirmed": not entry.get("confirm", False)}
    if target is not None and target == category:
        return {**base, "effect": None, "rule_id": "allowed", "to_category": category,
                "legal_source": entry.get("source"), "confirmed": not entry.get("confirm", False)}
    row = next((r for r in rules.get("transformations") or []
                if r.get("from") in (None, category) and (r.get("land_type") in (None, land_type))), None)
    if row is None:
        raise GisPlannerError(f"no transformation row matches category '{category}'", file=FILE,
                              feature=category, fix="add a row without `from` as the last one (the default)",
                              code="bad_rules")
    out = {**base, "rule_id": row.get("id") or category, "to_category": home or category,
           "type_change": (home or category) == category, "effect": row.get("verdict", "conditional"),
           "exceptional": bool(row.get("exceptional", False)), "decided_by": _listed(row.get("decided_by")),
           "legal_source": row.get("source"), "note": row.get("note"), "confirmed": not row.get("confirm", False)}
    exc = row.get("exceptions") or {}
    if use in _listed(exc.get("uses")):
        out.update({"effect": exc.get("verdict", "conditional"), "exception": True,
                    "exceptional": bool(exc.get("exceptional", out["exceptional"])),
                    "decided_by": _listed(exc.get("decided_by")) or out["decided_by"],
                    "legal_source": exc.get("source") or out["legal_source"]})
    return out


def category_steps(ws: Any, use: str, categories, land_types=None, *, target: str | None = None) -> list[dict]:
    """:func:`category_step` for many parcels (raw category / land type values, matched to codes)."""
    rules = category_rules(ws)
    ccat, tcat = catalogue("land_categories", ws), catalogue("land_types", ws)
    cats = list(categories)
    lts = list(land_types) if land_types is not None else [None] * len(cats)
    memo: dict = {}
    out = []
    for c, lt in zip(cats, lts):
        key = (_code(c, ccat), _code(lt, tcat))
        if key not in memo:
            memo[key] = category_step(use, key[0], key[1], target=target, rules=rules)
        out.append(dict(memo[key]))
    return out


def source_en(value: Any) -> str | None:
    return localized(value, "en")


def category_label(category: str | None, land_type: str | None, lang: str) -> str:
    """``Agricultural land (Pastures)`` in ``lang``; a code the catalogue does not know stays as it is."""
    if category is None:
        return t("zoning.category.none", lang)
    text = label("land_categories", category, lang) or category
    if land_type:
        text = f"{text} ({label('land_types', land_type, lang) or land_type})"
    return text


def bodies_text(codes: list[str], lang: str) -> str:
    return ", ".join(t(f"zoning.body.{c}", lang) for c in codes)


def step_message(step: dict, use: str, lang: str) -> str:
    """The sentence of a category step in ``lang`` (verdict, from → to, who decides, legal source)."""
    use_l = (label("activities", use, lang) if use else
             t("zoning.category.purpose", lang, category=label("land_categories", step.get("to_category"), lang)))
    frm = category_label(step["from_category"], step.get("land_type"), lang)
    source = localized(step.get("legal_source"), lang) or ""
    if step["rule_id"] == "unknown_category":
        msg = t("zoning.category.unknown", lang, use=use_l, source=source)
    elif step["effect"] is None:
        msg = t("zoning.category.allowed", lang, category=frm, use=use_l, source=source)
    else:
        to = (t("zoning.category.other_type", lang, category=label("land_categories", step["to_category"], lang))
              if step["type_change"] else label("land_categories", step["to_category"], lang))
        key = "zoning.category.prohibited" if step["effect"] == "prohibited" else (
            "zoning.category.exceptional" if step["exceptional"] else "zoning.category.conditional")
        msg = t(key, lang, use=use_l, frm=frm, to=to, bodies=bodies_text(step["decided_by"], lang), source=source)
        if step.get("exception"):
            msg = f"{msg} {t('zoning.category.exception', lang)}"
    note = localized(step.get("note"), lang)
    if note:
        msg = f"{msg} ({note})"
    if not step.get("confirmed", True):
        msg = f"{msg} ({t('zoning.category.confirm', lang)})"
    return msg


def procedure_lines(step: dict, lang: str, ws: Any = None) -> list[str]:
    """The five procedure steps of the transformation (labels of ``zoning.step.*``), the deciding bodies
    after step 4; empty when no transformation is needed or it is barred."""
    if step["effect"] != "conditional" or step["rule_id"] == "unknown_category":
        return []
    from .rules import zoning_rules

    steps = list(((zoning_rules(ws).get("transformation") or {}).get("steps")) or [])
    out = []
    for s in steps:
        line = t(f"zoning.step.{s}", lang)
        agree = [b for b in step["decided_by"] if b != "ayil_kenesh"]   # the council is step 3
        if s == "state_agreement" and agree:
            line = t("zoning.category.step_bodies", lang, step=line, bodies=bodies_text(agree, lang))
        out.append(line)
    return out


def category_reason(step: dict, use: str, lang: str, *, area_ha: float, share: float = 1.0, ws: Any = None) -> dict:
    """A reason of the parcel check (kind ``land_category``) for a step that limits the use."""
    return {"kind": "land_category", "rule_id": f"category.{step['rule_id']}", "subtype": step["from_category"],
            "level": step.get("land_type"), "effect": step["effect"], "share": float(share), "area_ha": float(area_ha),
            "legal_source": source_en(step.get("legal_source")), "width_m": None, "confirmed": step["confirmed"],
            "from_category": step["from_category"], "land_type": step.get("land_type"),
            "to_category": step["to_category"], "type_change": step["type_change"],
            "exceptional": step["exceptional"], "decided_by": list(step["decided_by"]),
            "source_text": step.get("legal_source_text") or localized(step.get("legal_source"), lang) or "",
            "message": step.get("message") or step_message(step, use, lang),
            "procedure": step.get("procedure") if "procedure" in step else procedure_lines(step, lang, ws)}


def strictest(*verdicts: str) -> str:
    """The strictest of verdicts (prohibited > conditional > allowed); ``permitted``/None count as allowed."""
    best = "allowed"
    for v in verdicts:
        v = "allowed" if v in (None, "permitted") else v
        if SEVERITY[v] > SEVERITY[best]:
            best = v
    return best


def validate_category_rules(data: dict | None = None, ws: Any = None) -> list[str]:
    """Problems of the category table (default: the merged file); [] if valid."""
    data = category_rules(ws) if data is None else data
    acts = set(activity_codes(ws))
    cat_codes = set(catalogue("land_categories", ws).codes)
    lt_codes = set(catalogue("land_types", ws).codes)
    bodies = set(_listed(data.get("bodies")))
    problems: list[str] = []
    meta = data.get("meta") or {}
    if meta.get("version") is None or not meta.get("source"):
        problems.append(f"{FILE}: `meta` needs `version` and `source`")
    cats = data.get("categories") or {}
    for c in cat_codes - set(cats):
        problems.append(f"{FILE} [categories]: category '{c}' is missing")
    for c, entry in cats.items():
        where = f"{FILE} [categories.{c}]"
        if c not in cat_codes:
            problems.append(f"{where}: unknown land category")
        entry = entry or {}
        for a in _listed(entry.get("allows")):
            if a not in acts:
                problems.append(f"{where}.allows: unknown activity '{a}'")
        for lt, sub in (entry.get("land_types") or {}).items():
            if lt not in lt_codes:
                problems.append(f"{where}.land_types: unknown land type '{lt}'")
            for a in _listed((sub or {}).get("allows")):
                if a not in acts:
                    problems.append(f"{where}.land_types.{lt}.allows: unknown activity '{a}'")
        problems += _lang(entry.get("source"), f"{where}.source")
    home = data.get("home") or {}
    for a in sorted(acts - set(home)):
        problems.append(f"{FILE} [home]: activity '{a}' has no home category")
    for a, c in home.items():
        if a not in acts:
            problems.append(f"{FILE} [home.{a}]: unknown activity")
        if c not in cat_codes:
            problems.append(f"{FILE} [home.{a}]: unknown land category '{c}'")
    rows = data.get("transformations") or []
    if not rows or rows[-1].get("from") is not None:
        problems.append(f"{FILE} [transformations]: the last row must have no `from` (the default)")
    for i, r in enumerate(rows):
        where = f"{FILE} [transformations[{i}] {r.get('id', '')}]"
        if r.get("from") is not None and r["from"] not in cat_codes:
            problems.append(f"{where}: unknown category '{r['from']}'")
        if r.get("land_type") is not None and r["land_type"] not in lt_codes:
            problems.append(f"{where}: unknown land type '{r['land_type']}'")
        for sub, w in ((r, where), (r.get("exceptions") or {}, f"{where}.exceptions")):
            if sub is r or sub:
                if sub.get("verdict", "conditional") not in ("conditional", "prohibited"):
                    problems.append(f"{w}: verdict must be conditional or prohibited")
                for b in _listed(sub.get("decided_by")):
                    if b not in bodies:
                        problems.append(f"{w}: unknown body '{b}' (add it to `bodies`)")
        for a in _listed((r.get("exceptions") or {}).get("uses")):
            if a not in acts:
                problems.append(f"{where}.exceptions: unknown activity '{a}'")
        if not r.get("source"):
            problems.append(f"{where}: no legal `source`")
        problems += _lang(r.get("source"), f"{where}.source")
        problems += _lang((r.get("exceptions") or {}).get("source"), f"{where}.exceptions.source")
    return problems


def _lang(value: Any, where: str) -> list[str]:
    if isinstance(value, dict):
        return [f"{where}: no text in '{lang}'" for lang in LANGUAGES if not value.get(lang)]
    return []


def category_table(ws: Any = None, lang: str = "ky") -> pd.DataFrame:
    """One row per (category / land type, use): the step's verdict, target, deciding bodies, source."""
    lang = check_lang(lang)
    rules = category_rules(ws)
    rows = []
    for c, entry in (rules.get("categories") or {}).items():
        for lt in [None, *((entry or {}).get("land_types") or {})]:
            for a in activity_codes(ws):
                s = category_step(a, c, lt, rules=rules)
                rows.append({"category": category_label(c, lt, lang), "use": label("activities", a, lang),
                             "verdict": t(f"zoning.verdict.{s['effect'] or 'allowed'}", lang),
                             "to_category": label("land_categories", s["to_category"], lang)
                             if s["effect"] else "",
                             "decided_by": bodies_text(s["decided_by"], lang),
                             "legal_source": localized(s["legal_source"], lang), "confirm": not s["confirmed"]})
    return pd.DataFrame(rows)
