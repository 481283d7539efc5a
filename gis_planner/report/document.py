"""A small document model (headings, paragraphs, numbered tables, figures) and its DOCX/HTML/PDF writers.

Sections are built as a list of blocks first, so the same content goes to DOCX (python-docx: real
headings, numbered tables with captions above, figures with captions below, source notes) and to a
self-contained HTML file (images embedded, every text escaped); PDF is made from the DOCX by
LibreOffice headless when it is installed.
"""
from __future__ import annotations

import base64
import functools
import html
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..i18n import t
from .fmt import fmt_number, fmt_percent


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    style: str | None = None  # None, "note", "warning", "placeholder" (to be filled by the working group)
    topic: str = ""           # a narrative paragraph: the subsection it explains (gis_planner.report.narrative)


@dataclass
class Table:
    """A numbered table. ``formats`` per column: ``text``, ``ha`` (2 decimals), ``num1``, ``num2``, ``int``, ``pct``,
    ``qty`` (a count given as an int is shown whole, any other number with 1 decimal)."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence]
    formats: Sequence[str] | None = None
    source: str = ""
    total_row: bool = False
    number: str = ""  # set when numbered
    ha_decimals: int = 2  # fewer when the coarsest input supports fewer (gis_planner.io.precision)

    def cell_text(self, value, col: int, lang: str) -> str:
        kind = (self.formats[col] if self.formats and col < len(self.formats) else "text")
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if kind == "ha":
            return fmt_number(value, lang, self.ha_decimals)
        if kind == "num1":
            return fmt_number(value, lang, 1)
        if kind == "num2":
            return fmt_number(value, lang, 2)
        if kind == "int":
            return fmt_number(value, lang, 0)
        if kind == "qty":
            return fmt_number(value, lang, 0 if isinstance(value, int) or type(value).__name__.startswith("int")
                              else 1)
        if kind == "pct":
            return fmt_percent(value, lang, 1)
        return str(value)


@dataclass
class Figure:
    path: Path
    caption: str
    source: str = ""
    number: str = ""


@dataclass
class Document:
    title: str
    lang: str
    blocks: list = field(default_factory=list)
    subtitle: str = ""
    annex: bool = False  # an annex: after the sections, its own numbering (A1.1 …)

    def number(self, prefix: str) -> None:
        """Number tables and figures ``<prefix>.1, <prefix>.2 …`` in order of appearance."""
        nt = nf = 0
        for b in self.blocks:
            if isinstance(b, Table):
                nt += 1
                b.number = f"{prefix}.{nt}"
            elif isinstance(b, Figure):
                nf += 1
                b.number = f"{prefix}.{nf}"

    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


# ---------------------------------------------------------------------------- DOCX
# A4 with the margins of Kyrgyz official documents (left 2.5 cm for binding); widths in cm
PAGE_W, PAGE_H = 21.0, 29.7
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 2.5, 1.5, 2.0, 2.0
TABLE_PT = 10            # table text size (pt); 9 in tables that need a landscape page
FONT = "Times New Roman"  # Liberation Serif (metric-compatible) where Times is not installed
_CHAR_EM = 0.62          # fallback mean character width (em) when no font file can be measured
_CELL_PAD_CM = 0.45      # left + right cell margins (0.19 cm each in Word and LibreOffice) + slack


@functools.lru_cache(maxsize=16)
def _font(bold: bool, char: str = ""):
    """``(PIL font, its code points)`` of the font fontconfig sets :data:`FONT` in, or the one it falls
    back to for ``char`` (Liberation Serif has no ң ө ү: LibreOffice takes them from DejaVu Serif)."""
    try:
        from fontTools.ttLib import TTFont
        from PIL import ImageFont

        pattern = FONT + (":bold" if bold else "") + (f":charset={ord(char):x}" if char else "")
        path = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        if not path:
            return None
        with TTFont(path, lazy=True) as tt:
            cmap = set(tt.getBestCmap() or {})
        return ImageFont.truetype(path, 100), cmap
    except (OSError, subprocess.SubprocessError, ImportError):
        return None


def _text_width_cm(text: str, pt: float, bold: bool = False) -> float:
    """Printed width of ``text`` (cm) at ``pt`` points, measured with the fonts the document will be set in
    (glyphs the main font lacks with fontconfig's fallback for them), or estimated when none is installed."""
    main = _font(bold)
    if main is None:
        return len(text) * pt * (_CHAR_EM * (1.08 if bold else 1.0)) * 2.54 / 72.0
    font, cmap = main
    width, run = 0.0, ""
    for ch in text:
        if ord(ch) in cmap or ch.isspace():
            run += ch
            continue
        fb = _font(bold, ch) or main
        width += fb[0].getlength(ch)
    width += font.getlength(run) if run else 0.0
    return width / 100.0 * pt * 2.54 / 72.0


def _words(text: str) -> list[str]:
    """Words a line may break between: ordinary spaces only (a no-break space keeps ``12 130,5`` whole)."""
    return [w for w in re.split(r"[ \t\n]+", text) if w]


def column_widths(table: "Table", lang: str, pt: float = TABLE_PT) -> tuple[list[float], list[float]]:
    """``(minimum, wanted)`` width (cm) of each column: the minimum fits the longest word (so no word
    is ever broken), the wanted width fits the longest cell on one line."""
    mins, wants = [], []
    for j, col in enumerate(table.columns):
        last = len(table.rows) - 1
        texts = [(str(col), True)] + [(table.cell_text(row[j], j, lang), table.total_row and k == last)
                                      for k, row in enumerate(table.rows)]   # header and total row are bold
        words = [(w, b) for text, b in texts for w in _words(text)] or [("", False)]
        mins.append(max(_text_width_cm(w, pt, b) for w, b in words) + _CELL_PAD_CM)
        wants.append(max(_text_width_cm(x, pt, b) for x, b in texts) + _CELL_PAD_CM)
    return mins, wants


def fit_columns(table: "Table", lang: str, text_width_cm: float, pt: float = TABLE_PT) -> list[float] | None:
    """Column widths (cm) that fit ``text_width_cm`` with every word whole, or None if they cannot.

    Every column gets its minimum (longest word); the space left goes to the columns that want more,
    in proportion to what they lack.
    """
    mins, wants = column_widths(table, lang, pt)
    if sum(mins) > text_width_cm:
        return None
    if sum(wants) <= text_width_cm:
        extra = (text_width_cm - sum(wants)) / len(wants)
        return [w + extra for w in wants]
    room = text_width_cm - sum(mins)
    lack = [w - m for w, m in zip(wants, mins)]
    total = sum(lack) or 1.0
    return [m + room * x / total for m, x in zip(mins, lack)]


def _set_page(section, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm

    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    w, h = (PAGE_H, PAGE_W) if landscape else (PAGE_W, PAGE_H)
    section.page_width, section.page_height = Cm(w), Cm(h)
    section.left_margin, section.right_margin = Cm(MARGIN_L), Cm(MARGIN_R)
    section.top_margin, section.bottom_margin = Cm(MARGIN_T), Cm(MARGIN_B)


def _field(paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES …) in ``paragraph``; LibreOffice and Word compute it."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, instruction), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text == instruction:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = f" {instruction} "
        else:
            el = OxmlElement("w:t")
            el.text = text
        run._r.append(el)


def _header_footer(section, header_text: str) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    section.header.is_linked_to_previous = False
    section.footer.is_linked_to_previous = False
    hp = section.header.paragraphs[0]
    hp.text = header_text
    hp.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for r in hp.runs:
        r.font.size = Pt(9)
        r.italic = True
    fp = section.footer.paragraphs[0]
    fp.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _field(fp, "PAGE")


FIGURE_MAX_W, FIGURE_MAX_H = 16.0, 19.0   # cm: a figure, its caption and source fit one portrait page


def _figure_width_cm(png) -> float:
    """Width (cm) at which a figure is at most 16 cm wide and 19 cm high."""
    from PIL import Image

    with Image.open(png) as im:
        w, h = im.size
    return min(FIGURE_MAX_W, FIGURE_MAX_H * w / h) if h else FIGURE_MAX_W


def _keep_with_next(paragraph) -> None:
    paragraph.paragraph_format.keep_with_next = True


def _repeat_header(row) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    for tag in ("w:tblHeader", "w:cantSplit"):
        el = OxmlElement(tag)
        el.set(qn("w:val"), "true")
        tr_pr.append(el)


def _cant_split(row) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    el = OxmlElement("w:cantSplit")
    el.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(el)


@dataclass
class TitlePage:
    """What the title page and the running header say (the municipality, the programme, the date)."""

    municipality: str
    programme: str
    sections: str
    date: str
    note: str = ""


def toc_entries(docs: Sequence[Document]) -> list[str]:
    """The lines of the table of contents, in order: each document's title and its subsection headings."""
    out = []
    for doc in docs:
        out.append(doc.title)
        out.extend(b.text for b in doc.blocks if isinstance(b, Heading) and b.level == 1)
    return out


def heading_pages(pdf: str | Path, entries: Sequence[str], contents_title: str) -> dict[str, int]:
    """The page of the PDF on which each table-of-contents entry starts (``pdftotext`` of poppler-utils;
    ``{}`` when it is not installed or the entries cannot all be found in order). The search starts after
    the page with the contents and goes forward entry by entry, matching the start of a line (a long
    heading wraps)."""
    if shutil.which("pdftotext") is None:
        return {}
    try:
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    norm = lambda x: re.sub(r"\s+", " ", x).strip()          # noqa: E731
    pages = [[norm(line) for line in page.splitlines() if line.strip()] for page in text.split("\f")]
    start = next((i + 1 for i, lines in enumerate(pages) if norm(contents_title) in lines), None)
    if start is None:
        return {}
    found: dict[str, int] = {}
    for entry in entries:
        key = norm(entry)[:40]
        hit = next((i for i in range(start, len(pages)) if any(line.startswith(key) for line in pages[i])), None)
        if hit is None:
            return {}
        found[entry] = hit + 1
        start = hit
    return found


def write_docx(docs: Sequence[Document], path: str | Path, title_page: TitlePage | None = None,
               toc_pages: dict[str, int] | None = None) -> Path:
    """Write sections (and annexes) into one A4 DOCX.

    Layout: a title page and a contents list (when ``title_page`` is given); portrait A4 pages, with a
    landscape page for a table that cannot fit the portrait width with every word whole; column widths
    from the longest word and the longest cell (:func:`fit_columns`); table header rows repeated on
    each page and rows never split; figures kept with their captions; the municipality and date in the
    header and the page number in the footer. ``toc_pages`` (entry → page, from :func:`heading_pages` on a
    first conversion) puts page numbers into the contents.
    """
    from docx import Document as DocxDocument
    from docx.enum.section import WD_SECTION
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_COLOR_INDEX, WD_TAB_ALIGNMENT, WD_TAB_LEADER
    from docx.shared import Cm, Pt, RGBColor

    path = Path(path)
    d = DocxDocument()
    style = d.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(12)
    header_text = f"{title_page.municipality} · {title_page.date}" if title_page else ""
    first = d.sections[0]
    _set_page(first, landscape=False)
    _header_footer(first, header_text)
    portrait_w = PAGE_W - MARGIN_L - MARGIN_R
    landscape_w = PAGE_H - MARGIN_L - MARGIN_R
    state = {"landscape": False}

    def orient(landscape: bool) -> None:
        if state["landscape"] == landscape:
            return
        sec = d.add_section(WD_SECTION.NEW_PAGE)
        _set_page(sec, landscape)
        _header_footer(sec, header_text)
        state["landscape"] = landscape

    if title_page is not None:
        for _ in range(6):
            d.add_paragraph()
        for text, size, bold in ((title_page.municipality, 20, True), (title_page.programme, 14, False),
                                 (title_page.sections, 16, True), (title_page.date, 12, False),
                                 (title_page.note, 10, False)):
            if not text:
                continue
            p = d.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            r = p.add_run(text)
            r.bold = bold
            r.font.size = Pt(size)
        d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        lang = docs[0].lang if docs else "ky"
        d.add_heading(t("report.contents", lang), level=1)
        toc_pages = toc_pages or {}

        def toc_line(text: str, indent: float, bold: bool) -> None:
            # page numbers (from a first conversion of this document) right-aligned after a dotted leader
            p = d.add_paragraph()
            p.paragraph_format.left_indent = Cm(indent)
            p.paragraph_format.right_indent = Cm(1.0)      # a long title wraps before the number's column
            if text in toc_pages:
                p.paragraph_format.tab_stops.add_tab_stop(Cm(portrait_w), WD_TAB_ALIGNMENT.RIGHT,
                                                          WD_TAB_LEADER.DOTS)
            run = p.add_run(text + (f"\t{toc_pages[text]}" if text in toc_pages else ""))
            run.bold = bold

        for doc in docs:
            toc_line(doc.title, 0.0, True)
            for b in doc.blocks:
                if isinstance(b, Heading) and b.level == 1:
                    toc_line(b.text, 0.8, False)
        d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    for i, doc in enumerate(docs):
        if i:
            orient(False)
            d.add_page_break()
        d.add_heading(doc.title, level=1)
        if doc.subtitle:
            p = d.add_paragraph(doc.subtitle)
            p.runs[0].italic = True
        lang = doc.lang
        for b in doc.blocks:
            if isinstance(b, Heading):
                orient(False)
                d.add_heading(b.text, level=min(b.level + 1, 4))
            elif isinstance(b, Para):
                p = d.add_paragraph(b.text)
                if b.style in ("note", "warning", "placeholder"):
                    for r in p.runs:
                        r.italic = True
                        r.font.size = Pt(10)
                        if b.style in ("warning", "placeholder"):
                            r.font.color.rgb = RGBColor(0x9C, 0x27, 0x06)
                        if b.style == "placeholder":  # a gap the working group fills: highlighted
                            r.font.highlight_color = WD_COLOR_INDEX.YELLOW
            elif isinstance(b, Table):
                pt = TABLE_PT
                widths = fit_columns(b, lang, portrait_w, pt)
                if widths is None:
                    orient(True)
                    for pt in (TABLE_PT - 1, TABLE_PT - 2):
                        widths = fit_columns(b, lang, landscape_w, pt)
                        if widths is not None:
                            break
                    if widths is None:  # even landscape is too narrow: the widest words decide
                        mins, _ = column_widths(b, lang, pt)
                        widths = [m * landscape_w / sum(mins) for m in mins]
                else:
                    orient(False)
                cap = d.add_paragraph(f"{t('report.table', lang)} {b.number}. {b.caption}")
                cap.runs[0].bold = True
                _keep_with_next(cap)
                table = d.add_table(rows=1, cols=len(b.columns))
                table.style = "Table Grid"
                table.alignment = WD_TABLE_ALIGNMENT.CENTER
                table.autofit = False
                for j, col in enumerate(b.columns):
                    cell = table.rows[0].cells[j]
                    cell.text = str(col)
                    for r in cell.paragraphs[0].runs:
                        r.bold = True
                        r.font.size = Pt(pt)
                _repeat_header(table.rows[0])
                for k, row in enumerate(b.rows):
                    tr = table.add_row()
                    _cant_split(tr)
                    cells = tr.cells
                    last = b.total_row and k == len(b.rows) - 1
                    for j, v in enumerate(row):
                        cells[j].text = b.cell_text(v, j, lang)
                        par = cells[j].paragraphs[0]
                        kind = b.formats[j] if b.formats and j < len(b.formats) else "text"
                        if kind != "text":
                            par.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                        for r in par.runs:
                            r.font.size = Pt(pt)
                            r.bold = last
                for j, w in enumerate(widths):
                    table.columns[j].width = Cm(w)
                    for cell in table.columns[j].cells:
                        cell.width = Cm(w)
                if b.source:
                    sp = d.add_paragraph(f"{t('report.source', lang)}: {b.source}")
                    for r in sp.runs:
                        r.italic = True
                        r.font.size = Pt(9)
            elif isinstance(b, Figure):
                orient(False)
                d.add_picture(str(b.path), width=Cm(_figure_width_cm(b.path)))
                pic = d.paragraphs[-1]
                pic.alignment = WD_ALIGN_PARAGRAPH.CENTER
                _keep_with_next(pic)      # the caption stays on the figure's page
                cap = d.add_paragraph(f"{t('report.figure', lang)} {b.number}. {b.caption}")
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
                cap.runs[0].bold = True
                if b.source:
                    _keep_with_next(cap)
                    sp = d.add_paragraph(f"{t('report.source', lang)}: {b.source}")
                    sp.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    for r in sp.runs:
                        r.italic = True
                        r.font.size = Pt(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    d.save(path)
    return path


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:"DejaVu Serif","Times New Roman",serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;border-bottom:2px solid #444}h2{font-size:1.3em;margin-top:1.6em}h3{font-size:1.1em}
table{border-collapse:collapse;margin:.5em 0 .3em;font-size:.9em}
th,td{border:1px solid #777;padding:.2em .5em}th{background:#eee}td.n{text-align:right;white-space:nowrap}
tr.total td{font-weight:bold}.cap{font-weight:bold;margin-top:1em}.src{font-style:italic;font-size:.8em;color:#555}
.note{font-style:italic;font-size:.9em}.warning{color:#9c2706}
.placeholder{font-style:italic;font-size:.9em;color:#9c2706;background:#fff3b0;padding:.2em .4em}figure{margin:1em 0;text-align:center}
figure img{max-width:100%}figcaption{font-weight:bold}
@media print{body{margin:0;max-width:none}figure,table{page-break-inside:avoid}}
"""


def write_html(docs: Sequence[Document], path: str | Path, title: str | None = None) -> Path:
    """Write the sections as one self-contained HTML5 file (images embedded, text escaped)."""
    esc = html.escape
    path = Path(path)
    lang = docs[0].lang if docs else "ky"
    out = ["<!DOCTYPE html>", f'<html lang="{esc(lang)}">', "<head>", '<meta charset="utf-8"/>',
           f"<title>{esc(title or (docs[0].title if docs else ''))}</title>", f"<style>{_CSS}</style>",
           "</head>", "<body>"]
    for doc in docs:
        out.append(f"<section><h1>{esc(doc.title)}</h1>")
        if doc.subtitle:
            out.append(f'<p class="note">{esc(doc.subtitle)}</p>')
        for b in doc.blocks:
            if isinstance(b, Heading):
                lvl = min(b.level + 1, 4)
                out.append(f"<h{lvl}>{esc(b.text)}</h{lvl}>")
            elif isinstance(b, Para):
                cls = f' class="{b.style}"' if b.style else ""
                out.append(f"<p{cls}>{esc(b.text)}</p>")
            elif isinstance(b, Table):
                out.append(f'<p class="cap">{esc(t("report.table", doc.lang))} {esc(b.number)}. {esc(b.caption)}</p>')
                out.append("<table><thead><tr>" + "".join(f"<th>{esc(str(c))}</th>" for c in b.columns)
                           + "</tr></thead><tbody>")
                for k, row in enumerate(b.rows):
                    cls = ' class="total"' if b.total_row and k == len(b.rows) - 1 else ""
                    cells = []
                    for j, v in enumerate(row):
                        kind = b.formats[j] if b.formats and j < len(b.formats) else "text"
                        td = '<td class="n">' if kind != "text" else "<td>"
                        cells.append(f"{td}{esc(b.cell_text(v, j, doc.lang))}</td>")
                    out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
                out.append("</tbody></table>")
                if b.source:
                    out.append(f'<p class="src">{esc(t("report.source", doc.lang))}: {esc(b.source)}</p>')
            elif isinstance(b, Figure):
                data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
                out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.caption)}"/>'
                           f"<figcaption>{esc(t('report.figure', doc.lang))} {esc(b.number)}. {esc(b.caption)}"
                           f"</figcaption>")
                if b.source:
                    out.append(f'<p class="src">{esc(t("report.source", doc.lang))}: {esc(b.source)}</p>')
                out.append("</figure>")
        out.append("</section>")
    out += ["</body>", "</html>"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- PDF
def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _profile_template() -> Path:
    """Where a LibreOffice user profile made by an earlier report is kept (``$GIS_PLANNER_CACHE`` or
    ``$XDG_CACHE_HOME/gis_planner`` or ``~/.cache/gis_planner``): a new profile costs LibreOffice's
    first start extra time, so each run starts from a copy of it."""
    import os

    base = os.environ.get("GIS_PLANNER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gis_planner")
    return Path(base) / "lo-profile"


class Office:
    """A LibreOffice started ahead of the PDF conversion.

    ``Office.start()`` launches ``soffice --headless`` with a user profile of its own (a copy of the cached
    one) while the analyses and maps are still being computed; :meth:`convert` then hands the DOCX to that
    running instance (LibreOffice passes a second ``soffice`` call with the same profile to the first), so
    the conversion does not wait for LibreOffice to start. :meth:`close` stops the instance this object
    started (its own process group) and removes the profile. Without a running instance (it failed to
    start, or was closed) :meth:`convert` simply starts LibreOffice itself.
    """

    def __init__(self, exe: str, profile: Path, proc=None):
        self.exe, self.profile, self.proc = exe, profile, proc

    @classmethod
    def start(cls, listen: bool = True) -> "Office | None":
        """A LibreOffice for conversions (None if it is not installed); ``listen``: start it now, in the
        background, so a conversion later finds it running."""
        exe = soffice_path()
        if exe is None:
            return None
        profile = Path(tempfile.mkdtemp(prefix="gis_planner_lo_"))
        template = _profile_template()
        if (template / "user").is_dir():
            try:
                shutil.copytree(template, profile, dirs_exist_ok=True)
            except OSError:
                pass
        proc = None
        if listen:
            try:
                proc = subprocess.Popen([exe, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                                         "--invisible", "--nologo", "--norestore", "--nodefault"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
            except OSError:
                proc = None
        return cls(exe, profile, proc)

    def convert(self, docx_path: str | Path, out_dir: str | Path | None = None, timeout: int = 180):
        """Start converting ``docx_path`` to PDF; returns the running ``Popen`` (see :meth:`finish`)."""
        docx_path = Path(docx_path)
        out_dir = Path(out_dir or docx_path.parent)
        cmd = [self.exe, f"-env:UserInstallation={self.profile.as_uri()}", "--headless", "--convert-to", "pdf",
               "--outdir", str(out_dir), str(docx_path)]
        job = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        job.pdf_path, job.timeout = out_dir / (docx_path.stem + ".pdf"), timeout
        return job

    @staticmethod
    def finish(job) -> Path | None:
        """Wait for a conversion started by :meth:`convert`; the PDF, or None if none was written."""
        try:
            _, err = job.communicate(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            job.kill()
            job.communicate()
            raise
        if job.returncode != 0:
            raise subprocess.CalledProcessError(job.returncode, job.args, stderr=err)
        return job.pdf_path if job.pdf_path.exists() else None

    def close(self) -> None:
        import os
        import signal

        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)   # the process group this object started
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        template = _profile_template()
        if not (template / "user").is_dir() and (self.profile / "user").is_dir():
            tmp = template.with_name(f"{template.name}.{os.getpid()}")
            try:   # keep this profile for the next report (made once; a half-copied one is not used)
                template.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(self.profile, tmp, dirs_exist_ok=True)
                tmp.rename(template)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_pdf(docx_path: str | Path, out_dir: str | Path | None = None, timeout: int = 180,
              office: Office | None = None) -> Path | None:
    """Convert a DOCX to PDF with LibreOffice headless; ``None`` if LibreOffice is not installed.

    ``office``: a LibreOffice already started (:meth:`Office.start`); otherwise one is started and stopped
    for this conversion."""
    if office is not None:
        return Office.finish(office.convert(docx_path, out_dir, timeout))
    own = Office.start(listen=False)
    if own is None:
        return None
    with own:
        return Office.finish(own.convert(docx_path, out_dir, timeout))
