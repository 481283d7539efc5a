"""Maps that read at village scale: parcels as vectors with their cadastral numbers, village and street
names, the checked parcel highlighted, legends outside small maps.

* **Parcels as vectors from zoom 14** (``map_styles.yaml: vectors``): below it the dense parcel layer is the
  server-drawn image (``maps.layer_raster``, light); from village scale on, the browser fetches the layer once
  as a compact GeoJSON file (:func:`vector_file`) and draws it on the canvas instead of the image, which is
  blocky there. The file is written to ``static/cache/`` (git-ignored, served by Streamlit at
  ``/app/static/cache/``) under a name keyed by the workspace data version and the style, so the browser
  caches it and a new import makes a new file. Cadastral numbers appear as labels from zoom 16 (only those
  in view, at most ``label_max``).
* **Village and street names** (:func:`place_labels`): settlement names from zoom 11, street names (the
  named roads) from zoom 15, escaped and set as text.
* **The checked parcel** (:func:`highlight_js`): drawn over the cached map through streamlit-folium's
  ``feature_group`` argument, so the map is not rebuilt when the parcel changes.
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

    return {"min_zoom": 14, "label_zoom": 16, "label_max": 400, "village_zoom": 11, "street_zoom": 15,
            **(styles().get("vectors") or {})}


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
.leaflet-tooltip.gp-cad-label, .leaflet-tooltip.gp-place-label, .leaflet-tooltip.gp-street-label {
  background: transparent; border: 0; box-shadow: none; padding: 0; color: #222;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; white-space: nowrap; }
.leaflet-tooltip.gp-cad-label { font: 10px/1 sans-serif; }
.leaflet-tooltip.gp-place-label { font: 600 14px/1.1 sans-serif; color: #6b1d12; }
.leaflet-tooltip.gp-street-label { font: italic 11px/1 sans-serif; color: #4a3417; }
.leaflet-tooltip.gp-cad-label:before, .leaflet-tooltip.gp-place-label:before,
.leaflet-tooltip.gp-street-label:before { display: none; }
</style>"""


def add_label_css(m) -> None:
    m.get_root().header.add_child(Element(LABEL_CSS), name="gp_label_css")


@st.cache_resource(max_entries=16, show_spinner=False)
def place_labels(root: str, version: str, lang: str) -> list:
    """``[[lat, lng, text, kind], …]``: settlements (``village``, at a point inside) and named roads
    (``street``, at the middle of the longest piece of each name); texts escaped."""
    from pyproj import Transformer

    from . import cache

    out = []
    sett = cache.read_layer(root, version, "settlements")
    roads = cache.read_layer(root, version, "roads")
    for gdf, kind in ((sett, "village"), (roads, "street")):
        if gdf is None or gdf.empty or "name" not in gdf.columns or gdf.crs is None:
            continue
        col = "name_ru" if lang == "ru" and "name_ru" in gdf.columns else "name"
        names = gdf[col].where(gdf[col].notna() & (gdf[col].astype(str).str.strip() != ""), gdf["name"])
        to_ll = Transformer.from_crs(gdf.crs, 4326, always_xy=True)
        frame = pd.DataFrame({"name": names, "geom": gdf.geometry.values})
        if kind == "street":
            if "road_class" in gdf.columns:   # streets inside villages, not the main road across the map
                frame = frame[gdf["road_class"].astype(str).isin(["street", "local", "lane"]).to_numpy()]
            frame = frame[frame["name"].notna()]
            frame["len"] = [g.length for g in frame["geom"]]
            frame = frame.sort_values("len", ascending=False).drop_duplicates("name")
        for name, g in zip(frame["name"], frame["geom"]):
            if name is None or g is None or g.is_empty or not str(name).strip():
                continue
            p = g.interpolate(0.5, normalized=True) if kind == "street" else g.representative_point()
            lng, lat = to_ll.transform(p.x, p.y)
            out.append([round(lat, 6), round(lng, 6), html.escape(str(name)), kind])
    return out


class PlaceLabels(MacroElement):
    """Village names from ``village_zoom``, street names from ``street_zoom`` (permanent tooltips)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, items, cfg) {
            var groups = {village: L.layerGroup(), street: L.layerGroup()};
            items.forEach(function (it) {
                groups[it[3]].addLayer(L.tooltip({permanent: true, direction: 'center', interactive: false,
                    className: 'gp-' + (it[3] === 'village' ? 'place' : 'street') + '-label'})
                    .setLatLng([it[0], it[1]]).setContent(it[2]));
            });
            function update() {
                var z = map.getZoom();
                [['village', cfg.village_zoom], ['street', cfg.street_zoom]].forEach(function (k) {
                    var g = groups[k[0]];
                    if (z >= k[1] && !map.hasLayer(g)) { g.addTo(map); }
                    if (z < k[1] && map.hasLayer(g)) { map.removeLayer(g); }
                });
            }
            map.on('zoomend', update);
            update();
        })({{ this._parent.get_name() }}, {{ this.items_json }}, {{ this.cfg_json }});
        {% endmacro %}
    """)

    def __init__(self, items: list, cfg: dict):
        super().__init__()
        self._name = "PlaceLabels"
        self.items_json = _js(items)
        self.cfg_json = _js({"village_zoom": cfg["village_zoom"], "street_zoom": cfg["street_zoom"]})


def highlight_js(geojson: dict | None, fit: bool = False, color: str = "#0033cc") -> str | None:
    """JavaScript for streamlit-folium's ``feature_group`` argument: ``geojson`` (EPSG:4326) drawn over the
    map with a thick outline (the checked parcel), the map fitted to it when ``fit`` (a typed number)."""
    if not geojson:
        return None
    return ("var feature_group_gp_hl = L.featureGroup(["
            f"L.geoJson({_js(geojson)}, {{interactive: false, style: function () {{"
            "return {color: '#ffffff', weight: 8, fill: false, opacity: 0.9}; }}),"
            f"L.geoJson({_js(geojson)}, {{interactive: false, style: function () {{"
            f"return {{color: {_js(color)}, weight: 3.5, fill: true, fillOpacity: 0.15, fillColor: {_js(color)},"
            " opacity: 1}; }})]);\n"
            "map_div.addLayer(feature_group_gp_hl);\n"
            "window.feature_group = window.feature_group || [];\n"
            "window.feature_group.push(feature_group_gp_hl);\n"
            + ("map_div.fitBounds(feature_group_gp_hl.getBounds(), {maxZoom: 17, padding: [40, 40]});\n" if fit else ""))


def parcel_geojson(geom, crs) -> dict | None:
    """A parcel geometry (in ``crs``) as GeoJSON in EPSG:4326 for :func:`highlight_js`."""
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
