"""Running the Streamlit app in tests (``streamlit.testing.v1.AppTest``) on private copies of the demo.

The app's background warm-up is off in these tests (fixture ``no_app_warm_up`` in ``conftest.py``): AppTest
runs the app in the test process, where warm-up threads would only compete with the tests.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from gis_planner import Workspace

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def copy_demo(demo_ws: Workspace, dst: Path, community: bool = False) -> Workspace:
    """A copy of the demo at ``dst`` (with its community store only when ``community``)."""
    skip = [".*lock", "exports"] + ([] if community else ["community.gpkg*"])
    shutil.copytree(demo_ws.root, dst, ignore=shutil.ignore_patterns(*skip))
    return Workspace(dst)


def open_app(ws: Workspace, lang: str = "ky", page: str | None = None) -> AppTest:
    """The app on workspace ``ws`` in ``lang``, run once on ``page`` (a file of gis_planner/ui/pages)."""
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["ws_path"] = str(ws.root)
    at.session_state["lang"] = lang
    if page and page != "overview":
        # the url_path of every page is its file name, so a page can be opened before the first run
        at.switch_page(f"gis_planner/ui/pages/{page}.py")
    return at.run()


def assert_ok(at: AppTest, errors: bool = True) -> None:
    """No exception in the run (and, with ``errors``, no error message on screen)."""
    assert not at.exception, [e.value for e in at.exception]
    if errors:
        assert not at.error, [e.value for e in at.error]


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip archive (as uploaded) holding ``entries`` {name in the archive: bytes}."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()
