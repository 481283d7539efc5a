"""Geometry validation and repair for imports (vectorised shapely 2, spatial index for overlaps).

* CRS: the file's CRS, or ``crs=`` when the file has none (or to override a wrong one); a file with
  no CRS and no ``crs=`` is an error that suggests the likely CRS from the coordinates.
* Swapped axes: lat/lon written as lon/lat (a common CSV / EPSG:4326 axis-order mistake) is
  detected for Kyrgyzstan and fixed by swapping x and y, with a warning.
* Invalid geometries are repaired with :func:`shapely.make_valid` (``method="structure"`` for polygon
  layers, as QGIS «Fix geometries»); for polygon layers only the polygonal parts are kept.
* Null, empty, non-finite and wrong-type geometries are dropped (reported with ids).
* Overlaps between features of a layer with a key (parcels) are found with the STRtree and measured
  with one vectorised intersection over the candidate pairs.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ..crs import KYRG06_CENTRAL_MERIDIANS, WGS84, looks_swapped_lonlat
from ..errors import GisPlannerError

# generous lon/lat envelope of Kyrgyzstan (the same box crs.kyrg06_epsg uses) plus a margin
KG_BOX = (68.0, 38.5, 82.0, 44.0)
POLYGONAL = {"Polygon", "MultiPolygon"}
LINEAR = {"LineString", "MultiLineString", "LinearRing"}
PUNCTUAL = {"Point", "MultiPoint"}


def parse_crs(value, file: str | None = None) -> CRS:
    """``"EPSG:7695"``, ``"7695"``, ``7695``, WKT or PROJ text → CRS (GisPlannerError if not a CRS)."""
    if isinstance(value, CRS):
        return value
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return CRS.from_user_input(text)
    except Exception:  # noqa: BLE001 - pyproj raises CRSError and others
        raise GisPlannerError(f"'{value}' is not a coordinate reference system", file=file,
                              fix="give an EPSG code, e.g. --crs EPSG:4326 (GPS lon/lat) or --crs EPSG:7695 "
                                  "(Kyrg-06 zone 4)", code="bad_crs") from None


def suggest_crs(bounds) -> str | None:
    """A likely CRS for coordinates without one (for the error message), or None.

    >>> suggest_crs((77.0, 42.5, 77.2, 42.7))
    'EPSG:4326'
    >>> suggest_crs((4300000, 4720000, 4301000, 4721000))
    'EPSG:7695'
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return None
    if -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90:
        return "EPSG:4326"
    # Kyrg-06 zone n has false easting n*1 000 000 + 300 000 and northings of 4.2–4.9 million
    if 4_100_000 <= miny and maxy <= 5_000_000:
        zone = int(minx // 1_000_000)
        if 1 <= zone <= 5 and int(maxx // 1_000_000) == zone:
            return f"EPSG:{7691 + zone}"
        if 166_000 <= minx and maxx <= 834_000:
            return "a UTM zone, e.g. EPSG:32643"
    return None


def _inside_kg(x, y) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return (x >= KG_BOX[0]) & (x <= KG_BOX[2]) & (y >= KG_BOX[1]) & (y <= KG_BOX[3])


def swap_xy(geoms: np.ndarray) -> np.ndarray:
    """Swap x and y of every coordinate (vectorised)."""
    return shapely.transform(geoms, lambda c: c[:, ::-1].copy())


def detect_swapped(gdf: gpd.GeoDataFrame) -> bool:
    """True if the coordinates are lat/lon written as lon/lat (or northing/easting as easting/northing)
    for data in Kyrgyzstan.

    Geographic CRS: :func:`gis_planner.crs.looks_swapped_lonlat` on the bounds. Projected CRS: the
    centre is outside Kyrgyzstan as given but inside with x and y swapped.
    """
    geoms = gdf.geometry.values
    ok = ~(shapely.is_missing(np.asarray(geoms)) | shapely.is_empty(np.asarray(geoms)))
    if not ok.any():
        return False
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms)[ok])
    crs = CRS.from_user_input(gdf.crs)
    if crs.is_geographic:
        return looks_swapped_lonlat([minx, maxx], [miny, maxy])
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    try:
        tr = Transformer.from_crs(crs, WGS84, always_xy=True)
        lon, lat = tr.transform([cx, cy], [cy, cx])
    except Exception:  # noqa: BLE001
        return False
    inside = _inside_kg(lon, lat)
    return bool(not inside[0] and inside[1])


def check_geographic_range(gdf: gpd.GeoDataFrame, file: str) -> None:
    """A geographic CRS with coordinates beyond ±180/±90 is a wrong CRS: error with the likely fix."""
    crs = CRS.from_user_input(gdf.crs)
    if not crs.is_geographic:
        return
    geoms = np.asarray(gdf.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return
    minx, miny, maxx, maxy = shapely.total_bounds(geoms[ok])
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        coords = shapely.get_coordinates(geoms[ok])
        bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
        sugg = suggest_crs((minx, miny, maxx, maxy))
        fid = _first_bad_fid(gdf.index[ok], geoms[ok])
        raise GisPlannerError(
            f"coordinates such as ({coords[bad][0][0]:.1f}, {coords[bad][0][1]:.1f}) are not degrees although "
            f"the file says its CRS is {crs.to_string()}", file=file, feature=fid,
            fix=f"give the real CRS with --crs ({sugg})" if sugg else "give the real CRS with --crs EPSG:…",
            code="crs_mismatch")


def check_kyrg06_zone(gdf: gpd.GeoDataFrame, file: str) -> None:
    """Kyrg-06 eastings start with the zone number (false easting n·1 000 000 + 300 000): data whose
    eastings belong to another zone than the declared one is an error with the right EPSG as fix.
    """
    epsg = CRS.from_user_input(gdf.crs).to_epsg()
    if epsg not in KYRG06_CENTRAL_MERIDIANS:
        return
    geoms = np.asarray(gdf.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return
    minx, _, maxx, _ = shapely.total_bounds(geoms[ok])
    zone_min, zone_max = int(minx // 1_000_000), int(maxx // 1_000_000)
    declared = epsg - 7691
    if zone_min == zone_max and 1 <= zone_min <= 5 and zone_min != declared:
        raise GisPlannerError(
            f"the eastings ({minx:,.0f}…) belong to Kyrg-06 zone {zone_min}, but the CRS says zone {declared} "
            f"(EPSG:{epsg})", file=file, fix=f"import with --crs EPSG:{7691 + zone_min}", code="crs_mismatch")


def outside_polygon(gdf: gpd.GeoDataFrame, area: gpd.GeoDataFrame) -> list:
    """Ids of features that do not touch ``area`` (e.g. the municipality boundary), same CRS."""
    if area is None or len(area) == 0 or len(gdf) == 0:
        return []
    tree_idx, _ = area.sindex.query(np.asarray(gdf.geometry.values), predicate="intersects")
    hit = np.zeros(len(gdf), dtype=bool)
    hit[np.unique(tree_idx)] = True
    return [_fid(i) for i in gdf.index[~hit]]


def _first_bad_fid(index, geoms):
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    return _fid(index[idx[bad][0]]) if bad.any() else None


def _fid(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return str(v)


def clean_geometries(gdf: gpd.GeoDataFrame, geometry_kind: str, pre_dropped: dict | None = None):
    """Drop unusable geometries and repair invalid ones.

    Parameters
    ----------
    gdf : GeoDataFrame
        Features in a metric CRS; index = source feature ids.
    geometry_kind : str
        ``Polygon``, ``LineString``, ``Point`` or ``any`` (from the layer schema).
    pre_dropped : dict, optional
        ``fid -> reason`` from the reader (e.g. unparseable WKT), reported instead of ``empty``.

    Returns
    -------
    (GeoDataFrame, repaired, dropped)
        ``repaired`` is a list of ``{"fid", "reason", "area_ha_before", "area_ha_after"}``
        (areas for polygon layers), ``dropped`` a list of ``{"fid", "reason"}``.

    Examples
    --------
    >>> from shapely import Polygon
    >>> bow = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    >>> g = gpd.GeoDataFrame(geometry=[bow], crs=7695)
    >>> out, rep, drop = clean_geometries(g, "Polygon")
    >>> round(out.geometry.area.sum()), rep[0]["reason"][:17]
    (5000, 'Self-intersection')
    """
    pre_dropped = pre_dropped or {}
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    n = len(geoms)
    reason = np.full(n, None, dtype=object)
    missing = shapely.is_missing(geoms)
    empty = np.zeros(n, dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    for i in np.flatnonzero(missing | empty):
        reason[i] = pre_dropped.get(_fid(gdf.index[i]), "empty_geometry")
    live = ~(missing | empty)
    # drop Z/M: the workspace is 2-D (KML carries altitude 0)
    geoms = geoms.copy()
    if live.any():
        geoms[live] = shapely.force_2d(geoms[live])
        coords, idx = shapely.get_coordinates(geoms[live], return_index=True)
        finite = np.ones(int(live.sum()), dtype=bool)
        if len(coords):
            bad_pt = ~np.isfinite(coords).all(axis=1)
            if bad_pt.any():
                finite[np.unique(idx[bad_pt])] = False
        nonfinite = np.flatnonzero(live)[~finite]
        reason[nonfinite] = "coordinates_out_of_range"
        live[nonfinite] = False

    # wrong geometry family for the layer
    types = np.full(n, None, dtype=object)
    types[live] = shapely.get_type_id(geoms[live])
    allowed = {"Polygon": {3, 6}, "LineString": {1, 5}, "Point": {0, 4}}.get(geometry_kind)
    if allowed is not None:
        wrong = live & ~np.isin(types, list(allowed) + [7])  # 7 = collection, decided after repair
        reason[wrong] = "wrong_geometry_type"
        live &= ~wrong

    # repair invalid geometries
    repaired = []
    valid = np.ones(n, dtype=bool)
    valid[live] = shapely.is_valid(geoms[live])
    # collections are repaired/filtered like invalid ones for typed layers
    coll = live & (types == 7) & (allowed is not None)
    fix = live & (~valid | coll)
    if fix.any():
        idx = np.flatnonzero(fix)
        before = geoms[idx]
        reasons = shapely.is_valid_reason(before)
        if geometry_kind == "Polygon":
            after = shapely.make_valid(before, method="structure", keep_collapsed=False)
            after = polygonal_part(after)
        else:
            after = shapely.make_valid(before)
            if allowed is not None:
                after = _part_of_family(after, allowed)
        gone = shapely.is_missing(after) | shapely.is_empty(after)
        geoms[idx] = after
        area_before = shapely.area(before) / 10_000.0 if geometry_kind == "Polygon" else None
        area_after = shapely.area(after) / 10_000.0 if geometry_kind == "Polygon" else None
        for k, i in enumerate(idx):
            if gone[k]:
                reason[i] = "collapsed_after_repair"
                live[i] = False
                continue
            item = {"fid": _fid(gdf.index[i]), "reason": str(reasons[k]) if not valid[i] else "geometry collection"}
            if area_before is not None:
                # area of an invalid ring is not meaningful for a bow-tie (parts cancel): report both
                item["area_ha_before"] = round(float(area_before[k]), 6)
                item["area_ha_after"] = round(float(area_after[k]), 6)
            repaired.append(item)
    dropped = [{"fid": _fid(gdf.index[i]), "reason": str(reason[i])} for i in np.flatnonzero(~live)]
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return out.loc[live], repaired, dropped


def polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (vectorised): Polygon/MultiPolygon, or None."""
    return _part_of_family(geoms, {3, 6})


def _part_of_family(geoms: np.ndarray, type_ids: set) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    out = np.full(n, None, dtype=object)
    if n == 0:
        return out
    tid = shapely.get_type_id(geoms)
    simple = np.isin(tid, list(type_ids))
    out[simple] = geoms[simple]
    rest = np.flatnonzero(~simple & (tid == 7))
    if len(rest):
        parts, idx = shapely.get_parts(geoms[rest], return_index=True)
        # a collection may hold multi-geometries: explode those as well
        parts2, idx2 = shapely.get_parts(parts, return_index=True)
        owner = idx[idx2]
        ptid = shapely.get_type_id(parts2)
        single = {3: 3, 6: 3, 1: 1, 5: 1, 0: 0, 4: 0}
        want = {single[t] for t in type_ids if t in single}
        keep = np.isin(ptid, list(want))
        parts2, owner = parts2[keep], owner[keep]
        if len(parts2):
            base = next(iter(want))
            maker = {3: shapely.multipolygons, 1: shapely.multilinestrings, 0: shapely.multipoints}[base]
            built = maker(parts2, indices=owner)
            present = np.unique(owner)
            # multi-geometry of one part -> the part itself
            counts = np.bincount(owner, minlength=len(rest))[present]
            single_part = counts == 1
            built = np.asarray(built, dtype=object)
            if single_part.any():
                built[single_part] = shapely.get_geometry(built[single_part], 0)
            out[rest[present]] = built
    return out


def find_duplicates(values: pd.Series) -> dict:
    """``{value: [fids]}`` for values that occur more than once (blank values ignored).

    >>> find_duplicates(pd.Series(["a", "b", "a", None], index=[1, 2, 3, 4]))
    {'a': [1, 3]}
    """
    s = values.astype("string").str.strip()
    s = s[s.notna() & (s != "")]
    dup = s[s.duplicated(keep=False)]
    out: dict = {}
    for fid, v in zip(dup.index, dup):
        out.setdefault(str(v), []).append(_fid(fid))
    return out


def find_overlaps(gdf: gpd.GeoDataFrame, key: str | None = None, min_area_m2: float = 1.0) -> list[dict]:
    """Pairs of features whose interiors overlap by at least ``min_area_m2`` (metric CRS).

    Candidate pairs come from the STRtree (``sindex.query`` with ``intersects``); neighbours that only
    share an edge are removed with one vectorised DE-9IM test (interiors intersect, ``T********``),
    and the overlap is measured with one vectorised intersection.

    Returns a list of ``{"fid_a", "fid_b", "key_a", "key_b", "overlap_ha"}``, largest first.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"k": ["A", "B", "C"]}, geometry=[box(0, 0, 100, 100),
    ...     box(50, 0, 150, 100), box(150, 0, 250, 100)], crs=7695, index=[1, 2, 3])
    >>> find_overlaps(g, "k")
    [{'fid_a': 1, 'fid_b': 2, 'key_a': 'A', 'key_b': 'B', 'overlap_ha': 0.5}]
    """
    if len(gdf) < 2:
        return []
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    left, right = gdf.sindex.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return []
    inner = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    left, right = left[inner], right[inner]
    if len(left) == 0:
        return []
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    big = area >= min_area_m2
    left, right, area = left[big], right[big], area[big]
    order = np.argsort(-area, kind="stable")
    keys = gdf[key].astype(object).to_numpy() if key and key in gdf.columns else None
    out = []
    for k in order:
        i, j = left[k], right[k]
        out.append({"fid_a": _fid(gdf.index[i]), "fid_b": _fid(gdf.index[j]),
                    "key_a": None if keys is None or pd.isna(keys[i]) else str(keys[i]),
                    "key_b": None if keys is None or pd.isna(keys[j]) else str(keys[j]),
                    "overlap_ha": round(float(area[k]) / 10_000.0, 6)})
    return out


def outside_kyrgyzstan(gdf: gpd.GeoDataFrame) -> bool:
    """True if the centre of the data is outside Kyrgyzstan (likely a wrong --crs)."""
    geoms = np.asarray(gdf.geometry.values)
    if len(geoms) == 0:
        return False
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    tr = Transformer.from_crs(CRS.from_user_input(gdf.crs), WGS84, always_xy=True)
    lon, lat = tr.transform((minx + maxx) / 2, (miny + maxy) / 2)
    return not bool(_inside_kg([lon], [lat])[0])


__all__ = ["parse_crs", "suggest_crs", "detect_swapped", "swap_xy", "check_geographic_range",
           "clean_geometries", "polygonal_part", "find_duplicates", "find_overlaps", "outside_kyrgyzstan",
           "KYRG06_CENTRAL_MERIDIANS"]
