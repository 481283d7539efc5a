"""Shared fixtures. Domain-specific helpers live in tests/helpers.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gis_planner import settings

from .pg import pg_url  # noqa: F401  (session-scoped throwaway PostgreSQL+PostGIS server)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tmp_ws(tmp_path):
    """An empty workspace in Kyrg-06 zone 4 (EPSG:7695, north shore of Issyk-Kul)."""
    from gis_planner import Workspace

    return Workspace.create(tmp_path / "ws", name="Test aiyl aimak", crs=7695)


@pytest.fixture(scope="module")
def no_app_warm_up():
    """The app's background warm-up off for one test module (``GIS_PLANNER_APP_WARM=0``): AppTest runs the
    app in the test process, where warm-up threads would only compete with the tests."""
    old = os.environ.get("GIS_PLANNER_APP_WARM")
    os.environ["GIS_PLANNER_APP_WARM"] = "0"
    yield
    if old is None:
        os.environ.pop("GIS_PLANNER_APP_WARM", None)
    else:
        os.environ["GIS_PLANNER_APP_WARM"] = old


@pytest.fixture(scope="session")
def demo_ws():
    """The bundled demo municipality (built by `make demo`)."""
    from gis_planner import Workspace

    path = settings.demo_workspace()
    if not (path / "workspace.gpkg").exists():
        pytest.fail("demo workspace missing: run `make demo` (the README's test command does it)")
    return Workspace(path)


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
