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


class EditableFeature(MacroElement):
    """Put the feature being edited into Leaflet.draw's editable group, so the edit tool (✎) moves its marker or
    drags its vertices; streamlit-folium then reports it in ``all_drawings`` with ``properties.community_edit_id``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (group, feature) {
            L.geoJSON(feature, {
                style: function () { return {color: '#e65100', weight: 3, dashArray: '6 4', fillOpacity: 0.15}; }
            }).eachLayer(function (layer) {
                layer.feature = layer.feature || feature;
                group.addLayer(layer);
            });
        })(drawnItems_{{ this.draw.get_name() }}, {{ this.feature_json }});
        {% endmacro %}
    """)

    def __init__(self, draw, feature: dict):
        super().__init__()
        self._name = "EditableFeature"
        self.draw = draw
        self.feature_json = json.dumps(feature, ensure_ascii=False).replace("</", "<\\/")


def add_editable(m: folium.Map, fid: int, geometry) -> None:
    """Make feature ``fid`` (a shapely geometry, lon/lat) editable with Leaflet.draw's edit tool (the map must
    already have the draw control of :func:`gis_planner.ui.maps.add_draw`)."""
    from folium.plugins import Draw
    from shapely.geometry import mapping

    draw = next((c for c in m._children.values() if isinstance(c, Draw)), None)
    if draw is None or geometry is None:
        return
    draw.edit_options = {"edit": True, "remove": False}
    feature = {"type": "Feature", "properties": {EDIT_PROP: int(fid)}, "geometry": mapping(geometry)}
    EditableFeature(draw, feature).add_to(m)


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
