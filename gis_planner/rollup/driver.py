"""Run the per-municipality tables over many partitions: in one process, or on dask.distributed.

* :func:`rollup_national` — a national set (:class:`~gis_planner.rollup.store.NationalSet`): one task
  per municipality partition. Each task reads its own parcels file and, through the GeoParquet bbox
  covering, only the restriction/hazard polygons that can touch them; it returns a small long table
  (a few hundred rows). Workers therefore never hold more than one municipality at a time.
* :func:`rollup_workspaces` — a collection of municipality workspaces: one task per workspace.

``engine="single"`` runs the same tasks one after the other in this process (streaming), and
``engine="memory"`` first loads the whole national layer into this process and slices it (the
obvious in-memory baseline of the benchmark). ``engine="dask"`` uses a ``LocalCluster`` with
``n_workers`` single-threaded worker processes, or an existing scheduler given by ``scheduler``
(``tcp://host:8786``); the workers must see the same files (shared disk) and have gis_planner installed.

Example
-------
>>> res = rollup_national("benchmarks/out/national", engine="dask", n_workers=2)   # doctest: +SKIP
>>> res.levels["oblast"].query("table == 'balance' and col == 'area_ha'")            # doctest: +SKIP
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from ..errors import GisPlannerError
from .compute import LONG_COLUMNS, municipality_tables, roll_up, workspace_tables, ws_hierarchy
from .store import HAZARDS, RESTRICTIONS, NationalSet

ENGINES = ("single", "memory", "dask")


@dataclass
class RollupResult:
    """Per-municipality long rows, the roll-up per level, and how the run went."""

    long: pd.DataFrame
    levels: dict
    hierarchy: pd.DataFrame
    stats: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {}
        for level, df in self.levels.items():
            d: dict = {}
            for r in df.itertuples(index=False):
                d.setdefault(str(r.unit), {}).setdefault(r.table, {}).setdefault(r.row, {})[r.col] = float(r.value)
            out[level] = d
        return {"levels": out, "stats": self.stats}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _national_task(root: str, code: str, exposure: bool = True, detail: bool = True) -> pd.DataFrame:
    part = NationalSet(root).read_partition(code)
    return municipality_tables(code, part.parcels, part.restrictions, part.hazard_zones, part.boundary,
                               exposure=exposure, detail=detail)


def _workspace_task(path: str, code: str) -> pd.DataFrame:
    from ..workspace import Workspace

    return workspace_tables(Workspace(path), code)


def _client(scheduler: str | None, n_workers: int, processes: bool = True, memory_limit="auto"):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise GisPlannerError("dask.distributed is not installed", fix="pip install 'dask[distributed]'",
                              code="missing_dependency") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise GisPlannerError(f"cannot reach the Dask scheduler ({exc})", file=scheduler,
                                  fix="start `dask scheduler` and workers, or leave --scheduler out for a local cluster",
                                  code="scheduler_unreachable") from None
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                           memory_limit=memory_limit, dashboard_address=":0")
    return Client(cluster), cluster


def _run(tasks: list[tuple], func, engine: str, n_workers: int, scheduler: str | None,
         processes: bool) -> tuple[list[pd.DataFrame], dict]:
    stats: dict = {"engine": engine, "tasks": len(tasks)}
    t0 = time.perf_counter()
    if engine == "dask":
        client, cluster = _client(scheduler, n_workers, processes)
        try:
            from dask.distributed import as_completed

            stats["workers"] = len(client.scheduler_info()["workers"])
            futures = [client.submit(func, *args, key=f"rollup-{args[1]}-{i}", pure=False)
                       for i, args in enumerate(tasks)]
            parts = []
            for fut in as_completed(futures):
                parts.append(fut.result())
                fut.release()
            peaks = client.run(peak_rss_mb)
            stats["peak_rss_mb_per_worker"] = {str(k): round(v, 1) for k, v in peaks.items()}
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        parts = [func(*args) for args in tasks]
        stats["workers"] = 1
    stats["wall_s"] = time.perf_counter() - t0
    stats["peak_rss_mb_driver"] = round(peak_rss_mb(), 1)
    return parts, stats


def rollup_national(root, *, engine: str = "dask", n_workers: int = 2, scheduler: str | None = None,
                    processes: bool = True, codes: list[str] | None = None, exposure: bool = True,
                    detail: bool = True) -> RollupResult:
    """Balance, restriction cross-tab and hazard exposure of every municipality of a national set, summed.

    Parameters
    ----------
    root : folder of the national set (see :mod:`gis_planner.rollup.store`)
    engine : ``"dask"`` (default), ``"single"`` (same tasks in this process) or ``"memory"``
    n_workers : worker processes of the local cluster (ignored with ``scheduler``)
    scheduler : address of an existing Dask scheduler, e.g. ``tcp://10.0.0.5:8786``
    processes : local cluster with worker processes (True) or threads in this process (tests)
    codes : only these municipalities (default: all partitions)
    exposure, detail : also the hazard exposure table / the kind:subtype:level break-down
    """
    if engine not in ENGINES:
        raise GisPlannerError(f"unknown engine '{engine}'", fix=f"use one of {', '.join(ENGINES)}",
                              code="bad_option")
    s = NationalSet(root)
    codes = list(codes) if codes is not None else s.codes()
    if not codes:
        raise GisPlannerError("the national set has no parcel partitions", file=str(s.root / "parcels"),
                              fix="generate or write the parcels first", code="empty_input")
    hierarchy = s.hierarchy()
    if engine == "memory":
        parts, stats = _memory(s, codes, exposure, detail)
    else:
        parts, stats = _run([(str(s.root), c, exposure, detail) for c in codes], _national_task, engine, n_workers,
                            scheduler, processes)
    long = pd.concat(parts, ignore_index=True)[LONG_COLUMNS] if parts else pd.DataFrame(columns=LONG_COLUMNS)
    stats["municipalities"] = len(codes)
    stats["parcels"] = int(long.query("table == 'balance' and col == 'parcels'")["value"].sum())
    return RollupResult(long, roll_up(long, hierarchy), hierarchy, stats)


def _memory(s: NationalSet, codes: list[str], exposure: bool, detail: bool) -> tuple[list[pd.DataFrame], dict]:
    """The whole country in this process: every layer read at once, then sliced per municipality."""
    t0 = time.perf_counter()
    munis = s.municipalities().set_index("code")
    parcels = pd.concat([gpd.read_parquet(s.parcel_file(c)) for c in codes], ignore_index=True)
    parcels = gpd.GeoDataFrame(parcels, geometry="geometry", crs=munis.crs)
    restr = gpd.read_parquet(s.root / RESTRICTIONS) if (s.root / RESTRICTIONS).exists() else None
    hz = gpd.read_parquet(s.root / HAZARDS) if (s.root / HAZARDS).exists() else None
    rtree = restr.sindex if restr is not None else None
    htree = hz.sindex if hz is not None else None
    parts = []
    for code, p in parcels.groupby("municipality", sort=True):
        p = p.reset_index(drop=True)
        boundary = munis.geometry.loc[code]
        b = shapely.box(*[f(a, c) for f, a, c in zip((min, min, max, max), boundary.bounds, p.total_bounds)])
        r = restr.iloc[rtree.query(b, predicate="intersects")] if rtree is not None else None
        h = hz.iloc[htree.query(b, predicate="intersects")] if htree is not None else None
        parts.append(municipality_tables(str(code), p, r.reset_index(drop=True) if r is not None else None,
                                         h.reset_index(drop=True) if h is not None else None, boundary,
                                         exposure=exposure, detail=detail))
    return parts, {"engine": "memory", "tasks": len(codes), "workers": 1, "wall_s": time.perf_counter() - t0,
                   "peak_rss_mb_driver": round(peak_rss_mb(), 1)}


def rollup_workspaces(paths, *, engine: str = "dask", n_workers: int = 2, scheduler: str | None = None,
                      processes: bool = True) -> RollupResult:
    """The same roll-up over a collection of municipality workspaces (one task per workspace).

    District and oblast come from the workspace meta (``district``, ``oblast``) or its boundary layer.
    """
    from ..workspace import Workspace

    if engine not in ("single", "dask"):
        raise GisPlannerError(f"unknown engine '{engine}' for workspaces", fix="use single or dask",
                              code="bad_option")
    paths = [Path(p) for p in paths]
    if not paths:
        raise GisPlannerError("no workspaces given", fix="pass one or more workspace folders", code="empty_input")
    rows, tasks, seen = [], [], set()
    for p in paths:
        ws = Workspace(p)
        h = ws_hierarchy(ws)
        code = h["code"]
        if code in seen:
            code = f"{code}@{p.name}"
            h["code"] = code
        seen.add(code)
        rows.append(h)
        tasks.append((str(p), code))
    hierarchy = pd.DataFrame(rows)
    parts, stats = _run(tasks, _workspace_task, engine, n_workers, scheduler, processes)
    long = pd.concat(parts, ignore_index=True)[LONG_COLUMNS]
    stats["municipalities"] = len(tasks)
    return RollupResult(long, roll_up(long, hierarchy), hierarchy, stats)
