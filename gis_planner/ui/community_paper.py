"""Community page, paper maps: print the session base map, upload a photo of the drawn map, place control points
(corner marks found automatically, or clicked on the photo and typed from the printed grid), see the residuals,
store the georeferenced photo and show it semi-transparently on the community map to trace over; personal-data
warnings for the session. A thin shell over :mod:`gis_planner.community.paper`, ``.georef`` and ``.privacy``.

Called from ``gis_planner/ui/pages/community.py``::

    community_paper.overlays_on_map(m, ws, sid, lang)      # before the map is shown
    community_paper.panel(ws, store, sid, author, lang)      # below the map
"""
from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from gis_planner.community import georef, paper, privacy
from gis_planner.errors import GisPlannerError
from gis_planner.i18n import t
from gis_planner.ui.app import show_error
from gis_planner.ui.widgets import table

_STATE = "community_paper"
_DISPLAY_PX = 1600  # overlays are sent to the browser at most this large


def _tr(lang):
    return lambda key, **kw: t(key, lang, **kw)


@st.cache_data(max_entries=16, show_spinner=False)
def _overlay_uri(png_path: str, mtime: float) -> tuple[str, tuple[int, int]]:
    from PIL import Image

    im = Image.open(png_path)
    im.thumbnail((_DISPLAY_PX, _DISPLAY_PX))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), im.size


def overlays_on_map(m, ws, session_id: int, lang: str) -> None:
    """Add the session's georeferenced paper-map photos to the folium map ``m`` (semi-transparent, newest on
    top), with a switch and an opacity slider above the map."""
    import folium

    from gis_planner.ui import maps

    recs = georef.overlays(ws, session_id=session_id)
    if not recs:
        return
    tr = _tr(lang)
    c1, c2 = st.columns([2, 1])
    on = c1.toggle(tr("paper.app.overlay_show", n=len(recs)), value=True, key=f"{_STATE}_overlay_on")
    alpha = c2.slider(tr("paper.app.overlay_opacity"), 0.1, 1.0, 0.6, 0.05, key=f"{_STATE}_overlay_alpha")
    shown = (on, alpha, tuple(r["id"] for r in recs))
    if st.session_state.get(f"{_STATE}_overlay_shown") != shown:
        # the page caches the rendered map by its own key: drop it when the overlay changes
        maps._component_args.clear()
        st.session_state[f"{_STATE}_overlay_shown"] = shown
    if not on:
        return
    group = folium.FeatureGroup(name=tr("paper.app.overlay_layer"), show=True)
    for rec in reversed(recs):
        png = Path(rec["dir"]) / rec["files"]["png"]
        if not png.exists():
            continue
        uri, _ = _overlay_uri(str(png), png.stat().st_mtime)
        folium.raster_layers.ImageOverlay(image=uri, bounds=georef.overlay_lonlat_bounds(rec), opacity=alpha,
                                          interactive=False, zindex=400, name=rec.get("file_name", "")).add_to(group)
    group.add_to(m)


def panel(ws, store, session_id: int, author: str, lang: str) -> None:
    """Personal-data warnings of the session, and the paper-map expander (print, photo → overlay)."""
    tr = _tr(lang)
    warns = privacy.store_warnings(store, session_id=session_id, lang=lang)
    # open when something new was just entered (a warning at entry), folded when it was seen before
    seen_key = f"{_STATE}_privacy_seen_{session_id}"
    new = set(warns) - set(st.session_state.get(seen_key, warns if seen_key not in st.session_state else []))
    st.session_state[seen_key] = list(warns)
    if warns:
        with st.expander(f"⚠ {tr('privacy.warnings_title')} ({len(warns)})", expanded=bool(new)):
            st.caption(tr("paper.app.privacy_help"))
            for w in warns:
                st.warning(w)
    with st.expander(tr("paper.app.title")):
        st.caption(tr("paper.app.help"))
        tab_print, tab_photo, tab_list = st.tabs([tr("paper.app.tab_print"), tr("paper.app.tab_photo"),
                                                  tr("paper.app.tab_list")])
        with tab_print:
            _print(ws, store, session_id, lang)
        with tab_photo:
            _photo(ws, session_id, author, lang)
        with tab_list:
            _list(ws, session_id, lang)


def _print(ws, store, session_id, lang) -> None:
    tr = _tr(lang)
    a, b, c = st.columns(3)
    size = a.selectbox(tr("paper.app.size"), ["A3", "A2", "A4", "A1"], key=f"{_STATE}_size")
    plang = b.selectbox(tr("paper.app.lang"), ["ky", "ru", "en"], index=["ky", "ru", "en"].index(lang),
                        key=f"{_STATE}_lang")
    if c.button(tr("paper.app.prepare"), key=f"{_STATE}_prepare", type="primary"):
        try:
            with st.spinner(tr("paper.app.preparing")), tempfile.TemporaryDirectory() as tmp:
                sheet = paper.basemap(ws, Path(tmp) / f"basemap_session{session_id}_{size}_{plang}.pdf",
                                      store=store, session_id=session_id, size=size, lang=plang)
                st.session_state[f"{_STATE}_files"] = {
                    k: (Path(p).name, Path(p).read_bytes()) for k, p in sheet.files.items()}
                st.session_state[f"{_STATE}_sheet"] = sheet.sheet_id
                st.session_state[f"{_STATE}_scale"] = sheet.scale
        except GisPlannerError as err:
            show_error(err)
    files = st.session_state.get(f"{_STATE}_files")
    if files:
        st.caption(tr("paper.app.ready", scale=f"{st.session_state.get(f'{_STATE}_scale', 0):,}".replace(",", " "),
                      sheet=st.session_state.get(f"{_STATE}_sheet", "")))
        cols = st.columns(len(files))
        for col, (kind, (name, data)) in zip(cols, files.items()):
            col.download_button(tr(f"paper.app.download_{kind}"), data, file_name=name,
                                mime="application/pdf" if kind == "pdf" else "image/png", key=f"{_STATE}_dl_{kind}")
        if "png" in files:
            st.image(files["png"][1], width="stretch")


def _photo_map(rgba: np.ndarray, key: str, lang: str):
    """The photo in a pixel map (Leaflet CRS.Simple): a click returns (col, row) of the photo."""
    import folium
    from PIL import Image

    from gis_planner.ui import maps

    h, w = rgba.shape[:2]
    im = Image.fromarray(rgba, "RGBA")
    im.thumbnail((_DISPLAY_PX, _DISPLAY_PX))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    # map units: the photo's longer side is 400 units, so zoom 0 shows it whole and zoom 5 (×32) shows each
    # photo pixel several screen pixels wide
    k = 400.0 / max(h, w)
    m = folium.Map(crs="Simple", tiles=None, location=[-h * k / 2, w * k / 2], zoom_start=0, min_zoom=0,
                   max_zoom=5, control_scale=False)
    folium.raster_layers.ImageOverlay(image=uri, bounds=[[-h * k, 0], [0, w * k]]).add_to(m)
    out = maps.show(m, key=key, returned_objects=["last_clicked"], height=460)
    click = (out or {}).get("last_clicked")
    if click and "lat" in click:
        return float(click["lng"]) / k, float(-click["lat"]) / k
    return None


def _photo(ws, session_id, author, lang) -> None:
    tr = _tr(lang)
    up = st.file_uploader(tr("paper.app.upload"), type=["jpg", "jpeg", "png", "tif", "tiff"],
                          key=f"{_STATE}_upload")
    if up is None:
        return
    data = up.getvalue()
    try:
        rgba = georef.read_image(data)
    except GisPlannerError as err:
        show_error(err)
        return
    h, w = rgba.shape[:2]
    st.caption(tr("paper.app.photo_size", w=w, h=h))
    pts_key = f"{_STATE}_points_{up.file_id if hasattr(up, 'file_id') else up.name}"
    if pts_key not in st.session_state:
        st.session_state[pts_key] = pd.DataFrame({"col": pd.Series(dtype="float"), "row": pd.Series(dtype="float"),
                                                  "x": pd.Series(dtype="float"), "y": pd.Series(dtype="float")})
    sheet_list = paper.sheets(ws, session_id=session_id) or paper.sheets(ws)
    sheet = None
    if sheet_list:
        sid = st.selectbox(tr("paper.app.sheet"), [s.sheet_id for s in sheet_list],
                           format_func=lambda i: next(f"{s.sheet_id} · 1:{s.scale:,} · {s.size} · {s.created[:10]}"
                                                      .replace(",", " ") for s in sheet_list if s.sheet_id == i),
                           key=f"{_STATE}_sheet_pick")
        sheet = next(s for s in sheet_list if s.sheet_id == sid)
        if st.button(tr("paper.app.find_marks"), key=f"{_STATE}_marks"):
            found = georef.detect_marks(rgba)
            marks = {mk["id"]: mk for mk in sheet.marks}
            rows = [{"col": found[i][0], "row": found[i][1], "x": marks[i]["x"], "y": marks[i]["y"]}
                    for i in sorted(found) if i in marks]
            if len(rows) < 4:
                st.warning(tr("paper.app.marks_missing", n=len(rows)))
            st.session_state[pts_key] = pd.DataFrame(rows, columns=["col", "row", "x", "y"])
    st.caption(tr("paper.app.click_help"))
    click = _photo_map(rgba, f"{_STATE}_photo_map", lang)
    if click is not None:
        st.caption(tr("paper.app.clicked", col=f"{click[0]:.1f}", row=f"{click[1]:.1f}"))
        if st.button(tr("paper.app.add_point"), key=f"{_STATE}_add"):
            df = st.session_state[pts_key]
            st.session_state[pts_key] = pd.concat([df, pd.DataFrame([{"col": click[0], "row": click[1],
                                                                      "x": np.nan, "y": np.nan}])],
                                                  ignore_index=True)
    edited = st.data_editor(st.session_state[pts_key], num_rows="dynamic", key=f"{_STATE}_editor_{pts_key}",
                            column_config={"col": tr("paper.app.col"), "row": tr("paper.app.row"),
                                           "x": tr("paper.app.x"), "y": tr("paper.app.y")},
                            width="stretch")
    kind = st.radio(tr("paper.app.kind"), ["auto", "affine", "projective"], horizontal=True,
                    format_func=lambda k: tr("paper.app.kind_auto") if k == "auto" else t(f"paper.kind.{k}", lang),
                    key=f"{_STATE}_kind")
    try:
        pixels, coords = georef.points_from_table(edited.to_dict("records"))
        if len(pixels) < 3:
            st.info(tr("paper.app.need_points"))
            return
        f = georef.fit(pixels, coords, kind=kind)
    except GisPlannerError as err:
        show_error(err)
        return
    st.markdown(tr("paper.app.fit", kind=t(f"paper.kind.{f.kind}", lang), n=len(pixels),
                   rms_px=f"{f.rms_px:.2f}", rms_m=f"{f.rms_m:.2f}"))
    if f.dof == 0:
        st.caption(tr("paper.app.no_check"))
    warn = float((paper.paper_rules(ws).get("georef") or {}).get("warn_rms_px", 5))
    if f.rms_px > warn:
        st.warning(t("paper.poor_fit", lang, rms_px=f"{f.rms_px:.1f}"))
    res = f.table()
    table(res.round({"col": 1, "row": 1, "x": 1, "y": 1, "residual_px": 2, "residual_m": 2}),
          {"point": "paper.app.point", "col": "paper.app.col", "row": "paper.app.row", "x": "paper.app.x",
           "y": "paper.app.y", "residual_px": "paper.app.residual_px", "residual_m": "paper.app.residual_m"})
    clip = st.checkbox(tr("paper.app.clip"), value=sheet is not None, disabled=sheet is None, key=f"{_STATE}_clip")
    if st.button(tr("paper.app.save"), type="primary", key=f"{_STATE}_save"):
        try:
            with st.spinner(tr("paper.app.saving")):
                rec = georef.save_overlay(ws, data, f, file_name=up.name, uploader=author, session_id=session_id,
                                          sheet_id=sheet.sheet_id if sheet else None,
                                          clip=sheet.extent if (clip and sheet is not None) else None)
            st.success(tr("paper.app.saved", id=rec["id"]))
            st.rerun()
        except GisPlannerError as err:
            show_error(err)


def _list(ws, session_id, lang) -> None:
    tr = _tr(lang)
    recs = georef.overlays(ws, session_id=session_id)
    if not recs:
        st.caption(tr("app.empty"))
        return
    df = pd.DataFrame({"file_name": [r.get("file_name") for r in recs],
                       "uploaded_at": [str(r.get("uploaded_at", ""))[:16].replace("T", " ") for r in recs],
                       "uploader": [r.get("uploader") for r in recs],
                       "kind": [t(f"paper.kind.{r.get('kind')}", lang) for r in recs],
                       "points": [len(r.get("points") or []) for r in recs],
                       "rms_px": [round(float(r.get("rms_px", 0)), 2) for r in recs],
                       "rms_m": [round(float(r.get("rms_m", 0)), 2) for r in recs]})
    table(df, {"file_name": "paper.app.file", "uploaded_at": "paper.app.uploaded_at",
               "uploader": "paper.app.uploader", "kind": "paper.app.kind", "points": "paper.app.points",
               "rms_px": "paper.app.residual_px", "rms_m": "paper.app.residual_m"})
    for r in recs[:3]:
        tif = Path(r["dir"]) / r["files"]["tif"]
        if tif.exists():
            st.download_button(tr("paper.app.download_tif", file=r.get("file_name", "")), tif.read_bytes(),
                               file_name=f"{Path(r.get('file_name', 'overlay')).stem}_georef.tif",
                               mime="image/tiff", key=f"{_STATE}_tif_{r['id']}")
