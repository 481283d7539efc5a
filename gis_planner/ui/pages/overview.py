"""Overview: the municipality, its layers with source and date, import warnings, a map."""
import pandas as pd
import streamlit as st

from gis_planner.report.fmt import fmt_date, fmt_number
from gis_planner.ui import cache, maps, state
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import md_table, table, warnings_list
from gis_planner.workspace import meta_text

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
info = cache.info(*cache.key(ws))
meta = info["meta"]

st.title(md_escape(meta_text(meta, "name", lang) or ws.root.name))
where = [meta_text(meta, k, lang) for k in ("district", "oblast") if meta.get(k)]
if where:
    st.caption(md_escape(", ".join(where)))
if meta.get("synthetic"):
    st.info(tr("core.synthetic_notice"), icon=":material/science:")

layers = info["layers"]
by_name = {lay["name"]: lay for lay in layers}
boundary = cache.read_layer(*cache.key(ws), "boundary")
c1, c2, c3, c4 = st.columns(4)
c1.metric(tr("core.layers"), len(layers))
c2.metric(tr("app.overview.parcels"), fmt_number(by_name.get("parcels", {}).get("features", 0), lang, 0))
c3.metric(tr("app.overview.area_ha"),
          fmt_number(boundary.geometry.area.sum() / 10_000, lang, 2) if boundary is not None else "—")
c4.metric(tr("core.dem"), tr("app.yes") if info.get("dem") else tr("app.no"))

# (key: on narrow screens the layer list goes under the map instead of scrolling sideways, widgets.compact_layout)
left, right = st.container(key="overview_main").columns([3, 2])
with left:
    root_, version_ = cache.key(ws)
    vector = st.toggle(tr("app.map.details"), value=False, help=tr("app.map.details_help"), key="overview_vector")
    m, notes = maps.overview_map(ws, lang, state.web_tiles(), vector)
    dense = not vector and maps.is_dense(root_, version_, "parcels")
    out = maps.show(m, key=f"overview_map_{int(vector)}", height=560, returned_objects=list(maps.CLICK_KEYS) if dense else [],
                    cache_key=("overview", root_, version_, lang, state.web_tiles(), vector))
    for title, shown, total in notes:
        st.caption(tr("app.map.capped", layer=title, shown=shown, total=total))
    if dense:   # parcels drawn as an image: a click is answered here (spatial index on the server)
        clicked = maps.newest_click(out, "overview_click")   # (a click on the boundary is an object click)
        if not clicked:
            st.caption(tr("app.map.click_hint"))
        else:
            hits = maps.feature_at(root_, version_, "parcels", clicked["lat"], clicked["lng"])
            if hits.empty:
                st.caption(tr("app.map.nothing_here"))
            for _, row in hits.head(3).iterrows():
                st.markdown(f"**{tr('app.map.clicked_parcel')}**")
                table(maps.feature_rows(root_, "parcels", row, lang),
                      {"field": "app.map.field", "value": "app.map.value"})
with right:
    st.subheader(tr("core.layers"))
    rows = [{"layer": maps.layer_title(lay["name"], lang, str(ws.root)), "features": lay["features"],
             "source": lay.get("source") or "", "date": lay.get("source_date") or "",
             "file": lay.get("original_file") or "", "crs": lay.get("original_crs") or "",
             "warnings": len(lay.get("warnings") or [])} for lay in layers]
    if info.get("dem"):
        d = info["dem"]
        rows.append({"layer": tr("core.dem"), "features": None, "source": d.get("source") or "",
                     "date": d.get("source_date") or "", "file": "dem.tif", "crs": d.get("crs") or "",
                     "warnings": 0})
    layer_rows = pd.DataFrame(rows)
    layer_rows["date"] = [fmt_date(d, lang).replace("-", "\u2011") for d in layer_rows["date"]]  # (no line break)
    # Markdown tables (the grid widget's code would delay the first page): the short list here, the
    # provenance in full width below
    md_table(layer_rows, {"layer": "core.layer", "features": "core.features", "date": "core.date"})
    missing = info.get("missing_standard_layers") or []
    if missing:
        st.caption(tr("app.overview.missing") + ": " +
                   md_escape(", ".join(maps.layer_title(n, lang, str(ws.root)) for n in missing)))
    st.caption(tr("core.crs") + ": " + md_escape(info.get("crs") or "—"))

with st.expander(tr("app.overview.provenance")):
    md_table(layer_rows, {"layer": "core.layer", "source": "core.source", "date": "core.date",
                          "file": "app.overview.original_file", "crs": "app.overview.original_crs",
                          "warnings": "app.overview.n_warnings"})

warned = [lay for lay in layers if lay.get("warnings")]
if warned:
    st.subheader(tr("app.overview.warnings"))
    for lay in warned:
        with st.expander(f"{maps.layer_title(lay['name'], lang, str(ws.root))} — {len(lay['warnings'])}"):
            warnings_list(lay["warnings"])
