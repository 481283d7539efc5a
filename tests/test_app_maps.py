"""The app's offline maps (gis_planner.ui.maps): escaping, local assets, terrain basemap geometry, display
simplification. Hand-computable answers; no browser (see tests/e2e for that)."""
from __future__ import annotations

import json
import math

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import LineString, Polygon

from gis_planner.ui import maps
from tests.helpers import CRS, X0, Y0, gdf, square


def test_hillshade_of_a_plane_is_lamberts_law():
    # plane rising 10 m per 10 m cell to the east: slope 45°, facing west; sun az 315°, alt 45°
    z = np.tile(np.arange(6.0), (6, 1)) * 10.0
    hs = maps.hillshade(z, 10.0, 10.0)
    expected = math.cos(math.radians(45)) ** 2 + math.sin(math.radians(45)) ** 2 * math.cos(math.radians(45))
    assert hs[3, 3] == pytest.approx(expected, abs=1e-12)          # 0.853553…
    flat = maps.hillshade(np.zeros((4, 4)), 10.0, 10.0)
    assert np.allclose(flat, math.cos(math.radians(45)))           # flat ground: cos(zenith)
    from gis_planner import basemap
    assert maps.hillshade is basemap.hillshade                     # one Horn implementation


def test_dense_layer_image_colours_and_outlines():
    """Two 100 m squares rasterised in Web Mercator: fills in their catalogue colours, outline pixels."""
    a, b = square(0, 0, 100), square(100, 0, 100)
    g = gdf({"category": ["agricultural", "reserve"]}, [a, b])
    style = {"color": "#000000", "weight": 1, "fill_opacity": 0.5}
    img = maps.render_layer_image(g, pd.Series(["#ff0000", "#0000ff"], index=g.index), style, 200)
    arr = np.asarray(img["image"])
    h, w = arr.shape[:2]
    assert max(h, w) == 200 and img["size"] == [w, h]
    assert tuple(arr[h // 2, w // 4]) == (255, 0, 0, 127)           # centre of the left square
    assert tuple(arr[h // 2, 3 * w // 4]) == (0, 0, 255, 127)       # centre of the right square
    mid = arr[h // 2, w // 2 - 1:w // 2 + 2, :3]
    assert (mid == 0).all(axis=1).any()                             # the shared edge: outline colour
    assert arr[0, 0, 3] == 0                                        # padding: transparent
    (s_, w_), (n_, e_) = img["bounds"]
    ll = g.to_crs(4326).total_bounds
    assert w_ < ll[0] < ll[2] < e_ and s_ < ll[1] < ll[3] < n_


def test_dense_layer_image_is_sent_losslessly():
    """The image of a dense layer goes to the browser as lossless WebP: every pixel (colour and
    transparency) decodes exactly as rasterised, so map colours match the legend."""
    import base64
    import io as _io

    from PIL import Image

    g = gdf({"category": ["agricultural", "reserve"]}, [square(0, 0, 100), square(100, 0, 100)])
    img = maps.render_layer_image(g, pd.Series(["#ff0000", "#00aa55"], index=g.index),
                                  {"color": "#000000", "weight": 1, "fill_opacity": 0.45}, 300)
    url = maps.image_url(img["image"], "webp")
    assert url.startswith("data:image/webp;base64,")
    back = Image.open(_io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA")
    assert np.array_equal(np.asarray(back), np.asarray(img["image"]))
    fast = maps.image_url(img["image"], "webp", method=0)   # the effort of the encoder: same pixels
    back0 = Image.open(_io.BytesIO(base64.b64decode(fast.split(",", 1)[1]))).convert("RGBA")
    assert np.array_equal(np.asarray(back0), np.asarray(img["image"]))
    assert maps.image_url(img["image"], "png").startswith("data:image/png;base64,")


def test_dense_layer_image_from_bulk_coordinates_is_the_shapes_image(monkeypatch):
    """The polygons and their outlines handed to the rasteriser in bulk (``_polygon_mappings``) give the
    image the shapes themselves give, pixel for pixel: a polygon with a hole, a multipolygon, neighbours."""
    from shapely.geometry import MultiPolygon

    holed = Polygon(square(0, 0, 100).exterior.coords, [square(30, 30, 20).exterior.coords])
    multi = MultiPolygon([square(150, 0, 40), square(150, 60, 40)])
    g = gdf({"category": ["agricultural", "reserve", "settlement"]}, [holed, multi, square(100, 0, 50)])
    colors = pd.Series(["#ff0000", "#00aa55", "#0000ff"], index=g.index)
    style = {"color": "#000000", "weight": 1, "fill_opacity": 0.5}
    bulk = maps.render_layer_image(g, colors, style, 300)
    assert maps._polygon_mappings(np.asarray(g.to_crs(3857).geometry.values, dtype=object)) is not None
    monkeypatch.setattr(maps, "_polygon_mappings", lambda geoms: None)
    shapes = maps.render_layer_image(g, colors, style, 300)
    assert np.array_equal(np.asarray(bulk["image"]), np.asarray(shapes["image"]))
    assert bulk["bounds"] == shapes["bounds"] and bulk["size"] == shapes["size"]
    arr = np.asarray(bulk["image"])
    assert (arr[..., 3] > 0).any() and (arr[..., :3] == 0).all(axis=-1).any()   # fills and outlines drawn


def test_popup_and_tooltip_values_are_escaped():
    frame = gdf({"name": ["<script>alert(1)</script>", "A & B"], "note": ["x", None]},
                [square(0, 0, 100), square(200, 0, 100)])
    spec, dropped = maps.to_display(frame, pd.Series("#123456", index=frame.index),
                                    [("name", "<b>Name</b>"), ("note", "Note")], tooltip="name")
    assert dropped == 0
    props = [f["properties"] for f in spec["data"]["features"]]
    assert props[0]["f0"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert props[0][spec["tip"]] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert props[1]["f0"] == "A &amp; B"
    assert "f1" not in props[1]                                     # empty values are not sent
    assert spec["fields"][0] == ["f0", "&lt;b&gt;Name&lt;/b&gt;"]   # labels are escaped too
    legend = maps.Legend([("<i>t</i>", [("<img src=x onerror=alert(1)>", "#fff")])], "L")
    assert "<img" not in json.loads(legend.html_json) and "&lt;img" in json.loads(legend.html_json)


def test_display_simplifies_in_metres_and_caps():
    # a 1 km square drawn with 401 collinear vertices per side simplifies to its 5 corners
    t = np.linspace(0, 1000, 401)
    ring = ([(X0 + x, Y0) for x in t] + [(X0 + 1000, Y0 + y) for y in t[1:]] +
            [(X0 + x, Y0 + 1000) for x in t[::-1][1:]] + [(X0, Y0 + y) for y in t[::-1][1:]])
    frame = gdf({"v": [1]}, [Polygon(ring)])
    spec, _ = maps.to_display(frame, pd.Series("#000", index=frame.index))
    coords = spec["data"]["features"][0]["geometry"]["coordinates"][0]
    assert len(coords) == 5
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(X0, Y0)
    assert min(c[0] for c in coords) == pytest.approx(lon, abs=1e-5)
    assert min(c[1] for c in coords) == pytest.approx(lat, abs=1e-5)
    # cap: the 2 largest of 3 squares are kept
    frame = gdf({"v": [1, 2, 3]}, [square(0, 0, 10), square(100, 0, 30), square(200, 0, 20)])
    spec, dropped = maps.to_display(frame, pd.Series("#000", index=frame.index), [("v", "v")], cap=2)
    assert dropped == 1
    assert sorted(f["properties"]["f0"] for f in spec["data"]["features"]) == ["2", "3"]


def test_scale_bar_is_metric_only():
    html_ = maps.base_map(None, "ky").get_root().render()
    assert "L.control.scale({metric: true, imperial: false})" in html_
    assert "L.control.scale()" not in html_


def test_every_map_asset_is_local_and_vendored():
    m = folium.Map(tiles=None)
    maps.add_geojson(m, maps.to_display(gdf({"a": [1]}, [square(0, 0, 10)]),
                                        pd.Series("#000", index=[0]))[0], "x", {"color": "#000"})
    maps.Legend([("t", [("a", "#000")])], "L").add_to(m)
    folium.LayerControl().add_to(m)
    maps.add_draw(m)
    assert maps.remote_assets(m) == []
    urls = [u for el in [m, *m._children.values()] for attr in ("default_js", "default_css")
            for _, u in getattr(el, attr, None) or []]
    assert any(u.endswith("leaflet.js") for u in urls) and any(u.endswith("leaflet.draw.js") for u in urls)
    for url in urls:
        assert url.startswith(maps.STATIC_URL)
        assert (maps.STATIC_DIR / url[len(maps.STATIC_URL) + 1:]).is_file(), url
    # an unknown remote asset is refused rather than fetched
    from folium.plugins import MiniMap

    m2 = folium.Map(tiles=None)
    MiniMap().add_to(m2)
    with pytest.raises(ValueError, match="no local copy"):
        maps.localize(m2)


def test_terrain_basemap_covers_the_dem_in_web_mercator(tmp_ws):
    # a 2 km × 1.5 km DEM in EPSG:7695 (10 m cells): the overlay's lat/lon bounds are those of the
    # DEM rectangle's corners (to within one output pixel)
    x = np.arange(200)
    z = np.tile(1600.0 + x * 2.0, (150, 1)).astype("float32")
    path = tmp_ws.root / "in.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=150, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0, Y0 + 1500, 10, 10)) as ds:
        ds.write(z, 1)
    tmp_ws.set_dem(path, source="test")
    img = maps.terrain_image(str(tmp_ws.root), tmp_ws.version)
    (s, w), (n, e) = img["bounds"]
    tr = Transformer.from_crs(CRS, 4326, always_xy=True)
    lons, lats = tr.transform([X0, X0 + 2000, X0, X0 + 2000], [Y0, Y0, Y0 + 1500, Y0 + 1500])
    px_lon = (e - w) / img["size"][0]
    px_lat = (n - s) / img["size"][1]
    assert w == pytest.approx(min(lons), abs=2 * px_lon) and e == pytest.approx(max(lons), abs=2 * px_lon)
    assert s == pytest.approx(min(lats), abs=2 * px_lat) and n == pytest.approx(max(lats), abs=2 * px_lat)
    assert img["url"].startswith("data:image/webp;base64,")   # map_styles.yaml: terrain format webp
    # cached on disk: a second call (new process or cleared cache) returns the same image
    maps.terrain_image.clear()
    assert maps.terrain_image(str(tmp_ws.root), tmp_ws.version) == img


def test_layer_display_hides_personal_fields_and_names_codes(tmp_ws):
    parcels = gdf({"cadastral_no": ["1-1", "1-2"], "category": ["agricultural", "reserve"],
                   "owner_name": ["Secret Person", "Another"]}, [square(0, 0, 100), square(100, 0, 100)])
    tmp_ws.write_layer("parcels", parcels, source="test")
    d = maps.layer_display(str(tmp_ws.root), tmp_ws.version, "parcels", "ru")
    text = json.dumps(d["geojson"], ensure_ascii=False)
    assert "Secret" not in text and "Another" not in text
    assert "Земли запаса" in text                                    # category code shown by its name
    assert [c for c, _ in d["legend"]] == ["Земли сельскохозяйственного назначения", "Земли запаса"]
    assert d["total"] == 2 and d["dropped"] == 0


def test_lines_keep_their_length_after_simplification():
    # a 100 m straight line with 11 vertices becomes its two end points, 100 m long
    frame = gdf({"name": ["r"]}, [LineString([(X0 + 10 * i, Y0) for i in range(11)])])
    spec, _ = maps.to_display(frame, pd.Series("#ff0000", index=frame.index), [("name", "n")])
    g = spec["data"]["features"][0]["geometry"]
    assert g["type"] == "LineString" and len(g["coordinates"]) == 2
    back = gpd.GeoSeries.from_xy([c[0] for c in g["coordinates"]], [c[1] for c in g["coordinates"]],
                                 crs=4326).to_crs(CRS)
    assert back.iloc[0].distance(back.iloc[1]) == pytest.approx(100.0, abs=1.0)   # 1e-5° rounding ≈ 1 m


def test_newest_click_takes_clicks_on_shapes_and_on_empty_map():
    """A click inside the municipality lands on the boundary polygon (an object click); one outside it
    is a plain click. The newest of the two is the user's click, whichever kind it is."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from gis_planner.ui import maps
        a, b, c = {"lat": 42.1, "lng": 77.1}, {"lat": 42.2, "lng": 77.2}, {"lat": 42.3, "lng": 77.3}
        seq = [None, {"last_clicked": a, "last_object_clicked": None},
               {"last_clicked": a, "last_object_clicked": b}, {"last_clicked": a, "last_object_clicked": b},
               {"last_clicked": c, "last_object_clicked": b}]
        st.session_state["got"] = [maps.newest_click(out, "t") for out in seq]

    at = AppTest.from_function(page).run()
    assert not at.exception
    a, b, c = {"lat": 42.1, "lng": 77.1}, {"lat": 42.2, "lng": 77.2}, {"lat": 42.3, "lng": 77.3}
    assert at.session_state["got"] == [None, a, b, b, c]


def test_parcel_details_write_dates_the_local_way():
    """A registration date in the parcel details reads 08.12.2003 in ky/ru (ISO in en); text stays text."""
    row = pd.Series({"cadastral_no": "1-2-3", "registered": "2003-12-08", "note": "2003-12-08 a"})
    ru = dict(zip(*maps.feature_rows(None, "parcels", row, "ru").T.values))
    en = dict(zip(*maps.feature_rows(None, "parcels", row, "en").T.values))
    assert "08.12.2003" in ru.values() and "2003-12-08" in en.values()
    assert "2003-12-08 a" in ru.values() and "1-2-3" in ru.values()


def test_markup_free_branca_sources_render_as_jinja_would():
    """branca wraps each rendered script into a new element whose source is taken for a template: a source
    without Jinja markup is not compiled (``cache.StaticText``) and renders exactly as Jinja renders it
    (line breaks normalised, one trailing line break dropped); a source with markup is still compiled."""
    import branca.element as be
    import jinja2

    from gis_planner.ui.cache import StaticText

    for src in ["", "\n", "var a = 1;\n", "a\r\nb\r\n", "a\rb\n\n", "x } { y %} #} ;\n  ", "L.map('m');\n\n\n"]:
        tpl = be.Template(src)
        assert isinstance(tpl, StaticText)
        assert tpl.render(this=None, kwargs={}) == jinja2.Template(src).render(this=None, kwargs={})
    assert isinstance(be.Template("{{ this.x }}"), jinja2.Template)
    assert be.Element("<b>{{ 1 + 1 }}</b>").render() == "<b>2</b>"
    assert be.Element("<b>plain</b>\n").render() == "<b>plain</b>"
    m = folium.Map(location=[42.5, 78.5], zoom_start=10)
    html_ = m.get_root().render()
    assert "L.map(" in html_ and "{{" not in html_
