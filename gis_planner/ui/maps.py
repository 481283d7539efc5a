"""Maps for the app that work without internet.

* **Basemap:** a hillshade with a hypsometric tint rendered from the workspace DEM (hillshade computed in
  the metric workspace CRS, then warped to Web Mercator so it lines up exactly with Leaflet), sent as one
  image ``ImageOverlay`` (lossy WebP: ~20x smaller than PNG). Web tiles (OpenStreetMap) are an optional extra, off by default.
* **Layers:** GeoJSON in EPSG:4326, simplified in metres *before* reprojection, capped in number,
  coloured from the catalogue colours (``layers/*.yaml``) or ``gis_planner/ui/map_styles.yaml``; popups
  and tooltips are pre-built HTML in which every value is escaped (``html.escape``).
* **Controls:** legend (escaped HTML), scale bar, layer toggles.
* **Offline assets:** folium and streamlit-folium load Leaflet from CDNs by default; :func:`localize`
  points every element of a map to the copies vendored in ``static/vendor/`` and served by Streamlit at
  ``/app/static/…`` (``[server] enableStaticServing = true``). It refuses to leave any remote asset.

Everything expensive is cached by the workspace data version (``gis_planner.ui.cache``).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st
import yaml
from branca.element import MacroElement
from jinja2 import Template

from ..basemap import hillshade  # noqa: F401  (one Horn implementation; maps.hillshade kept as a name)
from ..catalog import catalogue, load_rules
from ..errors import GisPlannerError
from ..i18n import label as _label
from ..i18n import t
from ..workspace import Workspace
from . import cache
from .leaflet_i18n import DRAW_TEXTS, DrawLocal, LeafletLocal  # noqa: F401  (names kept here)

STATIC_URL = "/app/static/vendor"
STATIC_DIR = Path(__file__).resolve().parents[2] / "static" / "vendor"

# folium / plugin asset names -> local URL (None: not needed by the maps this app draws)
LOCAL_ASSETS: dict[str, str | None] = {
    "leaflet": f"{STATIC_URL}/leaflet/leaflet.js",
    "leaflet_css": f"{STATIC_URL}/leaflet/leaflet.css",
    "leaflet_draw_js": f"{STATIC_URL}/leaflet-draw/leaflet.draw.js",
    "leaflet_draw_css": f"{STATIC_URL}/leaflet-draw/leaflet.draw.css",
    # folium.Map also lists these for Icon markers/popups styled with Bootstrap; the app draws
    # CircleMarkers and plain HTML, so they are dropped instead of fetched.
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
}

MAX_FEATURES = 6000          # features of one layer sent to the browser
# the overview's map: its layers in drawing order and those off until switched on (the launcher
# gis_planner.ui.serve prepares the same layers before the first visitor)
OVERVIEW_LAYERS = ("parcels", "settlements", "legal_zones", "protected_areas", "hazard_zones", "water_bodies",
                   "roads", "waste_sites", "boundary")
OVERVIEW_HIDDEN = ("legal_zones", "hazard_zones")
# fields holding codes without a catalogue: named from the i18n messages (prefixes tried in order)
CODED_FIELDS = {"hazard_type", "level", "water_type", "regime", "road_class", "site_type", "surface",
                "building_type", "method", "status", "kind", "subtype"}
CODE_PREFIXES = ("zoning.hazard", "zoning.level", "zoning.water", "zoning.regime", "zoning.kind",
                 "hazards.basis")
PERSONAL_FIELDS_KEY = "personal"
# bookkeeping fields of imported layers (the source file's feature number …): never shown to people
TECHNICAL_FIELDS = {"src_fid", "fid", "ogc_fid", "objectid", "gid"}


# ----------------------------------------------------------------------------- styles
@lru_cache(maxsize=1)
def styles() -> dict:
    with open(Path(__file__).with_name("map_styles.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def layer_style(name: str) -> dict:
    return dict(styles()["layers"].get(name) or styles()["default"])


def layer_title(name: str, lang: str, root: str | None = None) -> str:
    """Display name of a layer: the schema description, an app message, or the name itself."""
    key = f"app.layer.{name}"
    text = t(key, lang)
    if text != key:
        return text
    schema = load_rules("workspace_schema", root)["layers"]
    desc = (schema.get(name) or {}).get("description") or {}
    return desc.get(lang) or desc.get("en") or name


def field_title(field: str, lang: str) -> str:
    key = f"app.field.{field}"
    text = t(key, lang)
    return field if text == key else text


def _field_catalogues(name: str, root: str | None) -> tuple[dict, set]:
    schema = load_rules("workspace_schema", root)["layers"].get(name) or {}
    cats, personal = {}, set()
    for field, spec in (schema.get("fields") or {}).items():
        if spec.get("catalogue"):
            cats[field] = spec["catalogue"]
        if spec.get(PERSONAL_FIELDS_KEY):
            personal.add(field)
    return cats, personal


def _safe_catalogue(name: str, root: str | None):
    try:
        return catalogue(name, root)
    except GisPlannerError:
        return None


# ----------------------------------------------------------------------------- offline assets
def localize(m: folium.Map) -> folium.Map:
    """Point every JS/CSS asset of ``m`` and its children to the vendored local copies.

    Raises ``ValueError`` for an asset that has no local copy (so a new plugin cannot silently make the
    app depend on the internet).
    """
    def walk(el):
        yield el
        for child in getattr(el, "_children", {}).values():
            yield from walk(child)

    for el in walk(m):
        for attr in ("default_js", "default_css"):
            assets = getattr(el, attr, None)
            if not assets:
                continue
            local = []
            for name, url in assets:
                if url.startswith("/"):
                    local.append((name, url))
                    continue
                if name not in LOCAL_ASSETS:
                    raise ValueError(f"no local copy of map asset {name} ({url}); vendor it in static/vendor")
                if LOCAL_ASSETS[name] is not None:
                    local.append((name, LOCAL_ASSETS[name]))
            setattr(el, attr, local)
    return m


def remote_assets(m: folium.Map) -> list[str]:
    """URLs of assets of ``m`` that would be fetched from outside (empty after :func:`localize`)."""
    out = []

    def walk(el):
        for attr in ("default_js", "default_css"):
            for _, url in getattr(el, attr, None) or []:
                if not url.startswith("/"):
                    out.append(url)
        for child in getattr(el, "_children", {}).values():
            walk(child)

    walk(m)
    return out


# ----------------------------------------------------------------------------- terrain basemap
def _ramp(values: np.ndarray, stops: Sequence) -> np.ndarray:
    """Interpolate colour ``stops`` [(position 0..1, '#rrggbb'), …] at ``values`` → (…, 3) floats 0..1."""
    pos = np.array([float(p) for p, _ in stops])
    cols = np.array([[int(c[i:i + 2], 16) / 255.0 for i in (1, 3, 5)] for _, c in stops])
    return np.stack([np.interp(values, pos, cols[:, k]) for k in range(3)], axis=-1)


def image_url(img, fmt: str = "png", quality: int | None = None, method: int = 4) -> str:
    """A PIL image as a data URL the browser draws as an ``ImageOverlay``.

    ``fmt`` ``webp`` is lossy with ``quality`` (1-100) or lossless without it (``method``: libwebp's effort,
    0 fastest … 6; the pixels are the same whatever it is); it falls back to PNG when this Pillow cannot
    write WebP.
    """
    from PIL import features

    buf = io.BytesIO()
    if fmt == "webp" and features.check("webp"):
        if quality is None:
            img.save(buf, format="WEBP", lossless=True, method=int(method))
        else:
            img.save(buf, format="WEBP", quality=int(quality), method=4)
        mime = "image/webp"
    else:
        img.save(buf, format="PNG", optimize=False, compress_level=6)
        mime = "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@st.cache_resource(max_entries=4, show_spinner=False)
def terrain_image(root: str, version: str) -> dict | None:
    """The terrain basemap of a workspace: ``{"url": data-URL image, "bounds": [[s, w], [n, e]]}``.

    ``None`` when the workspace has no DEM. Computed once per data version.
    """
    ws = Workspace(root)
    if ws.dem_path is None:
        return None
    cfg = styles()["terrain"]
    # a disk cache next to the DEM keeps the first page fast after a restart (the image depends only on
    # the DEM file, the workspace CRS and the terrain style)
    import hashlib

    st_ = ws.dem_path.stat()
    sig = hashlib.sha256(json.dumps([st_.st_mtime_ns, st_.st_size, str(ws.crs), cfg], default=str)
                         .encode()).hexdigest()[:16]
    cache_file = ws.root / ".gis_planner_cache" / f"terrain-{sig}.json"
    if cache_file.exists():
        try:
            return json.loads(cache_file.read_text())
        except (OSError, ValueError):
            pass
    out = _render_terrain(ws, cfg)
    if out is not None:
        _write_cache(cache_file, out)
    return out


def _render_terrain(ws: Workspace, cfg: dict) -> dict | None:
    import rasterio
    from PIL import Image
    from pyproj import CRS, Transformer
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    from ..crs import metric_crs_for

    max_px = int(cfg.get("max_pixels", 1200))
    with rasterio.open(ws.dem_path) as ds:
        src_crs = CRS.from_user_input(ds.crs)
        metric = ws.crs or (src_crs if src_crs.is_projected else
                            metric_crs_for(tuple(ds.bounds), src_crs))
        # 1. DEM in the metric CRS, at about twice the display resolution
        tr, w, h = calculate_default_transform(ds.crs, metric, ds.width, ds.height, *ds.bounds)
        scale = min(1.0, 2 * max_px / max(w, h))
        w2, h2 = max(2, int(w * scale)), max(2, int(h * scale))
        tr, w2, h2 = calculate_default_transform(ds.crs, metric, ds.width, ds.height, *ds.bounds,
                                                 dst_width=w2, dst_height=h2)
        z = np.full((h2, w2), np.nan, dtype="float32")
        src = ds.read(1, masked=True).astype("float32").filled(np.nan)
        reproject(src, z, src_transform=ds.transform, src_crs=ds.crs, dst_transform=tr, dst_crs=metric,
                  src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.bilinear)
    valid = np.isfinite(z)
    if not valid.any():
        return None
    # 2. hillshade × hypsometric tint (elevation quantiles, so any relief uses the whole ramp)
    hs = hillshade(z, abs(tr.a), abs(tr.e))
    qs = np.nanquantile(z, np.linspace(0, 1, 101))
    zq = np.interp(z, qs, np.linspace(0, 1, 101))
    tint = _ramp(np.nan_to_num(zq), cfg["stops"])
    wgt = float(cfg.get("shade_weight", 0.65))
    rgb = tint * ((1 - wgt) + wgt * np.nan_to_num(hs, nan=1.0)[..., None] * 1.25)
    rgba = np.zeros((4, h2, w2), dtype="uint8")
    rgba[:3] = np.clip(rgb * 255, 0, 255).astype("uint8").transpose(2, 0, 1)
    rgba[3] = np.where(valid, int(255 * float(cfg.get("opacity", 0.85))), 0)
    # 3. warp to Web Mercator (Leaflet stretches an ImageOverlay linearly in EPSG:3857)
    left, top = tr.c, tr.f
    right, bottom = left + tr.a * w2, top + tr.e * h2
    mt, mw, mh = calculate_default_transform(metric, "EPSG:3857", w2, h2, left, bottom, right, top)
    k = min(1.0, max_px / max(mw, mh))
    mt, mw, mh = calculate_default_transform(metric, "EPSG:3857", w2, h2, left, bottom, right, top,
                                             dst_width=max(2, int(mw * k)), dst_height=max(2, int(mh * k)))
    out = np.zeros((4, mh, mw), dtype="uint8")
    reproject(rgba, out, src_transform=tr, src_crs=metric, dst_transform=mt, dst_crs="EPSG:3857",
              resampling=Resampling.bilinear)
    url = image_url(Image.fromarray(out.transpose(1, 2, 0), mode="RGBA"), str(cfg.get("format", "png")),
                    cfg.get("quality"))
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    w_, s_ = to_ll.transform(mt.c, mt.f + mt.e * mh)
    e_, n_ = to_ll.transform(mt.c + mt.a * mw, mt.f)
    return {"url": url, "bounds": [[s_, w_], [n_, e_]], "size": [mw, mh]}


# ----------------------------------------------------------------------------- GeoJSON for display
def _esc(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT:   # a missing value is an empty cell, never "nan"
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if value != value:
            return ""
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}".replace(",", " ")
        return html.escape(f"{value:,.2f}".replace(",", " "))
    return html.escape(str(value))


def popup_html(df: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> pd.Series:
    """One escaped HTML table per row: ``columns`` = [(field, display label), …] (for small frames)."""
    parts = pd.Series("", index=df.index, dtype=object)
    for field, title in columns:
        if field not in df.columns:
            continue
        vals = df[field].map(_esc)
        row = ("<tr><th style='text-align:left;padding-right:6px'>" + html.escape(title) + "</th><td>")
        parts = parts + np.where(vals != "", row + vals + "</td></tr>", "")
    return "<table style='font-size:12px'>" + parts + "</table>"


def display_tolerance(gdf: gpd.GeoDataFrame) -> float:
    """Simplification tolerance in metres: about a pixel when the whole layer fills a 1000-px map."""
    if gdf.empty:
        return 0.0
    x0, y0, x1, y1 = gdf.total_bounds
    return max(0.5, math.hypot(x1 - x0, y1 - y0) / 2500.0)


def to_display(gdf: gpd.GeoDataFrame, colors: pd.Series, fields: Sequence[tuple[str, str]] = (),
               tooltip: str | None = None, cap: int = MAX_FEATURES,
               lookups: dict | None = None) -> tuple[dict, int]:
    """Display data of ``gdf`` for the browser: capped, simplified in metres, in EPSG:4326, rounded.

    Returns ``(spec, n_dropped)``; ``spec`` = ``{"data": GeoJSON, "fields": [[key, label], …],
    "tip": key}``. Feature properties are ``_c`` (colour) and ``f0, f1 …`` (the ``fields`` values) —
    every text is escaped here with ``html.escape`` (labels too); the browser builds a popup from them
    only when a feature is clicked, so large layers stay light. ``lookups`` (field -> {code: name}) sends
    the names of coded fields once instead of with every feature.
    """
    lookups = lookups or {}
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    dropped = 0
    if len(gdf) > cap:
        # keep the largest features (polygons by area, lines by length); points: the first ones
        size = gdf.geometry.area.to_numpy() + gdf.geometry.length.to_numpy()
        keep = np.sort(np.argsort(-size, kind="stable")[:cap])
        dropped = len(gdf) - cap
        gdf = gdf.iloc[keep]
    geom = gdf.geometry
    if gdf.crs is not None and gdf.crs.is_projected:
        geom = geom.simplify(display_tolerance(gdf), preserve_topology=True)
    geom = gpd.GeoSeries(geom, crs=gdf.crs)
    if gdf.crs is not None:
        geom = geom.to_crs(4326)
    arr = shapely.transform(np.asarray(geom.values, dtype=object), lambda c: np.round(c, 5))
    props = pd.DataFrame({"_c": colors.reindex(gdf.index).fillna("#3366cc").astype(str).to_numpy()})
    keys, tables, tip = [], {}, None
    for i, (field, title) in enumerate(fields):
        if field not in gdf.columns:
            continue
        key = f"f{i}"
        props[key] = gdf[field].map(_esc).to_numpy()
        keys.append([key, html.escape(str(title))])
        if field in lookups:
            tables[key] = {html.escape(str(c)): html.escape(str(n)) for c, n in lookups[field].items()}
        if field == tooltip:
            tip = key
    if tooltip is not None and tip is None and tooltip in gdf.columns:
        props["_t"] = gdf[tooltip].map(_esc).to_numpy()
        tip = "_t"
    features = []
    for g, p in zip(shapely.to_geojson(arr), props.to_dict("records")):
        if g is None:
            continue
        features.append({"type": "Feature", "geometry": json.loads(g),
                         "properties": {k: v for k, v in p.items() if v != ""}})
    return ({"data": {"type": "FeatureCollection", "features": features}, "fields": keys, "tip": tip,
             "lookups": tables}, dropped)


def _color_series(gdf: pd.DataFrame, style: dict, root: str | None) -> tuple[pd.Series, list]:
    """Fill colour per feature and the legend entries [(code or None, colour)]."""
    base = style.get("color", "#3366cc")
    by = style.get("by")
    if not by or by not in gdf.columns:
        return pd.Series(style.get("fill_color", base), index=gdf.index), [(None, style.get("fill_color", base))]
    colors = dict(style.get("colors") or {})
    if style.get("rules"):
        zones = load_rules(style["rules"], root).get("zones") or {}
        colors = {**{k: v["color"] for k, v in zones.items() if v and v.get("color")}, **colors}
    cat = _safe_catalogue(style["catalogue"], root) if style.get("catalogue") else None
    codes = [c for c in pd.unique(gdf[by].dropna().astype(str))]
    if cat is not None:
        order = {c: i for i, c in enumerate(cat.codes)}
        codes.sort(key=lambda c: (order.get(c, 10_000), c))
    else:
        codes.sort()
    palette = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
               "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99"]
    mapping = {}
    for i, code in enumerate(codes):
        if code in colors:
            mapping[code] = colors[code]
        elif cat is not None and code in cat.items:
            mapping[code] = cat.color(code)
        else:
            mapping[code] = palette[i % len(palette)]
    series = gdf[by].astype(object).map(lambda v: mapping.get(str(v), base) if v is not None else base)
    return series, [(c, mapping[c]) for c in codes]


def _legend_entries(name: str, lang: str, root: str, style: dict, legend_codes: list) -> list:
    """Legend rows ``[(text, colour)]`` of a layer coloured by :func:`_color_series`."""
    rule_zones = (load_rules(style["rules"], root).get("zones") or {}) if style.get("rules") else {}
    legend = []
    catobj = _safe_catalogue(style["catalogue"], root) if style.get("catalogue") else None
    for code, col in legend_codes:
        if code is None:
            text = layer_title(name, lang, root)
        elif catobj is not None and code in catobj.items:
            text = catobj.label(code, lang)
        elif code in rule_zones and (rule_zones[code] or {}).get("names"):
            text = rule_zones[code]["names"].get(lang) or code
        else:
            key = f"app.code.{code}"
            text = t(key, lang)
            if text == key:
                text = code
        legend.append((text, col))
    return legend


@st.cache_resource(max_entries=64, show_spinner=False)
def layer_display(root: str, version: str, name: str, lang: str, cap: int = MAX_FEATURES) -> dict | None:
    """Display-ready GeoJSON + legend of a workspace layer, cached per data version and language."""
    gdf = cache.read_layer(root, version, name)
    if gdf is None or gdf.geometry.name not in gdf.columns:
        return None
    style = layer_style(name)
    colors, legend_codes = _color_series(gdf, style, root)
    cats, personal = _field_catalogues(name, root)
    by = style.get("by")
    if by and style.get("catalogue"):
        cats.setdefault(by, style["catalogue"])
    shown = gdf.drop(columns=[c for c in gdf.columns if c in personal or str(c).lower() in TECHNICAL_FIELDS])
    # codes -> names in the popup
    shown = pd.DataFrame(shown.drop(columns=gdf.geometry.name))
    lookups = {}
    for field, catname in cats.items():
        if field in shown.columns:
            cat = _safe_catalogue(catname, root)
            if cat is not None:
                codes = [c for c in pd.unique(shown[field].dropna()) if str(c)]
                lookups[field] = {str(c): cat.label(str(c), lang) for c in codes}
    for field in shown.columns:   # yes/no fields
        vals = set(pd.unique(shown[field].dropna())) if shown[field].dtype in (bool, object) else set()
        if vals and vals <= {True, False}:
            lookups[field] = {"True": t("app.yes", lang), "False": t("app.no", lang)}
    for field in CODED_FIELDS | ({by} if by else set()):
        if field in shown.columns and field not in lookups:
            lookups[field] = {str(c): code_text(None, c, lang, prefixes=CODE_PREFIXES)
                              for c in pd.unique(shown[field].dropna()) if str(c)}
    rule_zones = (load_rules(style["rules"], root).get("zones") or {}) if style.get("rules") else {}
    if rule_zones and by in shown.columns:
        lookups[by] = {str(c): ((rule_zones.get(c) or {}).get("names") or {}).get(lang, c)
                       for c in pd.unique(shown[by].dropna())}
    fields = [c for c in shown.columns if not str(c).startswith("_")][:14]
    tip_field = next((f for f in ("cadastral_no", "name", "title", by) if f and f in shown.columns), None)
    shown = gpd.GeoDataFrame(shown, geometry=gdf.geometry, crs=gdf.crs)
    geojson, dropped = to_display(shown, colors, [(f, field_title(f, lang)) for f in fields], tip_field, cap,
                                  lookups=lookups)
    legend = _legend_entries(name, lang, root, style, legend_codes)
    return {"geojson": geojson, "legend": legend, "title": layer_title(name, lang, root),
            "dropped": dropped, "total": int(len(gdf)), "style": style}


# ----------------------------------------------------------------------------- dense layers as images
def raster_threshold() -> int:
    """Polygon layers with more features than this are drawn as one image (``map_styles.yaml: display``)."""
    return int((styles().get("display") or {}).get("raster_above", 1500))


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = str(color).lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return 51, 102, 204


def _polygon_mappings(geoms: np.ndarray) -> tuple[list, list] | None:
    """GeoJSON-like mappings of polygons for ``rasterio.features.rasterize``: ``(polygons, outlines)``, the
    outline of each feature being the ``MultiLineString`` of all its rings (what ``.boundary`` is).

    The same coordinates as the shapes' ``__geo_interface__``, but taken out of GEOS in one call instead of
    feature by feature (which took ~0.6 CPU s of the 5 560-parcel image, most of drawing it). ``None`` when
    ``geoms`` holds anything but non-empty (Multi)Polygons: the caller then passes the shapes themselves.
    """
    if not len(geoms):
        return None
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all() or shapely.is_empty(geoms).any():
        return None
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, point_of = shapely.get_coordinates(rings, return_index=True)
    xy = xy.tolist()
    ends = np.cumsum(np.bincount(point_of, minlength=len(rings))).tolist()
    ring_xy = [xy[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    part_rings: list[list] = [[] for _ in range(len(parts))]
    for r, p in zip(ring_xy, ring_of.tolist()):
        part_rings[p].append(r)
    feat_parts: list[list] = [[] for _ in range(len(geoms))]
    for pr, f in zip(part_rings, part_of.tolist()):
        feat_parts[f].append(pr)
    polygons, outlines = [], []
    for kind, fp in zip(kinds.tolist(), feat_parts):
        polygons.append({"type": "Polygon", "coordinates": fp[0]} if kind == 3 else
                        {"type": "MultiPolygon", "coordinates": fp})
        outlines.append({"type": "MultiLineString", "coordinates": [r for p in fp for r in p]})
    return polygons, outlines


def render_layer_image(gdf: gpd.GeoDataFrame, colors: pd.Series, style: dict, max_px: int) -> dict | None:
    """Rasterise polygons ``gdf`` (fill ``colors`` per feature, outline ``style['color']``) in EPSG:3857.

    Returns ``{"image": RGBA PIL image, "bounds": [[s, w], [n, e]], "size": [w, h]}`` (``None`` if nothing
    to draw).
    Leaflet stretches an ``ImageOverlay`` linearly in Web Mercator, so the image lines up exactly.
    """
    from PIL import Image
    from pyproj import Transformer
    from rasterio import features
    from rasterio.transform import from_bounds

    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        return None
    colors = colors.reindex(gdf.index)
    merc = gdf.geometry.to_crs(3857) if gdf.crs is not None else gdf.geometry
    x0, y0, x1, y1 = merc.total_bounds
    pad = 2.0 * max(x1 - x0, y1 - y0, 1.0) / max(max_px - 4, 1)   # two transparent pixels around
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    k = max_px / max(x1 - x0, y1 - y0)
    w, h = max(2, int(round((x1 - x0) * k))), max(2, int(round((y1 - y0) * k)))
    tr = from_bounds(x0, y0, x1, y1, w, h)
    # fill: the feature number (1…n) per pixel, then a colour table
    codes, inv = np.unique(colors.fillna(style.get("color", "#3366cc")).astype(str).to_numpy(), return_inverse=True)
    fast = _polygon_mappings(np.asarray(merc.values, dtype=object))
    ids = features.rasterize(zip(fast[0] if fast else merc.values, inv + 1), out_shape=(h, w), transform=tr,
                             fill=0, dtype="int32")
    lut = np.zeros((len(codes) + 1, 4), dtype="uint8")
    alpha = int(255 * float(style.get("fill_opacity", 0.3))) if style.get("fill", True) else 0
    for i, c in enumerate(codes, start=1):
        lut[i] = (*_hex_rgb(c), alpha)
    rgba = lut[ids]
    # outlines (one pixel wide)
    lines = fast[1] if fast else (g for g in merc.boundary.values if g is not None and not g.is_empty)
    edges = features.rasterize(((g, 1) for g in lines), out_shape=(h, w), transform=tr, fill=0, dtype="uint8")
    if float(style.get("weight", 1.0)) > 0:
        rgba[edges == 1] = (*_hex_rgb(style.get("color", "#333333")), 210)
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    w_, s_ = to_ll.transform(x0, y0)
    e_, n_ = to_ll.transform(x1, y1)
    return {"image": Image.fromarray(rgba, mode="RGBA"), "bounds": [[s_, w_], [n_, e_]], "size": [w, h]}


@st.cache_resource(max_entries=16, show_spinner=False)
def layer_raster(root: str, version: str, name: str) -> dict | None:
    """A dense polygon layer as one image overlay: ``{"url": data-URL, "bounds", "size", "total"}``.

    Cached in memory and on disk (``<workspace>/.gis_planner_cache/``) by data version and style, so a
    restarted app draws the 5 560-parcel demo layer without rasterising again. Colours do not depend
    on the language (the legend, built separately, does).
    """
    import hashlib

    style = layer_style(name)
    disp = styles().get("display") or {}
    max_px = int(disp.get("raster_max_pixels", 2048))
    fmt = str(disp.get("raster_format", "png"))
    method = int(disp.get("raster_webp_method", 4))
    sig = hashlib.sha256(json.dumps([version, name, style, max_px, fmt, method], sort_keys=True, default=str)
                         .encode()).hexdigest()[:16]
    cache_file = Path(root) / ".gis_planner_cache" / f"layer-{name}-{sig}.json"
    if cache_file.exists():
        try:
            return json.loads(cache_file.read_text())
        except (OSError, ValueError):
            pass
    gdf = cache.read_layer(root, version, name)
    if gdf is None or gdf.geometry.name not in gdf.columns:
        return None
    colors, legend_codes = _color_series(gdf, style, root)
    img = render_layer_image(gdf, colors, style, max_px)
    if img is None:
        return None
    out = {"url": image_url(img["image"], fmt, method=method),   # lossless: the colours stay the catalogue's
           "bounds": img["bounds"], "size": img["size"], "total": int(len(gdf)),
           "legend_codes": [[c, col] for c, col in legend_codes]}
    _write_cache(cache_file, out)
    return out


def _write_cache(cache_file: Path, obj) -> None:
    """Write a JSON disk cache atomically; a read-only workspace simply gets no disk cache."""
    try:
        cache_file.parent.mkdir(exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(obj))
        tmp.replace(cache_file)
    except OSError:
        pass


def is_dense(root: str, version: str, name: str) -> bool:
    """True for a polygon layer with more features than :func:`raster_threshold` (from the workspace
    catalogue: the layer itself is not read)."""
    lay = next((x for x in cache.info(root, version).get("layers") or [] if x.get("name") == name), None)
    if lay is None:
        return False
    return int(lay.get("features") or 0) > raster_threshold() and \
        str(lay.get("geometry_type") or "").upper().replace("MULTI", "") == "POLYGON"


@st.cache_resource(max_entries=8, show_spinner=False)
def layer_index(root: str, version: str, name: str):
    """``(layer, its spatial index)``, built once per data version (warmed at start-up by the app)."""
    gdf = cache.read_layer(root, version, name)
    return gdf, (gdf.sindex if gdf is not None else None)


def feature_at(root: str, version: str, name: str, lat: float, lng: float) -> pd.DataFrame:
    """Features of layer ``name`` containing the point (lat, lng) — the server-side answer to a click
    on a layer drawn as an image (spatial index, exact containment in the layer CRS)."""
    from pyproj import Transformer

    gdf, sidx = layer_index(root, version, name)
    if gdf is None or gdf.empty:
        return pd.DataFrame()
    x, y = (Transformer.from_crs(4326, gdf.crs, always_xy=True).transform(lng, lat)
            if gdf.crs is not None else (lng, lat))
    hits = sidx.query(shapely.Point(x, y), predicate="intersects")
    return gdf.iloc[np.sort(hits)]


def feature_rows(root: str, name: str, row: pd.Series, lang: str) -> pd.DataFrame:
    """One feature's attributes for people: ``field`` (translated), ``value`` (catalogue names, yes/no);
    personal fields (owner names) are left out, as on the maps."""
    cats, personal = _field_catalogues(name, root)
    out = []
    for field, value in row.items():
        if field in personal or str(field).startswith("_") or isinstance(value, shapely.Geometry) \
                or str(field).lower() in TECHNICAL_FIELDS:
            continue
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, (bool, np.bool_)):
            text = t("app.yes" if value else "app.no", lang)
        elif field in cats:
            text = code_text(cats[field], value, lang, root)
        elif field in CODED_FIELDS:
            text = code_text(None, value, lang, prefixes=CODE_PREFIXES)
        elif isinstance(value, (float, np.floating)):
            from ..report.fmt import fmt_number
            text = fmt_number(value, lang, 0 if float(value).is_integer() else 2)
        else:
            from ..report.fmt import fmt_date
            text = fmt_date(value, lang)   # dates the local way; other text as it is
        if text != "":
            out.append({"field": field_title(str(field), lang), "value": text})
    return pd.DataFrame(out, columns=["field", "value"])


# ----------------------------------------------------------------------------- map elements
class Legend(MacroElement):
    """A legend control (bottom right); all text is escaped."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: 'bottomright'});
            legend.onAdd = function () {
                var div = L.DomUtil.create('div', 'gp-legend');
                div.innerHTML = {{ this.html_json }};
                // a narrow map: the legend starts folded, so that it does not cover the data
                var map = {{ this._parent.get_name() }}, det = div.querySelector('details');
                if (det && map.getSize().x < 640) { det.open = false; }
                L.DomEvent.disableScrollPropagation(div);
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, sections: Iterable[tuple[str, Sequence[tuple[str, str]]]], title: str = "",
                 open_: bool | None = None):
        super().__init__()
        self._name = "Legend"
        sections = list(sections)
        n = sum(len(e) for _, e in sections)
        is_open = (n <= 6) if open_ is None else open_
        parts = ["<details" + (" open" if is_open else "") + " style='background:rgba(255,255,255,.92);"
                 "padding:4px 8px;border-radius:4px;font:12px/1.35 sans-serif;max-height:240px;max-width:260px;"
                 "overflow:auto;box-shadow:0 1px 4px rgba(0,0,0,.3)'>"
                 f"<summary style='cursor:pointer;font-weight:600'>{html.escape(title)}</summary>"]
        for title, entries in sections:
            parts.append(f"<div style='font-weight:600;margin-top:2px'>{html.escape(title)}</div>")
            for text, color in entries:
                col = str(color)   # "outline:#rrggbb": an outline swatch (e.g. the allocation's outline)
                swatch = (f"border:2px solid {html.escape(col[8:])};background:transparent"
                          if col.startswith("outline:") else f"border:1px solid #555;background:{html.escape(col)}")
                parts.append("<div><span style='display:inline-block;width:12px;height:12px;margin-right:5px;"
                             f"vertical-align:middle;{swatch}'></span>"
                             f"{html.escape(str(text))}</div>")
        parts.append("</details>")
        self.html_json = json.dumps("".join(parts))


class MetricScale(MacroElement):
    """Leaflet's scale bar in metric units only."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


class FocusWithoutScroll(MacroElement):
    """Leaflet focuses the map on the first mouse-down (for its keyboard handler); inside the app's iframe
    that focus scrolled the page to bring the map into view between mouse-down and click, so the first
    click landed away from where it was aimed (~1.3 km at 1440×900). The container is focused with
    ``preventScroll`` instead."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (c) {
            c.focus = function () { HTMLElement.prototype.focus.call(c, {preventScroll: true}); };
        })({{ this._parent.get_name() }}.getContainer());
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "FocusWithoutScroll"


class FastGeoJson(folium.map.Layer):
    """A GeoJSON layer whose popups are built in the browser when a feature is clicked.

    Sends each feature's (already escaped) values once instead of a ready-made HTML popup per feature,
    so a layer of thousands of parcels stays a few hundred kilobytes.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var spec = {{ this.spec_json }};
            function popup(p) {
                var rows = '';
                for (var i = 0; i < spec.fields.length; i++) {
                    var k = spec.fields[i][0], v = p[k];
                    if (v === undefined || v === null || v === '') continue;
                    if (spec.lookups && spec.lookups[k] && spec.lookups[k][v] !== undefined) v = spec.lookups[k][v];
                    rows += '<tr><th style="text-align:left;padding-right:6px">' + spec.fields[i][1] +
                            '</th><td>' + v + '</td></tr>';
                }
                return '<table style="font-size:12px">' + rows + '</table>';
            }
            var opts = {};
            if (spec.style.pane) {   // drawn opaque in a pane of its own, the pane translucent as a whole:
                var pm = {{ this._parent.get_name() }};   // overlapping pieces do not darken each other
                if (!pm.getPane(spec.style.pane)) {
                    var pn = pm.createPane(spec.style.pane);
                    pn.style.opacity = spec.style.fill_opacity; pn.style.zIndex = 405;
                }
                opts.pane = spec.style.pane;
            }
            return L.geoJson(spec.data, Object.assign(opts, {
                style: function (f) {
                    var c = f.properties._c || spec.style.color;
                    var poly = f.geometry && f.geometry.type.indexOf('Polygon') >= 0;
                    if (spec.style.point_radius && f.geometry && f.geometry.type.indexOf('Point') >= 0) {
                        // points that must stand out (the community's): a filled dot with a white rim
                        return {radius: spec.style.point_radius, color: '#ffffff', weight: 2, fill: true,
                                fillColor: c, fillOpacity: 1};
                    }
                    var s = {color: (poly && spec.style.by && spec.style.fill) ? spec.style.color : c,
                             weight: spec.style.weight, fillColor: c, fill: poly ? spec.style.fill : false,
                             fillOpacity: poly ? (spec.style.fill ? (spec.style.pane ? 1 : spec.style.fill_opacity) : 0) : 0.9};
                    if (spec.style.weight <= 0) { s.stroke = false; }
                    if (spec.style.dash) { s.dashArray = spec.style.dash; }
                    return s;
                },
                pointToLayer: function (f, ll) {
                    var c = f.properties._c || spec.style.color;
                    return L.circleMarker(ll, {radius: 6, color: '#222', weight: 1, fillColor: c, fillOpacity: 0.9});
                },
                onEachFeature: function (f, layer) {
                    if (spec.fields.length) { layer.bindPopup(function () { return popup(f.properties); },
                                                              {maxWidth: 420}); }
                    var tv = spec.tip ? f.properties[spec.tip] : null;
                    if (tv && spec.lookups && spec.lookups[spec.tip] && spec.lookups[spec.tip][tv] !== undefined) {
                        tv = spec.lookups[spec.tip][tv];
                    }
                    if (tv) { layer.bindTooltip(tv, {sticky: true}); }
                }
            }));
        })();
        {% endmacro %}
    """)

    def __init__(self, spec: dict, name: str, style: dict, show: bool = True):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=show)
        self._name = "FastGeoJson"
        st_ = {"color": style.get("color", "#333333"), "weight": float(style.get("weight", 1.0)),
               "fill": bool(style.get("fill", True)), "fill_opacity": float(style.get("fill_opacity", 0.3)),
               "dash": style.get("dash"), "by": bool(style.get("by")) or "fill_color" in style,
               "pane": style.get("pane"), "point_radius": style.get("point_radius")}
        self.spec_json = json.dumps({**spec, "style": st_}, ensure_ascii=False, separators=(",", ":"))


def add_geojson(m: folium.Map, spec: dict, title: str, style: dict, show: bool = True) -> FastGeoJson:
    """Add display data (from :func:`to_display`) to ``m`` as a toggleable layer."""
    layer = FastGeoJson(spec, title, style, show=show)
    layer.add_to(m)
    return layer


def base_map(ws: Workspace | None, lang: str, web_tiles: bool = False, bounds=None) -> folium.Map:
    """An empty map on the terrain basemap of ``ws`` with a scale bar, fitted to ``bounds`` (lat/lon)."""
    zoom = styles().get("zoom") or {}
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True, zoom_control=True,
                   attribution_control=False,   # Leaflet's own zoom limits (folium's min_zoom/max_zoom are the tiles')
                   **{"maxZoom": int(zoom.get("max", 18)), "minZoom": int(zoom.get("min", 9)) if ws is not None else 5})
    LeafletLocal(lang).add_to(m)   # Leaflet's own texts in the user's language (before the scale bar)
    FocusWithoutScroll().add_to(m)   # the first click lands where it was aimed
    MetricScale().add_to(m)   # metres/kilometres only (folium's default scale adds miles)
    if web_tiles:
        folium.TileLayer("OpenStreetMap", name=t("app.map.osm", lang), overlay=False, control=True).add_to(m)
    if ws is not None:
        root, version = cache.key(ws)
        img = terrain_image(root, version)
        if img is not None:
            folium.raster_layers.ImageOverlay(img["url"], bounds=img["bounds"], name=t("app.map.terrain", lang),
                                              interactive=False, zindex=1, overlay=True, control=True).add_to(m)
            if bounds is None:
                bounds = img["bounds"]
    if bounds is None:
        bounds = [[39.0, 69.0], [43.5, 80.5]]   # Kyrgyzstan
    m.fit_bounds(bounds)
    return m


def workspace_bounds(ws: Workspace) -> list | None:
    """Lat/lon bounds of the boundary layer (or of all layers) for fitting the map."""
    root, version = cache.key(ws)
    for name in ("boundary", "parcels"):
        gdf = cache.read_layer(root, version, name)
        if gdf is not None and not gdf.empty and gdf.crs is not None:
            x0, y0, x1, y1 = gdf.to_crs(4326).total_bounds if len(gdf) < 50 else \
                gpd.GeoSeries([shapely.box(*gdf.total_bounds)], crs=gdf.crs).to_crs(4326).total_bounds
            return [[float(y0), float(x0)], [float(y1), float(x1)]]
    return None


def layers_map(ws: Workspace, names: Sequence[str], lang: str, web_tiles: bool = False,
               hidden: Sequence[str] = (), extra: Sequence[tuple[dict, str, dict]] = (),
               legend_extra: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (),
               vector: Sequence[str] = (), legend_out: list | None = None,
               bounds: list | None = None) -> tuple[folium.Map, list]:
    """A map of workspace layers ``names`` (drawing order) plus ``extra`` display layers.

    Dense polygon layers (more features than :func:`raster_threshold`, e.g. the parcels) are drawn as
    one cached image (:func:`layer_raster`) unless named in ``vector``; from village scale on the browser
    draws them as vectors with their cadastral numbers (``map_vectors.VectorsAtZoom``). Clicks on them are
    answered on the server with :func:`feature_at`. Village and street names are labelled
    (``map_vectors.PlaceLabels``).

    ``extra`` items are ``(geojson, title, style)``. With ``legend_out`` (a list) the legend sections are
    put there (for a legend under the map, ``map_vectors.legend_html``) instead of on the map; ``bounds``
    ([[s, w], [n, e]]) is the view the map opens at (default: the municipality). Returns
    ``(map, notes)``: notes are ``(layer title, shown, total)`` for layers capped for display.
    """
    from . import map_vectors

    root, version = cache.key(ws)
    m = base_map(ws, lang, web_tiles, bounds or workspace_bounds(ws))
    map_vectors.add_label_css(m)
    vcfg = map_vectors.vector_config()
    sections, notes = [], []
    for name in names:
        if name not in vector and is_dense(root, version, name):
            img = layer_raster(root, version, name)
            if img is None:
                continue
            title = layer_title(name, lang, root)
            overlay = folium.raster_layers.ImageOverlay(img["url"], bounds=img["bounds"], name=html.escape(title),
                                                        interactive=False, zindex=2, overlay=True, control=True,
                                                        show=name not in hidden)
            overlay.add_to(m)
            vec = map_vectors.vector_file(root, version, name)
            if vec is not None:   # vectors with cadastral numbers from village scale on
                st_ = layer_style(name)
                map_vectors.VectorsAtZoom(overlay.get_name(), {
                    **vec, "outline": st_.get("color", "#333333"), "weight": float(st_.get("weight", 0.6)),
                    "fill_opacity": float(st_.get("fill_opacity", 0.3)), "min_zoom": vcfg["min_zoom"],
                    "label_zoom": vcfg["label_zoom"], "label_max": vcfg["label_max"]}).add_to(m)
            legend = _legend_entries(name, lang, root, layer_style(name),
                                     [tuple(x) for x in img.get("legend_codes") or []])
            if legend and name not in hidden:
                sections.append((title, legend))
            continue
        d = layer_display(root, version, name, lang)
        if d is None:
            continue
        add_geojson(m, d["geojson"], d["title"], d["style"], show=name not in hidden)
        if d["dropped"]:
            notes.append((d["title"], d["total"] - d["dropped"], d["total"]))
        if d["legend"] and name not in hidden:
            sections.append((d["title"], d["legend"]))
    for geojson, title, style in extra:
        add_geojson(m, geojson, title, style)
    map_vectors.add_place_labels(m, ws, lang)   # village and street names
    sections.extend(legend_extra)
    if legend_out is not None:
        legend_out.extend(sections)
    elif sections:
        Legend(sections, t("app.map.legend", lang)).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    return localize(m), notes


def add_draw(m: folium.Map, lang: str | None = None, edit: bool = False) -> folium.Map:
    """Add the Draw plugin (points, lines, polygons; with ``edit`` Leaflet.draw's edit tool for the layers put
    into its group, e.g. the feature being edited) with local assets, its texts in ``lang``."""
    import folium.plugins   # (only here: ~40 plugin modules, ~0.06 CPU s the first page does not need)

    from ..settings import DEFAULT_LANG

    DrawLocal(lang or DEFAULT_LANG).add_to(m)
    folium.plugins.Draw(
        export=False, position="topleft",
        draw_options={"polyline": {"shapeOptions": {"color": styles()["drawn"]["color"]}},
                      "polygon": {"allowIntersection": False, "showArea": False,
                                  "shapeOptions": {"color": styles()["drawn"]["color"]}},
                      "rectangle": False, "circle": False, "circlemarker": False, "marker": True},
        edit_options={"edit": bool(edit), "remove": False},
    ).add_to(m)
    return localize(m)


DRAWN_TYPES = ("Point", "LineString", "Polygon")


def drawn_feature(out: dict | None) -> dict | None:
    """The shape to save from streamlit-folium's answer ``out``: only a shape drawn with Leaflet.draw.

    streamlit-folium also sets ``last_active_drawing`` when an existing layer (the boundary, a saved
    feature) is *clicked*; such a shape is not in ``all_drawings`` (the drawn layers), so it is ignored.
    The active drawing is used when it is one of the drawn shapes, else the last drawn shape."""
    drawn = [d for d in ((out or {}).get("all_drawings") or [])
             if isinstance(d, dict) and (d.get("geometry") or {}).get("type") in DRAWN_TYPES]
    if not drawn:
        return None
    active = (out or {}).get("last_active_drawing")
    if isinstance(active, dict) and active.get("geometry"):
        for d in drawn:
            if d["geometry"] == active["geometry"]:
                return active
    return drawn[-1]


@st.cache_resource(max_entries=32, show_spinner=False)
def _component_args(cache_key: tuple, _m) -> dict:
    """The arguments streamlit-folium sends to its browser component for map ``_m`` (rendered once per
    ``cache_key``): rendering a big folium map takes about a second, the cached arguments nothing.

    ``_m`` may be a function making the map (called only when the arguments are not cached, so a page
    does not even build the map on its reruns). What the map's maker put in ``m.gp_extra`` (e.g. legend
    sections for a legend drawn with the page's dynamic layer) is kept as ``"extra"``."""
    import streamlit_folium as sf

    if not isinstance(_m, folium.Map) and callable(_m):
        _m = _m()
    localize(_m)
    _m.get_root().render()
    _m.render()
    html_ = sf._get_html(_m)
    header = sf._get_header(_m)
    leaflet = sf._get_map_string(_m)
    css, js = [], []

    def walk(el):
        css.extend(url for _, url in getattr(el, "default_css", None) or [])
        js.extend(url for _, url in getattr(el, "default_js", None) or [])
        for child in getattr(el, "_children", {}).values():
            walk(child)

    walk(_m)
    try:
        bounds = _m.get_bounds()
    except AttributeError:
        bounds = [[None, None], [None, None]]
    return {"script": leaflet, "header": header, "html": html_, "id": sf.get_full_id(_m), "bounds": bounds,
            "zoom": _m.options.get("zoom"), "css_links": list(dict.fromkeys(css)), "js_links": list(dict.fromkeys(js)),
            "extra": getattr(_m, "gp_extra", None)}


def overview_map(ws: Workspace, lang: str, tiles: bool, vector: bool):
    """``(map, notes)`` of the overview page: its layers (``vector``: the parcels as shapes, not the image),
    ``tiles``: web tiles under them (:func:`layers_map`)."""
    return layers_map(ws, OVERVIEW_LAYERS, lang, tiles, hidden=OVERVIEW_HIDDEN, vector=["parcels"] if vector else ())


def show(m, key: str, returned_objects: list | None = None, height: int = 520,
         cache_key: tuple | None = None, overlay_js=None, highlight=False, click_now: bool = False):
    """Render ``m`` with streamlit-folium (local assets only); returns the interaction dict.

    With ``cache_key`` (anything that changes when the map's content does: data version, language, layer
    choice…) the rendered map is reused on reruns, so interactions stay fast on large workspaces.
    ``overlay_js`` (with ``cache_key``; e.g. the community layer) is drawn over the map without
    rebuilding it, through streamlit-folium's ``feature_group`` argument: the browser keeps its map (view,
    drawings, open controls) and only swaps that layer when the script changes — but it is one of the
    component's arguments, so every change sends the whole map again. ``m`` may be a function
    making the map (with ``cache_key``: called only when the map is not cached), and ``overlay_js`` a
    function of the cached arguments (``a["extra"]``) giving the script.

    ``highlight`` (with ``cache_key``; ``map_vectors.highlight_data(...)`` or ``None``, not ``overlay_js``) is a
    shape outlined over the map (the checked parcel) that is *not* one of the component's arguments: it goes
    to the browser in a small hidden element after the map (``map_vectors.highlight_sender_html``), which
    the map's script draws. The component's arguments then stay the same bytes on every rerun with the same
    ``cache_key``, and Streamlit sends the browser a reference to the message it already has instead of the
    map again (on the demo's restrictions page ~1.1 MB per click).

    ``click_now`` (with ``cache_key``, for a map that reports only its clicks, ``returned_objects`` within
    :data:`CLICK_KEYS`): a click is sent at once, not after streamlit-folium's 250 ms debounce
    (``map_vectors.click_now_js``).
    """
    import streamlit_folium as sf

    if isinstance(m, folium.Map):
        localize(m)
    returned_objects = returned_objects if returned_objects is not None else []
    if cache_key is None:
        m = m if isinstance(m, folium.Map) else m()
        return sf.st_folium(m, key=key, height=height, use_container_width=True, returned_objects=returned_objects)
    a = _component_args(cache_key, m)
    (s_, w_), (n_, e_) = a["bounds"]
    defaults = {"last_clicked": None, "last_object_clicked": None, "last_object_clicked_count": None,
                "last_object_clicked_tooltip": None, "last_object_clicked_popup": None, "all_drawings": None,
                "last_active_drawing": None,
                "bounds": {"_southWest": {"lat": s_, "lng": w_}, "_northEast": {"lat": n_, "lng": e_}},
                "zoom": a["zoom"], "last_circle_radius": None, "last_circle_polygon": None,
                "selected_layers": None, "selected_tags": None, "last_geocoder_result": None}
    defaults = {k: v for k, v in defaults.items() if k in returned_objects}
    side = highlight is not False
    if side and overlay_js is not None:
        raise ValueError("a map takes either overlay_js or highlight")
    now = bool(click_now) and set(returned_objects) <= set(CLICK_KEYS)
    scripts = a.setdefault("_scripts", {})   # (key, highlight receiver, click at once) -> (script, hash key)
    if (key, side, now) not in scripts:
        from . import map_vectors

        script = (a["script"] + (map_vectors.highlight_receiver_js(key) if side else "")
                  + (map_vectors.click_now_js() if now else ""))
        scripts[(key, side, now)] = (script, sf.generate_js_hash(script, key, False))
    script, hash_key = scripts[(key, side, now)]
    if callable(overlay_js):
        overlay_js = overlay_js(a)

    def _on_change():
        st.session_state[key] = st.session_state.get(hash_key, {})

    out = sf._component_func(
        script=script, header=a["header"], html=a["html"], id=a["id"], key=hash_key, height=height,
        width=None, returned_objects=returned_objects, default=defaults, zoom=None, center=None,
        feature_group=overlay_js, return_on_hover=False, layer_control=None, pixelated=False,
        css_links=a["css_links"], js_links=a["js_links"], on_change=_on_change, wrap_longitude=False)
    if side:
        from . import map_vectors

        with st.container(key=map_vectors.highlight_box_key(key)):
            st.html(map_vectors.highlight_sender_html(key, highlight), unsafe_allow_javascript=True)
    return out


CLICK_KEYS = ("last_clicked", "last_object_clicked")


def map_value(key: str) -> dict | None:
    """What the map shown with :func:`show` (``cache_key`` given) under ``key`` answered in this run (its
    clicks), before it is drawn again: a page can then draw the map with the answer's result on it (the
    checked parcel highlighted). The value is stored by the map's change callback, which Streamlit runs
    before the page."""
    return st.session_state.get(key)


def newest_click(out: dict | None, state_key: str) -> dict | None:
    """The point the user clicked last on a map shown with ``returned_objects=CLICK_KEYS``.

    streamlit-folium reports a click on empty map as ``last_clicked`` and a click on a shape (the
    boundary, a zone…) only as ``last_object_clicked``, and keeps both after later clicks. The one that
    changed since the previous run (remembered under ``state_key`` in the session) is the new click; the
    last one found stays chosen. Returns ``{"lat", "lng"}`` or ``None`` before any click.
    """
    pts = {k: (out or {}).get(k) for k in CLICK_KEYS}
    prev = st.session_state.get(f"{state_key}_prev", {})
    fresh = [v for k, v in pts.items() if v and v != prev.get(k)]
    if fresh:
        st.session_state[f"{state_key}_point"] = fresh[-1]
    st.session_state[f"{state_key}_prev"] = pts
    return st.session_state.get(f"{state_key}_point")


def frame_display(gdf: gpd.GeoDataFrame, color: str | pd.Series, popup_cols: Sequence[tuple[str, str]] = (),
                  tooltip_col: str | None = None, cap: int = MAX_FEATURES) -> dict:
    """Display data of an analysis result (colours given; popups from ``popup_cols``)."""
    colors = color if isinstance(color, pd.Series) else pd.Series(color, index=gdf.index)
    spec, _ = to_display(gdf, colors, popup_cols, tooltip_col, cap)
    return spec


def code_text(catalogue_name: str | None, code, lang: str, root=None, prefixes: Sequence[str] = ()) -> str:
    """Name of a code: catalogue label, a ``<prefix>.<code>`` or ``app.code.<code>`` message, or the code."""
    if catalogue_name:
        try:
            return _label(catalogue_name, code, lang, workspace=root)
        except GisPlannerError:
            pass
    for prefix in (*prefixes, "app.code"):
        key = f"{prefix}.{code}"
        text = t(key, lang)
        if text != key:
            return text
    return str(code)
