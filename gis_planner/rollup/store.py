"""A national layer partitioned by municipality, stored as GeoParquet (the input of the roll-up).

Every file is read and written through **fsspec**, so a national set can live in a local or shared
folder (``/data/national``, NFS) or in object storage (``s3://bucket/national`` — AWS S3, MinIO, any
S3-compatible store — ``gs://…``, ``abfs://…``, with the packages of the extras ``gis_planner[s3]``,
``[gcs]``, ``[azure]``). :func:`open_store` resolves a path **on the driver** (a relative local path
becomes absolute; a URL stays a URL) and the resulting :class:`Store` (filesystem + path, picklable) is
what the Dask tasks receive, so every worker reads exactly the same place.

Layout of a *national set*::

    manifest.json              crs, counts, how it was made (generator, seed)
    municipalities.parquet     one polygon per municipality: code, name, district, oblast
    parcels/<code>.parquet     the parcels of one municipality (one file = one partition), Hilbert-sorted,
                               bbox covering, row groups of PARCEL_ROW_GROUP parcels (tiles read row groups)
    restrictions.parquet       restriction frame (kind, subtype, level, …), bbox covering, Hilbert-sorted
    hazard_zones.parquet       hazard zones (hazard_type, level, method, …), bbox covering, Hilbert-sorted

Rules that make the roll-up exact (nothing counted twice, nothing lost):

* a parcel belongs to exactly one partition: the municipality containing its **representative point**
  (``shapely.point_on_surface``) — :func:`assign_municipality`, :func:`write_partitioned`;
* inside a partition, a parcel belongs to exactly one **tile** (a run of row groups of the
  Hilbert-sorted file, :func:`plan_tiles`), so a large municipality is split without any parcel
  counted twice;
* restriction and hazard polygons are **not** split between partitions or tiles: each task reads every
  polygon whose bounding box meets its parcels (and, for the zone areas, its municipality) through the
  GeoParquet 1.1 ``bbox`` covering column, and unions them within a kind itself. The per-parcel areas
  are therefore those of a single-machine run; areas of the zones themselves are clipped to the
  municipality polygon, once per municipality, so they add up to the national area of the union.

Example
-------
>>> s = NationalSet("s3://bucket/national", storage_options={"endpoint_url": "http://minio:9000"})  # doctest: +SKIP
>>> part = s.read_partition(s.codes()[0])               # doctest: +SKIP
>>> len(part.parcels), part.municipality["district"]    # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import socket
import uuid
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
PARCEL_ROW_GROUP = 5_000  # parcels per row group of a partition file: the unit a tile is made of
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure", "abfss": "azure", "az": "azure"}


def is_url(path) -> bool:
    """``s3://…``, ``gs://…``, ``file://…``, ``memory://…``: anything with a protocol."""
    return isinstance(path, str) and "://" in path


def where_am_i() -> str:
    """``worker tcp://10.0.0.7:40123 on host node7`` inside a Dask worker, else ``host …``."""
    host = socket.gethostname()
    try:
        from distributed import get_worker

        return f"worker {get_worker().address} on host {host}"
    except (ImportError, ValueError):
        return f"host {host} (pid {os.getpid()})"


@dataclass(frozen=True)
class Store:
    """A folder on an fsspec filesystem (local, s3, gs, abfs, memory …). Picklable: a task gets one.

    ``url`` is what the user gave, made absolute on the driver (for messages); ``fs`` + ``path``
    address the files.
    """

    url: str
    fs: object
    path: str

    def join(self, *parts: str) -> str:
        return "/".join([self.path.rstrip("/"), *parts])

    def show(self, *parts: str) -> str:
        """The URL of a file of this store (for messages)."""
        return "/".join([self.url.rstrip("/"), *parts])

    @property
    def local(self) -> bool:
        return "file" in _protocols(self.fs)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.join(*parts))

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(self.join(pattern)))

    def read_text(self, *parts: str) -> str:
        with self.fs.open(self.join(*parts), "r", encoding="utf-8") as f:
            return f.read()

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode("utf-8"), *parts)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Whole-file write; atomic on a local disk (temp file + rename) and on object storage (one PUT)."""
        path = self.join(*parts)
        parent = path.rsplit("/", 1)[0]
        if self.local:
            self.fs.makedirs(parent, exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            with self.fs.open(tmp, "wb") as f:
                f.write(data)
            self.fs.mv(tmp, path)
        else:
            with self.fs.open(path, "wb") as f:
                f.write(data)

    def rm(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.rm(self.join(*parts))

    def read_parquet(self, *parts: str, bbox=None, columns=None) -> gpd.GeoDataFrame:
        g = gpd.read_parquet(self.join(*parts), filesystem=self.fs, columns=columns,
                             bbox=None if bbox is None else tuple(float(v) for v in bbox))
        return g.drop(columns=["bbox"]) if "bbox" in g.columns else g

    def parquet_file(self, *parts: str):
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.fs.open(self.join(*parts), "rb"))

    def read_row_groups(self, row_groups, *parts: str) -> gpd.GeoDataFrame:
        """Only these row groups of a GeoParquet file (a tile of a partition)."""
        from geopandas.io.arrow import _arrow_to_geopandas

        pf = self.parquet_file(*parts)
        table = pf.read_row_groups(list(row_groups))
        g = _arrow_to_geopandas(table)
        return g.drop(columns=["bbox"]) if "bbox" in g.columns else g

    def write_parquet(self, df: pd.DataFrame, *parts: str, sort: bool = False, row_group_size: int | None = None) -> None:
        """(Geo)Parquet; with ``sort`` Hilbert-ordered rows and a bbox covering column (bbox reads skip row groups)."""
        import io

        buf = io.BytesIO()
        if isinstance(df, gpd.GeoDataFrame):
            if sort and len(df):
                order = np.argsort(df.hilbert_distance().to_numpy(), kind="stable")
                df = df.iloc[order].reset_index(drop=True)
            df.to_parquet(buf, index=False, write_covering_bbox=sort, row_group_size=row_group_size)
        else:
            df.to_parquet(buf, index=False, row_group_size=row_group_size)
        self.write_bytes(buf.getvalue(), *parts)


def _protocols(fs) -> tuple:
    p = fs.protocol
    return tuple(p) if isinstance(p, (tuple, list)) else (p,)


def open_store(url, storage_options: dict | None = None) -> Store:
    """Resolve a folder or URL **here** (on the driver): a relative local path becomes absolute.

    Raises a :class:`GisPlannerError` naming the extra to install when the protocol's fsspec package
    (``s3fs``, ``gcsfs``, ``adlfs``) is missing.
    """
    import fsspec

    if isinstance(url, Store):
        return url
    s = str(url)
    if not is_url(s):
        s = os.path.abspath(os.path.expanduser(s))
    try:
        fs, path = fsspec.core.url_to_fs(s, **(storage_options or {}))
    except ImportError as exc:
        proto = s.split("://", 1)[0]
        extra = EXTRAS.get(proto, proto)
        raise GisPlannerError(f"no filesystem package for {proto}:// ({exc})", file=s,
                              fix=f"pip install 'gis_planner[{extra}]'", code="missing_dependency") from None
    except (TypeError, ValueError) as exc:
        raise GisPlannerError(f"cannot open {s} ({exc})", file=s,
                              fix="check the URL and the --storage-option values", code="bad_option") from None
    return Store(s, fs, path.rstrip("/") or path)


def parse_storage_options(items) -> dict:
    """``["endpoint_url=http://minio:9000", "anon=false"]`` → ``{"endpoint_url": …, "anon": False}``.

    Values that read as JSON (numbers, true/false, objects) are decoded; everything else stays text.
    A dotted key (``client_kwargs.region_name=…``) makes a nested dict.
    """
    out: dict = {}
    for item in items or ():
        if "=" not in item:
            raise GisPlannerError(f"storage option '{item}' is not key=value", fix="e.g. --storage-option "
                                  "endpoint_url=http://minio:9000", code="bad_option")
        key, value = item.split("=", 1)
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        d = out
        *head, last = key.strip().split(".")
        for k in head:
            d = d.setdefault(k, {})
        d[last] = v
    return out


def write_sorted_parquet(gdf: gpd.GeoDataFrame, path, row_group_size: int = 2_000, storage_options=None) -> None:
    """GeoParquet with a bbox covering column, rows in Hilbert order (bbox reads skip row groups).

    ``path`` is a local path or an fsspec URL.
    """
    s = str(path)
    head, _, name = s.rstrip("/").rpartition("/")
    if not is_url(s):
        p = Path(s)
        head, name = str(p.parent), p.name
    open_store(head or ".", storage_options).write_parquet(gdf, name, sort=True, row_group_size=row_group_size)


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


def write_parcels(store: Store, code: str, parcels: gpd.GeoDataFrame, row_group_size: int = PARCEL_ROW_GROUP) -> None:
    """One municipality's partition file: Hilbert order, bbox covering, row groups of ``row_group_size``."""
    store.write_parquet(parcels.reset_index(drop=True), PARCELS_DIR, f"{code}.parquet", sort=True,
                        row_group_size=row_group_size)


def write_partitioned(root, parcels: gpd.GeoDataFrame, municipalities: gpd.GeoDataFrame,
                      restrictions: gpd.GeoDataFrame | None = None,
                      hazard_zones: gpd.GeoDataFrame | None = None, append: bool = False,
                      storage_options: dict | None = None, row_group_size: int = PARCEL_ROW_GROUP) -> dict:
    """Write (or append to) a national set (folder or URL): parcels split by municipality (representative point).

    Parcels whose point lies in no municipality are refused (the error names one of them).
    Returns ``{code: parcels written}``.
    """
    store = open_store(root, storage_options)
    codes = assign_municipality(parcels, municipalities)
    lost = np.flatnonzero(pd.isna(codes))
    if lost.size:
        cad = parcels["cadastral_no"].iloc[lost[0]] if "cadastral_no" in parcels else int(lost[0])
        raise GisPlannerError(f"{lost.size} parcels lie outside every municipality polygon",
                              feature=str(cad), fix="extend the municipality layer or drop these parcels",
                              code="parcel_outside_municipalities")
    if not append or not store.exists(MUNICIPALITIES):
        store.write_parquet(municipalities, MUNICIPALITIES, sort=True, row_group_size=1_000)
    counts = {}
    parcels = parcels.assign(municipality=codes)
    for code, part in parcels.groupby("municipality", sort=True):
        write_parcels(store, str(code), part, row_group_size)
        counts[str(code)] = len(part)
    if restrictions is not None:
        store.write_parquet(restrictions, RESTRICTIONS, sort=True, row_group_size=2_000)
    if hazard_zones is not None:
        store.write_parquet(hazard_zones, HAZARDS, sort=True, row_group_size=2_000)
    return counts


@dataclass
class Partition:
    """What one task needs for one municipality (or one tile of it)."""

    code: str
    municipality: dict          # code, name, district, oblast
    boundary: shapely.Geometry  # the municipality polygon
    parcels: gpd.GeoDataFrame
    restrictions: gpd.GeoDataFrame | None
    hazard_zones: gpd.GeoDataFrame | None


def not_visible(store: Store, what: str) -> GisPlannerError:
    """The error of a task that cannot see a file the driver saw: it names the worker."""
    here = where_am_i()
    fix = ("a local path must be the same shared folder on every worker (NFS, the same mount point); "
           "or put the set in object storage (s3://…, gs://…, abfs://…)")
    if store.url.startswith("memory://"):
        fix = "memory:// exists only inside one process: use a shared folder or object storage"
    return GisPlannerError(f"{here} cannot read {what} (the driver can)", file=store.show(what), fix=fix,
                           code="not_visible_on_worker", details={"where": here})


def read_partition(store: Store, code: str, info: dict, boundary, row_groups=None, zones: bool = True) -> Partition:
    """Parcels of one municipality (or of the row groups of one tile) and every restriction/hazard
    polygon that can touch them; with ``zones`` also every polygon over the municipality polygon."""
    rel = f"{PARCELS_DIR}/{code}.parquet"
    try:
        parcels = (store.read_parquet(rel) if row_groups is None
                   else store.read_row_groups(row_groups, rel))
    except FileNotFoundError:
        raise not_visible(store, rel) from None
    b = np.array(boundary.bounds) if zones or not len(parcels) else None
    if len(parcels):
        pb = parcels.total_bounds
        b = pb if b is None else np.array([min(b[0], pb[0]), min(b[1], pb[1]), max(b[2], pb[2]), max(b[3], pb[3])])
    restr = _read_bbox(store, RESTRICTIONS, b)
    hz = _read_bbox(store, HAZARDS, b)
    return Partition(str(code), info, boundary, parcels, restr, hz)


def _read_bbox(store: Store, name: str, bounds) -> gpd.GeoDataFrame | None:
    try:
        g = store.read_parquet(name, bbox=bounds)
    except FileNotFoundError:
        return None
    if len(g):
        g = g[shapely.intersects(g.geometry.values, shapely.box(*bounds))].reset_index(drop=True)
    return g


class NationalSet:
    """A national set: a folder or an fsspec URL (see the module docstring)."""

    def __init__(self, root, storage_options: dict | None = None):
        self.store = open_store(root, storage_options)
        self.url = self.store.url
        try:
            ok = self.store.exists(MUNICIPALITIES)
        except (OSError, ValueError) as exc:  # unreachable endpoint, bad credentials …
            raise GisPlannerError(f"cannot read {self.url} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                                  file=self.url, fix="check the URL, the credentials and --storage-option",
                                  code="storage_unreachable") from None
        if not ok:
            raise GisPlannerError("not a national set: municipalities.parquet is missing", file=self.url,
                                  fix="generate one with benchmarks/national_synthetic.py or "
                                      "gis_planner.rollup.write_partitioned", code="missing_file")
        self._munis: gpd.GeoDataFrame | None = None

    @property
    def root(self) -> str:
        return self.url

    @property
    def manifest(self) -> dict:
        return json.loads(self.store.read_text(MANIFEST)) if self.store.exists(MANIFEST) else {}

    def municipalities(self) -> gpd.GeoDataFrame:
        if self._munis is None:
            m = self.store.read_parquet(MUNICIPALITIES)
            missing = [c for c in MUNI_COLUMNS if c not in m.columns]
            if missing:
                raise GisPlannerError(f"municipalities.parquet lacks the fields {', '.join(missing)}",
                                      file=self.store.show(MUNICIPALITIES),
                                      fix="give every municipality a code, name, district and oblast",
                                      code="missing_field")
            m["code"] = m["code"].astype(str)
            self._munis = m.sort_values("code").reset_index(drop=True)
        return self._munis

    def codes(self) -> list[str]:
        """Municipality codes that have a parcel partition, sorted."""
        have = {p.rsplit("/", 1)[-1][:-len(".parquet")] for p in self.store.glob(f"{PARCELS_DIR}/*.parquet")}
        return [c for c in self.municipalities()["code"] if c in have]

    def hierarchy(self) -> pd.DataFrame:
        return pd.DataFrame(self.municipalities()[list(MUNI_COLUMNS)])

    def parcel_file(self, code: str) -> str:
        """The partition file of one municipality (an fsspec path of :attr:`store`)."""
        return self.store.join(PARCELS_DIR, f"{code}.parquet")

    def parcel_counts(self, codes=None) -> dict[str, list[int]]:
        """``{code: [parcels per row group]}`` from the Parquet footers (no data read)."""
        out = {}
        for c in codes if codes is not None else self.codes():
            md = self.store.parquet_file(PARCELS_DIR, f"{c}.parquet").metadata
            out[c] = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        return out

    def info(self, code: str) -> tuple[dict, shapely.Geometry]:
        m = self.municipalities()
        row = m[m["code"] == str(code)]
        if not len(row):
            raise GisPlannerError(f"unknown municipality code '{code}'", file=self.store.show(MUNICIPALITIES),
                                  fix="use a code listed by `gis-planner rollup info`", code="unknown_code")
        return {c: str(row[c].iloc[0]) for c in MUNI_COLUMNS}, row.geometry.iloc[0]

    def read_partition(self, code: str, row_groups=None, zones: bool = True) -> Partition:
        """Parcels of one municipality and every restriction/hazard polygon that can touch them."""
        info, boundary = self.info(code)
        part = read_partition(self.store, str(code), info, boundary, row_groups, zones)
        if len(part.parcels) and part.parcels.crs != self.municipalities().crs:
            raise GisPlannerError("the parcels and the municipalities are in different CRS",
                                  file=self.store.show(PARCELS_DIR, f"{code}.parquet"),
                                  fix="write all layers in one CRS", code="crs_mismatch")
        return part
