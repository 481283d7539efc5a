"""Placement geometry: house plots in blocks along streets, area pieces cut towards the settlement."""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry import box

from ..errors import GisPlannerError


# --------------------------------------------------------------------------- geometry
def _rotate(geoms: np.ndarray, ang: float, origin) -> np.ndarray:
    """Rotate an array of geometries by ``ang`` degrees (counter-clockwise) about ``origin`` (vectorised)."""
    if not ang:
        return geoms
    a = math.radians(ang)
    ca, sa = math.cos(a), math.sin(a)
    ox, oy = origin.x, origin.y

    def tf(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0] - ox, xy[:, 1] - oy
        return np.column_stack([ox + ca * x - sa * y, oy + sa * x + ca * y])

    return shapely.transform(np.asarray(geoms, dtype=object), tf)


def _orientation(geom) -> float:
    """Angle (degrees, 0–180) of the long side of the minimum-area bounding rectangle (plots align with it).

    Rotating calipers over the convex-hull edges, in coordinates relative to the centroid (exact for
    large projected coordinates, unlike a rectangle fitted in absolute coordinates).
    """
    hull = geom.convex_hull
    if hull.geom_type != "Polygon":
        return 0.0
    xy = np.asarray(hull.exterior.coords)
    xy = xy - xy.mean(axis=0)
    d = np.diff(xy, axis=0)
    lens = np.hypot(d[:, 0], d[:, 1])
    d = d[lens > 1e-9]
    if not len(d):
        return 0.0
    angles = np.unique(np.round(np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 90.0, 9))
    best = None
    for a in angles:
        r = math.radians(a)
        ca, sa = math.cos(r), math.sin(r)
        x = ca * xy[:, 0] + sa * xy[:, 1]
        y = -sa * xy[:, 0] + ca * xy[:, 1]
        w, h = x.max() - x.min(), y.max() - y.min()
        area = round(w * h, 6)
        if best is None or area < best[0]:
            best = (area, a, w, h)
    _, a, w, h = best
    ang = a if w >= h - 1e-9 else a + 90.0
    ang = ang % 180.0
    return 0.0 if abs(ang) < 1e-7 or abs(ang - 180.0) < 1e-7 else float(ang)


def subdivide_plots(geom, plot_area_m2: float, width_m: float, street_m: float, rows_per_block: int = 2,
                    keep_m2: float | None = None, toward=None) -> tuple[list, list, list]:
    """Lay out house plots (``width × depth`` with ``depth = area / width``) in blocks along streets.

    The grid is aligned with the longest side of the polygon's minimum rotated rectangle, starts at its
    lower-left corner and repeats ``[plot row, street, plot row]`` (``rows_per_block=2``). Plots clipped by
    the polygon keep only if their area ≥ ``keep_m2`` (default: the full plot area). Returns the plots,
    for each plot the index of the street cell it fronts, and the street cells (clipped), plots sorted
    by distance to ``toward`` (the settlement) then by position.

    >>> plots, _, streets = subdivide_plots(box(0, 0, 100, 100), 1000, 25, 12)
    >>> len(plots), round(sum(p.area for p in plots)), sum(not s.is_empty for s in streets)
    (8, 8000, 4)
    """
    if geom is None or geom.is_empty:
        return [], [], []
    keep = plot_area_m2 if keep_m2 is None else keep_m2
    depth = plot_area_m2 / width_m
    ang = _orientation(geom)
    origin = geom.centroid
    g = affinity.rotate(geom, -ang, origin=origin) if ang else geom
    minx, miny, maxx, maxy = g.bounds
    ncol = int(math.floor((maxx - minx) / width_m + 1e-9))
    block = rows_per_block * depth + street_m
    nblock = int(math.ceil((maxy - miny) / block)) + 1
    if ncol <= 0:
        return [], [], []
    # rows_per_block plot rows per block: the first below the street, the others above it
    b_i, c_i = np.meshgrid(np.arange(nblock), np.arange(ncol), indexing="ij")
    b_i, c_i = b_i.ravel(), c_i.ravel()
    sx0 = minx + c_i * width_m
    sy0 = miny + b_i * block + depth
    street_cells = shapely.box(sx0, sy0, sx0 + width_m, sy0 + street_m)
    offsets = np.array([0.0] + [depth + street_m + k * depth for k in range(rows_per_block - 1)])
    r_i = np.tile(np.arange(rows_per_block), len(b_i))
    sidx = np.repeat(np.arange(len(b_i)), rows_per_block)
    px0 = np.repeat(sx0, rows_per_block)
    py0 = np.repeat(miny + b_i * block, rows_per_block) + offsets[r_i]
    cell_geoms = shapely.box(px0, py0, px0 + width_m, py0 + depth)
    cells = list(zip(np.repeat(b_i, rows_per_block), r_i, np.repeat(c_i, rows_per_block)))
    fronts = sidx.tolist()
    clipped = shapely.intersection(cell_geoms, g)
    areas = shapely.area(clipped)
    ok = areas >= keep - 1e-6
    street_geoms = shapely.intersection(street_cells, g)
    if ang:
        clipped = _rotate(clipped, ang, origin)
        street_geoms = _rotate(street_geoms, ang, origin)
    idx = np.flatnonzero(ok)
    if toward is not None and not shapely.is_empty(toward):
        d = np.round(shapely.distance(clipped[idx], toward), 6)
    else:
        d = np.zeros(len(idx))
    order = sorted(range(len(idx)), key=lambda k: (d[k], cells[idx[k]][0], cells[idx[k]][1], cells[idx[k]][2]))
    plots = [clipped[idx[k]] for k in order]
    fr = [fronts[idx[k]] for k in order]
    return plots, fr, list(street_geoms)


def cut_area(geom, area_m2: float, toward=None, tol_m2: float = 1e-4):
    """The part of ``geom`` of exactly ``area_m2`` on the side nearest ``toward`` (a strip swept across).

    >>> round(cut_area(box(0, 0, 100, 100), 2500).area, 6)
    2500.0
    """
    total = geom.area
    if area_m2 >= total - tol_m2:
        return geom
    if area_m2 <= 0:
        return shapely.Polygon()
    c = geom.centroid
    if toward is not None and not shapely.is_empty(toward):
        p = shapely.get_point(shapely.shortest_line(c, toward), 1)
        dx, dy = p.x - c.x, p.y - c.y
        ang = math.degrees(math.atan2(dy, dx)) if math.hypot(dx, dy) > 1e-9 else 180.0
    else:
        ang = 180.0  # sweep from the west
    # rotate so that the sweep comes from -x (the side facing `toward`)
    rot = 180.0 - ang
    g = affinity.rotate(geom, rot, origin=c)
    minx, miny, maxx, maxy = g.bounds
    lo, hi = minx, maxx
    piece = None
    for _ in range(200):
        mid = (lo + hi) / 2.0
        piece = g.intersection(box(minx - 1, miny - 1, mid, maxy + 1))
        a = piece.area
        if abs(a - area_m2) <= tol_m2:
            break
        if a < area_m2:
            lo = mid
        else:
            hi = mid
    return affinity.rotate(piece, -rot, origin=c)


def _polys(geom):
    """Polygonal part of a geometry (drops lines and points left by differences)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()

