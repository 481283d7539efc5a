"""Tables of one municipality in a summable long format, and their roll-up to district/oblast/country.

Every figure of one municipality is one row ``(municipality, table, row, col, value)``; a district,
oblast or the country is the plain sum of its municipalities' rows. The tables:

============== ============================ =====================================================
table          row                          col
============== ============================ =====================================================
balance        land category                ``area_ha``, ``parcels``
land_type      land type (agricultural)     ``area_ha`` (``arable`` includes its children)
use_status     used / unused / unknown      ``area_ha``
owner          owner type                   ``area_ha``
restricted     land category                each restriction kind, ``any``, ``unrestricted``, ``total`` (ha)
restricted_detail land category             ``kind:subtype[:level]`` (ha)
zone_area      restriction kind, ``any``    ``area_ha`` of the union of the kind **inside the municipality**
exposure       ``hazard_type:level``        ``zone_ha`` (inside the municipality), ``parcels``, ``parcels_ha``,
                                            ``house_plots``, ``households``, ``population``, ``settlement_ha``
============== ============================ =====================================================

The balance figures come from :func:`gis_planner.balance.compute_balance` and the exposure from
:func:`gis_planner.hazards.exposure_table`, unchanged: the roll-up only distributes and sums them.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..balance import compute_balance, union_polygons
from ..balance.core import ANY
from ..hazards import exclusive_levels, exposure_table

LONG_COLUMNS = ["municipality", "table", "row", "col", "value"]
LEVELS = ("municipality", "district", "oblast", "country")
EXPOSURE_SUM_COLUMNS = ("parcels", "parcels_ha", "house_plots", "households", "population", "settlement_ha")


def hazard_restrictions(hazard_zones: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Hazard zones as rows of the restriction frame (kind ``hazard``, subtype = hazard type, level)."""
    if hazard_zones is None or not len(hazard_zones):
        return None
    return gpd.GeoDataFrame({"kind": "hazard", "subtype": hazard_zones["hazard_type"].astype(object).to_numpy(),
                             "level": hazard_zones["level"].astype(object).to_numpy(), "rule_id": None,
                             "legal_source": None, "source_layer": "hazard_zones",
                             "source_fid": np.arange(len(hazard_zones))},
                            geometry=hazard_zones.geometry.values, crs=hazard_zones.crs)


def _frames(*frames):
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    if len(frames) == 1:
        return frames[0]
    crs = frames[0].crs
    return gpd.GeoDataFrame(pd.concat([f.to_crs(crs) if f.crs != crs else f for f in frames], ignore_index=True),
                            geometry="geometry", crs=crs)


def _long(code: str, table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Wide table (index = row, columns = col) -> long rows."""
    if df is None or df.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    s = df.astype(float).stack(future_stack=True)
    return pd.DataFrame({"municipality": code, "table": table,
                         "row": s.index.get_level_values(0).astype(str), "col": s.index.get_level_values(1).astype(str),
                         "value": s.to_numpy(dtype=float)})


def municipality_tables(code: str, parcels: gpd.GeoDataFrame, restrictions: gpd.GeoDataFrame | None = None,
                        hazard_zones: gpd.GeoDataFrame | None = None, boundary=None, *, ws=None,
                        topology: bool = False, exposure: bool = True, detail: bool = True,
                        zones: bool = True) -> pd.DataFrame:
    """All summable figures of one municipality (long format, see the module docstring).

    Parameters
    ----------
    code : municipality code written in the ``municipality`` column
    parcels : the municipality's parcels (each parcel in exactly one municipality)
    restrictions : restriction frame (``kind``, ``subtype``, ``level``); polygons may reach beyond the
        municipality: they are unioned within kind here and only the parcels' parts inside count
    hazard_zones : hazard zones (``hazard_type``, ``level``, ``method``) for the exposure table; they also
        enter the balance as restriction kind ``hazard`` unless ``restrictions`` already has that kind
    boundary : the municipality polygon; zone areas (``zone_area``, exposure ``zone_ha``) are clipped to it
    ws : optional workspace (rule overrides, provenance)
    topology, exposure, detail : also measure topology / the exposure table / the kind:subtype:level
        break-down (``exposure=False, detail=False`` leaves what the PostGIS push-down computes)
    zones : also the areas of the zones themselves (``zone_area``, exposure ``zone_ha``). A municipality
        split into tiles computes them in one tile only (the others give every per-parcel figure, and
        ``zone_ha`` 0), so the tiles add up to the untiled municipality

    Example
    -------
    >>> from shapely.geometry import box
    >>> p = gpd.GeoDataFrame({"cadastral_no": ["1"], "category": ["agricultural"]},
    ...                      geometry=[box(4300000, 4720000, 4300100, 4720100)], crs=7695)
    >>> r = gpd.GeoDataFrame({"kind": ["hazard"]}, geometry=[box(4300050, 4720000, 4300300, 4720100)], crs=7695)
    >>> t = municipality_tables("M1", p, r, boundary=box(4300000, 4720000, 4300200, 4720100), exposure=False)
    >>> float(t.query("table == 'restricted' and col == 'hazard'")["value"].sum())
    0.5
    >>> float(t.query("table == 'zone_area' and row == 'hazard'")["value"].sum())
    1.5
    """
    code = str(code)
    restr = restrictions
    if hazard_zones is not None and len(hazard_zones) and (restr is None or not len(restr) or
                                                           not (restr["kind"] == "hazard").any()):
        restr = _frames(restr, hazard_restrictions(hazard_zones))
    if restr is not None and not len(restr):
        restr = None
    bal = compute_balance(ws, parcels=parcels, restrictions=restr, boundary=boundary if topology else None,
                          zones=None if ws is not None else gpd.GeoDataFrame(geometry=[], crs=parcels.crs),
                          topology=topology, detail=detail)
    out = []
    bc = bal.by_category.set_index("code")[["area_ha", "parcels"]]
    out.append(_long(code, "balance", bc))
    for name, df in (("land_type", bal.by_land_type), ("use_status", bal.use_status), ("owner", bal.by_owner)):
        out.append(_long(code, name, df.set_index("code")[["area_ha"]]))
    out.append(_long(code, "restricted", bal.restricted))
    out.append(_long(code, "restricted_detail", bal.restricted_detail))
    crs = parcels.crs
    if zones and boundary is not None and restr is not None:
        r = restr.to_crs(crs) if restr.crs != crs else restr
        rows = {}
        unions = []
        for kind in bal.restricted.columns:
            if kind in (ANY, "unrestricted", "total"):
                continue
            u = union_polygons(r.geometry.values[(r["kind"].astype(str) == kind).to_numpy()])
            unions.append(u)
            rows[kind] = shapely.area(shapely.intersection(u, boundary)) / 1e4
        if unions:
            rows[ANY] = shapely.area(shapely.intersection(shapely.union_all(unions), boundary)) / 1e4
        out.append(_long(code, "zone_area", pd.DataFrame({"area_ha": pd.Series(rows, dtype=float)})))
    if exposure and hazard_zones is not None and len(hazard_zones):
        hz = hazard_zones.to_crs(crs) if hazard_zones.crs != crs else hazard_zones
        ex = exposure_table(ws, zones=hz, layers={"parcels": parcels})
        if not zones:
            ex["zone_ha"] = 0.0
        elif boundary is not None:  # zone area counted inside this municipality only
            from ..hazards import effective_hazard_zones

            lv = exclusive_levels(effective_hazard_zones(hz))
            inside = dict(zip(zip(lv["hazard_type"], lv["level"]),
                              shapely.area(shapely.intersection(lv.geometry.values, boundary)) / 1e4))
            ex["zone_ha"] = [inside.get((h, lvl), 0.0) for h, lvl in zip(ex["hazard_type"], ex["level"])]
        ex.index = pd.Index(ex["hazard_type"].astype(str) + ":" + ex["level"].astype(str))
        cols = ["zone_ha", *EXPOSURE_SUM_COLUMNS]
        out.append(_long(code, "exposure", ex[cols].astype(float).fillna(0.0)))
    res = pd.concat([o for o in out if len(o)], ignore_index=True)
    return res[LONG_COLUMNS]


def workspace_tables(ws, code: str | None = None, *, topology: bool = False) -> pd.DataFrame:
    """:func:`municipality_tables` of a whole workspace (its restriction frame, hazard zones, boundary)."""
    from ..balance.core import _read_boundary, restriction_frame
    from ..hazards import read_hazard_zones

    parcels = ws.read_layer("parcels")
    restr = restriction_frame(ws)
    hz = read_hazard_zones(ws) if ws.has_layer("hazard_zones") else None
    boundary = _read_boundary(ws, ws.crs)
    return municipality_tables(code or ws_code(ws), parcels, restr, hz, boundary, ws=ws, topology=topology)


def ws_code(ws) -> str:
    meta = ws.meta() or {}
    return str(meta.get("code") or meta.get("name") or ws.root.name)


def ws_hierarchy(ws, code: str | None = None) -> dict:
    """``{code, name, district, oblast}`` of a workspace (workspace meta, else its boundary layer)."""
    meta = dict(ws.meta() or {})
    b = ws.read_layer("boundary", missing_ok=True)
    first = b.iloc[0] if b is not None and len(b) else {}

    def get(k):
        v = meta.get(k)
        if (v is None or v == "") and k in getattr(first, "index", []):
            v = first[k]
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    return {"code": code or ws_code(ws), "name": get("name") or ws.root.name,
            "district": get("district") or "", "oblast": get("oblast") or ""}


def roll_up(long: pd.DataFrame, hierarchy: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Sum the long rows per ``municipality``, ``district``, ``oblast`` and ``country``.

    Returns ``{level: DataFrame[unit, table, row, col, value]}``; rows are sorted, so results of
    different engines can be compared row by row.
    """
    h = hierarchy.assign(code=hierarchy["code"].astype(str)).set_index("code")
    df = long.copy()
    df["district"] = h["district"].reindex(df["municipality"]).to_numpy()
    df["oblast"] = h["oblast"].reindex(df["municipality"]).to_numpy()
    df["country"] = "KG"
    out = {}
    for level in LEVELS:
        g = (df.groupby([level, "table", "row", "col"], sort=True, dropna=False)["value"].sum()
             .reset_index().rename(columns={level: "unit"}))
        out[level] = g
    return out


def compare(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], floor: float = 1.0) -> dict:
    """Largest difference between two roll-ups (cells present in either; a missing cell is 0).

    ``max_rel`` is relative to the cell's value, or to ``floor`` (1 ha, 1 parcel) for smaller cells: a
    cell like ``unrestricted = total − any`` of a nearly fully restricted row is a difference of two
    large sums, and its rounding error (~1e-10 ha) is relative to those sums, not to the tiny result.
    ``max_abs`` is the largest absolute difference.
    """
    worst = {"max_rel": 0.0, "max_abs": 0.0, "cells": 0, "cell": None}
    for level in a:
        x = a[level].set_index(["unit", "table", "row", "col"])["value"]
        y = b[level].set_index(["unit", "table", "row", "col"])["value"]
        x, y = x.align(y, fill_value=0.0)
        diff = (x - y).abs()
        rel = diff / np.maximum(np.maximum(x.abs(), y.abs()), floor)
        worst["cells"] += len(diff)
        if len(rel) and rel.max() > worst["max_rel"]:
            worst["max_rel"] = float(rel.max())
            worst["cell"] = (level, *rel.idxmax())
        worst["max_abs"] = max(worst["max_abs"], float(diff.max()) if len(diff) else 0.0)
    return worst
