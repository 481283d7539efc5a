"""Start the app ready for its first visitor: ``python -m gis_planner.ui.serve [streamlit options]``.

``streamlit run app.py`` imports nothing until someone opens the page, so the first visitor waits for the
imports of geopandas, folium, rasterio … and for the first overview map. This launcher runs the same
Streamlit server in this process and, before it listens, imports those libraries and fills the overview's
caches (workspace info, terrain basemap, the layers of the overview map) for the default workspace
(``GIS_PLANNER_WORKSPACE`` or the demo). That work runs in a thread while Streamlit itself is imported,
and the server opens its port only when both are done: the first visitor then meets an idle server with
everything the first page needs (the page's assets, served by this same Python process, are not slowed
down by work competing for the interpreter). The caches are the app's own ``st.cache_resource``
functions, shared by the whole process, so the first page reuses them. Options after the module name go
to ``streamlit run`` (e.g. ``--server.port 8502``).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"
PREPARE_TIMEOUT_S = 60   # a slow disk must not keep the app from starting: the page then computes it
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
    cache.read_layer(r, v, "boundary")
    maps.terrain_image(r, v)
    maps.workspace_bounds(ws)
    lang = lang or os.environ.get("GIS_PLANNER_LANG") or "ky"
    for name in maps.OVERVIEW_LAYERS:
        if maps.is_dense(r, v, name):
            maps.layer_raster(r, v, name)
        else:
            maps.layer_display(r, v, name, lang)


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


def main(argv: list[str] | None = None) -> int:
    th = threading.Thread(target=_prepare_quietly, name="gis_planner-prepare", daemon=True)
    th.start()
    from streamlit.web import bootstrap  # noqa: F401  (Streamlit's server, imported meanwhile)
    from streamlit.web import cli as stcli

    th.join(PREPARE_TIMEOUT_S)
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    return stcli.main()


if __name__ == "__main__":
    sys.exit(main())
