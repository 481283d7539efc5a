"""Photos on the community map page: attach, view and remove the photos of a feature; thumbnails on the map.

Called from ``gis_planner/ui/pages/community.py`` with two hooks::

    photos, key = community_photos.photo_items(store, shown, lang)   # thumbnails in map popups (drawn
                                                                     # as PhotoMarkers by community_map)
    community_photos.panel(store, rec, author, lang)                 # under the feature picker

A thin shell over :mod:`gis_planner.community.media` (checks, downscaling and EXIF stripping happen there).
"""
from __future__ import annotations

import html
import json

from branca.element import MacroElement
from jinja2 import Template
import pandas as pd
import streamlit as st

from gis_planner.community import media
from gis_planner.errors import GisPlannerError
from gis_planner.i18n import t
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import file_uploader

FLASH = "community_photo_flash"
MAX_MAP_THUMBNAILS = 200  # photo markers on the map (the first photo of each feature), to keep the page light


def _uploader_key(feature_id: int) -> str:
    n = st.session_state.get(f"community_photo_upload_n_{feature_id}", 0)
    return f"community_photo_upload_{feature_id}_{n}"


def _reset_uploader(feature_id: int) -> None:
    k = f"community_photo_upload_n_{feature_id}"
    st.session_state[k] = st.session_state.get(k, 0) + 1


@st.cache_data(max_entries=256, show_spinner=False)
def _thumb(url: str, attachment_id: int, sha256: str, edge: int) -> str:
    """``<img>`` tag of a photo's thumbnail, cached by content (the alt text is added by the caller)."""
    from gis_planner.community import open_store

    data = open_store(url=url).get_attachment(attachment_id).data
    return media.thumbnail_img_tag(data, alt="", edge=edge)


class PhotoMarkers(MacroElement):
    """Small white markers whose popup shows a photo thumbnail and the feature's title. Built in Leaflet
    directly (folium's Popup needs jQuery, which the offline app does not load); every text is escaped and
    the items are JSON-encoded into the script."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var items = {{ this.items_json }};
            var group = L.featureGroup();
            items.forEach(function (it) {
                L.circleMarker([it.lat, it.lon], {radius: 5, color: '#222222', weight: 2, fill: true,
                                                  fillColor: '#ffffff', fillOpacity: 1.0})
                    .bindPopup(it.html, {maxWidth: it.w}).bindTooltip(it.tip).addTo(group);
            });
            group.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, items: list[dict]):
        super().__init__()
        self._name = "PhotoMarkers"
        self.items_json = json.dumps(items).replace("</", "<\\/")


def photo_items(store, shown: pd.DataFrame, lang: str) -> tuple[list[dict], tuple]:
    """``(marker items, key of what they show)`` for the shown features that have photos: the items of
    :class:`PhotoMarkers` (small markers with a photo thumbnail and the feature's title, escaped, in their
    popup), which the community map's dynamic layer draws (``community_map``)."""
    if shown is None or shown.empty:
        return [], ()
    att = store.attachments([int(i) for i in shown["id"]])
    if att.empty:
        return [], ()
    first = att.drop_duplicates("feature_id").head(MAX_MAP_THUMBNAILS)
    edge = int(media.photo_rules(store.ws).get("thumbnail_edge_px", 160))
    counts = att.groupby("feature_id").size()
    by_id = shown.set_index("id")
    url = store.url if store.path is None else str(store.path)
    items = []
    for row in first.itertuples(index=False):
        f = by_id.loc[row.feature_id]
        pt = f.geometry.representative_point()
        title = html.escape(str(f["title"]), quote=True)
        img = _thumb(url, int(row.id), row.sha256, edge).replace('alt=""', f'alt="{title}"', 1)
        n = html.escape(t("community.photo.count", lang, n=int(counts[row.feature_id])))
        items.append({"lat": round(pt.y, 6), "lon": round(pt.x, 6), "w": edge + 30, "tip": title,
                      "html": f"<div style='max-width:{edge + 10}px'>{img}<br><b>{title}</b><br><small>{n}</small></div>"})
    return items, tuple(zip(first["id"].tolist(), first["sha256"].tolist(),
                            counts.reindex(first["feature_id"]).tolist()))


def panel(store, rec, author: str, lang: str) -> None:
    """The photos of one feature: gallery with remove buttons, and an uploader (with the option to move a
    point to where the photo was taken, when the photo says so)."""
    if rec is None:
        return
    att = store.attachments(rec.id)
    rules = media.photo_rules(store.ws)
    # the confirmation stays while it still describes what is shown (the page may rerun more than once)
    flash = st.session_state.get(FLASH)
    pending = flash["msg"] if isinstance(flash, dict) and flash.get("fid") == rec.id and \
        flash.get("n") == len(att) else None
    if flash is not None and pending is None:
        st.session_state.pop(FLASH, None)
    with st.expander(f"{t('community.photo.photos', lang)} ({len(att)})", expanded=bool(pending) or len(att) > 0):
        if pending:
            st.success(md_escape(pending))
        if att.empty:
            st.caption(t("community.photo.none", lang))
        cols = st.columns(3)
        for i, row in enumerate(att.itertuples(index=False)):
            with cols[i % 3]:
                data = store.get_attachment(int(row.id)).data
                st.image(data, width="stretch")
                st.caption(md_escape(f"{row.filename} · {row.author} · "
                                      f"{t('community.photo.size_kb', lang, n=max(1, round(row.size / 1024)))}"))
                if st.button(t("community.photo.delete", lang), key=f"community_photo_del_{row.id}"):
                    try:
                        gone = store.delete_attachment(int(row.id), author)
                        st.session_state[FLASH] = {"msg": t("community.photo.deleted", lang, name=gone.filename),
                                                   "fid": rec.id, "n": len(att) - 1}
                        st.rerun()
                    except GisPlannerError as err:
                        show_error(err)
        if rec.deleted:
            return
        key = _uploader_key(rec.id)
        max_mb = max(1, int(rules["max_upload_bytes"]) // (1024 * 1024))
        st.caption(t("community.photo.privacy", lang, edge=int(rules["max_edge_px"]), mb=max_mb))
        # widgets.file_uploader: without Streamlit's English "Upload" / "… per file" on screen
        up = file_uploader(t("community.photo.add", lang), ["jpg", "jpeg", "png", "webp"], key, max_mb)
        if up is None:
            return
        data = up.getvalue()
        where = media.exif_location(data) if rec.kind == "point" else None
        move = False
        if where is not None:
            move = st.checkbox(t("community.photo.use_location", lang, lat=f"{where[1]:.5f}", lon=f"{where[0]:.5f}"),
                               value=False, key=f"{key}_move")
        if st.button(t("community.photo.save", lang), type="primary", key=f"{key}_save"):
            try:
                saved = store.add_attachment(rec.id, data, up.name, author)
                msg = t("community.photo.added", lang, name=saved.filename)
                if move:
                    from shapely.geometry import Point

                    store.update_feature(rec.id, rec.version, author, geometry=Point(*where))
                    msg += ". " + t("community.photo.moved", lang)
                    # the edit form below holds the version it was opened with: reopen it at the new one,
                    # or its next save would be a conflict with this very move
                    from gis_planner.ui import community_edit

                    community_edit.new_generation("feature", rec.id)
                st.session_state[FLASH] = {"msg": msg, "fid": rec.id, "n": len(att) + 1}
                _reset_uploader(rec.id)
                st.rerun()
            except GisPlannerError as err:
                show_error(err)


__all__ = ["PhotoMarkers", "panel", "photo_items"]
