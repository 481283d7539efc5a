"""The app's maps and screens in the user's language, at village scale (issue 20 items 3-6): unit tests of
gis_planner.ui.leaflet_i18n, frontend_i18n, map_vectors and the table/popup clean-ups (no browser)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from gis_planner.i18n import t


def test_leaflet_texts_are_in_the_map_in_kyrgyz(demo_ws):
    from gis_planner.ui import maps

    html_ = maps.base_map(demo_ws, "ky").get_root().render()
    for key in ("community.map.zoom_in", "community.map.layers", "community.map.km", "appui.map.tiles_offline"):
        assert json.dumps(t(key, "ky"), ensure_ascii=False) in html_
    # the scale bar writes its units through the catalogue (patched before the scale control is made)
    assert html_.index("_updateMetric") < html_.index("L.control.scale")
    # zoom limits of map_styles.yaml (9-18) for a workspace map; the first click without a scroll
    assert '"maxZoom": 18' in html_ and '"minZoom": 9' in html_
    assert "preventScroll: true" in html_


def test_leaflet_texts_cannot_close_the_script(monkeypatch):
    from gis_planner.ui import leaflet_i18n

    monkeypatch.setattr(leaflet_i18n, "t", lambda key, lang: "</script><b>x</b>")
    el = leaflet_i18n.LeafletLocal("ru")
    assert "</script>" not in el.texts_json and "<\\/script>" in el.texts_json


def test_frontend_texts_ru():
    from gis_planner.ui import frontend_i18n

    tx = frontend_i18n.texts("ru")
    assert tx["text"]["Page not found"] == "Страница не найдена"
    assert tx["text"]["Running..."] == t("appui.st.running", "ru")
    assert tx["months"]["December"] == "Декабрь" and tx["days"]["Mo"] == "Пн"
    assert tx["units"]["KB"] == "КБ" and tx["decimal"] == ","
    assert tx["attr"]["DD.MM.YYYY"] == "ДД.ММ.ГГГГ"
    en = frontend_i18n.texts("en")   # English maps Streamlit's texts to themselves (a switch back to en)
    assert en["text"]["Page not found"] == "Page not found"
    script = frontend_i18n.script("ky")
    assert script.startswith("\n<script>") and script.count("</script>") == 1


def test_code_columns_left_out_in_ky_ru_only():
    from gis_planner.ui.widgets import drop_code_columns

    df = pd.DataFrame({t("balance.code", "ru"): ["agricultural", "settlement"],
                       "name": ["Земли с/х назначения", "Земли населённых пунктов"], "ha": [1.0, 2.0]})
    assert list(drop_code_columns(df, "ru").columns) == ["name", "ha"]
    assert list(drop_code_columns(df, "en").columns) == list(df.columns)
    # a column under that header holding other values (numbers, text with capitals) stays
    other = pd.DataFrame({t("balance.code", "ru"): ["4-02-01", "A1"], "x": [1, 2]})
    assert list(drop_code_columns(other, "ru").columns) == list(other.columns)


def test_popups_have_no_nan_and_no_technical_fields(demo_ws):
    from gis_planner.ui import maps

    assert maps._esc(float("nan")) == "" and maps._esc(None) == "" and maps._esc(pd.NA) == ""
    row = pd.Series({"cadastral_no": "4-02-01-0050-0003", "src_fid": 17, "fid": 3, "area_doc_ha": float("nan"),
                     "category": "settlement"})
    rows = maps.feature_rows(str(demo_ws.root), "parcels", row, "ru")
    text = " ".join(rows["field"]) + " " + " ".join(rows["value"])
    assert "src_fid" not in text and "17" not in text and "nan" not in text
    assert "4-02-01-0050-0003" in text and "settlement" not in text   # the category by name


def test_parcel_vectors_file_keyed_by_version(demo_ws, tmp_path, monkeypatch):
    from gis_planner.ui import cache, map_vectors

    monkeypatch.setattr(map_vectors, "STATIC_CACHE_DIR", tmp_path / "cache")
    map_vectors.vector_file.clear()
    root, version = cache.key(demo_ws)
    out = map_vectors.vector_file(root, version, "parcels")
    assert out["url"].startswith("/app/static/cache/parcels-") and out["url"].endswith(".geojson")
    path = tmp_path / "cache" / out["url"].rsplit("/", 1)[1]
    data = json.loads(path.read_text(encoding="utf-8"))
    parcels = demo_ws.read_layer("parcels")
    assert out["n"] == len(data["features"]) == len(parcels)
    # every feature: its cadastral number and a colour of the catalogue; coordinates to 1e-6°
    props = data["features"][0]["properties"]
    assert props["n"] == parcels["cadastral_no"].iloc[0] and 0 <= props["c"] < len(out["colors"])
    x = data["features"][0]["geometry"]["coordinates"][0][0][0]
    assert abs(x * 1e6 - round(x * 1e6)) < 1e-3
    # the same area as the layer (simplified by 0.2 m only): within 0.1 %
    import geopandas as gpd

    back = gpd.GeoDataFrame.from_features(data["features"], crs=4326).to_crs(parcels.crs)
    assert math.isclose(back.area.sum(), parcels.area.sum(), rel_tol=1e-3)
    map_vectors.vector_file.clear()
    other = map_vectors.vector_file(root, version + "x", "parcels")
    assert other["url"] != out["url"]                   # a new data version, a new file
    map_vectors.vector_file.clear()


def test_highlight_and_legend_below_are_escaped():
    from gis_planner.ui import map_vectors

    js = map_vectors.highlight_js({"type": "Polygon", "coordinates": [[[74, 42], [74.1, 42], [74, 42.1], [74, 42]]]},
                                  fit=True)
    assert "map_div.addLayer(feature_group_gp_hl)" in js and "fitBounds" in js
    assert map_vectors.highlight_js(None) is None
    html_ = map_vectors.legend_html([("<b>A</b>", [("x<y", "#ff0000"), ("edge", "outline:#e7298a")])], "Легенда")
    assert "<b>A</b>" not in html_ and "&lt;b&gt;A&lt;/b&gt;" in html_ and "x&lt;y" in html_
    assert "border:2px solid #e7298a" in html_


@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_new_messages_have_every_language(lang):
    import yaml

    from gis_planner.i18n import _DIR

    data = yaml.safe_load((_DIR / "app-ui.yaml").read_text(encoding="utf-8"))
    assert all(str(v.get(lang, "")).strip() for v in data.values())


def test_missing_workspace_said_with_the_fix_in_the_app(tmp_path):
    from streamlit.testing.v1 import AppTest

    from gis_planner.devtools.appserver import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["ws_path"] = str(tmp_path / "nowhere")
    at.session_state["lang"] = "ky"
    at.run()
    assert not at.exception
    shown = at.error[0].value
    assert t("app.err.no_workspace", "ky") in shown
    assert "Иш мейкиндигинин папкасы" in shown                  # what to do, in the app
    assert "gis-planner init" not in shown and "make demo" not in shown and str(tmp_path) not in shown
