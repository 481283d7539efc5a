"""A small document model (headings, paragraphs, numbered tables, figures) and its DOCX/HTML/PDF writers.

Sections are built as a list of blocks first, so the same content goes to DOCX (python-docx: real
headings, numbered tables with captions above, figures with captions below, source notes) and to a
self-contained HTML file (images embedded, every text escaped); PDF is made from the DOCX by
LibreOffice headless when it is installed.
"""
from __future__ import annotations

import base64
import html
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
    style: str | None = None  # None, "note", "warning"


@dataclass
class Table:
    """A numbered table. ``formats`` per column: ``text``, ``ha`` (2 decimals), ``num1``, ``int``, ``pct``."""

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
        if kind == "int":
            return fmt_number(value, lang, 0)
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
def write_docx(docs: Sequence[Document], path: str | Path) -> Path:
    """Write one or more sections into one DOCX file."""
    from docx import Document as DocxDocument
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt, RGBColor

    path = Path(path)
    d = DocxDocument()
    style = d.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(12)
    for sec in d.sections:
        sec.left_margin = Cm(2.5)
        sec.right_margin = Cm(1.5)
        sec.top_margin = Cm(2)
        sec.bottom_margin = Cm(2)
    for i, doc in enumerate(docs):
        if i:
            d.add_page_break()
        d.add_heading(doc.title, level=1)
        if doc.subtitle:
            p = d.add_paragraph(doc.subtitle)
            p.runs[0].italic = True
        lang = doc.lang
        for b in doc.blocks:
            if isinstance(b, Heading):
                d.add_heading(b.text, level=min(b.level + 1, 4))
            elif isinstance(b, Para):
                p = d.add_paragraph(b.text)
                if b.style in ("note", "warning"):
                    for r in p.runs:
                        r.italic = True
                        r.font.size = Pt(10)
                        if b.style == "warning":
                            r.font.color.rgb = RGBColor(0x9C, 0x27, 0x06)
            elif isinstance(b, Table):
                cap = d.add_paragraph(f"{t('report.table', lang)} {b.number}. {b.caption}")
                cap.runs[0].bold = True
                table = d.add_table(rows=1, cols=len(b.columns))
                table.style = "Table Grid"
                table.alignment = WD_TABLE_ALIGNMENT.CENTER
                for j, col in enumerate(b.columns):
                    cell = table.rows[0].cells[j]
                    cell.text = str(col)
                    for r in cell.paragraphs[0].runs:
                        r.bold = True
                        r.font.size = Pt(10)
                for k, row in enumerate(b.rows):
                    cells = table.add_row().cells
                    last = b.total_row and k == len(b.rows) - 1
                    for j, v in enumerate(row):
                        cells[j].text = b.cell_text(v, j, lang)
                        par = cells[j].paragraphs[0]
                        kind = b.formats[j] if b.formats and j < len(b.formats) else "text"
                        if kind != "text":
                            par.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                        for r in par.runs:
                            r.font.size = Pt(10)
                            r.bold = last
                if b.source:
                    sp = d.add_paragraph(f"{t('report.source', lang)}: {b.source}")
                    for r in sp.runs:
                        r.italic = True
                        r.font.size = Pt(9)
            elif isinstance(b, Figure):
                d.add_picture(str(b.path), width=Cm(16))
                d.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
                cap = d.add_paragraph(f"{t('report.figure', lang)} {b.number}. {b.caption}")
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
                cap.runs[0].bold = True
                if b.source:
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
.note{font-style:italic;font-size:.9em}.warning{color:#9c2706}figure{margin:1em 0;text-align:center}
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


def write_pdf(docx_path: str | Path, out_dir: str | Path | None = None, timeout: int = 180) -> Path | None:
    """Convert a DOCX to PDF with LibreOffice headless; ``None`` if LibreOffice is not installed."""
    exe = soffice_path()
    if exe is None:
        return None
    docx_path = Path(docx_path)
    out_dir = Path(out_dir or docx_path.parent)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
               "--outdir", str(out_dir), str(docx_path)]
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True)
    pdf = out_dir / (docx_path.stem + ".pdf")
    return pdf if pdf.exists() else None
