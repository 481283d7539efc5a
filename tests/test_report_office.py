"""LibreOffice started ahead of the PDF conversion (gis_planner.report.document.Office)."""
from __future__ import annotations

import subprocess

import pytest

from gis_planner.report.document import Document, Office, Para, soffice_path, write_docx, write_pdf

pytestmark = pytest.mark.skipif(soffice_path() is None, reason="LibreOffice is not installed")


def _docx(path):
    doc = Document(title="Тест", lang="ky", blocks=[Para("Бир абзац.")])
    return write_docx([doc], path)


def _pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(x.split()[1] for x in info.splitlines() if x.startswith("Pages:")))


def test_office_started_ahead_converts_two_documents_and_stops(tmp_path):
    office = Office.start()
    try:
        pdfs = [Office.finish(office.convert(_docx(tmp_path / f"d{k}.docx"), tmp_path / "pdf")) for k in (1, 2)]
    finally:
        office.close()
    assert [p.name for p in pdfs] == ["d1.pdf", "d2.pdf"] and all(_pages(p) == 1 for p in pdfs)
    assert office.proc.poll() is not None          # the instance it started is gone
    assert not office.profile.exists()             # and so is its profile


def test_write_pdf_alone_still_converts(tmp_path):
    pdf = write_pdf(_docx(tmp_path / "one.docx"), tmp_path)
    assert pdf == tmp_path / "one.pdf" and _pages(pdf) == 1
