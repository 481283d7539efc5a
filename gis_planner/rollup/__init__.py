"""District, oblast and national roll-up of the land balance, restriction cross-tab and hazard exposure.

Public API::

    from gis_planner.rollup import rollup_national, rollup_workspaces, NationalSet, write_partitioned

* :func:`rollup_national` – a national layer partitioned by municipality (GeoParquet), on
  dask.distributed (``LocalCluster`` or ``scheduler="tcp://…"``), in one process, or all in memory.
* :func:`rollup_workspaces` – the same over a collection of municipality workspaces.
* :func:`municipality_tables` – the summable figures of one municipality (long format).
* :func:`roll_up`, :func:`compare` – sums per municipality/district/oblast/country; engine comparison.
* :mod:`gis_planner.rollup.postgis` – ``load_national`` and ``postgis_rollup`` (SQL push-down).

See ``docs/rollup.md``.
"""
from .compute import LEVELS, compare, municipality_tables, roll_up, workspace_tables
from .driver import ENGINES, RollupResult, rollup_national, rollup_workspaces
from .store import NationalSet, Partition, assign_municipality, write_partitioned, write_sorted_parquet

__all__ = ["LEVELS", "ENGINES", "NationalSet", "Partition", "RollupResult", "assign_municipality", "compare",
           "municipality_tables", "roll_up", "rollup_national", "rollup_workspaces", "workspace_tables",
           "write_partitioned", "write_sorted_parquet"]
