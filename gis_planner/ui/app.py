"""The Streamlit app shell: sidebar (language, workspace, web tiles), navigation, error handling.

``app.py`` at the top of the repository calls :func:`main`; each page is a small script in
``gis_planner/ui/pages/`` run by ``st.navigation``. A page is listed only when the library module it
is a shell over is installed (see :data:`PAGES`). Errors a user can cause (:class:`GisPlannerError`)
are shown as messages; anything else as a short message too (the details go to the server log),
never as a traceback.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
import time
import traceback
from pathlib import Path

import streamlit as st

from .. import settings
from ..errors import GisPlannerError
from ..i18n import t
from ..workspace import meta_text
from . import activity, cache, state
from .safe import md_escape

log = logging.getLogger("gis_planner.app")
PAGES_DIR = Path(__file__).resolve().parent / "pages"
FAVICON = Path(__file__).resolve().parents[2] / "static" / "favicon.png"  # local: no icon font from the web

# slug, title message, icon, library module and attribute the page needs (None: always there)
PAGES: list[tuple[str, str, str, tuple[str, str] | None]] = [
    ("overview", "app.page.overview", ":material/home:", None),
    ("data", "app.page.data", ":material/upload_file:", ("gis_planner.io", "import_layer")),
    ("balance", "app.page.balance", ":material/table_chart:", ("gis_planner.balance", "compute_balance")),
    ("zoning", "app.page.zoning", ":material/rule:", ("gis_planner.zoning", "check")),
    ("hazards", "app.page.hazards", ":material/landslide:", ("gis_planner.hazards", "run_hazards")),
    ("community", "app.page.community", ":material/draw:", ("gis_planner.community", "open_store")),
    ("scenarios", "app.page.scenarios", ":material/trending_up:", ("gis_planner.scenarios", "run_scenario")),
    ("report", "app.page.report", ":material/description:", ("gis_planner.report", "build_report")),
]


def available(requirement: tuple[str, str] | None) -> bool:
    """Whether the library module a page needs is installed.

    Only looked up, not imported: importing every analysis module (matplotlib, python-docx, SQLAlchemy …)
    just to list the pages would slow the first page down; a page imports what it uses when opened.
    """
    if requirement is None:
        return True
    try:
        return importlib.util.find_spec(requirement[0]) is not None
    except (ImportError, ValueError):
        return False


def _clean_paths(text, names: dict | None = None) -> str:
    """``text`` without server paths: an upload's staged path becomes the user's file name and the
    temporary folders of the app and the importer (``gp-upload-…``, ``gp-import-…``) disappear."""
    import re
    import tempfile

    text = "" if text is None else str(text)
    for path, name in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(str(path), str(name))
    tmp = re.escape(tempfile.gettempdir().rstrip("/\\"))
    return re.sub(tmp + r"[/\\]gp-[\w-]+[/\\]", "", text)


def _short_list(values, n: int = 10) -> str:
    if isinstance(values, dict):
        parts = [f"'{v}' ({_short_list(ids, 5)})" if isinstance(ids, (list, tuple)) else f"'{v}'"
                 for v, ids in list(values.items())[:n]]
        return "; ".join(parts) + ("; …" if len(values) > n else "")
    values = [str(v) for v in values]
    return ", ".join(values[:n]) + (f" … (+{len(values) - n})" if len(values) > n else "")


# errors whose file is the workspace folder on the server: the sidebar's workspace field names it for people
NO_FILE_LINE = {"no_workspace"}


def show_error(err: BaseException, names: dict | None = None) -> None:
    """Show an error as a message (never a traceback).

    A :class:`GisPlannerError` whose ``code`` has a catalogue problem (``app.err.<code>``) *and* an
    app fix (``app.fix.<code>``, naming the app's controls, not CLI options) is shown translated,
    with the file and the details the error carries; other codes show the library's message under a
    translated title. ``names`` maps server paths (an upload's staged file) to what the user knows
    (the uploaded file's name); temporary folders never reach the screen.
    """
    if isinstance(err, GisPlannerError):
        key = f"app.err.{err.code}"
        title = state.tr(key)
        fix = state.tr(f"app.fix.{err.code}")
        if title != key and fix != f"app.fix.{err.code}":
            lines = [f"**{md_escape(title)}**"]
            if err.file and err.code not in NO_FILE_LINE:
                lines.append(md_escape(state.tr("app.err.file", file=_clean_paths(err.file, names))))
            details = err.details or {}
            if details.get("field"):
                fkey = f"app.field.{details['field']}"
                fname = state.tr(fkey)
                lines.append(md_escape(state.tr("app.err.field", field=details["field"] if fname == fkey else fname)))
            if isinstance(details.get("values"), dict) and details["values"]:
                lines.append(md_escape(state.tr("app.err.values", values=_short_list(details["values"]))))
            elif err.feature is not None and err.feature != "":
                lines.append(md_escape(state.tr("app.err.features", ids=str(err.feature))))
            if details.get("columns"):
                lines.append(md_escape(state.tr("app.err.columns", columns=_short_list(details["columns"], 30))))
            if details.get("options"):
                lines.append(md_escape(state.tr("app.err.options", options=_short_list(details["options"], 30))))
            if details.get("suggested_crs"):
                lines.append(md_escape(state.tr("app.err.suggested_crs", crs=details["suggested_crs"])))
            lines.append(md_escape(state.tr("app.err.fix", fix=fix)))
            log.info("user error shown translated: %s", _clean_paths(str(err), names))
            st.error("\n\n".join(lines), icon=":material/error:")
            return
        if title == key:
            title = state.tr("app.err.generic")
        st.error(f"**{md_escape(title)}**\n\n{md_escape(_clean_paths(str(err), names))}", icon=":material/error:")
    else:
        from gis_planner.text import mask_secrets

        log.error("unexpected error in the app:\n%s", mask_secrets("".join(traceback.format_exception(err))))
        print(mask_secrets("".join(traceback.format_exception(err))), file=sys.stderr)
        st.error(f"**{md_escape(state.tr('app.err.unexpected'))}**\n\n{md_escape(type(err).__name__)}: "
                 f"{md_escape(_clean_paths(mask_secrets(err)[:300], names))}", icon=":material/error:")


def _choose_workspace() -> None:
    """The user typed a workspace name: open it only if it lies under a configured root (docs/security.md)."""
    from . import workspaces

    try:
        path = workspaces.resolve(st.session_state.get(WS_NAME_KEY, ""))
    except GisPlannerError as err:
        st.session_state[WS_REFUSED_KEY] = err
        st.session_state[WS_NAME_KEY] = workspaces.display_name(state.current_root())
        return
    st.session_state[state.WS_KEY] = str(path)
    st.session_state[WS_SHOWN_KEY] = str(path)


def workspace_field() -> None:
    """The workspace field: names relative to the workspace roots, never a server path."""
    from . import workspaces

    root = str(state.current_root())  # sets the default (the demo) before the widget reads it
    if st.session_state.get(WS_SHOWN_KEY) != root or WS_NAME_KEY not in st.session_state:
        st.session_state[WS_NAME_KEY] = workspaces.display_name(root)
        st.session_state[WS_SHOWN_KEY] = root
    st.text_input(state.tr("app.sidebar.workspace"), key=WS_NAME_KEY, on_change=_choose_workspace,
                  help=state.tr("app.sidebar.workspace_help"))
    refused = st.session_state.pop(WS_REFUSED_KEY, None)
    if refused is not None:
        show_error(refused)
    names = workspaces.choices()
    if names:
        st.caption(md_escape(state.tr("hardening.ws.choices", names=", ".join(names[:20]))))


WS_NAME_KEY, WS_SHOWN_KEY, WS_REFUSED_KEY = "ws_name", "ws_name_of", "ws_refused"


def sidebar() -> None:
    """Language, workspace and map options; shown on every page."""
    with st.sidebar:
        lang = state.lang()
        st.selectbox(t("app.sidebar.language", lang), list(settings.LANGUAGES), key=state.LANG_KEY,
                     format_func=lambda code: t(f"app.lang.{code}", code))
        lang = state.lang()
        if st.query_params.get("lang") != lang:
            st.query_params["lang"] = lang
        workspace_field()
        try:
            ws = state.workspace()
            meta = cache.info(*cache.key(ws))["meta"]
            st.caption(md_escape(meta_text(meta, "name", lang) or ws.root.name))
            if meta.get("synthetic"):
                st.caption(state.tr("core.synthetic_notice"))
        except GisPlannerError:
            st.caption(state.tr("app.sidebar.no_workspace"))
        st.checkbox(state.tr("app.sidebar.web_tiles"), key=state.TILES_KEY,
                    help=state.tr("app.sidebar.web_tiles_help"))


# analyses the pages need, computed once per data version in the background after the first page:
# (library module that must be installed, function of gis_planner.ui.analyses, its arguments; LANG
# stands for the language of the session that started the warm-up, FIRST_USE for the intended use the
# restrictions page opens with, analyses.default_use)
LANG, FIRST_USE = object(), object()
# (the class areas of the first use, ~1 s, after the balance and its workbook: the restrictions page shows its
# map and answers clicks without them, the balance page has nothing to show before its sheets)
WARM: list[tuple[str, str, tuple]] = [
    ("gis_planner.zoning", "restrictions", ()),
    ("gis_planner.zoning", "regime_display", ()),               # the restriction map's pieces (any use)
    ("gis_planner.zoning", "check_index", ()),                  # the parcels a map click is looked up in
    ("gis_planner.balance", "balance", ()),
    ("gis_planner.balance", "balance_tables", (LANG,)),        # its sheets (~1 s for the demo)
    ("gis_planner.balance", "balance_xlsx", (LANG,)),          # their workbook (~0.8 s), for the download
    ("gis_planner.zoning", "restriction_map", (FIRST_USE,)),   # the class areas of the first use
]
# the language a warm-up of (root, version) makes its language-dependent steps for: that of the newest script
# run. A warm-up started in another language leaves them to the warm-up of this one (a language switch right
# after the first page does not make the sheets and the workbook of the old language as well)
_WARM_LANG: dict[tuple[str, str], str] = {}
# seconds the warm-up waits after the first page: the browser is still fetching that page's assets (the
# map component, Leaflet, the table widget) from this same Python process, and the analyses would slow
# them down (they hold the interpreter); a page opened sooner simply computes what it needs itself
WARM_DELAY_S = 3.0
# the warm-up yields to the users: it starts each step only when no script run has been going on, nor a
# request of a browser answered (the page's code chunks, the map's files and images), for this long (a
# language switch or a change of use right after the first page is not slowed down by a second interpreter
# thread, nor a page the browser is still drawing), and goes on anyway after WARM_MAX_WAIT_S of continuous use.
# (0.8 s before the requests counted; 0.5 s since: the XLSX made in the background is ready for a download
# clicked ~1 s after the balance page settled, which 0.8 s plus the page's requests missed)
WARM_QUIET_S = 0.5
WARM_MAX_WAIT_S = 30.0
# script runs going on and the last activity (a run's end, a request the browser made), gis_planner.ui.activity
_RUNS, _user_run = activity.RUNS, activity.user_run


def _wait_for_quiet(quiet_s: float | None = None, max_wait_s: float | None = None) -> float:
    """Wait until no script run is going on and none ended (nor a browser's request was answered, when the
    launcher counts them: :func:`gis_planner.ui.activity.count_requests`) in the last ``quiet_s`` seconds
    (at most ``max_wait_s``); returns the seconds waited."""
    quiet_s = WARM_QUIET_S if quiet_s is None else quiet_s
    max_wait_s = WARM_MAX_WAIT_S if max_wait_s is None else max_wait_s
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait_s and activity.busy(quiet_s):
        time.sleep(0.05)
    return time.monotonic() - t0


# one warm-up step at a time in the whole process: after a language switch the warm-up of the old language
# (its last language-independent steps) and that of the new one (its sheets and workbook) take turns instead
# of running side by side, beside the users' runs, in one interpreter
_WARM_STEP = threading.Lock()


def _warm_step(fn, *args, lang_of: tuple | None = None):
    """``fn(*args)`` as one step of a warm-up: alone (:data:`_WARM_STEP`), once the users are quiet
    (:func:`_wait_for_quiet`, checked after the turn came). With ``lang_of`` = ``(root, version, lang)``: not
    at all when the users switched to another language meanwhile (:data:`_WARM_LANG`)."""
    def switched() -> bool:
        return lang_of is not None and _WARM_LANG.get(lang_of[:2], lang_of[2]) != lang_of[2]
    if switched():
        return None         # the users switched language: the warm-up of theirs does it
    with _WARM_STEP:
        _wait_for_quiet()   # each step when the users are not waiting for a page
        if switched():      # (meanwhile)
            return None
        return fn(*args)


@st.cache_resource(max_entries=4, show_spinner=False)
def warm_up(root: str, version: str, lang: str = "ky") -> threading.Thread:
    """Start (once per workspace data version, language and process) a background thread that fills the caches the
    next pages need (after :data:`WARM_DELAY_S`): the parcel spatial index (map clicks), the restrictions,
    the land balance with its sheets and workbook, the restriction map the restrictions page opens with
    (:data:`WARM`; the steps that depend on the language only for the language of the newest script run,
    :data:`_WARM_LANG`); then it imports
    the libraries of the other pages, so opening one for the first time does not wait for SQLAlchemy,
    python-docx …. Each step starts only when no script run has been going on (nor a request of a browser
    answered) for :data:`WARM_QUIET_S` (:func:`_wait_for_quiet`), and when no other warm-up runs a step
    (:func:`_warm_step`): the warm-up yields to the users instead of competing with their reruns.

    Safe: every step goes through the same ``st.cache_resource`` functions as the pages, whose per-key
    locks make a page that needs a value being computed wait for it instead of computing it twice; the
    results are read-only. Failures are only logged (the page computes and reports them itself).
    """
    def run() -> None:
        from ..catalog import catalogue
        from ..workspace import Workspace
        from . import analyses, maps
        time.sleep(WARM_DELAY_S)
        try:
            _warm_step(maps.layer_index, root, version, "parcels")
            ws = Workspace(root)
            first_use = analyses.default_use(catalogue("activities", root).codes)
            for module, fn, args in WARM:
                if available((module, fn)):
                    _warm_step(getattr(analyses, fn), ws, *({LANG: lang, FIRST_USE: first_use}.get(a, a) for a in args),
                               lang_of=(root, version, lang) if LANG in args else None)
            for _slug, _title, _icon, req in PAGES:   # the libraries the other pages import when opened
                if req is not None and available(req):
                    _warm_step(lambda: getattr(importlib.import_module(req[0]), req[1], None))   # (a lazy attribute)
        except Exception:  # noqa: BLE001 - background work must not disturb the app
            log.warning("cache warm-up failed:\n%s", traceback.format_exc())

    th = threading.Thread(target=run, name=activity.WARM_THREAD, daemon=True)
    th.start()
    return th


def main() -> None:
    """One script run of the app (counted, so the background warm-up yields to it; so are the requests of
    the browsers, from the first run on: :func:`gis_planner.ui.activity.count_requests`)."""
    activity.count_requests()
    _user_run(True)
    try:
        _main()
    finally:
        _user_run(False)


def _main() -> None:
    st.set_page_config(page_title=t("core.app_name", state.lang()), page_icon=str(FAVICON),
                       layout="wide", initial_sidebar_state="expanded")
    try:
        sidebar()
        lang = state.lang()
        from . import frontend_i18n

        frontend_i18n.install(lang)   # Streamlit's own texts ("Running…", dialogs, dates, sizes) in lang
        from .widgets import compact_layout

        compact_layout()
        pages = [st.Page(PAGES_DIR / f"{slug}.py", title=t(title, lang), icon=icon,
                         url_path="home" if slug == "overview" else slug, default=(slug == "overview"))
                 for slug, title, icon, req in PAGES if (PAGES_DIR / f"{slug}.py").exists() and available(req)]

        def overview() -> None:
            st.switch_page(pages[0])

        # the default page lives at "/": a link to /overview opens it (not Streamlit's "Page not found")
        pages.append(st.Page(overview, title=t("app.page.overview", lang), url_path="overview", visibility="hidden"))
        page = st.navigation(pages, position="sidebar")
    except Exception as err:  # noqa: BLE001 - the shell itself must never show a traceback
        show_error(err)
        return
    try:
        page.run()
    except Exception as err:  # noqa: BLE001 - see module docstring
        show_error(err)
    if settings_warm():
        try:
            key = cache.key(state.workspace())
            _WARM_LANG[key] = state.lang()
            warm_up(*key, state.lang())
        except GisPlannerError:
            pass


def settings_warm() -> bool:
    """Background warm-up on (default) unless ``GIS_PLANNER_APP_WARM=0``."""
    import os
    return os.environ.get("GIS_PLANNER_APP_WARM", "1") not in ("0", "false", "no")
