"""Coordinate reference systems: the Kyrg-06 zones, metric areas, swapped-axis detection.

Areas and distances are computed only in a metric CRS: the **Kyrg-06 zone** (EPSG:7692–7696,
3° transverse-Mercator zones with central meridians 68°31′, 71°31′, 74°31′, 77°31′, 80°31′ E)
that contains the data, the national standard. Outside Kyrgyzstan the UTM zone is the fallback.
"""
from __future__ import annotations

import math

import numpy as np
from pyproj import CRS, Transformer

from .errors import GisPlannerError

# Kyrg-06 zone n (1..5): central meridian 68°31' + 3°(n-1); EPSG 7691+n.
KYRG06_CENTRAL_MERIDIANS = {7692: 68 + 31 / 60, 7693: 71 + 31 / 60, 7694: 74 + 31 / 60,
                            7695: 77 + 31 / 60, 7696: 80 + 31 / 60}
KYRG06_EPSG = tuple(KYRG06_CENTRAL_MERIDIANS)
# generous envelope of Kyrgyzstan (lon/lat) inside which Kyrg-06 is used
_KG_LON = (68.0, 82.0)
_KG_LAT = (38.5, 44.0)

WGS84 = CRS.from_epsg(4326)


def kyrg06_epsg(lon: float, lat: float) -> int:
    """EPSG code of the metric CRS for a point: its Kyrg-06 zone, or UTM outside Kyrgyzstan.

    >>> kyrg06_epsg(77.1, 42.6)   # north shore of Issyk-Kul: zone 4
    7695
    >>> kyrg06_epsg(74.6, 42.87)  # Bishkek: zone 3
    7694
    >>> kyrg06_epsg(2.35, 48.85)  # Paris: UTM 31N
    32631
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GisPlannerError("coordinates are not finite numbers", code="bad_coordinates")
    if _KG_LON[0] <= lon <= _KG_LON[1] and _KG_LAT[0] <= lat <= _KG_LAT[1]:
        # zone whose central meridian is nearest
        return min(KYRG06_CENTRAL_MERIDIANS, key=lambda e: abs(KYRG06_CENTRAL_MERIDIANS[e] - lon))
    zone = int((lon + 180) // 6) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def is_kyrg06(crs) -> bool:
    crs = CRS.from_user_input(crs)
    return crs.to_epsg() in KYRG06_CENTRAL_MERIDIANS


def lonlat_center(bounds, crs) -> tuple[float, float]:
    """Centre of ``bounds`` (minx, miny, maxx, maxy) given in ``crs``, as lon/lat."""
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    crs = CRS.from_user_input(crs)
    if crs.is_geographic:
        # respect the authority axis order only through always_xy
        return float(cx), float(cy)
    tr = Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = tr.transform(cx, cy)
    return float(lon), float(lat)


def metric_crs_for(bounds, crs) -> CRS:
    """The Kyrg-06 zone (or UTM) CRS containing the centre of ``bounds``.

    If ``crs`` already is a Kyrg-06 zone it is kept (data stored in zone 3 stays in zone 3 even near
    the zone edge, as the cadastre does).
    """
    crs = CRS.from_user_input(crs)
    if is_kyrg06(crs):
        return crs
    lon, lat = lonlat_center(bounds, crs)
    return CRS.from_epsg(kyrg06_epsg(lon, lat))


def to_metric(gdf):
    """Return ``gdf`` in its metric CRS (Kyrg-06 zone of the data). No copy if already there."""
    if gdf.crs is None:
        raise GisPlannerError("layer has no coordinate reference system", code="missing_crs",
                              fix="set the CRS on import (--crs EPSG:…)")
    target = metric_crs_for(gdf.total_bounds if len(gdf) else (0, 0, 0, 0), gdf.crs)
    if CRS.from_user_input(gdf.crs) == target:
        return gdf
    return gdf.to_crs(target)


def area_ha(gdf) -> "np.ndarray":
    """Area of each geometry in hectares, computed in the Kyrg-06 zone of the data.

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> sq = gpd.GeoDataFrame(geometry=[box(4300000, 4700000, 4300100, 4700100)], crs=7695)
    >>> float(area_ha(sq)[0])
    1.0
    """
    m = to_metric(gdf)
    return np.asarray(m.geometry.area, dtype="float64") / 10_000.0


def looks_swapped_lonlat(xs, ys) -> bool:
    """True if coordinates labelled lon/lat look like lat/lon for Central Asia.

    Kyrgyzstan is at lon 69–81, lat 39–44: a dataset whose x values all lie in 36–45 and whose y
    values lie in 65–82 has its axes swapped (a frequent CSV/EPSG:4326 axis-order mistake).
    """
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    if xs.size == 0:
        return False
    x_like_lat = np.nanmin(xs) >= 30 and np.nanmax(xs) <= 50
    y_like_lon = np.nanmin(ys) >= 55 and np.nanmax(ys) <= 95
    return bool(x_like_lat and y_like_lon)
