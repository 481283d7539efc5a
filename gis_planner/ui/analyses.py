"""The analyses several parts of the app share, each cached per data version under one name.

The pages and the background warm-up (:func:`gis_planner.ui.app.warm_up`) call these functions, so a
result the warm-up computed is the one a page finds: the name and the computation are defined once here
(:func:`gis_planner.ui.cache.compute` keys on the name, not on the function).
"""
from __future__ import annotations

from ..workspace import Workspace
from . import cache


def _restrictions(ws: Workspace):
    from ..zoning import build_restrictions

    return build_restrictions(ws)


_MAPS_DONE: set = set()   # (root, version, use) of the restriction maps computed in this process


def _restriction_map(ws: Workspace, use: str):
    from ..zoning import restriction_map as rmap

    out = rmap(ws, use, restrictions=restrictions(ws), write=False, lang="en")
    _MAPS_DONE.add((*cache.key(ws), use))
    return out


def _conflicts(ws: Workspace, lang: str):
    from ..zoning.conflicts import conflicts as find

    return find(ws, restrictions=restrictions(ws), lang=lang)


def _balance(ws: Workspace):
    from ..balance import compute_balance

    return compute_balance(ws)


def restrictions(ws: Workspace):
    """Every restriction regime of ``ws`` (:func:`gis_planner.zoning.build_restrictions`)."""
    return cache.cached(ws, "restrictions", _restrictions)


def restriction_map(ws: Workspace, use: str):
    """Prohibited / conditional / free land for ``use`` (:func:`gis_planner.zoning.restriction_map`)."""
    return cache.cached(ws, "restriction_map", _restriction_map, use)


def _regime_display(ws: Workspace):
    import geopandas as gpd
    import numpy as np
    import shapely

    from .maps import display_tolerance

    restr = restrictions(ws)
    root, version = cache.key(ws)
    b = cache.read_layer(root, version, "boundary")
    if b is None or b.empty:
        b = cache.read_layer(root, version, "parcels")
    if b is None or b.empty:
        extent = shapely.Polygon()
    else:
        extent = shapely.union_all(np.asarray(b.geometry.values))
    frame = gpd.GeoDataFrame({"kind": [None], "subtype": [None], "_pos": [-1]}, geometry=[extent], crs=ws.crs)
    if len(restr):
        frame = gpd.GeoDataFrame(
            {"kind": [None, *restr["kind"]],
             "subtype": [None, *(restr["subtype"] if "subtype" in restr else [None] * len(restr))],
             "_pos": np.arange(-1, len(restr))},
            geometry=[extent, *restr.geometry.values], crs=ws.crs)
    tol = display_tolerance(frame)
    g = shapely.simplify(np.asarray(frame.geometry.values, dtype=object), tol, preserve_topology=True)
    ext = g[0]
    try:
        clipped = shapely.intersection(g[1:], ext)
    except shapely.errors.GEOSException:   # a piece simplified into an invalid ring: repaired first
        clipped = shapely.intersection(shapely.make_valid(g[1:]), shapely.make_valid(ext))
    g = np.concatenate([[ext], clipped])
    frame = frame.set_geometry(gpd.GeoSeries(g, crs=ws.crs, index=frame.index))
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon", "GeometryCollection"])]
    return frame.to_crs(4326) if ws.crs is not None else frame


def regime_display(ws: Workspace):
    """The restriction map's pieces for the browser, once per data version: the municipality (``_pos``
    -1; the boundary, else the parcels) and every regime clipped to it (``_pos`` = its row in
    :func:`restrictions`), simplified to about a pixel of the whole-municipality view, in EPSG:4326."""
    return cache.cached(ws, "regime_display", _regime_display)


def _regime_verdicts(ws: Workspace, use: str):
    import pandas as pd

    from ..zoning.check import with_effects

    restr = restrictions(ws)
    eff = with_effects(restr.assign(_pos=range(len(restr))), use, ws) if len(restr) else None
    out = {-1: "free"}
    if eff is not None:
        out.update({int(p): e for p, e in zip(eff["_pos"], eff["effect"]) if e in ("prohibited", "conditional")})
    return pd.Series(out, dtype=object)


def regime_verdicts(ws: Workspace, use: str):
    """Class of each piece of :func:`regime_display` for ``use``: ``_pos`` -> "free" (the municipality),
    "prohibited" or "conditional" (the regime's effect, as :func:`restriction_map` unions them); regimes
    without an effect on ``use`` are absent. A look-up per row (~5 ms), not a union."""
    return cache.cached(ws, "regime_verdicts", _regime_verdicts, use)


def restriction_map_ready(ws: Workspace, use: str) -> bool:
    """Whether :func:`restriction_map` of ``use`` was computed in this process for the current data version
    (then it is, as a rule, still in the cache and returned at once)."""
    return (*cache.key(ws), use) in _MAPS_DONE


def conflicts(ws: Workspace, lang: str):
    """Current land use against the regimes (:func:`gis_planner.zoning.conflicts.conflicts`)."""
    return cache.cached(ws, "conflicts", _conflicts, lang)


def balance(ws: Workspace):
    """The land balance (:func:`gis_planner.balance.compute_balance`)."""
    return cache.cached(ws, "balance", _balance)


def _balance_tables(ws: Workspace, lang: str):
    from ..balance import tables

    return tables(balance(ws), lang)


def balance_tables(ws: Workspace, lang: str) -> dict:
    """The balance's sheets in ``lang`` (:func:`gis_planner.balance.tables`), built once per data version and
    language from :func:`balance`, which does not depend on the language: a language switch relabels the
    sheets (~0.06 CPU s for the demo's 5 560 parcels) and computes no area again."""
    return cache.cached(ws, "balance_tables", _balance_tables, lang)


def _balance_xlsx(ws: Workspace, lang: str) -> bytes:
    import tempfile
    from pathlib import Path

    from ..balance import write_xlsx

    from .activity import Yield

    with tempfile.TemporaryDirectory() as tmp:   # the sheets the page shows, not built a second time
        return write_xlsx(balance(ws), Path(tmp) / "balance.xlsx", lang, tabs=balance_tables(ws, lang),
                          pause=Yield()).read_bytes()


def balance_xlsx(ws: Workspace, lang: str) -> bytes:
    """The balance workbook in ``lang`` (:func:`gis_planner.balance.write_xlsx`, ~0.6 CPU s for the demo):
    made once per data version and language — by the background warm-up after the sheets, or by the
    first click on the download — and its bytes kept. Made by the warm-up, it is written a column at a
    time and waits between columns while users are active (:class:`gis_planner.ui.activity.Yield`: a page
    opened meanwhile, or drawn by the browser, is not slowed down by ~0.6 s of workbook; a download asked
    for meanwhile waits at most 3 s more)."""
    return cache.cached(ws, "balance_xlsx", _balance_xlsx, lang)


def _scenario_inputs(ws: Workspace):
    from ..scenarios.candidates import load_context

    parcels = ws.read_layer("parcels").reset_index(drop=True)
    return parcels, load_context(ws, parcels)


def scenario_inputs(ws: Workspace):
    """``(parcels, context)`` every scenario run of a data version shares (read once, as
    :func:`gis_planner.scenarios.run_many` does for a comparison): ~0.5 CPU s per run less on the demo.
    Read-only: the scenario functions copy what they change."""
    return cache.cached(ws, "scenario_inputs", _scenario_inputs)


def _check_index(ws: Workspace) -> bool:
    from ..zoning.check import _parcels

    _parcels(ws)   # the parcels and their number look-up, kept by the zoning check per data version
    return True


def check_index(ws: Workspace) -> bool:
    """Read the parcels the click check looks up (once per data version), so the first click does not."""
    return cache.cached(ws, "check_index", _check_index)


def default_use(uses: list[str]) -> str:
    """The intended use a page shows first: housing (the most common question), else the first one."""
    return "housing" if "housing" in uses else uses[0]
