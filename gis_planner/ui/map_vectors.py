"""Maps that read at village scale: parcels as vectors with their cadastral numbers, village and street
names, the checked parcel highlighted, legends outside small maps.

* **Parcels as vectors from zoom 14** (``map_styles.yaml: vectors``): below it the dense parcel layer is the
  server-drawn image (``maps.layer_raster``, light); from village scale on, the browser fetches the layer once
  as a compact GeoJSON file (:func:`vector_file`) and draws it on the canvas instead of the image, which is
  blocky there. The file is written to ``static/cache/`` (git-ignored, served by Streamlit at
  ``/app/static/cache/``) under a name keyed by the workspace data version and the style, so the browser
  caches it and a new import makes a new file. Cadastral numbers appear as labels from zoom 16 (only those
  in view, at most ``label_max``).
* **Village and street names** (:func:`place_labels`, :class:`PlaceLabels`): settlement names from zoom 12,
  street names (named roads, one label per 400 m) from zoom 15, escaped.
* **The checked parcel** (:func:`highlight_data`): sent beside the cached map as a small hidden element
  (:func:`highlight_sender_html`) that the map's own script (:func:`highlight_receiver_js`) draws, so a click
  neither rebuilds the map nor resends it (its component arguments stay the same bytes, and Streamlit then
  sends a reference to the message the browser has, not the ~1 MB again).
* **Legends outside the map** (:func:`legend_html`): for small maps (scenario comparison) the legend goes
  under the map instead of covering the villages.
"""
from __future__ import annotations

import hashlib
import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import streamlit as st
import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from ..i18n import t

log = logging.getLogger("gis_planner.app")
STATIC_CACHE_DIR = Path(__file__).resolve().parents[2] / "static" / "cache"
STATIC_CACHE_URL = "/app/static/cache"


def _js(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def vector_config() -> dict:
    from .maps import styles

    return {"min_zoom": 14, "label_zoom": 16, "label_max": 400, **(styles().get("vectors") or {})}


@st.cache_resource(max_entries=8, show_spinner=False)
def vector_file(root: str, version: str, name: str) -> dict | None:
    """Layer ``name`` as a GeoJSON file under ``static/cache/`` for the browser: ``{"url", "colors", "n"}``.

    Properties are ``n`` (cadastral number or name) and ``c`` (index into ``colors``, the layer's catalogue
    colours); coordinates in EPSG:4326 rounded to 1e-6° (~0.1 m), geometry simplified by 0.2 m. ``None``
    when the folder cannot be written (the map then keeps the image at every zoom)."""
    from . import cache
    from .maps import _color_series, layer_style

    style = layer_style(name)
    sig = hashlib.sha256(json.dumps([version, name, style, 1], sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = STATIC_CACHE_DIR / f"{name}-{sig}.geojson"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        try:
            return json.loads(meta_path.read_text())
        except (OSError, ValueError):
            pass
    gdf = cache.read_layer(root, version, name)
    if gdf is None or gdf.empty or gdf.geometry.name not in gdf.columns:
        return None
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    colors, _ = _color_series(gdf, style, root)
    palette, idx = np.unique(colors.astype(str).to_numpy(), return_inverse=True)
    geom = gdf.geometry
    if gdf.crs is not None and gdf.crs.is_projected:
        geom = geom.simplify(0.2, preserve_topology=True)
    if gdf.crs is not None:
        geom = geom.to_crs(4326)
    arr = shapely.transform(np.asarray(geom.values, dtype=object), lambda c: np.round(c, 6))
    label_col = next((c for c in ("cadastral_no", "name") if c in gdf.columns), None)
    labels = gdf[label_col].astype(object).where(gdf[label_col].notna(), "").astype(str).to_numpy() \
        if label_col else np.full(len(gdf), "")
    feats = [f'{{"type":"Feature","geometry":{g},"properties":{{"n":{_js(html.escape(n))},"c":{int(c)}}}}}'
             for g, n, c in zip(shapely.to_geojson(arr), labels, idx) if g is not None]
    out = {"url": f"{STATIC_CACHE_URL}/{path.name}", "colors": [str(c) for c in palette], "n": len(feats)}
    try:
        STATIC_CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}", encoding="utf-8")
        tmp.replace(path)
        meta_path.write_text(json.dumps(out))
    except OSError as err:   # a read-only installation: the image stays at every zoom
        log.warning("parcel vectors not written (%s): the map keeps the image at every zoom", err)
        return None
    return out


class VectorsAtZoom(MacroElement):
    """From ``min_zoom`` on, draw the layer from its GeoJSON file instead of the image overlay ``raster``
    (fetched once, when first needed), with its cadastral numbers as labels from ``label_zoom``. Follows
    the image's switch in the layer control (no vectors while the layer is off)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, raster, spec) {
            var vec = null, loading = false, labels = L.layerGroup(), on = map.hasLayer(raster);
            var renderer = L.canvas({padding: 0.2});
            function style(f) {
                return {renderer: renderer, color: spec.outline, weight: spec.weight, fillColor: spec.colors[f.properties.c],
                        fillOpacity: spec.fill_opacity};
            }
            function relabel() {
                labels.clearLayers();
                if (!vec || !map.hasLayer(vec) || map.getZoom() < spec.label_zoom) { return; }
                // the whole number where the parcel is wide enough, else its last group (the parcel's own
                // number within the block); none where even that does not fit or would overlap a label
                var b = map.getBounds(), n = 0, placed = [];
                vec.eachLayer(function (l) {
                    var full = l.feature.properties.n;
                    if (n >= spec.label_max || !full) { return; }
                    var lb = l.getBounds(), c = lb.getCenter();
                    if (!b.contains(c)) { return; }
                    var p0 = map.latLngToContainerPoint(lb.getSouthWest()),
                        p1 = map.latLngToContainerPoint(lb.getNorthEast()),
                        w = Math.abs(p1.x - p0.x), h = Math.abs(p1.y - p0.y), cp = map.latLngToContainerPoint(c);
                    var parts = full.split(/[^0-9A-Za-z]+/), text = full;
                    if (full.length * 6 > w) { text = parts[parts.length - 1]; }
                    var tw = text.length * 6 + 2;
                    if (tw > w || h < 12) { return; }
                    var box = [cp.x - tw / 2, cp.y - 6, cp.x + tw / 2, cp.y + 6];
                    for (var i = 0; i < placed.length; i++) {
                        var q = placed[i];
                        if (box[0] < q[2] && box[2] > q[0] && box[1] < q[3] && box[3] > q[1]) { return; }
                    }
                    placed.push(box);
                    n += 1;
                    labels.addLayer(L.tooltip({permanent: true, direction: 'center', className: 'gp-cad-label',
                                               interactive: false}).setLatLng(c).setContent(text));
                });
            }
            function update() {
                var want = on && map.getZoom() >= spec.min_zoom;
                if (want && !vec && !loading) {
                    loading = true;
                    fetch(spec.url).then(function (r) { return r.json(); }).then(function (data) {
                        vec = L.geoJson(data, {style: style, bubblingMouseEvents: true});
                        loading = false; update();
                    }).catch(function () { loading = false; });
                    return;
                }
                if (vec) {
                    if (want && !map.hasLayer(vec)) { vec.addTo(map); }
                    if (!want && map.hasLayer(vec)) { map.removeLayer(vec); }
                }
                raster.setOpacity(want && vec ? 0 : 1);
                if (!map.hasLayer(labels)) { labels.addTo(map); }
                relabel();
            }
            map.on('zoomend moveend', update);
            map.on('overlayadd', function (e) { if (e.layer === raster) { on = true; update(); } });
            map.on('overlayremove', function (e) { if (e.layer === raster) { on = false; update(); } });
            update();
        })({{ this._parent.get_name() }}, {{ this.raster }}, {{ this.spec_json }});
        {% endmacro %}
    """)

    def __init__(self, raster_name: str, spec: dict):
        super().__init__()
        self._name = "VectorsAtZoom"
        self.raster = raster_name
        self.spec_json = _js(spec)


LABEL_CSS = """<style>
.leaflet-tooltip.gp-cad-label { background: transparent; border: 0; box-shadow: none; padding: 0; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; white-space: nowrap; font: 10px/1 sans-serif; }
.leaflet-tooltip.gp-cad-label:before { display: none; }
</style>"""


def add_label_css(m) -> None:
    m.get_root().header.add_child(Element(LABEL_CSS), name="gp_label_css")


# zoom levels from which the labels show (village names at the scale of the municipality's villages, street
# names at street scale)
# (map_styles.yaml: vectors.village_zoom / street_zoom)
VILLAGE_LABEL_ZOOM = 12
STREET_LABEL_ZOOM = 15


@st.cache_data(max_entries=8, show_spinner=False)
def place_labels(root: str, version: str, lang: str) -> list[dict]:
    """Label points of the workspace's villages (``settlements``: inside each polygon) and named roads
    (``roads``: the middle of each named stretch of at least 150 m), lon/lat, text escaped for HTML."""
    import shapely

    out: list[dict] = []
    from . import cache

    sett = cache.read_layer(root, version, "settlements")
    if sett is not None and not sett.empty and "name" in sett.columns and sett.crs is not None:
        pts = sett.geometry.representative_point().to_crs(4326)
        for (_, r), p in zip(sett.iterrows(), pts):
            name = r.get("name_ru") if lang == "ru" and isinstance(r.get("name_ru"), str) and r.get("name_ru") \
                else r.get("name")
            if isinstance(name, str) and name.strip():
                out.append({"lat": p.y, "lng": p.x, "text": html.escape(name), "kind": "village"})
    roads = cache.read_layer(root, version, "roads")
    if roads is not None and not roads.empty and "name" in roads.columns and roads.crs is not None:
        named = roads[roads["name"].map(lambda v: isinstance(v, str) and bool(v.strip()))]
        import geopandas as gpd

        villages = {str(v) for v in sett["name"]} if sett is not None and "name" in sett.columns else set()
        for name, part in named.groupby("name"):
            if str(name) in villages:   # streets recorded under the village's name: the village label says it
                continue
            merged = shapely.line_merge(shapely.union_all(part.geometry.values))
            lines = sorted(getattr(merged, "geoms", [merged]), key=lambda g: -g.length)
            placed: list = []
            for line in lines:
                if line.length < 150:   # metres (workspace CRS): too short for a readable label
                    continue
                mid = line.interpolate(0.5, normalized=True)
                if any(mid.distance(p) < 400 for p in placed):   # one label of a name per 400 m
                    continue
                placed.append(mid)
                ll = gpd.GeoSeries([mid], crs=roads.crs).to_crs(4326).iloc[0]
                out.append({"lat": ll.y, "lng": ll.x, "text": html.escape(str(name)), "kind": "street"})
    return out


class PlaceLabels(MacroElement):
    """Village and street names as text on the map, shown from :data:`VILLAGE_LABEL_ZOOM` /
    :data:`STREET_LABEL_ZOOM` (the texts are HTML-escaped in Python, the list JSON-encoded)."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>
          .gp-label { background: none; border: none; white-space: nowrap; pointer-events: none;
                      font: 600 12px/1.2 sans-serif; color: #222;
                      text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; transform: translate(-50%, -50%); }
          .gp-label-village { font-size: 15px; font-weight: 700; letter-spacing: .03em; }
          .gp-label-street { font-size: 11px; font-weight: 500; font-style: italic; color: #444; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map, labels, zVillage, zStreet) {
            var villages = L.layerGroup(), streets = L.layerGroup();
            labels.forEach(function (l) {
                var icon = L.divIcon({className: '', html: '<div class="gp-label gp-label-' + l.kind + '">' + l.text + '</div>',
                                      iconSize: null});
                L.marker([l.lat, l.lng], {icon: icon, interactive: false, keyboard: false})
                    .addTo(l.kind === 'village' ? villages : streets);
            });
            function update() {
                var z = map.getZoom();
                if (z >= zVillage) { villages.addTo(map); } else { map.removeLayer(villages); }
                if (z >= zStreet) { streets.addTo(map); } else { map.removeLayer(streets); }
            }
            map.on('zoomend', update);
            map.whenReady(update);
        })({{ this._parent.get_name() }}, {{ this.labels_json }}, {{ this.z_village }}, {{ this.z_street }});
        {% endmacro %}
    """)

    def __init__(self, labels: list[dict]):
        super().__init__()
        self._name = "PlaceLabels"
        self.labels_json = json.dumps(labels, ensure_ascii=False).replace("</", "<\\/")
        self.z_village, self.z_street = VILLAGE_LABEL_ZOOM, STREET_LABEL_ZOOM


def add_place_labels(m: folium.Map, ws, lang: str) -> None:
    from . import cache

    root, version = cache.key(ws)
    labels = place_labels(root, version, lang)
    if labels:
        PlaceLabels(labels).add_to(m)


# The checked parcel without resending the map: the map's script (cached, the same bytes on every rerun) gets a
# receiver for its channel (the map's key); the parcel is sent beside the map as a small hidden element whose
# script stores it in the page (``window.__gpHighlights[channel]``) and asks the map frames of that channel to
# draw it. A map frame that starts later reads it from there itself, so either may come first. Only data
# (GeoJSON, a flag) crosses: nothing sent with the parcel is evaluated as code.
HIGHLIGHT_STYLE = {"halo": {"color": "#ffffff", "weight": 8, "fill": False, "opacity": 0.9},
                   "line": {"weight": 3.5, "fill": True, "fillOpacity": 0.15, "opacity": 1}}
_RECEIVER_JS = """
(function (map, channel, style) {
    var layer = null, shown;
    function current() {
        try { return ((window.parent.__gpHighlights || {})[channel]) || null; } catch (e) { return null; }
    }
    function apply() {
        var d = current(), s = JSON.stringify(d);
        if (s === shown) { return; }
        shown = s;
        if (layer) { map.removeLayer(layer); layer = null; }
        if (!d) { return; }
        var line = L.extend({}, style.line, {color: d.color, fillColor: d.color});
        layer = L.featureGroup([
            L.geoJson(d.geojson, {interactive: false, style: function () { return style.halo; }}),
            L.geoJson(d.geojson, {interactive: false, style: function () { return line; }})]).addTo(map);
        if (d.fit) { map.fitBounds(layer.getBounds(), {maxZoom: 17, padding: [40, 40]}); }
    }
    window.__gpHighlightChannel = channel;
    window.__gpHighlightApply = apply;
    apply();
})(map_div, %(channel)s, %(style)s);
"""
_SENDER_HTML = """<style>.st-key-%(box)s{display:none}</style><script>
(function (channel, data) {
    var all = window.__gpHighlights = window.__gpHighlights || {};
    all[channel] = data;
    document.querySelectorAll('iframe').forEach(function (f) {
        try {
            var w = f.contentWindow;
            if (w && w.__gpHighlightChannel === channel && w.__gpHighlightApply) { w.__gpHighlightApply(); }
        } catch (e) { /* a frame of another origin: not a map */ }
    });
})(%(channel)s, %(data)s);
</script>"""


# streamlit-folium sends what the map reports 250 ms late (its frontend debounces every update, for the moves
# and zooms that come in bursts). A click on a map that reports only its clicks is sent at once instead, the way
# streamlit-folium sends it (its ``__GLOBAL_DATA__``: the same keys, order and values; ``previous_data`` updated,
# so its own update 250 ms later finds nothing new). Anything missing (another streamlit-folium) leaves its path.
_CLICK_NOW_JS = """
(function (map) {
    var KEYS = ['last_clicked', 'last_object_clicked'], FROM = {last_clicked: 'lat_lng_clicked',
                                                              last_object_clicked: 'last_object_clicked'};
    // the DOM's click on the map (a click on a shape drawn on the canvas fires the shape's click, not the
    // map's): after Leaflet's and streamlit-folium's handlers of it, whatever they recorded goes at once
    map.getContainer().addEventListener('click', function () {
        setTimeout(function () {
            var g = window.__GLOBAL_DATA__, S = window.Streamlit;
            if (!g || !S || typeof S.setComponentValue !== 'function' || !g.returned_objects || g.wrap_longitude ||
                g.returned_objects.some(function (k) { return KEYS.indexOf(k) < 0; })) { return; }
            var data = {};
            KEYS.forEach(function (k) { if (g.returned_objects.indexOf(k) >= 0) { data[k] = g[FROM[k]]; } });
            if (JSON.stringify(g.previous_data) !== JSON.stringify(data)) {
                g.previous_data = data;
                S.setComponentValue(data);
            }
        }, 0);
    });
})(map_div);
"""


def click_now_js() -> str:
    """The script added to a map's own script that sends a click at once (see ``_CLICK_NOW_JS``)."""
    return _CLICK_NOW_JS


def highlight_data(geojson: dict | None, fit: bool = False, color: str = "#0033cc") -> dict | None:
    """The checked parcel for :func:`gis_planner.ui.maps.show`'s ``highlight``: ``geojson`` (EPSG:4326) drawn
    over the map with a thick outline, the map fitted to it when ``fit`` (a typed number); ``None`` draws
    nothing (removes the previous one)."""
    if not geojson:
        return None
    return {"geojson": geojson, "fit": bool(fit), "color": str(color)}


def highlight_receiver_js(channel: str) -> str:
    """The script added to a map's own script (``map_div`` is the map): draws the highlight sent for
    ``channel`` by :func:`highlight_sender_html`, replaces it when it changes, fits the map to it when asked."""
    return _RECEIVER_JS % {"channel": _js(channel), "style": _js(HIGHLIGHT_STYLE)}


def highlight_box_key(channel: str) -> str:
    """The key of the (hidden) container holding the highlight element of map ``channel``."""
    return f"{channel}_highlight"


def highlight_sender_html(channel: str, data: dict | None) -> str:
    """The hidden element's HTML: stores ``data`` (:func:`highlight_data`, JSON-encoded) for ``channel`` in
    the page and asks that map's frame to draw it; the style hides its own container (no gap in the layout)."""
    return _SENDER_HTML % {"box": highlight_box_key(channel), "channel": _js(channel), "data": _js(data)}


def parcel_geojson(geom, crs) -> dict | None:
    """A parcel geometry (in ``crs``) as GeoJSON in EPSG:4326 for :func:`highlight_data`."""
    import geopandas as gpd

    if geom is None or geom.is_empty:
        return None
    g = gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]
    return json.loads(shapely.to_geojson(g))


def legend_html(sections, title: str) -> str:
    """A legend as escaped HTML for under a map: ``sections`` = [(title, [(text, colour), …]), …]; an
    ``outline:`` colour prefix draws an outline swatch instead of a fill."""
    parts = [f"<details open style='font:13px/1.4 sans-serif'><summary style='cursor:pointer;font-weight:600'>"
             f"{html.escape(title)}</summary><div style='display:flex;flex-wrap:wrap;gap:2px 14px'>"]
    for sec_title, entries in sections:
        parts.append(f"<span style='font-weight:600'>{html.escape(str(sec_title))}:</span>")
        for text, color in entries:
            col = str(color)
            swatch = (f"border:2px solid {html.escape(col[8:])};background:transparent"
                      if col.startswith("outline:") else f"border:1px solid #555;background:{html.escape(col)}")
            parts.append(f"<span><span style='display:inline-block;width:12px;height:12px;margin-right:4px;"
                         f"vertical-align:middle;{swatch}'></span>{html.escape(str(text))}</span>")
    parts.append("</div></details>")
    return "".join(parts)


def legend_title(lang: str) -> str:
    return t("app.map.legend", lang)
