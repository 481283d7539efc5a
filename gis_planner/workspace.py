"""The municipality workspace: one GeoPackage of standard layers, a DEM beside it, provenance inside.

Layout of a workspace folder::

    <root>/workspace.gpkg     standard layers (parcels, boundary, …) + gp_layer_meta, gp_workspace_meta
    <root>/dem.tif            optional DEM (GeoTIFF)
    <root>/community.gpkg     community-map store (gis_planner.community), QGIS-readable
    <root>/layers/*.yaml      optional per-municipality overrides of the rule files

All vector layers of a workspace are stored in **one metric CRS**, the Kyrg-06 zone containing the
municipality (chosen when the workspace is created or at the first import). Imports reproject into it
and keep the original CRS in the provenance, so every analysis overlays layers without reprojection
and never measures area in degrees.

Writes are atomic: :meth:`Workspace.write_layers` writes into a copy of the GeoPackage and replaces the
file only when everything succeeded (under a file lock), so a failed import changes nothing.

Examples
--------
>>> import tempfile, geopandas as gpd
>>> from shapely.geometry import box
>>> ws = Workspace.create(tempfile.mkdtemp(), name="Test", crs=7695)
>>> sq = gpd.GeoDataFrame({"name": ["B"]}, geometry=[box(4300000, 4700000, 4300100, 4700100)], crs=7695)
>>> ws.write_layer("boundary", sq, source="hand-made", source_date="2026-01-01")
>>> ws.info()["layers"][0]["features"]
1
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from .catalog import load_rules
from .crs import metric_crs_for
from .errors import GisPlannerError

GPKG_NAME = "workspace.gpkg"
DEM_NAME = "dem.tif"
LAYER_META = "gp_layer_meta"
WS_META = "gp_workspace_meta"
_INTERNAL = {LAYER_META, WS_META}


def standard_layers() -> dict:
    """The standard layer definitions from ``layers/workspace_schema.yaml``."""
    return load_rules("workspace_schema")["layers"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()



def meta_text(meta: dict, key: str, lang: str | None = None) -> str | None:
    """A workspace metadata text in ``lang``: ``<key>_<lang>`` (e.g. ``district_ru``) when present, else
    ``<key>`` (the municipality's own language). ``None`` when neither is set.

    >>> meta_text({"name": "Демо айыл аймагы", "name_ru": "Демо айылный аймак"}, "name", "ru")
    'Демо айылный аймак'
    >>> meta_text({"name": "Демо айыл аймагы"}, "name", "en")
    'Демо айыл аймагы'
    """
    value = meta.get(f"{key}_{lang}") if lang else None
    value = value or meta.get(key)
    return str(value) if value else None

class Workspace:
    """A municipality workspace (see module docstring)."""

    def __init__(self, root: str | os.PathLike):
        path = Path(root)
        if path.suffix.lower() == ".gpkg":
            self.root = path.parent
            self.gpkg = path
        else:
            self.root = path
            self.gpkg = path / GPKG_NAME
        if not self.gpkg.exists():
            raise GisPlannerError("no workspace here (workspace.gpkg not found)", file=str(self.root),
                                  fix="create one with `gis-planner init` or build the demo with `make demo`",
                                  code="no_workspace")
        if self.gpkg.is_file():
            with open(self.gpkg, "rb") as fh:
                head = fh.read(16)
            if head != b"SQLite format 3\x00":  # a truncated copy or another file renamed: say so, not a traceback
                raise GisPlannerError("the workspace file is damaged or not a GeoPackage", file=str(self.gpkg),
                                      fix="restore workspace.gpkg from a backup copy, or create a new workspace "
                                          "with `gis-planner init`", code="bad_workspace")
        clean_orphans(self.root)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, root: str | os.PathLike, name: str, crs: Any = None, exist_ok: bool = False,
               **meta: Any) -> "Workspace":
        """Create an empty workspace folder with its GeoPackage.

        Parameters
        ----------
        root : path
            Folder to create (or an existing empty one).
        name : str
            Municipality name (as it should appear in reports).
        crs : EPSG code or CRS, optional
            The workspace CRS (a Kyrg-06 zone). If omitted it is chosen at the first import.
        **meta
            Other workspace metadata: ``name_ru``, ``oblast``, ``district``, ``code``, ``synthetic``…
        """
        root = Path(root)
        gpkg = root / GPKG_NAME
        if gpkg.exists() and not exist_ok:
            raise GisPlannerError("a workspace already exists here", file=str(root),
                                  fix="choose another folder or open the existing workspace",
                                  code="workspace_exists")
        root.mkdir(parents=True, exist_ok=True)
        if not gpkg.exists():
            tmp = root / f".creating-{GPKG_NAME}"
            tmp.unlink(missing_ok=True)
            # GeoPackage 1.2 keeps the file readable by older QGIS/GDAL releases on modest laptops
            pyogrio.write_dataframe(pd.DataFrame({"key": pd.Series([], dtype=object),
                                                  "value": pd.Series([], dtype=object)}),
                                    tmp, layer=WS_META, driver="GPKG", dataset_options={"VERSION": "1.2"})
            with contextlib.closing(sqlite3.connect(tmp)) as con:
                _ensure_meta_tables(con)
                con.commit()
            os.replace(tmp, gpkg)
        ws = cls(root)
        values = {"name": name, "created": _now(), **meta}
        if crs is not None:
            values["crs"] = CRS.from_user_input(crs).to_string()
        ws.set_meta(**values)
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Workspace":
        return cls(path)

    # ------------------------------------------------------------------ metadata
    def meta(self) -> dict:
        """Workspace-level metadata (name, crs, oblast, district, data_version …)."""
        with self._connect() as con:
            rows = con.execute(f"SELECT key, value FROM {WS_META}").fetchall()
        out = {}
        for k, v in rows:
            try:
                out[k] = json.loads(v)
            except (TypeError, json.JSONDecodeError):
                out[k] = v
        return out

    def set_meta(self, **values: Any) -> None:
        def apply(con: sqlite3.Connection) -> None:
            _set_meta(con, values)

        self._transaction(sql=apply)

    @property
    def name(self) -> str:
        return str(self.meta().get("name") or self.root.name)

    def local_name(self, lang: str | None = None) -> str:
        """The municipality's name in ``lang`` (``name_ru``, ``name_en`` …), else :attr:`name`."""
        return meta_text(self.meta(), "name", lang) or self.root.name

    @property
    def crs(self) -> CRS | None:
        value = self.meta().get("crs")
        return CRS.from_user_input(value) if value else None

    @property
    def version(self) -> str:
        """A data version that changes with every write (for caches)."""
        st = self.gpkg.stat()
        dem = self.dem_path
        dem_part = f":{dem.stat().st_mtime_ns}" if dem is not None else ""
        return f"{st.st_mtime_ns}:{st.st_size}{dem_part}"

    # ------------------------------------------------------------------ layers
    def layers(self) -> list[str]:
        """Names of the data layers present (spatial and attribute), internal tables excluded."""
        with self._connect() as con:
            rows = con.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name").fetchall()
        return [r[0] for r in rows if r[0] not in _INTERNAL]

    def has_layer(self, name: str) -> bool:
        return name in self.layers()

    def read_layer(self, name: str, columns: Iterable[str] | None = None, bbox=None,
                   where: str | None = None, missing_ok: bool = False) -> gpd.GeoDataFrame | None:
        """Read a layer as a GeoDataFrame in the workspace CRS.

        Returns ``None`` for a missing layer when ``missing_ok``; raises otherwise.
        """
        if not self.has_layer(name):
            if missing_ok:
                return None
            raise GisPlannerError(f"layer '{name}' is not in the workspace", file=str(self.gpkg),
                                  fix=f"import it with `gis-planner import --layer {name} FILE`",
                                  code="missing_layer")
        kwargs: dict[str, Any] = {"layer": name, "use_arrow": True}
        if columns is not None:
            kwargs["columns"] = list(columns)
        if bbox is not None:
            kwargs["bbox"] = tuple(bbox)
        if where:
            kwargs["where"] = where
        df = pyogrio.read_dataframe(self.gpkg, **kwargs)
        return df

    def read_table(self, name: str) -> pd.DataFrame:
        """Read an attribute (non-spatial) table."""
        return pyogrio.read_dataframe(self.gpkg, layer=name, read_geometry=False, use_arrow=True)

    def provenance(self, name: str | None = None) -> dict | list[dict]:
        """Provenance of one layer (source, date, original file/CRS, import report) or of all."""
        with self._connect() as con:
            cur = con.execute(f"SELECT layer, source, source_date, imported_at, original_file, "
                              f"original_crs, feature_count, notes FROM {LAYER_META}")
            rows = [dict(zip([c[0] for c in cur.description], r)) for r in cur.fetchall()]
        for r in rows:
            try:
                r["notes"] = json.loads(r["notes"]) if r["notes"] else {}
            except json.JSONDecodeError:
                pass
        if name is None:
            return rows
        for r in rows:
            if r["layer"] == name:
                return r
        return {"layer": name}

    def write_layer(self, name: str, gdf: gpd.GeoDataFrame, *, source: str,
                    source_date: str | None = None, original_file: str | None = None,
                    original_crs: str | None = None, notes: Mapping | None = None) -> None:
        """Write (replace) one layer atomically with its provenance. See :meth:`write_layers`."""
        self.write_layers({name: gdf}, {name: dict(source=source, source_date=source_date,
                                                   original_file=original_file,
                                                   original_crs=original_crs, notes=notes)})

    def write_layers(self, frames: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
                     provenance: Mapping[str, Mapping] | None = None) -> None:
        """Write several layers in one atomic step (all or nothing).

        Spatial frames are reprojected to the workspace CRS (which is set from the data if the workspace
        has none yet). ``provenance[name]`` may give ``source``, ``source_date``, ``original_file``,
        ``original_crs`` and ``notes`` (a JSON-able dict, e.g. the import report).
        """
        provenance = provenance or {}
        ws_crs = self.crs
        prepared: dict[str, pd.DataFrame] = {}
        for name, frame in frames.items():
            if name in _INTERNAL or not name.replace("_", "").isalnum():
                raise GisPlannerError(f"'{name}' is not a valid layer name", fix="use letters, digits and _",
                                      code="bad_layer_name")
            if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
                if frame.crs is None:
                    raise GisPlannerError(f"layer '{name}' has no CRS", fix="set a CRS before writing",
                                          code="missing_crs")
                if ws_crs is None:
                    bounds = frame.total_bounds if len(frame) else (0, 0, 0, 0)
                    ws_crs = metric_crs_for(bounds, frame.crs)
                if CRS.from_user_input(frame.crs) != ws_crs:
                    frame = frame.to_crs(ws_crs)
            prepared[name] = frame

        def write(tmp: Path) -> None:
            for name, frame in prepared.items():
                if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
                    frame = _storable(frame)
                    if len(frame):
                        gtype = _promote_geometry_type(frame)
                        pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                                geometry_type=gtype,
                                                promote_to_multi=gtype.startswith("Multi"))
                    else:
                        pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                                geometry_type="Unknown")
                else:
                    pyogrio.write_dataframe(pd.DataFrame(frame), tmp, layer=name, driver="GPKG")

        def record(con: sqlite3.Connection) -> None:
            if ws_crs is not None:
                _set_meta(con, {"crs": ws_crs.to_string()})
            for name, frame in prepared.items():
                p = dict(provenance.get(name) or {})
                con.execute(
                    f"INSERT OR REPLACE INTO {LAYER_META} (layer, source, source_date, imported_at, "
                    f"original_file, original_crs, feature_count, notes) VALUES (?,?,?,?,?,?,?,?)",
                    (name, p.get("source") or "unknown", p.get("source_date"), _now(),
                     p.get("original_file"), p.get("original_crs"), int(len(frame)),
                     json.dumps(p.get("notes") or {}, ensure_ascii=False, default=str)))

        self._transaction(files=write, sql=record)

    def delete_layer(self, name: str) -> None:
        if not self.has_layer(name):
            return

        def drop(tmp: Path) -> None:
            con = sqlite3.connect(tmp)
            try:
                _drop_gpkg_table(con, name)
                con.commit()
            finally:
                con.close()

        def forget(con: sqlite3.Connection) -> None:
            con.execute(f"DELETE FROM {LAYER_META} WHERE layer = ?", (name,))

        self._transaction(files=drop, sql=forget)

    # ------------------------------------------------------------------ DEM
    @property
    def dem_path(self) -> Path | None:
        p = self.root / DEM_NAME
        return p if p.exists() else None

    def set_dem(self, src: str | os.PathLike, *, source: str, source_date: str | None = None,
                notes: Mapping | None = None) -> Path:
        """Copy a DEM GeoTIFF into the workspace (atomically) and record its provenance."""
        import rasterio

        from .io.safety import check_input, check_path

        check_path(src)
        src = Path(src)
        check_input(src)  # a VRT 'DEM' could point at remote or local files (docs/security.md)
        try:
            with rasterio.open(src) as ds:
                if ds.crs is None:
                    raise GisPlannerError("the DEM has no CRS", file=str(src),
                                          fix="assign one (e.g. gdal_edit.py -a_srs EPSG:4326)",
                                          code="missing_crs")
                dem_crs = ds.crs.to_string()
        except rasterio.errors.RasterioIOError as exc:
            raise GisPlannerError(f"cannot read the DEM ({exc})", file=str(src),
                                  fix="give a GeoTIFF elevation raster", code="bad_dem") from None
        dst = self.root / DEM_NAME
        if src.resolve() != dst.resolve():
            tmp = self.root / f".{DEM_NAME}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)

        def record(con: sqlite3.Connection) -> None:
            con.execute(
                f"INSERT OR REPLACE INTO {LAYER_META} (layer, source, source_date, imported_at, "
                f"original_file, original_crs, feature_count, notes) VALUES (?,?,?,?,?,?,?,?)",
                ("dem", source, source_date, _now(), src.name, dem_crs, None,
                 json.dumps(notes or {}, ensure_ascii=False, default=str)))

        self._transaction(sql=record)
        return dst

    # ------------------------------------------------------------------ info
    def info(self) -> dict:
        """Everything ``gis-planner info`` shows: metadata, layers with counts/CRS/source/date, DEM."""
        prov = {p["layer"]: p for p in self.provenance()}
        schema = standard_layers()
        layers = []
        for name in self.layers():
            li = pyogrio.read_info(self.gpkg, layer=name)
            p = prov.get(name, {})
            layers.append({
                "name": name,
                "standard": name in schema,
                "features": int(li["features"]),
                "geometry_type": li.get("geometry_type"),
                "crs": li.get("crs"),
                "bounds": [float(b) for b in li["total_bounds"]] if li.get("total_bounds") is not None
                and li.get("geometry_type") else None,
                "source": p.get("source"),
                "source_date": p.get("source_date"),
                "imported_at": p.get("imported_at"),
                "original_file": p.get("original_file"),
                "original_crs": p.get("original_crs"),
                "warnings": (p.get("notes") or {}).get("warnings", []) if isinstance(p.get("notes"), dict) else [],
                # source scale / positional accuracy (gis_planner.io.precision), None when not recorded
                "precision": (p.get("notes") or {}).get("precision") if isinstance(p.get("notes"), dict) else None,
            })
        dem = None
        if self.dem_path is not None:
            import rasterio

            with rasterio.open(self.dem_path) as ds:
                p = prov.get("dem", {})
                dem = {"path": str(self.dem_path), "width": ds.width, "height": ds.height,
                       "crs": ds.crs.to_string() if ds.crs else None,
                       "resolution": [abs(ds.transform.a), abs(ds.transform.e)],
                       "source": p.get("source"), "source_date": p.get("source_date")}
        meta = self.meta()
        return {
            "workspace": str(self.root),
            "name": meta.get("name"),
            "meta": meta,
            "crs": meta.get("crs"),
            "layers": layers,
            "missing_standard_layers": [n for n, d in schema.items()   # optional layers are not "missing"
                                        if not d.get("derived") and not d.get("optional")
                                        and n not in {lay["name"] for lay in layers}],
            "dem": dem,
        }

    # ------------------------------------------------------------------ internals
    @contextlib.contextmanager
    def _connect(self):
        con = sqlite3.connect(f"file:{self.gpkg}?mode=ro", uri=True)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def lock(self):
        """Exclusive lock serialising writers of this workspace."""
        lock_path = self.root / ".workspace.lock"
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _transaction(self, files=None, sql=None) -> None:
        """Copy-on-write: apply ``files(tmp_path)`` then ``sql(con)`` to a copy, then swap it in."""
        with self.lock():
            fd, tmp_name = tempfile.mkstemp(prefix=".ws-", suffix=".gpkg", dir=self.root)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                shutil.copyfile(self.gpkg, tmp)
                if files is not None:
                    files(tmp)
                con = sqlite3.connect(tmp)
                try:
                    _ensure_meta_tables(con)
                    if sql is not None:
                        sql(con)
                    counter = con.execute(f"SELECT value FROM {WS_META} WHERE key='data_version'").fetchone()
                    version = int(json.loads(counter[0])) + 1 if counter else 1
                    _set_meta(con, {"data_version": version, "modified": _now()})
                    con.commit()
                finally:
                    con.close()
                os.replace(tmp, self.gpkg)
            except GisPlannerError:
                raise
            except (OSError, sqlite3.Error, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
                    pyogrio.errors.FieldError, pyogrio.errors.GeometryError) as exc:
                raise GisPlannerError(f"writing the workspace failed ({exc}); nothing was changed",
                                      file=str(self.gpkg), fix="check disk space and permissions",
                                      code="write_failed") from None
            finally:
                tmp.unlink(missing_ok=True)


_ORPHAN_PATTERNS = (".ws-*.gpkg", ".ws-*.gpkg-journal", ".ws-*.gpkg-wal", ".ws-*.gpkg-shm", f".{DEM_NAME}.tmp")


def clean_orphans(root: str | os.PathLike) -> list[Path]:
    """Remove the copies a killed write left behind (``.ws-*.gpkg`` and its SQLite journal, ``.dem.tif.tmp``).

    They are stale only when no writer holds the workspace lock: a write in progress keeps the lock for
    as long as its copy exists, so when the lock can be taken at once every such file is an orphan.
    Returns the removed files (nothing when the lock is busy or the folder is read-only).
    """
    root = Path(root)
    found = [p for pat in _ORPHAN_PATTERNS for p in root.glob(pat)]
    if not found:
        return []
    removed: list[Path] = []
    try:
        with open(root / ".workspace.lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return []  # a writer is working: its copy is not an orphan
            try:
                for p in [p for pat in _ORPHAN_PATTERNS for p in root.glob(pat)]:
                    try:
                        p.unlink()
                        removed.append(p)
                    except OSError:
                        pass
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return removed
    return removed


def open_workspace(path: str | os.PathLike | None = None) -> Workspace:
    """Open a workspace (default: ``GIS_PLANNER_WORKSPACE`` or the bundled demo)."""
    from . import settings

    return Workspace(path if path is not None else settings.default_workspace())


# ---------------------------------------------------------------------- helpers
def _ensure_meta_tables(con: sqlite3.Connection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {WS_META} (fid INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"key TEXT UNIQUE, value TEXT)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {LAYER_META} (fid INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"layer TEXT UNIQUE NOT NULL, source TEXT, source_date TEXT, imported_at TEXT, "
                f"original_file TEXT, original_crs TEXT, feature_count INTEGER, notes TEXT)")
    con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {WS_META}_key ON {WS_META}(key)")
    con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {LAYER_META}_layer ON {LAYER_META}(layer)")
    for table, ident in ((WS_META, "workspace metadata"), (LAYER_META, "layer provenance")):
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
                    "VALUES (?, 'attributes', ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))", (table, ident))


def _set_meta(con: sqlite3.Connection, values: Mapping[str, Any]) -> None:
    _ensure_meta_tables(con)
    for key, val in values.items():
        con.execute(f"INSERT INTO {WS_META} (key, value) VALUES (?, ?) "
                    f"ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(val, ensure_ascii=False, default=str)))


def _drop_gpkg_table(con: sqlite3.Connection, name: str) -> None:
    rtree = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                        (name,)).fetchone()
    if rtree:
        for trig in con.execute("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=?",
                                (name,)).fetchall():
            con.execute(f'DROP TRIGGER IF EXISTS "{trig[0]}"')
        con.execute(f'DROP TABLE IF EXISTS "rtree_{name}_{rtree[0]}"')
    con.execute(f'DROP TABLE IF EXISTS "{name}"')
    for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents"):
        try:
            con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))
        except sqlite3.OperationalError:
            pass


def _storable(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Make a frame writable to GeoPackage: object columns holding lists/dicts become JSON text."""
    out = frame
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        s = frame[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, (list, dict, tuple, set))).any():
            if out is frame:
                out = frame.copy()
            out[col] = s.map(lambda v: json.dumps(list(v) if isinstance(v, (set, tuple)) else v,
                                                  ensure_ascii=False, default=str)
                             if isinstance(v, (list, dict, tuple, set)) else v)
    return out


def _promote_geometry_type(frame: gpd.GeoDataFrame) -> str:
    """One geometry type per layer, as QGIS expects: Polygon+MultiPolygon -> MultiPolygon, etc."""
    types = set(frame.geometry.geom_type.dropna().unique())
    for base in ("Point", "LineString", "Polygon"):
        if types and types <= {base, f"Multi{base}"}:
            return f"Multi{base}" if f"Multi{base}" in types else base
    return "Unknown"
