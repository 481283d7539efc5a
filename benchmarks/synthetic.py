"""Synthetic municipalities for benchmarks: N parcels (10k … 1M) with realistic restriction layers.

Parcels are a jittered lattice of octagons (corners and edge mid-points jittered, shared between
neighbours, so the parcels form a clean coverage like a real cadastre block), 45 m on average
(0.2 ha: household plots and small fields). Restrictions, in the restriction-frame format of
``docs/data-model.md`` (``kind``, ``subtype``, ``level`` …):

* ``water_protection_zone`` / ``coastal_strip``: buffers (100/50 m and 20 m) of meandering rivers
  and their tributaries (buffers of one kind overlap at confluences);
* ``protected_area``: irregular core areas inside larger buffer areas (``core`` / ``buffer``, overlapping);
* ``hazard``: nested mudflow fans (high ⊂ medium ⊂ low), flood strips along rivers (high/medium),
  landslide blobs scattered over the territory (random level, overlapping each other);
* ``forest_fund``: irregular forest blobs; ``legal_zone``: a few green/recreation zones.

Everything is in EPSG:7695 (Kyrg-06 zone 4) near Issyk-Kul and fully determined by ``seed``.

Example
-------
>>> p, r, b = make_municipality(400, seed=1)
>>> len(p), sorted(r["kind"].unique())[:2]
(400, ['coastal_strip', 'forest_fund'])
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

CRS = 7695
X0, Y0 = 4_300_000.0, 4_720_000.0
CELL = 45.0


def lattice_parcels(n: int, cell: float = CELL, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """``n`` octagonal parcels on a jittered lattice; returns (geometries, width, height) in metres."""
    rng = np.random.default_rng(seed)
    nx = int(math.ceil(math.sqrt(n)))
    ny = int(math.ceil(n / nx))
    # corners
    cx = X0 + np.arange(nx + 1) * cell
    cy = Y0 + np.arange(ny + 1) * cell
    PX, PY = np.meshgrid(cx, cy)  # shape (ny+1, nx+1)
    PX = PX + rng.uniform(-0.22, 0.22, PX.shape) * cell
    PY = PY + rng.uniform(-0.22, 0.22, PY.shape) * cell
    # mid-points of horizontal edges (ny+1, nx) and vertical edges (ny, nx+1), pushed sideways
    HX = (PX[:, :-1] + PX[:, 1:]) / 2
    HY = (PY[:, :-1] + PY[:, 1:]) / 2 + rng.uniform(-0.08, 0.08, (ny + 1, nx)) * cell
    VX = (PX[:-1, :] + PX[1:, :]) / 2 + rng.uniform(-0.08, 0.08, (ny, nx + 1)) * cell
    VY = (PY[:-1, :] + PY[1:, :]) / 2
    ring_x = np.stack([PX[:-1, :-1], HX[:-1, :], PX[:-1, 1:], VX[:, 1:], PX[1:, 1:], HX[1:, :], PX[1:, :-1],
                       VX[:, :-1], PX[:-1, :-1]], axis=-1).reshape(-1, 9)[:n]
    ring_y = np.stack([PY[:-1, :-1], HY[:-1, :], PY[:-1, 1:], VY[:, 1:], PY[1:, 1:], HY[1:, :], PY[1:, :-1],
                       VY[:, :-1], PY[:-1, :-1]], axis=-1).reshape(-1, 9)[:n]
    coords = np.stack([ring_x, ring_y], axis=-1)
    return shapely.polygons(coords), nx * cell, ny * cell


def blob(x, y, r, rng, n=96, rough=0.25) -> shapely.Polygon:
    """An irregular closed shape of mean radius ``r`` (radius modulated by a few random harmonics)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = np.ones(n)
    for k in range(2, 6):
        rad += rough / k * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    return shapely.Polygon(np.c_[x + r * rad * np.cos(t), y + r * rad * np.sin(t)])


def river(x0, y0, x1, y1, rng, n=240, meander=0.06) -> shapely.LineString:
    t = np.linspace(0, 1, n)
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    nxv, nyv = -dy / length, dx / length
    off = np.zeros(n)
    for k in (3, 7, 13):
        off += meander * length / k * np.sin(k * np.pi * t + rng.uniform(0, 2 * np.pi))
    off *= np.sin(np.pi * t)  # ends fixed
    return shapely.LineString(np.c_[x0 + dx * t + nxv * off, y0 + dy * t + nyv * off])


def fan(x, y, direction, length, angle_deg, n=48) -> shapely.Polygon:
    a = np.radians(angle_deg) / 2
    t = np.linspace(direction - a, direction + a, n)
    return shapely.Polygon(np.r_[[[x, y]], np.c_[x + length * np.cos(t), y + length * np.sin(t)]])


def restrictions(width: float, height: float, seed: int = 0) -> gpd.GeoDataFrame:
    """Restriction frame for a territory ``width`` × ``height`` m at (X0, Y0)."""
    rng = np.random.default_rng(seed + 1000)
    area_km2 = width * height / 1e6
    rows: list[tuple] = []

    def add(kind, subtype, level, geom):
        rows.append((kind, subtype, level, geom))

    # rivers and tributaries
    n_rivers = max(2, int(round(width / 9000)))
    mains = []
    for i in range(n_rivers):
        xs = X0 + (i + 0.5) / n_rivers * width + rng.uniform(-0.1, 0.1) * width / n_rivers
        ln = river(xs, Y0 - 500, xs + rng.uniform(-0.15, 0.15) * width, Y0 + height + 500, rng)
        mains.append(ln)
        for _ in range(2):
            s = ln.interpolate(rng.uniform(0.2, 0.8), normalized=True)
            side = rng.choice([-1, 1])
            end = (s.x + side * rng.uniform(0.15, 0.4) * width / n_rivers * 2, s.y + rng.uniform(-0.2, 0.2) * height)
            trib = river(end[0], end[1], s.x, s.y, rng, n=120)
            add("water_protection_zone", "stream", None, trib.buffer(50, quad_segs=8))
            add("coastal_strip", "stream", None, trib.buffer(20, quad_segs=8))
        add("water_protection_zone", "river", None, ln.buffer(100, quad_segs=8))
        add("coastal_strip", "river", None, ln.buffer(20, quad_segs=8))
        # flood strips along the main rivers
        add("hazard", "flood", "high", ln.buffer(150, quad_segs=8))
        add("hazard", "flood", "medium", ln.buffer(400, quad_segs=8))
    # protected areas: core inside buffer (overlapping polygons of one kind)
    for _ in range(max(1, int(round(area_km2 / 400)))):
        x, y = X0 + rng.uniform(0.1, 0.9) * width, Y0 + rng.uniform(0.1, 0.9) * height
        r = rng.uniform(0.06, 0.12) * min(width, height)
        add("protected_area", "core", None, blob(x, y, r, rng, n=160))
        add("protected_area", "buffer", None, blob(x, y, 1.8 * r, rng, n=200))
    # mudflow fans at the foot of the mountains (north edge), high ⊂ medium ⊂ low
    for _ in range(max(2, int(round(width / 3000)))):
        x, y = X0 + rng.uniform(0, width), Y0 + height + rng.uniform(-0.05, 0.05) * height
        d = -np.pi / 2 + rng.uniform(-0.4, 0.4)
        length = rng.uniform(800, 2500)
        for lv, f in (("low", 1.0), ("medium", 0.7), ("high", 0.4)):
            add("hazard", "mudflow", lv, fan(x, y, d, length * f, 50 * (0.6 + 0.4 * f)))
    # landslides: many small overlapping blobs
    for _ in range(max(5, int(area_km2 / 6))):
        x, y = X0 + rng.uniform(0, width), Y0 + rng.uniform(0, height)
        add("hazard", "landslide", str(rng.choice(["high", "medium", "low"])), blob(x, y, rng.uniform(60, 300), rng, n=48))
    # forest fund and legal zones with a ban
    for _ in range(max(2, int(area_km2 / 40))):
        x, y = X0 + rng.uniform(0, width), Y0 + rng.uniform(0, height)
        add("forest_fund", None, None, blob(x, y, rng.uniform(300, 1500), rng, n=128, rough=0.35))
    for _ in range(max(2, int(area_km2 / 100))):
        x, y = X0 + rng.uniform(0, width), Y0 + rng.uniform(0, height)
        add("legal_zone", str(rng.choice(["green", "recreation"])), None,
            shapely.box(x, y, x + rng.uniform(300, 1500), y + rng.uniform(300, 1500)).buffer(30, quad_segs=4))
    df = pd.DataFrame(rows, columns=["kind", "subtype", "level", "geometry"])
    df["rule_id"] = df["kind"]
    df["legal_source"] = "synthetic"
    df["source_layer"] = "synthetic"
    df["source_fid"] = np.arange(len(df))
    return gpd.GeoDataFrame(df, geometry="geometry", crs=CRS)


def make_municipality(n: int, seed: int = 0):
    """(parcels, restrictions, boundary polygon) of a synthetic municipality with ``n`` parcels."""
    rng = np.random.default_rng(seed)
    geoms, width, height = lattice_parcels(n, seed=seed)
    # settlements: a few discs; parcels whose centre falls inside are settlement land
    cent = shapely.centroid(geoms)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    category = rng.choice(["agricultural", "reserve", "forest_fund", "industry_transport", "water_fund", "protected"],
                          size=n, p=[0.82, 0.07, 0.05, 0.03, 0.02, 0.01]).astype(object)
    for _ in range(max(1, int(width * height / 1e6 / 30))):
        sx, sy = X0 + rng.uniform(0.1, 0.9) * width, Y0 + rng.uniform(0.1, 0.9) * height
        r = rng.uniform(400, 1200)
        category[(cx - sx) ** 2 + (cy - sy) ** 2 < r * r] = "settlement"
    agri = category == "agricultural"
    land_type = np.full(n, None, dtype=object)
    land_type[agri] = rng.choice(["irrigated", "rain_fed", "perennial", "hayfield", "pasture"], size=int(agri.sum()),
                                 p=[0.35, 0.15, 0.1, 0.1, 0.3])
    use = rng.choice(["used", "unused"], size=n, p=[0.86, 0.14]).astype(object)
    owner = rng.choice(["private", "state", "municipal", "state_fund"], size=n, p=[0.6, 0.2, 0.1, 0.1]).astype(object)
    parcels = gpd.GeoDataFrame({"cadastral_no": np.char.add("4-01-01-", np.arange(n).astype(str)).astype(object),
                                "category": category, "land_type": land_type, "use_status": use,
                                "owner_type": owner}, geometry=geoms, crs=CRS)
    boundary = shapely.box(X0, Y0, X0 + width, Y0 + height)
    return parcels, restrictions(width, height, seed), boundary
