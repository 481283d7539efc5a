"""Balance tables for people: labels and headers in ky/ru/en, CSV and XLSX (one sheet per table)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from ..catalog import catalogue
from ..errors import GisPlannerError
from ..i18n import check_lang, t
from ..io.xlsx import column_kinds, write_workbook
from ..outputs import all_or_nothing
from ..text import safe_table
from .core import ANY, UNKNOWN, Balance

_CATS = {"category": "land_categories", "land_type": "land_types", "use_status": "use_status",
         "owner_type": "owner_types"}


def _msg(key: str, lang: str, default: str) -> str:
    text = t(key, lang)
    return default if text == key else text


def code_label(catalogue_name: str, code, lang: str) -> str:
    """Name of a code in ``lang`` (the code itself if the catalogue does not know it)."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return ""
    if code == UNKNOWN:
        return t("balance.unknown", lang)
    if code == "total":
        return t("balance.total", lang)
    return catalogue(catalogue_name).label(str(code), lang)


def code_labels(catalogue_name: str, codes, lang: str) -> list[str]:
    """:func:`code_label` of every code in ``codes``, looking each distinct code up once (a per-parcel
    column has thousands of rows and a handful of codes)."""
    names: dict = {}   # (a missing value is named "" by code_label at once, whatever its key here)
    return [names[c] if c in names else names.setdefault(c, code_label(catalogue_name, c, lang)) for c in codes]


def group_label(key: str, lang: str) -> str:
    """Label of a restriction group ``kind[:subtype[:level]]``, e.g. "Natural hazard zone: mudflow, high"."""
    if key == ANY:
        return t("balance.any_restriction", lang)
    if key == "unrestricted":
        return t("balance.unrestricted", lang)
    if key == "total":
        return t("balance.total", lang)
    parts = key.split(":")
    kind = _msg(f"zoning.kind.{parts[0]}", lang, parts[0])
    rest = []
    for i, p in enumerate(parts[1:]):
        if i == 0:
            ns = {"hazard": "zoning.hazard", "protected_area": "zoning.regime",
                  "water_protection_zone": "zoning.water", "coastal_strip": "zoning.water"}.get(parts[0])
            rest.append(_msg(f"{ns}.{p}", lang, p) if ns else p)
        else:
            rest.append(_msg(f"zoning.level.{p}", lang, p))
    return f"{kind}: {', '.join(rest)}" if rest else kind


def restrictions_text(text, lang: str, zones: dict | None = None) -> str:
    """The per-parcel restrictions list ``"kind:subtype:level 25.0%; …"`` in ``lang``.

    English keeps the codes (a stable, greppable form); ky/ru get the translated names and the local
    number format, e.g. "Водоохранная зона: озеро 18,2 %" in ru. A part that is not ``<code> <number>%`` is kept.
    Legal zones are named from ``zones`` (default: the zones of ``layers/zoning_rules.yaml``).

    >>> restrictions_text("hazard:flood:high 47.6%", "en")
    'hazard:flood:high 47.6%'
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = str(text)
    if lang == "en" or not text:
        return text
    from ..report.fmt import fmt_percent

    out = []
    for part in text.split("; "):
        m = re.fullmatch(r"(\S+) (-?\d+(?:\.\d+)?)%", part)
        if not m:
            out.append(part)
            continue
        key = m.group(1)
        if key.startswith("legal_zone:"):
            if zones is None:
                from ..catalog import load_rules

                zones = load_rules("zoning_rules").get("zones") or {}
            code = key.split(":", 1)[1]
            name = ((zones.get(code) or {}).get("names") or {}).get(lang) or code
            head = f"{_msg('zoning.kind.legal_zone', lang, 'legal_zone')}: {name}"
        else:
            head = group_label(key, lang)
        out.append(f"{head} {fmt_percent(float(m.group(2)) / 100.0, lang, 1)}")
    return "; ".join(out)


def _restriction_texts(values, lang: str) -> list[str]:
    zones: dict = {}
    if lang != "en":
        from ..catalog import load_rules

        zones = load_rules("zoning_rules").get("zones") or {}
    return [restrictions_text(v, lang, zones) for v in values]


def _summary(b: Balance, lang: str) -> pd.DataFrame:
    topo = b.topology or {}
    ident = topo.get("identity") or {}
    items = [("total_ha", b.total_ha), ("parcels", len(b.parcels))]
    if ident:
        items += [("boundary_ha", ident["boundary_ha"]), ("gap_ha", ident["minus_gap_ha"]),
                  ("outside_ha", ident["plus_outside_ha"]), ("overlap_ha", ident["plus_overlap_ha"]),
                  ("residual_ha", ident["residual_ha"])]
    elif topo.get("checked"):
        items += [("overlap_ha", topo.get("overlap_ha", 0.0))]
    u = b.use_ratio
    items += [("used_ha", u["used_ha"]), ("unused_ha", u["unused_ha"]), ("used_pct", u["used_pct"]),
              ("used_to_unused", u["used_to_unused"]),
              ("restricted_ha", b.total_ha - b.unrestricted_ha), ("unrestricted_ha", b.unrestricted_ha)]
    rows = [{t("balance.item", lang): t(f"balance.summary.{k}", lang), t("balance.value", lang): v}
            for k, v in items]
    rows.append({t("balance.item", lang): t("balance.summary.counting", lang), t("balance.value", lang): ""})
    out = pd.DataFrame(rows, dtype=object)
    # number format of each row's value in the XLSX (see write_xlsx)
    out.attrs["row_kinds"] = [_SUMMARY_KINDS.get(k, "ha") for k, _ in items] + [None]
    return out


_SUMMARY_KINDS = {"parcels": "int", "used_pct": "pct100", "used_to_unused": "num"}


def hierarchy_label(cat_name: str, code, lang: str) -> str:
    """Label of a code, "of which: …" for a sub-type (irrigated under arable), so a table that lists
    a parent and its sub-types reads as a hierarchy and its top-level shares add up to 100 %."""
    name = code_label(cat_name, code, lang)
    if code is not None and not isinstance(code, float) and catalogue(cat_name).parent(str(code)):
        return t("balance.of_which", lang, name=name)
    return name


def top_level(cat_name: str, codes) -> list[bool]:
    """True for codes without a parent in the catalogue (the rows a total adds up).

    A parent row (arable) holds its own parcels (coded «пашня» without irrigated/rain-fed) and its
    sub-types: the total adds the parent row, never its sub-types again.
    """
    cat = catalogue(cat_name)
    return [not (c is not None and not isinstance(c, float) and cat.parent(str(c))) for c in codes]


def _coded(df: pd.DataFrame, cat_name: str, head_key: str, lang: str) -> pd.DataFrame:
    out = pd.DataFrame({t("balance.code", lang): df["code"],
                        t(head_key, lang): [hierarchy_label(cat_name, c, lang) for c in df["code"]],
                        t("balance.area_ha", lang): df["area_ha"],
                        t("balance.parcels", lang): df["parcels"]})
    if "share_pct" in df:
        out[t("balance.share_pct", lang)] = df["share_pct"]
    return out


def _crosstab(df: pd.DataFrame, cat_name: str, head_key: str, lang: str) -> pd.DataFrame:
    out = pd.DataFrame({t("balance.code", lang): df.index.astype(object),
                        t(head_key, lang): [hierarchy_label(cat_name, c, lang) for c in df.index]})
    for col in df.columns:
        out[group_label(str(col), lang)] = df[col].to_numpy()
    if len(out):
        # the total adds the top-level rows: a parent row (arable) already holds its sub-types
        # (irrigated, rain-fed) and its own parcels (coded arable only), which must not be left out
        top = top_level(cat_name, out[t("balance.code", lang)])
        total = {c: (out.loc[top, c].sum() if pd.api.types.is_numeric_dtype(out[c]) else "") for c in out.columns}
        total[t("balance.code", lang)] = "total"
        total[t(head_key, lang)] = t("balance.total", lang)
        out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    return out


def tables(b: Balance, lang: str | None = None, with_parcels: bool = True) -> dict[str, pd.DataFrame]:
    """All tables of a balance with headers and labels in ``lang`` (sheet key -> DataFrame)."""
    lang = check_lang(lang)
    out: dict[str, pd.DataFrame] = {"summary": _summary(b, lang)}
    out["by_category"] = _coded(b.by_category, "land_categories", "balance.category", lang)
    out["by_land_type"] = _coded(b.by_land_type, "land_types", "balance.land_type", lang)
    out["state_fund"] = _coded(b.state_fund, "land_types", "balance.land_type", lang)
    out["use_status"] = _coded(b.use_status, "use_status", "balance.use_status", lang)
    out["by_owner"] = _coded(b.by_owner, "owner_types", "balance.owner_type", lang)
    out["by_zone"] = pd.DataFrame({
        t("balance.zone", lang): [t("balance.outside_zones", lang) if z == "__outside__" else z
                                  for z in b.by_zone["zone"]],
        t("balance.area_ha", lang): b.by_zone["area_ha"], t("balance.parcels", lang): b.by_zone["parcels"]})
    out["restricted"] = _crosstab(b.restricted, "land_categories", "balance.category", lang)
    out["restricted_land_type"] = _crosstab(b.restricted_land_type, "land_types", "balance.land_type", lang)
    if len(b.restricted_detail.columns):
        out["restricted_detail"] = _crosstab(b.restricted_detail, "land_categories", "balance.category", lang)
    if with_parcels:
        p = b.parcels
        out["parcels"] = pd.DataFrame({
            t("balance.cadastral_no", lang): p["cadastral_no"],
            t("balance.category", lang): code_labels("land_categories", p["category"], lang),
            t("balance.land_type", lang): ["" if c == UNKNOWN else name for c, name in
                                           zip(p["land_type"], code_labels("land_types", p["land_type"], lang))],
            t("balance.area_ha", lang): p["area_ha"], t("balance.restricted_ha", lang): p["restricted_ha"],
            t("balance.restricted_share", lang): p["restricted_share"],
            t("balance.restrictions", lang): _restriction_texts(p["restrictions"], lang)})
        pr = b.parcel_restrictions
        out["parcel_restrictions"] = pd.DataFrame({
            t("balance.cadastral_no", lang): pr["cadastral_no"],
            t("balance.group", lang): [group_label(g, lang) for g in pr["group"]],
            t("balance.code", lang): pr["group"], t("balance.area_ha", lang): pr["area_ha"],
            t("balance.share", lang): pr["share"]})
    out["overlaps"] = pd.DataFrame({t("balance.parcel_a", lang): b.overlaps["cadastral_no_a"],
                                    t("balance.parcel_b", lang): b.overlaps["cadastral_no_b"],
                                    t("balance.area_ha", lang): b.overlaps["area_ha"]})
    out["gaps"] = pd.DataFrame({t("balance.area_ha", lang): b.gaps["area_ha"].to_numpy(),
                                t("balance.neighbours", lang): b.gaps["neighbours"].to_numpy(),
                                "WKT": b.gaps.geometry.to_wkt(rounding_precision=3).to_numpy()
                                if len(b.gaps) else []})
    out["outside"] = pd.DataFrame({t("balance.cadastral_no", lang): b.outside["cadastral_no"],
                                   t("balance.area_ha", lang): b.outside["area_ha"]})
    if len(b.reconciliation):
        r = b.reconciliation
        out["reconciliation"] = pd.DataFrame({
            t("balance.code", lang): r["code"],
            t("balance.category", lang): code_labels("land_categories", r["code"], lang),
            t("balance.computed_ha", lang): r["computed_ha"], t("balance.reported_ha", lang): r["reported_ha"],
            t("balance.diff_ha", lang): r["diff_ha"], t("balance.diff_pct", lang): r["diff_pct"],
            t("balance.flag", lang): [t("balance.flag_yes", lang) if f else "" for f in r["flag"]]})
    prov = b.provenance
    rows = [{t("balance.provenance.layer", lang): lay["layer"], t("balance.provenance.source", lang): lay["source"],
             t("balance.provenance.date", lang): lay["source_date"]} for lay in prov.get("layers", [])]
    rows += [{t("balance.provenance.layer", lang): r["file"],
              t("balance.provenance.source", lang): r.get("source"),
              t("balance.provenance.date", lang): f"v{r.get('version')} {r.get('updated') or ''} {r.get('sha256')}"}
             for r in prov.get("rules", [])]
    rows.append({t("balance.provenance.layer", lang): "restrictions",
                 t("balance.provenance.source", lang): prov.get("restrictions_from"),
                 t("balance.provenance.date", lang): prov.get("computed_at")})
    rows += [{t("balance.provenance.layer", lang): t("balance.warnings_title", lang),
              t("balance.provenance.source", lang): w, t("balance.provenance.date", lang): ""}
             for w in prov.get("warnings") or []]
    out["provenance"] = pd.DataFrame(rows)
    return out


def _sheet_name(key: str, lang: str, used: set) -> str:
    name = re.sub(r"[\[\]\*\?/\\:]", " ", t(f"balance.sheet.{key}", lang))[:31].strip() or key[:31]
    base, i = name, 2
    while name in used:
        name = f"{base[:28]} {i}"
        i += 1
    used.add(name)
    return name


def write_xlsx(b: Balance, path, lang: str | None = None, tabs: dict | None = None, pause=None) -> Path:
    """Write the balance to an XLSX workbook, one sheet per table, headers in ``lang``.

    ``tabs``: the balance's :func:`tables` in ``lang`` when the caller has them already (the app keeps
    them per data version), else they are built here. ``pause``: called between the columns written
    (:func:`gis_planner.io.xlsx.write_workbook`)."""
    lang = check_lang(lang)
    path = Path(path)
    tabs = tables(b, lang) if tabs is None else tabs
    used: set = set()
    pct100 = {t("balance.share_pct", lang), t("balance.diff_pct", lang)}
    frac = {t("balance.share", lang), t("balance.restricted_share", lang)}
    sheets = [(_sheet_name(key, lang, used), safe_table(df),
               {} if key == "summary" else column_kinds(df, pct100=pct100, frac=frac),
               df.attrs.get("row_kinds") if key == "summary" else None) for key, df in tabs.items()]
    try:
        write_workbook(path, sheets, pause=pause)   # streamed: the parcel sheets are ~17 000 rows
    except OSError as exc:
        raise GisPlannerError(f"cannot write the workbook ({exc})", file=str(path),
                              fix="close it in Excel/LibreOffice and check the folder exists",
                              code="write_failed") from None
    return path


@all_or_nothing("folder")
def write_csv(b: Balance, folder, lang: str | None = None) -> list[Path]:
    """Write each table as ``<folder>/balance_<table>.csv`` (UTF-8 with BOM, opens in Excel)."""
    lang = check_lang(lang)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, df in tables(b, lang).items():
        p = folder / f"balance_{key}.csv"
        safe_table(df).to_csv(p, index=False, encoding="utf-8-sig")
        paths.append(p)
    return paths
