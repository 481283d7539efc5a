"""Building the two SEDP sections into DOCX/HTML/PDF (see :mod:`gis_planner.report`)."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable, Sequence

from ..i18n import check_lang, t
from ..text import safe_table
from .fmt import fmt_date
from .document import Document, Para, TitlePage, write_docx, write_html, write_pdf
from .sections import (ReportContext, build_context, conflicts_annex, default_measures, provenance_annex, section6,
                       section7)

FORMATS = ("docx", "html", "pdf")
# the stages build_report reports to its ``progress(fraction, stage)`` callback (stage_text names them);
# while the maps are drawn the stage is ``map_<name>``, one map at a time
STAGES = ("restrictions", "balance", "conflicts", "hazards", "scenario", "measures", "maps", "write", "done")


def stage_text(stage: str, lang: str = "ky") -> str:
    """A progress stage of :func:`build_report` for people: ``report.stage.<stage>``, and for
    ``map_<name>`` the map's title in ``report.stage.map``."""
    if stage.startswith("map_"):
        return t("report.stage.map", lang, name=t(f"report.map.{stage[4:]}", lang))
    key = f"report.stage.{stage}"
    text = t(key, lang)
    return stage if text == key else text


def build_report(ws, out_dir, lang: str = "ky", formats: Sequence[str] = ("docx", "html"),
                 scenario=None, measures: list | None = None, context: ReportContext | None = None,
                 progress: Callable[[float, str], None] | None = None) -> dict:
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

    Returns
    -------
    dict with ``docx``/``html``/``pdf`` paths (those made), ``maps`` (list of PNG paths), ``documents``
    (the two :class:`~gis_planner.report.document.Document` objects) and ``notes``.
    """
    lang = check_lang(lang)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        from ..errors import GisPlannerError

        raise GisPlannerError(f"unknown report format(s) {unknown}", fix=f"use {', '.join(FORMATS)}",
                              code="bad_format")
    out_dir = Path(out_dir)
    figdir = out_dir / "maps"
    figdir.mkdir(parents=True, exist_ok=True)
    if context is not None:
        ctx = context.in_language(lang)
    else:
        ctx = build_context(ws, lang, scenario=scenario, measures=measures, progress=progress)
    if progress:
        progress(0.8, "maps")
        drawn = []

        def on_map(name: str) -> None:   # the maps take most of this stage: say which one is drawn
            drawn.append(name)
            progress(min(0.95, 0.8 + 0.03 * len(drawn)), f"map_{name}")

        ctx.on_map = on_map
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
    if progress:
        progress(0.96, "write")
    stem = f"sedp_sections_{lang}"
    if "docx" in formats or "pdf" in formats:
        title = TitlePage(municipality=ws.name, programme=t("report.title.programme", lang),
                          sections=f"{s6.title}\n{s7.title}", date=fmt_date(_dt.date.today(), lang),
                          note=t("report.title.draft", lang))
        result["docx"] = write_docx(docs, out_dir / f"{stem}.docx", title_page=title)
    if "html" in formats:
        result["html"] = write_html(docs, out_dir / f"{stem}.html", title=f"{ws.name}: {s6.title}, {s7.title}")
    if "pdf" in formats:
        pdf = write_pdf(result["docx"], out_dir)
        if pdf is None:
            result["notes"].append("pdf: LibreOffice (soffice) is not installed; DOCX and HTML were written")
        else:
            result["pdf"] = pdf
    if progress:
        progress(1.0, "done")
    return result


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


def build_reports(ws, out_dir, langs: Sequence[str] = ("ky", "ru", "en"), **kwargs) -> dict:
    """:func:`build_report` in several languages, running the analyses once. Returns ``{lang: result}``."""
    langs = [check_lang(x) for x in langs]
    progress = kwargs.pop("progress", None)
    ctx = kwargs.pop("context", None) or build_context(ws, langs[0], scenario=kwargs.pop("scenario", None),
                                                       measures=kwargs.pop("measures", None), progress=progress)
    kwargs.pop("scenario", None)
    kwargs.pop("measures", None)
    return {lang: build_report(ws, out_dir, lang=lang, context=ctx, **kwargs) for lang in langs}
