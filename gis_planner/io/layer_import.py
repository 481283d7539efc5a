"""``import_layer``: read a user's file, normalise it to a standard layer, validate, repair, write.

Decisions (what a land specialist expects; see docs/import.md):

* **No CRS** → error naming the file and suggesting ``--crs`` (with the likely EPSG from the
  coordinates). Exception: a CSV whose columns are *named* lon/lat (longitude/latitude or their Kyrgyz/Russian names) and hold
  degrees is GPS data and is taken as EPSG:4326 with a warning.
* **Swapped lat/lon** → fixed automatically, with a warning (it is unambiguous for Kyrgyzstan).
* **Invalid geometry** → repaired (``make_valid``), listed with ids and the area before/after.
* **Empty/null/unusable geometry** → dropped, listed with ids. Nothing usable left → error.
* **Unknown or empty value of a required catalogue field** (the land category of a parcel) → error
  listing the values and feature ids, because the land balance would silently lose that land;
  ``allow_unknown=True`` imports them with an empty value and lists them. Unknown values of optional
  catalogue fields (land type, owner type …) are stored empty and listed.
* **Duplicate cadastral numbers and overlapping parcels** → warnings with ids (and overlap area):
  real cadastre extracts contain them and the specialist must see them, not be blocked by them.
* **Areas** are computed in the workspace's Kyrg-06 zone after reprojection.

* **An existing, non-empty layer** is never replaced unasked: ``mode="replace"`` (``--replace``)
  replaces it, ``mode="append"`` (``--append``) adds the new features after the old ones and reports
  cadastral numbers and geometries that are already in the layer; without either the import is
  refused (a dry run only warns).
* **Read errors** (a truncated ``.shp``, corrupt records, features the file announces but GDAL could
  not deliver) refuse the import, listing the records; ``accept_drops=True`` (``--accept-drops``)
  imports the readable features and lists every dropped record in the report.
* **Fields the analyses expect** (``expected: true`` in the schema, e.g. the use status) that no
  source field matches are warned about, naming the source fields that look like candidates.
* **Unknown codes** of a catalogue field are stored empty (never as the label) with the source text
  kept in ``<field>_src``, and listed in the report.

An import that fails raises :class:`GisPlannerError` before anything is written; the write itself
is atomic (:meth:`Workspace.write_layers`), so the workspace is never half-changed.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from typing import Any, Callable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..catalog import load_rules
from ..crs import metric_crs_for
from ..errors import GisPlannerError
from ..text import iso_date
from ..workspace import Workspace, standard_layers
from .boundary import admin_field_map, clip_to_boundary
from .normalise import GEOMETRY_KEYS, map_fields, normalise_attributes, parse_field_map
from .precision import layer_precision
from .readers import FID_NOTE, read_source
from .report import ImportReport, _ids, _values
from .validate import (check_geographic_range, check_kyrg06_zone, clean_geometries, detect_swapped,
                       find_duplicates, find_overlaps, outside_kyrgyzstan, outside_polygon, parse_crs,
                       suggest_crs, swap_xy)

SRC_FID = "src_fid"


def _check_date(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    try:
        return iso_date(value).isoformat()
    except ValueError:
        raise GisPlannerError(f"--date '{value}' is not a date",
                              fix="write the date of the data as YYYY-MM-DD, e.g. 2025-01-31",
                              code="bad_date") from None


def _layer_spec(layer: str, ws) -> dict:
    schema = standard_layers() if ws is None else load_rules("workspace_schema", ws)["layers"]
    spec = schema.get(layer)
    importable = [n for n, d in schema.items() if not d.get("derived")]
    if spec is None:
        raise GisPlannerError(f"--layer '{layer}' is not a standard layer",
                              fix=f"use one of: {', '.join(importable)}", code="bad_layer")
    if spec.get("derived"):
        raise GisPlannerError(f"--layer '{layer}' is computed by gis_planner, not imported",
                              fix=f"import one of: {', '.join(importable)}", code="bad_layer")
    return spec


def _geometry_kind(spec: dict) -> str:
    g = str(spec.get("geometry") or "any")
    for base in ("Polygon", "LineString", "Point"):
        if base.lower() in g.lower():
            return base
    return "any"


def import_layer(ws, layer: str, path: str | os.PathLike, field_map: Mapping | list | None = None,
                 crs: Any = None, source: str | None = None, source_date: Any = None,
                 dry_run: bool = False, *, src_layer: str | None = None, encoding: str | None = None,
                 allow_unknown: bool = False, keep_extra: bool = True, scale: Any = None,
                 accuracy_m: float | None = None, mode: str = "new", accept_drops: bool = False,
                 progress: Callable[[str, int, int], None] | None = None) -> ImportReport:
    """Import a vector file into a standard workspace layer, with validation and repair.

    Parameters
    ----------
    ws : Workspace or path
        The workspace (its CRS is chosen from the data if it has none yet).
    layer : str
        Standard layer name (``parcels``, ``boundary``, ``protected_areas`` …).
    path : path
        GeoPackage, Shapefile (``.shp`` or ``.zip``), GeoJSON, KML/KMZ, CSV (WKT or lon/lat), or any
        vector format GDAL reads.
    field_map : dict or list of "canonical=SOURCE", optional
        Explicit field choices; ``wkt``/``lon``/``lat`` name CSV geometry columns.
    crs : EPSG code / text, optional
        CRS of the file when it declares none; if it declares another one, this replaces it (warned).
    source, source_date : str, optional
        Provenance: where the data come from and their date (``YYYY-MM-DD``). Default source: the file name.
    dry_run : bool
        Do everything but write.
    src_layer : str, optional
        Layer inside a GeoPackage/KML or the file inside a ZIP.
    encoding : str, optional
        Force the text encoding (Shapefile DBF, CSV).
    allow_unknown : bool
        Import features whose required catalogue value (e.g. land category) is unknown or empty,
        storing it empty (listed in the report) instead of failing.
    keep_extra : bool
        Keep source fields that match no canonical field (under their own names).
    scale, accuracy_m : optional
        Source map scale (``"1:10000"``) or positional accuracy in metres, stored in the provenance
        (``notes.precision``); estimated from the vertex spacing when neither is given
        (:mod:`gis_planner.io.precision`).
    mode : ``"new"``, ``"replace"`` or ``"append"``
        What to do when the layer already holds features: ``new`` refuses (error ``layer_exists``),
        ``replace`` replaces them, ``append`` keeps them and adds the new features (duplicate
        cadastral numbers and identical geometries are reported).
    accept_drops : bool
        Import a file with read errors (truncated/corrupt records), dropping and listing them.
    progress : callable, optional
        ``progress(step, done, total)`` called at every step (``read``, ``crs``, ``attributes``,
        ``geometry``, ``checks``, ``write``), for a progress bar.

    Returns
    -------
    ImportReport
        Also stored as the layer's provenance ``notes``.

    Examples
    --------
    >>> import tempfile, os, geopandas as gpd
    >>> from shapely.geometry import box
    >>> d = tempfile.mkdtemp()
    >>> ws = Workspace.create(os.path.join(d, "ws"), name="Demo", crs=7695)
    >>> f = os.path.join(d, "p.geojson")
    >>> gpd.GeoDataFrame({"CAD_NUM": ["1-1"], "CATEGORY": ["reserve land"]},
    ...     geometry=[box(4300000, 4720000, 4300100, 4720100)], crs=7695).to_file(f)
    >>> rep = import_layer(ws, "parcels", f, source_date="2025-01-01")
    >>> rep.features_imported, f"{rep.area_ha_total:.4f}", rep.field_mapping["category"]
    (1, '1.0000', 'CATEGORY')
    """
    if not isinstance(ws, Workspace):
        ws = Workspace(ws)
    if mode not in IMPORT_MODES:
        raise GisPlannerError(f"unknown import mode '{mode}'", fix=f"use one of: {', '.join(IMPORT_MODES)}",
                              code="bad_option")
    spec = _layer_spec(layer, ws)
    existing_n = _feature_count(ws, layer)
    step = _stepper(progress)
    step("read")
    fields = spec.get("fields") or {}
    kind = _geometry_kind(spec)
    rules = load_rules("import", ws)
    checks = rules.get("checks") or {}
    fmap = parse_field_map(field_map)
    geometry_columns = {k: fmap[k] for k in GEOMETRY_KEYS if k in fmap}
    source_date = _check_date(source_date)

    raw = read_source(path, src_layer=src_layer, encoding=encoding, ws=ws, target_layer=layer,
                      geometry_columns=geometry_columns)
    label = raw.file
    gdf = raw.gdf
    rep = ImportReport(layer=layer, file=label, driver=raw.driver, src_layers=list(raw.src_layers),
                       encoding=raw.encoding, encoding_source=raw.encoding_source,
                       features_read=int(len(gdf)), source=source or label, source_date=source_date,
                       fid_meaning=FID_NOTE.get(raw.driver, "fid"), dry_run=dry_run)
    rep.mode = mode
    rep.existing_features = existing_n
    if existing_n and mode == "new":
        rep.warn("layer_exists", layer=layer, n=existing_n)
    for note in raw.notes:
        rep.warn(note["code"], **note.get("params", {}))
    if raw.read_errors:
        errs = raw.read_errors
        reasons = sorted(set(errs.values()))
        rep.read_errors = [{"fid": f, "reason": r} for f, r in errs.items()]
        if not accept_drops:
            raise GisPlannerError(
                f"{len(errs)} of {len(gdf) + sum(1 for r in errs.values() if r == 'not_read')} records "
                f"cannot be read ({', '.join(reasons)}): the file is damaged or incomplete",
                file=label, feature=_ids(list(errs), 10),
                fix="copy the complete file again (all of .shp .shx .dbf), or pass --accept-drops to import "
                    "the readable features and list the dropped ones; nothing was written",
                code="read_errors", details={"records": {str(k): v for k, v in list(errs.items())[:1000]},
                                             "count": len(errs)})
        for fid, reason in errs.items():
            raw.dropped[fid] = f"read_{reason}"
        present = set(gdf.index)
        gdf = gdf.drop(index=[f for f in errs if f in present])
        rep.warn("read_errors_accepted", len(errs), n=len(errs), ids=list(errs),
                 reasons=[f"read_{r}" for r in reasons])
    if len(gdf) == 0:
        raise GisPlannerError("the file holds no features", file=label,
                              fix="check that you exported the right layer (see --src-layer)", code="no_features")

    geoms0 = np.asarray(gdf.geometry.values)
    if (shapely.is_missing(geoms0) | shapely.is_empty(geoms0)).all():
        raise GisPlannerError("the file has no geometries (only attributes)", file=label,
                              feature=_ids(sorted(raw.dropped)) if raw.dropped else None,
                              fix="export the layer with its geometry (for a CSV: a WKT column or lon/lat columns)",
                              code="no_geometry")

    # ---------------------------------------------------------------- CRS
    step("crs")
    file_crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    if crs is not None and crs != "":
        given = parse_crs(crs, label)
        if file_crs is not None and file_crs != given:
            rep.warn("crs_overridden", file_crs=file_crs.to_string(), crs=given.to_string())
        gdf = gdf.set_crs(given, allow_override=True)
        rep.crs_source = "option"
    elif file_crs is None:
        if raw.crs_assumed:
            gdf = gdf.set_crs(raw.crs_assumed)
            rep.crs_source = "assumed"
            rep.warn("crs_assumed", crs=raw.crs_assumed)
        else:
            geoms = np.asarray(gdf.geometry.values)
            live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
            hint = suggest_crs(shapely.total_bounds(geoms[live])) if live.any() else None
            raise GisPlannerError("the file has no coordinate reference system (no .prj / CRS)", file=label,
                                  fix=f"pass the CRS of the coordinates with --crs"
                                      f"{' (they look like ' + hint + ')' if hint else ' EPSG:…'}",
                                  code="missing_crs", details={"suggested_crs": _epsg_in(hint)})
    else:
        rep.crs_source = "file"
    rep.original_crs = CRS.from_user_input(gdf.crs).to_string()

    if detect_swapped(gdf):
        gdf = gdf.set_geometry(gpd.GeoSeries(swap_xy(np.asarray(gdf.geometry.values)), index=gdf.index,
                                             crs=gdf.crs))
        rep.swapped_axes = True
        rep.warn("swapped_axes")
    check_geographic_range(gdf, label)
    check_kyrg06_zone(gdf, label)

    # ---------------------------------------------------------------- attributes
    step("attributes")
    dbf_len = int((rules.get("shapefile") or {}).get("dbf_field_name_length", 10)) if raw.dbf else None
    attr_cols = [c for c in gdf.columns if c != gdf.geometry.name]
    if layer == "boundary":   # GADM / HDX COD-AB level fields (NAME_2, ADM3_KY …): the deepest level is the unit
        fmap = {**admin_field_map(attr_cols, ws), **fmap}
    fm = map_fields(attr_cols, fields, fmap, dbf_name_length=dbf_len, file=label)
    missing_req = [f for f in fm.missing if (fields[f] or {}).get("required")]
    if missing_req:
        f0 = missing_req[0]
        raise GisPlannerError(
            f"no field for the required '{f0}' (fields in the file: {', '.join(map(str, attr_cols)) or 'none'})",
            file=label, fix=f"name the source field with --field-map {f0}=FIELD, or add its name to the "
                            f"aliases of '{f0}' in layers/workspace_schema.yaml", code="missing_field",
            details={"field": f0, "columns": [str(c) for c in attr_cols]})
    attrs, fnd = normalise_attributes(gdf.drop(columns=[gdf.geometry.name]), fields, fm, workspace=ws,
                                      bool_words=rules.get("boolean"), keep_extra=keep_extra)
    rep.field_mapping = {k: str(v) for k, v in fm.mapping.items()}
    rep.field_match = dict(fm.how)
    rep.missing_fields = list(fm.missing)
    rep.extra_fields = [c for c in attrs.columns if c not in fields]
    for fname in fm.missing:
        if (fields[fname] or {}).get("expected"):
            cands = candidate_fields(fname, fields[fname] or {}, fm.unmapped)
            if cands:
                rep.warn("expected_field_missing", field=fname, candidates=cands)
            elif fm.unmapped:
                # nothing looks like it: the unused fields of the file are the candidates left
                rep.warn("expected_field_absent", field=fname, fields=[str(c) for c in fm.unmapped])
            else:
                rep.warn("expected_field_none", field=fname)

    # ---------------------------------------------------------------- geometry
    step("geometry")
    geoms = np.asarray(gdf.geometry.values)
    live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    ws_crs = ws.crs
    if ws_crs is None:
        bounds = shapely.total_bounds(geoms[live]) if live.any() else (0, 0, 0, 0)
        ws_crs = metric_crs_for(bounds, gdf.crs)
    rep.workspace_crs = ws_crs.to_string()
    geo = gpd.GeoDataFrame(attrs, geometry=gdf.geometry.values, crs=gdf.crs, index=gdf.index)
    if CRS.from_user_input(geo.crs) != ws_crs:
        geo = geo.to_crs(ws_crs)
    geo, repaired, dropped = clean_geometries(geo, kind, raw.dropped)
    # records the file announced but GDAL never delivered have no row: list them as dropped too
    seen = {d["fid"] for d in dropped} | set(geo.index)
    dropped += [{"fid": f, "reason": r} for f, r in raw.dropped.items()
                if str(r).startswith("read_") and f not in seen]
    rep.repaired, rep.dropped = repaired, dropped
    if len(geo) == 0:
        reasons = sorted({d["reason"] for d in dropped})
        raise GisPlannerError(f"no usable features: all {len(dropped)} were dropped ({', '.join(reasons)})",
                              file=label, feature=_ids([d["fid"] for d in dropped]),
                              fix=f"check that the file holds {kind} features for layer '{layer}' "
                                  f"and that the CRS is right", code="no_features")
    # findings about features that are dropped anyway (no geometry) would only be noise
    kept = {_int(i) for i in geo.index}
    fnd.unknown = {f: g for f, g in ((f, _keep_groups(g, kept)) for f, g in fnd.unknown.items()) if g}
    fnd.bad_values = {f: g for f, g in ((f, _keep_groups(g, kept)) for f, g in fnd.bad_values.items()) if g}
    fnd.missing_required = {f: ids for f, ids in ((f, [i for i in v if i in kept])
                                                    for f, v in fnd.missing_required.items()) if ids}
    for fname, groups in fnd.unknown.items():
        spec_f = fields[fname] or {}
        if spec_f.get("required") and not allow_unknown:
            ids = [i for g in groups.values() for i in g]
            raise GisPlannerError(
                f"unknown values of '{fname}' ({spec_f.get('catalogue')}) in field '{fm.mapping[fname]}': "
                f"{_values(groups)}",
                file=label, feature=_ids(ids, 10),
                fix=f"correct them, add the spelling to the aliases in layers/{spec_f.get('catalogue')}.yaml "
                    f"(or the workspace's layers/ override), or pass --allow-unknown to import them empty",
                code="unknown_category", details={"field": fname, "values": groups})
    for fname, ids in fnd.missing_required.items():
        spec_f = fields[fname] or {}
        if spec_f.get("catalogue") and not allow_unknown:
            raise GisPlannerError(
                f"the required field '{fm.mapping[fname]}' ({fname}) is empty for {len(ids)} features",
                file=label, feature=_ids(ids, 10),
                fix="fill it in, or pass --allow-unknown to import these features with an empty value",
                code="missing_value", details={"field": fname, "ids": ids})
    if outside_kyrgyzstan(geo):
        rep.warn("outside_kyrgyzstan")
    elif layer != "boundary" and ws.has_layer("boundary"):
        outside = outside_polygon(geo, ws.read_layer("boundary", columns=[]))
        if outside:
            rep.outside_boundary = outside
            rep.warn("outside_boundary", len(outside), n=len(outside), ids=outside)

    # ---------------------------------------------------------------- precision, clipping
    rep.precision = layer_precision(np.asarray(geo.geometry.values), scale=scale, accuracy_m=accuracy_m,
                                    metadata=raw.metadata, ws=ws)
    if rep.precision.get("how") in ("estimated", "metadata"):
        rep.warn(f"precision_{rep.precision['how']}", accuracy=f"{rep.precision['accuracy_m']:g}",
                 spacing=f"{rep.precision.get('spacing_m') or 0:g}", scale=rep.precision.get("scale") or "")
    if layer != "boundary" and ws.meta().get("clip_to_boundary") and ws.has_layer("boundary"):
        geo, rep.clipped = clip_to_boundary(geo, ws.read_layer("boundary", columns=[]), layer, ws)
        out_ids = [_int(i) for i in rep.clipped["outside"]]
        rep.clipped["outside"] = out_ids
        # the clip says it all (the outside check above counts a parcel touching the edge as inside)
        rep.warnings = [w for w in rep.warnings if w["code"] != "outside_boundary"]
        if rep.clipped["share_pct"] > 0:
            rep.warn(f"clipped_{rep.clipped['measure']}", share=f"{rep.clipped['share_pct']:.2f}",
                     margin=f"{rep.clipped['margin_m']:g}")
        if out_ids:
            rep.warn("clipped_outside", len(out_ids), n=len(out_ids), ids=out_ids)
        if len(geo) == 0:
            raise GisPlannerError("every feature lies outside the municipal boundary", file=label,
                                  fix="check that the file is for this municipality and that its CRS is right",
                                  code="outside_boundary")

    # ---------------------------------------------------------------- findings
    step("checks")
    garr = np.asarray(geo.geometry.values)
    area = np.asarray(shapely.area(garr), dtype=float) / 10_000.0
    rep.features_imported = int(len(geo))
    rep.geometry_counts, rep.area_ha_total, rep.length_km_total = measure(garr)
    key = spec.get("key")
    if key and key in geo.columns:
        rep.duplicates = find_duplicates(geo[key])
        if kind == "Polygon":
            rep.overlaps = find_overlaps(geo, key, float(checks.get("overlap_min_m2", 1.0)))
    rep.unknown_values = fnd.unknown
    rep.missing_required = fnd.missing_required
    rep.bad_values = fnd.bad_values
    if kind == "Polygon" and "area_doc_ha" in geo.columns:
        doc = geo["area_doc_ha"].to_numpy(dtype=float, na_value=np.nan)
        rel_tol = float(checks.get("area_mismatch_rel", 0.10))
        abs_tol = float(checks.get("area_mismatch_abs_ha", 0.01))
        diff = np.abs(area - doc)
        bad = np.isfinite(doc) & (doc > 0) & (diff > rel_tol * doc) & (diff > abs_tol)
        keys = geo[key].astype(object).to_numpy() if key and key in geo.columns else [None] * len(geo)
        rep.area_mismatch = [{"fid": _int(geo.index[i]), "key": None if pd.isna(keys[i]) else keys[i],
                              "area_doc_ha": round(float(doc[i]), 6), "area_ha": round(float(area[i]), 6)}
                             for i in np.flatnonzero(bad)]

    _warn_findings(rep, checks)
    if source_date is None:
        rep.warn("no_source_date")

    geo.insert(len(geo.columns) - 1, SRC_FID, [_int(i) for i in geo.index])
    geo = geo.reset_index(drop=True)
    source_text = rep.source
    if mode == "append" and existing_n:
        old = ws.read_layer(layer)
        if CRS.from_user_input(old.crs) != CRS.from_user_input(geo.crs):
            old = old.to_crs(geo.crs)
        rep.append_duplicates = append_duplicates(old, geo, key)
        if rep.append_duplicates.get("keys"):
            d = rep.append_duplicates["keys"]
            rep.warn("append_duplicate_keys", len(d), n=len(d), values=d)
        if rep.append_duplicates.get("geometries"):
            d = rep.append_duplicates["geometries"]
            rep.warn("append_duplicate_geometries", len(d), n=len(d), ids=d)
        prev = (ws.provenance(layer) or {}).get("source") if hasattr(ws, "provenance") else None
        source_text = f"{prev}; {rep.source}" if prev and prev != rep.source else rep.source
        geo = gpd.GeoDataFrame(pd.concat([old, geo], ignore_index=True), geometry=geo.geometry.name, crs=geo.crs)
    if existing_n and mode == "new" and not dry_run:
        # checked after the file (its own problems come first), before anything is written
        raise GisPlannerError(
            f"layer '{layer}' already holds {existing_n} features: the import would replace them",
            file=str(path), fix="pass --replace to replace the layer, or --append to add to it "
                                "(the layer is kept unchanged)", code="layer_exists",
            details={"layer": layer, "features": existing_n})
    if not dry_run:
        step("write")
        ws.write_layer(layer, geo, source=source_text, source_date=source_date, original_file=label,
                       original_crs=rep.original_crs,
                       notes=rep.to_dict(max_listed=int(checks.get("max_listed", 1000))))
        rep.written = True
    step("done")
    return rep


IMPORT_MODES = ("new", "replace", "append")
STEPS = ("read", "crs", "attributes", "geometry", "checks", "write", "done")


def _stepper(progress):
    def step(name: str) -> None:
        if progress is not None:
            progress(name, STEPS.index(name) + 1, len(STEPS))
    return step


def _feature_count(ws, layer: str) -> int:
    """Features in a workspace layer (0 if the layer is missing)."""
    if not ws.has_layer(layer):
        return 0
    import pyogrio

    try:
        return int(pyogrio.read_info(ws.gpkg, layer=layer).get("features") or 0)
    except Exception:  # noqa: BLE001 - a table without geometry: count its rows
        return int(len(ws.read_layer(layer)))


def measure(geoms: np.ndarray) -> tuple[dict, float, float]:
    """``({"polygon": n, "line": n, "point": n}, area_ha of polygons, length_km of lines)``.

    Every geometry family gets its own measure: a lake polygon has an area, a river line a length,
    a well point neither (it is counted).

    >>> from shapely.geometry import box, LineString, Point
    >>> measure(np.array([box(0, 0, 100, 100), LineString([(0, 0), (3000, 4000)]), Point(1, 1)]))
    ({'polygon': 1, 'line': 1, 'point': 1}, 1.0, 5.0)
    """
    geoms = np.asarray(geoms, dtype=object)
    tid = shapely.get_type_id(geoms)
    poly = np.isin(tid, [3, 6])
    line = np.isin(tid, [1, 2, 5])
    point = np.isin(tid, [0, 4])
    coll = tid == 7
    area = float(shapely.area(geoms[poly | coll]).sum()) / 10_000.0 if (poly | coll).any() else 0.0
    length = float(shapely.length(geoms[line]).sum()) / 1000.0 if line.any() else 0.0
    counts = {"polygon": int(poly.sum()), "line": int(line.sum()), "point": int(point.sum())}
    if coll.any():
        counts["collection"] = int(coll.sum())
    return counts, round(area, 6), round(length, 6)


def append_duplicates(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, key: str | None) -> dict:
    """What an append would duplicate: ``{"keys": {value: [new src ids]}, "geometries": [new src ids]}``.

    A key (cadastral number) already in the layer, and a geometry equal to one already in the layer
    (same shape, vertex order ignored), are listed by the source feature id of the new feature.

    >>> from shapely.geometry import box
    >>> o = gpd.GeoDataFrame({"k": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=7695)
    >>> n = gpd.GeoDataFrame({"k": ["a", "b"], "src_fid": [5, 6]}, geometry=[box(2, 0, 3, 1), box(0, 0, 1, 1)], crs=7695)
    >>> append_duplicates(o, n, "k")
    {'keys': {'a': [5]}, 'geometries': [6]}
    """
    out: dict = {"keys": {}, "geometries": []}
    ids = new[SRC_FID].tolist() if SRC_FID in new.columns else list(new.index)
    if key and key in old.columns and key in new.columns:
        have = set(old[key].dropna().astype(str).str.strip())
        for fid, v in zip(ids, new[key]):
            if v is not None and not pd.isna(v) and str(v).strip() in have:
                out["keys"].setdefault(str(v).strip(), []).append(_int(fid))
    og = np.asarray(old.geometry.values, dtype=object)
    ng = np.asarray(new.geometry.values, dtype=object)
    if len(og) and len(ng):
        ni, oi = shapely.STRtree(og).query(ng, predicate="intersects")
        if len(ni):
            same = shapely.equals(ng[ni], og[oi])
            out["geometries"] = [_int(ids[i]) for i in sorted(set(ni[same].tolist()))]
    return out


def candidate_fields(fname: str, spec: Mapping, columns) -> list[str]:
    """Source columns that look like ``fname`` (by its aliases), best first (for a missing-field warning).

    >>> candidate_fields("use_status", {"aliases": ["использование"]}, ["ИСП_СТАТ", "GEOM_AREA"])
    ['ИСП_СТАТ']
    """
    import difflib

    from ..text import normalize_key

    names = [normalize_key(a) for a in [fname, *(spec.get("aliases") or [])]]
    scored = []
    for c in columns:
        k = normalize_key(c)
        if not k:
            continue
        best = max(max(difflib.SequenceMatcher(None, k, a).ratio(), 0.75 if a.startswith(k[:3]) else 0)
                   for a in names)
        if best >= 0.5:
            scored.append((-best, str(c)))
    return [c for _, c in sorted(scored)][:5]


def _epsg_in(hint: str | None) -> str | None:
    """The EPSG code in a CRS suggestion ('EPSG:7695', 'a UTM zone, e.g. EPSG:32643'), or None."""
    m = re.search(r"EPSG:\d+", hint or "")
    return m.group(0) if m else None


def _keep_groups(groups: dict, kept: set) -> dict:
    out = {}
    for value, ids in groups.items():
        ids = [i for i in ids if i in kept]
        if ids:
            out[value] = ids
    return out


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return str(v)


def _warn_findings(rep: ImportReport, checks: Mapping) -> None:
    if rep.repaired:
        rep.warn("repaired", len(rep.repaired), n=len(rep.repaired), ids=[r["fid"] for r in rep.repaired])
    if rep.dropped:
        rep.warn("dropped", len(rep.dropped), n=len(rep.dropped), ids=[d["fid"] for d in rep.dropped],
                 reasons=sorted({d["reason"] for d in rep.dropped}))
    if rep.duplicates:
        rep.warn("duplicates", len(rep.duplicates), n=len(rep.duplicates), values=rep.duplicates)
    if rep.overlaps:
        total = sum(o["overlap_ha"] for o in rep.overlaps)
        pairs = [f"{o['fid_a']}×{o['fid_b']} {o['overlap_ha']:.4f}" for o in rep.overlaps[:5]]
        rep.warn("overlaps", len(rep.overlaps), n=len(rep.overlaps), area=f"{total:.4f}", pairs=pairs)
    for fname, groups in rep.unknown_values.items():
        n = sum(len(v) for v in groups.values())
        rep.warn("unknown_values", n, field=fname, n=n, values=groups)
    for fname, ids in rep.missing_required.items():
        rep.warn("missing_required", len(ids), field=fname, n=len(ids), ids=ids)
    for fname, groups in rep.bad_values.items():
        n = sum(len(v) for v in groups.values())
        rep.warn("bad_values", n, field=fname, n=n, values=groups)
    if rep.area_mismatch:
        rel = f"{float(checks.get('area_mismatch_rel', 0.10)) * 100:.0f}%"
        rep.warn("area_mismatch", len(rep.area_mismatch), n=len(rep.area_mismatch), rel=rel,
                 ids=[a["fid"] for a in rep.area_mismatch])
