"""Session state of the app: interface language, the open workspace, translated text.

Everything shown on screen goes through :func:`tr` (messages in ``gis_planner/i18n/*.yaml``) or
:func:`code_label` (names of codes from the ``layers/`` catalogues), in the language the user picked in
the sidebar. The language is kept in ``st.session_state`` and mirrored in the URL (``?lang=ru``) so a
page reload keeps it.
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from .. import settings
from ..errors import GisPlannerError
from ..i18n import label, t
from ..workspace import Workspace

LANG_KEY = "lang"
WS_KEY = "ws_path"
TILES_KEY = "web_tiles"


def lang() -> str:
    """The current interface language (``ky`` by default, or ``?lang=`` from the URL)."""
    value = st.session_state.get(LANG_KEY)
    if value not in settings.LANGUAGES:
        qp = st.query_params.get("lang")
        value = qp if qp in settings.LANGUAGES else settings.DEFAULT_LANG
        st.session_state[LANG_KEY] = value
    return value


def tr(key: str, **fmt) -> str:
    """The message ``key`` in the current language."""
    return t(key, lang(), **fmt)


def translator(lang_: str):
    """``tr`` bound to one language (for format functions that Streamlit may call outside the script run)."""
    def tr_(key: str, **fmt) -> str:
        return t(key, lang_, **fmt)

    return tr_


def code_label(catalogue_name: str, code, short: bool = False) -> str:
    """Name of a catalogue code in the current language ('' for a missing value)."""
    if code is None or (isinstance(code, float) and code != code):
        return ""
    try:
        return label(catalogue_name, str(code), lang(), short=short, workspace=current_root())
    except GisPlannerError:
        return str(code)


def current_root() -> Path:
    """Folder of the workspace the user chose (default: ``settings.default_workspace()``)."""
    value = st.session_state.get(WS_KEY)
    if not value:
        value = str(settings.default_workspace())
        st.session_state[WS_KEY] = value
    return Path(os.path.expanduser(str(value)))


def workspace() -> Workspace:
    """The open workspace; raises :class:`GisPlannerError` (shown as a message) if there is none."""
    return Workspace(current_root())


def web_tiles() -> bool:
    """Whether the user asked for web (OSM) tiles under the maps (off by default: offline first)."""
    return bool(st.session_state.get(TILES_KEY, False))
