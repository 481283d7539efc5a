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


def _restriction_map(ws: Workspace, use: str):
    from ..zoning import restriction_map as rmap

    return rmap(ws, use, restrictions=restrictions(ws), write=False, lang="en")


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
    """The balance's sheets in ``lang`` (:func:`gis_planner.balance.tables`: ~1 s for the demo's 5 560
    parcels, so built once per data version and language, not on every visit of the page)."""
    return cache.cached(ws, "balance_tables", _balance_tables, lang)


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
