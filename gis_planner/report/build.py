"""Building the two SEDP sections into DOCX/HTML/PDF (see :mod:`gis_planner.report`)."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable, Sequence

from ..i18n import check_lang, t
from ..text import safe_table
from .fmt import fmt_date
from .document import Document, Para, TitlePage, write_docx, write_html
from .sections import (ReportContext, analysis_steps, build_context, conflicts_annex, default_measures,
                       provenance_annex, section6, section7)

FORMATS = ("docx", "html", "pdf")


class Progress:
    """Counts the steps of a report run for a ``progress(step, done, total)`` callback.

    ``step`` names the step that starts now (``restrictions`` … ``measures``, ``map_<name>`` for each map,
    ``docx``, ``html``, ``annexes``, ``pdf``, and ``done`` at the end; :func:`stage_text` words them),
    ``done`` is the number of steps finished before it and ``total`` the number of steps of the run.
    ``total`` is planned at the start and corrected once the analyses show which maps the workspace
    gets (:meth:`plan`); ``done`` never goes back.
    """

    def __init__(self, callback: Callable[[str, int, int], None] | None, total: int):
        self.callback, self.total, self.done = callback, max(int(total), 1), 0

    def step(self, name: str) -> None:
        if self.callback is not None:
            self.callback(name, min(self.done, self.total), self.total)
        self.done += 1
        self.total = max(self.total, self.done)

    def plan(self, more: int) -> None:
        """From now on ``more`` steps remain (the done message not counted)."""
        self.total = max(self.done + int(more), 1)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback("done", self.total, self.total)


def stage_text(stage: str, lang: str = "ky") -> str:
    """A progress step of :func:`build_report` for people: ``report.stage.<stage>``, and for
    ``map_<name>`` the map's title in ``report.stage.map``."""
    if stage.startswith("map_"):
        return t("report.stage.map", lang, name=t(f"report.map.{stage[4:]}", lang))
    key = f"report.stage.{stage}"
    text = t(key, lang)
    return stage if text == key else text


def planned_maps(ctx: ReportContext) -> list[str]:
    """The maps :func:`build_report` draws for ``ctx``, in the order it draws them."""
    maps = ["categories", "restrictions"]
    if ctx.scenario is not None:
        maps.append("allocation")
    if ctx.hazard_compare is not None and len(ctx.hazard_compare):
        maps.append("hazards")
    if ctx.community is not None and len(ctx.community):
        maps.append("community")
    return maps


def _write_steps(formats: Sequence[str]) -> list[str]:
    steps = ["docx"] if ("docx" in formats or "pdf" in formats) else []
    steps += ["html"] if "html" in formats else []
    return steps + ["annexes"] + (["pdf"] if "pdf" in formats else [])


def _guess_maps(ws, scenario) -> int:
    """The number of maps before the analyses have run (corrected by :meth:`Progress.plan` after them)."""
    return 2 + (scenario is not None) + ws.has_layer("hazard_zones") + 1


def _check_formats(formats: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        from ..errors import GisPlannerError

        raise GisPlannerError(f"unknown report format(s) {unknown}", fix=f"use {', '.join(FORMATS)}",
                              code="bad_format")


def build_report(ws, out_dir, lang: str = "ky", formats: Sequence[str] = ("docx", "html"),
                 scenario=None, measures: list | None = None, context: ReportContext | None = None,
                 progress: Callable[[str, int, int], None] | Progress | None = None, office=None) -> dict:
    """Draft both sections for ``ws`` into ``out_dir``.

    Parameters
    ----------
    ws : Workspace
    out_dir : path
        Folder for ``sedp_sections_<lang>.docx/.html/.pdf`` and the map PNGs (``maps/``).
    lang : ``ky`` | ``ru`` | ``en``
    formats : any of ``docx``, ``html``, ``pdf`` (PDF needs LibreOffice; skipped with a note otherwise)
    scenario : Scenario, scenario file or name, optional
        Growth scenario whose results go into 6.6 and the transformation annex.
    measures : list of codes from ``layers/adaptation_measures.yaml``, optional
        The working group's choice; default: the measures relevant to the workspace.
    context : ReportContext, optional
        Analyses already computed (e.g. by the app); they are not recomputed.
    progress : callable ``progress(step, done, total)``, optional
        Called as each step starts (see :class:`Progress`; :func:`stage_text` gives the step in words).
    office : :class:`~gis_planner.report.document.Office`, optional
        A LibreOffice already started; by default one is started with the analyses when PDF is asked for.

    Returns
    -------
    dict with ``docx``/``html``/``pdf`` paths (those made), ``maps`` (list of PNG paths), ``documents``
    (the two :class:`~gis_planner.report.document.Document` objects) and ``notes``.

    Each map is drawn once and the same PNG goes into the DOCX, the HTML and (through the DOCX) the PDF.
    The PDF conversion starts as soon as the DOCX is written and runs while the HTML and the annex files
    are written.
    """
    lang = check_lang(lang)
    _check_formats(formats)
    own_progress = not isinstance(progress, Progress)
    prog = progress if not own_progress else Progress(
        progress, (len(analysis_steps(scenario)) if context is None else 0) + _guess_maps(ws, scenario)
        + len(_write_steps(formats)))
    own_office = office is None and "pdf" in formats
    if own_office:   # LibreOffice starts now, on the other core, while the analyses run
        from .document import Office

        office = Office.start()
    try:
        return _build(ws, out_dir, lang, formats, scenario, measures, context, prog, office, own_progress)
    finally:
        if own_office and office is not None:
            office.close()


def _build(ws, out_dir, lang, formats, scenario, measures, context, prog: Progress, office,
           own_progress: bool) -> dict:
    out_dir = Path(out_dir)
    figdir = out_dir / "maps"
    figdir.mkdir(parents=True, exist_ok=True)
    if context is not None:
        ctx = context.in_language(lang)
    else:
        ctx = build_context(ws, lang, scenario=scenario, measures=measures, progress=prog)
    writes = _write_steps(formats)
    if own_progress:
        prog.plan(len(planned_maps(ctx)) + len(writes))
    ctx.on_map = lambda name: prog.step(f"map_{name}")
    try:
        s6 = section6(ctx, figdir)
        s7 = section7(ctx, figdir)
    finally:
        ctx.on_map = None
    from .. import __version__

    stamp = t("report.generated", lang, date=_dt.date.today().isoformat(), version=__version__)
    s7.blocks.append(Para(stamp, "note"))
    _round_to_precision(ws, [s6, s7], lang)
    annexes = [a for a in (conflicts_annex(ctx), provenance_annex(ctx)) if a is not None]
    for k, a in enumerate(annexes, start=1):   # Annex 1, 2 … in the order they are bound
        a.number(f"A{k}")
    docs = [s6, s7, *annexes]
    result: dict = {"documents": docs, "maps": sorted(figdir.glob(f"*_{lang}.png")), "notes": []}
    stem = f"sedp_sections_{lang}"
    pdf_job = None
    if "docx" in writes:
        prog.step("docx")
        title = TitlePage(municipality=ws.name, programme=t("report.title.programme", lang),
                          sections=f"{s6.title}\n{s7.title}", date=fmt_date(_dt.date.today(), lang),
                          note=t("report.title.draft", lang))
        result["docx"] = write_docx(docs, out_dir / f"{stem}.docx", title_page=title)
        if "pdf" in formats and office is not None:   # converts while the HTML and the annexes are written
            pdf_job = office.convert(result["docx"], out_dir)
    if "html" in writes:
        prog.step("html")
        result["html"] = write_html(docs, out_dir / f"{stem}.html", title=f"{ws.name}: {s6.title}, {s7.title}")
    prog.step("annexes")
    # the full lists behind the tables the document shortens (annex files for the land specialist)
    for name, frame in (("conflicts", ctx.conflicts), ("relocation", ctx.relocation)):
        if frame is not None and len(frame):
            path = out_dir / f"{name}_{lang}.csv"
            safe_table(frame.drop(columns=["geometry"], errors="ignore")).to_csv(path, index=False,
                                                                                 encoding="utf-8-sig")
            result.setdefault("annexes", []).append(path)
    if ctx.conflicts is not None and len(ctx.conflicts):
        from .annex import conflicts_xlsx

        result.setdefault("annexes", []).append(conflicts_xlsx(ctx, out_dir / f"conflicts_{lang}.xlsx"))
    if "pdf" in formats:
        prog.step("pdf")
        pdf = office.finish(pdf_job) if pdf_job is not None else None
        if pdf_job is None and office is None:
            result["notes"].append("pdf: LibreOffice (soffice) is not installed; DOCX and HTML were written")
        elif pdf is not None:
            result["pdf"] = pdf
            if "docx" in result:
                _number_contents(result, docs, title, office, out_dir, lang)
    if own_progress:
        prog.finish()
    return result


def _number_contents(result: dict, docs, title, office, out_dir: Path, lang: str) -> None:
    """Page numbers in the contents: read where each heading landed in the first PDF, write the DOCX again
    with them and convert it once more (repeated once if the numbers moved the pages; without
    ``pdftotext`` or when a heading cannot be found, the contents stay without numbers)."""
    from .document import heading_pages, toc_entries

    entries = toc_entries(docs)
    pages = heading_pages(result["pdf"], entries, t("report.contents", lang))
    for _ in range(2):
        if not pages:
            return
        write_docx(docs, result["docx"], title_page=title, toc_pages=pages)
        pdf = office.finish(office.convert(result["docx"], out_dir))
        if pdf is None:
            return
        result["pdf"] = pdf
        again = heading_pages(pdf, entries, t("report.contents", lang))
        if again == pages:
            return
        pages = again


def _round_to_precision(ws, docs, lang: str) -> None:
    """Areas in the tables with no more decimals than the coarsest input supports, and a note saying so
    (nothing changes for a workspace whose layers record no accuracy, such as the demo)."""
    from ..io.precision import precision_note, workspace_precision

    prec = workspace_precision(ws)
    if not prec:
        return
    for d in docs:
        for tb in d.tables():
            tb.ha_decimals = min(tb.ha_decimals, int(prec["area_decimals"]))
        d.blocks.insert(min(2, len(d.blocks)), Para(precision_note(prec, lang), "note"))


def build_reports(ws, out_dir, langs: Sequence[str] = ("ky", "ru", "en"), formats: Sequence[str] = ("docx", "html"),
                  scenario=None, measures: list | None = None, context: ReportContext | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> dict:
    """:func:`build_report` in several languages, running the analyses once (and starting LibreOffice
    once). Returns ``{lang: result}``; ``progress(step, done, total)`` counts the steps of all languages."""
    langs = [check_lang(x) for x in langs]
    _check_formats(formats)   # before the analyses run
    writes = len(_write_steps(formats))
    prog = Progress(progress, (len(analysis_steps(scenario)) if context is None else 0)
                    + len(langs) * (_guess_maps(ws, scenario) + writes))
    office = None
    if "pdf" in formats:
        from .document import Office

        office = Office.start()
    try:
        ctx = context or build_context(ws, langs[0], scenario=scenario, measures=measures, progress=prog)
        prog.plan(len(langs) * (len(planned_maps(ctx)) + writes))
        out = {lang: build_report(ws, out_dir, lang=lang, formats=formats, context=ctx, progress=prog, office=office)
               for lang in langs}
    finally:
        if office is not None:
            office.close()
    prog.finish()
    return out
