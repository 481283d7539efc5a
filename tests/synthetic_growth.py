"""A small workspace built by hand from other data than the demo (issue 14 acceptance).

4 km × 1.2 km of 100 m parcels south of a canal, on a plane rising 0.02 m/m to the north (x, y in metres
from (X0, Y0), EPSG:7695):

* two villages: Jany-Aiyl x 0–400, y 400–800 (2 000 people, 450 households) and Kara-Too
  x 1 400–1 700, y 400–700 (900 people, 200 households) — their cells are settlement house plots;
* a landfill parcel x 600–700, y 900–1 000 (land use landfill, also in waste_sites), a cemetery parcel
  x 100–200, y 200–300, a cattle burial site (waste_sites) around (3 300, 1 100);
* a road column x 500–600 (road parcels, municipal) with a street line along it, a street line along
  y = 395, a water parcel of reserve category (a pond: land use water) x 1 100–1 200, y 300–400;
* a canal (water_bodies line) along y = 1 150;
* pasture x −600…−200 (State Fund), irrigated arable x 1 800–2 400 (State Fund), rain-fed arable
  y 0–200 elsewhere (private, used); everything else municipal reserve, unused.
"""
from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString

from gis_planner import Workspace

from .helpers import CRS, X0, Y0, gdf, rect, square

VILLAGES = {"Jany-Aiyl": (0, 400, 400, 800, 2000, 450), "Kara-Too": (1400, 400, 1700, 700, 900, 200)}
LANDFILL = (600, 900)
CEMETERY = (100, 200)
BURIAL = (3290, 1090, 3310, 1110)
POND = (1100, 300)


def _in_village(x, y):
    return any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1, *_ in VILLAGES.values())


def build(root) -> Workspace:
    ws = Workspace.create(root, name="Synthetic growth", crs=CRS)
    rec = {k: [] for k in ("cadastral_no", "category", "land_type", "use_status", "owner_type", "land_use")}
    geoms = []
    for j, y in enumerate(range(0, 1200, 100)):
        for i, x in enumerate(range(-600, 3400, 100)):
            cat, lt, st, own, lu = "reserve", None, "unused", "municipal", "vacant"
            if _in_village(x, y):
                cat, st, own, lu = "settlement", "used", "private", "housing"
            elif (x, y) == LANDFILL:
                cat, st, lu = "industry_transport", "used", "landfill"
            elif (x, y) == CEMETERY:
                cat, st, lu = "settlement", "used", "cemetery"
            elif (x, y) == POND:
                lu = "water"                               # a pond on reserve land: excluded by land use
            elif x == 500:
                cat, lu = "industry_transport", "road"     # municipal road parcels
            elif x < -200:
                cat, lt, own, lu = "agricultural", "pasture", "state_fund", "grazing"
            elif 1800 <= x < 2400:
                cat, lt, own, st, lu = "agricultural", "irrigated", "state_fund", "used", "crop"
            elif y < 200:
                cat, lt, own, st, lu = "agricultural", "rain_fed", "private", "used", "crop"
            rec["cadastral_no"].append(f"9-01-01-{j:04d}-{i:04d}")
            for k, v in (("category", cat), ("land_type", lt), ("use_status", st), ("owner_type", own),
                         ("land_use", lu)):
                rec[k].append(v)
            geoms.append(square(x, y, 100))
    parcels = gdf(rec, geoms)
    names = list(VILLAGES)
    settlements = gdf({"name": names, "population": [VILLAGES[n][4] for n in names],
                       "households": [VILLAGES[n][5] for n in names]},
                      [rect(*VILLAGES[n][:4]) for n in names])
    waste = gdf({"name": ["Landfill", "Burial"], "site_type": ["landfill", "cattle_burial"]},
                [square(*LANDFILL, 100), rect(*BURIAL)])
    roads = gdf({"name": ["Column road", "Village street"], "road_class": ["local", "street"]},
                [LineString([(X0 + 550, Y0), (X0 + 550, Y0 + 1200)]),
                 LineString([(X0 - 600, Y0 + 395), (X0 + 3400, Y0 + 395)])])
    water = gdf({"name": ["Canal"], "water_type": ["canal"]},
                [LineString([(X0 - 600, Y0 + 1150), (X0 + 3400, Y0 + 1150)])])
    frames = {"parcels": parcels, "settlements": settlements, "waste_sites": waste, "roads": roads,
              "water_bodies": water}
    ws.write_layers(frames, {k: {"source": "hand-made synthetic growth test", "source_date": "2026-12-01"}
                             for k in frames})
    res = 20.0
    w, h = 210, 70                                   # x −700…3 500, y −100…1 300
    ys = Y0 + 1300 - res / 2 - res * np.arange(h)
    z = (1500 + 0.02 * (ys - Y0))[:, None] * np.ones((1, w))
    dem = root.parent / f"{root.name}_dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0 - 700, Y0 + 1300, res, res)) as dst:
        dst.write(z.astype("float32"), 1)
    ws.set_dem(dem, source="analytic plane 0.02 m/m")
    return ws
