"""How well do computed zones agree with official zones and mapped events?

For each hazard type that has both official and computed zones, inside the municipality boundary:

- ``captured_high`` — share of the official **high** zone covered by computed zones of any level, and
  ``captured_high_as_high`` by computed **high** zones;
- ``false_alarm_high`` — share of the computed high zone lying outside every official zone of that type;
- ``auc`` — area under the ROC curve of the computed level (0 none … 3 high) as a score for "inside an
  official zone of this type", over the cells of a grid covering the boundary (Mann-Whitney with ties:
  0.5 is no skill, 1 perfect).

Where a landslide inventory (``landslide.inventory_layer``) exists, ``events_in_zones`` gives the share
of mapped landslides whose representative point lies in a computed landslide zone (any level).

Example
-------
>>> from gis_planner.hazards.validation import auc_from_levels
>>> import numpy as np
>>> auc_from_levels(np.array([3, 3, 0, 0]), np.array([True, True, False, False]))
1.0
>>> auc_from_levels(np.array([1, 1, 1, 1]), np.array([True, True, False, False]))
0.5
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..catalog import load_rules
from .official import read_hazard_zones, split_zones

LEVELS = {"low": 1, "medium": 2, "high": 3}
COLUMNS = ["hazard_type", "official_ha", "official_high_ha", "computed_ha", "computed_high_ha",
           "captured_high", "captured_high_as_high", "false_alarm_high", "auc", "events", "events_in_zones"]


def auc_from_levels(score: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of integer ``score`` for boolean ``positive`` (ties count one half); None without both classes."""
    score = np.asarray(score, dtype=np.int64)
    positive = np.asarray(positive, dtype=bool)
    npos, nneg = int(positive.sum()), int((~positive).sum())
    if npos == 0 or nneg == 0:
        return None
    k = int(score.max()) + 1 if score.size else 1
    pos = np.bincount(score[positive], minlength=k).astype(float)
    neg = np.bincount(score[~positive], minlength=k).astype(float)
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])          # negatives with a lower score
    return float((pos * (below + 0.5 * neg)).sum() / (npos * nneg))


def _union(geoms) -> shapely.Geometry:
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    return shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object))) if geoms else shapely.Polygon()


def _share(part: shapely.Geometry, whole: shapely.Geometry) -> float | None:
    return float(part.area / whole.area) if whole.area > 0 else None


def validate_zones(ws, cell_m: float = 25.0, max_cells: int = 4_000_000) -> pd.DataFrame:
    """Agreement of computed zones with official zones (and landslide events), one row per hazard type.

    Only hazard types with official zones or mapped events get a row. Areas in ha, shares 0..1.
    """
    zones = read_hazard_zones(ws)
    off, comp = split_zones(zones)
    boundary = None
    if ws.has_layer("boundary"):
        b = ws.read_layer("boundary")
        if len(b):
            boundary = _union(b.to_crs(zones.crs if zones.crs is not None else ws.crs).geometry.values)
    rules = load_rules("hazards", ws)
    inv_name = (rules.get("landslide") or {}).get("inventory_layer")
    inventory = ws.read_layer(inv_name, missing_ok=True) if inv_name else None
    rows = []
    types = sorted(set(off["hazard_type"].astype(str)) | ({"landslide"} if inventory is not None and len(inventory) else set()))
    for htype in types:
        o = off[off["hazard_type"].astype(str) == htype]
        c = comp[comp["hazard_type"].astype(str) == htype]
        if not len(c):
            continue
        clip = (lambda g: shapely.intersection(g, boundary)) if boundary is not None else (lambda g: g)
        o_all = clip(_union(o.geometry.values))
        o_high = clip(_union(o[o["level"].astype(str) == "high"].geometry.values))
        c_all = clip(_union(c.geometry.values))
        c_high = clip(_union(c[c["level"].astype(str) == "high"].geometry.values))
        row = {"hazard_type": htype, "official_ha": o_all.area / 1e4, "official_high_ha": o_high.area / 1e4,
               "computed_ha": c_all.area / 1e4, "computed_high_ha": c_high.area / 1e4,
               "captured_high": _share(shapely.intersection(o_high, c_all), o_high),
               "captured_high_as_high": _share(shapely.intersection(o_high, c_high), o_high),
               "false_alarm_high": (_share(shapely.difference(c_high, o_all), c_high) if len(o) else None),
               "auc": None, "events": None, "events_in_zones": None}
        if len(o):
            row["auc"] = _grid_auc(c, o_all, boundary, cell_m, max_cells)
        if htype == "landslide" and inventory is not None and len(inventory):
            pts = shapely.point_on_surface(inventory.to_crs(c.crs).geometry.values)
            if boundary is not None:
                pts = pts[shapely.contains(boundary, pts)]
            row["events"] = int(len(pts))
            row["events_in_zones"] = float(shapely.contains(c_all, pts).mean()) if len(pts) else None
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _grid_auc(computed, official: shapely.Geometry, boundary, cell_m: float, max_cells: int) -> float | None:
    """AUC of the computed level for "inside the official zone", over grid cells inside the boundary."""
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    extent = boundary if boundary is not None else shapely.union(official, _union(computed.geometry.values))
    x0, y0, x1, y1 = extent.bounds
    cell = max(cell_m, float(np.sqrt((x1 - x0) * (y1 - y0) / max_cells)))
    w, h = max(1, int(np.ceil((x1 - x0) / cell))), max(1, int(np.ceil((y1 - y0) / cell)))
    tr = from_origin(x0, y1, cell, cell)
    score = np.zeros((h, w), np.uint8)
    lv = computed["level"].astype(str).map(LEVELS).fillna(0).astype(int).to_numpy()
    for code in (1, 2, 3):  # higher levels painted last
        geoms = [g for g, v in zip(computed.geometry.values, lv) if v == code and g is not None and not g.is_empty]
        if geoms:
            mask = rasterize(((g, 1) for g in geoms), out_shape=(h, w), transform=tr, fill=0, dtype="uint8")
            score[mask.astype(bool)] = code
    pos = rasterize([(official, 1)], out_shape=(h, w), transform=tr, fill=0, dtype="uint8").astype(bool) \
        if not official.is_empty else np.zeros((h, w), bool)
    inside = rasterize([(extent, 1)], out_shape=(h, w), transform=tr, fill=0, dtype="uint8").astype(bool)
    return auc_from_levels(score[inside], pos[inside])
