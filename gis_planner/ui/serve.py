"""Start the app ready for its first visitor: ``python -m gis_planner.ui.serve [streamlit options]``.

``streamlit run app.py`` imports nothing until someone opens the page, so the first visitor waits for the
imports of geopandas, folium, rasterio … and for the first overview map. This launcher runs the same
Streamlit server in this process and, from the moment the process starts, imports those libraries and fills
the overview's caches (workspace info, terrain basemap, the layers of the overview map) for the default
workspace (``GIS_PLANNER_WORKSPACE`` or the demo) in a thread. The server opens its port as soon as
Streamlit is ready, without waiting for that thread: the browser meanwhile fetches and runs Streamlit's
page code (~1 s of the browser's own CPU, done on another core), and the first script run takes what the
thread has computed — the caches are the app's own ``st.cache_resource`` functions, shared by the whole
process, whose per-key locks make the page wait for a value being computed instead of computing it again.
Options after the module name go to ``streamlit run`` (e.g. ``--server.port 8502``).

The launcher also spares the server start Streamlit's scan of every installed distribution's metadata for
"components v2" manifests (~0.5 CPU s with ~160 distributions, :func:`quick_component_scan`): a package
whose metadata does not mention Streamlit at all is skipped before it is parsed, which finds the same
components.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"
log = logging.getLogger("gis_planner.app")


def prepare(root: str | None = None, lang: str | None = None) -> None:
    """Import what the pages use and compute the overview's cached parts for workspace ``root``."""
    from .. import settings
    from ..workspace import Workspace
    from . import cache, maps

    root = root or os.environ.get("GIS_PLANNER_WORKSPACE") or str(settings.demo_workspace())
    ws = Workspace(root)
    r, v = cache.key(ws)
    cache.info(r, v)
    # the terrain image in a thread of its own: its warps, rasterio's rasterising of the parcel image and
    # the image encoders run in C without Python's lock, so the two images are made side by side
    terrain = threading.Thread(target=_logged, args=(maps.terrain_image, r, v), daemon=True,
                               name="gis_planner-prepare-terrain")
    terrain.start()
    cache.read_layer(r, v, "boundary")
    maps.workspace_bounds(ws)
    lang = lang or os.environ.get("GIS_PLANNER_LANG") or "ky"
    for name in maps.OVERVIEW_LAYERS:
        if maps.is_dense(r, v, name):
            maps.layer_raster(r, v, name)
        else:
            maps.layer_display(r, v, name, lang)
    terrain.join()


def _logged(fn, *args) -> None:
    """``fn(*args)`` in a thread of :func:`prepare`: a failure is only logged (the page reports it)."""
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001
        from ..text import mask_secrets

        log.warning("preparing the first page failed: %s", mask_secrets(err))


def _prepare_quietly() -> None:
    # Streamlit warns about "missing ScriptRunContext" for cache calls outside a script run: expected here
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    try:
        # (not streamlit_folium: it registers its browser component at import, which must happen once the
        # server runs, i.e. in the first script run)
        prepare()
    except Exception as err:  # noqa: BLE001 - the page computes (and reports) it itself
        from ..text import mask_secrets

        log.warning("preparing the first page failed: %s", mask_secrets(err))


def quick_component_scan() -> bool:
    """Make Streamlit's components-v2 discovery skip, before parsing their metadata, the distributions whose
    metadata does not contain "streamlit" (case-insensitive) anywhere.

    Streamlit's own pre-filter (``manifest_scanner._is_likely_streamlit_component_package``) keeps a
    distribution whose name, summary or a requirement mentions Streamlit — all three are lines of that
    metadata, so a distribution without the word is one it rejects as well; it parses the metadata of every
    installed distribution with the e-mail parser to find out (~0.5 s of the server start, before the port
    opens). The others still go through Streamlit's own filter. Returns whether the filter is in place
    (idempotent; a Streamlit without that function is left alone).
    """
    try:
        from streamlit.components.v2 import manifest_scanner as ms
    except ImportError:
        return False
    full = getattr(ms, "_is_likely_streamlit_component_package", None)
    if full is None:
        return False
    if getattr(full, "_gis_planner_quick", False):
        return True

    def likely(dist) -> bool:
        try:
            text = dist.read_text("METADATA")
            if text is None:
                text = dist.read_text("PKG-INFO")
        except Exception:  # noqa: BLE001 - unreadable: Streamlit's own filter decides
            text = None
        if text is not None and "streamlit" not in text.lower():
            return False
        return full(dist)

    likely._gis_planner_quick = True
    likely.__wrapped__ = full
    ms._is_likely_streamlit_component_package = likely
    return True


def main(argv: list[str] | None = None) -> int:
    th = threading.Thread(target=_prepare_quietly, name="gis_planner-prepare", daemon=True)
    th.start()
    from streamlit.web import bootstrap  # noqa: F401  (Streamlit's server, imported meanwhile)
    from streamlit.web import cli as stcli

    quick_component_scan()
    # (the port opens without waiting for ``th``: the first script run waits, per cached value, for
    # what the thread is computing)
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    return stcli.main()


if __name__ == "__main__":
    sys.exit(main())
