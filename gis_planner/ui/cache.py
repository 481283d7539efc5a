"""Caching of workspace reads and analyses, keyed by the workspace data version.

Every cached function takes ``(root, version, …)``: ``version`` is :attr:`Workspace.version`, which
changes with every write, so an import or an edit is visible on the next rerun while ordinary
interactions (switching language, opening a page, clicking the map) reuse what was computed.
Results are shared read-only objects (``st.cache_resource``): callers must not modify them.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from ..workspace import Workspace


def key(ws: Workspace) -> tuple[str, str]:
    """The cache key of a workspace: its folder and data version.

    The version also covers the workspace's rule overrides (``<workspace>/layers/*.yaml``), so an edit
    of the zoning rules in the app recomputes what depends on them.
    """
    rules = sorted((p.name, p.stat().st_mtime_ns) for p in (ws.root / "layers").glob("*.yaml")) \
        if (ws.root / "layers").is_dir() else []
    return str(ws.root), ws.version + (f"|{hash(tuple(rules))}" if rules else "")


@st.cache_resource(max_entries=64, show_spinner=False)
def read_layer(root: str, version: str, name: str):
    """A workspace layer (``None`` when missing)."""
    return Workspace(root).read_layer(name, missing_ok=True)


@st.cache_resource(max_entries=8, show_spinner=False)
def info(root: str, version: str) -> dict:
    """``Workspace.info()`` (layers, counts, provenance, DEM)."""
    return Workspace(root).info()


@st.cache_resource(max_entries=64, show_spinner=False)
def compute(root: str, version: str, name: str, _fn: Callable, *args):
    """Cache ``_fn(Workspace(root), *args)`` under ``(root, version, name, args)``.

    ``name`` identifies the analysis (the function itself is not hashed); ``args`` must be hashable.
    """
    return _fn(Workspace(root), *args)


def cached(ws: Workspace, name: str, fn: Callable, *args):
    """Run ``fn(ws, *args)`` once per data version of ``ws`` (see :func:`compute`)."""
    root, version = key(ws)
    return compute(root, version, name, fn, *args)


class StaticText:
    """What ``jinja2.Template(source)`` is for a source without any Jinja markup: its text.

    branca renders every element of a map and then wraps each *rendered* script (with its GeoJSON and
    image data: up to megabytes) into a new ``Element``, whose ``__init__`` makes a template of it — ~20
    Jinja compilations of unique, markup-free strings per map and rerun (~0.15 CPU s on the restrictions
    page; they also filled the compiled-template cache). Such a template renders its source with Jinja's
    two changes to plain text: line breaks normalised to ``\\n`` (``newline_sequence``) and one trailing
    line break dropped (``keep_trailing_newline`` false). Anything else asked of it (``module`` …) comes
    from the real compiled template, made then.
    """

    _NEWLINES = None

    def __init__(self, source: str):
        import re

        if StaticText._NEWLINES is None:
            StaticText._NEWLINES = re.compile(r"\r\n|\r|\n")
        self.source = source
        text = StaticText._NEWLINES.sub("\n", source) if "\r" in source else source
        self._text = text[:-1] if text.endswith("\n") else text
        self._compiled = None

    @staticmethod
    def applies(source: str) -> bool:
        """Whether ``source`` has no Jinja markup (default delimiters, no line statements)."""
        return "{{" not in source and "{%" not in source and "{#" not in source

    def render(self, *args, **kwargs) -> str:
        return self._text

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_compiled", "_text", "source"):
            raise AttributeError(name)
        if self._compiled is None:
            import jinja2

            self._compiled = jinja2.Template(self.source)
        return getattr(self._compiled, name)


def templates_compiled_once() -> None:
    """Let branca (folium's base) compile each element template once per process, not per element.

    ``branca.element.Element.__init__`` compiles its Jinja template string anew for every element made
    with one (~55 per map: the figure, the script and style links …), and every map page rebuilds its map
    on each rerun, so ~0.1–0.2 CPU s per rerun went into compiling the same strings again. A compiled
    ``jinja2.Template`` holds no render state (rendering takes its variables as arguments), so one per
    source string is shared. A source without Jinja markup (the rendered scripts branca wraps into new
    elements) is not compiled at all: :class:`StaticText`. Idempotent; only plain ``Template(source)``
    calls are cached.
    """
    try:
        import branca.element as be
        import jinja2
    except ImportError:
        return
    if getattr(be.Template, "_gis_planner_cached", False):
        return
    compiled: dict = {}

    class CachedTemplate(jinja2.Template):
        _gis_planner_cached = True

        def __new__(cls, source, *args, **kwargs):
            if args or kwargs or not isinstance(source, str):
                return jinja2.Template(source, *args, **kwargs)
            if StaticText.applies(source):
                return StaticText(source)
            tpl = compiled.get(source)
            if tpl is None:
                tpl = compiled[source] = jinja2.Template(source)
            return tpl

    be.Template = CachedTemplate


templates_compiled_once()


def clear() -> None:
    """Forget everything (after a write the version changes anyway; this frees memory)."""
    read_layer.clear()
    info.clear()
    compute.clear()
