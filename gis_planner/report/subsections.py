"""The subsections of sections 6 and 7 that the methodology names and the analyses alone cannot fill.

Each is filled from the workspace where the data exist — a layer (``glaciers``, ``utility_lines``,
``roads``) or the working group's figures in ``<workspace>/environment.yaml`` — and otherwise gets a
clearly marked placeholder (:class:`~gis_planner.report.document.Para` with style ``placeholder``) that
says which figure is missing and how to add it. ``environment.yaml`` (every entry optional)::

    programmes:            # 6.6 state and regional programmes touching the territory
      - {name: "…", years: "2025–2030", body: "…", spatial: "…"}
    housing_queue: {households: 600, date: 2026-03-01, source: "айыл өкмөтү"}
    pastures: {livestock_units: 5400, capacity_units: 4100, degraded_ha: 900, source: "…", date: …}
    air: {text: "…", source: "…", date: …}
    waste: {volume_t_year: 2100, coverage_pct: 45, source: "…", date: …}
    energy: {text: "…", source: "…"}
    resources: {text: "…", source: "…"}
    measures:              # 7.9 per measure code of layers/adaptation_measures.yaml
      waste_collection_points: {target: "…", cost_mio_som: 1.2, responsible: "…", timeline: "2026–2027"}

Texts may be one string or ``{ky: …, ru: …, en: …}``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from .. import yamlio
from ..i18n import t
from .document import Document, Heading, Para, Table
from . import narrative as narr
from .fmt import fmt_date, fmt_number

HA = 10_000.0
ENV_FILE = "environment.yaml"


_ENV_CACHE: dict = {}


def environment(ws) -> dict:
    """The working group's figures (``<workspace>/environment.yaml``), ``{}`` when there is none.

    Read once while the file is unchanged (a report asks for it in a dozen subsections)."""
    path = Path(ws.root) / ENV_FILE
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _ENV_CACHE:
        _ENV_CACHE.clear()
        _ENV_CACHE[key] = _read_environment(path)
    return _ENV_CACHE[key]


def _read_environment(path: Path) -> dict:
    try:
        data = yamlio.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        from ..errors import GisPlannerError

        raise GisPlannerError(f"cannot read {ENV_FILE} ({exc})", file=str(path),
                              fix="fix the YAML (see docs/report.md for its keys) or remove the file",
                              code="bad_environment") from None
    return data if isinstance(data, dict) else {}


def _text(value, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("ru") or value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _cite(entry: dict, lang: str) -> str:
    src = entry.get("source")
    if not src:
        return t("report.src.working_group", lang)
    return f"{src}, {fmt_date(entry['date'], 'ru')}" if entry.get("date") else str(src)


def placeholder(doc: Document, lang: str, what: str, how: str) -> None:
    """A marked placeholder: what is missing (``report.need.<what>``) and how to add it (``report.how.<how>``)."""
    doc.blocks.append(Para(t("report.placeholder", lang, what=t(f"report.need.{what}", lang),
                             how=t(f"report.how.{how}", lang)), "placeholder"))


def _figures(doc: Document, lang: str, entry: dict, what: str, text: str | None, topic: str = "") -> None:
    """The working group's ``text`` with its source, or the placeholder for ``what`` when there is none."""
    if text:
        doc.blocks.append(Para(text, topic=topic))
        doc.blocks.append(Para(f"{t('report.source', lang)}: {_cite(entry, lang)}", "note"))
    else:
        placeholder(doc, lang, what, "environment")


def _text_section(doc: Document, env: dict, key: str, lang: str) -> None:
    entry = env.get(key) or {}
    _figures(doc, lang, entry, key, _text(entry.get("text"), lang))


# ----------------------------------------------------------------------------- section 6
def programmes(ctx, doc: Document) -> None:
    """6.6: state and regional programmes 2025–2030 and district/regional spatial plans."""
    lang = ctx.lang
    doc.blocks.append(Heading(t("report.s6.programmes", lang), level=2))
    rows = [[_text(p.get("name"), lang), _text(p.get("years"), lang), _text(p.get("body"), lang),
             _text(p.get("spatial"), lang)] for p in environment(ctx.ws).get("programmes") or [] if isinstance(p, dict)]
    if rows:
        doc.blocks.append(Table(t("report.s6.programmes", lang),
                                [t("report.col.programme", lang), t("report.col.years", lang),
                                 t("report.col.body", lang), t("report.col.spatial_effect", lang)],
                                rows, ["text"] * 4, t("report.src.working_group", lang)))
        narr.programmes(ctx, doc, rows)
    else:
        placeholder(doc, lang, "programmes", "environment")


def land_needs(ctx, doc: Document) -> None:
    """6.7: sectoral land needs, housing shortage and densification."""
    ws, lang = ctx.ws, ctx.lang
    doc.blocks.append(Heading(t("report.s6.land_needs", lang)))
    env = environment(ws)
    queue = env.get("housing_queue") or {}
    if queue.get("households"):
        narr.queue(ctx, doc, queue, _cite(queue, lang))
    else:
        placeholder(doc, lang, "housing_queue", "environment")
    parcels = ctx.layer("parcels")
    if parcels is not None and "land_use" in parcels:
        house = parcels[parcels["land_use"].astype(str) == "housing"]
        if len(house):
            from ..catalog import load_rules

            areas = house.geometry.area / HA
            norm = float(load_rules("scenario_norms", ws)["housing"]["plot_size_max_ha"]["value"])
            large = int((areas >= 2 * norm).sum())   # a plot twice the norm could be split in two
            key = "report.s6.density_text" if large else "report.s6.density_none_text"
            doc.blocks.append(Para(t(key, lang, n=fmt_number(len(house), lang, 0),
                                     total=fmt_number(float(areas.sum()), lang, 1),
                                     mean=fmt_number(float(areas.mean()), lang, 3),
                                     large=fmt_number(large, lang, 0), twice=fmt_number(2 * norm, lang, 2))))
    if ctx.scenario is None:
        placeholder(doc, lang, "sector_needs", "scenario")
    else:
        doc.blocks.append(Para(t("report.s6.needs_see_scenario", lang), "note"))


def infrastructure(ctx, doc: Document) -> None:
    """6.8: the spatial side of infrastructure — roads and utility lines as constraints, networks the growth needs."""
    lang = ctx.lang
    doc.blocks.append(Heading(t("report.s6.infrastructure", lang)))
    _lengths_by_type(ctx, doc, "roads", "road_class", "report.road", "report.s6.roads_table", "roads", "import_roads")
    _lengths_by_type(ctx, doc, "utility_lines", "line_type", "report.line", "report.s6.lines_table", "utility_lines",
                     "import_lines")
    if ctx.scenario is None:
        placeholder(doc, lang, "networks", "scenario")
    else:
        doc.blocks.append(Para(t("report.s6.networks_see_scenario", lang), "note"))


def _lengths_by_type(ctx, doc: Document, layer: str, field: str, label_prefix: str, caption: str, what: str,
                     how: str) -> None:
    """Kilometres of a line layer per type (``<label_prefix>.<type>``), or the placeholder saying how to add it."""
    from .sections import _source_of

    lang = ctx.lang
    lines = ctx.layer(layer)
    if lines is None or not len(lines):
        placeholder(doc, lang, what, how)
        return
    kind = lines[field].fillna("").astype(str) if field in lines else pd.Series("", index=lines.index)
    g = lines.assign(km=lines.geometry.length / 1000.0, k=kind).groupby("k")["km"].sum()
    rows = [[t(f"{label_prefix}.{k}", lang) if k else "—", float(v)] for k, v in g.items()]
    doc.blocks.append(Table(t(caption, lang), [t("report.col.type", lang), t("report.col.length_km", lang)], rows,
                            ["text", "num1"], _source_of(ctx.ws, layer)))
    narr.lengths(ctx, doc, layer, field, label_prefix)


# ----------------------------------------------------------------------------- section 7
def glaciers(ctx, doc: Document) -> None:
    """7.2: glaciers (мөңгүлөр) from the ``glaciers`` layer (e.g. the Randolph Glacier Inventory)."""
    ws, lang = ctx.ws, ctx.lang
    doc.blocks.append(Heading(t("report.s7.glaciers", lang), level=2))
    g = ctx.layer("glaciers")
    if g is not None and len(g):
        from .sections import _source_of

        narr.glaciers(ctx, doc, g)
        doc.blocks.append(Para(f"{t('report.source', lang)}: {_source_of(ws, 'glaciers')}", "note"))
    else:
        placeholder(doc, lang, "glaciers", "import_glaciers")


def pastures(ctx, doc: Document) -> None:
    """7.3: pasture condition and load (livestock units against capacity)."""
    lang = ctx.lang
    doc.blocks.append(Heading(t("report.s7.pasture_load", lang), level=2))
    p = environment(ctx.ws).get("pastures") or {}
    text = None
    if p.get("livestock_units") and p.get("capacity_units"):
        text = narr.pasture_load(ctx, p)
    _figures(doc, lang, p, "pastures", text, topic="pasture_load")


def air(ctx, doc: Document) -> None:
    doc.blocks.append(Heading(t("report.s7.air", ctx.lang)))
    _text_section(doc, environment(ctx.ws), "air", ctx.lang)


def waste_volumes(ctx, doc: Document) -> None:
    """7.6: solid-waste volumes and collection coverage."""
    lang = ctx.lang
    w = environment(ctx.ws).get("waste") or {}
    text = None
    if w.get("volume_t_year") is not None and w.get("coverage_pct") is not None:
        text = t("report.s7.waste_volume_text", lang, volume=fmt_number(w["volume_t_year"], lang, 0),
                 coverage=fmt_number(w["coverage_pct"], lang, 0))
    _figures(doc, lang, w, "waste", text)
    if text:
        narr.waste_coverage(ctx, doc, w)


def energy(ctx, doc: Document) -> None:
    doc.blocks.append(Heading(t("report.s7.energy", ctx.lang)))
    _text_section(doc, environment(ctx.ws), "energy", ctx.lang)


def resources(ctx, doc: Document) -> None:
    doc.blocks.append(Heading(t("report.s7.resources", ctx.lang)))
    _text_section(doc, environment(ctx.ws), "resources", ctx.lang)


def measure_plan(ctx, code: str) -> list:
    """Target, cost (million som), responsible body and timeline of a chosen measure (from environment.yaml)."""
    m = ((environment(ctx.ws).get("measures") or {}).get(code)) or {}
    lang = ctx.lang
    return [_text(m.get("target"), lang), m.get("cost_mio_som"), _text(m.get("responsible"), lang),
            _text(m.get("timeline"), lang)]
