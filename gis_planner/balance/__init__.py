"""Land-use balance ("zher balansy") and restriction cross-tab, exact and fast.

Public API::

    from gis_planner.balance import compute_balance, restriction_crosstab, overlay_areas

* :func:`compute_balance` – the whole balance of a workspace (pandas tables in a :class:`Balance`).
* :func:`restriction_crosstab` – only the restricted ha per restriction kind and category.
* :func:`overlay_areas` – the engine: exact area of each parcel inside unions of polygon groups.
* :func:`cadastre_topology` – overlaps, gaps, parts outside the boundary.
* :func:`write_xlsx`, :func:`write_csv` – exports with headers in ky/ru/en.

See ``docs/balance.md``.
"""
from .core import (Balance, compute_balance, layer_restriction_frame, load_reported, reconcile,
                   restriction_crosstab, restriction_frame, restriction_groups)
from .engine import ParcelIndex, overlay_areas, subdivide, union_polygons
from .topology import Topology, cadastre_topology

__all__ = ["Balance", "compute_balance", "layer_restriction_frame", "load_reported", "reconcile", "restriction_crosstab", "restriction_frame",
           "restriction_groups", "ParcelIndex", "overlay_areas", "subdivide", "union_polygons",
           "Topology", "cadastre_topology", "write_xlsx", "write_csv", "tables"]


def __getattr__(name):  # exports import openpyxl lazily
    if name in ("write_xlsx", "write_csv", "tables"):
        from . import export

        return getattr(export, name)
    raise AttributeError(name)
