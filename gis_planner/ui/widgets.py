"""Small shared widgets: translated tables, warning lists, downloads."""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from . import state
from .safe import md_escape
from ..text import safe_table


def table(df: pd.DataFrame, headers: Mapping[str, str] | None = None, height: int | None = None,
          key: str | None = None) -> None:
    """``st.dataframe`` with column headers translated (``headers``: column -> message key).

    Columns not in ``headers`` (or whose key has no message) are shown under ``app.field.<column>`` when that
    message exists. Numbers are
    text in the local format with the decimals of :func:`column_decimals` (:func:`local_numbers`). Cells are rendered as text by Streamlit (no HTML), so user values are safe.
    """
    from ..i18n import t

    lang = state.lang()
    df = drop_code_columns(df, lang)
    names = {}
    for col in df.columns:
        # the page's key, else app.field.<column>, else the column's own name
        names[col] = str(col)
        for keyname in ((headers or {}).get(col), f"app.field.{col}"):
            if keyname and t(keyname, lang) != keyname:
                names[col] = t(keyname, lang)
                break
    out = local_numbers(df, lang).rename(columns=names)
    for col in out.columns:
        s = out[col]
        if s.dtype == object:
            kinds = {type(v) for v in s if not _missing(v)}
            if len(kinds) > 1:   # mixed kinds (e.g. flags and text): Arrow needs one type per column
                out[col] = s.map(lambda v: _cell(v, lang))
    kwargs = {"hide_index": True, "width": "stretch"}
    if height:
        kwargs["height"] = height
    if key:
        kwargs["key"] = key
    st.dataframe(out, **kwargs)


# headers of columns that hold catalogue codes ("agricultural", "protected_area") next to their names
CODE_HEADERS = ("balance.code", "app.field.code", "scenarios.col.code")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def drop_code_columns(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``df`` without its «Код» columns in Kyrgyz and Russian: the codes are English identifiers for files
    and programs (the XLSX/JSON downloads keep them); on screen every code is shown by its name, which the
    table has in the next column. Only a column whose values are all such identifiers is dropped."""
    if lang == "en" or df.empty:
        return df
    from ..i18n import t

    heads = {"code"} | {t(k, lang) for k in CODE_HEADERS}
    drop = [c for c in df.columns if str(c) in heads and len(df.columns) > 1
            and all(_missing(v) or (isinstance(v, str) and _CODE_RE.match(v)) for v in df[c])]
    return df.drop(columns=drop) if drop else df


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


# a column named with one of these words holds identifiers or labels, not quantities (left as they are)
NOT_QUANTITIES = ("year", "id", "no", "code", "version", "rank", "order", "index", "fid")
# counts of things: whole numbers (a household is not split)
COUNTS = ("households", "people", "population", "persons", "residents", "plots", "jobs", "parcels", "buildings",
          "places", "houses", "schools", "kindergartens", "clinics")
RATIOS = ("per", "share", "pct", "rate", "ratio", "percent")
DEGREES = ("lon", "lat", "longitude", "latitude")


def _words(name) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", str(name).lower()) if w]


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals (0…4) that show every value exactly; 2 (4 for fractions) when none does."""
    v = values[np.isfinite(values)]
    d = _fewest(v, 4)
    if d is not None:
        return d
    return 4 if v.size and np.abs(v).max() < 1 else 2


def _unit(text) -> str | None:
    """The unit a translated header or row label names: ``Площадь, га`` -> area, ``Доля, %`` -> ratio,
    ``… млн сом`` -> money."""
    s = str(text).lower().strip()
    if re.search(r"(сом|som)\b", s):
        return "money"
    if "%" in s:
        return "ratio"
    if re.search(r"(^|[\s,(])(га|ha)\)?$", s) or re.search(r",\s*(га|ha)\b", s):
        return "area"
    return None


def _fewest(finite: np.ndarray, most: int) -> int | None:
    """Fewest decimals (0…``most``) that show every value exactly; ``None`` when none does."""
    for d in range(most + 1):
        if np.allclose(np.round(finite, d), finite, rtol=0, atol=1e-9):
            return d
    return None


def _fmt(v, lang: str, d: int) -> str:
    """``fmt_number`` with ``d`` decimals; a value that 2 decimals would show as 0,00 although it is not zero
    to 4 decimals (a parcel of 21 m² = 0,0021 ha) gets 4."""
    from ..report.fmt import fmt_number

    if d == 2 and _is_number(v):
        x = float(v)
        if np.isfinite(x) and round(x, 2) == 0 and round(x, 4) != 0:
            d = 4
    return fmt_number(v, lang, d)


def column_decimals(name, values) -> int | None:
    """Decimals for a numeric column in a table, from its name (the data column, or a translated header by
    the unit it ends with: ``…, га``, ``…, %``, ``… млн сом``). The rule:

    * identifiers, codes and years (``NOT_QUANTITIES``) — ``None``: left as they are (when whole);
    * money (a ``som`` word: ``amount_mio_som``, ``run_mio_som_year``) — 2;
    * longitude and latitude in degrees — 6 (about 0.1 m);
    * ratios and shares (``per``, ``share``, ``pct``, ``rate``, ``%``) — fewest exact decimals (0…4), else 2
      (4 when every value is below 1), :func:`_decimals`;
    * areas (an ``ha`` or ``area`` word, ``…, га``) — 2 in every table, so one total reads the same on every
      screen (25 609,53);
    * counts (households, people, residents, plots, jobs, parcels, buildings …, ``COUNTS``) — 0;
    * anything else — 0 when every value is whole, else 2.

    Where 2 decimals would show a non-zero value as 0,00 (a parcel under 50 m², 0,0021 ha) that value alone
    gets 4 (:func:`_fmt`); a value zero to 4 decimals stays 0,00.
    """
    vals = np.asarray(values, dtype="float64")
    finite = vals[np.isfinite(vals)]
    words = _words(name)
    unit = _unit(name)
    if "som" in words or unit == "money":
        return 2
    if any(w in DEGREES for w in words):
        return 6
    if any(w in NOT_QUANTITIES for w in words) and np.allclose(finite % 1, 0):
        return None
    if any(w in RATIOS for w in words) or unit == "ratio":
        return _decimals(vals)
    if "ha" in words or "area" in words or unit == "area":
        return 2
    if any(w in COUNTS for w in words):
        return 0
    d = _fewest(finite, 2)
    return 2 if d is None else d


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):   # a list or an array in a cell
        return False


def _is_number(v) -> bool:
    from decimal import Decimal

    return isinstance(v, (int, float, np.integer, np.floating, Decimal)) and not isinstance(v, (bool, np.bool_))


def local_numbers(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Numbers as people in ``lang`` write them, as text: in Kyrgyz and Russian a (no-break) space between
    thousands and a decimal comma — ``25 609,5`` — in English ``25,609.5``
    (:func:`gis_planner.report.fmt.fmt_number`).

    The decimals of a column follow one rule (:func:`column_decimals`): counts whole, money and areas in
    hectares 2 (4 only for a value that would read 0,00, e.g. a tiny parcel), ratios with the fewest decimals
    that show them exactly. Years, identifiers and codes are left alone. A column of numbers stored as
    objects (mixed ``int``/``float``/``Decimal``, or numbers among text) is formatted the same way, so one
    column never mixes ``3819`` and ``4 334``; in a list of (label, value) rows — the balance summary — each
    row's unit in its label («…, га», «…, %») decides.
    """
    if df.empty:
        return df
    out = df.copy()
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            d = column_decimals(col, s.to_numpy(dtype="float64"))
            if d is not None:
                out[col] = [_fmt(v, lang, d) for v in s.to_numpy()]
            continue
        if s.dtype != object:
            continue
        nums = [float(v) for v in s if _is_number(v)]
        if not nums:
            continue
        labels = df.iloc[:, 0]
        if df.columns.get_loc(col) == 1 and labels.map(lambda v: isinstance(v, str)).all():
            # a list of (label, value) rows: each row's own unit («…, га», «…, %») decides, the rule above
            out[col] = [_label_value(lab, v, lang) for lab, v in zip(labels, s)]
            continue
        d = column_decimals(col, np.array(nums))
        if d is None:
            continue
        out[col] = [_fmt(v, lang, d) if _is_number(v) else ("" if _missing(v) else v) for v in s]
    return out


def _label_value(label, v, lang: str):
    if not _is_number(v):
        return "" if _missing(v) else v
    d = column_decimals(label, [float(v)])
    if d is None:   # a year or a code named by its label
        return str(int(v)) if float(v).is_integer() else str(v)
    return _fmt(v, lang, d)


def _cell(v, lang: str = "en", decimals: int | None = None) -> str:
    """A cell as text: numbers in the local format with ``decimals`` (default: none for whole numbers, else
    up to 4 without trailing zeros)."""
    from ..report.fmt import fmt_number

    if _missing(v):
        return ""
    if _is_number(v):
        if decimals is not None:
            return _fmt(v, lang, decimals)
        x = float(v)
        if x.is_integer():
            return fmt_number(x, lang, 0)
        text = fmt_number(x, "en", 4).rstrip("0").rstrip(".")
        return text.replace(",", "\u00a0").replace(".", ",") if lang in ("ky", "ru") else text
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
            f"{sel} button [data-testid=\"stMarkdownContainer\"] p {{font-size: 0; visibility: hidden;}}"
            f"{sel} button [data-testid=\"stMarkdownContainer\"] p::after "
            f"{{content: {css_string(state.tr('app.data.choose_file'))}; font-size: 0.875rem; visibility: visible;}}"
            "</style>")
    return st.file_uploader(label, type=types, key=key, max_upload_size=max_mb)


def import_warning_text(w: dict, lang: str) -> str:
    """An import warning (a dict from the import report) as the app words it: ``app.warn.<code>`` where
    the library's text names a CLI option (``--date``, ``--crs``), else the library's own text."""
    from ..i18n import t

    key = f"app.warn.{w.get('code')}"
    text = t(key, lang, **(w.get("params") or {}))
    if text != key:
        return text
    from ..io.report import warning_text

    return warning_text(w, lang)


def warnings_list(items) -> None:
    """Import warnings (strings or dicts from the import report) as a table or a list."""
    items = list(items or [])
    if items and all(isinstance(i, dict) and "code" in i for i in items):
        try:
            st.markdown("\n".join(f"- {md_escape(import_warning_text(i, state.lang()))}" for i in items))
            return
        except ImportError:  # the import module is not installed
            pass
    if items and all(isinstance(i, dict) for i in items):
        table(pd.DataFrame(items))
    else:
        st.markdown("\n".join(f"- {md_escape(i)}" for i in items))


def download_csv(df: pd.DataFrame, label_key: str, file_name: str, key: str) -> None:
    st.download_button(state.tr(label_key), safe_table(df).to_csv(index=False).encode("utf-8-sig"), file_name=file_name,
                       mime="text/csv", key=key)


def compact_layout() -> None:
    """Less empty space above the page title (Streamlit leaves ~6 rem): at 1440×900 the maps start higher
    and fit on the first screen; on narrow screens smaller metric figures (never cut) and tables that scroll
    in their column. Style only (Streamlit puts it outside the page's layout)."""
    st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.2rem;}"
            "[data-testid='stSidebarHeader']{height:2.2rem;min-height:2.2rem;}"
            # narrow screens (1024 px with the sidebar open): whole figures ("25 609,48", not "25 60…") and
            # tables that scroll inside their column instead of running off the page
            "@media (max-width: 1280px){[data-testid='stMetricValue']{font-size:1.55rem;}"
            "[data-testid='stMetricLabel'] *{white-space:normal !important;text-overflow:clip !important;}"
            "[data-testid='stMarkdownContainer'] table{display:block;overflow-x:auto;font-size:.85rem;}"
            # the overview: its layer list under the map (a 2/5 column of 1024 px cannot hold three columns)
            ".st-key-overview_main [data-testid='stHorizontalBlock']{flex-wrap:wrap;}"
            ".st-key-overview_main [data-testid='stColumn']{flex:1 1 100% !important;width:100% !important;"
            "min-width:100% !important;}}"
            # a toggle's or checkbox's label wraps instead of being cut with "…" (at every width)
            "[data-testid='stCheckbox'] label *, .stToggle label *, [data-testid='stToggle'] label *"
            "{white-space:normal !important;text-overflow:clip !important;overflow:visible !important;}"
            "</style>")
