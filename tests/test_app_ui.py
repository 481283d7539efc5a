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

    poly = {"type": "Polygon", "coordinates": [[[74, 42], [74.1, 42], [74, 42.1], [74, 42]]]}
    data = map_vectors.highlight_data(poly, fit=True)
    assert data == {"geojson": poly, "fit": True, "color": "#0033cc"} and map_vectors.highlight_data(None) is None
    sent = map_vectors.highlight_sender_html("zoning_map_x", {**data, "color": "</script><b>x</b>"})
    assert "</script><b>" not in sent and sent.count("</script>") == 1   # the data cannot close the script
    assert ".st-key-zoning_map_x_highlight{display:none}" in sent          # its container takes no space
    assert json.dumps(poly, separators=(",", ":")) in sent
    recv = map_vectors.highlight_receiver_js("zoning_map_x")
    assert '"zoning_map_x"' in recv and "fitBounds" in recv and "map_div" in recv
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


def test_highlight_goes_beside_the_map_not_in_its_arguments(monkeypatch):
    """A click on the restrictions map changes the checked parcel only: the map component's arguments stay the
    same (Streamlit then sends a reference to the message the browser has, not the map again); the parcel goes
    in a separate small element, which changes."""
    import uuid

    import folium
    import streamlit_folium as sf

    from gis_planner.ui import map_vectors, maps

    calls, bodies = [], []
    monkeypatch.setattr(sf, "_component_func", lambda **kw: calls.append(kw))
    monkeypatch.setattr(maps.st, "html", lambda body, **kw: bodies.append((body, kw)))
    built = []

    def make():
        built.append(1)
        return folium.Map(location=[42.5, 77.0], zoom_start=10, tiles=None)

    a = {"type": "Polygon", "coordinates": [[[77, 42.5], [77.01, 42.5], [77, 42.51], [77, 42.5]]]}
    b = {"type": "Polygon", "coordinates": [[[77.1, 42.6], [77.11, 42.6], [77.1, 42.61], [77.1, 42.6]]]}
    key = ("test-highlight", str(uuid.uuid4()))
    for hl in (None, map_vectors.highlight_data(a), map_vectors.highlight_data(b, fit=True), None):
        maps.show(make, key="zoning_map_x", returned_objects=list(maps.CLICK_KEYS), cache_key=key, highlight=hl)
    assert len(built) == 1                                     # the map is made once, then cached
    args = [json.dumps({k: v for k, v in c.items() if k != "on_change"}, sort_keys=True) for c in calls]
    assert len(args) == 4 and len(set(args)) == 1              # the same component arguments on every run
    assert calls[0]["feature_group"] is None and "__gpHighlightApply" in calls[0]["script"]
    sent = [body for body, _ in bodies]
    assert all(kw == {"unsafe_allow_javascript": True} for _, kw in bodies)
    assert json.dumps(a, separators=(",", ":")) in sent[1] and json.dumps(b, separators=(",", ":")) in sent[2]
    assert '"fit":true' in sent[2] and '"fit":false' in sent[1]
    assert sent[0] == sent[3] and "null" in sent[0]            # no parcel: the outline is removed
    # the map without the side channel is another component (no receiver in its script)
    maps.show(make, key="zoning_map_x", cache_key=key)
    assert "__gpHighlightApply" not in calls[-1]["script"] and calls[-1]["key"] != calls[0]["key"]
    with pytest.raises(ValueError):
        maps.show(make, key="zoning_map_x", cache_key=key, overlay_js="1;", highlight=None)
    # a click sent at once: only for a map that reports nothing but its clicks
    now = map_vectors.click_now_js()
    assert now not in calls[0]["script"]
    maps.show(make, key="zoning_map_x", returned_objects=list(maps.CLICK_KEYS), cache_key=key, highlight=None,
              click_now=True)
    assert calls[-1]["script"].endswith(now) and "__gpHighlightApply" in calls[-1]["script"]
    maps.show(make, key="zoning_map_x", returned_objects=[*maps.CLICK_KEYS, "bounds"], cache_key=key, click_now=True)
    assert now not in calls[-1]["script"]
