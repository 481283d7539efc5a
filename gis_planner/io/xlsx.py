"""Number formats for XLSX sheets: hectares with 2 decimals, shares as Excel percentages, counts as integers.

A workbook opened in Excel/LibreOffice must show ``1 234,50`` ha and ``12,5 %`` without the user
formatting every column, and keep the full value in the cell (a format only changes what is shown).
Shares are stored the Excel way (0.125 shown as 12.5 %): a column of percentages (0–100) is divided
by 100 when written.

>>> import pandas as pd, tempfile, os, openpyxl
>>> df = pd.DataFrame({"area, ha": [1234.5], "share, %": [12.5], "parcels": [3]})
>>> p = os.path.join(tempfile.mkdtemp(), "t.xlsx")
>>> with pd.ExcelWriter(p, engine="openpyxl") as xw:
...     write_sheet(xw, "t", df, {"area, ha": "ha", "share, %": "pct100", "parcels": "int"})
>>> c = openpyxl.load_workbook(p)["t"]
>>> (c["A2"].number_format, c["B2"].number_format, c["B2"].value, c["C2"].number_format)
('#,##0.00', '0.0%', 0.125, '#,##0')
"""
from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Mapping

import numpy as np
import pandas as pd
from pandas.api.types import is_bool, is_float, is_integer, is_scalar

FORMATS = {
    "ha": "#,##0.00",        # hectares (and km, m²…): 2 decimals, thousands separator
    "ha4": "#,##0.0000",     # hectares of small plots where the 4th decimal is 1 m²
    "pct100": "0.0%",        # a percentage written 0–100: divided by 100, shown as %
    "frac": "0.0%",          # a share written 0–1, shown as %
    "int": "#,##0",
    "num": "#,##0.00",
}


def column_kinds(df: pd.DataFrame, pct100=(), frac=(), ha=(), ints=()) -> dict:
    """Kinds of the numeric columns of ``df``: the named ones as given, other float columns ``ha``,
    integer columns ``int``."""
    kinds = {}
    for c in df.columns:
        s = df[c]
        if c in pct100:
            kinds[c] = "pct100"
        elif c in frac:
            kinds[c] = "frac"
        elif c in ints:
            kinds[c] = "int"
        elif c in ha:
            kinds[c] = "ha"
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s):
            kinds[c] = "int"
        elif pd.api.types.is_float_dtype(s):
            kinds[c] = "ha"
    return kinds


def _prepared(df: pd.DataFrame, kinds: Mapping[str, str] | None, row_kinds: list | None
              ) -> tuple[pd.DataFrame, dict]:
    """The table as written (percentages 0–100 divided by 100) and the kind of each column."""
    kinds = dict(kinds if kinds is not None else column_kinds(df))
    out = df.copy()
    for c, k in kinds.items():
        if k == "pct100" and c in out and pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c] / 100.0
    if row_kinds is not None:
        vals = out.iloc[:, -1].astype(object).tolist()
        for i, k in enumerate(row_kinds):
            if k == "pct100" and isinstance(vals[i], (int, float, np.floating)) and vals[i] is not None:
                vals[i] = float(vals[i]) / 100.0
        out[out.columns[-1]] = pd.Series(vals, index=out.index, dtype=object)
    return out, kinds


def _widths(out: pd.DataFrame) -> list[float]:
    """Column widths fitted to the header and the first 200 values (at most 60)."""
    return [min(max([len(str(c))] + [len(str(v)) for v in out[c].head(200)]) + 2, 60) for c in out.columns]


def write_sheet(xw: pd.ExcelWriter, name: str, df: pd.DataFrame, kinds: Mapping[str, str] | None = None,
                row_kinds: list | None = None, width: bool = True) -> None:
    """Write ``df`` to sheet ``name`` with number formats per column (``kinds``: column -> kind of
    :data:`FORMATS`) or per row (``row_kinds``: one kind or None per row, for a label/value table),
    widths fitted and the header frozen. (:func:`write_workbook` writes the same cells, faster.)"""
    out, kinds = _prepared(df, kinds, row_kinds)
    from ..text import safe_table

    safe_table(out).to_excel(xw, sheet_name=name, index=False)   # no text cell read as a formula
    sheet = xw.sheets[name]
    cols = list(out.columns)
    for j, c in enumerate(cols, start=1):
        k = kinds.get(c)
        if k is None:
            continue
        fmt = FORMATS[k]
        for row in sheet.iter_rows(min_row=2, max_row=len(out) + 1, min_col=j, max_col=j):
            for cell in row:
                if isinstance(cell.value, (int, float)):
                    cell.number_format = fmt
    if row_kinds is not None:
        j = len(cols)
        for i, k in enumerate(row_kinds, start=2):
            cell = sheet.cell(row=i, column=j)
            if k is not None and isinstance(cell.value, (int, float)):
                cell.number_format = FORMATS[k]
    if width:
        for j, w in enumerate(_widths(out), start=1):
            sheet.column_dimensions[sheet.cell(row=1, column=j).column_letter].width = w
    sheet.freeze_panes = "A2"


# ------------------------------------------------------------------ streamed workbook (issue 20)
_DATETIME_FORMAT, _DATE_FORMAT = "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD"   # pandas' ExcelWriter defaults


def excel_value(val):
    """A table value as pandas' ``to_excel`` hands it to openpyxl: ``(value, number format or None)``.

    Missing values become ``""`` (an empty cell), infinities the text ``inf``/``-inf``, numpy numbers
    Python numbers, dates keep their value with pandas' date format, anything else its ``str``.

    >>> excel_value(float("nan")), excel_value(np.int64(3)), excel_value(np.float64(-np.inf)), excel_value(None)
    (('', None), (3, None), ('-inf', None), ('', None))
    """
    if type(val) is str:
        return val[:32767], None
    if is_scalar(val) and pd.isna(val):
        return "", None
    if is_float(val) and np.isinf(val):
        return ("inf" if val > 0 else "-inf"), None
    if is_integer(val):
        return int(val), None
    if is_float(val):
        return float(val), None
    if is_bool(val):
        return bool(val), None
    if isinstance(val, Decimal):
        return val, None
    if isinstance(val, datetime.datetime):
        return val, _DATETIME_FORMAT
    if isinstance(val, datetime.date):
        return val, _DATE_FORMAT
    if isinstance(val, datetime.timedelta):
        return val.total_seconds() / 86400, "0"
    return str(val)[:32767], None


def _column_values(s: pd.Series) -> tuple[list, list | None]:
    """:func:`excel_value` of a column: the values, and the format of each (None when no cell has one)."""
    a = s.to_numpy()
    if a.dtype.kind == "f":
        return [("" if v != v else ("inf" if v > 0 else "-inf") if v in (np.inf, -np.inf) else v)
                for v in a.tolist()], None
    if a.dtype.kind in "iu":
        return a.tolist(), None
    if a.dtype.kind == "b":
        return a.tolist(), None
    pairs = [excel_value(v) for v in a]
    fmts = [f for _, f in pairs]
    return [v for v, _ in pairs], (fmts if any(fmts) else None)


def write_workbook(path, sheets, pause=None) -> None:
    """Write several tables to one XLSX with xlsxwriter: the same cell values, number formats and frozen
    header as :func:`write_sheet` on an openpyxl ``pd.ExcelWriter`` (both write numbers with 16
    significant digits), in a fraction of the time (no per-cell objects, no second pass for the formats).
    Column widths are the same characters (xlsxwriter stores them with Excel's padding, +0.71).

    ``sheets``: ``(name, df, kinds, row_kinds)`` tuples (``kinds``/``row_kinds`` as in :func:`write_sheet`).
    ``pause``: called (no arguments) before each column of each sheet — background work cut in small
    pieces waits there while users are active (:class:`gis_planner.ui.activity.Yield`); same file.
    Text goes through :func:`gis_planner.text.safe_table` and is written as text only (``write_string``:
    never a formula or a link, whatever it starts with).
    """
    import xlsxwriter

    from ..text import safe_table

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "nan_inf_to_errors": False})
    formats: dict = {}

    def fmt_of(code):
        if code not in formats:
            formats[code] = wb.add_format({"num_format": code})
        return formats[code]

    try:
        for name, df, kinds, row_kinds in sheets:
            out, kinds = _prepared(df, kinds, row_kinds)
            sheet = wb.add_worksheet(name)
            for j, w in enumerate(_widths(out)):
                sheet.set_column(j, j, w)
            sheet.freeze_panes(1, 0)
            safe = safe_table(out)
            for j, c in enumerate(safe.columns):
                _write_cell(sheet, 0, j, *excel_value(c), fmt_of)
            last = len(out.columns) - 1
            for j, c in enumerate(out.columns):
                if pause is not None:
                    pause()
                vals, fmts = _column_values(safe.iloc[:, j])
                k = kinds.get(c)
                col_fmt = FORMATS[k] if k is not None else None
                rk = row_kinds if row_kinds is not None and j == last else None
                for i, v in enumerate(vals):
                    f = fmts[i] if fmts is not None else None
                    if isinstance(v, (int, float)):
                        if rk is not None and i < len(rk) and rk[i] is not None:
                            f = FORMATS[rk[i]]
                        elif col_fmt is not None:
                            f = col_fmt
                    _write_cell(sheet, i + 1, j, v, f, fmt_of)
    finally:
        wb.close()


def _write_cell(sheet, i: int, j: int, v, f, fmt_of) -> None:
    """One value of :func:`excel_value` into an xlsxwriter sheet (text always as text)."""
    fmt = fmt_of(f) if f is not None else None
    if isinstance(v, str):
        if v:
            sheet.write_string(i, j, v, fmt)
        elif fmt is not None:
            sheet.write_blank(i, j, None, fmt)
    elif isinstance(v, bool):
        sheet.write_boolean(i, j, v, fmt)
    elif isinstance(v, (int, float)):
        sheet.write_number(i, j, v, fmt)
    elif isinstance(v, (datetime.date, datetime.time)):
        sheet.write_datetime(i, j, v, fmt)
    else:   # Decimal
        sheet.write_number(i, j, float(v), fmt)
