"""Readers for the formats public and field data come in, beyond Shapefile/GeoPackage/GeoJSON/KML/CSV.

* **FileGDB** — an Esri ``.gdb`` folder, or zipped (``x.gdb.zip``), read by GDAL's OpenFileGDB driver;
  a feature class is chosen as for a GeoPackage (the only spatial one, the one named like the target
  layer, or ``--src-layer``).
* **GPX** — waypoints, tracks and routes. No ``--src-layer`` is needed: the non-empty layers that fit
  the target layer's geometry are read (waypoints for a point layer, tracks/routes for a line layer)
  and the report says which (``gpx_layers`` warning).
* **DXF** — closed polylines and hatches become polygons; a TEXT/MTEXT label that falls inside one
  gives its cadastral number (column ``cadastral_no`` when the labels look like cadastral numbers,
  ``layers/import.yaml`` ``dxf.cadastral_pattern``; else ``label``). Polygons without a label, with
  several labels, and labels outside every polygon are reported.
* **OSM** (``.osm`` XML and ``.osm.pbf``) — GDAL's OSM driver; the tags are translated by the
  crosswalk ``layers/osm_crosswalk.yaml`` into land *types*, land *uses*, water types and road classes
  (never into legal land categories: those come only from the State Register).
* **GeoJSONSeq** (``.geojsons``, ``.geojsonl``, ``.geojsonseq``): one feature per line.

And :func:`decode_text`: the text encoding of a CSV found with a real detector (``charset-normalizer``)
— a byte-order mark first (UTF-8/UTF-16/UTF-32), then strict UTF-8, then the detector. When the
detector is unsure (short files, close candidates) the import stops with the candidates and a preview
of the text each gives, and asks for ``--encoding``: a garbled import is never silent.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..catalog import load_rules
from ..errors import GisPlannerError
from ..text import normalize_key

GDB_SUFFIX = ".gdb"
GPX_SUFFIX = ".gpx"
DXF_SUFFIX = ".dxf"
OSM_SUFFIXES = (".osm", ".pbf")
GEOJSONSEQ_SUFFIXES = (".geojsons", ".geojsonl", ".geojsonseq")
EXTRA_EXTS = (GPX_SUFFIX, DXF_SUFFIX, *OSM_SUFFIXES, *GEOJSONSEQ_SUFFIXES)

# what a source feature id means for these drivers (text: i18n key io.fid.<value>)
FID_NOTES = {"OpenFileGDB": "objectid", "GPX": "feature1", "DXF": "dxf_handle", "OSM": "osm",
             "GeoJSONSeq": "line1"}


def handles(path: Path) -> bool:
    """True if ``path`` is one of the formats of this module."""
    name = path.name.lower()
    return (path.is_dir() and name.endswith(GDB_SUFFIX)) or name.endswith(EXTRA_EXTS)


def read_extra(path: Path, label: str, src_layer: str | None, target_layer: str | None, ws=None,
               encoding: str | None = None):
    """Read a file of one of this module's formats into a :class:`~gis_planner.io.readers.RawSource`."""
    from .readers import _read_generic

    name = path.name.lower()
    if path.is_dir():
        raw = _read_generic(path, label, src_layer, target_layer, None)
        raw.driver = "OpenFileGDB"
        return raw
    if name.endswith(GPX_SUFFIX):
        return read_gpx(path, label, src_layer, target_layer, ws)
    if name.endswith(DXF_SUFFIX):
        return read_dxf(path, label, target_layer, ws)
    if name.endswith(OSM_SUFFIXES):
        return read_osm(path, label, src_layer, target_layer, ws)
    raw = _read_generic(path, label, src_layer, target_layer, encoding)
    raw.gdf.index = pd.RangeIndex(1, len(raw.gdf) + 1)   # line number in the file
    return raw


def gdb_in(files: list[Path], root: Path) -> Path | None:
    """The one ``.gdb`` folder among extracted archive members (``None`` if there is none)."""
    dirs = {p for f in files for p in f.relative_to(root).parents if p.name.lower().endswith(GDB_SUFFIX)}
    if len(dirs) > 1:
        names = ", ".join(sorted(d.as_posix() for d in dirs))
        raise GisPlannerError(f"the archive holds several FileGDBs: {names}", file=root.name,
                              fix="zip one .gdb folder per file", code="choose_layer")
    return root / dirs.pop() if dirs else None


def _target_kind(target_layer: str | None, ws) -> str:
    if not target_layer:
        return "any"
    spec = (load_rules("workspace_schema", ws)["layers"].get(target_layer) or {})
    g = str(spec.get("geometry") or "any").lower()
    for base in ("polygon", "linestring", "point"):
        if base in g:
            return base
    return "any"


def _layers(path: Path, label: str) -> list[tuple[str, int]]:
    from .readers import _err_read

    try:
        listing = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, RuntimeError) as exc:
        raise _err_read(label, exc, path=path) from None
    out = []
    for name, _gtype in listing:
        try:
            n = int(pyogrio.read_info(path, layer=str(name), force_feature_count=True)["features"])
        except Exception:  # noqa: BLE001 - a count GDAL cannot give (OSM) is read below
            n = -1
        out.append((str(name), n))
    return out


def _concat(frames: list[gpd.GeoDataFrame], used: list[str], column: str) -> gpd.GeoDataFrame:
    crs = next((f.crs for f in frames if f.crs is not None), None)
    gdf = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=crs)
    if len(used) > 1:
        gdf[column] = np.repeat(used, [len(f) for f in frames])
    return gdf


# ---------------------------------------------------------------------------------------- GPX
GPX_KIND = {"waypoints": "point", "routes": "linestring", "tracks": "linestring"}


def read_gpx(path: Path, label: str, src_layer: str | None, target_layer: str | None, ws=None):
    """Waypoints, routes and tracks of a GPX file (the *_points layers repeat their vertices)."""
    from .readers import RawSource, _read_ogr

    present = {name: n for name, n in _layers(path, label)}
    kind = _target_kind(target_layer, ws)
    if src_layer:
        wanted = [n for n in present if normalize_key(n) == normalize_key(src_layer)]
        if not wanted:
            raise GisPlannerError(f"no layer '{src_layer}' in the GPX (it has: {', '.join(present)})",
                                  file=label, fix="give one of these to --src-layer", code="choose_layer",
                                  details={"options": list(present)})
    else:
        wanted = [n for n in GPX_KIND if present.get(n, 0) != 0
                  and (kind in ("any", "polygon") or GPX_KIND[n] == kind)]
    frames, used = [], []
    for name in wanted:
        df = _read_ogr(path, label, layer=name)
        if len(df):
            frames.append(df)
            used.append(name)
    if not frames:
        have = [n for n in GPX_KIND if present.get(n, 0) != 0]
        raise GisPlannerError(
            f"the GPX holds no {'waypoints' if kind == 'point' else 'tracks or routes' if kind == 'linestring' else 'features'}"
            f" for layer '{target_layer}' (it has: {', '.join(have) or 'nothing'})", file=label,
            fix="import it into a layer of the matching geometry, or choose a layer with --src-layer",
            code="no_features", details={"options": have})
    gdf = _concat(frames, used, "gpx_layer")
    gdf = gdf.drop(columns=[c for c in gdf.columns if c != "geometry" and gdf[c].isna().all()])
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    notes = [{"code": "gpx_layers", "params": {"layers": ", ".join(f"{u} ({len(f)})" for u, f in zip(used, frames))}}]
    skipped = [n for n in GPX_KIND if present.get(n, 0) != 0 and n not in used]
    if skipped:
        notes.append({"code": "gpx_layers_skipped", "params": {"layers": ", ".join(skipped)}})
    return RawSource(gdf, label, "GPX", used, "UTF-8", "declared", notes=notes)


# ---------------------------------------------------------------------------------------- DXF
def read_dxf(path: Path, label: str, target_layer: str | None, ws=None):
    """Polygons from closed polylines and hatches, with the TEXT/MTEXT label inside each."""
    from .readers import RawSource, _read_ogr

    from .readers import _gdal_config

    rules = (load_rules("import", ws).get("dxf") or {})
    # before AutoCAD 2007 (AC1021) DXF text is in the $DWGCODEPAGE (ANSI_1251 …), which GDAL obeys;
    # from AC1021 on it is UTF-8 whatever $DWGCODEPAGE says, which GDAL does not know
    with open(path, "rb") as fh:
        head = fh.read(65536)
    m = re.search(rb"\$ACADVER\s*\r?\n\s*1\s*\r?\n\s*AC(\d{4})", head)
    utf8 = bool(m) and int(m.group(1)) >= 1021
    with _gdal_config(DXF_ENCODING="UTF-8" if utf8 else None):
        raw = _read_ogr(path, label)
    kind = _target_kind(target_layer, ws)
    handle = raw["EntityHandle"].astype(str) if "EntityHandle" in raw else pd.Series(
        [str(i) for i in range(1, len(raw) + 1)], index=raw.index)
    layer = raw["Layer"].astype(str) if "Layer" in raw else pd.Series("", index=raw.index)
    geoms = np.asarray(raw.geometry.values)
    gtype = shapely.get_type_id(geoms)
    text = raw["Text"] if "Text" in raw else pd.Series(None, index=raw.index, dtype=object)
    is_label = (gtype == 0) & text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
    notes: list[dict] = []
    dropped: dict = {}
    if kind in ("linestring", "point"):
        keep = ~is_label & (gtype != 3) & (gtype != 6) if kind == "linestring" else (gtype == 0) & ~is_label
        out = gpd.GeoDataFrame({"dxf_layer": layer[keep].to_numpy()}, geometry=geoms[keep], crs=raw.crs,
                               index=pd.Index(handle[keep].to_numpy(), name=None))
        return RawSource(out, label, "DXF", sorted(set(layer[keep])), "UTF-8", "declared")
    # polygons: hatches (Polygon/MultiPolygon) and closed (Multi)LineStrings
    polys, owners = [], []
    tol = float(rules.get("closed_tolerance_m", 0.01))
    for i in range(len(geoms)):
        g = geoms[i]
        if g is None or is_label[i]:
            continue
        if gtype[i] in (3, 6):
            polys.append(g)
            owners.append(i)
        elif gtype[i] in (1, 2, 5):
            lines = shapely.get_parts(g) if gtype[i] == 5 else [g]
            rings = []
            for ln in lines:
                c = shapely.get_coordinates(ln)
                if len(c) >= 4 and np.hypot(*(c[0] - c[-1])) <= tol:
                    c[-1] = c[0]
                    rings.append(shapely.make_valid(shapely.Polygon(c)))
            if rings:
                polys.append(shapely.union_all(rings))
                owners.append(i)
            else:
                dropped[handle.iloc[i]] = "open_polyline"
        # points that are not labels, blocks etc. are not parcels: counted below
    if not polys:
        raise GisPlannerError("the DXF holds no closed polylines or hatches", file=label,
                              fix="close the parcel outlines in the CAD program (or explode blocks) and export again",
                              code="no_features")
    # a hatch drawn on its closed outline is the same parcel once
    key = [shapely.normalize(shapely.set_precision(p, tol)).wkb for p in polys]
    first: dict = {}
    uniq = []
    for k, p, o in zip(key, polys, owners):
        if k in first:
            continue
        first[k] = o
        uniq.append((p, o))
    dup = len(polys) - len(uniq)
    if dup:
        notes.append({"code": "dxf_duplicates", "params": {"n": dup}})
    pg = np.asarray([p for p, _ in uniq], dtype=object)
    ids = [handle.iloc[o] for _, o in uniq]
    lab_idx = np.flatnonzero(is_label)
    lab_pts = geoms[lab_idx]
    lab_txt = text.iloc[lab_idx].astype(str).str.strip().to_numpy()
    tree = shapely.STRtree(pg)
    pairs = tree.query(lab_pts, predicate="within")  # (label, polygon)
    by_poly: dict[int, list[str]] = {}
    for li, pi in zip(pairs[0], pairs[1]):
        by_poly.setdefault(int(pi), []).append(lab_txt[li])
    inside = set(int(li) for li in pairs[0])
    outside = [str(lab_txt[i]) for i in range(len(lab_idx)) if i not in inside]
    labels = [None] * len(pg)
    several = []
    for pi, texts in by_poly.items():
        uniq_t = list(dict.fromkeys(texts))
        labels[pi] = uniq_t[0]
        if len(uniq_t) > 1:
            several.append(f"{ids[pi]}: {' / '.join(uniq_t)}")
    unlabelled = [ids[i] for i, v in enumerate(labels) if v is None]
    pattern = re.compile(str(rules.get("cadastral_pattern") or r"^\d+(-\d+){2,}$"))
    found = [v for v in labels if v is not None]
    col = "cadastral_no" if found and all(pattern.match(v) for v in found) else "label"
    if unlabelled:
        notes.append({"code": "dxf_unlabelled", "params": {"n": len(unlabelled), "ids": unlabelled}})
    if several:
        notes.append({"code": "dxf_several_labels", "params": {"n": len(several), "ids": several}})
    if outside:
        notes.append({"code": "dxf_labels_outside", "params": {"n": len(outside), "ids": outside}})
    notes.append({"code": "dxf_polygons", "params": {"n": len(pg), "labels": len(found), "column": col}})
    # open polylines stay as rows without geometry, so the report lists them as dropped (with the reason)
    opened = [i for i in range(len(geoms)) if handle.iloc[i] in dropped]
    out = gpd.GeoDataFrame({col: labels + [None] * len(opened),
                            "dxf_layer": [layer.iloc[o] for _, o in uniq] + [layer.iloc[i] for i in opened]},
                           geometry=list(pg) + [None] * len(opened), crs=raw.crs,
                           index=pd.Index(ids + [handle.iloc[i] for i in opened]))
    return RawSource(out, label, "DXF", sorted(set(out["dxf_layer"])), "UTF-8", "declared",
                     dropped=dropped, notes=notes)


# ---------------------------------------------------------------------------------------- OSM
OSM_LAYERS = {"point": ["points"], "linestring": ["lines", "multilinestrings"],
              "polygon": ["multipolygons"], "any": ["points", "lines", "multilinestrings", "multipolygons"]}


def osm_tags(row: pd.Series) -> dict:
    """All tags of an OSM feature: GDAL's columns plus its ``other_tags`` hstore text."""
    tags = {k: str(v) for k, v in row.items() if k not in ("geometry", "other_tags", "osm_id", "osm_way_id")
            and v is not None and not (isinstance(v, float) and np.isnan(v))}
    other = row.get("other_tags")
    if isinstance(other, str):
        for k, v in re.findall(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"', other):
            tags[k.replace('\\"', '"')] = v.replace('\\"', '"')
    return tags


def crosswalk(tags: dict, ws=None, rules: dict | None = None) -> dict:
    """Workspace codes for one feature's OSM tags (``layers/osm_crosswalk.yaml``, first match wins).

    >>> crosswalk({"landuse": "farmland"})["land_type"]
    'arable'
    >>> crosswalk({"waterway": "river", "name": "Chong-Ak-Suu"})["water_type"]
    'river'
    >>> "category" in crosswalk({"landuse": "forest"})   # never a legal land category
    False
    """
    rules = rules if rules is not None else load_rules("osm_crosswalk", ws)
    out: dict = {}
    for target, table in (rules.get("crosswalk") or {}).items():
        for entry in table:
            k, v = entry["tag"].split("=", 1)
            if k in tags and (v == "*" or tags[k] == v):
                out[target] = entry["code"]
                break
    return out


def read_osm(path: Path, label: str, src_layer: str | None, target_layer: str | None, ws=None):
    """An OSM XML/PBF extract: the layers that fit the target geometry, tags translated by the crosswalk."""
    from .readers import RawSource, _gdal_config, _read_ogr

    kind = _target_kind(target_layer, ws)
    names = [src_layer] if src_layer else OSM_LAYERS[kind]
    frames, used = [], []
    with _gdal_config(OSM_USE_CUSTOM_INDEXING="NO"):
        for name in names:
            try:
                df = _read_ogr(path, label, layer=name)
            except GisPlannerError:
                if src_layer:
                    raise
                continue
            if len(df):
                ids = df["osm_id"] if "osm_id" in df else pd.Series(None, index=df.index, dtype=object)
                if "osm_way_id" in df:
                    way = df["osm_way_id"]
                    fid = np.where(ids.notna(), "relation/" + ids.astype(str), "way/" + way.astype(str))
                else:
                    fid = ("node/" if name == "points" else "way/") + ids.astype(str)
                df.index = pd.Index(np.asarray(fid, dtype=object))
                frames.append(df)
                used.append(name)
    if not frames:
        raise GisPlannerError(f"the OSM file holds no {kind if kind != 'any' else ''} features".replace("  ", " "),
                              file=label, fix="check the extract covers the municipality", code="no_features")
    gdf = _concat(frames, used, "osm_layer")
    gdf.index = pd.Index([i for f in frames for i in f.index])
    tags = [osm_tags(r) for _, r in gdf.drop(columns="geometry").iterrows()]
    rules = load_rules("osm_crosswalk", ws)
    codes = [crosswalk(t, rules=rules) for t in tags]
    for target in (rules.get("crosswalk") or {}):
        gdf[target] = [c.get(target) for c in codes]
    gdf["osm_tags"] = [";".join(f"{k}={v}" for k, v in sorted(t.items()) if k not in ("name",)) for t in tags]
    keep = ["name", *[t for t in (rules.get("crosswalk") or {})], "osm_tags"]
    if "osm_layer" in gdf:
        keep.append("osm_layer")
    gdf = gdf[[c for c in keep if c in gdf.columns] + ["geometry"]]
    unmatched = [i for i, c in zip(gdf.index, codes) if not c]
    notes = [{"code": "osm_read", "params": {"layers": ", ".join(f"{u} ({len(f)})" for u, f in zip(used, frames)),
                                             "n": len(gdf) - len(unmatched)}}]
    need = (rules.get("layers") or {}).get(target_layer or "")
    if need and not src_layer:
        keep_rows = gdf[need].notna().to_numpy()
        if not keep_rows.any():
            raise GisPlannerError(f"the OSM file holds nothing the crosswalk calls '{need}' for layer '{target_layer}'",
                                  file=label, fix="check the extract, or add its tags to layers/osm_crosswalk.yaml",
                                  code="no_features")
        if not keep_rows.all():
            left = [i for i, k in zip(gdf.index, keep_rows) if not k]
            notes.append({"code": "osm_filtered", "params": {"n": len(left), "field": need, "ids": left}})
            unmatched = [i for i in unmatched if i not in set(left)]
            gdf = gdf[keep_rows]
    if unmatched:
        notes.append({"code": "osm_unmatched", "params": {"n": len(unmatched), "ids": unmatched}})
    return RawSource(gdf, label, "OSM", used, "UTF-8", "declared", notes=notes)


# ---------------------------------------------------------------------------------------- text encoding
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _preview(text: str, n: int = 3) -> str:
    words = re.findall(r"[^\s;,|\t]*[^\x00-\x7f][^\s;,|\t]*", text)
    return " ".join(dict.fromkeys(words))[:60] if words else text[:40]


def decode_text(data: bytes, label: str, encoding: str | None = None, rules: dict | None = None):
    """``(text, encoding, source, notes)`` for the bytes of a text file.

    ``source`` is ``user`` (``encoding`` given), ``bom``, ``utf-8`` or ``detected``. Raises
    ``encoding_unsure`` naming the candidates when the detector cannot tell.

    >>> decode_text("\\u041f\\u0430\\u0448\\u043d\\u044f;1\\n".encode("utf-16"), "a.csv")[1:3]
    ('utf-16', 'bom')
    >>> decode_text(b"plain ascii", "a.csv")[1]
    'utf-8'
    """
    rules = rules or {}
    if encoding:
        try:
            return data.decode(encoding), encoding, "user", []
        except (UnicodeDecodeError, LookupError) as exc:
            raise GisPlannerError(f"the file is not in {encoding} ({exc})", file=label,
                                  fix="give the right --encoding or save the file as UTF-8",
                                  code="bad_encoding") from None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc, "bom", []
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), "utf-8", "utf-8", []
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    det = rules.get("detection") or {}
    min_coh = float(det.get("min_coherence", 0.2))
    margin = float(det.get("min_margin", 0.1))
    chaos_margin = float(det.get("min_chaos_margin", 0.02))
    max_chaos = float(det.get("max_chaos", 0.1))
    likely = [str(e) for e in det.get("candidates") or ["cp1251", "koi8_r", "cp866", "cp1252"]]
    pref = {codecs.lookup(e).name: k for k, e in enumerate(likely)}
    texts: dict[str, str] = {}
    found = []                                  # detector order: least chaos, then most coherence
    for m in from_bytes(data):
        if m.chaos > max_chaos:
            continue
        txt = str(m)
        if txt in texts.values():               # cp1125 and cp866 give the same Russian text: one candidate
            continue
        texts[m.encoding] = txt
        found.append((m.encoding, float(m.chaos), float(m.coherence)))
    ranked = [e for e, _, _ in found]
    if found:
        _, c0, h0 = found[0]
        tied = [f for f in found if abs(f[1] - c0) < 1e-9 and abs(f[2] - h0) < 1e-9]
        # a tie (cp1250/cp1252/cp1257 read a French file equally well) goes to the likeliest encoding
        tied_pref = sorted((pref[codecs.lookup(e).name], e) for e, _, _ in tied if codecs.lookup(e).name in pref)
        best = tied_pref[0][1] if len(tied) > 1 and tied_pref else (found[0][0] if len(tied) == 1 else None)
        rest = [f for f in found if f not in tied]
        nxt = rest[0] if rest else None
        clear = nxt is None or h0 - nxt[2] >= margin or nxt[1] - c0 >= chaos_margin
        if best is not None and h0 >= min_coh and clear:
            note = {"code": "encoding_detected", "params": {"encoding": best, "confidence": f"{h0:.2f}"}}
            return texts[best], best, "detected", [note]
    cands: dict[str, str] = {}
    for enc in [*likely, *ranked[:2]]:        # the likely ones first, then the detector's best guesses
        try:
            txt = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        if txt not in cands.values():
            cands[enc] = txt
    listing = "; ".join(f"{e} «{_preview(t)}»" for e, t in cands.items())
    raise GisPlannerError(f"cannot tell the text encoding for sure; it reads as: {listing}", file=label,
                          fix=f"give the right one with --encoding ({', '.join(cands)}), or save the file "
                              f"as UTF-8", code="encoding_unsure",
                          details={"candidates": list(cands), "previews": {e: _preview(t) for e, t in cands.items()}})
