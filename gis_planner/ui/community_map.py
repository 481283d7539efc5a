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
    """Leaflet's zoom buttons, layer switch and scale bar, and Leaflet.draw's edit toolbar, in the session's
    language (texts from the catalogues, escaped; JSON-encoded so a text cannot leave the script)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, tx) {
            function apply() {
                var c = map.getContainer();
                var zi = c.querySelector('.leaflet-control-zoom-in'), zo = c.querySelector('.leaflet-control-zoom-out');
                if (zi) { zi.title = tx.zoom_in; zi.setAttribute('aria-label', tx.zoom_in); }
                if (zo) { zo.title = tx.zoom_out; zo.setAttribute('aria-label', tx.zoom_out); }
                var ly = c.querySelector('.leaflet-control-layers-toggle');
                if (ly) { ly.title = tx.layers; ly.setAttribute('aria-label', tx.layers); }
                c.querySelectorAll('.leaflet-control-scale-line').forEach(function (el) {
                    el.textContent = el.textContent.replace(/ km$/, ' ' + tx.km).replace(/ m$/, ' ' + tx.m);
                });
            }
            if (L.drawLocal && L.drawLocal.edit) {
                var e = L.drawLocal.edit;
                e.toolbar.buttons.edit = tx.edit; e.toolbar.buttons.editDisabled = tx.edit_none;
                e.toolbar.actions.save.title = tx.save_title; e.toolbar.actions.save.text = tx.save;
                e.toolbar.actions.cancel.title = tx.cancel_title; e.toolbar.actions.cancel.text = tx.cancel;
                e.handlers.edit.tooltip.text = tx.edit_text; e.handlers.edit.tooltip.subtext = tx.edit_subtext;
            }
            map.whenReady(function () { apply(); setTimeout(apply, 0); });
            map.on('zoomend moveend', apply);
        })({{ this._parent.get_name() }}, {{ this.texts_json }});
        {% endmacro %}
    """)

    KEYS = {"zoom_in": "community.map.zoom_in", "zoom_out": "community.map.zoom_out",
            "layers": "community.map.layers", "edit": "community.map.edit", "edit_none": "community.map.edit_none",
            "save": "community.map.save", "save_title": "community.map.save_title",
            "cancel": "community.map.cancel", "cancel_title": "community.map.cancel_title",
            "edit_text": "community.map.edit_text", "edit_subtext": "community.map.edit_subtext",
            "m": "community.map.m", "km": "community.map.km"}

    def __init__(self, lang: str):
        super().__init__()
        self._name = "ControlTexts"
        texts = {k: html.escape(t(key, lang), quote=False) for k, key in self.KEYS.items()}
        self.texts_json = json.dumps(texts, ensure_ascii=False).replace("</", "<\\/")


def localize_controls(m: folium.Map, lang: str) -> folium.Map:
    ControlTexts(lang).add_to(m)
    return m
