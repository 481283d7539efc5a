"""One area per restriction regime: the union of its polygons clipped to the municipality boundary.

``gis-planner restrictions`` used to sum the raw polygons (a lake's water-protection zone along the
whole shore, 28 526 ha, of which 8 703 ha in the rayon) while the balance and the report measure the
regime inside the municipality. Every table now uses :func:`regime_areas`: per kind and rule, the
overlapping polygons are unioned once (never counted twice) and clipped to the ``boundary`` layer;
the unclipped area is kept next to it so the user sees what lies outside.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> r = gpd.GeoDataFrame({"kind": ["hazard", "hazard"], "rule_id": ["h", "h"]},
...                      geometry=[box(0, 0, 200, 100), box(100, 0, 300, 100)], crs=7695)
>>> a = regime_areas(r, box(0, 0, 150, 100))
>>> int(a.features[0]), float(a.area_ha[0]), float(a.area_total_ha[0]), float(a.outside_ha[0])
(2, 1.5, 3.0, 1.5)
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HA = 10_000.0


def boundary_geometry(ws):
    """The union of the ``boundary`` layer in the workspace CRS, or None."""
    if ws is None or not ws.has_layer("boundary"):
        return None
    b = ws.read_layer("boundary", columns=[])
    if b is None or b.empty:
        return None
    if ws.crs is not None and b.crs is not None and b.crs != ws.crs:
        b = b.to_crs(ws.crs)
    return shapely.union_all(np.asarray(b.geometry.values))


def regime_areas(restrictions: gpd.GeoDataFrame, boundary=None) -> pd.DataFrame:
    """``kind, rule_id, features, area_ha`` (union inside ``boundary``), ``area_total_ha`` (whole union)
    and ``outside_ha`` per regime; without a boundary the area is the whole union."""
    cols = ["kind", "rule_id", "features", "area_ha", "area_total_ha", "outside_ha"]
    if restrictions is None or len(restrictions) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    keys = restrictions[["kind", "rule_id"]].astype(object).where(restrictions[["kind", "rule_id"]].notna(), None)
    geoms = np.asarray(restrictions.geometry.values, dtype=object)
    if boundary is not None:
        shapely.prepare(boundary)
    for (kind, rule), idx in keys.groupby(["kind", "rule_id"], dropna=False, sort=True).indices.items():
        u = shapely.union_all(geoms[idx])
        total = float(shapely.area(u)) / HA
        inside = float(shapely.area(shapely.intersection(u, boundary))) / HA if boundary is not None else total
        rows.append({"kind": kind, "rule_id": rule, "features": int(len(idx)), "area_ha": inside,
                     "area_total_ha": total, "outside_ha": max(0.0, total - inside)})
    return pd.DataFrame(rows, columns=cols)
