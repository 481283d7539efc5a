"""Leaflet's and Leaflet.draw's own texts in the user's language, injected into every folium map.

Leaflet writes English into the map by itself: the zoom buttons' tooltips ("Zoom in", "Zoom out"), the
layer switcher's "Layers", the popup's "Close popup", the scale bar's "m"/"km"; Leaflet.draw its toolbar
and drawing hints (``L.drawLocal``). :class:`LeafletLocal` replaces them with the catalogue texts
(``gis_planner/i18n/app-ui.yaml``, ``app.yaml`` for the draw tools):

* the scale bar: ``L.Control.Scale.prototype._updateMetric`` is replaced *before* the scale control is made,
  so it writes "500 м" / "2 км";
* the controls Leaflet makes with English titles (zoom, layers toggle, popup close) are retitled in the
  map's DOM right away and again whenever a control or a popup appears;
* a tile layer that fails (web tiles while offline) is removed after its first error and the map says so
  once, in a small notice on the map (the terrain basemap stays; nothing waits for the tiles).

All texts are JSON-encoded into the script (``</`` escaped) and set as text, never as HTML.
"""
from __future__ import annotations

import html
import json

from branca.element import MacroElement
from jinja2 import Template

from ..i18n import t

# Leaflet's English -> message keys (title and aria-label of the controls, the scale bar's units)
LEAFLET_TEXTS = {
    "zoom_in": "community.map.zoom_in",
    "zoom_out": "community.map.zoom_out",
    "layers": "community.map.layers",
    "close": "appui.leaflet.close_popup",
    "m": "community.map.m",
    "km": "community.map.km",
    "tiles_failed": "appui.map.tiles_offline",
    "legend": "app.map.legend",
}

# Leaflet.draw's own texts (L.drawLocal) the app's draw toolbar shows -> message keys (app.draw.*)
DRAW_TEXTS = {
    ("draw", "toolbar", "actions", "title"): "app.draw.cancel_title",
    ("draw", "toolbar", "actions", "text"): "app.draw.cancel",
    ("draw", "toolbar", "finish", "title"): "app.draw.finish_title",
    ("draw", "toolbar", "finish", "text"): "app.draw.finish",
    ("draw", "toolbar", "undo", "title"): "app.draw.undo_title",
    ("draw", "toolbar", "undo", "text"): "app.draw.undo",
    ("draw", "toolbar", "buttons", "polyline"): "app.draw.button_polyline",
    ("draw", "toolbar", "buttons", "polygon"): "app.draw.button_polygon",
    ("draw", "toolbar", "buttons", "marker"): "app.draw.button_marker",
    ("draw", "handlers", "marker", "tooltip", "start"): "app.draw.marker_start",
    ("draw", "handlers", "polygon", "tooltip", "start"): "app.draw.polygon_start",
    ("draw", "handlers", "polygon", "tooltip", "cont"): "app.draw.polygon_cont",
    ("draw", "handlers", "polygon", "tooltip", "end"): "app.draw.polygon_end",
    ("draw", "handlers", "polyline", "error"): "app.draw.polyline_error",
    ("draw", "handlers", "polyline", "tooltip", "start"): "app.draw.polyline_start",
    ("draw", "handlers", "polyline", "tooltip", "cont"): "app.draw.polyline_cont",
    ("draw", "handlers", "polyline", "tooltip", "end"): "app.draw.polyline_end",
}


def _js(obj) -> str:
    # json.dumps escapes quotes/backslashes; "</" is escaped too so a text cannot close the <script>
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")


def leaflet_texts(lang: str) -> dict[str, str]:
    """Leaflet's texts in ``lang`` (plain text; the script sets them as text)."""
    return {k: t(key, lang) for k, key in LEAFLET_TEXTS.items()}


class LeafletLocal(MacroElement):
    """Leaflet's own texts (zoom, layers, popup close, scale units) in ``lang``; the web-tile notice.

    Add it to the map *before* the scale control (``maps.base_map`` does)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, T) {
            L.Control.Scale.prototype._updateMetric = function (maxMeters) {
                var meters = this._getRoundNum(maxMeters),
                    label = meters < 1000 ? meters + ' ' + T.m : (meters / 1000) + ' ' + T.km;
                this._updateScale(this._mScale, label, meters / maxMeters);
            };
            function retitle(sel, text) {
                var els = map.getContainer().querySelectorAll(sel);
                for (var i = 0; i < els.length; i++) {
                    els[i].title = text; els[i].setAttribute('aria-label', text);
                }
            }
            function fix() {
                retitle('.leaflet-control-zoom-in', T.zoom_in);
                retitle('.leaflet-control-zoom-out', T.zoom_out);
                retitle('.leaflet-control-layers-toggle', T.layers);
                retitle('.leaflet-popup-close-button', T.close);
            }
            fix();
            setTimeout(fix, 0);
            map.on('popupopen layeradd', function () { setTimeout(fix, 0); });
            // web tiles that fail (no internet): say so once, drop the tile layer, keep the terrain basemap
            var told = false;
            function watch(layer) {
                if (!(layer instanceof L.TileLayer)) { return; }
                layer.on('tileerror', function () {
                    if (told) { return; }
                    told = true;
                    map.removeLayer(layer);
                    var note = L.control({position: 'topright'});
                    note.onAdd = function () {
                        var d = L.DomUtil.create('div', 'gp-offline-note');
                        d.style.cssText = 'background:#fff8e1;border:1px solid #e0b000;border-radius:4px;' +
                            'padding:3px 8px;font:12px/1.3 sans-serif;max-width:260px';
                        d.textContent = T.tiles_failed;
                        return d;
                    };
                    note.addTo(map);
                });
            }
            map.eachLayer(watch);
            map.on('layeradd', function (e) { watch(e.layer); });
        })({{ this._parent.get_name() }}, {{ this.texts_json }});
        {% endmacro %}
    """)

    def __init__(self, lang: str):
        super().__init__()
        self._name = "LeafletLocal"
        self.texts_json = _js(leaflet_texts(lang))


class DrawLocal(MacroElement):
    """Sets Leaflet.draw's texts (``L.drawLocal``) before the draw control is built. The texts come from the
    catalogues; they are JSON-encoded, and the tooltips are set as text (``html.escape``) since Leaflet.draw
    puts them into the page as HTML."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            (function (texts) {
                texts.forEach(function (item) {
                    var obj = L.drawLocal, path = item[0];
                    for (var i = 0; i < path.length - 1; i++) {
                        obj = obj[path[i]] = obj[path[i]] || {};
                    }
                    obj[path[path.length - 1]] = item[1];
                });
            })({{ this.texts_json }});
        {% endmacro %}
    """)

    def __init__(self, lang: str):
        super().__init__()
        self._name = "DrawLocal"
        texts = [[list(path), html.escape(t(key, lang), quote=False)] for path, key in DRAW_TEXTS.items()]
        self.texts_json = _js(texts)
