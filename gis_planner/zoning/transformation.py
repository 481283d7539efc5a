"""Land transformation files: changing the category of a set of parcels.

For each parcel: cadastral number, current → target category, area, the restrictions it touches, the
check of the target category's intended use, and the five procedure steps of the methodology
(justification, documents, council resolution, agreement of state bodies, state registration), each
with status / date / document fields to be filled in as the file moves on. The steps, statuses and the
use checked for each target category are in ``transformation`` of ``layers/zoning_rules.yaml``; step
labels in ``gis_planner/i18n/zoning.yaml``.

Examples
--------
>>> tl = transformation_list(ws, ["4-01-01-0001-0007"], "settlement", reason="housing queue")  # doctest: +SKIP
>>> write_transformation(tl, "transformation.xlsx", lang="ru")                                   # doctest: +SKIP
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..catalog import catalogue
from ..errors import GisPlannerError
from ..i18n import check_lang, label, t
from .category import bodies_text, category_provenance, category_steps, step_message, strictest
from ..text import safe_table
from .check import _clean, _what, check_many, overlay_effects
from .restrictions import build_restrictions, layer_provenance, lookup_many, read_layer_fid
from .rules import check_use, rules_provenance, zoning_rules


def procedure(ws=None) -> dict:
    cfg = (zoning_rules(ws).get("transformation") or {})
    return {"steps": list(cfg.get("steps") or []), "statuses": list(cfg.get("statuses") or ["pending"]),
            "category_use": dict(cfg.get("category_use") or {}), "source": cfg.get("source")}


def _select(ws, parcels: Any) -> gpd.GeoDataFrame:
    if isinstance(parcels, gpd.GeoDataFrame):
        sel = parcels
        if ws.crs is not None and sel.crs is not None and sel.crs != ws.crs:
            sel = sel.to_crs(ws.crs)
        return sel
    ids = [parcels] if isinstance(parcels, (str, int, np.integer)) else list(parcels)
    layer = read_layer_fid(ws, "parcels")
    if layer is None:
        raise GisPlannerError("layer 'parcels' is not in the workspace", file=str(ws.gpkg),
                              fix="import parcels first", code="missing_layer")
    cad = layer["cadastral_no"].astype(str) if "cadastral_no" in layer else pd.Series([], dtype=str)
    by_cad = pd.Series(layer.index, index=cad.to_numpy())
    by_cad = by_cad[~by_cad.index.duplicated()]
    fids, missing = [], []
    for i in ids:
        if str(i) in by_cad.index:
            fids.append(int(by_cad[str(i)]))
            continue
        try:
            fid = int(i)
        except (TypeError, ValueError):
            fid = None
        if fid is not None and fid in layer.index:
            fids.append(fid)
        else:
            missing.append(str(i))
    if missing:
        raise GisPlannerError(f"parcels not found: {', '.join(missing[:10])}"
                              + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
                              file=str(ws.gpkg), feature=missing[0],
                              fix="give cadastral numbers or fids of the parcels layer", code="unknown_parcel")
    return layer.loc[list(dict.fromkeys(fids))]


def transformation_list(ws, parcels: Any, target_category: str, *, reason: str = "",
                        use: str | None = None, restrictions: gpd.GeoDataFrame | None = None,
                        lang: str = "ky") -> pd.DataFrame:
    """The transformation list for a set of parcels and a target land category.

    Parameters
    ----------
    ws : Workspace
    parcels : list of cadastral numbers / fids, or GeoDataFrame
        The parcels to transform (a frame from scenario allocation may be passed as is; its index is
        used as ``parcel_id``).
    target_category : str
        Land category code (or any name/alias) of ``layers/land_categories.yaml``.
    reason : str
        The justification (step 1), e.g. "population growth: 120 house plots needed by 2030".
    use : str, optional
        Intended use checked on each parcel (default: ``transformation.category_use`` of the zoning
        rules, e.g. housing for ``settlement``).

    Returns
    -------
    DataFrame
        ``parcel_id, cadastral_no, current_category, target_category, area_ha, restrictions,
        n_restrictions, restriction_list (dicts), use, verdict, prohibited_share, reason`` and for each step
        ``step<i>_<code>_status`` (``pending``), ``step<i>_<code>_date``, ``step<i>_<code>_document``.
        ``attrs`` carry the step codes and rule provenance.
    """
    lang = check_lang(lang)
    cats = catalogue("land_categories", ws)
    target = cats.lookup(target_category)
    if target is None:
        raise GisPlannerError(f"unknown land category '{target_category}'", file="layers/land_categories.yaml",
                              fix=f"use one of: {', '.join(cats.codes)}", code="unknown_category")
    proc = procedure(ws)
    sel = _select(ws, parcels)
    if use is None:
        use = proc["category_use"].get(target)
    use = check_use(use, ws) if use else None
    restr = build_restrictions(ws) if restrictions is None else restrictions
    touched = [[] for _ in range(len(sel))]
    if len(sel) and len(restr):
        r = restr.assign(effect="touched")
        res = overlay_effects(sel.geometry, r, 1.0)
        for rec in res["reasons"].to_dict("records"):
            touched[rec["plot"]].append({k: _clean(rec.get(k)) for k in
                                         ("kind", "rule_id", "subtype", "level", "share", "width_m")})
    area = sel.geometry.area.to_numpy() / 10_000
    cur = (lookup_many(cats, sel["category"]).fillna(sel["category"].astype(object)) if "category" in sel
           else pd.Series([None] * len(sel)))
    out = pd.DataFrame({
        "parcel_id": sel.index.to_numpy(),
        "cadastral_no": sel["cadastral_no"].astype(str).to_numpy() if "cadastral_no" in sel else None,
        "current_category": cur.to_numpy(), "target_category": target, "area_ha": area,
        "restrictions": [_touched_text(x) for x in touched], "n_restrictions": [len(x) for x in touched],
        "restriction_list": pd.Series(touched, dtype=object).to_numpy(),
        "use": use})
    # the legal step of each parcel out of its category (and land type) into the target, from the same
    # table as the parcel check (layers/category_uses.yaml): conditional / prohibited, who decides, source
    lt = _land_types(ws, sel)
    steps = category_steps(ws, use, sel["category"] if "category" in sel else [None] * len(sel), lt,
                           target=target) if len(sel) else []
    out["land_type"] = pd.Series(lt, index=out.index, dtype=object) if len(sel) else None
    out["category_effect"] = pd.Series([s["effect"] for s in steps], index=out.index, dtype=object)
    out["exceptional"] = [bool(s["exceptional"]) for s in steps]
    out["decided_by"] = [",".join(s["decided_by"]) for s in steps]
    out["legal_step"] = [step_message(s, use, lang) if s["effect"] or s["rule_id"] != "allowed" else ""
                         for s in steps]
    out["category_source"] = [(s["legal_source"] or {}).get("en") if isinstance(s["legal_source"], dict)
                              else s["legal_source"] for s in steps]
    out["category_step"] = pd.Series(steps, dtype=object).to_numpy() if len(sel) else None
    if use and len(sel):
        chk = check_many(ws, use, sel, restr)
        out["restriction_verdict"] = chk["verdict"].to_numpy()
        out["verdict"] = [strictest(v, s["effect"]) for v, s in zip(chk["verdict"], steps)]
        out["prohibited_share"] = chk["prohibited_share"].to_numpy()
    else:
        out["restriction_verdict"] = None
        out["verdict"] = pd.Series([s["effect"] for s in steps], index=out.index, dtype=object) if len(sel) else None
        out["prohibited_share"] = np.nan
    out["reason"] = reason
    for i, step in enumerate(proc["steps"], 1):
        out[f"step{i}_{step}_status"] = proc["statuses"][0]
        out[f"step{i}_{step}_date"] = ""
        out[f"step{i}_{step}_document"] = ""
    same = out["current_category"] == target
    out.attrs.update({"steps": proc["steps"], "statuses": proc["statuses"], "target_category": target,
                      "already_target": out.loc[same, "cadastral_no"].tolist(),
                      "rules": [*rules_provenance(ws), category_provenance(ws)], "layers": layer_provenance(ws),
                      "source": proc["source"]})
    return out


def _land_types(ws, sel: gpd.GeoDataFrame) -> list:
    """The land type of each selected parcel: its own column, else the parcels layer's by cadastral number
    (a frame from scenario allocation carries only the category; irrigated arable land and pastures
    must still get their stricter step)."""
    if "land_type" in sel:
        return [v if isinstance(v, str) and v else None for v in sel["land_type"].tolist()]
    if "cadastral_no" not in sel:
        return [None] * len(sel)
    lut = _land_type_lut(ws)
    if lut is None:
        return [None] * len(sel)
    return [lut.get(str(c)) for c in sel["cadastral_no"]]


_LUT: dict = {}


def _land_type_lut(ws) -> dict | None:
    """Cadastral number -> land type of the parcels layer, read once per workspace data version (a
    scenario comparison asks for it once per scenario and target category)."""
    key = (str(ws.gpkg), ws.version)
    hit = _LUT.get(key, _LUT)
    if hit is not _LUT:
        return hit
    layer = read_layer_fid(ws, "parcels")
    lut = None
    if layer is not None and "land_type" in layer and "cadastral_no" in layer:
        lut = dict(zip(layer["cadastral_no"].astype(str), layer["land_type"].astype(object).where(
            layer["land_type"].notna(), None)))
    _LUT.clear()   # one workspace version at a time
    _LUT[key] = lut
    return lut


def _touched_text(items: list[dict], lang: str | None = None, ws=None) -> str:
    """``kind:rule (subtype/level) share`` per restriction; labelled sentences when ``lang`` is given."""
    out = []
    for r in items:
        if lang is None:
            bits = [str(b) for b in (r.get("subtype"), r.get("level")) if b is not None]
            out.append(f"{r['kind']}:{r['rule_id']}" + (f" ({'/'.join(bits)})" if bits else "")
                       + f" {r['share']:.0%}")
        else:
            out.append(f"{_what(r, lang, ws, zoning_rules(ws))} {r['share']:.0%}")
    return "; ".join(out)


def localized(table: pd.DataFrame, lang: str = "ky", ws=None) -> pd.DataFrame:
    """The list with labelled values and headers in ``lang`` (for CSV/XLSX and the app)."""
    lang = check_lang(lang)
    steps = table.attrs.get("steps") or procedure(ws)["steps"]
    df = table.copy()
    for c in ("current_category", "target_category"):
        df[c] = df[c].map(lambda v: label("land_categories", v, lang) if isinstance(v, str) else v)
    if "restriction_list" in df:
        df["restrictions"] = df["restriction_list"].map(lambda x: _touched_text(list(x), lang, ws)
                                                        if isinstance(x, (list, tuple, np.ndarray)) else "")
    if "verdict" in df:
        df["verdict"] = df["verdict"].map(lambda v: t(f"zoning.verdict.{v}", lang) if isinstance(v, str) else "")
    if "category_step" in df:   # the legal step and the deciding bodies in ``lang``
        uses = table["use"] if "use" in table else pd.Series([None] * len(table))
        df["legal_step"] = [step_message(s, u, lang) if isinstance(s, dict) and (s["effect"] or s["rule_id"] != "allowed")
                            else "" for s, u in zip(table["category_step"], uses)]
        df["decided_by"] = [bodies_text(s["decided_by"], lang) if isinstance(s, dict) else ""
                            for s in table["category_step"]]
    if "land_type" in df:
        df["land_type"] = df["land_type"].map(lambda v: label("land_types", v, lang) if isinstance(v, str) else "")
    if "use" in df:
        df["use"] = df["use"].map(lambda v: label("activities", v, lang) if isinstance(v, str) else "")
    headers = {c: t(f"zoning.col.{c}", lang) for c in ("parcel_id", "cadastral_no", "current_category",
                                                      "target_category", "area_ha", "restrictions",
                                                      "verdict", "reason", "use", "legal_step", "decided_by")}
    headers["land_type"] = t("zoning.col.land_type", lang)
    for i, step in enumerate(steps, 1):
        short = t(f"zoning.step.{step}", lang).split(" ")[0].rstrip(".")
        for field in ("status", "date", "document"):
            col = f"step{i}_{step}_{field}"
            if col in df:
                if field == "status":
                    df[col] = df[col].map(lambda v: t(f"zoning.status.{v}", lang))
                headers[col] = f"{t('zoning.col.step', lang)} {short}: {t(f'zoning.col.{field}', lang)}"
    df = df.drop(columns=[c for c in ("n_restrictions", "prohibited_share", "restriction_list", "category_step",
                                      "category_effect", "exceptional", "category_source", "restriction_verdict")
                          if c in df])
    front = [c for c in ("parcel_id", "cadastral_no", "current_category", "land_type", "target_category", "area_ha",
                         "verdict", "legal_step", "decided_by", "restrictions", "use") if c in df]
    df = df[front + [c for c in df.columns if c not in front]]
    return df.rename(columns=headers)


def write_transformation(table: pd.DataFrame, path: str | os.PathLike, lang: str = "ky", ws=None) -> Path:
    """Write the transformation list as CSV (UTF-8 with BOM, opens in Excel) or XLSX (by suffix).

    The XLSX has three sheets: the list, the procedure (the five steps with their labels) and the
    provenance (rule files). Written atomically.
    """
    lang = check_lang(lang)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise GisPlannerError(f"cannot write '{path.name}'", file=str(path), fix="use a .csv or .xlsx name",
                              code="bad_format")
    path.parent.mkdir(parents=True, exist_ok=True)
    df = localized(table, lang, ws)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".csv":
            safe_table(df).to_csv(tmp, index=False, encoding="utf-8-sig")
        else:
            steps = table.attrs.get("steps") or procedure(ws)["steps"]
            steps_df = pd.DataFrame({t("zoning.col.step", lang): list(range(1, len(steps) + 1)),
                                     t("zoning.sheet.steps", lang): [t(f"zoning.step.{s}", lang) for s in steps]})
            prov = pd.concat([pd.DataFrame(table.attrs.get("rules") or []),
                              pd.DataFrame(table.attrs.get("layers") or [])], ignore_index=True)
            from ..io.xlsx import write_sheet

            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                write_sheet(xw, t("zoning.sheet.list", lang)[:31], safe_table(df))   # ha with 2 decimals
                safe_table(steps_df).to_excel(xw, sheet_name=t("zoning.sheet.steps", lang)[:31], index=False)
                safe_table(prov).to_excel(xw, sheet_name=t("zoning.sheet.provenance", lang)[:31], index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
