"""Readers: turn a user's file into a GeoDataFrame with source feature ids, whatever the format.

Supported: GeoPackage (choose the layer), Shapefile (plain or zipped; ``.cpg`` honoured, code page
guessed for legacy DBFs without one), GeoJSON, KML/KMZ (GDAL LIBKML driver, all folders), CSV with
a WKT column or lon/lat columns, and any other vector format GDAL reads (MapInfo TAB/MIF, GML…).

Every reader returns a :class:`RawSource`: the features with their *source feature ids* (what the
user sees in QGIS or a spreadsheet, see :data:`FID_NOTE`), the CRS as the file declares it
(``None`` if it declares none), and facts for the import report (driver, layer(s), encoding).
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from ..catalog import load_rules
from ..errors import GisPlannerError
from ..text import normalize_key
from . import formats as _formats
from .safezip import remove_tree, safe_extract
from .safety import check_input, check_path, gdal_path, nested_as_text
from .safezip import archive_limits, remove_tree, safe_extract

# what a source feature id means, per driver (text: i18n key io.fid.<value>)
FID_NOTE = {
    "ESRI Shapefile": "record0",   # record number from 0, as QGIS shows it
    "GeoJSON": "record0",          # feature number from 0 (or the feature's id)
    "GPKG": "fid",                 # fid of the GeoPackage layer
    "LIBKML": "placemark1",        # placemark number in file order from 1
    "KML": "placemark1",
    "CSV": "row",                  # spreadsheet row number (header is row 1)
    **_formats.FID_NOTES,          # FileGDB, GPX, DXF, OSM, GeoJSONSeq (gis_planner.io.formats)
}

VECTOR_EXTS = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".kmz", ".csv", ".tsv", ".txt", ".tab",
               ".mif", ".gml", ".fgb", ".sqlite", *_formats.EXTRA_EXTS)
_SKIP_IN_ZIP = re.compile(r"(^|/)(__MACOSX|\.)")


@dataclass
class RawSource:
    """A file read as-is (before field mapping and geometry checks)."""

    gdf: gpd.GeoDataFrame            # index = source feature ids, geometry may be None
    file: str                        # name shown to the user
    driver: str
    src_layers: list[str] = field(default_factory=list)
    encoding: str | None = None
    encoding_source: str | None = None   # 'cpg', 'ldid', 'guessed', 'user', 'declared'
    dropped: dict = field(default_factory=dict)   # fid -> reason for rows the reader could not use
    notes: list[dict] = field(default_factory=list)  # warnings found while reading (code, params)
    crs_assumed: str | None = None       # CRS assumed by the reader (CSV lon/lat)
    dbf: bool = False                     # attribute names come from a DBF (10-character limit)
    geometry_columns: dict = field(default_factory=dict)  # CSV: the columns that gave the geometry
    metadata: dict = field(default_factory=dict)  # GDAL dataset/layer metadata (scale for precision)
    read_errors: dict = field(default_factory=dict)  # fid -> reason: records the file promises but GDAL could not read


def _rules(ws=None) -> dict:
    return load_rules("import", ws)


def _err_read(label: str, exc: Exception, fix: str | None = None, path: Path | None = None) -> GisPlannerError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if path is not None:
        msg = msg.replace(str(path), label)  # GDAL quotes the full (often temporary) path
    msg = msg.split("; It might help")[0].rstrip(".")
    return GisPlannerError(f"cannot read the file ({msg})", file=label,
                           fix=fix or "check that the file is complete and in a supported format "
                                      "(GeoPackage, Shapefile, GeoJSON, KML/KMZ, CSV)",
                           code="unreadable")


def read_source(path: str | os.PathLike, src_layer: str | None = None, encoding: str | None = None,
                ws=None, target_layer: str | None = None, geometry_columns: dict | None = None) -> RawSource:
    """Read any supported vector file (see module docstring).

    Parameters
    ----------
    path : path
        The file: ``.gpkg .shp .zip .geojson .json .kml .kmz .csv`` or another GDAL vector format.
    src_layer : str, optional
        Layer inside a GeoPackage/KML, or the file to use inside a ZIP holding several.
    encoding : str, optional
        Force the text encoding of a Shapefile/CSV (otherwise ``.cpg`` → DBF mark → guess).
    ws : Workspace, optional
        For per-municipality overrides of ``layers/import.yaml``.
    target_layer : str, optional
        Workspace layer being imported (helps choose among several layers of a GeoPackage).
    geometry_columns : dict, optional
        CSV only: ``{"wkt": COLUMN}`` or ``{"lon": COLUMN, "lat": COLUMN}`` when the names are not
        recognised.

    Examples
    --------
    >>> import tempfile, os, geopandas as gpd
    >>> from shapely.geometry import Point
    >>> p = os.path.join(tempfile.mkdtemp(), "a.geojson")
    >>> gpd.GeoDataFrame({"n": [1]}, geometry=[Point(77, 42.6)], crs=4326).to_file(p)
    >>> raw = read_source(p); (raw.driver, list(raw.gdf.index))
    ('GeoJSON', [0])
    """
    check_path(path)
    path = Path(path)
    label = path.name
    check_input(path, label)
    if not path.exists():
        raise GisPlannerError("file not found", file=str(path), fix="check the path", code="not_found")
    if _formats.handles(path):   # FileGDB, GPX, DXF, OSM, GeoJSONSeq
        return _formats.read_extra(path, label, src_layer, target_layer, ws, encoding)
    if path.is_dir():
        raise GisPlannerError("this is a folder, not a file", file=str(path),
                              fix="give the .shp/.gpkg/.zip file itself", code="not_a_file")
    if ";" in path.name:  # pyogrio would open 'a; b.shp' as 'a': read through a plain-named link
        with gdal_path(path) as alias:
            try:
                raw = read_source(alias, src_layer=src_layer, encoding=encoding, ws=ws, target_layer=target_layer,
                                  geometry_columns=geometry_columns)
            except GisPlannerError as exc:
                exc.file = exc.file.replace(alias.name, label) if exc.file else exc.file
                exc.problem = exc.problem.replace(alias.name, label)
                raise
        raw.file = raw.file.replace(alias.name, label, 1)
        return raw
    suffix = path.suffix.lower()
    rules = _rules(ws)
    if suffix in (".zip", ".kmz"):
        tmp = Path(tempfile.mkdtemp(prefix="gp-import-"))
        try:
            files = safe_extract(path, tmp, **archive_limits(rules))
            inner = (None if suffix == ".kmz" else _formats.gdb_in(files, tmp)) or \
                _choose_in_archive(files, tmp, label, src_layer, kmz=suffix == ".kmz")
            try:
                raw = read_source(inner, src_layer=None if _stem_matches(inner, src_layer) else src_layer,
                                  encoding=encoding, ws=ws, target_layer=target_layer,
                                  geometry_columns=geometry_columns)
            except GisPlannerError as exc:
                # a lone .txt in an archive is documentation, not a table of coordinates
                if exc.code == "no_geometry_column" and inner.suffix.lower() == ".txt" and not geometry_columns:
                    raise _no_data_in_archive(label) from None
                raise
            raw.file = f"{label}/{inner.relative_to(tmp).as_posix()}"
            return raw
        finally:
            remove_tree(tmp)
    if suffix == ".shp":
        raw = _read_shapefile(path, label, encoding, rules)
        raw.read_errors = shapefile_read_errors(path, raw.gdf)
        return raw
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, label, encoding, rules, geometry_columns)
    if suffix == ".kml":
        return _read_kml(path, label, src_layer, rules)
    return _read_generic(path, label, src_layer, target_layer, encoding)


# ---------------------------------------------------------------------------------------- archives
def _stem_matches(p: Path, src_layer: str | None) -> bool:
    return bool(src_layer) and normalize_key(p.stem) == normalize_key(src_layer)


def _no_data_in_archive(label: str) -> GisPlannerError:
    return GisPlannerError("the archive holds no vector data file", file=label,
                           fix="zip the .shp with its .shx/.dbf/.prj (or a .gpkg/.geojson/.kml)",
                           code="zip_no_data")


def _choose_in_archive(files: list[Path], root: Path, label: str, src_layer: str | None,
                       kmz: bool) -> Path:
    rel = {f: f.relative_to(root).as_posix() for f in files}
    exts = (".kml",) if kmz else VECTOR_EXTS
    cands = [f for f in files if f.suffix.lower() in exts and not _SKIP_IN_ZIP.search(rel[f])]
    if not kmz:
        # a .dbf/.shx of a Shapefile is not a candidate; a .txt next to a .shp is documentation
        if any(f.suffix.lower() == ".shp" for f in cands):
            cands = [f for f in cands if f.suffix.lower() not in (".txt",)]
    if not cands:
        raise _no_data_in_archive(label)
    if src_layer:
        chosen = [f for f in cands if _stem_matches(f, src_layer)]
        if chosen:
            return chosen[0]
    if kmz:
        doc = [f for f in cands if f.name.lower() == "doc.kml"]
        return doc[0] if doc else cands[0]
    if len(cands) == 1:
        return cands[0]
    names = ", ".join(rel[f] for f in cands)
    raise GisPlannerError(f"the archive holds several data files: {names}", file=label,
                          fix="choose one with --src-layer NAME (file name without extension)",
                          code="choose_layer", details={"options": [f.stem for f in cands]})


# ---------------------------------------------------------------------------------------- shapefile
def _sidecar(path: Path, ext: str) -> Path | None:
    for cand in path.parent.iterdir():
        if cand.stem == path.stem and cand.suffix.lower() == ext:
            return cand
    return None


_CYR_LETTER = re.compile(r"[\u0410-\u044f\u0401\u0451\u04e8\u04e9\u04ae\u04af\u04a2\u04a3]")


def _cyrillic_score(text: str) -> float:
    """Share of non-ASCII characters that are Cyrillic letters (1.0 = perfectly plausible)."""
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 1.0
    return sum(1 for c in non_ascii if _CYR_LETTER.match(c)) / len(non_ascii)


def guess_encoding(raw: bytes, candidates) -> str | None:
    """Best encoding for legacy bytes: ``None`` if ASCII, ``utf-8`` if valid UTF-8, else the
    candidate giving the most plausible Cyrillic text.

    >>> guess_encoding("\\u041f\\u0430\\u0448\\u043d\\u044f".encode("cp1251"), ["cp1251", "cp866"])
    'cp1251'
    >>> guess_encoding("\\u041f\\u0430\\u0448\\u043d\\u044f".encode("cp866"), ["cp1251", "cp866"])
    'cp866'
    """
    if raw.isascii():
        return None
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best, best_score = None, -1.0
    for enc in candidates:
        try:
            text = raw.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _cyrillic_score(text)
        if score > best_score:
            best, best_score = enc, score
    return best


def _text_sample(gdf: pd.DataFrame, limit: int = 2000) -> list[str]:
    out = [str(c) for c in gdf.columns if c != "geometry"]
    for col in gdf.columns:
        if col == "geometry":
            continue
        s = gdf[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            vals = s.dropna().astype(str)
            out.extend(vals.iloc[:limit].tolist())
    return out


def _read_ogr(path: Path, label: str, **kwargs) -> gpd.GeoDataFrame:
    try:
        return nested_as_text(pyogrio.read_dataframe(path, fid_as_index=True, **kwargs))
    except UnicodeDecodeError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
            pyogrio.errors.GeometryError, pyogrio.errors.CRSError, RuntimeError, ValueError,
            shapely.errors.GEOSException) as exc:  # GEOS: a geometry GDAL passes but shapely cannot build
        raise _err_read(label, exc, path=path) from None


def _read_shapefile(path: Path, label: str, encoding: str | None, rules: dict) -> RawSource:
    missing = [ext for ext in (".shx", ".dbf") if _sidecar(path, ext) is None]
    if missing:
        raise GisPlannerError(f"the Shapefile is incomplete ({', '.join(missing)} missing)", file=label,
                              fix="give all parts together (.shp .shx .dbf .prj .cpg), e.g. zipped in one .zip",
                              code="shapefile_incomplete")
    fallbacks = (rules.get("shapefile") or {}).get("fallback_encodings") or ["cp1251"]
    notes: list[dict] = []
    if encoding:
        gdf = _read_ogr(path, label, encoding=encoding)
        return RawSource(gdf, label, "ESRI Shapefile", [path.stem], encoding, "user", dbf=True)
    cpg = _sidecar(path, ".cpg")
    dbf = _sidecar(path, ".dbf")
    with open(dbf, "rb") as fh:
        head = fh.read(32)
    ldid = head[29] if len(head) > 29 else 0
    try:
        gdf = _read_ogr(path, label)
        declared = pyogrio.read_info(path).get("encoding")
    except UnicodeDecodeError:
        # the .cpg/LDID promise an encoding the text does not have (often UTF-8 declared, cp1251 written)
        gdf, declared = None, None
    if gdf is not None and (cpg is not None or ldid != 0):
        bad = _has_replacement(gdf)
        if not bad:
            return RawSource(gdf, label, "ESRI Shapefile", [path.stem], declared,
                             "cpg" if cpg is not None else "ldid", dbf=True)
    if gdf is not None and cpg is None and ldid == 0:
        # GDAL decoded the DBF as ISO-8859-1, a byte-for-byte mapping: recover the bytes and guess
        try:
            raw = "\n".join(_text_sample(gdf)).encode("latin-1")
        except UnicodeEncodeError:
            return RawSource(gdf, label, "ESRI Shapefile", [path.stem], declared, "declared", dbf=True)
        enc = guess_encoding(raw, fallbacks)
        if enc is None:
            return RawSource(gdf, label, "ESRI Shapefile", [path.stem], "ascii", "guessed", dbf=True)
    else:
        # declared encoding failed: guess among UTF-8 and the fallbacks using the raw DBF bytes
        with open(dbf, "rb") as fh:
            sample = fh.read(4_000_000)
        enc = guess_encoding(sample, fallbacks) or fallbacks[0]
        notes.append({"code": "encoding_declared_wrong", "params": {"declared": declared or "?", "used": enc}})
    gdf = _read_ogr(path, label, encoding=enc)
    notes.append({"code": "encoding_guessed", "params": {"encoding": enc}})
    return RawSource(gdf, label, "ESRI Shapefile", [path.stem], enc, "guessed", notes=notes, dbf=True)


def shapefile_read_errors(path: Path, gdf: pd.DataFrame | None = None) -> dict:
    """Records of a Shapefile that cannot be read in full: ``{record number (from 0): reason}``.

    GDAL reads a truncated ``.shp`` (a half-copied file) without failing: the records beyond the end
    of the file come back with no geometry. The index (``.shx``) says where every record starts and
    how long it is, and the ``.dbf`` header how many records there are, so the damage is measured
    exactly: ``truncated`` (the record lies beyond the end of the ``.shp``), ``corrupt_record`` (its
    header does not match the index: wrong record number, length or shape type) and ``not_read``
    (a record the ``.dbf``/``.shx`` count that GDAL did not return).

    >>> import tempfile, geopandas as gpd
    >>> from shapely.geometry import box
    >>> d = Path(tempfile.mkdtemp())
    >>> gpd.GeoDataFrame({"a": [1, 2]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...                  crs=7695).to_file(d / "p.shp")
    >>> shapefile_read_errors(d / "p.shp")
    {}
    >>> data = (d / "p.shp").read_bytes(); _ = (d / "p.shp").write_bytes(data[:-20])
    >>> shapefile_read_errors(d / "p.shp")
    {1: 'truncated'}
    """
    path = Path(path)
    shx, dbf = _sidecar(path, ".shx"), _sidecar(path, ".dbf")
    errors: dict = {}
    n_shx = 0
    if shx is not None:
        idx = np.frombuffer(shx.read_bytes()[100:], dtype=">i4")
        idx = idx[: len(idx) // 2 * 2].reshape(-1, 2).astype(np.int64) * 2   # (offset, content length) in bytes
        n_shx = len(idx)
        size = path.stat().st_size
        shp_type = None
        if size >= 100:
            with open(path, "rb") as fh:
                head = fh.read(100)
            shp_type = int(np.frombuffer(head[32:36], dtype="<i4")[0])
        end = idx[:, 0] + 8 + idx[:, 1]
        beyond = end > size
        for i in np.flatnonzero(beyond):
            errors[int(i)] = "truncated"
        inside = np.flatnonzero(~beyond & (idx[:, 0] >= 100))
        if len(inside):
            mm = np.memmap(path, dtype=np.uint8, mode="r")
            off = idx[inside, 0]
            hdr = mm[off[:, None] + np.arange(12)]
            recno = hdr[:, 0:4].copy().view(">i4").ravel()
            clen = hdr[:, 4:8].copy().view(">i4").ravel().astype(np.int64) * 2
            stype = hdr[:, 8:12].copy().view("<i4").ravel()
            bad = (recno != inside + 1) | (clen != idx[inside, 1]) | ((stype != 0) & (stype != shp_type))
            for i in inside[bad]:
                errors[int(i)] = "corrupt_record"
            del mm
    n_dbf = 0
    if dbf is not None:
        with open(dbf, "rb") as fh:
            head = fh.read(8)
        if len(head) >= 8:
            n_dbf = int(np.frombuffer(head[4:8], dtype="<u4")[0])
    expected = max(n_shx, n_dbf)
    n_read = len(gdf) if gdf is not None else expected
    if gdf is not None:
        got = {int(i) for i in gdf.index if isinstance(i, (int, np.integer))}
        for i in range(expected):
            if i not in got and i not in errors:
                errors[i] = "not_read"
    elif n_read < expected:
        for i in range(n_read, expected):
            errors.setdefault(i, "not_read")
    return dict(sorted(errors.items()))


def _has_replacement(gdf: pd.DataFrame) -> bool:
    return any("\ufffd" in t for t in _text_sample(gdf, 500))


# ---------------------------------------------------------------------------------------- KML
@contextlib.contextmanager
def _gdal_config(**opts):
    old = {k: pyogrio.get_gdal_config_option(k) for k in opts}
    pyogrio.set_gdal_config_options(opts)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def _read_kml(path: Path, label: str, src_layer: str | None, rules: dict) -> RawSource:
    # LIBKML "launders" non-ASCII ExtendedData names to underscores by default: keep them as written
    with _gdal_config(LIBKML_LAUNDER_FIELD_NAMES="NO"):
        try:
            layers = [str(r[0]) for r in pyogrio.list_layers(path)]
        except (pyogrio.errors.DataSourceError, RuntimeError) as exc:
            raise _err_read(label, exc, "check that the KML is complete (open it in Google Earth or QGIS)",
                            path=path) from None
        if src_layer:
            match = [lyr for lyr in layers if normalize_key(lyr) == normalize_key(src_layer)]
            if not match:
                raise GisPlannerError(f"no folder/layer '{src_layer}' in the KML (it has: {', '.join(layers)})",
                                      file=label, fix="give one of these to --src-layer", code="choose_layer",
                                      details={"options": layers})
            layers = match
        frames = []
        used = []
        driver = "LIBKML"
        for lyr in layers:
            df = _read_ogr(path, label, layer=lyr)
            if len(df):
                frames.append(df)
                used.append(lyr)
            try:
                driver = pyogrio.read_info(path, layer=lyr).get("driver") or driver
            except Exception:  # noqa: BLE001 - driver name is informative only
                pass
    if not frames:
        raise GisPlannerError("the KML holds no placemarks", file=label,
                              fix="export the features (not only the map view) from Google Earth/QGIS",
                              code="no_features")
    gdf = pd.concat(frames, ignore_index=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=frames[0].crs)
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    if len(used) > 1:
        gdf["kml_folder"] = np.repeat(used, [len(f) for f in frames])
    boiler = set((rules.get("kml") or {}).get("boilerplate_fields") or [])
    drop = [c for c in gdf.columns if c in boiler and c != "geometry"]
    gdf = gdf.drop(columns=drop)
    return RawSource(gdf, label, driver, used, "UTF-8", "declared")


# ---------------------------------------------------------------------------------------- generic
def _read_generic(path: Path, label: str, src_layer: str | None, target_layer: str | None,
                  encoding: str | None) -> RawSource:
    try:
        listing = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, RuntimeError) as exc:
        raise _err_read(label, exc, path=path) from None
    names = [str(r[0]) for r in listing]
    spatial = [str(r[0]) for r in listing if r[1] is not None]
    if src_layer:
        match = [n for n in names if n == src_layer] or \
                [n for n in names if normalize_key(n) == normalize_key(src_layer)]
        if not match:
            raise GisPlannerError(f"no layer '{src_layer}' in the file (it has: {', '.join(names)})",
                                  file=label, fix="give one of these to --src-layer", code="choose_layer",
                                  details={"options": names})
        layer = match[0]
    elif len(spatial) == 1:
        layer = spatial[0]
    elif len(names) == 1:
        layer = names[0]
    else:
        pool = spatial or names
        same = [n for n in pool if target_layer and normalize_key(n) == normalize_key(target_layer)]
        if same:
            layer = same[0]
        else:
            raise GisPlannerError(f"the file has several layers: {', '.join(pool)}", file=label,
                                  fix="choose one with --src-layer NAME", code="choose_layer",
                                  details={"options": pool})
    kwargs: dict[str, Any] = {"layer": layer}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        gdf = _read_ogr(path, label, **kwargs)
    except UnicodeDecodeError as exc:  # e.g. a GeoJSON saved in cp1251 (GeoJSON is UTF-8 by definition)
        raise GisPlannerError(f"the text of the file is not in {encoding or 'UTF-8'} ({exc.reason} at byte "
                              f"{exc.start})", file=label, fix="save the file as UTF-8, or give its --encoding",
                              code="bad_encoding") from None
    info = pyogrio.read_info(path, layer=layer)
    if not isinstance(gdf, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(gdf, geometry=[None] * len(gdf))
    raw = RawSource(gdf, label, info.get("driver") or "?", [layer], info.get("encoding"),
                    "user" if encoding else "declared",
                    metadata={k: info.get(k) or {} for k in ("dataset_metadata", "layer_metadata")})
    promised = int(info.get("features") or -1)
    if promised > len(gdf):
        # the layer announces more features than GDAL delivered: a damaged file
        raw.read_errors = {f"#{i}": "not_read" for i in range(len(gdf), promised)}
    return raw


# ---------------------------------------------------------------------------------------- CSV
def _decode_text(data: bytes, encodings, label: str, encoding: str | None) -> tuple[str, str]:
    """First of ``encodings`` that decodes ``data`` (the community-map CSV reader's simple rule; layer
    imports use :func:`gis_planner.io.formats.decode_text`, which detects and asks when unsure)."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise GisPlannerError(f"the file is not in {encoding} ({exc})", file=label,
                                  fix="give the right --encoding or save the file as UTF-8", code="bad_encoding") from None
    for enc in encodings:
        try:
            return data.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    raise GisPlannerError("cannot decode the text of the file", file=label,
                          fix="save it as UTF-8 CSV or give --encoding", code="bad_encoding")


def _sniff_delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: head.count(d) for d in (";", "\t", ",", "|")}
        return max(counts, key=counts.get) if any(counts.values()) else ","


def _find_col(columns, names, explicit=None) -> str | None:
    if explicit:
        return explicit
    keys = {normalize_key(n) for n in names}
    for c in columns:
        if normalize_key(c) in keys:
            return c
    return None


def _to_number(s: pd.Series) -> pd.Series:
    """Numbers as people type them: decimal comma, spaces/non-breaking spaces as thousand separators."""
    txt = s.astype("string").str.replace(r"[\s\u00a0]", "", regex=True).str.replace(",", ".", regex=False)
    return pd.to_numeric(txt, errors="coerce")


_EWKT = re.compile(r"^\s*SRID=(\d+);(.*)$", re.IGNORECASE | re.DOTALL)


def _read_csv(path: Path, label: str, encoding: str | None, rules: dict,
              geometry_columns: dict | None = None) -> RawSource:
    crules = rules.get("csv") or {}
    data = path.read_bytes()
    text, enc, enc_source, enc_notes = _formats.decode_text(data, label, encoding, crules)
    delim = _sniff_delimiter(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise _err_read(label, exc, "save it as a CSV with one header row") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.replace({"": None})
    df.index = pd.RangeIndex(2, len(df) + 2)  # spreadsheet row numbers
    geometry_columns = geometry_columns or {}
    wkt_col = _find_col(df.columns, crules.get("wkt_columns") or [], geometry_columns.get("wkt"))
    lon_col = _find_col(df.columns, crules.get("lon_columns") or [], geometry_columns.get("lon"))
    lat_col = _find_col(df.columns, crules.get("lat_columns") or [], geometry_columns.get("lat"))
    for key, col in (("wkt", wkt_col), ("lon", lon_col), ("lat", lat_col)):
        if col is not None and col not in df.columns:
            raise GisPlannerError(f"no column '{col}' in the CSV (it has: {', '.join(df.columns)})", file=label,
                                  fix=f"check --field-map {key}=COLUMN", code="bad_field_map",
                                  details={"columns": list(df.columns)})
    dropped: dict = {}
    notes: list[dict] = list(enc_notes)
    crs = None
    crs_assumed = None
    if wkt_col is not None:
        texts = df[wkt_col]
        srids = texts.str.extract(_EWKT, expand=True)
        has_srid = srids[0].notna()
        wkt = texts.where(~has_srid, srids[1])
        arr = np.asarray(wkt.astype(object).where(wkt.notna(), None), dtype=object)
        geoms = shapely.from_wkt(arr, on_invalid="ignore")
        bad = wkt.notna().to_numpy() & pd.isna(pd.Series(geoms, dtype=object)).to_numpy()
        for fid in df.index[bad]:
            dropped[int(fid)] = "bad_wkt"
        if has_srid.any():
            codes = srids.loc[has_srid, 0].unique()
            if len(codes) > 1:
                raise GisPlannerError(f"the WKT values declare several SRIDs ({', '.join(codes)})", file=label,
                                      fix="use one CRS per file", code="mixed_crs")
            crs = CRS.from_epsg(int(codes[0]))
        used = [wkt_col]
        geom_cols = {"wkt": wkt_col}
    elif lon_col is not None and lat_col is not None:
        x, y = _to_number(df[lon_col]), _to_number(df[lat_col])
        ok = x.notna() & y.notna()
        bad = ~ok & (df[lon_col].notna() | df[lat_col].notna())
        for fid in df.index[bad.to_numpy()]:
            dropped[int(fid)] = "bad_coordinates"
        geoms = np.full(len(df), None, dtype=object)
        geoms[ok.to_numpy()] = shapely.points(x[ok].to_numpy(float), y[ok].to_numpy(float))
        # columns named lon/lat (not x/y) holding degrees are GPS coordinates: WGS 84
        named_degrees = normalize_key(lon_col) not in ("x",) and normalize_key(lat_col) not in ("y",)
        if named_degrees and ok.any() and x[ok].abs().max() <= 180 and y[ok].abs().max() <= 90:
            crs_assumed = "EPSG:4326"
        used = [lon_col, lat_col]
        geom_cols = {"lon": lon_col, "lat": lat_col}
    else:
        raise GisPlannerError(f"the CSV has no geometry column (columns: {', '.join(df.columns)})", file=label,
                              fix="add a WKT column named wkt, or lon/lat columns, or name them with "
                                  "--field-map wkt=COLUMN (or lon=COLUMN lat=COLUMN)",
                              code="no_geometry_column", details={"columns": list(df.columns)})
    gdf = gpd.GeoDataFrame(df.drop(columns=used), geometry=list(geoms), crs=crs, index=df.index)
    return RawSource(gdf, label, "CSV", [path.stem], enc, enc_source,
                     dropped=dropped, notes=notes, crs_assumed=crs_assumed, geometry_columns=geom_cols)
