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

from typing import Mapping

import numpy as np
import pandas as pd

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


def write_sheet(xw: pd.ExcelWriter, name: str, df: pd.DataFrame, kinds: Mapping[str, str] | None = None,
                row_kinds: list | None = None, width: bool = True) -> None:
    """Write ``df`` to sheet ``name`` with number formats per column (``kinds``: column -> kind of
    :data:`FORMATS`) or per row (``row_kinds``: one kind or None per row, for a label/value table),
    widths fitted and the header frozen."""
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
        for j, c in enumerate(cols, start=1):
            w = max([len(str(c))] + [len(str(v)) for v in out[c].head(200)]) + 2
            sheet.column_dimensions[sheet.cell(row=1, column=j).column_letter].width = min(w, 60)
    sheet.freeze_panes = "A2"
