"""Small shared widgets: translated tables, warning lists, downloads."""
from __future__ import annotations

from typing import Mapping

import pandas as pd
import streamlit as st

from . import state
from .safe import md_escape


def table(df: pd.DataFrame, headers: Mapping[str, str] | None = None, height: int | None = None,
          key: str | None = None) -> None:
    """``st.dataframe`` with column headers translated (``headers``: column -> message key).

    Columns not in ``headers`` are shown under ``app.field.<column>`` when that message exists.
    Cells are rendered as text by Streamlit (no HTML), so user values are safe.
    """
    from ..i18n import t

    lang = state.lang()
    names = {}
    for col in df.columns:
        keyname = (headers or {}).get(col) or f"app.field.{col}"
        text = t(keyname, lang)
        names[col] = str(col) if text == keyname else text
    out = df.rename(columns=names)
    for col in out.columns:
        s = out[col]
        if s.dtype == object:
            kinds = {type(v) for v in s if v is not None and v == v}
            if len(kinds) > 1:   # mixed numbers and text: Arrow needs one type per column
                out[col] = s.map(_cell)
    kwargs = {"hide_index": True, "width": "stretch"}
    if height:
        kwargs["height"] = height
    if key:
        kwargs["key"] = key
    st.dataframe(out, **kwargs)


def _cell(v) -> str:
    if v is None or v != v:
        return ""
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".").replace(",", " ")
    return str(v)


def warnings_list(items) -> None:
    """Import warnings (strings or dicts from the import report) as a table or a list."""
    items = list(items or [])
    if items and all(isinstance(i, dict) and "code" in i for i in items):
        try:
            from ..io.report import warning_text
        except ImportError:  # the import module is not installed
            warning_text = None
        if warning_text is not None:
            st.markdown("\n".join(f"- {md_escape(warning_text(i, state.lang()))}" for i in items))
            return
    if items and all(isinstance(i, dict) for i in items):
        table(pd.DataFrame(items))
    else:
        st.markdown("\n".join(f"- {md_escape(i)}" for i in items))


def download_csv(df: pd.DataFrame, label_key: str, file_name: str, key: str) -> None:
    st.download_button(state.tr(label_key), df.to_csv(index=False).encode("utf-8-sig"), file_name=file_name,
                       mime="text/csv", key=key)
