"""Reading an input file never opens the network nor a file outside the upload.

GDAL follows references written *inside* files: a GeoJSON ``crs`` member of type ``link`` makes it
fetch the URL and use the answer as the CRS; a VRT names other data sources (``/vsicurl/http://…``
or ``/etc/passwd`` read as CSV); a KML ``NetworkLink`` points at another KML; GML may name remote
schemas. Two defences, both applied by every reader of the project:

1. :func:`configure_gdal` (called when :mod:`gis_planner` is imported) sets GDAL's network options for
   both GDAL copies in the process (pyogrio's and rasterio's): every GDAL HTTP request goes to a
   proxy on the discard port of 127.0.0.1 with a 1 s timeout and no retry, ``/vsicurl/`` accepts no
   file extension, GML does not download or resolve anything, PROJ does not use its network grids.
2. :func:`check_input` refuses, before GDAL sees the file, any path that is not a plain local file
   (``/vsi…`` paths, URLs, GDAL connection strings such as ``WFS:…``) and any file whose *content* holds
   a reference GDAL would follow: VRT documents (whatever the file is called), GeoJSON ``crs`` members
   that are links or name URLs/paths, KML ``NetworkLink`` elements. Refusals are
   :class:`~gis_planner.errors.GisPlannerError` with code ``unsafe_input``.

The proxy is a second line only: curl honours the ``NO_PROXY`` environment variable, so a host listed
there would still be reached if a reference got past :func:`check_input`.

Examples
--------
>>> check_input("/vsicurl/http://example.org/a.geojson")
Traceback (most recent call last):
...
gis_planner.errors.GisPlannerError: a.geojson: the path is not a local file (/vsi… paths, URLs and \
GDAL connection strings are never opened). Fix: download the file and give its local path
"""
from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import GisPlannerError

#: GDAL/PROJ configuration applied to every GDAL in the process (see module docstring).
SAFE_GDAL_OPTIONS = {
    "GDAL_HTTP_PROXY": "127.0.0.1:9",          # discard port: any HTTP(S) request fails locally
    "GDAL_HTTP_PROXYUSERPWD": "",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_NETRC": "NO",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".gis-planner-no-network",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # never list remote 'directories'
    "GML_DOWNLOAD_WFS_SCHEMA": "NO",
    "GML_SKIP_RESOLVE_ELEMS": "ALL",
    "PROJ_NETWORK": "OFF",
}

_CONFIGURED = False
# a GDAL 'virtual file system' path, a URL, or a GDAL connection string (PG:, WFS:, GPKG:, CSV: …)
_REMOTE_PATH = re.compile(r"^\s*(/vsi[a-z0-9_]+/|[a-z][a-z0-9+.\-]{1,}:)", re.IGNORECASE)
_VRT_MARK = re.compile(rb"<\s*(OGRVRTDataSource|VRTDataset|OGRVRTLayer|VRTRasterBand)\b", re.IGNORECASE)
_KML_LINK = re.compile(rb"<\s*(?:[a-z0-9_]+:)?NetworkLink\b", re.IGNORECASE)
_CRS_KEY = re.compile(r'"crs"\s*:\s*')
_CHUNK = 1024 * 1024
_SCAN_LIMIT = 512 * 1024 * 1024    # text files bigger than this are scanned in chunks anyway


def configure_gdal() -> None:
    """Apply :data:`SAFE_GDAL_OPTIONS` to every GDAL in the process: through the environment (read by
    rasterio's and pyogrio's GDAL and by PROJ as a fallback) and as pyogrio's GDAL config options, set
    now if pyogrio is loaded, else right after it is first imported (pyogrio pulls in geopandas, pandas
    and pyarrow, ~110 MB that a process running only the terrain kernels does not need)."""
    global _CONFIGURED
    for key, value in SAFE_GDAL_OPTIONS.items():
        os.environ[key] = value      # read by every GDAL (and PROJ) in the process as a fallback
    if "pyogrio" in sys.modules:
        sys.modules["pyogrio"].set_gdal_config_options(SAFE_GDAL_OPTIONS)
    elif not any(isinstance(f, _ConfigurePyogrio) for f in sys.meta_path):
        sys.meta_path.insert(0, _ConfigurePyogrio())
    if "rasterio.session" not in sys.modules and not any(isinstance(f, _RasterioWithoutCloud) for f in sys.meta_path):
        sys.meta_path.insert(0, _RasterioWithoutCloud())
    _CONFIGURED = True


class _RasterioWithoutCloud:
    """Import hook: ``rasterio.session`` is imported without boto3 (rasterio then uses its offline
    ``DummySession``). The product reads no cloud storage (GDAL's network is switched off above), and
    boto3/botocore cost every process that imports rasterio ~0.15 CPU s and ~18 MB
    (benchmarks/results_hazards.md, 2026-12-06). Only that import is affected: boto3 stays importable,
    and if it was loaded before, rasterio gets it."""

    def find_spec(self, name, path=None, target=None):
        if name != "rasterio.session":
            return None
        sys.meta_path.remove(self)      # once; and lets the normal finders locate the module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:   # pragma: no cover - rasterio is a hard dependency
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            blocked = "boto3" not in sys.modules
            if blocked:
                sys.modules["boto3"] = None     # `import boto3` raises ImportError: rasterio's fallback
            try:
                run(module)
            finally:
                if blocked and sys.modules.get("boto3", 0) is None:
                    del sys.modules["boto3"]

        spec.loader.exec_module = exec_module
        return spec


class _ConfigurePyogrio:
    """Import hook: sets :data:`SAFE_GDAL_OPTIONS` on pyogrio as soon as ``import pyogrio`` has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "pyogrio":
            return None
        sys.meta_path.remove(self)      # once; and lets the normal finders locate pyogrio
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:   # pragma: no cover - pyogrio is a hard dependency
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.set_gdal_config_options(SAFE_GDAL_OPTIONS)

        spec.loader.exec_module = exec_module
        return spec


def _unsafe(label: str, problem: str, fix: str, kind: str) -> GisPlannerError:
    return GisPlannerError(problem, file=label, fix=fix, code="unsafe_input", details={"kind": kind})


def check_path(path: str | os.PathLike, label: str | None = None) -> None:
    """Refuse ``/vsi…`` paths, URLs and GDAL connection strings (only plain local files are read)."""
    text = os.fspath(path)
    if isinstance(text, bytes):  # pragma: no cover - the project passes str paths
        text = text.decode("utf-8", "replace")
    name = label or text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or text
    remote = text.lstrip().lower().startswith("/vsi") or "://" in text or "\x00" in text
    # "NAME:…" is a GDAL connection string (PG:, WFS:, GPKG:…) unless it is a local file of that name
    if remote or (_REMOTE_PATH.match(text) and not os.path.isfile(text)):
        raise _unsafe(name, "the path is not a local file (/vsi… paths, URLs and GDAL connection strings are "
                            "never opened)", "download the file and give its local path", "remote_path")


def _chunks(path: Path):
    """The file's bytes in overlapping chunks (a marker split across two chunks is still seen)."""
    with open(path, "rb") as fh:
        tail = b""
        read = 0
        while read < _SCAN_LIMIT:
            block = fh.read(_CHUNK)
            if not block:
                break
            read += len(block)
            yield tail + block
            tail = block[-256:]


def _looks_like_xml(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _looks_like_json(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"["))


def _bad_crs_value(value) -> bool:
    """True when a GeoJSON ``crs`` member would make GDAL open a URL or a file."""
    if not isinstance(value, dict):
        return False
    if str(value.get("type", "")).lower() not in ("name", "epsg"):
        return True   # 'link' (and anything unknown) is fetched or resolved by GDAL
    for v in _strings(value):
        low = v.strip().lower()
        if "://" in low or low.startswith(("/", "file:", "\\\\")) or "/vsi" in low:
            return True
    return False


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _check_geojson(path: Path, label: str) -> None:
    decoder = json.JSONDecoder()
    for chunk in _chunks(path):
        if b'"crs"' not in chunk:
            continue
        # the crs member is small: decode it from its key on, in the full text
        text = path.read_text("utf-8", errors="replace")
        for m in _CRS_KEY.finditer(text):
            try:
                value, _ = decoder.raw_decode(text, m.end())
            except json.JSONDecodeError:
                continue  # GDAL reports a broken file itself
            if _bad_crs_value(value):
                raise _unsafe(label, "the file names its coordinate system by a link (GeoJSON 'crs' of type "
                                     "link or a URL); links in input files are never followed",
                              "save the file with a named CRS (e.g. EPSG:4326) or without a 'crs' member",
                              "geojson_crs_link")
        return


def check_input(path: str | os.PathLike, label: str | None = None) -> None:
    """Refuse a path or file whose reading would make GDAL open the network or another file.

    Raises
    ------
    GisPlannerError
        code ``unsafe_input`` with ``details['kind']`` one of ``remote_path``, ``vrt``,
        ``kml_network_link``, ``geojson_crs_link``.
    """
    check_path(path, label)
    path = Path(path)
    label = label or path.name
    if not path.is_file():
        return  # the caller reports a missing file / folder in its own words
    if path.suffix.lower() in (".vrt", ".ovf"):
        raise _unsafe(label, "VRT files (virtual layers that point at other files) are not accepted",
                      "give the data file itself (GeoPackage, Shapefile, GeoJSON, KML, CSV, GeoTIFF)", "vrt")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    xml = _looks_like_xml(head)
    if xml:
        for chunk in _chunks(path):
            if _VRT_MARK.search(chunk):
                raise _unsafe(label, "the file is a VRT document (a virtual layer pointing at other files); "
                                     "those are not accepted",
                              "give the data file itself (GeoPackage, Shapefile, GeoJSON, KML, CSV, GeoTIFF)",
                              "vrt")
            if _KML_LINK.search(chunk):
                raise _unsafe(label, "the KML contains a NetworkLink (a link to data on another server or in "
                                     "another file); links in input files are never followed",
                              "open it in Google Earth, save the linked placemarks into the file "
                              "(Save Place As… KML) and import that", "kml_network_link")
    elif _looks_like_json(head):
        _check_geojson(path, label)


def check_tree(files, root: str | os.PathLike | None = None, label: str | None = None) -> None:
    """:func:`check_input` for every file of an extracted archive (a KMZ may hold several KML)."""
    for f in files:
        f = Path(f)
        shown = f"{label}/{f.relative_to(root).as_posix()}" if label and root else f.name
        check_input(f, shown)


@contextlib.contextmanager
def gdal_path(path: str | os.PathLike):
    """A path GDAL (through pyogrio) opens as the file it names.

    pyogrio parses paths as URLs, and a ``;`` in the file name starts URL *parameters*: ``parcels; 2026.shp``
    would be opened as ``parcels``. Such a file (and its same-stem sidecars: ``.shx .dbf .prj .cpg``) is
    linked under a plain name in a temporary folder for the time of the read.
    """
    path = Path(path)
    if ";" not in path.name:
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="gp-alias-"))
    try:
        safe_stem = path.stem.replace(";", "_")
        for sib in path.parent.glob(glob.escape(path.stem) + ".*"):
            if sib.stem == path.stem:
                (tmp / (safe_stem + sib.suffix)).symlink_to(sib.resolve())
        yield tmp / (safe_stem + path.suffix)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def nested_as_text(df):
    """Attribute values GDAL returns as dicts/lists (GeoJSON objects, JSON fields) as JSON text.

    Everything after the reader expects plain values (a dict cannot be compared, counted or stored).
    """
    for col in df.columns:
        s = df[col]
        if s.dtype == object and s.map(lambda v: isinstance(v, (dict, list))).any():
            df[col] = s.map(lambda v: json.dumps(v, ensure_ascii=False, default=str)
                            if isinstance(v, (dict, list)) else v)
    return df
