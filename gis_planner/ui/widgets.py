"""Small shared widgets: translated tables, warning lists, downloads."""
from __future__ import annotations

from typing import Mapping

import numpy as np
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
    out = local_numbers(df, lang).rename(columns=names)
    for col in out.columns:
        s = out[col]
        if s.dtype == object:
            kinds = {type(v) for v in s if v is not None and v == v}
            if len(kinds) > 1:   # mixed numbers and text: Arrow needs one type per column
                out[col] = s.map(lambda v: _cell(v, lang))
    kwargs = {"hide_index": True, "width": "stretch"}
    if height:
        kwargs["height"] = height
    if key:
        kwargs["key"] = key
    st.dataframe(out, **kwargs)


def md_table(df: pd.DataFrame, headers: Mapping[str, str]) -> None:
    """A small table as Markdown (``headers``: column -> message key), every cell escaped.

    For short lists on pages that must open fast: ``st.dataframe`` makes the browser fetch and start
    its 1.4 MB grid (Arrow) code first. Numbers in the local format (:func:`local_numbers`).
    """
    from ..i18n import t

    lang = state.lang()
    out = local_numbers(df[list(headers)], lang)
    lines = ["| " + " | ".join(md_escape(t(k, lang)) for k in headers.values()) + " |",
             "|" + "---|" * len(headers)]
    for row in out.itertuples(index=False):
        lines.append("| " + " | ".join(md_escape(_cell(v, lang)) for v in row) + " |")
    st.markdown("\n".join(lines))


NOT_QUANTITIES = ("year", "id", "_no", "code", "version", "rank", "order", "index")


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals (0…4) that show every value exactly; 2 (4 for fractions) when none does."""
    v = values[np.isfinite(values)]
    for d in range(5):
        if np.allclose(np.round(v, d), v, rtol=0, atol=1e-9):
            return d
    return 4 if v.size and np.abs(v).max() < 1 else 2


def local_numbers(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Numbers as people in ``lang`` write them: in Kyrgyz and Russian a (no-break) space between
    thousands and a decimal comma — ``25 609,5`` (:func:`gis_planner.report.fmt.fmt_number`). English
    tables keep numeric columns (Streamlit formats them). Years, identifiers and codes are left alone."""
    if lang not in ("ky", "ru") or df.empty:
        return df
    from ..report.fmt import fmt_number

    out = df.copy()
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            continue
        name = str(col).lower()
        if pd.api.types.is_integer_dtype(s):
            if any(k in name for k in NOT_QUANTITIES):
                continue
            d = 0
        else:
            vals = s.to_numpy(dtype="float64")
            if any(k in name for k in NOT_QUANTITIES) and np.allclose(vals[np.isfinite(vals)] % 1, 0):
                continue
            d = _decimals(vals)
        out[col] = [fmt_number(v, lang, d) for v in s.to_numpy()]
    return out


def _cell(v, lang: str = "en") -> str:
    """A cell of a mixed column as text: numbers with up to 4 decimals in the local format."""
    if v is None or v != v:
        return ""
    if isinstance(v, (float, np.floating)):
        text = f"{v:,.4f}".rstrip("0").rstrip(".")
        if lang in ("ky", "ru"):
            return text.replace(",", "\u00a0").replace(".", ",")
        return text
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and lang in ("ky", "ru"):
        return f"{v:,d}".replace(",", "\u00a0")
    return str(v)


def lazy_tabs(labels: list[str], key: str) -> list:
    """``st.tabs`` that rerun the page when switched, so a page can build only the open tab (its
    ``.open`` is ``True``/``False``). On a Streamlit without tab state every ``.open`` is ``None``: callers
    then build every tab (``if tab.open is not False``)."""
    try:
        return list(st.tabs(labels, key=key, on_change="rerun"))
    except TypeError:
        return list(st.tabs(labels))


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string that cannot end the string or the ``<style>`` element."""
    out = str(text).replace("\\", "\\5c ").replace('"', "\\22 ").replace("<", "\\3c ").replace("\n", " ")
    return f'"{out}"'


def file_uploader(label: str, types: list[str], key: str, max_mb: int):
    """``st.file_uploader`` without Streamlit's built-in English on screen.

    Its button says "Upload" and its hint "200MB per file • ZIP, …" in English whatever the language; the
    hint is hidden (the page's caption says the same in the user's language) and the button shows
    ``app.data.choose_file``. ``max_mb`` is enforced by the browser too.
    """
    sel = f'.st-key-{key} [data-testid="stFileUploaderDropzone"]'
    st.html(f"<style>{sel} [data-testid=\"stFileUploaderDropzoneInstructions\"] {{display: none;}}"
            f"{sel} button [data-testid=\"stMarkdownContainer\"] p {{font-size: 0;}}"
            f"{sel} button [data-testid=\"stMarkdownContainer\"] p::after "
            f"{{content: {css_string(state.tr('app.data.choose_file'))}; font-size: 0.875rem;}}</style>")
    return st.file_uploader(label, type=types, key=key, max_upload_size=max_mb)


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
