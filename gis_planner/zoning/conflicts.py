"""Conflicts between the current land use and the restriction regimes (the table section 6 needs).

A conflict is a parcel whose *current* use (``land_use`` of the parcels layer, linked to an activity by
``layers/land_uses.yaml``) is prohibited by a regime covering part of it: houses in a coastal strip or a
high hazard zone, arable land in a protected core, industry in a water-protection zone, settlement
plots in the forest fund … Which kinds are checked and the smallest area reported are set under
``conflicts`` in ``layers/restrictions.yaml``.

Examples
--------
>>> c = conflicts(ws, lang="en")                                    # doctest: +SKIP
>>> c[["cadastral_no", "land_use", "rule_id", "conflict_area_ha"]]    # doctest: +SKIP
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ..catalog import catalogue
from ..i18n import check_lang, label
from .check import overlay_effects, reason_message, with_effects
from .restrictions import build_restrictions, layer_provenance, lookup_many, read_layer_fid
from .rules import restriction_rules, rules_provenance, source_translations, zoning_rules

COLUMNS = ["parcel_id", "cadastral_no", "category", "land_use", "activity", "area_ha", "kind", "subtype",
           "level", "rule_id", "conflict_area_ha", "share", "legal_source", "message"]


def conflicts(ws, *, restrictions: gpd.GeoDataFrame | None = None, parcels: gpd.GeoDataFrame | None = None,
              kinds: list[str] | None = None, lang: str = "ky") -> pd.DataFrame:
    """Parcels whose current use is prohibited by a restriction regime.

    Parameters
    ----------
    ws : Workspace
    restrictions : GeoDataFrame, optional
        Restriction frame (default :func:`build_restrictions`).
    parcels : GeoDataFrame, optional
        Parcels with ``land_use`` (default: the workspace layer, indexed by fid).
    kinds : list of str, optional
        Restriction kinds to check (default ``conflicts.kinds`` of ``layers/restrictions.yaml``; add
        ``legal_zone`` for uses that do not conform to the legal zoning).
    lang : str
        Language of the ``message`` column.

    Returns
    -------
    DataFrame
        One row per (parcel, rule): ``parcel_id`` (fid), ``cadastral_no``, ``category``, ``land_use``,
        ``activity``, ``area_ha`` (parcel), ``kind``, ``subtype``, ``level``, ``rule_id``,
        ``conflict_area_ha``, ``share``, ``legal_source`` (English, for files), ``message`` (in ``lang``,
        with the legal source in ``lang``); sorted by rule and area.
        ``attrs["rules"]`` / ``attrs["layers"]`` hold the provenance of the rule files and layers.
    """
    lang = check_lang(lang)
    rules = restriction_rules(ws)
    zrules = zoning_rules(ws)
    sources = source_translations(ws, rules, zrules)
    cfg = rules.get("conflicts") or {}
    kinds = list(kinds if kinds is not None else cfg.get("kinds") or [])
    min_m2 = float(cfg.get("min_area_m2", 10.0))
    if parcels is None:
        parcels = read_layer_fid(ws, "parcels")
    out = pd.DataFrame(columns=COLUMNS)
    prov = {"rules": rules_provenance(ws), "layers": layer_provenance(ws)}
    out.attrs.update(prov)
    if parcels is None or parcels.empty or "land_use" not in parcels:
        return out
    restr = build_restrictions(ws) if restrictions is None else restrictions
    if kinds:
        restr = restr[restr["kind"].isin(kinds)]
    uses = catalogue("land_uses", ws)
    use_code = lookup_many(uses, parcels["land_use"])
    activity = use_code.map(lambda c: (uses.items.get(c) or {}).get("activity") if c else None)
    rows = []
    for act in sorted({a for a in activity.dropna().unique()}):
        sel = parcels[(activity == act).to_numpy()]
        r = with_effects(restr, act, ws, rules, zrules)
        r = r[r["effect"] == "prohibited"]
        if r.empty:
            continue
        res = overlay_effects(sel.geometry, r, min_m2)
        reasons = res["reasons"]
        if reasons.empty:
            continue
        pos = reasons["plot"].to_numpy()
        sub = sel.iloc[pos]
        df = pd.DataFrame({
            "parcel_id": sub.index.to_numpy(),
            "cadastral_no": sub["cadastral_no"].to_numpy() if "cadastral_no" in sub else None,
            "category": sub["category"].to_numpy() if "category" in sub else None,
            "land_use": use_code.loc[sub.index].to_numpy(),
            "activity": act,
            "area_ha": res["plot_area"][pos] / 10_000,
            "kind": reasons["kind"].to_numpy(), "subtype": reasons["subtype"].to_numpy(),
            "level": reasons["level"].to_numpy(), "rule_id": reasons["rule_id"].to_numpy(),
            "conflict_area_ha": reasons["area_m2"].to_numpy() / 10_000,
            "share": reasons["share"].to_numpy(), "legal_source": reasons["legal_source"].to_numpy()})
        msgs = []
        act_label = label("activities", act, lang)
        use_labels = {u: label("land_uses", u, lang) for u in pd.unique(df["land_use"])}
        for rec, w, conf in zip(df.to_dict("records"), reasons["width_m"], reasons["confirmed"]):
            r2 = {**rec, "effect": "prohibited", "area_ha": rec["conflict_area_ha"],
                  "width_m": None if pd.isna(w) else float(w), "confirmed": conf}
            msgs.append(f"{use_labels[rec['land_use']]}: "
                        + reason_message(r2, act, lang, ws, zrules, use_label=act_label, sources=sources))
        df["message"] = msgs
        rows.append(df)
    if rows:
        out = pd.concat(rows, ignore_index=True)
        out = out.sort_values(["kind", "rule_id", "conflict_area_ha"], ascending=[True, True, False],
                              kind="stable").reset_index(drop=True)
        out["parcel_id"] = out["parcel_id"].astype(np.int64)
        out.attrs.update(prov)
    return out


def conflicts_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Conflicts counted by kind / rule / current use: parcels and conflict area (ha)."""
    if table.empty:
        return pd.DataFrame(columns=["kind", "rule_id", "land_use", "parcels", "conflict_area_ha"])
    return (table.groupby(["kind", "rule_id", "land_use"], dropna=False)
            .agg(parcels=("parcel_id", "nunique"), conflict_area_ha=("conflict_area_ha", "sum"))
            .reset_index())
