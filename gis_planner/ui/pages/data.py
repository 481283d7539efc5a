"""Data: upload a file, check the archive, choose the target layer, the coordinate system and (for a CSV)
the geometry columns, map its fields, see the validation report, import it; download the workspace
GeoPackage. A thin shell over gis_planner.io.import_layer.

An upload error is shown as a message and the rest of the page (the download) stays; an import that
replaces an existing layer needs an explicit confirmation; the import itself is all-or-nothing.
"""
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import streamlit as st
from pyproj import CRS

from gis_planner.catalog import load_rules
from gis_planner.errors import GisPlannerError
from gis_planner.i18n import t
from gis_planner.io import import_layer, map_fields, read_source, safe_extract
from gis_planner.io.validate import suggest_crs
from gis_planner.report.fmt import fmt_number
from gis_planner.text import normalize_key
from gis_planner.ui import cache, maps, state
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import file_uploader, table, warnings_list
from gis_planner.ui.workspaces import upload_root

UPLOAD_MAX_MB = 100          # per file (the browser refuses more); server.maxUploadSize (200 MB) is the outer limit
TYPES = ["zip", "gpkg", "geojson", "json", "kml", "kmz", "csv", "gpx", "dxf", "osm", "pbf", "geojsons", "geojsonl"]
# a FileGDB (.gdb folder) is uploaded zipped (.gdb.zip)
NONE = "—"                   # "no column" in the pickers
OTHER = "other"              # "another EPSG code" in the CRS list
# coordinate systems offered for a file without one: GPS lon/lat, Kyrg-06 zones 1-5, UTM zones 42-44 N
COMMON_CRS = ["EPSG:4326", "EPSG:7692", "EPSG:7693", "EPSG:7694", "EPSG:7695", "EPSG:7696",
              "EPSG:32642", "EPSG:32643", "EPSG:32644"]
# warnings whose library text names a CLI option: the app says it with its own controls

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
root = str(ws.root)

st.title(tr("app.page.data"))
schema = load_rules("workspace_schema", root)["layers"]
targets = [n for n, d in schema.items() if not d.get("derived")]


def _stage_folder(data_id: str, name: str) -> Path:
    """The private folder of one upload (same for every run of the page, so the read stays cached)."""
    import hashlib

    return upload_root() / hashlib.sha256(f"{data_id}\0{name}".encode()).hexdigest()[:20]


def _stage(name: str, size: int, data_id: str, _data: bytes) -> str:
    """Save an upload in its private folder under a safe name; returns its path. The folder is removed at the
    end of every run of the page (:func:`_unstage`): an upload stays on the server's disk only while it is read."""
    safe = re.sub(r"[^\w.\-]+", "_", Path(name).name, flags=re.UNICODE).lstrip(".") or "upload"
    folder = _stage_folder(data_id, name)
    folder.mkdir(exist_ok=True)
    path = folder / safe
    path.write_bytes(_data)
    return str(path)


def _unstage(up) -> None:
    shutil.rmtree(_stage_folder(up.file_id, up.name), ignore_errors=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def _read(path: str, src_layer: str | None, target: str | None, geometry_columns: tuple, root: str,
          encoding: str | None = None):
    """The uploaded file as read by the library (errors are not cached)."""
    return read_source(path, src_layer=src_layer, ws=root, target_layer=target,
                       geometry_columns=dict(geometry_columns) or None, encoding=encoding)


def _crs_name(code: str) -> str:
    try:
        return f"{code} · {CRS.from_user_input(code).name}"
    except Exception:  # noqa: BLE001 - a label only
        return code


def _suggested_crs(raw) -> str | None:
    geoms = np.asarray(raw.gdf.geometry.values)
    live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not live.any():
        return None
    m = re.search(r"EPSG:\d+", suggest_crs(shapely.total_bounds(geoms[live])) or "")
    return m.group(0) if m else None


def _geometry_family(raw) -> str | None:
    types = raw.gdf.geometry.geom_type.dropna()
    if types.empty:
        return None
    top = str(types.value_counts().idxmax())
    return next((k for k in ("Polygon", "LineString", "Point") if k in top), None)


def _guess_target(raw, columns: list) -> str | None:
    """The layer the file most likely is: its name (file or layer in it) is a layer's name, or exactly one
    layer of a matching geometry has all its required fields and at least two fields in the file."""
    names = {normalize_key(Path(raw.file).stem)} | {normalize_key(s) for s in raw.src_layers}
    named = [n for n in targets if normalize_key(n) in names]
    if len(named) == 1:
        return named[0]
    fam = _geometry_family(raw)
    scores = {}
    for n in targets:
        spec = schema[n]
        g = str(spec.get("geometry") or "any")
        if fam and g != "any" and fam.lower() not in g.lower():
            continue
        fields = spec.get("fields") or {}
        fm = map_fields(columns, fields, dbf_name_length=10 if raw.dbf else None)
        if any((s or {}).get("required") and f not in fm.mapping for f, s in fields.items()):
            continue
        scores[n] = len(fm.mapping)
    best = max(scores.values(), default=0)
    winners = [n for n, s in scores.items() if s == best]
    return winners[0] if best >= 2 and len(winners) == 1 else None


def _keep_option(key: str, options: list) -> None:
    """Forget a picker's value that is not among its options any more (another file was uploaded)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def _geometry_choice() -> dict:
    """CSV geometry columns chosen in the picker (``wkt`` or ``lon``+``lat``), as the field map names them."""
    pick = {k: st.session_state.get(f"data_geom_{k}") for k in ("wkt", "lon", "lat")}
    pick = {k: v for k, v in pick.items() if v and v != NONE}
    if "wkt" in pick:
        return {"wkt": pick["wkt"]}
    if "lon" in pick and "lat" in pick:
        return {"lon": pick["lon"], "lat": pick["lat"]}
    return {}


def _geometry_picker(columns: list) -> None:
    st.subheader(tr("app.data.geom"))
    opts = [NONE, *[str(c) for c in columns]]
    cols = st.columns(3)
    for col, k in zip(cols, ("wkt", "lon", "lat")):
        _keep_option(f"data_geom_{k}", opts)
        col.selectbox(tr(f"app.data.geom_{k}"), opts, key=f"data_geom_{k}",
                      format_func=lambda c: tr("app.data.geom_auto") if c == NONE else c)


def _encoding_picker(options: list, previews: dict) -> None:
    """The detector could not tell the text encoding: the user picks the one whose text reads right."""
    opts = [NONE, *[str(o) for o in options]]
    _keep_option("data_encoding", opts)
    st.selectbox(tr("app.data.encoding"), opts, key="data_encoding",
                 format_func=lambda c: tr("app.data.crs_choose") if c == NONE else f"{c} — «{previews.get(c, '')}»")


def _src_layer_picker(options: list) -> None:
    opts = [NONE, *[str(o) for o in options]]
    _keep_option("data_src_layer", opts)
    st.selectbox(tr("app.data.src_layer"), opts, key="data_src_layer",
                 format_func=lambda c: tr("app.data.crs_choose") if c == NONE else c)


class _CrsPicker:
    """The coordinate system of the file: the file's own, or one chosen from a list (the EPSG code suggested
    by the coordinates first) or typed. Its value is read before the import runs and the widgets are drawn
    afterwards (in a slot reserved above the buttons), so a refusal for a missing CRS can preselect the
    code the error suggests: the user sees it and imports again."""

    def __init__(self, raw):
        file_crs = raw.gdf.crs
        self.declared = CRS.from_user_input(file_crs).to_string() if file_crs is not None else raw.crs_assumed
        self.suggested = None if self.declared else _suggested_crs(raw)
        self.options = ["", *([self.suggested] if self.suggested else []),
                        *[c for c in COMMON_CRS if c != self.suggested], OTHER]
        _keep_option("data_crs", self.options)
        self.slot = st.container()

    def value(self) -> str | None:
        pick = st.session_state.get("data_crs", "")
        if pick == OTHER:
            return str(st.session_state.get("data_crs_code") or "").strip() or None
        return pick or None

    def preselect(self, err: GisPlannerError) -> None:
        """After a refusal for a missing CRS: choose the code the error suggests (if the user chose none)."""
        hint = (err.details or {}).get("suggested_crs")
        if err.code == "missing_crs" and hint in self.options and not st.session_state.get("data_crs"):
            st.session_state["data_crs"] = hint

    def _label(self, c: str) -> str:
        if c == "":
            return tr("app.data.crs_file", crs=self.declared) if self.declared else tr("app.data.crs_choose")
        if c == OTHER:
            return tr("app.data.crs_other")
        if c == self.suggested:
            return tr("app.data.crs_suggested", crs=_crs_name(c))
        return _crs_name(c)

    def draw(self) -> None:
        with self.slot:
            chosen = st.session_state.get("data_crs")
            if self.declared is None and (not chosen or (chosen == OTHER and
                                                         not str(st.session_state.get("data_crs_code") or "").strip())):
                st.warning(tr("app.data.no_crs"), icon=":material/public_off:")   # until one is chosen
            c1, c2 = st.columns(2)
            pick = c1.selectbox(tr("app.data.crs"), self.options, key="data_crs", format_func=self._label,
                                help=tr("app.data.crs_help"))
            if pick == OTHER:
                c2.text_input(tr("app.data.crs_code"), key="data_crs_code", max_chars=60)


def _show_report(rep, layer: str) -> None:
    key = "io.summary_dry_run" if rep.dry_run else "io.summary"
    head = t(key, lang, n=rep.features_imported, read=rep.features_read, layer=maps.layer_title(layer, lang, root),
             area=fmt_number(rep.area_ha_total, lang, 2))
    (st.success if rep.written else st.info)(md_escape(head))
    header = f"{t('core.warning', lang)}:"
    body = [line for line in rep.lines(lang)[1:] if line != header and not line.startswith("  - ")]
    st.markdown("\n".join(f"- {md_escape(line)}" for line in body))
    if rep.warnings:
        st.subheader(tr("app.data.report"))
        warnings_list(rep.warnings)


def _upload_section(up) -> None:
    """Everything about one uploaded file; an error ends this section, not the page."""
    if up.size > UPLOAD_MAX_MB * 1024 * 1024:
        st.error(tr("app.data.too_big", mb=UPLOAD_MAX_MB))
        return
    path = Path(_stage(up.name, up.size, up.file_id, up.getvalue()))
    names = {str(path): up.name}            # error messages name the user's file, never the server's path
    if path.name != up.name:
        names[path.name] = up.name
    if path.suffix.lower() in (".zip", ".kmz"):
        # archive check before anything reads it: no path traversal, no links, no zip bombs
        probe = Path(tempfile.mkdtemp(prefix="gp-zipcheck-"))
        try:
            files = safe_extract(path, probe)
            st.caption(tr("app.data.zip_ok", n=len(files)))
        except GisPlannerError as err:
            show_error(err, names)
            return
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    geom = _geometry_choice()
    src_layer = st.session_state.get("data_src_layer")
    src_layer = None if src_layer in (None, NONE) else src_layer
    target0 = st.session_state.get("data_target") or None
    encoding = st.session_state.get("data_encoding")
    encoding = None if encoding in (None, NONE) else encoding
    try:
        raw = _read(str(path), src_layer, target0, tuple(sorted(geom.items())), root, encoding)
    except GisPlannerError as err:
        show_error(err, names)
        if err.code in ("no_geometry_column", "bad_field_map") and err.details.get("columns"):
            _geometry_picker(err.details["columns"])
        elif err.code == "choose_layer" and err.details.get("options"):
            st.session_state["data_src_options"] = list(err.details["options"])
            _src_layer_picker(err.details["options"])
        elif err.code == "encoding_unsure" and err.details.get("candidates"):
            st.session_state["data_encoding_options"] = (list(err.details["candidates"]),
                                                         dict(err.details.get("previews") or {}))
            _encoding_picker(*st.session_state["data_encoding_options"])
        return
    if encoding and st.session_state.get("data_encoding_options"):
        _encoding_picker(*st.session_state["data_encoding_options"])
    if src_layer and st.session_state.get("data_src_options"):
        _src_layer_picker(st.session_state["data_src_options"])
    columns = [c for c in raw.gdf.columns if c != raw.gdf.geometry.name]
    if raw.driver == "CSV":
        _geometry_picker([*columns, *raw.geometry_columns.values()])

    guess = _guess_target(raw, columns)
    c1, c2, c3 = st.columns(3)
    opts = ["", *targets]
    layer = c1.selectbox(tr("app.data.target"), opts, index=opts.index(guess) if guess else 0, key="data_target",
                         format_func=lambda n: maps.layer_title(n, lang, root) if n else tr("app.data.choose_target"))
    if guess and layer == guess:
        c1.caption(tr("app.data.target_guessed", layer=maps.layer_title(guess, lang, root)))
    source = c2.text_input(tr("core.source"), value=up.name, max_chars=200, key="data_source")
    sdate = c3.date_input(tr("core.date"), value=None, format="DD.MM.YYYY", key="data_date")
    crs_picker = _CrsPicker(raw)
    try:
        _mapping_and_import(up, path, names, raw, columns, layer, source, sdate, src_layer, geom, crs_picker)
    finally:
        crs_picker.draw()


def _mapping_and_import(up, path, names, raw, columns, layer, source, sdate, src_layer, geom, crs_picker) -> None:
    crs = crs_picker.value()

    chosen = {}
    if layer:
        fields = schema[layer].get("fields") or {}
        auto = map_fields(columns, fields, dbf_name_length=10 if raw.dbf else None, file=raw.file).mapping
        st.subheader(tr("app.data.mapping"))
        st.caption(tr("app.data.mapping_help", n=len(raw.gdf)))
        cols = st.columns(3)
        for i, (fname, spec) in enumerate(fields.items()):
            fopts = [NONE, *columns]
            default = fopts.index(auto[fname]) if auto.get(fname) in fopts else 0
            label = maps.field_title(fname, lang) + (" *" if spec.get("required") else "")
            pick = cols[i % 3].selectbox(label, fopts, index=default, key=f"data_map_{layer}_{fname}")
            if pick != NONE:
                chosen[fname] = pick
    with st.expander(tr("app.data.sample")):
        table(pd.DataFrame(raw.gdf.drop(columns=raw.gdf.geometry.name)).head(20).astype(str))
    allow_unknown = st.checkbox(tr("app.data.allow_unknown"), key="data_allow_unknown")

    confirmed = False
    if not layer:
        st.info(tr("app.data.target_needed"))
    else:
        title = maps.layer_title(layer, lang, root)
        present = {li["name"]: li["features"] for li in cache.info(*cache.key(ws))["layers"]}
        if layer in present:
            st.warning(tr("app.data.replace_warning", layer=title, n=present[layer]), icon=":material/warning:")
            confirm_key = f"data_confirm_replace_{layer}"
            if st.session_state.pop("data_unconfirm", None) == confirm_key:   # a replace was written: untick
                st.session_state[confirm_key] = False
            confirmed = st.checkbox(tr("app.data.replace_confirm", layer=title), key=confirm_key)
        else:
            st.info(tr("app.data.new_layer", layer=title))
            confirmed = True
    b1, b2 = st.columns(2)
    check_it = b1.button(tr("app.data.check"), key="data_check", disabled=not layer)
    do_import = b2.button(tr("app.data.import"), type="primary", key="data_import", disabled=not (layer and confirmed))
    do_import = bool(do_import and layer and confirmed)      # a disabled button never writes
    done = st.session_state.pop("data_done", None)           # the report of the import just written
    if done is not None and not (check_it or do_import):
        _show_report(*done)
    if not layer or not (check_it or do_import):
        return
    try:
        bar = st.progress(0.0, text=tr("app.computing"))

        def step(name, done, total):   # a large file takes a while: say which step runs
            bar.progress(done / total, text=tr("importsafe.progress", step=tr(f"importsafe.step.{name}"),
                                                done=done, total=total))

        try:
            rep = import_layer(ws, layer, path, field_map={**chosen, **geom}, crs=crs, source=source or None,
                               source_date=sdate.isoformat() if sdate else None, dry_run=not do_import,
                               src_layer=src_layer, allow_unknown=allow_unknown,
                               encoding=raw.encoding if raw.encoding_source == "user" else None,
                               mode="replace",   # the replace confirmation above was ticked
                               progress=step)
        finally:
            bar.empty()
    except GisPlannerError as err:
        show_error(err, names)
        crs_picker.preselect(err)
        return
    if rep.written:
        cache.clear()
        # rerun at once: the confirmation is drawn unticked (a second click must not replace the layer
        # again unasked), the page shows the new layer, and the report is shown there
        st.session_state["data_unconfirm"] = f"data_confirm_replace_{layer}"
        st.session_state["data_done"] = (rep, layer)
        st.rerun()
    _show_report(rep, layer)


st.subheader(tr("app.data.upload"))
st.caption(tr("app.data.upload_help", mb=UPLOAD_MAX_MB))
up = file_uploader(tr("app.data.file"), TYPES, "data_upload", UPLOAD_MAX_MB)
if up is not None:
    try:
        _upload_section(up)
    except Exception as exc:  # noqa: BLE001 - shown as a message; the download below stays on the page
        show_error(exc)
    finally:
        _unstage(up)  # the uploaded copy never outlives the run that reads or imports it (docs/security.md)

st.divider()
st.subheader(tr("app.data.download"))
info = cache.info(*cache.key(ws))
st.caption(tr("app.data.download_help", n=len(info["layers"])))


gpkg_name = re.sub(r"[^\w.-]+", "_", ws.root.name) + ".gpkg"
gpkg_path = ws.gpkg
# read when clicked (a real cadastre is tens of MB; writes replace the file whole, so a read sees one version)
st.download_button(tr("app.data.download_file", name=gpkg_name), gpkg_path.read_bytes, file_name=gpkg_name,
                   mime="application/geopackage+sqlite3", key="data_dl_gpkg")
