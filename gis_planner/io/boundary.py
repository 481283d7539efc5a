"""A workspace for a real municipality in one step (``gis-planner init WS --boundary FILE --where …``).

* :func:`admin_field_map` recognises the fields of administrative-boundary datasets — GADM
  (``NAME_2``, ``GID_2``), HDX/OCHA COD-AB (``ADM3_KY``, ``ADM3_RU``, ``ADM3_PCODE``), geoBoundaries
  (``shapeName``, ``shapeID``) — from ``layers/workspace_schema.yaml`` (``boundary.admin_levels``): the
  deepest level in the file is the unit, the level above its district, level 1 its oblast.
* :func:`select_unit` picks the ayil aimak (or rayon) with ``--where FIELD=VALUE`` (a source field, or
  ``name``/``code``/``district``/``oblast``; ``name`` matches the names in every language). No match or
  several matches is refused with the list of candidates; nothing is created.
* :func:`init_from_boundary` creates the workspace in the unit's Kyrg-06 zone, stores the boundary,
  records that later imports are clipped to it (:func:`clip_to_boundary`), takes the DEM from a file or
  the bundled GEBCO grid, and imports rivers from a file or derives them from the DEM (marked derived).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..catalog import load_rules
from ..crs import metric_crs_for
from ..errors import GisPlannerError
from ..text import normalize_key
from ..workspace import GPKG_NAME, Workspace

DERIVED_RIVERS_SOURCE = "derived from the workspace DEM (D8 flow accumulation, gis_planner.hazards.rivers)"


# ------------------------------------------------------------------------------------------ fields
def admin_field_map(columns, ws=None) -> dict:
    """Canonical boundary field -> source column for GADM / HDX COD-AB style files (``{}`` if none).

    >>> admin_field_map(["GID_0", "NAME_1", "GID_2", "NAME_2", "TYPE_2"])
    {'name': 'NAME_2', 'code': 'GID_2', 'oblast': 'NAME_1'}
    >>> admin_field_map(["ADM3_EN", "ADM3_KY", "ADM3_RU", "ADM3_PCODE", "ADM2_EN", "ADM1_EN"])
    {'name': 'ADM3_KY', 'name_ru': 'ADM3_RU', 'code': 'ADM3_PCODE', 'district': 'ADM2_EN', 'oblast': 'ADM1_EN'}
    """
    spec = (load_rules("workspace_schema", ws)["layers"]["boundary"].get("admin_levels") or {})
    keyed = {normalize_key(c): c for c in columns}

    def first(patterns, n):
        for p in patterns:
            c = keyed.get(normalize_key(p.format(n=n)))
            if c is not None:
                return c
        return None

    for n in range(int(spec.get("max_level", 4)), 0, -1):
        name = first(spec.get("name") or [], n)
        if name is not None:
            break
    else:
        return {}
    out = {"name": name}
    ru = first(spec.get("name_ru") or [], n)
    if ru is not None and ru != name:
        out["name_ru"] = ru
    code = first(spec.get("code") or [], n)
    if code is not None:
        out["code"] = code
    if n - 1 >= 2:
        d = first(spec.get("name") or [], n - 1)
        if d is not None:
            out["district"] = d
    if n >= 2:
        o = first(spec.get("name") or [], 1)
        if o is not None:
            out["oblast"] = o
    return out


def boundary_fields(columns, ws=None) -> dict:
    """Every canonical boundary field found in ``columns``: admin levels first, then the aliases."""
    from .normalise import map_fields

    schema = load_rules("workspace_schema", ws)["layers"]["boundary"]["fields"]
    auto = admin_field_map(columns, ws)
    fm = map_fields(list(columns), schema, auto)
    return dict(fm.mapping)


# ------------------------------------------------------------------------------------------ selection
def parse_where(items) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if "=" not in str(item):
            raise GisPlannerError(f"--where '{item}' is not FIELD=VALUE",
                                  fix="write e.g. --where NAME_2=Ton or --where ADM3_PCODE=KG04020001", code="bad_where")
        k, v = str(item).split("=", 1)
        if not k.strip() or not v.strip():
            raise GisPlannerError(f"--where '{item}' is not FIELD=VALUE",
                                  fix="write e.g. --where NAME_2=Ton", code="bad_where")
        out.append((k.strip(), v.strip()))
    return out


def _describe(row: pd.Series, fmap: dict) -> str:
    parts = [str(row[fmap[k]]) for k in ("name", "name_ru", "code", "district", "oblast")
             if k in fmap and row.get(fmap[k]) is not None and str(row[fmap[k]]).strip()]
    return " / ".join(dict.fromkeys(parts))


def select_unit(gdf: gpd.GeoDataFrame, where: list[tuple[str, str]], fmap: dict, label: str,
                max_listed: int = 30) -> gpd.GeoDataFrame:
    """The one feature matching every ``(field, value)`` (case/look-alike-insensitive)."""
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    ok = np.ones(len(gdf), bool)
    for fld, value in where:
        want = normalize_key(value)
        src = [c for c in cols if c == fld] or [c for c in cols if normalize_key(c) == normalize_key(fld)]
        if not src:
            canon = normalize_key(fld)
            if canon == "name":
                src = [fmap[k] for k in ("name", "name_ru") if k in fmap]
            elif canon in {normalize_key(k) for k in fmap}:
                src = [fmap[k] for k in fmap if normalize_key(k) == canon]
        if not src:
            raise GisPlannerError(f"--where {fld}=…: no field '{fld}' in the file (fields: {', '.join(map(str, cols))})",
                                  file=label, fix="use one of these fields, or name/code/district/oblast",
                                  code="bad_where", details={"columns": [str(c) for c in cols]})
        hit = np.zeros(len(gdf), bool)
        for c in src:
            hit |= gdf[c].map(lambda v: v is not None and normalize_key(v) == want).to_numpy(bool)
        ok &= hit
    n = int(ok.sum())
    if n == 1:
        return gdf[ok]
    pool = gdf[ok] if n > 1 else gdf
    names = [_describe(r, fmap) or str(i) for i, r in pool.iterrows()]
    listed = "; ".join(names[:max_listed]) + (f"; … (+{len(names) - max_listed})" if len(names) > max_listed else "")
    cond = " and ".join(f"{k}={v}" for k, v in where)
    if not where:
        problem = f"the file holds {len(gdf)} units, which one? {listed}"
        fix = "choose one with --where FIELD=VALUE, e.g. --where name=" + (names[0].split(" / ")[0] if names else "…")
    elif n == 0:
        problem = f"no unit matches {cond}; the file holds: {listed}"
        fix = "correct the value (spelling as listed) or the field of --where"
    else:
        problem = f"{n} units match {cond}: {listed}"
        fix = "add another --where (e.g. code=… or district=…) to choose one"
    raise GisPlannerError(problem, file=label, fix=fix, code="choose_unit",
                          details={"candidates": names, "matched": n})


# ------------------------------------------------------------------------------------------ clipping
def clip_rules(ws=None) -> dict:
    return (load_rules("import", ws).get("clip") or {})


def clip_to_boundary(geo: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, layer: str, ws=None) -> tuple:
    """Cut ``geo`` to the boundary (plus the layer's margin, ``layers/import.yaml`` ``clip``).

    Returns ``(clipped frame, facts)``; ``facts`` give the share cut away (of the area for polygons, of
    the length for lines, of the count for points), the ids of features wholly outside (removed) and
    the margin used.
    """
    rules = clip_rules(ws)
    margin = float((rules.get("margin_m") or {}).get(layer, (rules.get("margin_m") or {}).get("default", 0.0)))
    area = shapely.union_all(np.asarray(boundary.geometry.values))
    if margin > 0:
        area = area.buffer(margin)
    shapely.prepare(area)
    geoms = np.asarray(geo.geometry.values)
    dims = shapely.get_dimensions(geoms)
    measure = np.where(dims == 2, shapely.area(geoms), np.where(dims == 1, shapely.length(geoms), 1.0))
    inside = shapely.within(geoms, area)
    cut = geoms.copy()
    todo = ~inside
    if todo.any():
        cut[todo] = shapely.intersection(geoms[todo], area)
    # keep only the layer's own dimension (a polygon touching the edge must not leave a line behind)
    for i in np.flatnonzero(todo):
        g = cut[i]
        if g is not None and not g.is_empty and g.geom_type == "GeometryCollection":
            parts = [p for p in shapely.get_parts(g) if shapely.get_dimensions(p) == dims[i]]
            cut[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    kept_measure = np.where(dims == 2, shapely.area(cut), np.where(dims == 1, shapely.length(cut),
                                                                    (~shapely.is_empty(cut)).astype(float)))
    empty = shapely.is_empty(cut) | (kept_measure <= 0)
    total = float(measure.sum())
    share = (1.0 - float(kept_measure[~empty].sum()) / total) * 100.0 if total > 0 else 0.0
    kind = "area" if (dims == 2).all() else "length" if (dims == 1).all() else "count"
    out = geo.copy()
    out = out.set_geometry(gpd.GeoSeries(cut, index=geo.index, crs=geo.crs))
    outside_ids = list(geo.index[empty])
    facts = {"share_pct": round(share, 3), "measure": kind, "outside": outside_ids,
             "margin_m": margin, "changed": int(todo.sum())}
    return out[~empty], facts


# ------------------------------------------------------------------------------------------ init
@dataclass
class InitResult:
    workspace: Workspace
    unit: dict = field(default_factory=dict)          # name, code … of the chosen unit
    boundary_report: object = None
    dem: dict = field(default_factory=dict)
    rivers: dict = field(default_factory=dict)
    crs: str = ""
    area_ha: float = 0.0


def init_from_boundary(folder: str | os.PathLike, boundary: str | os.PathLike, *, where=None,
                       name: str | None = None, src_layer: str | None = None, encoding: str | None = None,
                       crs=None, dem: str | os.PathLike | None = None, use_gebco: bool = True,
                       rivers: str | os.PathLike | None = None, derive: bool = True,
                       source_date: str | None = None, scale: str | None = None,
                       accuracy_m: float | None = None) -> InitResult:
    """Create a workspace for one unit of an administrative-boundary file (see module docstring)."""
    from .layer_import import import_layer
    from .readers import read_source
    from .validate import detect_swapped, swap_xy

    folder = Path(folder)
    if (folder / GPKG_NAME).exists():
        raise GisPlannerError("a workspace already exists here", file=str(folder),
                              fix="choose another folder or open the existing workspace", code="workspace_exists")
    raw = read_source(boundary, src_layer=src_layer, encoding=encoding, target_layer="boundary")
    gdf = raw.gdf
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    fmap = boundary_fields(cols)
    conds = parse_where(where)
    unit = select_unit(gdf, conds, fmap, raw.file)
    if crs:
        unit = unit.set_crs(crs, allow_override=True)
    if unit.crs is None:
        raise GisPlannerError("the boundary file has no coordinate reference system", file=raw.file,
                              fix="pass its CRS with --crs (GADM/geoBoundaries/HDX use EPSG:4326)", code="missing_crs")
    if detect_swapped(unit):
        unit = unit.set_geometry(gpd.GeoSeries(swap_xy(np.asarray(unit.geometry.values)), index=unit.index,
                                               crs=unit.crs))
    ws_crs = metric_crs_for(unit.total_bounds, unit.crs)
    row = unit.iloc[0]
    facts = {k: (None if pd.isna(row[c]) else str(row[c])) for k, c in fmap.items()}
    ws_name = name or facts.get("name") or folder.name
    meta = {k: v for k, v in (("name_ru", facts.get("name_ru")), ("code", facts.get("code")),
                              ("district", facts.get("district")), ("oblast", facts.get("oblast"))) if v}
    cond = ", ".join(f"{k}={v}" for k, v in conds)
    tmpdir = Path(tempfile.mkdtemp(prefix="gp-init-"))
    created = False
    existed = folder.exists()
    before = set(folder.iterdir()) if existed else set()
    try:
        src = tmpdir / "boundary.gpkg"
        unit.to_file(src, driver="GPKG")
        ws = Workspace.create(folder, name=ws_name, crs=ws_crs, **meta)
        created = True
        source = f"{raw.file}" + (f" ({cond})" if cond else "")
        rep = import_layer(ws, "boundary", src, field_map=fmap, source=source, source_date=source_date,
                           scale=scale, accuracy_m=accuracy_m)
        ws.set_meta(clip_to_boundary=True, boundary_source=source)
        res = InitResult(ws, unit=facts, boundary_report=rep, crs=ws_crs.to_string(), area_ha=rep.area_ha_total)
        if dem is not None or use_gebco:
            res.dem = set_dem_for_boundary(ws, dem)
        if rivers is not None:
            rrep = import_layer(ws, "water_bodies", rivers, source_date=source_date)
            res.rivers = {"imported": rrep.features_imported, "report": rrep}
        elif derive and ws.dem_path is not None:
            res.rivers = derive_rivers(ws)
        return res
    except BaseException:
        if created:   # nothing half-made is left behind: what this call created is removed
            if not existed:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                for p in set(folder.iterdir()) - before:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def set_dem_for_boundary(ws: Workspace, dem: str | os.PathLike | None = None) -> dict:
    """Cut the DEM (a file or GEBCO) to the workspace boundary and store it as the workspace DEM."""
    from .dem import prepare_dem

    rules = (load_rules("import", ws).get("init") or {})
    b = ws.read_layer("boundary", columns=[])
    tmp = Path(tempfile.mkdtemp(prefix="gp-dem-", dir=ws.root))
    try:
        out = tmp / "dem.tif"
        facts = prepare_dem(dem, b.total_bounds, ws.crs, out,
                            resolution_m=None if dem is not None else float(rules.get("gebco_resolution_m", 50)),
                            margin_m=float(rules.get("dem_margin_m", 2000)))
        ws.set_dem(out, source=facts["source"], notes=facts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return facts


def derive_rivers(ws: Workspace, *, min_catchment_km2: float | None = None, replace: bool = False) -> dict:
    """Trace the main rivers on the workspace DEM and store them as ``water_bodies`` (marked derived)."""
    import rasterio
    from rasterio.features import rasterize

    from ..hazards.rivers import trace_main_stems

    if ws.dem_path is None:
        raise GisPlannerError("the workspace has no DEM", file=str(ws.root),
                              fix="add one with `gis-planner dem set FILE` (or init --dem)", code="no_dem")
    kept = None                      # imported water polygons (lakes) stay, and are the streams' sinks
    old_notes: dict = {}
    if ws.has_layer("water_bodies"):
        prov = ws.provenance("water_bodies")
        old_notes = prov.get("notes") if isinstance(prov.get("notes"), dict) else {}
        if not old_notes.get("derived"):
            wb = ws.read_layer("water_bodies")
            lines_in = wb[~wb.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
            if len(lines_in) and not replace:
                raise GisPlannerError(f"the workspace's water_bodies already hold {len(lines_in)} imported "
                                      f"rivers/canals", file=str(ws.root),
                                      fix="keep them, or pass --replace to put derived rivers in their place "
                                          "(imported lakes are kept either way)", code="layer_exists")
            kept = wb[wb.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
            kept = kept if len(kept) else None
    rules = (load_rules("import", ws).get("derive_rivers") or {})
    min_km2 = float(min_catchment_km2 if min_catchment_km2 is not None else rules.get("min_catchment_km2", 4.0))
    river_km2 = float(rules.get("river_catchment_km2", 20.0))
    boundary = ws.read_layer("boundary", columns=[])
    area = shapely.union_all(np.asarray(boundary.geometry.values))
    with rasterio.open(ws.dem_path) as ds:
        z = ds.read(1).astype("float64")
        tr = ds.transform
        if ds.nodata is not None:
            z[z == ds.nodata] = np.nan
        shape = z.shape
    if np.isnan(z).any():
        z = np.where(np.isnan(z), np.nanmax(z), z)
    res = float(tr.a)
    sink = None
    if kept is not None:
        sink = rasterize(((g, 1) for g in kept.geometry), out_shape=shape, transform=tr).astype(bool)
    # trace_main_stems wants rows from south to north
    z_sn = z[::-1].copy()
    sink_sn = sink[::-1].copy() if sink is not None else None
    x0, y0 = tr.c, tr.f + tr.e * shape[0]
    lines = trace_main_stems(z_sn, x0, y0, res, area, min_catchment_km2=min_km2, sink_mask=sink_sn,
                             leaving=True, min_spacing_m=float(rules.get("min_spacing_m", 1000)))
    margin = float((clip_rules(ws).get("margin_m") or {}).get("water_bodies", 0.0))
    keep = area.buffer(margin) if margin else area
    rows = []
    for line, km2 in lines:
        g = shapely.intersection(line, keep)
        if g.is_empty or g.length <= 0:
            continue
        rows.append({"name": None, "water_type": "river" if km2 >= river_km2 else "stream",
                     "length_km": round(g.length / 1000.0, 3), "catchment_km2": round(km2, 2),
                     "derived": True, "geometry": g})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=ws.crs) if rows else gpd.GeoDataFrame(
        {"name": [], "water_type": [], "length_km": [], "catchment_km2": [], "derived": []},
        geometry=[], crs=ws.crs)
    # a channel traced on a DEM is placed no better than the DEM's own (source) cell
    dem_notes = ws.provenance("dem").get("notes") or {}
    dem_notes = dem_notes if isinstance(dem_notes, dict) else {}
    cell = float(dem_notes.get("source_resolution_m") or res)
    notes = {"derived": True, "method": DERIVED_RIVERS_SOURCE, "dem": ws.provenance("dem").get("source"),
             "precision": {"accuracy_m": round(max(cell, res), 1), "how": "dem_cell", "spacing_m": None},
             "min_catchment_km2": min_km2, "river_catchment_km2": river_km2, "lines": len(rows),
             "length_km": round(sum(r["length_km"] for r in rows), 3),
             "warnings": [{"code": "derived_rivers", "params": {"n": len(rows)}}]}
    source = DERIVED_RIVERS_SOURCE
    if kept is not None:     # the imported lakes stay; the layer says which features are derived
        lk = kept.copy()
        lk["derived"] = False
        frame = gpd.GeoDataFrame(pd.concat([lk, frame], ignore_index=True), geometry="geometry", crs=ws.crs)
        notes = {**old_notes, "derived": False, "derived_rivers": notes}
        source = f"{ws.provenance('water_bodies').get('source')}; rivers {DERIVED_RIVERS_SOURCE}"
    ws.write_layer("water_bodies", frame, source=source, source_date=None,
                   original_file=Path(ws.dem_path).name, original_crs=str(ws.crs), notes=notes)
    return {"derived": True, "n": len(rows), "length_km": notes["length_km"], "min_catchment_km2": min_km2}
