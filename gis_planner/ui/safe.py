"""Showing user and file text safely.

Streamlit renders ``st.markdown``/``st.error``/``st.caption`` text as Markdown (HTML is off unless asked
for): :func:`md_escape` neutralises Markdown so a layer or file name cannot format or link anything.
Tables go through ``st.dataframe`` (rendered as text, never as HTML). Map popups are escaped in
:mod:`gis_planner.ui.maps` with ``html.escape``.

>>> print(md_escape("*bold* [x](http://a) <b>"))
\\*bold\\* \\[x\\]\\(http://a\\) &lt;b&gt;
"""
from __future__ import annotations

import html
import re

_MD = re.compile(r"([\\`*_{}\[\]()#+\-!|~>$])")


def md_escape(text: object) -> str:
    """Text safe to put into Markdown: HTML-escaped and Markdown punctuation backslash-escaped."""
    return _MD.sub(r"\\\1", html.escape(str(text), quote=False))
