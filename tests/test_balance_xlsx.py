"""The streamed XLSX writer (``io.xlsx.write_workbook``, xlsxwriter) writes the same workbook as the
openpyxl one it replaced (``write_sheet`` on a ``pd.ExcelWriter``): every cell value, number format and
type of every sheet, the frozen header and the column widths (issue 20: first balance XLSX ≤ 1 s)."""
from __future__ import annotations

import datetime
import re

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from gis_planner.balance import compute_balance, tables, write_xlsx
from gis_planner.balance.export import _sheet_name
from gis_planner.i18n import t
from gis_planner.io.xlsx import column_kinds, write_sheet, write_workbook
from gis_planner.text import safe_table


def _openpyxl_workbook(path, sheets) -> None:
    """The writer before issue 20: pandas' openpyxl engine and write_sheet (the reference)."""
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df, kinds, row_kinds in sheets:
            write_sheet(xw, name, df, kinds, row_kinds=row_kinds)


def _widths(sheet) -> dict:
    """Width of every column (openpyxl groups equal neighbours into one min..max dimension)."""
    out = {}
    for dim in sheet.column_dimensions.values():
        for j in range(dim.min or 1, (dim.max or dim.min or 1) + 1):
            out[j] = dim.width
    return out


def assert_same_workbook(old_path, new_path) -> int:
    """Every sheet, cell value, number format and type; frozen panes; widths (xlsxwriter stores Excel's
    0.71-character padding with the width). Returns the number of cells compared."""
    a, b = load_workbook(old_path), load_workbook(new_path)
    assert a.sheetnames == b.sheetnames
    n = 0
    for name in a.sheetnames:
        sa, sb = a[name], b[name]
        assert (sa.max_row, sa.max_column) == (sb.max_row, sb.max_column), name
        for ra, rb in zip(sa.iter_rows(), sb.iter_rows()):
            for ca, cb in zip(ra, rb):
                assert ca.value == cb.value and type(ca.value) is type(cb.value), (name, ca.coordinate)
                assert ca.number_format == cb.number_format, (name, ca.coordinate)
                if ca.value is not None:   # an empty cell has no type to keep (inlineStr vs none)
                    assert ca.data_type == cb.data_type, (name, ca.coordinate)
                n += 1
        assert sa.freeze_panes == sb.freeze_panes == "A2"
        wa, wb_ = _widths(sa), _widths(sb)
        assert set(wa) == set(wb_), name
        for j in wa:
            assert wb_[j] == pytest.approx(wa[j] + 0.7109375), (name, j)
    return n


def test_awkward_values_are_written_as_before(tmp_path):
    """Missing values, infinities, numpy and Python numbers, 17-digit floats, booleans, dates, formula-like
    text, a pct100 and a frac column and a label/value sheet with per-row formats."""
    df = pd.DataFrame({
        "name": ["=HYPERLINK(\"http://x\")", "Ак-Суу", None, "-5", "@home", "  spaced  "],
        "area, ha": [1234.5, 0.1 + 0.2, np.nan, np.inf, -np.inf, 1 / 3],
        "share, %": [12.5, 100.0, 0.0, np.nan, 33.333333333333336, 1e-9],
        "share": [0.125, 1.0, np.nan, 0.5, 0.0, 2 / 3],
        "parcels": np.array([3, 0, -2, 10**12, 7, 1], dtype="int64"),
        "flag": [True, False, True, False, True, False],
        "mixed": [1, 2.5, "x", None, np.float64(7.25), np.int32(4)],
        "date": [datetime.date(2026, 5, 6), datetime.datetime(2026, 5, 6, 10, 30), None, "2026-05-06",
                 pd.NaT, datetime.date(1999, 12, 31)],
    })
    kinds = column_kinds(df, pct100={"share, %"}, frac={"share"})
    assert kinds == {"area, ha": "ha", "share, %": "pct100", "share": "frac", "parcels": "int"}
    summary = pd.DataFrame({"item": ["total", "parcels", "used %", "ratio", "note"],
                            "value": [1234.56789, 5560, 81.25, 2.5, ""]}, dtype=object)
    row_kinds = ["ha", "int", "pct100", "num", None]
    sheets = [("t", safe_table(df), kinds, None), ("summary", safe_table(summary), {}, row_kinds),
              ("empty", pd.DataFrame({"a": pd.Series([], dtype=float), "b": []}), None, None)]
    _openpyxl_workbook(tmp_path / "old.xlsx", sheets)
    write_workbook(tmp_path / "new.xlsx", sheets)
    assert assert_same_workbook(tmp_path / "old.xlsx", tmp_path / "new.xlsx") == 7 * 8 + 6 * 2 + 2
    s = load_workbook(tmp_path / "new.xlsx")["t"]
    # the known answers themselves, not only "as before"
    assert (s["A2"].value, s["A2"].data_type) == ("'=HYPERLINK(\"http://x\")", "s")   # text, never a formula
    assert (s["B2"].value, s["B2"].number_format) == (1234.5, "#,##0.00")
    assert (s["C2"].value, s["C2"].number_format) == (0.125, "0.0%")                   # 12.5 % stored Excel's way
    assert s["B3"].value == 0.30000000000000004 or s["B3"].value == pytest.approx(0.3, abs=1e-16)
    assert (s["B5"].value, s["B6"].value, s["B4"].value) == ("inf", "-inf", None)
    assert (s["E5"].value, s["E5"].number_format) == (10**12, "#,##0")
    assert s["F2"].value is True
    assert s["H2"].value == datetime.datetime(2026, 5, 6) and s["H2"].number_format == "YYYY-MM-DD"
    m = load_workbook(tmp_path / "new.xlsx")["summary"]
    assert [m.cell(row=r, column=2).number_format for r in range(2, 7)] == \
        ["#,##0.00", "#,##0", "0.0%", "#,##0.00", "General"]
    assert m["B4"].value == pytest.approx(0.8125)


@pytest.mark.parametrize("lang", ["ru", "ky"])
def test_demo_balance_workbook_identical_to_the_openpyxl_one(demo_ws, tmp_path, lang):
    """All 17 sheets of the demo balance (~96 000 cells) against the openpyxl writer of 1b19dd6."""
    b = compute_balance(demo_ws)
    tabs = tables(b, lang)
    used: set = set()
    pct100 = {t("balance.share_pct", lang), t("balance.diff_pct", lang)}
    frac = {t("balance.share", lang), t("balance.restricted_share", lang)}
    ref = [(_sheet_name(k, lang, used), safe_table(df), {} if k == "summary" else
            column_kinds(df, pct100=pct100, frac=frac), df.attrs.get("row_kinds") if k == "summary" else None)
           for k, df in tabs.items()]
    _openpyxl_workbook(tmp_path / "old.xlsx", ref)
    write_xlsx(b, tmp_path / "new.xlsx", lang, tabs=tabs)
    n = assert_same_workbook(tmp_path / "old.xlsx", tmp_path / "new.xlsx")
    assert n > 90_000 and len(load_workbook(tmp_path / "new.xlsx").sheetnames) == len(tabs)
    parcels = load_workbook(tmp_path / "new.xlsx")[ref[[k for k in tabs].index("parcels")][0]]
    assert parcels.max_row == len(b.parcels) + 1
    # hectares with 2 decimals and shares as % on the parcel sheet
    fmts = {parcels.cell(row=1, column=j).value: parcels.cell(row=2, column=j).number_format
            for j in range(1, parcels.max_column + 1)}
    assert fmts[t("balance.area_ha", lang)] == "#,##0.00"
    assert fmts[t("balance.restricted_share", lang)] == "0.0%"


def test_text_is_never_a_formula_in_the_xml(tmp_path):
    """The formula-injection guard holds at the file level: no <f> element, the quote kept."""
    import zipfile

    df = safe_table(pd.DataFrame({"title": ["=1+1", "+cmd|' /C calc'!A0", "ok"], "n": [1.0, 2.0, 3.0]}))
    write_workbook(tmp_path / "x.xlsx", [("x", df, None, None)])
    with zipfile.ZipFile(tmp_path / "x.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
        strings = z.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in xml and not re.search(r"<f[ >]", xml)
    assert "&apos;=1+1" in strings or "'=1+1" in strings
