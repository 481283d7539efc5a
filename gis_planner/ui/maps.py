"""Maps for the app that work without internet.

* **Basemap:** a hillshade with a hypsometric tint rendered from the workspace DEM (hillshade computed in
  the metric workspace CRS, then warped to Web Mercator so it lines up exactly with Leaflet), sent as one
  PNG ``ImageOverlay``. Web tiles (OpenStreetMap) are an optional extra, off by default.
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
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st
import yaml
from branca.element import MacroElement
from jinja2 import Template

from ..catalog import catalogue, load_rules
from ..errors import GisPlannerError
from ..i18n import label as _label
from ..i18n import t
from ..workspace import Workspace
from . import cache

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
PERSONAL_FIELDS_KEY = "personal"


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


def hillshade(z: np.ndarray, res_x: float, res_y: float, azimuth: float = 315.0,
              altitude: float = 45.0) -> np.ndarray:
    """Hillshade in [0, 1] (Horn's gradient, as ``gdaldem hillshade``); NaN where ``z`` is NaN.

    >>> z = np.tile(np.arange(5.0), (5, 1)) * 10.0   # rises to the east, 45° slope for 10 m cells
    >>> round(float(hillshade(z, 10.0, 10.0)[2, 2]), 4)
    0.8536
    """
    z = np.asarray(z, dtype="float64")
    p = np.pad(z, 1, mode="edge")
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * res_x)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * res_y)
    zen, az = math.radians(90.0 - altitude), math.radians(azimuth)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, dzdy)
    aspect = np.where(aspect < 0, aspect + 2 * math.pi, aspect)
    shade = math.cos(zen) * np.cos(slope) + math.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    shade = np.clip(shade, 0.0, 1.0)
    shade[~np.isfinite(z)] = np.nan
    return shade


@st.cache_resource(max_entries=4, show_spinner=False)
def terrain_image(root: str, version: str) -> dict | None:
    """The terrain basemap of a workspace: ``{"url": data-URL PNG, "bounds": [[s, w], [n, e]]}``.

    ``None`` when the workspace has no DEM. Computed once per data version.
    """
    import rasterio
    from PIL import Image
    from pyproj import CRS, Transformer
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject

    from ..crs import metric_crs_for

    ws = Workspace(root)
    if ws.dem_path is None:
        return None
    cfg = styles()["terrain"]
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
    buf = io.BytesIO()
    Image.fromarray(out.transpose(1, 2, 0), mode="RGBA").save(buf, format="PNG", optimize=True)
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    w_, s_ = to_ll.transform(mt.c, mt.f + mt.e * mh)
    e_, n_ = to_ll.transform(mt.c + mt.a * mw, mt.f)
    return {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
            "bounds": [[s_, w_], [n_, e_]], "size": (mw, mh)}


# ----------------------------------------------------------------------------- GeoJSON for display
def _esc(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return html.escape(f"{value:,.2f}".replace(",", " "))
    return html.escape(str(value))


def popup_html(df: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> pd.Series:
    """One escaped HTML table per row: ``columns`` = [(field, display label), …]."""
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


def to_display(gdf: gpd.GeoDataFrame, colors: pd.Series, popups: pd.Series | None,
               tooltips: pd.Series | None, cap: int = MAX_FEATURES) -> tuple[dict, int]:
    """GeoJSON (EPSG:4326) of ``gdf`` for the browser: capped, simplified in metres, rounded.

    Returns ``(geojson, n_dropped)``. Properties are ``_c`` (colour), ``_p`` (popup HTML), ``_t``
    (tooltip HTML) only; their text is already escaped.
    """
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
    arr = shapely.transform(geom.values._data if hasattr(geom.values, "_data") else np.asarray(geom.values),
                            lambda c: np.round(c, 6))
    props = pd.DataFrame({"_c": colors.reindex(gdf.index).fillna("#3366cc").astype(str).to_numpy()})
    if popups is not None:
        props["_p"] = popups.reindex(gdf.index).fillna("").astype(str).to_numpy()
    if tooltips is not None:
        props["_t"] = tooltips.reindex(gdf.index).fillna("").astype(str).to_numpy()
    features = []
    geojson_geoms = shapely.to_geojson(arr)
    records = props.to_dict("records")
    for g, p in zip(geojson_geoms, records):
        if g is None:
            continue
        features.append({"type": "Feature", "geometry": json.loads(g), "properties": p})
    return {"type": "FeatureCollection", "features": features}, dropped


def _color_series(gdf: pd.DataFrame, style: dict, root: str | None) -> tuple[pd.Series, list]:
    """Fill colour per feature and the legend entries [(code or None, colour)]."""
    base = style.get("color", "#3366cc")
    by = style.get("by")
    if not by or by not in gdf.columns:
        return pd.Series(style.get("fill_color", base), index=gdf.index), [(None, style.get("fill_color", base))]
    colors = dict(style.get("colors") or {})
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
    shown = gdf.drop(columns=[c for c in gdf.columns if c in personal])
    # codes -> names in the popup
    shown = pd.DataFrame(shown.drop(columns=gdf.geometry.name))
    for field, catname in cats.items():
        if field in shown.columns:
            cat = _safe_catalogue(catname, root)
            if cat is not None:
                shown[field] = shown[field].map(lambda v, c=cat: c.label(str(v), lang) if v is not None
                                                and v == v else None)
    fields = [c for c in shown.columns if not str(c).startswith("_")][:14]
    popups = popup_html(shown, [(f, field_title(f, lang)) for f in fields])
    tip_field = next((f for f in ("cadastral_no", "name", "title", by) if f and f in shown.columns), None)
    tooltips = (pd.Series(layer_title(name, lang, root), index=gdf.index) if tip_field is None else
                shown[tip_field].map(_esc))
    geojson, dropped = to_display(gdf, colors, popups, tooltips, cap)
    legend = []
    catobj = _safe_catalogue(style["catalogue"], root) if style.get("catalogue") else None
    for code, col in legend_codes:
        if code is None:
            text = layer_title(name, lang, root)
        elif catobj is not None and code in catobj.items:
            text = catobj.label(code, lang)
        else:
            key = f"app.code.{code}"
            text = t(key, lang)
            if text == key:
                text = code
        legend.append((text, col))
    return {"geojson": geojson, "legend": legend, "title": layer_title(name, lang, root),
            "dropped": dropped, "total": int(len(gdf)), "style": style}


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
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, sections: Iterable[tuple[str, Sequence[tuple[str, str]]]]):
        super().__init__()
        self._name = "Legend"
        parts = ["<div style='background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;"
                 "font:12px/1.35 sans-serif;max-height:260px;overflow:auto;box-shadow:0 1px 4px rgba(0,0,0,.3)'>"]
        for title, entries in sections:
            parts.append(f"<div style='font-weight:600;margin-top:2px'>{html.escape(title)}</div>")
            for text, color in entries:
                col = html.escape(str(color))
                parts.append("<div><span style='display:inline-block;width:12px;height:12px;margin-right:5px;"
                             f"vertical-align:middle;border:1px solid #555;background:{col}'></span>"
                             f"{html.escape(str(text))}</div>")
        parts.append("</div>")
        self.html_json = json.dumps("".join(parts))


def _style_fn(style: dict):
    weight = float(style.get("weight", 1.0))
    outline = style.get("color", "#333333")
    fill = bool(style.get("fill", True))
    fill_opacity = float(style.get("fill_opacity", 0.3))
    dash = style.get("dash")
    by_fill = bool(style.get("by")) or "fill_color" in style

    def fn(feature):
        c = feature["properties"].get("_c", outline)
        gtype = (feature.get("geometry") or {}).get("type", "")
        polygon = "Polygon" in gtype
        out = {"color": outline if (by_fill and fill and polygon) else c, "weight": weight, "fillColor": c,
               "fillOpacity": (fill_opacity if fill else 0.0) if polygon else 0.9, "fill": fill or not polygon}
        if dash:
            out["dashArray"] = dash
        return out

    return fn


def add_geojson(m: folium.Map, geojson: dict, title: str, style: dict, show: bool = True) -> folium.GeoJson:
    """Add display GeoJSON (from :func:`to_display`) to ``m`` as a toggleable layer."""
    props = geojson["features"][0]["properties"] if geojson["features"] else {}
    kwargs = {}
    if "_p" in props:
        kwargs["popup"] = folium.GeoJsonPopup(fields=["_p"], labels=False, max_width=420)
    if "_t" in props:
        kwargs["tooltip"] = folium.GeoJsonTooltip(fields=["_t"], labels=False)
    layer = folium.GeoJson(
        geojson, name=html.escape(title), show=show, style_function=_style_fn(style),
        highlight_function=lambda f: {"weight": 3, "color": "#000000"},
        marker=folium.CircleMarker(radius=6, weight=1, fill=True, fill_opacity=0.9),
        zoom_on_click=False, **kwargs)
    layer.add_to(m)
    return layer


def base_map(ws: Workspace | None, lang: str, web_tiles: bool = False, bounds=None) -> folium.Map:
    """An empty map on the terrain basemap of ``ws`` with a scale bar, fitted to ``bounds`` (lat/lon)."""
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True, zoom_control=True,
                   attribution_control=False)
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
               legend_extra: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()) -> tuple[folium.Map, list]:
    """A map of workspace layers ``names`` (drawing order) plus ``extra`` display layers.

    ``extra`` items are ``(geojson, title, style)``. Returns ``(map, notes)``: notes are
    ``(layer title, shown, total)`` for layers capped for display.
    """
    root, version = cache.key(ws)
    m = base_map(ws, lang, web_tiles, workspace_bounds(ws))
    sections, notes = [], []
    for name in names:
        d = layer_display(root, version, name, lang)
        if d is None:
            continue
        add_geojson(m, d["geojson"], d["title"], d["style"], show=name not in hidden)
        if d["dropped"]:
            notes.append((d["title"], d["total"] - d["dropped"], d["total"]))
        if d["legend"]:
            sections.append((d["title"], d["legend"]))
    for geojson, title, style in extra:
        add_geojson(m, geojson, title, style)
    sections.extend(legend_extra)
    if sections:
        Legend(sections).add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    return localize(m), notes


def add_draw(m: folium.Map) -> folium.Map:
    """Add the Draw plugin (points, lines, polygons; edit/delete) with local assets."""
    folium.plugins.Draw(
        export=False, position="topleft",
        draw_options={"polyline": {"shapeOptions": {"color": styles()["drawn"]["color"]}},
                      "polygon": {"allowIntersection": False, "showArea": False,
                                  "shapeOptions": {"color": styles()["drawn"]["color"]}},
                      "rectangle": False, "circle": False, "circlemarker": False, "marker": True},
        edit_options={"edit": False, "remove": False},
    ).add_to(m)
    return localize(m)


def show(m: folium.Map, key: str, returned_objects: list | None = None, height: int = 520):
    """Render ``m`` with streamlit-folium (local assets only); returns the interaction dict."""
    from streamlit_folium import st_folium

    localize(m)
    return st_folium(m, key=key, height=height, use_container_width=True,
                     returned_objects=returned_objects if returned_objects is not None else [])


def frame_display(gdf: gpd.GeoDataFrame, color: str | pd.Series, popup_cols: Sequence[tuple[str, str]] = (),
                  tooltip_col: str | None = None, cap: int = MAX_FEATURES) -> dict:
    """Display GeoJSON of an analysis result (colours given; popups from ``popup_cols``)."""
    colors = color if isinstance(color, pd.Series) else pd.Series(color, index=gdf.index)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    popups = popup_html(df, popup_cols) if popup_cols else None
    tips = df[tooltip_col].map(_esc) if tooltip_col and tooltip_col in df.columns else None
    geojson, _ = to_display(gdf, colors, popups, tips, cap)
    return geojson


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
