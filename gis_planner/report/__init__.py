"""SEDP sections 6 (space, Meikindik) and 7 (environment, Aiylana-choiro) as finished documents.

>>> from gis_planner import Workspace                                  # doctest: +SKIP
>>> from gis_planner.report import build_report                        # doctest: +SKIP
>>> out = build_report(Workspace("data/cadastre/demo"), "out", lang="ky")  # doctest: +SKIP
>>> out["docx"]                                                        # doctest: +SKIP

The DOCX has real headings, numbered tables with captions and source notes, and the maps; the HTML is
one self-contained file; the PDF is made by LibreOffice headless when it is installed.
"""
from __future__ import annotations

from importlib import import_module

# The package is imported lazily: ``gis_planner.report.fmt`` (number formats, used by the app on every
# page) must not pull in python-docx, matplotlib and every analysis module the document builder needs.
_EXPORTS = {
    "build_report": "build", "build_reports": "build", "FORMATS": "build",
    "build_context": "sections", "default_measures": "sections", "ReportContext": "sections",
    "section6": "sections", "section7": "sections",
    "Document": "document", "Para": "document", "write_docx": "document", "write_html": "document",
    "write_pdf": "document",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = ["build_report", "build_reports", "build_context", "default_measures", "ReportContext", "Document", "FORMATS"]
