"""Geometry arguments (a point, a WKT plot) in GPS lon/lat or in workspace coordinates: detected, said,
checked against the municipality.

A land specialist types a point from a phone (``77.12,42.65``), copies a WKT polygon from QGIS in
lon/lat, or gives Kyrg-06 metres. The workspace is metric (Kyrg-06), so every argument is read as:

* **lon/lat** when the workspace CRS is projected and every coordinate is a degree value (|x| ≤ 180,
  |y| ≤ 90) that falls in Kyrgyzstan: reprojected from EPSG:4326 (no Kyrg-06 coordinate is that small);
* **lat/lon swapped** (``42.65,77.12``) → refused, with "did you mean lon,lat = 77.12,42.65?";
* **workspace coordinates** otherwise.

The detection is returned (:class:`GeoInput`, ``frame`` and ``note``) so the CLI and the app say it.
With a ``boundary`` layer, a point outside the municipality, or a plot that does not touch it, is
refused with the distance; workspace coordinates with x and y swapped are recognised the same way
(the swapped point lies inside). A plot partly outside is kept and its outside share said.

:func:`at_point` reports what lies AT a point: the restriction zones containing it (with their effect
on an intended use), the distance to the nearest water body and to the municipality boundary.

Examples
--------
>>> g = read_point(ws, "77.12,42.65")                    # doctest: +SKIP
>>> g.frame, g.note                                       # doctest: +SKIP
('lonlat', 'Read as GPS longitude/latitude (EPSG:4326) → EPSG:7695: 4301234.5, 4722345.6')
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from .crs import WGS84, looks_swapped_lonlat
from .errors import GisPlannerError
from .i18n import t

# lon/lat envelope of Kyrgyzstan with a margin (the one of gis_planner.crs)
KG_LON = (68.0, 82.0)
KG_LAT = (38.5, 44.0)


@dataclass
class GeoInput:
    """A geometry argument read into the workspace CRS, and how it was read."""

    geometry: BaseGeometry             # in the workspace CRS
    frame: str                         # 'lonlat' | 'workspace'
    input_crs: str
    workspace_crs: str
    note: str = ""                     # the detection, said to the user (in the requested language)
    outside_share: float = 0.0         # share of a plot outside the municipality boundary
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        c = self.geometry.centroid if not self.geometry.is_empty else None
        return {"frame": self.frame, "input_crs": self.input_crs, "workspace_crs": self.workspace_crs,
                "note": self.note, "outside_share": self.outside_share, "notes": list(self.notes),
                "x": None if c is None else round(c.x, 3), "y": None if c is None else round(c.y, 3)}


def _parse_point(value) -> BaseGeometry:
    if isinstance(value, BaseGeometry):
        if value.geom_type != "Point":
            raise GisPlannerError(f"'{value.geom_type}' is not a point", fix="give X,Y or lon,lat", code="bad_point")
        return value
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        if len(parts) != 2:
            parts = value.split()
        try:
            x, y = (float(p.strip()) for p in parts)
        except ValueError:
            raise GisPlannerError(f"'{value}' is not a point", fix="give the point as X,Y in the workspace CRS "
                                  "or as lon,lat (e.g. 77.12,42.65)", code="bad_point") from None
        return shapely.Point(x, y)
    try:
        x, y = value
        return shapely.Point(float(x), float(y))
    except (TypeError, ValueError):
        raise GisPlannerError(f"'{value}' is not a point", fix="give (x, y) in the workspace CRS or (lon, lat)",
                              code="bad_point") from None


def _parse_geometry(value) -> BaseGeometry:
    if isinstance(value, BaseGeometry):
        return value
    try:
        return shapely.from_wkt(str(value))
    except shapely.errors.GEOSException as exc:
        raise GisPlannerError(f"not a WKT geometry ({exc})", fix="give a polygon in WKT, e.g. "
                              "POLYGON((77.10 42.64, 77.11 42.64, 77.11 42.65, 77.10 42.64))",
                              code="bad_geometry") from None


def _fmt(v: float, nd: int) -> str:
    return f"{v:.{nd}f}"


def _degrees(coords: np.ndarray) -> bool:
    return bool(len(coords)) and bool(np.all(np.abs(coords[:, 0]) <= 180) and np.all(np.abs(coords[:, 1]) <= 90))


def _in_kg(coords: np.ndarray) -> bool:
    return bool(np.all((coords[:, 0] >= KG_LON[0]) & (coords[:, 0] <= KG_LON[1])
                       & (coords[:, 1] >= KG_LAT[0]) & (coords[:, 1] <= KG_LAT[1])))


_BOUNDARY: dict = {}


def _boundary(ws):
    """The municipality as one geometry in the workspace CRS (``None`` without a boundary layer), read once
    per workspace data version (every checked point and plot is tested against it)."""
    key = (str(getattr(ws, "gpkg", "")), getattr(ws, "version", None)) if ws is not None else None
    if key is not None and key[1] is not None and key in _BOUNDARY:
        return _BOUNDARY[key]
    area = _read_boundary(ws)
    if key is not None and key[1] is not None:
        _BOUNDARY.clear()
        _BOUNDARY[key] = area
    return area


def _read_boundary(ws):
    if ws is None or not ws.has_layer("boundary"):
        return None
    b = ws.read_layer("boundary", columns=[])
    if b is None or b.empty:
        return None
    if ws.crs is not None and b.crs is not None and CRS.from_user_input(b.crs) != ws.crs:
        b = b.to_crs(ws.crs)
    return shapely.union_all(np.asarray(b.geometry.values))


def _read(ws, geom: BaseGeometry, what: str, lang: str) -> GeoInput:
    crs = ws.crs
    ws_name = crs.to_string() if crs is not None else "?"
    coords = shapely.get_coordinates(geom)
    frame, in_crs = "workspace", ws_name
    if crs is not None and crs.is_projected and _degrees(coords):
        if looks_swapped_lonlat(coords[:, 0], coords[:, 1]):
            c = coords[0]
            raise GisPlannerError(
                f"the {what} looks like latitude,longitude ({_fmt(c[0], 6)}, {_fmt(c[1], 6)}): longitude comes first",
                fix=f"did you mean lon,lat = {_fmt(c[1], 6)},{_fmt(c[0], 6)}?", code="swapped_coordinates",
                details={"suggested": [float(c[1]), float(c[0])]})
        if not _in_kg(coords):
            c = coords[0]
            raise GisPlannerError(
                f"the {what} ({_fmt(c[0], 6)}, {_fmt(c[1], 6)}) is in degrees but outside Kyrgyzstan",
                fix="give lon,lat of a place in the municipality (longitude 69–81, latitude 39–44), or X,Y in "
                    f"{ws_name}", code="outside_boundary")
        tr = Transformer.from_crs(WGS84, crs, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        frame, in_crs = "lonlat", "EPSG:4326"
    c = geom.centroid if geom.geom_type != "Point" else geom
    key = "geoinput.read_lonlat" if frame == "lonlat" else "geoinput.read_workspace"
    note = t(key, lang, crs=ws_name, x=_fmt(c.x, 1), y=_fmt(c.y, 1))
    return GeoInput(geom, frame, in_crs, ws_name, note)


def _outside(ws, g: GeoInput, what: str, lang: str) -> GeoInput:
    """Refuse a point outside / a plot not touching the municipality boundary (with the reason)."""
    area = _boundary(ws)
    if area is None:
        return g
    geom = g.geometry
    if geom.geom_type == "Point":
        if area.covers(geom):
            return g
    elif geom.intersects(area):
        if geom.area > 0:
            inside = shapely.intersection(geom, area).area
            g.outside_share = float(max(0.0, 1.0 - inside / geom.area))
            if g.outside_share > 1e-6:
                g.notes.append(t("geoinput.partly_outside", lang, share=f"{g.outside_share:.1%}"))
        return g
    d = float(area.distance(geom))
    swapped = shapely.transform(geom, lambda xy: xy[:, ::-1].copy()) if g.frame == "workspace" else None
    if swapped is not None and (area.covers(swapped) if swapped.geom_type == "Point" else swapped.intersects(area)):
        c = swapped.centroid
        raise GisPlannerError(
            f"the {what} is {d:,.0f} m outside the municipality boundary, but inside it with X and Y swapped",
            fix=f"did you mean X,Y = {_fmt(c.x, 1)},{_fmt(c.y, 1)}? (easting first, then northing, in "
                f"{g.workspace_crs})", code="swapped_coordinates",
            details={"suggested": [round(c.x, 3), round(c.y, 3)], "distance_m": round(d, 1)})
    raise GisPlannerError(
        f"the {what} is outside the municipality: {d:,.0f} m from its boundary"
        + (" (read as GPS lon/lat)" if g.frame == "lonlat" else f" (read as {g.workspace_crs} metres)"),
        fix="give a place inside the municipality (lon,lat from a phone/map, or X,Y in "
            f"{g.workspace_crs})", code="outside_boundary", details={"distance_m": round(d, 1)})


def read_point(ws, value, lang: str = "en") -> GeoInput:
    """A point argument (``"x,y"``, ``(x, y)``, Point) in lon/lat or workspace coordinates, in the
    workspace CRS; refused when swapped or outside the municipality (see module docstring)."""
    g = _read(ws, _parse_point(value), "point", lang)
    return _outside(ws, g, "point", lang)


def read_geometry(ws, value, lang: str = "en") -> GeoInput:
    """A plot argument (WKT or shapely geometry without a CRS) in lon/lat or workspace coordinates,
    in the workspace CRS; refused when swapped or not touching the municipality."""
    geom = _parse_geometry(value)
    if geom is None or geom.is_empty:
        raise GisPlannerError("the plot geometry is empty", fix="draw a polygon", code="bad_geometry")
    g = _read(ws, geom, "plot", lang)
    return _outside(ws, g, "plot", lang)


def to_workspace(ws, value, lang: str = "en") -> GeoInput:
    """A WKT/shapely geometry in lon/lat or workspace coordinates, in the workspace CRS (detection only:
    no boundary check, for geometries that may lie anywhere, e.g. a parcel's own shape)."""
    return _read(ws, _parse_geometry(value), "geometry", lang)


def at_point(ws, point: BaseGeometry, use: str | None = None, restrictions=None) -> dict:
    """What lies AT ``point`` (workspace CRS): zones containing it, nearest water body, boundary.

    Returns ``{"zones": [{kind, rule_id, subtype, level, name, effect}], "water": {name, water_type,
    distance_m} or None, "boundary_distance_m": float or None, "inside_boundary": bool or None}``.
    ``effect`` is the zone's effect on ``use`` (prohibited / conditional / permitted / None).
    """
    from .zoning.check import with_effects
    from .zoning.restrictions import build_restrictions
    from .zoning.rules import check_use

    restr = build_restrictions(ws) if restrictions is None else restrictions
    zones = []
    if restr is not None and len(restr):
        idx = np.sort(restr.sindex.query(point, predicate="intersects"))
        sub = restr.iloc[idx]
        if len(sub):
            effects = {}
            if use is not None:
                use = check_use(use, ws)
                eff = with_effects(sub.reset_index(drop=True), use, ws)
                effects = {(r.kind, r.rule_id, r.subtype, r.level): r.effect for r in eff.itertuples()}
            seen = set()
            for r in sub.itertuples():
                key = (r.kind, r.rule_id, getattr(r, "subtype", None), getattr(r, "level", None))
                if key in seen:
                    continue
                seen.add(key)
                zones.append({"kind": r.kind, "rule_id": r.rule_id, "subtype": key[2], "level": key[3],
                              "name": getattr(r, "name", None), "width_m": getattr(r, "width_m", None),
                              "effect": effects.get(key)})
    water = None
    w = ws.read_layer("water_bodies", missing_ok=True) if ws.has_layer("water_bodies") else None
    if w is not None and len(w):
        if ws.crs is not None and w.crs is not None and CRS.from_user_input(w.crs) != ws.crs:
            w = w.to_crs(ws.crs)
        d = shapely.distance(np.asarray(w.geometry.values), point)
        i = int(np.nanargmin(d))
        water = {"name": _val(w, "name", i), "water_type": _val(w, "water_type", i), "distance_m": float(d[i])}
    area = _boundary(ws)
    return {"zones": zones, "water": water,
            "boundary_distance_m": None if area is None else float(area.boundary.distance(point)),
            "inside_boundary": None if area is None else bool(area.covers(point))}


def _val(df, col, i):
    if col not in df.columns:
        return None
    v = df[col].iloc[i]
    try:
        import pandas as pd

        return None if pd.isna(v) else str(v)
    except (TypeError, ValueError):
        return str(v)


def at_point_lines(info: dict, use_label: str, lang: str, what) -> list[str]:
    """The at-point report as text lines (``what(zone_dict) -> label`` names a zone)."""
    out = [t("geoinput.at_point_title", lang)]
    if info["zones"]:
        for z in info["zones"]:
            eff = t(f"zoning.effect.{z['effect']}", lang) if z.get("effect") else t("geoinput.no_effect", lang)
            out.append(f"  - {what(z)}: {eff} ({use_label})")
    else:
        out.append(f"  - {t('geoinput.no_zone', lang)}")
    if info["water"] is not None:
        wv = info["water"]
        from .catalog import catalogue

        wt = wv.get("water_type")
        wt = catalogue("water_types").label(wt, lang) if wt else "–"
        out.append("  - " + t("geoinput.water", lang, name=wv.get("name") or "–", type=wt,
                              d=f"{wv['distance_m']:,.0f}"))
    else:
        out.append("  - " + t("geoinput.no_water", lang))
    if info["boundary_distance_m"] is not None:
        out.append("  - " + t("geoinput.boundary", lang, d=f"{info['boundary_distance_m']:,.0f}"))
    return out


__all__ = ["GeoInput", "read_point", "read_geometry", "to_workspace", "at_point", "at_point_lines"]
