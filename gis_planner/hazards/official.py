"""Official hazard zones (emergency authorities' maps) next to computed ones; the official one governs.

``hazard_zones`` holds both kinds: rows with ``method == "official"`` come from imported maps (any
vector format GDAL reads, through the import module or :func:`import_official_zones`); all other
rows are computed by :mod:`gis_planner.hazards.susceptibility`. Recomputing never touches official
rows, and importing official maps never touches computed rows.

Where both exist for the same hazard type, reports show both (:func:`compare_official_computed`)
and the official zone governs (:func:`effective_hazard_zones`): the computed zone is cut away where an
official zone of the same type lies, and kept only outside official coverage.

Example
-------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> z = gpd.GeoDataFrame({"hazard_type": ["flood", "flood"], "level": ["low", "high"],
...                       "method": ["official", "hand_v1"], "source": ["MES", "gp"], "date": ["2024", "2026"]},
...                      geometry=[box(0, 0, 10, 10), box(5, 0, 20, 10)], crs=7695)
>>> eff = effective_hazard_zones(z)
>>> eff[["level", "basis"]].values.tolist(), [g.area for g in eff.geometry]
([['low', 'official'], ['high', 'computed']], [100.0, 100.0])
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalog import catalogue, load_rules
from ..errors import GisPlannerError
from ..text import normalize_key

OFFICIAL = "official"
ZONE_COLUMNS = ["hazard_type", "level", "method", "source", "date"]


def _empty(crs=None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in ZONE_COLUMNS},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def read_hazard_zones(ws) -> gpd.GeoDataFrame:
    """All rows of ``hazard_zones`` (official and computed) with their ``fid``; empty if the layer is missing."""
    if not ws.has_layer("hazard_zones"):
        return _empty(ws.crs)
    import pyogrio

    z = pyogrio.read_dataframe(ws.gpkg, layer="hazard_zones", fid_as_index=True, use_arrow=True)
    z = z.rename_axis("fid").reset_index()  # the GeoPackage feature id, for traceability (source_fid)
    for c in ZONE_COLUMNS:
        if c not in z:
            z[c] = None
    return z


def _zones(ws_or_gdf) -> gpd.GeoDataFrame:
    if isinstance(ws_or_gdf, gpd.GeoDataFrame):
        z = ws_or_gdf.copy()
        for c in ZONE_COLUMNS:
            if c not in z:
                z[c] = None
        return z
    return read_hazard_zones(ws_or_gdf)


def is_official(zones: gpd.GeoDataFrame) -> pd.Series:
    """Boolean Series: rows that are official zones."""
    if "method" not in zones:
        return pd.Series(False, index=zones.index)
    return zones["method"].astype("string").fillna("").str.strip().str.lower() == OFFICIAL


def split_zones(zones: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``(official, computed)`` rows of a hazard-zone frame."""
    off = is_official(zones)
    return zones[off], zones[~off]


def mark_official(gdf: gpd.GeoDataFrame, *, source: str, date: str | None = None, hazard_type: str | None = None,
                  level: str | None = None, file: str | None = None, workspace=None) -> gpd.GeoDataFrame:
    """Normalise an imported hazard map into ``hazard_zones`` rows with ``method = "official"``.

    Field names are recognised by the aliases of ``layers/workspace_schema.yaml`` (Kyrgyz, Russian or
    English names of the hazard-type and level fields) and values by the hazard-type and level
    catalogues of ``layers/hazards.yaml`` (any language, look-alike letters folded). ``hazard_type`` / ``level`` fill in a value missing from the
    file (a map of one hazard type, or one level). Unknown values raise a :class:`GisPlannerError`
    naming the file, the feature and the fix.
    """
    if gdf.crs is None:
        raise GisPlannerError("the hazard map has no CRS", file=file, fix="give the file a .prj or pass --crs",
                              code="missing_crs")
    schema = load_rules("workspace_schema", workspace)["layers"]["hazard_zones"]["fields"]
    by_key = {normalize_key(c): c for c in gdf.columns if c != gdf.geometry.name}
    mapped: dict[str, str] = {}
    for field, spec in schema.items():
        for alias in [field, *(spec.get("aliases") or [])]:
            col = by_key.get(normalize_key(alias))
            if col is not None and col not in mapped.values():
                mapped[field] = col
                break
    types = catalogue("hazards", workspace)
    levels = catalogue("hazards.levels", workspace)
    n = len(gdf)
    out = {}
    for field, cat, default in (("hazard_type", types, hazard_type), ("level", levels, level)):
        if default is not None and cat.lookup(default) is None:
            raise GisPlannerError(f"unknown {field} '{default}'", file=file,
                                  fix=f"use one of {', '.join(cat.codes)}", code=f"unknown_{field}")
        raw = gdf[mapped[field]] if field in mapped else pd.Series([None] * n, index=gdf.index)
        codes = []
        for fid, value in zip(gdf.index, raw):
            code = cat.lookup(value)
            if code is None:
                if value is not None and value == value and str(value).strip() != "" and default is None:
                    raise GisPlannerError(f"unknown {field} '{value}'", file=file, feature=fid,
                                          fix=f"use one of {', '.join(cat.codes)} (or pass --{field.replace('_', '-')})",
                                          code=f"unknown_{field}")
                code = cat.lookup(default) if default is not None else None
            if code is None:
                raise GisPlannerError(f"no {field} given", file=file, feature=fid,
                                      fix=f"add a {field} column or pass --{field.replace('_', '-')}",
                                      code=f"missing_{field}")
            codes.append(code)
        out[field] = codes
    geoms = shapely.make_valid(np.asarray(gdf.geometry.values, dtype=object))
    geoms = np.array([_polygonal(g) for g in geoms], dtype=object)
    res = gpd.GeoDataFrame({"hazard_type": out["hazard_type"], "level": out["level"], "method": OFFICIAL,
                            "source": source, "date": date or _dt.date.today().isoformat()},
                           geometry=gpd.GeoSeries(geoms, crs=gdf.crs), crs=gdf.crs)
    bad = pd.Series(shapely.is_empty(res.geometry.values) | shapely.is_missing(res.geometry.values), index=res.index)
    if bad.all() and n:
        raise GisPlannerError("the hazard map has no polygons", file=file,
                              fix="official zones must be polygons (areas)", code="bad_geometry")
    return res[~bad].reset_index(drop=True)


def _polygonal(g):
    """The polygonal part of a geometry (drops lines/points left by make_valid or clipping)."""
    if g is None or g.is_empty:
        return shapely.Polygon()
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def import_official_zones(ws, src, *, source: str, date: str | None = None, hazard_type: str | None = None,
                          level: str | None = None, layer: str | None = None,
                          replace: str = "source") -> dict:
    """Add an official hazard map to ``hazard_zones`` (computed rows are untouched).

    Parameters
    ----------
    src : path of any vector file GDAL reads (shp/zip, gpkg, geojson, kml …) or a GeoDataFrame
    source, date : provenance written on every row (authority and date of the map)
    hazard_type, level : values for a file that lacks the column
    layer : layer of a multi-layer file
    replace : ``"source"`` replaces earlier official rows with the same ``source`` (re-import of a
        revised map), ``"all"`` replaces every official row, ``"none"`` appends.

    Returns ``{"imported": n, "replaced": n, "kept": n}``.
    """
    from ..crs import metric_crs_for

    file = None
    if isinstance(src, gpd.GeoDataFrame):
        gdf = src
    else:
        import pyogrio

        from ..io.safety import check_input, check_path, nested_as_text

        file = str(src)
        check_path(src)  # no /vsi… path, URL, VRT, NetworkLink or crs link (docs/security.md)
        if not Path(src).exists():
            raise GisPlannerError("file not found", file=file, fix="check the path", code="missing_file")
        check_input(src)
        try:
            gdf = nested_as_text(pyogrio.read_dataframe(src, layer=layer))
        except Exception as exc:  # noqa: BLE001 - GDAL's message is the useful part
            raise GisPlannerError(f"cannot read the hazard map ({exc})", file=file,
                                  fix="give a vector file GDAL can open (shp, gpkg, geojson, kml)",
                                  code="bad_file") from None
    new = mark_official(gdf, source=source, date=date, hazard_type=hazard_type, level=level, file=file,
                        workspace=ws)
    crs = ws.crs or metric_crs_for(new.total_bounds, new.crs)
    new = new.to_crs(crs)
    existing = read_hazard_zones(ws)
    off = is_official(existing)
    if replace == "all":
        drop = off
    elif replace == "source":
        drop = off & (existing["source"].astype("string") == source).fillna(False)
    elif replace == "none":
        drop = pd.Series(False, index=existing.index)
    else:
        raise GisPlannerError(f"unknown replace mode '{replace}'", fix="use source, all or none", code="bad_option")
    keep = existing[~drop].drop(columns="fid", errors="ignore")  # the GeoPackage assigns new fids
    frames = [f.to_crs(crs) for f in (keep, new) if len(f)]
    merged = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs) if frames \
        else new
    ws.write_layer("hazard_zones", merged, source="gis_planner hazards (computed) + official imports",
                   source_date=date, original_file=Path(file).name if file else None,
                   original_crs=gdf.crs.to_string() if gdf.crs is not None else None,
                   notes={"official_import": {"source": source, "date": date, "rows": int(len(new)),
                                              "replaced": int(drop.sum())}})
    return {"imported": int(len(new)), "replaced": int(drop.sum()), "kept": int(len(keep))}


def effective_hazard_zones(ws_or_gdf) -> gpd.GeoDataFrame:
    """The zones that govern: every official zone, plus computed zones outside official ones of the same type.

    Columns: ``hazard_type, level, method, source, date, basis`` (``official`` / ``computed``), ``fid``
    (the row of ``hazard_zones`` it comes from, when read from a workspace) and the geometry. Use this (not the raw layer) for restrictions, the balance and exposure.
    """
    zones = _zones(ws_or_gdf)
    off, comp = split_zones(zones)
    off = off.assign(basis="official")
    if len(comp) and len(off):
        cut = comp.geometry.values.copy()
        types = comp["hazard_type"].astype("string").to_numpy()
        for htype in pd.unique(types):
            cover = off[off["hazard_type"].astype("string") == htype]
            if not len(cover):
                continue
            union = shapely.union_all(shapely.make_valid(cover.geometry.values))
            sel = types == htype
            cut[sel] = shapely.difference(cut[sel], union)
        comp = comp.set_geometry(gpd.GeoSeries([_polygonal(g) for g in cut], index=comp.index, crs=comp.crs))
    comp = comp.assign(basis="computed")
    out = pd.concat([f for f in (off, comp) if len(f)] or [off], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=zones.crs)
    out = out[~(shapely.is_empty(out.geometry.values) | shapely.is_missing(out.geometry.values))].reset_index(drop=True)
    cols = ZONE_COLUMNS + ["basis"] + (["fid"] if "fid" in out else [])
    return out[cols + ["geometry"]]


def compare_official_computed(ws_or_gdf) -> pd.DataFrame:
    """Area (ha) per hazard type and level: official, computed, computed inside official, effective.

    Areas are of the union within each group (overlaps are never counted twice). Where a hazard
    type has official zones, ``effective_ha`` is official plus computed outside official coverage.
    """
    zones = _zones(ws_or_gdf)
    eff = effective_hazard_zones(zones)
    off, comp = split_zones(zones)
    rows = []
    keys = sorted(set(zip(zones["hazard_type"].astype(str), zones["level"].astype(str))))
    for htype, level in keys:
        def area(frame):
            sel = frame[(frame["hazard_type"].astype(str) == htype) & (frame["level"].astype(str) == level)]
            return shapely.union_all(sel.geometry.values) if len(sel) else shapely.Polygon()

        o, c, e = area(off), area(comp), area(eff)
        cover = off[off["hazard_type"].astype(str) == htype]
        cover_u = shapely.union_all(cover.geometry.values) if len(cover) else shapely.Polygon()
        rows.append({"hazard_type": htype, "level": level, "official_ha": o.area / 1e4,
                     "computed_ha": c.area / 1e4,
                     "computed_in_official_ha": shapely.intersection(c, cover_u).area / 1e4,
                     "effective_ha": e.area / 1e4})
    return pd.DataFrame(rows, columns=["hazard_type", "level", "official_ha", "computed_ha",
                                       "computed_in_official_ha", "effective_ha"])
