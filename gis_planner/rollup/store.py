"""A national layer partitioned by municipality, stored as GeoParquet (the input of the roll-up).

Layout of a *national set* folder::

    manifest.json              crs, counts, how it was made (generator, seed)
    municipalities.parquet     one polygon per municipality: code, name, district, oblast
    parcels/<code>.parquet     the parcels of one municipality (one file = one partition)
    restrictions.parquet       restriction frame (kind, subtype, level, …), bbox covering, Hilbert-sorted
    hazard_zones.parquet       hazard zones (hazard_type, level, method, …), bbox covering, Hilbert-sorted

Rules that make the roll-up exact (nothing counted twice, nothing lost):

* a parcel belongs to exactly one partition: the municipality containing its **representative point**
  (``shapely.point_on_surface``) — :func:`assign_municipality`, :func:`write_partitioned`;
* restriction and hazard polygons are **not** split between partitions on disk: each partition reads
  every polygon whose bounding box meets its parcels or its municipality (GeoParquet 1.1 ``bbox``
  covering column, so only the needed row groups are read) and unions them within a kind itself.
  The per-parcel areas are therefore those of a single-machine run; areas of the zones themselves
  (ha of each restriction kind, ``zone_ha`` of the hazard levels) are clipped to the municipality
  polygon, so they add up to the national area of the union.

Example
-------
>>> s = NationalSet("benchmarks/out/national")         # doctest: +SKIP
>>> part = s.read_partition(s.codes()[0])               # doctest: +SKIP
>>> len(part.parcels), part.municipality["district"]    # doctest: +SKIP
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import GisPlannerError

MANIFEST = "manifest.json"
MUNICIPALITIES = "municipalities.parquet"
PARCELS_DIR = "parcels"
RESTRICTIONS = "restrictions.parquet"
HAZARDS = "hazard_zones.parquet"
MUNI_COLUMNS = ("code", "name", "district", "oblast")


def write_sorted_parquet(gdf: gpd.GeoDataFrame, path: Path, row_group_size: int = 2_000) -> None:
    """GeoParquet with a bbox covering column, rows in Hilbert order (bbox reads skip row groups)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(gdf):
        order = np.argsort(gdf.hilbert_distance().to_numpy(), kind="stable")
        gdf = gdf.iloc[order].reset_index(drop=True)
    tmp = path.with_suffix(".parquet.tmp")
    gdf.to_parquet(tmp, index=False, write_covering_bbox=True, row_group_size=row_group_size)
    tmp.replace(path)


def assign_municipality(parcels: gpd.GeoDataFrame, municipalities: gpd.GeoDataFrame) -> np.ndarray:
    """Code of the municipality containing each parcel's representative point (None if none).

    A point on a shared edge is given to the first municipality in ``municipalities`` order, so every
    parcel gets at most one code.

    >>> from shapely.geometry import box
    >>> m = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs=7695)
    >>> p = gpd.GeoDataFrame(geometry=[box(1, 1, 2, 2), box(9, 1, 19, 2)], crs=7695)
    >>> assign_municipality(p, m).tolist()
    ['A', 'B']
    """
    pts = shapely.point_on_surface(np.asarray(parcels.geometry.values, dtype=object))
    mi, pi = shapely.STRtree(pts).query(np.asarray(municipalities.geometry.values, dtype=object),
                                        predicate="covers")
    out = np.full(len(parcels), None, dtype=object)
    order = np.lexsort((mi, pi))  # first municipality per parcel
    pi, mi = pi[order], mi[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    codes = municipalities["code"].astype(str).to_numpy()
    out[pi[first]] = codes[mi[first]]
    return out


def write_partitioned(root, parcels: gpd.GeoDataFrame, municipalities: gpd.GeoDataFrame,
                      restrictions: gpd.GeoDataFrame | None = None,
                      hazard_zones: gpd.GeoDataFrame | None = None, append: bool = False) -> dict:
    """Write (or append to) a national set: parcels split by municipality (representative point).

    Parcels whose point lies in no municipality are refused (the error names one of them).
    Returns ``{code: parcels written}``.
    """
    root = Path(root)
    codes = assign_municipality(parcels, municipalities)
    lost = np.flatnonzero(pd.isna(codes))
    if lost.size:
        cad = parcels["cadastral_no"].iloc[lost[0]] if "cadastral_no" in parcels else int(lost[0])
        raise GisPlannerError(f"{lost.size} parcels lie outside every municipality polygon",
                              feature=str(cad), fix="extend the municipality layer or drop these parcels",
                              code="parcel_outside_municipalities")
    (root / PARCELS_DIR).mkdir(parents=True, exist_ok=True)
    if not append or not (root / MUNICIPALITIES).exists():
        write_sorted_parquet(municipalities[[c for c in municipalities.columns]], root / MUNICIPALITIES, 1_000)
    counts = {}
    parcels = parcels.assign(municipality=codes)
    for code, part in parcels.groupby("municipality", sort=True):
        part.reset_index(drop=True).to_parquet(root / PARCELS_DIR / f"{code}.parquet", index=False)
        counts[str(code)] = len(part)
    if restrictions is not None:
        write_sorted_parquet(restrictions, root / RESTRICTIONS)
    if hazard_zones is not None:
        write_sorted_parquet(hazard_zones, root / HAZARDS)
    return counts


@dataclass
class Partition:
    """What one worker needs for one municipality."""

    code: str
    municipality: dict          # code, name, district, oblast
    boundary: shapely.Geometry  # the municipality polygon
    parcels: gpd.GeoDataFrame
    restrictions: gpd.GeoDataFrame | None
    hazard_zones: gpd.GeoDataFrame | None


class NationalSet:
    """A national set folder (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        if not (self.root / MUNICIPALITIES).exists():
            raise GisPlannerError("not a national set: municipalities.parquet is missing", file=str(self.root),
                                  fix="generate one with benchmarks/national_synthetic.py or "
                                      "gis_planner.rollup.write_partitioned", code="missing_file")
        self._munis: gpd.GeoDataFrame | None = None

    @property
    def manifest(self) -> dict:
        f = self.root / MANIFEST
        return json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}

    def municipalities(self) -> gpd.GeoDataFrame:
        if self._munis is None:
            m = gpd.read_parquet(self.root / MUNICIPALITIES)
            missing = [c for c in MUNI_COLUMNS if c not in m.columns]
            if missing:
                raise GisPlannerError(f"municipalities.parquet lacks the fields {', '.join(missing)}",
                                      file=str(self.root / MUNICIPALITIES),
                                      fix="give every municipality a code, name, district and oblast",
                                      code="missing_field")
            m["code"] = m["code"].astype(str)
            self._munis = m.sort_values("code").reset_index(drop=True)
        return self._munis

    def codes(self) -> list[str]:
        """Municipality codes that have a parcel partition, sorted."""
        have = {p.stem for p in (self.root / PARCELS_DIR).glob("*.parquet")}
        return [c for c in self.municipalities()["code"] if c in have]

    def hierarchy(self) -> pd.DataFrame:
        return pd.DataFrame(self.municipalities()[list(MUNI_COLUMNS)])

    def parcel_file(self, code: str) -> Path:
        return self.root / PARCELS_DIR / f"{code}.parquet"

    @staticmethod
    def _read_bbox(path: Path, bounds) -> gpd.GeoDataFrame | None:
        if not path.exists():
            return None
        g = gpd.read_parquet(path, bbox=tuple(float(v) for v in bounds))
        if len(g):
            g = g[shapely.intersects(g.geometry.values, shapely.box(*bounds))].reset_index(drop=True)
        return g

    def read_partition(self, code: str) -> Partition:
        """Parcels of one municipality and every restriction/hazard polygon that can touch them."""
        m = self.municipalities()
        row = m[m["code"] == str(code)]
        if not len(row):
            raise GisPlannerError(f"unknown municipality code '{code}'", file=str(self.root / MUNICIPALITIES),
                                  fix="use a code listed by `gis-planner rollup info`", code="unknown_code")
        boundary = row.geometry.iloc[0]
        parcels = gpd.read_parquet(self.parcel_file(code))
        if parcels.crs != m.crs:
            raise GisPlannerError("the parcels and the municipalities are in different CRS",
                                  file=str(self.parcel_file(code)), fix="write all layers in one CRS",
                                  code="crs_mismatch")
        b = np.array(boundary.bounds)
        if len(parcels):
            pb = parcels.total_bounds
            b = np.array([min(b[0], pb[0]), min(b[1], pb[1]), max(b[2], pb[2]), max(b[3], pb[3])])
        restr = self._read_bbox(self.root / RESTRICTIONS, b)
        hz = self._read_bbox(self.root / HAZARDS, b)
        info = {c: str(row[c].iloc[0]) for c in MUNI_COLUMNS}
        return Partition(str(code), info, boundary, parcels, restr, hz)
