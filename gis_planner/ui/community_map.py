"""The community page's map helpers: villages from the settlements layer, age bands from the catalogue, the
view kept where the group works, and map controls in the session's language."""
from __future__ import annotations

import html
import json

import folium
import streamlit as st
from branca.element import MacroElement, Template

from gis_planner.community.store import rules
from gis_planner.i18n import t
from gis_planner.ui import cache

VIEW_LAST = "community_view_last"     # the view the browser reported last: {"center": [lat, lng], "zoom": z}
VIEW_BAKED = "community_view_baked"   # the view written into the map script when its content last changed
VIEW_SIG = "community_view_sig"


def village_options(ws, lang: str) -> dict[str, str]:
    """``{stored name: shown name}`` of the workspace's settlements (``name``; ``name_ru`` shown in Russian)."""
    root, version = cache.key(ws)
    gdf = cache.read_layer(root, version, "settlements")
    if gdf is None or gdf.empty or "name" not in gdf.columns:
        return {}
    out = {}
    for _, r in gdf.sort_values("name").iterrows():
        name = r["name"]
        if not isinstance(name, str) or not name.strip():
            continue
        shown = r.get("name_ru") if lang == "ru" and isinstance(r.get("name_ru"), str) and r.get("name_ru") else name
        out[name] = shown
    return out


def age_bands(ws) -> list[str]:
    """The age bands of ``layers/community_categories.yaml`` (``age_bands``)."""
    return [str(b) for b in rules(ws).get("age_bands") or []]


def remember_view(out: dict | None) -> None:
    """Keep the view the browser reports (centre and zoom) in the session."""
    if not out:
        return
    center, zoom = out.get("center"), out.get("zoom")
    if isinstance(center, dict) and center.get("lat") is not None and zoom is not None:
        st.session_state[VIEW_LAST] = {"center": [float(center["lat"]), float(center["lng"])], "zoom": int(zoom)}


def baked_view(signature) -> dict | None:
    """The view to open the map at: the last view the user had when the map's content changed (a save, a
    delete…), so the map stays where the group works; None (the whole municipality) before any."""
    if st.session_state.get(VIEW_SIG) != signature:
        st.session_state[VIEW_SIG] = signature
        st.session_state[VIEW_BAKED] = st.session_state.get(VIEW_LAST)
    return st.session_state.get(VIEW_BAKED)


class SetView(MacroElement):
    """Open the map at a given centre and zoom (after folium's fit to the municipality)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.setView({{ this.center_json }}, {{ this.zoom }});
        {% endmacro %}
    """)

    def __init__(self, center, zoom: int):
        super().__init__()
        self._name = "SetView"
        self.center_json = json.dumps([float(center[0]), float(center[1])])
        self.zoom = int(zoom)


class ControlTexts(MacroElement):
    """Leaflet.draw's edit toolbar in the session's language (texts from the catalogues, escaped; JSON-encoded
    so a text cannot leave the script). Leaflet's zoom buttons, layer switch and scale bar are translated on
    every map of the app (``leaflet_i18n.LeafletLocal``)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, tx) {
            // Leaflet finds its marker images through its CSS, which the map's frame may load late
            L.Icon.Default.imagePath = {{ this.images_json }};
            if (L.drawLocal && L.drawLocal.edit) {
                var e = L.drawLocal.edit;
                e.toolbar.buttons.edit = tx.edit; e.toolbar.buttons.editDisabled = tx.edit_none;
                e.toolbar.actions.save.title = tx.save_title; e.toolbar.actions.save.text = tx.save;
                e.toolbar.actions.cancel.title = tx.cancel_title; e.toolbar.actions.cancel.text = tx.cancel;
                e.handlers.edit.tooltip.text = tx.edit_text; e.handlers.edit.tooltip.subtext = tx.edit_subtext;
            }
        })({{ this._parent.get_name() }}, {{ this.texts_json }});
        {% endmacro %}
    """)

    KEYS = {"edit": "community.map.edit", "edit_none": "community.map.edit_none",
            "save": "community.map.save", "save_title": "community.map.save_title",
            "cancel": "community.map.cancel", "cancel_title": "community.map.cancel_title",
            "edit_text": "community.map.edit_text", "edit_subtext": "community.map.edit_subtext"}

    def __init__(self, lang: str):
        super().__init__()
        self._name = "ControlTexts"
        texts = {k: html.escape(t(key, lang), quote=False) for k, key in self.KEYS.items()}
        self.texts_json = json.dumps(texts, ensure_ascii=False).replace("</", "<\\/")
        from gis_planner.ui.maps import STATIC_URL

        self.images_json = json.dumps(f"{STATIC_URL}/leaflet/images/")


# village and street names: the app's maps have them all (gis_planner.ui.map_vectors, kept here as names)
from .map_vectors import (STREET_LABEL_ZOOM, VILLAGE_LABEL_ZOOM, PlaceLabels, add_place_labels,  # noqa: E402,F401
                          place_labels)


def localize_controls(m: folium.Map, lang: str) -> folium.Map:
    ControlTexts(lang).add_to(m)
    return m


# ------------------------------------------------------------------ moving / reshaping a saved feature
EDIT_PROP = "community_edit_id"


def split_drawings(out: dict | None, fid) -> tuple[dict | None, dict | None]:
    """``(answer without the edited feature, its edited GeoJSON geometry or None)`` from streamlit-folium's
    answer: the edited feature must not start a new feature, and its moved geometry is saved with the form."""
    if not out:
        return out, None
    drawings = out.get("all_drawings") or []
    edited = None
    rest = []
    for d in drawings:
        props = (d or {}).get("properties") or {}
        if isinstance(d, dict) and props.get(EDIT_PROP) is not None:
            if fid is not None and int(props[EDIT_PROP]) == int(fid):
                edited = d.get("geometry")
            continue
        rest.append(d)
    active = out.get("last_active_drawing")
    if isinstance(active, dict) and ((active.get("properties") or {}).get(EDIT_PROP) is not None):
        active = None
    return {**out, "all_drawings": rest, "last_active_drawing": active}, edited


# ------------------------------------------------------------------ the community layer drawn without rebuilding the map
# The base map (terrain, parcels, roads, boundary, names, the draw control) is built and rendered once per
# session/language/… and cached (``maps.show`` with ``cache_key``); the community features, their photo
# markers, the legend and the feature being edited are one script given to streamlit-folium's ``feature_group``
# argument. When a save changes them, the browser swaps that layer in the map it already has: the view, the
# draw control and a shape drawn meanwhile stay (streamlit-folium 0.27 removes the layers its previous script
# pushed to ``window.feature_group`` and evaluates the new one; it does not put them in the layer switch,
# randyzwitch/streamlit-folium#153, so the script does).
SAVED_DRAWINGS = "community_saved_drawings"   # geometries of drawings saved in this browser session (newest last)
MAX_SAVED_DRAWINGS = 50


class LayerControlRef(MacroElement):
    """Keep the map's layer switch as ``window.gp_layer_control`` (the community layer is added to it)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        window.gp_layer_control = {{ this.control_name }};
        {% endmacro %}
    """)

    def __init__(self, control):
        super().__init__()
        self._name = "LayerControlRef"
        self.control_name = control.get_name()


def expose_layer_control(m: folium.Map) -> None:
    control = next((c for c in m._children.values() if isinstance(c, folium.LayerControl)), None)
    if control is not None:
        LayerControlRef(control).add_to(m)


class _Named:
    """A stand-in parent for rendering an element's script into the dynamic layer (``get_name`` only)."""

    def __init__(self, name: str):
        self.name = name

    def get_name(self) -> str:
        return self.name


def _js(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


_DYNAMIC_TAIL = """
    var st = window.__gp_comm = window.__gp_comm || {hidden: false};
    var lc = window.gp_layer_control;
    if (!st.hooked) {   // only a click in the layer switch hides or shows the layer (not the swap itself)
        st.hooked = true;
        map.on('overlayremove', function (e) {
            if (e.layer === window.__gp_comm.fg && lc && lc._handlingClick) { window.__gp_comm.hidden = true; } });
        map.on('overlayadd', function (e) {
            if (e.layer === window.__gp_comm.fg && lc && lc._handlingClick) { window.__gp_comm.hidden = false; } });
    }
    if (lc && st.fg) { lc.removeLayer(st.fg); }
    if (st.fg && map.hasLayer(st.fg)) { map.removeLayer(st.fg); }
    st.fg = fg;
    if (!st.hidden) { map.addLayer(fg); }
    if (lc && A.title) { lc.addOverlay(fg, A.title); }
    window.feature_group = window.feature_group || [];
    window.feature_group.push(fg);
    // the legend (the base layers' sections and the community categories), opened or folded as the user left it
    var was_open = null;
    if (st.legend) {
        var d0 = st.legend.getContainer && st.legend.getContainer() && st.legend.getContainer().querySelector('details');
        if (d0) { was_open = d0.open; }
        map.removeControl(st.legend); st.legend = null;
    }
    if (A.legend) {
        var lg = L.control({position: 'bottomright'});
        lg.onAdd = function () {
            var div = L.DomUtil.create('div', 'gp-legend');
            div.innerHTML = A.legend;
            var det = div.querySelector('details');
            if (det && was_open !== null) { det.open = was_open; }
            else if (det && map.getSize().x < 640) { det.open = false; }
            L.DomEvent.disableScrollPropagation(div);
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        lg.addTo(map); st.legend = lg;
    }
    // Leaflet.draw's group: a drawing just saved leaves it (it is now in the community layer); the feature being
    // edited is put in it when another one is picked or it was saved (a move not yet saved stays as it is)
    var di = window.drawnItems;
    if (di && di.eachLayer) {
        var flat = function (c, out) {
            if (typeof c === 'number') { out.push(c); } else if (c) { for (var i = 0; i < c.length; i++) { flat(c[i], out); } }
            return out;
        };
        var same = function (a, b) {
            if (!a || !b || a.type !== b.type) { return false; }
            var x = flat(a.coordinates, []), y = flat(b.coordinates, []);
            if (x.length !== y.length) { return false; }
            for (var i = 0; i < x.length; i++) { if (Math.abs(x[i] - y[i]) > 1e-9) { return false; } }
            return true;
        };
        var gone = [];
        di.eachLayer(function (l) {
            var p = l.feature && l.feature.properties;
            if (p && p[A.edit_prop] !== undefined && p[A.edit_prop] !== null) {
                if (st.edit !== A.edit_sig) { gone.push(l); }
                return;
            }
            if (!l.toGeoJSON) { return; }
            var g = l.toGeoJSON().geometry;
            for (var i = 0; i < A.saved.length; i++) { if (same(g, A.saved[i])) { gone.push(l); break; } }
        });
        gone.forEach(function (l) { di.removeLayer(l); });
        if (st.edit !== A.edit_sig) {
            st.edit = A.edit_sig;
            if (A.editable) {
                L.geoJSON(A.editable, {
                    style: function () { return {color: '#e65100', weight: 3, dashArray: '6 4', fillOpacity: 0.15}; }
                }).eachLayer(function (layer) { layer.feature = layer.feature || A.editable; di.addLayer(layer); });
            }
        }
    }
"""


def dynamic_layer_js(*, features: dict | None, title: str, style: dict, legend_html: str | None,
                     photos: list[dict] | None = None, edit_fid: int | None = None, edit_version: int | None = None,
                     edit_geometry=None, saved: list[dict] | None = None) -> str:
    """The script of the community layer for streamlit-folium's ``feature_group`` argument (see above).

    ``features`` is the display data of :func:`gis_planner.ui.maps.frame_display`; ``legend_html`` the whole
    legend (:class:`gis_planner.ui.maps.Legend`'s HTML); ``photos`` the items of
    :func:`gis_planner.ui.community_photos.photo_items`; the feature ``edit_fid`` (its ``edit_version``,
    shapely ``edit_geometry`` in lon/lat) is put into Leaflet.draw's group for the edit tool; ``saved`` are the
    GeoJSON geometries of drawings saved (removed from the draw group). The script is the same text for the
    same content (no random names), so the browser swaps the layer only when the content changed."""
    from shapely.geometry import mapping

    from gis_planner.ui import maps
    from gis_planner.ui.community_photos import PhotoMarkers

    parts = ["(function (map) {", "var fg = L.featureGroup();"]
    if features:
        layer = maps.FastGeoJson(features, title, style)
        layer._id = "gp_comm"
        layer._parent = _Named("map")
        parts.append(layer._template.module.script(layer, {}))
        parts.append(f"{layer.get_name()}.addTo(fg);")
    if photos:
        pm = PhotoMarkers(photos)
        pm._parent = _Named("fg")
        parts.append(pm._template.module.script(pm, {}))
    editable = None
    if edit_fid is not None and edit_geometry is not None:
        editable = {"type": "Feature", "properties": {EDIT_PROP: int(edit_fid)}, "geometry": mapping(edit_geometry)}
    args = {"title": html.escape(title), "legend": legend_html, "edit_prop": EDIT_PROP,
            "edit_sig": f"{edit_fid}:{edit_version}" if editable else "", "editable": editable,
            "saved": list(saved or [])}
    parts.append(f"var A = {_js(args)};")
    parts.append(_DYNAMIC_TAIL)
    parts.append("})(map_div);\n")
    return "\n".join(parts)


def remember_saved(sid: int, geometry: dict) -> None:
    """Remember a saved drawing's GeoJSON geometry (the map reports it until the next drawing)."""
    saved = st.session_state.setdefault(SAVED_DRAWINGS, {}).setdefault(int(sid), [])
    if geometry not in saved:
        saved.append(geometry)
    del saved[:-MAX_SAVED_DRAWINGS]


def saved_drawings(sid: int) -> list[dict]:
    return list((st.session_state.get(SAVED_DRAWINGS) or {}).get(int(sid), []))


def without_saved(out: dict | None, saved: list[dict]) -> dict | None:
    """streamlit-folium's answer without the drawings already saved: the map keeps reporting a saved shape
    (in ``all_drawings``, as ``last_active_drawing``) until the next drawing, and it must not open the
    new-feature form again."""
    if not out or not saved:
        return out
    drawings = [d for d in (out.get("all_drawings") or [])
                if not (isinstance(d, dict) and d.get("geometry") in saved)]
    active = out.get("last_active_drawing")
    if isinstance(active, dict) and active.get("geometry") in saved:
        active = None
    return {**out, "all_drawings": drawings, "last_active_drawing": active}
