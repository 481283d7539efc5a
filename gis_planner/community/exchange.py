"""Import and export of community maps: GeoJSON, GeoPackage, KML, CSV (WKT); hearing exports.

Exports carry every stored attribute (``uid``, ``category``, ``title``, ``description``, ``condition``,
``sufficiency``, ``is_problem``, ``is_wish``, ``votes``, ``activity``, ``author``, ``created_at``) plus the
bookkeeping (``id``, ``kind``, ``version``, ``updated_at``) and the session (``session_id``, ``village``,
``participant_group``, ``age_band``, ``session_date``), geometry in EPSG:4326. Importing such a file into a
session restores the attributes exactly (round-trip); ``uid`` keeps the identity, so importing the same file
twice into one store is refused (``duplicate_uid``) instead of doubling the map.

An import validates every row first and writes all rows in one transaction: a bad row or a crash half-way
leaves the store as it was.

For the public hearing :func:`export_session` writes a printable map (PNG, matplotlib, no internet needed),
and the numbered list of the same features as CSV and HTML (user text escaped).

Examples
--------
>>> export(store, "map.geojson", session_id=1)                       # doctest: +SKIP
>>> recs = import_file(store, "map.geojson", session_id=2)            # doctest: +SKIP
>>> paths = export_session(store, 1, "hearing/", lang="ky", ws=ws)   # doctest: +SKIP
"""
from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import math
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..catalog import catalogue
from ..errors import GisPlannerError
from ..i18n import check_lang, t
from ..outputs import all_or_nothing
from ..text import literal_figure_text, safe_table, unsafe_cell
from .store import ATTRIBUTES, CommunityStore, FeatureRecord, categories

FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".kml": "KML", ".csv": "CSV"}
EXPORT_COLUMNS = ("id", "uid", "session_id", "village", "participant_group", "age_band", "session_date",
                  "category", "kind", "title", "description", "condition", "sufficiency", "is_problem", "is_wish",
                  "votes", "activity", "author", "created_by", "created_at", "updated_at", "version")
LAYER = "community_features"
# who drew / last changed a feature: never in a public export
PRIVATE_COLUMNS = ("author", "created_by")
# free text redacted in public outputs (names, phone numbers)
PUBLIC_TEXT_COLUMNS = ("title", "description")
# names other tools use for our fields (KML's name/description, common spellings)
_ALIASES = {"name": "title", "title": "title", "description": "description", "descr": "description",
            "category": "category", "type": "category", "votes": "votes", "wkt": "geometry", "geometry": "geometry",
            "geom": "geometry"}


def _format(path: Path, fmt: str | None) -> str:
    if fmt:
        key = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
        if key == ".gpkg" or key == ".geopackage":
            return "GPKG"
        if key in FORMATS:
            return FORMATS[key]
    driver = FORMATS.get(path.suffix.lower())
    if driver is None:
        raise GisPlannerError(f"unknown file type '{path.suffix}'", file=str(path),
                              fix="use .geojson, .gpkg, .kml or .csv", code="bad_format")
    return driver


def _iso(series: pd.Series) -> pd.Series:
    s = pd.to_datetime(series, utc=True)
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"


def export_frame(store: CommunityStore, *, session_id=None, village=None, group=None,
                 include_deleted: bool = False, public: bool = False, lang: str | None = None) -> gpd.GeoDataFrame:
    """The features to export (columns :data:`EXPORT_COLUMNS` + geometry, EPSG:4326).

    ``public=True``: for publication — names and phone numbers in the text are replaced
    (:func:`gis_planner.community.privacy.redact`, placeholder in ``lang``), the columns of
    :data:`PRIVATE_COLUMNS` (who drew/changed a feature) are dropped and deleted features are never included.
    """
    if public:
        include_deleted = False
    gdf = store.features(session_id=session_id, village=village, group=group, include_deleted=include_deleted)
    cols = list(EXPORT_COLUMNS) + (["deleted"] if include_deleted else [])
    out = gpd.GeoDataFrame(gdf[cols], geometry=gdf.geometry, crs=4326)
    if public:
        from . import privacy

        out = out.drop(columns=list(PRIVATE_COLUMNS))
        out = privacy.redact_frame(out, PUBLIC_TEXT_COLUMNS, lang=lang, ws=store.ws,
                                   places=privacy.place_names(store.ws, store))
    return out


def export(store: CommunityStore, path, *, session_id=None, village=None, group=None, fmt: str | None = None,
           include_deleted: bool = False, public: bool = False, photos: bool = False,
           lang: str | None = None) -> Path:
    """Write features to GeoJSON, GeoPackage, KML or CSV (WKT geometry), chosen by the file extension.

    ``public=True`` writes the publishable version (see :func:`export_frame`: names and phones redacted,
    no authors). The file is written to a temporary name and moved into place, so a failed export never
    leaves half a file.
    With ``photos`` the features' photos are written to the folder ``<name>_photos/`` beside the file and each
    feature gets a ``photos`` property with their relative paths (a list in GeoJSON, ``;``-separated
    elsewhere). A ``.zip`` path writes ``<name>.geojson`` and its ``<name>_photos/`` folder into one zip.
    """
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return _export_zip(store, path, session_id=session_id, village=village, group=group,
                           include_deleted=include_deleted, public=public, lang=lang)
    driver = _format(path, fmt)
    gdf = export_frame(store, session_id=session_id, village=village, group=group, include_deleted=include_deleted,
                       public=public, lang=lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name.replace(';', '_')}.tmp{path.suffix}")  # GDAL misreads ';' in names
    tmp.unlink(missing_ok=True)
    photo_paths: dict = {}
    if photos:
        photo_paths = _export_photos(store, gdf, path)
        if driver != "GeoJSON":
            gdf = gdf.assign(photos=[";".join(photo_paths.get(int(i), [])) for i in gdf["id"]])
    try:
        if driver == "CSV":
            df = pd.DataFrame(gdf.drop(columns="geometry"))
            for c in ("created_at", "updated_at"):
                if c in df:
                    df[c] = _iso(df[c])
            df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=-1)
            safe_table(df).to_csv(tmp, index=False, encoding="utf-8", quoting=csv.QUOTE_NONNUMERIC,
                                  lineterminator="\n")
        elif driver == "KML":
            df = gdf.rename(columns={"title": "Name", "description": "Description"})
            for c in ("created_at", "updated_at"):
                if c in df:
                    df[c] = _iso(df[c])
            pyogrio.write_dataframe(df, tmp, driver="KML", layer=LAYER)
        elif driver == "GPKG":
            pyogrio.write_dataframe(gdf, tmp, driver="GPKG", layer=LAYER, geometry_type="Unknown",
                                    dataset_options={"VERSION": "1.2"})
        else:
            pyogrio.write_dataframe(gdf, tmp, driver="GeoJSON", layer=LAYER)
            if photos:  # a list of relative paths per feature
                import json

                doc = json.loads(tmp.read_text(encoding="utf-8"))
                for feat in doc.get("features", []):
                    feat["properties"]["photos"] = photo_paths.get(int(feat["properties"]["id"]), [])
                tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _export_photos(store: CommunityStore, gdf, path: Path) -> dict:
    """Photos of the exported features into ``<stem>_photos/`` beside ``path`` (replacing an older folder)."""
    import shutil

    from . import media

    folder = path.with_name(f"{path.stem}_photos")
    tmp = path.with_name(f".{path.stem}_photos.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    out = media.write_photos(store, gdf["id"].tolist(), tmp, prefix=f"{folder.name}/")
    shutil.rmtree(folder, ignore_errors=True)
    if tmp.exists():
        tmp.replace(folder)
    return out


def _export_zip(store: CommunityStore, path: Path, **kw) -> Path:
    """``<stem>.geojson`` with ``photos`` properties and the ``<stem>_photos/`` folder, in one zip."""
    import shutil
    import tempfile
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as d:
        inner = export(store, Path(d) / f"{path.stem}.geojson", photos=True, **kw)
        tmp = Path(d) / "out.zip"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(inner, inner.name)
            folder = inner.with_name(f"{inner.stem}_photos")
            if folder.exists():
                for f in sorted(folder.iterdir()):
                    z.write(f, f"{folder.name}/{f.name}", compress_type=zipfile.ZIP_STORED)
        shutil.move(str(tmp), str(path))
    return path


def read_file(path, *, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a community-map file (any of the export formats, or another tool's) as rows for the store.

    Column names are matched case-insensitively (KML ``Name``/``Description`` become ``title``/``description``);
    the geometry is reprojected to EPSG:4326. CSV needs a ``wkt`` (or ``geometry``) column, or ``lon``/``lat``.
    ``encoding`` forces the text encoding of a CSV (otherwise UTF-8, then cp1251) or of another GDAL format
    that has one (GeoJSON and GeoPackage are always UTF-8).
    """
    from ..io.safety import check_input, check_path, nested_as_text

    check_path(path)  # no /vsi… path, URL or GDAL connection string (docs/security.md)
    path = Path(path)
    check_input(path)  # no VRT, KML NetworkLink or GeoJSON crs link inside the file
    if not path.exists():
        raise GisPlannerError("file not found", file=str(path), fix="check the path", code="file_not_found")
    if ";" in path.name:  # pyogrio would open 'a; b.kml' as 'a': read through a plain-named link
        from ..io.safety import gdal_path

        with gdal_path(path) as alias:
            try:
                return read_file(alias, layer=layer, encoding=encoding)
            except GisPlannerError as exc:
                exc.file = str(path) if exc.file and alias.name in exc.file else exc.file
                raise
    driver = _format(path, None)
    try:
        if driver == "CSV":
            # as the layer importer reads CSV: UTF-8 or cp1251 (Excel in a Russian locale), and the
            # delimiter sniffed (Excel writes ";" where the decimal separator is a comma)
            from ..io.readers import _decode_text, _sniff_delimiter

            text, _ = _decode_text(path.read_bytes(), ["utf-8-sig", "cp1251"], str(path), encoding)
            df = pd.read_csv(io.StringIO(text), sep=_sniff_delimiter(text), dtype=str, keep_default_na=False)
            df = df.map(unsafe_cell)  # a title our CSV export wrote as '=… reads back as =…
            low = {c.lower().strip(): c for c in df.columns}
            if "wkt" in low or "geometry" in low:
                col = low.get("wkt") or low.get("geometry")
                try:
                    wkt = np.array([v if isinstance(v, str) and v.strip() else None for v in df[col]], dtype=object)
                    geoms = shapely.from_wkt(wkt, on_invalid="raise")
                except shapely.errors.GEOSException as exc:
                    raise GisPlannerError(f"a geometry in column '{col}' is not WKT ({exc})", file=str(path),
                                          fix="write geometries as WKT, e.g. POINT (77.1 42.6)",
                                          code="bad_geometry") from None
                df = df.drop(columns=[col])
            elif "lon" in low and "lat" in low:
                lon = pd.to_numeric(df[low["lon"]], errors="coerce").to_numpy()
                lat = pd.to_numeric(df[low["lat"]], errors="coerce").to_numpy()
                geoms = shapely.points(lon, lat)
                df = df.drop(columns=[low["lon"], low["lat"]])
            else:
                raise GisPlannerError("the CSV has no geometry column", file=str(path),
                                      fix="add a 'wkt' column (WKT in longitude/latitude) or 'lon' and 'lat'",
                                      code="no_geometry")
            gdf = gpd.GeoDataFrame(df, geometry=list(geoms), crs=4326)
        else:
            names = [str(n) for n, _ in pyogrio.list_layers(path)]
            if layer is not None:
                if layer not in names:
                    raise GisPlannerError(f"there is no layer '{layer}'", file=str(path),
                                          fix=f"use one of {', '.join(names)}", code="missing_layer")
                wanted = [layer]
            elif LAYER in names:
                wanted = [LAYER]
            elif driver == "KML":
                wanted = names  # Google Earth files keep placemarks in several folders: read them all
            elif len(names) == 1:
                wanted = names
            else:
                raise GisPlannerError(f"the file has {len(names)} layers", file=str(path),
                                      fix=f"choose one with layer= (--layer): {', '.join(names)}",
                                      code="ambiguous_layer")
            enc = {"encoding": encoding} if encoding and driver not in ("GeoJSON", "GPKG") else {}
            frames = [nested_as_text(pyogrio.read_dataframe(path, layer=n, **enc)) for n in wanted]
            frames = [f for f in frames if len(f)] or frames[:1]
            gdf = frames[0] if len(frames) == 1 else gpd.GeoDataFrame(
                pd.concat([f.to_crs(frames[0].crs) if f.crs != frames[0].crs else f for f in frames],
                          ignore_index=True), crs=frames[0].crs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError,
            pd.errors.ParserError, pd.errors.EmptyDataError, shapely.errors.GEOSException) as exc:
        raise GisPlannerError(f"cannot read the file ({exc})", file=str(path),
                              fix="give a GeoJSON, GeoPackage, KML or CSV file", code="bad_file") from None
    if gdf.crs is None:
        raise GisPlannerError("the file has no coordinate system", file=str(path),
                              fix="save it with a CRS (EPSG:4326 for longitude/latitude)", code="missing_crs")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    rename = {}
    for c in gdf.columns:
        if c == gdf.geometry.name:
            continue
        key = c.lower().strip()
        if key in _ALIASES and _ALIASES[key] != "geometry":
            rename[c] = _ALIASES[key]
        elif key in ATTRIBUTES:
            rename[c] = key
    gdf = gdf.rename(columns=rename)
    gdf = gdf.loc[:, ~gdf.columns.duplicated()]
    return gdf


def import_file(store: CommunityStore, path, session_id: int, *, author: str | None = None,
                layer: str | None = None, category: str | None = None, keep_uid: bool = True,
                progress: Callable[[int, int], None] | None = None,
                encoding: str | None = None) -> list[FeatureRecord]:
    """Import a file into a session in one transaction (all features or none).

    ``author`` fills rows without one (initials or role); ``category`` fills rows without one (e.g. importing a
    KML of springs). ``keep_uid=False`` imports copies with new identities. ``progress(done, total)`` is called
    as blocks are written; an exception there (or anywhere) rolls the whole import back.
    """
    gdf = read_file(path, layer=layer, encoding=encoding)
    if gdf.empty:
        return []
    rows = []
    geoms = gdf.geometry.values
    cols = [c for c in ATTRIBUTES if c in gdf.columns]
    records = pd.DataFrame(gdf[cols]).to_dict("records") if cols else [{} for _ in range(len(gdf))]
    for i, rec in enumerate(records):
        row = {k: _clean(v) for k, v in rec.items()}
        if not keep_uid:
            row.pop("uid", None)
        if category is not None and not row.get("category"):
            row["category"] = category
        row["geometry"] = geoms[i]
        rows.append(row)
    try:
        return store.add_features(session_id, rows, author=author, action="import", progress=progress)
    except GisPlannerError as exc:
        if exc.file is None:
            exc.file = str(path)
        raise


def _clean(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, str) and v == "":
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


# --------------------------------------------------------------------------- public-hearing export
def _numbered(store: CommunityStore, session_id: int) -> gpd.GeoDataFrame:
    gdf = store.features(session_id=session_id)
    cats = categories(store.ws)
    order = {c: i for i, c in enumerate(cats.codes)}
    gdf = gdf.assign(_o=gdf["category"].map(lambda c: order.get(c, 999))).sort_values(["_o", "id"], kind="stable")
    gdf = gdf.drop(columns="_o").reset_index(drop=True)
    gdf.insert(0, "no", np.arange(1, len(gdf) + 1))
    return gdf


def hearing_list(store: CommunityStore, session_id: int, lang: str | None = None) -> pd.DataFrame:
    """The numbered list of a session's features with labels in ``lang`` (numbers match the printed map).

    It is published: names and phone numbers in titles and descriptions are replaced
    (:mod:`gis_planner.community.privacy`); authors are not listed."""
    from . import privacy

    lang = check_lang(lang)
    gdf = _numbered(store, session_id)
    # a public list: names and phone numbers written into the text are replaced (layers/privacy.yaml)
    gdf = privacy.redact_frame(gdf, PUBLIC_TEXT_COLUMNS, lang=lang, ws=store.ws,
                               places=privacy.place_names(store.ws, store))
    cats = categories(store.ws)
    cond = catalogue("community_categories", store.ws, section="conditions")
    suff = catalogue("community_categories", store.ws, section="sufficiency")
    pts = gdf.geometry.representative_point()
    yes = t("community.yes", lang)
    out = pd.DataFrame({
        t("community.no", lang): gdf["no"].to_numpy(),
        t("community.category", lang): [cats.label(c, lang) for c in gdf["category"]],
        t("community.title_col", lang): gdf["title"].to_numpy(),
        t("community.description", lang): gdf["description"].fillna("").to_numpy(),
        t("community.condition", lang): [cond.label(c, lang) if c else "" for c in gdf["condition"]],
        t("community.sufficiency", lang): [suff.label(c, lang) if c else "" for c in gdf["sufficiency"]],
        t("community.problem", lang): [yes if v else "" for v in gdf["is_problem"]],
        t("community.wish", lang): [yes if v else "" for v in gdf["is_wish"]],
        t("community.votes", lang): gdf["votes"].to_numpy(),
        t("community.lonlat", lang): [f"{x:.5f}, {y:.5f}" for x, y in zip(pts.x, pts.y)],
    })
    return out


def _session_heading(store: CommunityStore, session: dict, lang: str) -> tuple[str, str]:
    groups = catalogue("community_categories", store.ws, section="participant_groups")
    title = f"{t('community.title', lang)}: {session['village']} — {groups.label(session['participant_group'], lang)}"
    if session.get("age_band"):
        title += f" ({session['age_band']})"
    sub = f"{t('community.date', lang)}: {session['date']}. " + t(
        "community.participants", lang, female=session["participants_female"], male=session["participants_male"])
    return title, sub


@all_or_nothing("out_dir")
@literal_figure_text
def export_session(store: CommunityStore, session_id: int, out_dir, *, lang: str | None = None, ws=None,
                   dpi: int = 150) -> dict[str, Path]:
    """Printable map (PNG, A4 landscape) and numbered list (CSV, HTML) of one session for the public hearing.

    The map shows groups' objects, not people: no author or facilitator names are printed. With a workspace
    (``ws`` or the store's), the municipality boundary, settlements and roads are drawn in grey for orientation.
    Returns ``{"map": …png, "csv": …csv, "html": …html}`` and ``overlay_<n>`` for each georeferenced paper-map
    photo the page shows.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lang = check_lang(lang)
    ws = ws if ws is not None else store.ws
    session = store.get_session(session_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"community_session_{session_id}_{lang}"
    gdf = _numbered(store, session_id)
    cats = categories(store.ws)
    title, sub = _session_heading(store, session, lang)

    # ---- list (CSV + HTML)
    table = hearing_list(store, session_id, lang)
    csv_path = out_dir / f"{stem}.csv"
    safe_table(table).to_csv(csv_path, index=False, encoding="utf-8-sig")
    html_path = out_dir / f"{stem}.html"
    overlay_html, overlay_files = _overlay_html(ws, session_id, out_dir, stem, lang)
    note = t("community.source_note", lang, date=session["date"])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                     for row in table.itertuples(index=False))
    html_path.write_text(
        f"<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}"
        "th,td{border:1px solid #999;padding:4px 6px;vertical-align:top;font-size:11pt}th{background:#eee}"
        "@media print{body{margin:0}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(sub)}</p>"
        f"<h2>{html.escape(t('community.list_title', lang))}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"
        f"{overlay_html}"
        f"<p><small>{html.escape(note)}</small></p></body></html>\n", encoding="utf-8")

    # ---- map (PNG)
    fig, ax = plt.subplots(figsize=(11.69, 8.27))
    if ws is not None:
        for name, style in (("boundary", dict(facecolor="none", edgecolor="#555555", linewidth=1.2)),
                            ("settlements", dict(facecolor="#eeeeee", edgecolor="#bbbbbb", linewidth=0.5)),
                            ("roads", dict(color="#bbbbbb", linewidth=0.6))):
            try:
                layer = ws.read_layer(name, missing_ok=True)
            except GisPlannerError:
                layer = None
            if layer is not None and len(layer):
                layer.to_crs(4326).plot(ax=ax, zorder=1, **style)
    handles = []
    for code in [c for c in cats.codes if c in set(gdf["category"])]:
        sel = gdf[gdf["category"] == code]
        color = cats.color(code)
        polys = sel[sel["kind"] == "polygon"]
        lines = sel[sel["kind"] == "line"]
        points = sel[sel["kind"] == "point"]
        if len(polys):
            polys.plot(ax=ax, facecolor=color, edgecolor=color, alpha=0.35, linewidth=1.0, zorder=2)
        if len(lines):
            lines.plot(ax=ax, color=color, linewidth=2.2, zorder=3)
        if len(points):
            points.plot(ax=ax, color=color, markersize=50, edgecolor="black", linewidth=0.5, zorder=4)
        kinds = set(sel["kind"])
        label = f"{cats.label(code, lang)} ({len(sel)})"
        if kinds == {"line"}:
            handles.append(Line2D([0], [0], color=color, linewidth=2.2, label=label))
        elif kinds == {"point"}:
            handles.append(Line2D([0], [0], marker="o", color="w", markerfacecolor=color, markeredgecolor="black",
                                  markersize=8, label=label))
        else:
            handles.append(Patch(facecolor=color, edgecolor=color, alpha=0.6, label=label))
    if len(gdf):
        pts = gdf.geometry.representative_point()
        for no, x, y, wish, problem in zip(gdf["no"], pts.x, pts.y, gdf["is_wish"], gdf["is_problem"]):
            mark = "*" if wish else ("!" if problem else "")
            ax.annotate(f"{no}{mark}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8, zorder=5,
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))
        minx, miny, maxx, maxy = gdf.total_bounds
        # at least ~1 km across (a single point still shows its surroundings), 15 % margins for the scale bar
        # and north arrow, and the extent widened to the landscape page (about 1.45 : 1 for the map frame)
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        coslat = math.cos(math.radians(cy))
        half_y = max((maxy - miny) * 0.65, 0.0045)
        half_x = max((maxx - minx) * 0.65, 0.0045 / coslat)
        ratio = 1.45
        if half_x * coslat < half_y * ratio:
            half_x = half_y * ratio / coslat
        else:
            half_y = half_x * coslat / ratio
        ax.set_xlim(cx - half_x, cx + half_x)
        ax.set_ylim(cy - half_y, cy + half_y)
        ax.set_aspect(1.0 / coslat)
        ax.ticklabel_format(useOffset=False, style="plain")
        _place_names(ax, ws)
        _scale_bar(ax, cy, lang)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(f"{title}\n{sub}", fontsize=12)
    ax.tick_params(labelsize=7)
    if handles:
        ax.legend(handles=handles, title=t("community.legend", lang), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, title_fontsize=9, frameon=True)
    fig.text(0.01, 0.01, f"{note}  * {t('community.wish', lang)}, ! {t('community.problem', lang)}. "
             f"{t('community.features_n', lang, n=len(gdf))}. {_dt.date.today().isoformat()}", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    png_path = out_dir / f"{stem}.png"
    fig.savefig(png_path, dpi=dpi)
    plt.close(fig)
    return {"map": png_path, "csv": csv_path, "html": html_path,
            **{f"overlay_{i}": f for i, f in enumerate(overlay_files, start=1)}}   # the paper-map photos shown


def _overlay_html(ws, session_id: int, out_dir: Path, stem: str, lang: str) -> tuple[str, list[Path]]:
    """The session's georeferenced paper-map photos (:mod:`.georef`) for the hearing page: each copied beside
    the page with its provenance (file, date, transform, RMS) — not who uploaded it (published pages show groups,
    not people). Returns the HTML and the image files written (part of the export's all-or-nothing set)."""
    if ws is None:
        return "", []
    import shutil

    from .georef import overlays

    parts, files = [], []
    for i, rec in enumerate(overlays(ws, session_id=session_id), start=1):
        src = Path(rec["dir"]) / rec["files"]["png"]
        if not src.exists():
            continue
        name = f"overlay_{stem}_{i}.png"
        shutil.copyfile(src, out_dir / name)
        files.append(out_dir / name)
        cap = t("paper.hearing_caption", lang, file=rec.get("file_name", ""), date=str(rec.get("uploaded_at", ""))[:10],
                kind=t(f"paper.kind.{rec.get('kind')}", lang), n=len(rec.get("points") or []),
                rms_px=f"{float(rec.get('rms_px', 0)):.1f}", rms_m=f"{float(rec.get('rms_m', 0)):.1f}",
                crs=rec.get("crs", ""))
        parts.append(f"<figure><img src=\"{html.escape(name)}\" alt=\"{html.escape(rec.get('file_name', ''))}\" "
                     f"style=\"max-width:100%;border:1px solid #999\"><figcaption><small>{html.escape(cap)}"
                     "</small></figcaption></figure>")
    if not parts:
        return "", []
    return f"<h2>{html.escape(t('paper.hearing_title', lang))}</h2>" + "".join(parts), files


def _place_names(ax, ws) -> None:
    """Names of the settlements in view, in grey (orientation for readers of the printed map)."""
    if ws is None:
        return
    try:
        st = ws.read_layer("settlements", missing_ok=True)
    except GisPlannerError:
        return
    if st is None or st.empty or "name" not in st.columns:
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    pts = st.to_crs(4326).geometry.representative_point()
    for name, x, y in zip(st["name"], pts.x, pts.y):
        if name and x0 <= x <= x1 and y0 <= y <= y1:
            ax.text(x, y, str(name), color="#777777", fontsize=10, style="italic", ha="center", va="center",
                    zorder=1.5)


def _nice_length(m: float) -> float:
    """The largest 1-2-5 × 10^k metres not above ``m``."""
    if m <= 0:
        return 0.0
    exp = 10 ** math.floor(math.log10(m))
    for f in (5, 2, 1):
        if f * exp <= m:
            return f * exp
    return exp


def _scale_bar(ax, lat: float, lang: str) -> None:
    """A scale bar (lower left) and a north arrow (upper right) on a lon/lat axis."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    m_per_deg = 111_320.0 * math.cos(math.radians(lat))  # along the parallel (WGS 84, ±0.3 % here)
    length_m = _nice_length((x1 - x0) * m_per_deg / 5)
    if length_m <= 0:
        return
    dx = length_m / m_per_deg
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + dx], [by, by], color="black", linewidth=3, solid_capstyle="butt", zorder=6)
    text = (t("community.unit_km", lang, n=f"{length_m / 1000:g}") if length_m >= 1000
            else t("community.unit_m", lang, n=f"{length_m:g}"))
    ax.text(bx + dx / 2, by + (y1 - y0) * 0.012, text, ha="center", va="bottom", fontsize=8, zorder=6)
    ax.annotate(t("community.north", lang), xy=(x1 - (x1 - x0) * 0.04, y1 - (y1 - y0) * 0.04),
                xytext=(x1 - (x1 - x0) * 0.04, y1 - (y1 - y0) * 0.14), ha="center", va="center", fontsize=10,
                arrowprops=dict(arrowstyle="-|>", color="black"), zorder=6)


__all__ = ["export", "export_frame", "read_file", "import_file", "export_session", "hearing_list", "FORMATS",
           "EXPORT_COLUMNS", "PRIVATE_COLUMNS", "PUBLIC_TEXT_COLUMNS"]
