"""Annex files written beside the report: the full lists behind the summaries of the body."""
from __future__ import annotations

from pathlib import Path

from ..catalog import catalogue
from ..i18n import t


def conflicts_xlsx(ctx, path) -> Path:
    """Every parcel in conflict with a restriction regime, as a workbook a land specialist can filter.

    Columns in the report's language; areas with 2 decimals (``0.00``), shares as percent, the legal
    source of each regime, the header frozen and filtered.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from .sections import _restriction_text

    lang, ws = ctx.lang, ctx.ws
    lu = catalogue("land_uses", ws)
    wb = Workbook()
    sh = wb.active
    sh.title = t("report.s6.conflicts_table", lang)[:31]
    header = [t("report.col.cadastral_no", lang), t("report.col.use", lang), t("report.col.restriction", lang),
              t("report.col.conflict_ha", lang), t("report.col.share", lang), t("report.col.area_ha", lang),
              t("report.col.reason", lang)]
    sh.append(header)
    for cell in sh[1]:
        cell.font = Font(bold=True)
    c = ctx.conflicts.sort_values(["kind", "cadastral_no"], kind="stable")
    for r in c.to_dict(orient="records"):
        use = r.get("land_use")
        sh.append([_text(r.get("cadastral_no")), _text(lu.label(use, lang) if use in lu.items else use),
                   _text(_restriction_text(r.get("kind"), r.get("subtype"), lang)),
                   _num(r.get("conflict_area_ha")), _num(r.get("share")), _num(r.get("area_ha")),
                   _text(r.get("message"))])
    for row in sh.iter_rows(min_row=2):
        row[3].number_format = "0.00"
        row[4].number_format = "0.0%"
        row[5].number_format = "0.00"
    for col, width in zip("ABCDEFG", (20, 22, 34, 12, 10, 12, 80)):
        sh.column_dimensions[col].width = width
    sh.freeze_panes = "A2"
    sh.auto_filter.ref = sh.dimensions
    path = Path(path)
    wb.save(path)
    return path


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x else None


def _text(v) -> str:
    """Cell text; a leading =, +, -, @ is neutralised so a spreadsheet never runs it as a formula."""
    s = "" if v is None else str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s
