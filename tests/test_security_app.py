"""Issue 18.8: the app's workspace field is limited to the configured roots and never shows server paths;
uploaded files do not stay on the server's disk."""
from __future__ import annotations

import tempfile

import geopandas as gpd
import pytest
from shapely.geometry import box

from gis_planner import GisPlannerError
from gis_planner.i18n import t
from gis_planner.ui import workspaces

from .apptest import assert_ok, copy_demo, open_app

pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture()
def roots(tmp_path, demo_ws, monkeypatch):
    """Two workspaces under one configured root ``sites``; another workspace outside it."""
    root = tmp_path / "srv" / "sites"
    a = copy_demo(demo_ws, root / "at-bashy")
    outside = copy_demo(demo_ws, tmp_path / "private" / "secret-ws")
    monkeypatch.setenv("GIS_PLANNER_WORKSPACE_ROOTS", str(root))
    return root, a, outside


def _rendered(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "info", "warning", "success", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [str(w.value) for w in at.text_input]
    return "\n".join(parts)


def test_resolve_only_inside_roots(roots, tmp_path):
    root, a, outside = roots
    assert workspaces.resolve("sites/at-bashy") == a.root.resolve()
    assert workspaces.display_name(a.root) == "sites/at-bashy"
    assert workspaces.choices() == ["sites/at-bashy"]
    (root / "link-out").symlink_to(outside.root)
    for bad in (str(outside.root), "/etc", "~/", "sites/../private/secret-ws", "sites/link-out", "other/x",
                "C:/Windows", "sites/at-bashy\x00"):
        with pytest.raises(GisPlannerError) as ei:
            workspaces.resolve(bad)
        assert ei.value.code == "workspace_not_allowed"
        assert str(tmp_path) not in ei.value.fix


def test_default_roots(monkeypatch, tmp_path):
    from gis_planner import settings

    monkeypatch.delenv("GIS_PLANNER_WORKSPACE_ROOTS", raising=False)
    monkeypatch.setenv("GIS_PLANNER_WORKSPACE", str(tmp_path / "sites" / "ws1"))
    assert settings.workspace_roots() == [settings.demo_workspace().resolve(), (tmp_path / "sites").resolve()]


def test_workspace_field_shows_names_and_refuses_other_folders(roots, tmp_path):
    root, a, outside = roots
    at = open_app(a, "ru")
    assert_ok(at)
    field = at.text_input(key="ws_name")
    assert field.value == "sites/at-bashy"
    assert str(tmp_path) not in _rendered(at)
    field.input(str(outside.root)).run()
    assert not at.exception
    assert at.error and t("app.err.workspace_not_allowed", "ru") in at.error[0].value
    assert at.session_state["ws_path"] == str(a.root)          # still the allowed workspace
    assert at.text_input(key="ws_name").value == "sites/at-bashy"
    assert str(tmp_path) not in _rendered(at)
    at.text_input(key="ws_name").input("sites/../private/secret-ws").run()
    assert at.session_state["ws_path"] == str(a.root)


def test_uploaded_file_does_not_stay_on_disk(roots, tmp_path, monkeypatch):
    root, a, _ = roots
    tmp = tmp_path / "systmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    b = a.read_layer("boundary")
    x0, y0, _, _ = b.total_bounds
    src = gpd.GeoDataFrame({"name": ["Park 1"], "regime": ["core"]},
                           geometry=[box(x0 + 100, y0 + 100, x0 + 300, y0 + 300)], crs=b.crs)
    data = src.to_crs(4326).to_json().encode()
    at = open_app(a, "en", "data")
    at.file_uploader(key="data_upload").set_value(("parks.geojson", data, "application/geo+json")).run()
    assert_ok(at, errors=False)
    assert [p for p in tmp.rglob("*") if p.is_file()] == []       # read, then removed
    at.selectbox(key="data_target").set_value("protected_areas").run()
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()
    at.button(key="data_import").click().run()
    assert_ok(at, errors=False)
    assert list(a.read_layer("protected_areas")["name"]) == ["Park 1"]
    assert [p for p in tmp.rglob("*") if p.is_file()] == []       # imported, then removed
