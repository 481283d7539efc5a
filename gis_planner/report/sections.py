"""Section 6 (space) and section 7 (environment) of the SEDP drafted from the analyses.

Every number comes from the library functions the CLI and the app use (balance, zoning, hazards,
scenarios, community review) run once on the workspace in :class:`ReportContext`; the report only
formats them. Every table and map names its layers (source, date) and rule files.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from ..catalog import catalogue, load_rules, rules_version
from ..i18n import t
from .document import Document, Figure, Heading, Para, Table
from .fmt import fmt_date, fmt_number, fmt_percent
from . import narrative as narr
from . import subsections as sub
from .maps import MapLayer, dem_basemap, render_map

HA = 10_000.0


@dataclass
class ReportContext:
    """The analyses a report needs, computed once (see :func:`build_context`)."""

    ws: Any
    lang: str
    balance: Any
    restrictions: gpd.GeoDataFrame
    conflicts: pd.DataFrame
    hazard_zones: gpd.GeoDataFrame
    hazard_compare: pd.DataFrame
    exposure: pd.DataFrame
    relocation: pd.DataFrame
    scenario: Any = None
    community: gpd.GeoDataFrame | None = None
    problems: pd.DataFrame | None = None
    measures: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    _basemap: Any = field(default=None, repr=False)
    on_map: Any = field(default=None, repr=False, compare=False)   # called with a map's name before it is drawn
    _layers: dict = field(default_factory=dict, repr=False, compare=False)

    def layer(self, name: str):
        """A workspace layer, read once per context (every table, paragraph and map of the report shares
        it; callers do not modify it)."""
        if name not in self._layers:
            self._layers[name] = self.ws.read_layer(name, missing_ok=True)
        return self._layers[name]

    def in_language(self, lang: str) -> "ReportContext":
        """The same analyses for another language (only the translated message columns are redone)."""
        from dataclasses import replace

        from .. import zoning

        if lang == self.lang:
            return self
        conflicts = zoning.conflicts(self.ws, restrictions=self.restrictions, lang=lang)
        _, problems = _community(self.ws, lang) if self.community is not None else (None, None)
        ctx = replace(self, lang=lang, conflicts=conflicts, problems=problems)
        ctx._basemap = self._basemap
        return ctx

    @property
    def basemap(self):
        """DEM hillshade shared by every map of the report (computed once)."""
        if self._basemap is None:
            self._basemap = dem_basemap(self.ws) or ()
        return self._basemap or None


def _source_of(ws, *layers: str) -> str:
    """The data sources of ``layers`` as a reader cites them: '<source>, <date>' each once, in order.

    File paths, CRSs and import reports are in the provenance annex (:func:`provenance_annex`).
    """
    prov = {p["layer"]: p for p in ws.provenance()}
    parts: list[str] = []
    for name in layers:
        p = prov.get(name)
        if not p or not p.get("source"):
            continue
        date = p.get("source_date")
        text = f"{p['source']}, {fmt_date(date, 'ru')}" if date else str(p["source"])
        if text not in parts:
            parts.append(text)
    return "; ".join(parts)


def _reported_source(ws) -> str:
    """The official balance cited by its own source and date (the ``meta`` of reported_balance.yaml)."""
    import yaml

    from .. import yamlio

    for name in ("reported_balance.yaml", "reported_balance.yml"):
        path = ws.root / name
        if path.exists():
            try:
                meta = (yamlio.safe_load(path.read_text(encoding="utf-8")) or {}).get("meta") or {}
            except (OSError, yaml.YAMLError):
                meta = {}
            if meta.get("source"):
                return f"{meta['source']}, {fmt_date(meta['date'], 'ru')}" if meta.get("date") else str(meta["source"])
    return ""


# the legal or methodological basis of each rule file, as cited under a table (report.basis.<name>)
_BASIS = ("restrictions", "zoning_rules", "hazards", "scenario_norms", "adaptation_measures", "category_uses")


def _rules_note(ws, *names: str, lang: str) -> str:
    """The basis of the rule files ``names`` in words (acts, methods), in ``lang``; versions and hashes
    of the files are in the provenance annex."""
    parts = []
    for n in names:
        key = f"report.basis.{n}"
        if n in _BASIS and key in _keys():
            text = t(key, lang)
            if text not in parts:
                parts.append(text)
    return "; ".join(parts)


def provenance_annex(ctx: "ReportContext") -> Document:
    """Annex: every layer with its source, date, original file, CRS and count; every rule file with its
    version and content hash (what the body cites in words)."""
    ws, lang = ctx.ws, ctx.lang
    doc = Document(title=t("report.annex.provenance", lang), lang=lang, annex=True)
    rows = []
    for p in sorted(ws.provenance(), key=lambda r: str(r.get("layer"))):
        rows.append([p.get("layer"), p.get("source") or "", fmt_date(p.get("source_date"), lang)
                     if p.get("source_date") else "", p.get("original_file") or "", p.get("original_crs") or "",
                     p.get("feature_count")])
    doc.blocks.append(Table(t("report.annex.layers", lang),
                            [t("report.col.layer", lang), t("report.col.data_source", lang), t("core.date", lang),
                             t("report.col.original_file", lang), t("report.col.crs", lang),
                             t("report.count", lang)], rows, ["text", "text", "text", "text", "text", "int"]))
    rows = []
    for name in ("land_categories", "land_types", "land_uses", "restrictions", "zoning_rules", "category_uses",
                 "hazards", "scenario_norms", "adaptation_measures", "community_categories"):
        try:
            v = rules_version(name, ws)
        except Exception:  # noqa: BLE001 - a rule file the workspace does not use
            continue
        rows.append([v["file"], v["version"], v["sha256"], v.get("source") or ""])
    doc.blocks.append(Table(t("report.annex.rules", lang),
                            [t("report.col.file", lang), t("report.col.version", lang), "SHA-256",
                             t("report.col.data_source", lang)], rows, ["text", "text", "text", "text"]))
    return doc


ANALYSIS_STEPS = ("restrictions", "balance", "conflicts", "hazards", "scenario", "measures")


def analysis_steps(scenario) -> list[str]:
    """The steps :func:`build_context` reports (``scenario`` only when one is run)."""
    return [s for s in ANALYSIS_STEPS if s != "scenario" or scenario is not None]


def build_context(ws, lang: str = "ky", scenario=None, measures: list | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> ReportContext:
    """Run the analyses the sections need, once.

    ``progress(step, done, total)`` is called as each step starts (steps: :func:`analysis_steps`); a
    :class:`gis_planner.report.build.Progress` may be passed instead to count these steps in a longer run.
    """
    from .. import hazards, zoning
    from ..balance import compute_balance
    from .build import Progress

    prog = progress if isinstance(progress, Progress) else Progress(progress, len(analysis_steps(scenario)))
    step = prog.step

    step("restrictions")
    restrictions = zoning.build_restrictions(ws)
    step("balance")
    balance = compute_balance(ws, restrictions=restrictions)
    step("conflicts")
    conflicts = zoning.conflicts(ws, restrictions=restrictions, lang=lang)
    step("hazards")
    zones = hazards.effective_hazard_zones(ws)
    compare = hazards.compare_official_computed(ws) if len(zones) else pd.DataFrame()
    community, problems = _community(ws, lang)
    exposure = hazards.exposure_table(ws, zones=zones, community=community) if len(zones) else pd.DataFrame()
    relocation = hazards.relocation_candidates(ws, zones=zones) if len(zones) else pd.DataFrame()
    result = None
    if scenario is not None:
        step("scenario")
        from ..scenarios import run_scenario

        result = run_scenario(ws, scenario)
    step("measures")
    if measures is None:
        measures = default_measures(ws, zones, problems)
    return ReportContext(ws=ws, lang=lang, balance=balance, restrictions=restrictions, conflicts=conflicts,
                         hazard_zones=zones, hazard_compare=compare, exposure=exposure, relocation=relocation,
                         scenario=result, community=community, problems=problems, measures=list(measures))


def _community(ws, lang):
    """Active community-map features (workspace CRS) and the problem list, if a store exists."""
    try:
        from ..community import open_store, store_path
        from ..community import review
    except ImportError:  # pragma: no cover - the package is part of the product
        return None, None
    path = store_path(ws)
    if not Path(path).exists():
        return None, None
    store = open_store(ws)
    feats = store.features()
    if feats is None or not len(feats):
        return None, None
    if ws.crs is not None:
        feats = feats.to_crs(ws.crs)
    from ..community import privacy  # the report is public: names/phones in the text are replaced

    return feats, privacy.redact_frame(review.problems(store, lang=lang), ("title", "description"), lang=lang,
                                       ws=ws, places=privacy.place_names(ws, store))


def default_measures(ws, zones, problems) -> list[str]:
    """Measures whose ``addresses`` match what the workspace shows (hazards, waste sites, problems)."""
    items = load_rules("adaptation_measures", ws)["items"]
    present: set[str] = set()
    if zones is not None and len(zones):
        present |= set(zones["hazard_type"].astype(str))
        if "level" in zones and (zones["level"].astype(str) == "high").any():
            present.add("relocation")
    waste = ws.read_layer("waste_sites", missing_ok=True)
    if waste is not None and len(waste) and "site_type" in waste:
        present |= set(waste["site_type"].astype(str))
    if ws.has_layer("water_bodies"):
        present |= {"water", "water_protection_zone"}
    parcels_types = ws.read_layer("parcels", columns=["land_type"], missing_ok=True)
    if parcels_types is not None and "land_type" in parcels_types:
        present |= set(parcels_types["land_type"].dropna().astype(str))
    if problems is not None and len(problems) and "category" in problems:
        present |= set(problems["category"].astype(str))
    present.add("climate")
    chosen = [code for code, it in sorted(items.items(), key=lambda kv: kv[1].get("order", 99))
              if set(it.get("addresses") or []) & present]
    return chosen


# ----------------------------------------------------------------------------- helpers
def _cat_label(name: str, code, lang: str) -> str:
    try:
        return catalogue(name).label(code, lang) if code is not None else ""
    except Exception:  # noqa: BLE001
        return str(code)


def _ratio(used: float, unused: float, lang: str) -> str:
    if unused <= 0:
        return "—"
    return f"{fmt_number(used / unused, lang, 2)} : 1"


# ----------------------------------------------------------------------------- section 6
def section6(ctx: ReportContext, figdir: Path) -> Document:
    ws, lang, b = ctx.ws, ctx.lang, ctx.balance
    name = ws.name
    doc = Document(title=t("report.s6.title", lang), lang=lang, subtitle=t("report.s6.subtitle", lang, name=name))
    if ws.meta().get("synthetic"):
        doc.blocks.append(Para(t("report.synthetic_warning", lang), "warning"))
    doc.blocks.append(Para(t("report.draft_note", lang), "note"))
    src_parcels = _source_of(ws, "parcels", "boundary")
    cats = catalogue("land_categories", ws)

    # 6.1 general
    doc.blocks.append(Heading(t("report.s6.general", lang)))
    narr.general(ctx, doc)
    settlements = ws.read_layer("settlements", missing_ok=True)
    if settlements is not None and len(settlements):
        rows = []
        for r in settlements.itertuples():
            rows.append([getattr(r, "name", ""), r.geometry.area / HA, getattr(r, "households", None),
                         getattr(r, "population", None)])
        doc.blocks.append(Table(t("report.map.settlements", lang),
                                [t("report.col.settlement", lang), t("report.col.area_ha", lang),
                                 t("report.col.households", lang), t("report.col.population", lang)],
                                rows, ["text", "ha", "int", "int"], _source_of(ws, "settlements")))

    # 6.2 balance
    doc.blocks.append(Heading(t("report.s6.balance", lang)))
    narr.balance(ctx, doc)
    rows = [[cats.label(r.code, lang), r.area_ha, r.share_pct / 100.0, int(r.parcels)]
            for r in b.by_category.itertuples()]
    rows.append([t("report.total", lang), b.total_ha, 1.0, int(b.by_category["parcels"].sum())])
    doc.blocks.append(Table(t("report.s6.by_category", lang),
                            [t("report.col.category", lang), t("report.col.area_ha", lang),
                             t("report.col.share", lang), t("report.col.parcels", lang)],
                            rows, ["text", "ha", "pct", "int"], src_parcels, total_row=True))
    # the categories map beside the categories table: 6.1 is short, and a full-page map right after it
    # left most of the section's first page blank
    doc.blocks.append(Figure(_map_categories(ctx, figdir), t("report.map.categories", lang),
                             _source_of(ws, "parcels", "roads", "water_bodies") + "; DEM: "
                             + (_source_of(ws, "dem") or "—")))
    if len(b.by_land_type):
        lt = catalogue("land_types", ws)
        # sub-types (irrigated, rain-fed) read "of which" under their parent (arable)
        rows = [[(t("balance.of_which", lang, name=lt.label(r.code, lang)) if lt.parent(r.code)
                  else lt.label(r.code, lang)) if r.code in lt.items else str(r.code), r.area_ha, int(r.parcels)]
                for r in b.by_land_type.itertuples()]
        doc.blocks.append(Table(t("report.s6.by_land_type", lang),
                                [t("report.col.land_type", lang), t("report.col.area_ha", lang),
                                 t("report.col.parcels", lang)], rows, ["text", "ha", "int"], src_parcels))
    us = catalogue("use_status", ws)
    used = float(b.use_status.loc[b.use_status["code"] == "used", "area_ha"].sum())
    unused = float(b.use_status.loc[b.use_status["code"] == "unused", "area_ha"].sum())
    rows = [[us.label(r.code, lang) if r.code in us.items else str(r.code), r.area_ha, r.share_pct / 100.0,
             int(r.parcels)] for r in b.use_status.itertuples()]
    doc.blocks.append(Table(t("report.s6.use_status", lang),
                            [t("report.col.status", lang), t("report.col.area_ha", lang),
                             t("report.col.share", lang), t("report.col.parcels", lang)],
                            rows, ["text", "ha", "pct", "int"], src_parcels))
    total_known = used + unused
    doc.blocks.append(Para(t("report.s6.use_ratio_text", lang, used=fmt_number(used, lang, 1),
                             unused=fmt_number(unused, lang, 1),
                             used_share=fmt_percent(used / total_known if total_known else 0, lang),
                             unused_share=fmt_percent(unused / total_known if total_known else 0, lang),
                             ratio=_ratio(used, unused, lang))))
    if len(b.by_owner):
        ow = catalogue("owner_types", ws)
        rows = [[ow.label(r.code, lang) if r.code in ow.items else str(r.code), r.area_ha, r.share_pct / 100.0]
                for r in b.by_owner.itertuples()]
        doc.blocks.append(Table(t("report.s6.by_owner", lang),
                                [t("report.col.owner", lang), t("report.col.area_ha", lang),
                                 t("report.col.share", lang)], rows, ["text", "ha", "pct"], src_parcels))
    topo = b.topology or {}
    doc.blocks.append(Para(t("report.s6.topology_text", lang,
                             overlap=fmt_number(topo.get("overlap_ha", 0.0), lang, 2),
                             n_overlap=len(topo.get("overlap_pairs") or []),
                             gaps=fmt_number(topo.get("gap_ha", 0.0), lang, 2)), "note"))
    if len(b.reconciliation):
        rows = []
        for r in b.reconciliation.to_dict(orient="records"):
            reported = r.get("reported_ha")
            missing = reported is None or reported != reported
            flag = "missing" if missing else ("diff" if r.get("flag") else "ok")
            label = t("report.total", lang) if r.get("code") == "total" else cats.label(r.get("code"), lang)
            rows.append([label, r.get("computed_ha"), reported, r.get("diff_ha"), t(f"report.flag.{flag}", lang)])
        doc.blocks.append(Table(t("report.s6.reconciliation", lang),
                                [t("report.col.category", lang), t("report.col.computed_ha", lang),
                                 t("report.col.reported_ha", lang), t("report.col.difference_ha", lang),
                                 t("report.col.flag", lang)], rows, ["text", "ha", "ha", "ha", "text"],
                                f"{src_parcels}; {_reported_source(ws)}", total_row=True))

    # 6.3 legal zoning
    doc.blocks.append(Heading(t("report.s6.zoning", lang)))
    zones = ws.read_layer("legal_zones", missing_ok=True)
    zrules = load_rules("zoning_rules", ws).get("zones", {})
    acts = catalogue("activities", ws)
    narr.zoning(ctx, doc, zones)
    if zones is not None and len(zones):
        areas = zones.assign(a=zones.geometry.area / HA).groupby("zone_code")["a"].agg(["sum", "count"])
        rows = []
        for code, r in areas.iterrows():
            rule = zrules.get(code, {})
            label = (rule.get("names") or {}).get(lang, code)
            rows.append([label, r["sum"], int(r["count"]),
                         ", ".join(acts.label(a, lang) for a in rule.get("permitted", [])),
                         ", ".join(acts.label(a, lang) for a in rule.get("prohibited", []))])
        doc.blocks.append(Table(t("report.s6.zoning_table", lang),
                                [t("report.col.zone", lang), t("report.col.area_ha", lang),
                                 t("report.count", lang),
                                 t("report.col.permitted", lang), t("report.col.prohibited", lang)],
                                rows, ["text", "ha", "int", "text", "text"],
                                f"{_source_of(ws, 'legal_zones')}; {_rules_note(ws, 'zoning_rules', lang=lang)}"))
    else:
        doc.blocks.append(Para(t("report.none_found", lang), "note"))

    # 6.4 restrictions
    doc.blocks.append(Heading(t("report.s6.restrictions", lang)))
    rt = b.restricted
    kinds = [c for c in rt.columns if c not in ("any", "unrestricted", "total")]
    rows = []
    for cat_code, r in rt.iterrows():
        rows.append([cats.label(cat_code, lang)] + [float(r[k]) for k in kinds]
                    + [float(r.get("any", 0.0)), float(r.get("unrestricted", 0.0))])
    if rows:
        totals = [t("report.total", lang)] + [float(rt[k].sum()) for k in kinds] + \
                 [float(rt["any"].sum()) if "any" in rt else 0.0, float(rt["unrestricted"].sum())]
        rows.append(totals)
    # the summary sentence first: a heading followed directly by a wide table was left alone at the foot
    # of a page (LibreOffice does not keep a heading with a table that moves to the next page)
    restricted_total = float(rt["any"].sum()) if "any" in rt else 0.0
    doc.blocks.append(Para(t("report.s6.restrictions_text", lang, restricted=fmt_number(restricted_total, lang, 1),
                             restricted_share=fmt_percent(restricted_total / b.total_ha if b.total_ha else 0, lang),
                             free=fmt_number(b.unrestricted_ha, lang, 1))))
    doc.blocks.append(Table(t("report.s6.restrictions_table", lang),
                            [t("report.col.category", lang)] + [t(f"report.kind.{k}", lang) for k in kinds]
                            + [t("report.col.any", lang), t("report.col.unrestricted", lang)],
                            rows, ["text"] + ["ha"] * (len(kinds) + 2),
                            f"{_source_of(ws, 'parcels', 'protected_areas', 'water_bodies', 'hazard_zones', 'legal_zones')}; "
                            f"{_rules_note(ws, 'restrictions', 'zoning_rules', lang=lang)}", total_row=bool(rows)))
    narr.restrictions(ctx, doc)
    doc.blocks.append(Figure(_map_restrictions(ctx, figdir), t("report.map.restrictions", lang),
                             f"{_source_of(ws, 'protected_areas', 'water_bodies', 'hazard_zones')}; "
                             f"{_rules_note(ws, 'restrictions', lang=lang)}"))

    # 6.5 conflicts: a summary by restriction and land use in the body, the list in the annex
    doc.blocks.append(Heading(t("report.s6.conflicts", lang)))
    c = ctx.conflicts
    if c is not None and len(c):
        lu = catalogue("land_uses", ws)
        summary = conflict_summary(c)
        rows = [[_restriction_text(r["kind"], r["subtype"], lang),
                 lu.label(r["land_use"], lang) if r["land_use"] in lu.items else r["land_use"],
                 int(r["parcels"]), r["conflict_area_ha"]] for r in summary.to_dict(orient="records")]
        rows.append([t("report.total", lang), "", int(c["cadastral_no"].nunique()),
                     float(c["conflict_area_ha"].sum())])
        doc.blocks.append(Table(t("report.s6.conflicts_summary", lang),
                                [t("report.col.restriction", lang), t("report.col.use", lang),
                                 t("report.col.parcels", lang), t("report.col.conflict_ha", lang)],
                                rows, ["text", "text", "int", "ha"],
                                f"{_source_of(ws, 'parcels')}; {_rules_note(ws, 'restrictions', lang=lang)}", total_row=True))
        narr.conflicts(ctx, doc, summary, _restriction_text)
    else:
        doc.blocks.append(Para(t("report.none_found", lang), "note"))

    # 6.6 prospects: programmes and plans, then the growth scenario
    doc.blocks.append(Heading(t("report.s6.prospects", lang)))
    sub.programmes(ctx, doc)
    if ctx.scenario is None:
        doc.blocks.append(Para(t("report.s6.no_scenario", lang), "note"))
    else:
        _scenario_blocks(ctx, doc, figdir)
    # 6.7 sectoral land needs, housing, densification; 6.8 infrastructure as space
    sub.land_needs(ctx, doc)
    sub.infrastructure(ctx, doc)
    doc.number("6")
    return doc


def conflict_summary(conflicts: pd.DataFrame) -> pd.DataFrame:
    """Conflicts by restriction (kind, subtype) and land use: parcels and conflict area, largest first."""
    c = conflicts.assign(subtype=conflicts["subtype"].fillna("").astype(str),
                         land_use=conflicts["land_use"].fillna("").astype(str))
    out = (c.groupby(["kind", "subtype", "land_use"], as_index=False)
           .agg(parcels=("cadastral_no", "nunique"), conflict_area_ha=("conflict_area_ha", "sum")))
    return out.sort_values(["conflict_area_ha", "parcels"], ascending=False, kind="stable").reset_index(drop=True)


def _restriction_text(kind, subtype, lang: str) -> str:
    """'Coastal strip (canal)': the restriction kind with its subtype (water type, hazard …) when there is one."""
    base = t(f"report.kind.{kind}", lang)
    sub = _code_text(subtype, lang, "zoning.water", "report.hazard", "zoning.regime") if subtype else ""
    return f"{base} ({sub})" if sub and sub != subtype else base


def conflicts_annex(ctx: ReportContext) -> Document | None:
    """Annex: every parcel in conflict with a restriction regime (the body has the summary)."""
    c, lang, ws = ctx.conflicts, ctx.lang, ctx.ws
    if c is None or not len(c):
        return None
    lu = catalogue("land_uses", ws)
    doc = Document(title=t("report.annex.conflicts", lang), lang=lang, annex=True)
    rows = [[r.get("cadastral_no"), lu.label(r.get("land_use"), lang) if r.get("land_use") in lu.items
             else r.get("land_use"), _restriction_text(r.get("kind"), r.get("subtype"), lang),
             r.get("conflict_area_ha"), r.get("share")]
            for r in c.sort_values(["kind", "conflict_area_ha", "cadastral_no"], ascending=[True, False, True],
                                   kind="stable").to_dict(orient="records")]
    doc.blocks.append(Table(t("report.s6.conflicts_table", lang),
                            [t("report.col.cadastral_no", lang), t("report.col.use", lang),
                             t("report.col.restriction", lang), t("report.col.conflict_ha", lang),
                             t("report.col.share", lang)],
                            rows, ["text", "text", "text", "ha", "pct"],
                            f"{_source_of(ws, 'parcels')}; {_rules_note(ws, 'restrictions', lang=lang)}"))
    doc.blocks.append(Para(t("report.annex.conflicts_note", lang, file=f"conflicts_{lang}.xlsx"), "note"))
    return doc


def _note_if_truncated(doc: Document, total: int, shown: int, lang: str, csv_name: str) -> None:
    """Say so under a table that shows only the first ``shown`` of ``total`` rows (the full list is
    written beside the report as ``csv_name`` by :func:`gis_planner.report.build_report`)."""
    if total > shown:
        doc.blocks.append(Para(t("report.truncated", lang, shown=shown, total=total, file=csv_name), "note"))


def _keys():
    from ..i18n import messages

    return messages()


def _code_text(code, lang: str, *prefixes: str) -> str:
    """The text of a data code (regime, status …) from the first catalogue prefix that has it, else the code."""
    if code is None or (isinstance(code, float) and pd.isna(code)):
        return ""
    for prefix in prefixes:
        key = f"{prefix}.{code}"
        if key in _keys():
            return t(key, lang)
    return str(code)


def _scenario_blocks(ctx: ReportContext, doc: Document, figdir: Path) -> None:
    ws, lang, r = ctx.ws, ctx.lang, ctx.scenario
    acts = catalogue("activities", ws)
    summ = r.allocation.summary
    def qty(x, unit):   # plots are counted: whole numbers
        return int(round(float(x))) if unit == "plots" else float(x)

    rows = [[acts.label(s.use, lang) if s.use in acts.items else s.use, _code_text(s.unit, lang, "scenarios.unit"),
             qty(s.demand, s.unit), qty(s.allocated, s.unit), qty(s.unmet, s.unit)] for s in summ.itertuples()]
    doc.blocks.append(Para(t("report.s6.scenario_text", lang, scenario=r.scenario.title(lang))))
    narr.scenario(ctx, doc)
    doc.blocks.append(Table(t("report.s6.allocation_table", lang),
                            [t("report.col.use", lang), t("report.col.unit", lang), t("report.col.demand", lang),
                             t("report.col.allocated", lang), t("report.col.unmet", lang)],
                            rows, ["text", "text", "qty", "qty", "qty"],
                            f"{_source_of(ws, 'parcels')}; {_rules_note(ws, 'scenario_norms', lang=lang)}"))
    from ..scenarios import compare_table

    ind = compare_table([r], lang)
    keys = ind.attrs.get("keys") or [""] * len(ind)

    def value(v, key):   # counts whole (as the app shows them), areas (ha) and money (million som) 1 decimal
        if v is None or v != v:
            return None
        return float(v) if key.endswith("_ha") or "mio_som" in key else int(round(float(v)))

    doc.blocks.append(Table(t("report.s6.indicators_table", lang),
                            [t("report.col.item", lang), t("report.col.value", lang)],
                            [[row[0], value(row[1], k)] for row, k in zip(ind.itertuples(index=False), keys)],
                            ["text", "qty"], _rules_note(ws, "scenario_norms", lang=lang)))
    from ..scenarios.explain import base_lines, unmet_lines, village_table

    for line in base_lines(r.demand, lang):      # the scenario's base (workspace / scenario) and plausibility
        doc.blocks.append(Para(line, "note"))
    vt = village_table(r.allocation, lang)
    if len(vt):                                  # demand, allocated land and unmet demand per village
        doc.blocks.append(Table(t("scenarios.title.villages", lang), list(vt.columns),
                                vt.astype(object).where(vt.notna(), "").values.tolist(),
                                ["text"] * 7,
                                f"{_source_of(ws, 'settlements')}; {_rules_note(ws, 'scenario_norms', lang=lang)}"))
    for block in unmet_lines(r.allocation, lang):  # the alternatives for the unmet demand of each village
        head, *options = block.split("\n")
        doc.blocks.append(Para(head, "warning"))
        for line in options:
            doc.blocks.append(Para(line.strip()))
    d = r.allocation.densification or {}
    if d.get("unmet_households"):
        doc.blocks.append(Para(t("report.s6.densification_text", lang,
                                 households=fmt_number(d.get("unmet_households"), lang, 0),
                                 ha=fmt_number(d.get("multistorey_ha_for_unmet"), lang, 1)), "warning"))
    doc.blocks.append(Figure(_map_allocation(ctx, figdir), t("report.map.allocation", lang),
                             f"{_source_of(ws, 'parcels')}; {_rules_note(ws, 'scenario_norms', lang=lang)}"))
    tr = r.consequences.transformations
    if len(tr):
        cats = catalogue("land_categories", ws)
        rows = [[x.cadastral_no, cats.label(x.current_category, lang), cats.label(x.target_category, lang),
                 acts.label(x.use, lang) if x.use in acts.items else x.use, x.area_ha] for x in tr.itertuples()]
        rows.append([t("report.total", lang), "", "", "", float(tr["area_ha"].sum())])
        doc.blocks.append(Heading(t("report.s6.transformations", lang), 2))
        doc.blocks.append(Table(t("report.s6.transformations", lang),
                                [t("report.col.cadastral_no", lang), t("report.col.current_category", lang),
                                 t("report.col.target_category", lang), t("report.col.use", lang),
                                 t("report.col.area_ha", lang)], rows, ["text", "text", "text", "text", "ha"],
                                _source_of(ws, "parcels"), total_row=True))


# ----------------------------------------------------------------------------- section 7
def section7(ctx: ReportContext, figdir: Path) -> Document:
    ws, lang, b = ctx.ws, ctx.lang, ctx.balance
    doc = Document(title=t("report.s7.title", lang), lang=lang,
                   subtitle=t("report.s7.subtitle", lang, name=ws.name))
    if ws.meta().get("synthetic"):
        doc.blocks.append(Para(t("report.synthetic_warning", lang), "warning"))
    doc.blocks.append(Para(t("report.draft_note", lang), "note"))
    cats = catalogue("land_categories", ws)
    parcels = ctx.layer("parcels")

    # 7.1 land
    doc.blocks.append(Heading(t("report.s7.land", lang)))
    lt = b.by_land_type.set_index("code")["area_ha"] if len(b.by_land_type) else pd.Series(dtype=float)
    narr.land(ctx, doc)
    if parcels is not None and "pasture_class" in parcels and (parcels["land_type"] == "pasture").any():
        pc = catalogue("land_types.pasture_classes", ws)
        p = parcels[parcels["land_type"] == "pasture"]
        g = p.assign(a=p.geometry.area / HA).groupby(p["pasture_class"].fillna("-"))["a"].agg(["sum", "count"])
        rows = [[pc.label(k, lang) if k in pc.items else str(k), r["sum"], int(r["count"])] for k, r in g.iterrows()]
        doc.blocks.append(Table(t("report.s7.pastures_table", lang),
                                [t("report.col.type", lang), t("report.col.area_ha", lang),
                                 t("report.col.parcels", lang)], rows, ["text", "ha", "int"],
                                _source_of(ws, "parcels")))

    # 7.2 water
    doc.blocks.append(Heading(t("report.s7.water", lang)))
    narr.water(ctx, doc)
    water = ctx.layer("water_bodies")
    if water is not None and len(water):
        rows = []
        for r in water.itertuples():
            geom = r.geometry
            is_poly = geom.geom_type.endswith("Polygon")
            rows.append([getattr(r, "name", "") or "", t(f"report.water.{r.water_type}", lang)
                         if f"report.water.{r.water_type}" in _keys() else str(r.water_type),
                         None if is_poly else geom.length / 1000.0, geom.area / HA if is_poly else None])
        doc.blocks.append(Table(t("report.s7.water_table", lang),
                                [t("report.col.name", lang), t("report.col.type", lang),
                                 t("report.col.length_km", lang), t("report.col.area_ha", lang)],
                                rows, ["text", "text", "num1", "ha"], _source_of(ws, "water_bodies")))
    wpz_kinds = [k for k in ("water_protection_zone", "coastal_strip") if k in b.restricted.columns]
    wpz = _union_area(ctx.restrictions, wpz_kinds)
    doc.blocks.append(Para(t("report.s7.water_text", lang, wpz=fmt_number(wpz, lang, 1))))
    sub.glaciers(ctx, doc)

    # 7.3 ecosystems
    doc.blocks.append(Heading(t("report.s7.ecosystems", lang)))
    rows = []
    for code in ("forest_fund", "protected", "water_fund"):
        rows.append([cats.label(code, lang), float(b.by_category.set_index("code")["area_ha"].get(code, 0.0))])
    for code in ("pasture", "hayfield", "perennial"):
        rows.append([catalogue("land_types", ws).label(code, lang), float(lt.get(code, 0.0))])
    pa = ctx.layer("protected_areas")
    doc.blocks.append(Table(t("report.s7.ecosystems_table", lang),
                            [t("report.col.item", lang), t("report.col.area_ha", lang)], rows, ["text", "ha"],
                            _source_of(ws, "parcels", "protected_areas")))
    if pa is not None and len(pa):
        # the area inside the municipality, as the restrictions table and the balance measure it
        import numpy as np
        import shapely

        from ..zoning.areas import boundary_geometry

        inside = boundary_geometry(ws)
        pa_geoms = np.asarray(pa.geometry.values, dtype=object)
        pa_area = shapely.area(shapely.intersection(pa_geoms, inside) if inside is not None else pa_geoms) / HA
        narr.ecosystems(ctx, doc, rows, pa_area)
        rows = [[getattr(r, "name", ""), _code_text(getattr(r, "regime", ""), lang, "zoning.regime"),
                 float(a)] for r, a in zip(pa.itertuples(), pa_area)]
        doc.blocks.append(Table(t("report.s7.protected_table", lang),
                                [t("report.col.name", lang), t("report.col.type", lang), t("report.col.area_ha", lang)],
                                rows, ["text", "text", "ha"], _source_of(ws, "protected_areas")))
    else:
        narr.ecosystems(ctx, doc, rows, None)

    sub.pastures(ctx, doc)

    # 7.4 hazards
    doc.blocks.append(Heading(t("report.s7.hazards", lang)))
    narr.hazards(ctx, doc)
    _dem_fitness_paras(doc, ctx, lang)
    hc = ctx.hazard_compare
    if hc is not None and len(hc):
        rows = [[t(f"report.hazard.{r['hazard_type']}", lang), t(f"report.level.{r['level']}", lang),
                 r.get("official_ha"), r.get("computed_ha"), r.get("effective_ha")]
                for r in hc.to_dict(orient="records")]
        doc.blocks.append(Table(t("report.s7.hazards_table", lang),
                                [t("report.col.hazard", lang), t("report.col.level", lang),
                                 t("report.col.official_ha", lang), t("report.col.computed_ha_hz", lang),
                                 t("report.col.effective_ha", lang)], rows, ["text", "text", "ha", "ha", "ha"],
                                f"{_source_of(ws, 'hazard_zones', 'dem')}; {_rules_note(ws, 'hazards', lang=lang)}"))
        doc.blocks.append(Para(t("report.s7.official_governs", lang), "note"))
        _validation_table(doc, ctx, lang)
        doc.blocks.append(Figure(_map_hazards(ctx, figdir), t("report.map.hazards", lang),
                                 f"{_source_of(ws, 'hazard_zones', 'dem')}; {_rules_note(ws, 'hazards', lang=lang)}"))
    else:
        doc.blocks.append(Para(t("report.none_found", lang), "note"))
    ex = ctx.exposure
    if ex is not None and len(ex):
        screening = f" ({t('hazards.basis.screening', lang)})"
        rows = [[t(f"report.hazard.{r['hazard_type']}", lang),
                 t(f"report.level.{r['level']}", lang) + (screening if r.get("screening") else ""),
                 r.get("parcels"), r.get("house_plots"), r.get("buildings"), r.get("population"),
                 r.get("roads_km")] for r in ex.to_dict(orient="records")]
        doc.blocks.append(Table(t("report.s7.exposure_table", lang),
                                [t("report.col.hazard", lang), t("report.col.level", lang),
                                 t("report.col.parcels", lang), t("report.col.house_plots", lang),
                                 t("report.col.buildings", lang), t("report.col.population", lang),
                                 t("report.col.roads_km", lang)], rows,
                                ["text", "text", "int", "int", "int", "int", "num1"],
                                f"{_source_of(ws, 'parcels', 'buildings', 'roads', 'hazard_zones')}; "
                                f"{_rules_note(ws, 'hazards', lang=lang)}"))
    rel = ctx.relocation
    if rel is not None and len(rel):
        rows = [[r.get("cadastral_no"), r.get("settlement"),
                 ", ".join(_code_text(h, lang, "report.hazard") for h in str(r.get("hazard_types") or "").split(";")
                           if h), r.get("overlap_share"),
                 r.get("households"), r.get("population")] for r in rel.head(80).to_dict(orient="records")]
        doc.blocks.append(Table(t("report.s7.relocation_table", lang),
                                [t("report.col.cadastral_no", lang), t("report.col.settlement", lang),
                                 t("report.col.hazard", lang), t("report.col.share", lang),
                                 t("report.col.households", lang), t("report.col.population", lang)],
                                rows, ["text", "text", "text", "pct", "int", "int"],
                                f"{_source_of(ws, 'parcels', 'hazard_zones')}; {_rules_note(ws, 'hazards', lang=lang)}"))
        _note_if_truncated(doc, len(rel), 80, lang, f"relocation_{lang}.csv")
    if rel is not None and rel.attrs.get("screening_only"):
        doc.blocks.append(Para(t("hazards.fit.relocation_screening", lang, n=rel.attrs["screening_only"]), "note"))

    # 7.5 air
    sub.air(ctx, doc)

    # 7.6 waste and community problems
    doc.blocks.append(Heading(t("report.s7.waste", lang)))
    waste = ctx.layer("waste_sites")
    if waste is not None and len(waste):
        narr.waste_sites(ctx, doc, waste)
        rows = [[getattr(r, "name", "") or "", t(f"report.waste.{r.site_type}", lang)
                 if f"report.waste.{r.site_type}" in _keys() else str(r.site_type),
                 r.geometry.area / HA if r.geometry.geom_type.endswith("Polygon") else None,
                 _code_text(getattr(r, "status", "") or "", lang, "report.status")]
                for r in waste.itertuples()]
        doc.blocks.append(Table(t("report.s7.waste_table", lang),
                                [t("report.col.name", lang), t("report.col.type", lang), t("report.col.area_ha", lang),
                                 t("report.col.status", lang)], rows, ["text", "text", "ha", "text"],
                                _source_of(ws, "waste_sites")))
    sub.waste_volumes(ctx, doc)
    pr = ctx.problems
    if pr is not None and len(pr):
        narr.problems(ctx, doc)
        rows = [[r.get("title"), r.get("village"), r.get("group_label") or r.get("participant_group"),
                 r.get("votes")] for r in pr.head(40).to_dict(orient="records")]
        doc.blocks.append(Table(t("report.s7.problems_table", lang),
                                [t("report.col.title", lang), t("report.col.settlement", lang),
                                 t("report.col.group", lang), t("report.col.votes", lang)],
                                rows, ["text", "text", "text", "int"], t("report.src.community", lang)))
    if ctx.community is not None and len(ctx.community):
        doc.blocks.append(Figure(_map_community(ctx, figdir), t("report.map.community", lang),
                                 t("report.src.community", lang)))

    # 7.7 energy saving, 7.8 natural-resource management
    sub.energy(ctx, doc)
    sub.resources(ctx, doc)

    # 7.9 measures: what, indicator, target, cost, who, when
    doc.blocks.append(Heading(t("report.s7.adaptation", lang)))
    items = load_rules("adaptation_measures", ws)["items"]
    rows = []
    for code in ctx.measures:
        it = items.get(code)
        if it is None:
            continue
        rows.append([(it.get("names") or {}).get(lang, code), (it.get("indicator") or {}).get(lang, ""),
                     *sub.measure_plan(ctx, code)])
    doc.blocks.append(Table(t("report.s7.measures_table", lang),
                            [t("report.col.measure", lang), t("report.col.indicator", lang),
                             t("report.col.target", lang), t("report.col.cost_mio_som", lang),
                             t("report.col.responsible", lang), t("report.col.timeline", lang)], rows,
                            ["text", "text", "text", "num1", "text", "text"],
                            _rules_note(ws, "adaptation_measures", lang=lang)))
    narr.measures(ctx, doc, rows)
    if any(not all(r[2:]) for r in rows):
        sub.placeholder(doc, lang, "measure_plan", "environment")
    doc.number("7")
    return doc


def _union_area(frame: gpd.GeoDataFrame, kinds: list[str]) -> float:
    if frame is None or not len(frame) or not kinds:
        return 0.0
    import shapely

    sel = frame[frame["kind"].isin(kinds)]
    if not len(sel):
        return 0.0
    return float(shapely.union_all(sel.geometry.values).area) / HA


# ----------------------------------------------------------------------------- maps
def _base_layers(ctx: ReportContext) -> list[MapLayer]:
    lang = ctx.lang
    out = []
    water = ctx.layer("water_bodies")
    if water is not None and len(water):
        poly = water[water.geometry.geom_type.str.endswith("Polygon")]
        lines = water[~water.geometry.geom_type.str.endswith("Polygon")]
        out.append(MapLayer(poly, t("report.map.water", lang), "#6baed6", alpha=0.8, zorder=5))
        out.append(MapLayer(lines, "", "#2171b5", kind="line", linewidth=0.8, legend=False, zorder=6))
    roads = ctx.layer("roads")
    if roads is not None and len(roads):
        out.append(MapLayer(roads, t("report.map.roads", lang), "#555555", kind="line", linewidth=0.5, zorder=7))
    return out


def _drawing(ctx: ReportContext, name: str) -> None:
    if ctx.on_map is not None:
        ctx.on_map(name)


def _map_categories(ctx: ReportContext, figdir: Path) -> Path:
    _drawing(ctx, "categories")
    cats = catalogue("land_categories", ctx.ws)
    parcels = ctx.layer("parcels")
    layer = MapLayer(parcels, column="category", colors={c: cats.color(c) for c in cats.codes},
                     labels={c: cats.label(c, ctx.lang, short=True) for c in cats.codes}, alpha=0.75,
                     edgecolor="#ffffff", linewidth=0.05)
    return render_map(ctx.ws, [layer] + _base_layers(ctx), t("report.map.categories", ctx.lang),
                      _sources_line(ctx, "parcels", "dem"), figdir / f"map_categories_{ctx.lang}.png", ctx.lang, basemap=ctx.basemap)


_KIND_COLORS = {"protected_area": "#1a9850", "water_protection_zone": "#74add1", "coastal_strip": "#313695",
                "forest_fund": "#006837", "hazard": "#d73027", "legal_zone": "#984ea3"}


def _map_restrictions(ctx: ReportContext, figdir: Path) -> Path:
    _drawing(ctx, "restrictions")
    r = ctx.restrictions
    layers = []
    if r is not None and len(r):
        order = ["forest_fund", "protected_area", "water_protection_zone", "coastal_strip", "legal_zone", "hazard"]
        rr = r.assign(_o=r["kind"].map({k: i for i, k in enumerate(order)}).fillna(99)).sort_values("_o")
        layers.append(MapLayer(rr, column="kind", colors=_KIND_COLORS,
                               labels={k: t(f"report.kind.{k}", ctx.lang) for k in _KIND_COLORS}, alpha=0.45))
    return render_map(ctx.ws, layers + _base_layers(ctx), t("report.map.restrictions", ctx.lang),
                      _sources_line(ctx, "protected_areas", "water_bodies", "hazard_zones"),
                      figdir / f"map_restrictions_{ctx.lang}.png", ctx.lang, basemap=ctx.basemap)


_LEVEL_COLORS = {"high": "#bd0026", "medium": "#fd8d3c", "low": "#fed976"}


def _dem_fitness_paras(doc, ctx, lang: str) -> None:
    """What the DEM supports for each hazard model, and the screening note (see hazards.fitness)."""
    ws = ctx.ws
    if ws.dem_path is None:
        return
    from ..hazards.fitness import fitness_report

    _, fit, lines = fitness_report(ws, lang)
    for line in lines:
        doc.blocks.append(Para(line, "note"))
    if any(not f["fit"] for f in fit.values()):
        doc.blocks.append(Para(t("hazards.fit.screening_note", lang), "note"))


def _validation_table(doc, ctx, lang: str) -> None:
    """Agreement of the computed zones with the official ones (see hazards.validation)."""
    from ..hazards.validation import validate_zones

    val = validate_zones(ctx.ws)
    if not len(val):
        return
    rows = [[t(f"report.hazard.{r['hazard_type']}", lang), r["official_high_ha"], r["captured_high"],
             r["false_alarm_high"], r["auc"]] for r in val.to_dict(orient="records")]
    doc.blocks.append(Table(t("hazards.validate.title", lang),
                            [t("report.col.hazard", lang), t("hazards.col.official_high_ha", lang),
                             t("hazards.col.captured_high", lang), t("hazards.col.false_alarm_high", lang),
                             t("hazards.col.auc", lang)], rows, ["text", "ha", "pct", "pct", "num2"],
                            f"{_source_of(ctx.ws, 'hazard_zones')}; {_rules_note(ctx.ws, 'hazards', lang=lang)}"))
    doc.blocks.append(Para(t("hazards.validate.note", lang), "note"))


def _map_hazards(ctx: ReportContext, figdir: Path) -> Path:
    _drawing(ctx, "hazards")
    z = ctx.hazard_zones
    lv = {"low": 0, "medium": 1, "high": 2}
    zz = z.assign(_o=z["level"].map(lv).fillna(-1)).sort_values("_o")
    scr = (zz["basis"].astype(str) == "screening").to_numpy() if "basis" in zz else np.zeros(len(zz), bool)
    layers = []
    if (~scr).any():
        layers.append(MapLayer(zz[~scr], column="level", colors=_LEVEL_COLORS,
                               labels={k: t(f"report.level.{k}", ctx.lang) for k in _LEVEL_COLORS}, alpha=0.55))
    if scr.any():  # screening zones hatched, so they never read as the zones that govern
        suffix = f" ({t('hazards.basis.screening', ctx.lang)})"
        layers.append(MapLayer(zz[scr], column="level", colors=_LEVEL_COLORS, hatch="///", linewidth=0.4,
                               labels={k: t(f"report.level.{k}", ctx.lang) + suffix for k in _LEVEL_COLORS},
                               alpha=0.7))
    return render_map(ctx.ws, layers + _base_layers(ctx), t("report.map.hazards", ctx.lang),
                      _sources_line(ctx, "hazard_zones", "dem"), figdir / f"map_hazards_{ctx.lang}.png", ctx.lang, basemap=ctx.basemap)


def _map_community(ctx: ReportContext, figdir: Path) -> Path:
    _drawing(ctx, "community")
    from ..community import categories

    feats = ctx.community
    cat = categories()
    colors = {c: cat.color(c) for c in cat.codes} if hasattr(cat, "codes") else {}
    labels = {c: cat.label(c, ctx.lang) for c in cat.codes} if hasattr(cat, "codes") else {}
    layers = []
    for kind, pred in (("polygon", "Polygon"), ("line", "LineString"), ("point", "Point")):
        part = feats[feats.geometry.geom_type.str.endswith(pred)]
        if len(part):
            layers.append(MapLayer(part, column="category", colors=colors, labels=labels, kind=kind,
                                   alpha=0.6, zorder=8, legend=kind == "point" or not len(layers)))
    settlements = ctx.layer("settlements")
    if settlements is not None and len(settlements):
        layers.insert(0, MapLayer(settlements, t("report.map.settlements", ctx.lang), "#fdd0a2", alpha=0.5))
    minx, miny, maxx, maxy = feats.total_bounds
    pad = max(800.0, 0.15 * max(maxx - minx, maxy - miny))
    return render_map(ctx.ws, _base_layers(ctx) + layers, t("report.map.community", ctx.lang),
                      ["community.gpkg"], figdir / f"map_community_{ctx.lang}.png", ctx.lang,
                      extent=(minx - pad, miny - pad, maxx + pad, maxy + pad), basemap=ctx.basemap)


def _map_allocation(ctx: ReportContext, figdir: Path) -> Path:
    _drawing(ctx, "allocation")
    pieces = ctx.scenario.allocation.pieces
    acts = catalogue("activities", ctx.ws)
    palette = {"housing": "#e31a1c", "social_facility": "#6a3d9a", "irrigated_agriculture": "#33a02c",
               "industry": "#7f7f7f", "tourism_facility": "#ff7f00"}
    settlements = ctx.layer("settlements")
    layers = []
    if settlements is not None and len(settlements):
        layers.append(MapLayer(settlements, t("report.map.settlements", ctx.lang), "#fdd0a2", alpha=0.6))
    if pieces is not None and len(pieces):
        layers.append(MapLayer(pieces, column="use", colors=palette,
                               labels={k: acts.label(k, ctx.lang) for k in palette}, alpha=0.85, zorder=9))
    # zoom to where the growth goes: the settlements and the allocated land, with 1 km around
    parts = [g.total_bounds for g in (settlements, pieces) if g is not None and len(g)]
    extent = None
    if parts:
        extent = (min(p[0] for p in parts) - 1000, min(p[1] for p in parts) - 1000,
                  max(p[2] for p in parts) + 1000, max(p[3] for p in parts) + 1000)
    return render_map(ctx.ws, layers + _base_layers(ctx), t("report.map.allocation", ctx.lang),
                      _sources_line(ctx, "parcels"), figdir / f"map_allocation_{ctx.lang}.png", ctx.lang,
                      extent=extent, basemap=ctx.basemap)


def _sources_line(ctx: ReportContext, *layers: str) -> list[str]:
    s = _source_of(ctx.ws, *layers)
    date = _dt.date.today().isoformat()
    return [s, f"{t('core.date', ctx.lang)}: {date}"]
