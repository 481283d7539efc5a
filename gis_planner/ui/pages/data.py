"""Data: upload a file, check the archive, map its fields, see the validation report, import it;
download the workspace GeoPackage. A thin shell over gis_planner.io.import_layer."""
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from gis_planner.catalog import load_rules
from gis_planner.errors import GisPlannerError
from gis_planner.io import import_layer, map_fields, read_source, safe_extract
from gis_planner.ui import cache, maps, state
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import file_uploader, table, warnings_list

UPLOAD_MAX_MB = 100          # per file (the browser refuses more); server.maxUploadSize (200 MB) is the outer limit
TYPES = ["zip", "gpkg", "geojson", "json", "kml", "kmz", "csv"]

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
root = str(ws.root)

st.title(tr("app.page.data"))
schema = load_rules("workspace_schema", root)["layers"]
targets = [n for n, d in schema.items() if not d.get("derived")]

st.subheader(tr("app.data.upload"))
st.caption(tr("app.data.upload_help", mb=UPLOAD_MAX_MB))
up = file_uploader(tr("app.data.file"), TYPES, "data_upload", UPLOAD_MAX_MB)


@st.cache_resource(max_entries=4, show_spinner=False)
def _stage(name: str, size: int, data_id: str, _data: bytes) -> str:
    """Save an upload in a private temporary folder under a safe name; returns its path."""
    safe = re.sub(r"[^\w.\-]+", "_", Path(name).name, flags=re.UNICODE).lstrip(".") or "upload"
    folder = Path(tempfile.mkdtemp(prefix="gp-upload-"))
    path = folder / safe
    path.write_bytes(_data)
    return str(path)


if up is not None:
    if up.size > UPLOAD_MAX_MB * 1024 * 1024:
        st.error(tr("app.data.too_big", mb=UPLOAD_MAX_MB))
        st.stop()
    path = Path(_stage(up.name, up.size, up.file_id, up.getvalue()))
    if path.suffix.lower() in (".zip", ".kmz"):
        # archive check before anything reads it: no path traversal, no links, no zip bombs
        probe = Path(tempfile.mkdtemp(prefix="gp-zipcheck-"))
        try:
            files = safe_extract(path, probe)
            st.caption(tr("app.data.zip_ok", n=len(files)))
        except GisPlannerError as err:
            show_error(err)
            st.stop()
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    c1, c2, c3 = st.columns(3)
    layer = c1.selectbox(tr("app.data.target"), targets, format_func=lambda n: maps.layer_title(n, lang, root),
                         key="data_target")
    source = c2.text_input(tr("core.source"), value=path.name, max_chars=200, key="data_source")
    sdate = c3.date_input(tr("core.date"), value=None, format="DD.MM.YYYY", key="data_date")
    raw = read_source(path, ws=ws, target_layer=layer)
    columns = [c for c in raw.gdf.columns if c != raw.gdf.geometry.name]
    fields = schema[layer].get("fields") or {}
    auto = map_fields(columns, fields, dbf_name_length=10 if raw.dbf else None, file=raw.file).mapping
    st.subheader(tr("app.data.mapping"))
    st.caption(tr("app.data.mapping_help", n=len(raw.gdf)))
    none = "—"
    chosen = {}
    cols = st.columns(3)
    for i, (fname, spec) in enumerate(fields.items()):
        opts = [none, *columns]
        default = opts.index(auto[fname]) if auto.get(fname) in opts else 0
        label = maps.field_title(fname, lang) + (" *" if spec.get("required") else "")
        pick = cols[i % 3].selectbox(label, opts, index=default, key=f"data_map_{layer}_{fname}")
        if pick != none:
            chosen[fname] = pick
    with st.expander(tr("app.data.sample")):
        table(pd.DataFrame(raw.gdf.drop(columns=raw.gdf.geometry.name)).head(20).astype(str))
    allow_unknown = st.checkbox(tr("app.data.allow_unknown"), key="data_allow_unknown")
    b1, b2 = st.columns(2)
    check_it = b1.button(tr("app.data.check"), key="data_check")
    do_import = b2.button(tr("app.data.import"), type="primary", key="data_import")
    if check_it or do_import:
        try:
            with st.spinner(tr("app.computing")):
                rep = import_layer(ws, layer, path, field_map=chosen, source=source or None,
                                   source_date=sdate.isoformat() if sdate else None, dry_run=not do_import,
                                   allow_unknown=allow_unknown)
            (st.success if rep.written else st.info)(md_escape(rep.lines(lang)[0]))
            if rep.written:
                cache.clear()
            st.markdown("\n".join(f"- {md_escape(line)}" for line in rep.lines(lang)[1:]
                                  if not line.startswith("  - ")))
            if rep.warnings:
                st.subheader(tr("app.data.report"))
                warnings_list(rep.warnings)
        except GisPlannerError as err:
            show_error(err)

st.divider()
st.subheader(tr("app.data.download"))
info = cache.info(*cache.key(ws))
st.caption(tr("app.data.download_help", n=len(info["layers"])))


@st.cache_data(max_entries=2, show_spinner=False)
def _gpkg(root: str, version: str) -> bytes:
    from gis_planner.workspace import Workspace

    return Workspace(root).gpkg.read_bytes()


gpkg_name = re.sub(r"[^\w.-]+", "_", ws.root.name) + ".gpkg"
st.download_button(tr("app.data.download_gpkg"), _gpkg(*cache.key(ws)), file_name=gpkg_name,
                   mime="application/geopackage+sqlite3", key="data_dl_gpkg")
