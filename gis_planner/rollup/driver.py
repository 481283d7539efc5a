"""Run the per-municipality tables over many partitions: in one process, or on dask.distributed.

* :func:`rollup_national` — a national set (:class:`~gis_planner.rollup.store.NationalSet`, a folder or an
  fsspec URL such as ``s3://bucket/national``): one task per municipality partition, or per **tile** of a
  municipality above ``tile_parcels`` parcels (:func:`plan_tiles`). Each task reads its own parcels (whole
  file or its row groups) and, through the GeoParquet bbox covering, only the restriction/hazard polygons
  that can touch them; it returns a small long table (a few hundred rows). A worker therefore never holds
  more than one tile, whatever the size of a municipality or of the country.
* :func:`rollup_workspaces` — a collection of municipality workspaces: one task per workspace.

The set is resolved on the driver (:func:`~gis_planner.rollup.store.open_store`: a relative path becomes
absolute, a URL stays a URL) and every task gets the same filesystem object, so local workers, an
external ``dask scheduler`` on other nodes and object storage all read the same place. A worker that
cannot see it fails with an error naming the worker.

Failures are survived: every task is retried ``retries`` times; a municipality whose task still fails is
reported in ``RollupResult.failures`` (municipality, tile, error, where) and left out of every sum; the run
raises :class:`RollupFailed` unless ``allow_partial=True`` (then ``stats["partial"]`` is true), so a
partial total is never silent. With an output store (``out=``), each finished task's rows are written to
``OUT/parts/<key>.parquet`` as they arrive; ``resume=True`` keeps those and recomputes only the rest.

``engine="single"`` runs the same tasks one after the other in this process (streaming), and
``engine="memory"`` first loads the whole national layer into this process and slices it (the obvious
in-memory baseline of the benchmark). ``engine="dask"`` uses a ``LocalCluster`` with ``n_workers``
single-threaded worker processes, or an existing scheduler given by ``scheduler`` (``tcp://host:8786``).

Example
-------
>>> res = rollup_national("s3://kg-cadastre/national", storage_options={"endpoint_url": "http://minio:9000"},
...                       scheduler="tcp://10.0.0.5:8786", out="s3://kg-cadastre/rollup-2026")   # doctest: +SKIP
>>> res.levels["oblast"].query("table == 'balance' and col == 'area_ha'")            # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import pickle
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from ..allocator import malloc_trim
from ..errors import GisPlannerError
from .compute import LONG_COLUMNS, municipality_tables, roll_up, workspace_tables, ws_hierarchy
from .store import HAZARDS, PARCELS_DIR, RESTRICTIONS, NationalSet, Store, open_store, read_partition, where_am_i

ENGINES = ("single", "memory", "dask")
RULES = "rules"  # tile_parcels default: layers/rollup.yaml tiles.max_parcels
FAILURE_COLUMNS = ["municipality", "task", "attempts", "error", "where"]
PARTS = "parts"
# A loaded scheduler (load average 20-30 on the benchmark machine) blocks its event loop for 30 s and more:
# the driver waits this long to connect or reconnect before it gives up (Dask's default is 30 s).
CONNECT_S = 120.0
RECONNECT_S = 300.0
MAX_INTERRUPTIONS = 5  # resubmissions of the unfinished tasks after the cluster cancelled them
# Dask's worker profiler on the local cluster (False; an external cluster: DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED)
WORKER_PROFILE = False


@dataclass
class RollupResult:
    """Per-municipality long rows, the roll-up per level, and how the run went.

    ``failures`` lists the municipalities left out (one row per failed task); ``stats["partial"]`` is
    true when it is not empty.
    """

    long: pd.DataFrame
    levels: dict
    hierarchy: pd.DataFrame
    stats: dict = field(default_factory=dict)
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))

    @property
    def partial(self) -> bool:
        return bool(len(self.failures))

    def to_json(self) -> dict:
        out = {}
        for level, df in self.levels.items():
            d: dict = {}
            for r in df.itertuples(index=False):
                d.setdefault(str(r.unit), {}).setdefault(r.table, {}).setdefault(r.row, {})[r.col] = float(r.value)
            out[level] = d
        return {"levels": out, "stats": self.stats, "partial": self.partial,
                "failed": sorted(set(self.failures["municipality"].astype(str)))}


class RollupFailed(GisPlannerError):
    """Some municipalities failed (after their retries); ``.result`` holds the partial result and its failures."""

    result: RollupResult | None = None


class TaskError(Exception):
    """A task's error as the driver sees it: where it ran and what went wrong (picklable)."""

    def __init__(self, where: str, message: str):
        super().__init__(where, message)
        self.where, self.message = where, message

    def __str__(self) -> str:
        return f"{self.message} [{self.where}]"


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Resident memory of this process now (MB; Linux ``/proc``, else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


TRIM_ENV = "GIS_PLANNER_ROLLUP_TRIM"  # "0": do not release memory after each task (benchmark comparison only)
RELEASES = 0  # calls of release_memory in this process that released (a worker's count; tests)


def release_memory() -> bool:
    """Give the memory a finished task freed back to the operating system; runs on the worker after every task.

    A long-lived worker runs hundreds of tasks (220-410 a worker in the national benchmarks). glibc keeps
    the freed heap pages of every malloc arena mapped (numpy/shapely/GEOS/pandas buffers of the finished
    task), so a worker's resident memory stayed high between tasks and each task's peak came on top of
    that. Here: pyarrow's pool ``release_unused()`` (its mimalloc/jemalloc cache) and glibc's
    ``malloc_trim(0)`` (every arena, also free pages inside the heap). Measured 2026-12-06 on the 27.7 M
    set, 80 tasks of <= 50 000 parcels in one process (benchmarks/results_rollup.md): resident memory
    between tasks 356 MB instead of 464 MB, peak 461 MB instead of 517 MB, CPU within the noise; a
    ``gc.collect()`` as well gave nothing more (368 / 470 MB) and cost CPU, so it is not done. Off with
    the environment variable ``GIS_PLANNER_ROLLUP_TRIM=0`` (the benchmark's comparison). Returns whether
    ``malloc_trim`` was called.
    """
    global RELEASES
    if os.environ.get(TRIM_ENV, "1") == "0":
        return False
    RELEASES += 1
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # noqa: BLE001 - an old pyarrow without release_unused: nothing to release
        pass
    return malloc_trim()   # not glibc (musl, macOS, Windows): the allocator keeps its own policy


# pyarrow's allocator on the local cluster's workers (environment set before each worker starts; an external
# cluster: ARROW_DEFAULT_MEMORY_POOL=system on the workers). Set in the driver's environment, that value wins.
POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
WORKER_POOL = "system"


def arrow_pool() -> str:
    """pyarrow's memory pool in this process (``system``, ``mimalloc``, ``jemalloc``).

    The roll-up's workers should use ``system`` (malloc). With pyarrow's default mimalloc, the Parquet
    reader's own buffers (pages, decompression: C++'s default pool, not ``pa.set_memory_pool``'s) are
    allocated on pyarrow's decode threads, and the pages they free stay in mimalloc's 1 GiB arena:
    neither ``release_unused()`` nor ``malloc_trim`` gives them back. Measured 2026-12-06 on the 30.4 M set
    (benchmarks/results_rollup.md): in one process over its first 100 tasks (tiles of ≤ 50 000 parcels)
    the anonymous mappings grew 44 → 303 MB and the resident memory between tasks 193 → 456 MB, so a
    worker's peak grew with the number of large tasks it had run (30 M set: hundreds; 3 M set: the city's
    20). With ``ARROW_DEFAULT_MEMORY_POOL=system`` (read by pyarrow once, at its first allocation, so it
    must be in the environment before the process starts) ``malloc_trim`` returns them: 255–260 MB
    between tasks over 40 tasks (mimalloc: 403 MB by task 30).
    """
    import pyarrow as pa

    return pa.default_memory_pool().backend_name


def cpu_seconds() -> float:
    """CPU seconds (user + system) used by this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass(frozen=True)
class TaskSpec:
    """One task: a whole municipality partition, or the row groups of one of its tiles."""

    key: str                 # "A01" or "A01~t02of05"
    code: str
    info: dict
    boundary_wkb: bytes
    parcels: int
    row_groups: tuple | None = None
    zones: bool = True       # this task computes the municipality's zone areas (one task per municipality)
    exposure: bool = True
    detail: bool = True


def default_tile_parcels() -> int | None:
    """``tiles.max_parcels`` of ``layers/rollup.yaml`` (the reason is given there); ``None``: never tile."""
    from ..catalog import load_rules

    v = (load_rules("rollup").get("tiles") or {}).get("max_parcels")
    return int(v) if v else None


def plan_tiles(row_group_rows: list[int], max_parcels: int | None) -> list[tuple[int, ...]] | None:
    """Split a partition file into tiles of whole row groups of at most ``max_parcels`` parcels.

    The file is Hilbert-sorted, so consecutive row groups are spatially compact and a tile reads only the
    restriction row groups near it. Each row group (so each parcel) is in exactly one tile. ``None`` when
    the municipality is one task. A single row group larger than ``max_parcels`` stays one tile.

    >>> plan_tiles([5, 5, 5, 2], 10)
    [(0, 1), (2, 3)]
    >>> plan_tiles([5, 5], 10) is None
    True
    """
    if not max_parcels or sum(row_group_rows) <= max_parcels:
        return None
    tiles, cur, n = [], [], 0
    for i, r in enumerate(row_group_rows):
        if cur and n + r > max_parcels:
            tiles.append(tuple(cur))
            cur, n = [], 0
        cur.append(i)
        n += r
    tiles.append(tuple(cur))
    return tiles if len(tiles) > 1 else None


def national_task(store: Store, spec: TaskSpec) -> pd.DataFrame:
    """Tables of one municipality or tile (runs on a worker), then :func:`release_memory`. Errors carry the
    worker's name."""
    try:
        return _national_task(store, spec)
    finally:  # the task's frames (parcels, polygons) are gone here; only the small result table is alive
        release_memory()


def _national_task(store: Store, spec: TaskSpec) -> pd.DataFrame:
    try:
        boundary = shapely.from_wkb(spec.boundary_wkb)
        part = read_partition(store, spec.code, spec.info, boundary, spec.row_groups, spec.zones)
        return municipality_tables(spec.code, part.parcels, part.restrictions, part.hazard_zones, boundary,
                                   exposure=spec.exposure, detail=spec.detail, zones=spec.zones)
    except GisPlannerError as exc:
        raise TaskError(exc.details.get("where") or where_am_i(), str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - reported per municipality, never swallowed
        raise TaskError(where_am_i(), f"{type(exc).__name__}: {exc}") from None


def _workspace_task(path: str, code: str) -> pd.DataFrame:
    from ..workspace import Workspace

    try:
        return workspace_tables(Workspace(path), code)
    except Exception as exc:  # noqa: BLE001
        raise TaskError(where_am_i(), f"{type(exc).__name__}: {exc}") from None
    finally:
        release_memory()


def _client(scheduler: str | None, n_workers: int, processes: bool = True, memory_limit="auto",
            timeout: float = None):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise GisPlannerError("dask.distributed is not installed", fix="pip install 'dask[distributed]'",
                              code="missing_dependency") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout or CONNECT_S), None
        except OSError as exc:
            raise GisPlannerError(f"cannot reach the Dask scheduler ({exc})", file=scheduler,
                                  fix="start `dask scheduler` and workers, or leave --scheduler out for a local cluster",
                                  code="scheduler_unreachable") from None
    import dask

    # no statistical profiler on the workers: it keeps the stack samples of the last 1000 s (two histories of
    # 1000 one-second call trees, ≈ 82 MB of Python objects a worker measured at 30 M parcels) — a worker's
    # memory grew with the run's length, not its tasks (docs/rollup.md); sampling every 10 ms also costs CPU
    # pyarrow's system pool on the workers (arrow_pool: mimalloc kept the Parquet reader's freed pages), set
    # in each worker's environment before it starts; a value in the driver's environment is inherited instead
    env = {} if os.environ.get(POOL_ENV) else {f"distributed.nanny.pre-spawn-environ.{POOL_ENV}": WORKER_POOL}
    with dask.config.set({"distributed.worker.profile.enabled": WORKER_PROFILE, **env}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               memory_limit=memory_limit, dashboard_address=":0")
    return Client(cluster), cluster


def _error_text(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, TaskError):
        return exc.message, exc.where
    return f"{type(exc).__name__}: {exc}", ""


class _Call:
    """``func(*args)`` packed so that **unpickling it runs it** (``__reduce__``): a task is submitted as
    ``pickle.loads(blob)``, a standard-library function with a bytes argument.

    Dask's scheduler unpickles every task it receives. With ``func(*args)`` submitted directly it had to
    import gis_planner (geopandas, shapely, pyarrow: ≈ 1.8 CPU-s) to read a task spec — its event loop
    was blocked for 30 s at a load average of 20–30, long enough for comm timeouts — and needed the project
    installed. With the blob only the workers import and run it.
    """

    def __init__(self, func, args):
        self.func, self.args = func, tuple(args)

    def __reduce__(self):
        return self.func, self.args

    @classmethod
    def blob(cls, func, args) -> bytes:
        import cloudpickle

        return cloudpickle.dumps(cls(func, args))


def _per_worker(client, fn) -> dict:
    """``fn()`` on every live worker, rounded; a worker that died during the run is left out (not an error)."""
    out = client.run(fn, on_error="return")
    return {str(k): round(v, 1) for k, v in out.items() if isinstance(v, (int, float))}


def _connected(client, scheduler: str | None, timeout: float):
    """The client once it is connected to the scheduler again (its own reconnection, else a new client)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.status == "running" and client.scheduler_comm is not None and not client.scheduler_comm.closed():
            return client
        if client.status in ("closed", "closing") and scheduler:
            try:
                return _client(scheduler, 0, timeout=max(1.0, deadline - time.monotonic()))[0]
            except GisPlannerError:
                pass
        time.sleep(0.2)
    raise GisPlannerError(f"lost the connection to the Dask scheduler and could not reconnect within {timeout:.0f} s",
                          file=scheduler or "local cluster",
                          fix="check the scheduler; with --out the finished municipalities are kept: rerun with "
                              "--resume", code="scheduler_lost")


def _run_dask(client, scheduler: str | None, tasks: list[tuple], func, retries: int, finished, stats: dict):
    """Submit ``tasks``; a future that Dask *cancels* or *loses* is not a failure of its municipality.

    Dask cancels every unfinished future of a client whose connection to the scheduler drops (a network
    blip, or a scheduler whose event loop was blocked for longer than the comm timeouts on a loaded
    machine) and marks results lost with their worker. Those tasks are resubmitted once the client is
    connected again (at most ``MAX_INTERRUPTIONS`` times); only a task that raised (after its ``retries``,
    which Dask runs on any worker) or that killed ``distributed.scheduler.allowed-failures`` workers is a
    failure. Returns the client in use (a new one when the old one could not reconnect).
    """
    from dask.distributed import as_completed

    pending = {key: (group, args) for key, group, args in tasks}
    stats.update(interruptions=0, resubmitted_tasks=0, interruption_reasons=[])
    rnd = 0
    while pending:
        futures = {}
        for key, (group, args) in pending.items():
            fut = client.submit(pickle.loads, _Call.blob(func, args), key=f"rollup-{key}" + (f"-r{rnd}" if rnd else ""),
                                pure=False, retries=retries)
            futures[fut] = key
        interrupted = []
        for fut in as_completed(list(futures)):
            key = futures[fut]
            group = pending[key][0]
            status = fut.status
            if status == "finished":
                try:
                    rows = fut.result()
                except Exception as exc:  # noqa: BLE001 - result lost between finishing and the gather
                    interrupted.append(f"{type(exc).__name__}: {exc}")
                    continue
                finished(key, group, rows)
                del pending[key]
            elif status == "error":
                msg, where = _error_text(fut.exception())
                finished(key, group, error=msg, where=where, attempts=retries + 1)
                del pending[key]
            else:  # cancelled (connection to the scheduler lost) or lost: not the task's fault
                st = getattr(fut, "_state", None)
                interrupted.append(str(getattr(st, "exception", None) or status))
            fut.release()
        if pending:
            rnd += 1
            stats["interruptions"] += 1
            stats["resubmitted_tasks"] += len(pending)
            stats["interruption_reasons"].append(interrupted[0] if interrupted else "unknown")
            if stats["interruptions"] > MAX_INTERRUPTIONS:
                raise GisPlannerError(f"the Dask cluster interrupted the run {MAX_INTERRUPTIONS + 1} times "
                                      f"({stats['interruption_reasons'][-1]}); {len(pending)} tasks not computed",
                                      file=scheduler or "local cluster",
                                      fix="check the scheduler and raise distributed.comm.timeouts (docs/rollup.md);"
                                          " with --out rerun with --resume", code="scheduler_lost")
            client = _connected(client, scheduler, RECONNECT_S)
    return client


def _run(tasks: list[tuple], func, engine: str, n_workers: int, scheduler: str | None, processes: bool,
         retries: int = 2, on_result=None, progress=None, failed: list[dict] = ()) -> tuple[dict, list[dict], dict]:
    """Run ``tasks`` = ``[(key, group, args)]``; returns ``({key: rows}, failures, stats)``.

    ``on_result(key, rows)`` is called as each task finishes (the output store); ``progress(event)`` gets
    ``{"event": "start"|"done"|"failed", …}`` per group (municipality), so a long run shows how far it is,
    and ``{"event": "tile", "municipality", "task", "tile", "tiles", "seconds"}`` as each tile of a tiled
    municipality but its last finishes (a city of a million parcels is many minutes of tiles).
    ``failed``: failures found before the run (the driver could not read a partition), reported with them.
    """
    stats: dict = {"engine": engine, "tasks": len(tasks), "retries": retries}
    t0 = time.perf_counter()
    left = {}
    for key, group, _ in tasks:
        left.setdefault(group, set()).add(key)
    size = {g: len(k) for g, k in left.items()}
    failed_groups = {f["municipality"] for f in failed}
    groups_total = len(set(left) | failed_groups)
    results, failures = {}, []

    def finished(key, group, rows=None, error=None, where="", attempts=1):
        if error is None:
            results[key] = rows
            if on_result is not None:
                on_result(key, rows)
        else:
            failures.append({"municipality": group, "task": key, "attempts": attempts, "error": error,
                             "where": where})
            if progress and group not in failed_groups:
                progress({"event": "failed", "municipality": group, "task": key, "error": error, "where": where})
            failed_groups.add(group)
        left[group].discard(key)
        if progress and error is None and group not in failed_groups and size[group] > 1 and left[group]:
            progress({"event": "tile", "municipality": group, "task": key, "tile": size[group] - len(left[group]),
                      "tiles": size[group], "seconds": time.perf_counter() - t0})
        if not left[group] and progress and group not in failed_groups:
            done = sum(1 for g, k in left.items() if not k and g not in failed_groups)
            progress({"event": "done", "municipality": group, "done": done, "total": groups_total,
                      "tiles": size[group], "seconds": time.perf_counter() - t0})

    def early():
        for f in failed:
            if progress:
                progress({"event": "failed", "municipality": f["municipality"], "task": f["task"],
                          "error": f["error"], "where": f["where"]})

    if engine == "dask":
        client, cluster = _client(scheduler, n_workers, processes)
        try:
            stats["workers"] = len(client.scheduler_info()["workers"])
            stats["dashboard"] = client.dashboard_link
            if progress:
                progress({"event": "start", "dashboard": client.dashboard_link, "workers": stats["workers"],
                          "tasks": len(tasks), "total": groups_total})
            early()
            client = _run_dask(client, scheduler, tasks, func, retries, finished, stats)
            stats["peak_rss_mb_per_worker"] = _per_worker(client, peak_rss_mb)
            stats["rss_mb_per_worker_end"] = _per_worker(client, rss_mb)
            stats["cpu_s_per_worker"] = _per_worker(client, cpu_seconds)
            pools = client.run(arrow_pool, on_error="return")
            stats["arrow_pool_per_worker"] = {str(k): v for k, v in pools.items() if isinstance(v, str)}
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        stats["workers"] = 1
        if progress:
            progress({"event": "start", "dashboard": None, "workers": 1, "tasks": len(tasks), "total": groups_total})
        early()
        for key, group, args in tasks:
            for attempt in range(retries + 1):
                try:
                    rows = func(*args)
                except Exception as exc:  # noqa: BLE001 - retried, then reported
                    if attempt == retries:
                        msg, where = _error_text(exc)
                        finished(key, group, error=msg, where=where, attempts=attempt + 1)
                    continue
                finished(key, group, rows)
                break
    stats["wall_s"] = time.perf_counter() - t0
    stats["peak_rss_mb_driver"] = round(peak_rss_mb(), 1)
    return results, failures, stats


def _finish(parts: dict, failures: list[dict], stats: dict, hierarchy: pd.DataFrame, allow_partial: bool,
            groups: dict) -> RollupResult:
    """Sum the tasks of every municipality whose tasks all succeeded; refuse a silent partial total."""
    fail = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    bad = set(fail["municipality"].astype(str))
    frames = [parts[k] for g, keys in groups.items() if g not in bad for k in keys if k in parts]
    long = pd.concat(frames, ignore_index=True)[LONG_COLUMNS] if frames else pd.DataFrame(columns=LONG_COLUMNS)
    if len(long):  # tiles of one municipality: one row per cell, their sum
        long = (long.groupby(["municipality", "table", "row", "col"], sort=True, as_index=False)["value"].sum()
                [LONG_COLUMNS])
    stats["municipalities"] = len(groups) - len(bad)
    stats["failed"] = len(bad)
    stats["partial"] = bool(bad)
    bal = long[(long["table"] == "balance") & (long["col"] == "parcels")]
    stats["parcels"] = int(round(bal["value"].sum()))
    res = RollupResult(long, roll_up(long, hierarchy), hierarchy, stats, fail)
    if bad and not allow_partial:
        err = RollupFailed(f"{len(bad)} of {len(groups)} municipalities failed: {', '.join(sorted(bad)[:10])}"
                           + (" …" if len(bad) > 10 else ""),
                           fix="see the failures report; rerun with --resume to compute only those, or "
                               "--allow-partial to accept totals without them",
                           code="rollup_failed", details={"failed": sorted(bad)})
        err.result = res
        raise err
    return res


def _tasks(s: NationalSet, codes: list[str], tile_parcels: int | None, exposure: bool, detail: bool):
    """Task specs (one per municipality or tile) and the municipalities whose file the driver cannot read."""
    munis = s.municipalities().set_index("code")
    specs, failures, counts = [], [], {}
    for c in codes:
        try:
            counts[c] = s.parcel_counts([c])[c]
        except Exception as exc:  # noqa: BLE001 - a damaged partition fails its municipality, not the run
            failures.append({"municipality": c, "task": c, "attempts": 1, "error": f"{type(exc).__name__}: {exc}",
                             "where": f"driver, {where_am_i()}"})
    for c in codes:
        if c not in counts:
            continue
        row = munis.loc[c]
        info = {"code": c, **{k: str(row[k]) for k in ("name", "district", "oblast")}}
        wkb = shapely.to_wkb(row.geometry)
        rows = counts[c]
        tiles = plan_tiles(rows, tile_parcels)
        if tiles is None:
            specs.append(TaskSpec(c, c, info, wkb, int(sum(rows)), None, True, exposure, detail))
            continue
        for i, rg in enumerate(tiles):
            specs.append(TaskSpec(f"{c}~t{i + 1:02d}of{len(tiles):02d}", c, info, wkb, int(sum(rows[j] for j in rg)),
                                  rg, i == 0, exposure, detail))
    return specs, failures


class OutputStore:
    """The run's output folder/URL: ``run.json`` (what was computed), ``parts/<task>.parquet`` (rows of
    every finished task), ``rollup.parquet`` (all levels), ``failures.csv`` (when any failed)."""

    def __init__(self, url, storage_options=None):
        self.store = open_store(url, storage_options)

    def begin(self, config: dict, resume: bool) -> set[str]:
        """Keys of the tasks already done (``resume``), after checking they were made the same way."""
        st = self.store
        if resume and st.exists("run.json"):
            old = json.loads(st.read_text("run.json")).get("config", {})
            diff = [k for k in config if old.get(k) != config[k]]
            if diff:
                raise GisPlannerError(f"cannot resume: the earlier run differs in {', '.join(diff)}",
                                      file=st.show("run.json"),
                                      fix="use the same set and options, or another --out without --resume",
                                      code="resume_mismatch")
            return {p.rsplit("/", 1)[-1][:-len(".parquet")] for p in st.glob(f"{PARTS}/*.parquet")}
        if st.exists(PARTS):
            st.fs.rm(st.join(PARTS), recursive=True)
        st.write_text(json.dumps({"config": config}, indent=2), "run.json")
        return set()

    def put(self, key: str, rows: pd.DataFrame) -> None:
        self.store.write_parquet(rows, PARTS, f"{key}.parquet")

    def get(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.store.join(PARTS, f"{key}.parquet"), filesystem=self.store.fs)

    def end(self, res: RollupResult, config: dict) -> None:
        from ..text import safe_table

        out = pd.concat([d.assign(level=k) for k, d in res.levels.items()], ignore_index=True)
        self.store.write_parquet(out, "rollup.parquet")
        if res.partial:
            self.store.write_text(safe_table(res.failures).to_csv(index=False), "failures.csv")
        else:
            self.store.rm("failures.csv")
        self.store.write_text(json.dumps({"config": config, "stats": res.stats, "partial": res.partial},
                                         indent=2, default=str), "run.json")


def rollup_national(root, *, engine: str = "dask", n_workers: int = 2, scheduler: str | None = None,
                    processes: bool = True, codes: list[str] | None = None, exposure: bool = True,
                    detail: bool = True, storage_options: dict | None = None,
                    tile_parcels: int | None | str = RULES, retries: int = 2, out=None,
                    out_storage_options: dict | None = None, resume: bool = False, allow_partial: bool = False,
                    progress=None) -> RollupResult:
    """Balance, restriction cross-tab and hazard exposure of every municipality of a national set, summed.

    Parameters
    ----------
    root : folder or fsspec URL of the national set (see :mod:`gis_planner.rollup.store`)
    engine : ``"dask"`` (default), ``"single"`` (same tasks in this process) or ``"memory"``
    n_workers : worker processes of the local cluster (ignored with ``scheduler``)
    scheduler : address of an existing Dask scheduler, e.g. ``tcp://10.0.0.5:8786``
    processes : local cluster with worker processes (True) or threads in this process
    codes : only these municipalities (default: all partitions)
    exposure, detail : also the hazard exposure table / the kind:subtype:level break-down
    storage_options : fsspec options of ``root`` (``endpoint_url``, ``key``, ``secret``, ``anon`` …)
    tile_parcels : municipalities above this many parcels are split into tiles (``None`` or 0: never;
        default ``"rules"``: ``tiles.max_parcels`` of ``layers/rollup.yaml``, 50 000)
    retries : extra attempts of a failing task before its municipality is reported as failed
    out, out_storage_options : output store (folder or URL) for the finished tasks' rows, the result and
        ``failures.csv``; ``resume`` keeps the rows of an earlier run there and computes only the rest
    allow_partial : return totals without the failed municipalities (``stats["partial"]``) instead of
        raising :class:`RollupFailed`
    progress : callable getting one event dict per municipality (see :func:`_run`)
    """
    if engine not in ENGINES:
        raise GisPlannerError(f"unknown engine '{engine}'", fix=f"use one of {', '.join(ENGINES)}",
                              code="bad_option")
    s = NationalSet(root, storage_options)
    codes = list(codes) if codes is not None else s.codes()
    if not codes:
        raise GisPlannerError("the national set has no parcel partitions", file=s.store.show(PARCELS_DIR),
                              fix="generate or write the parcels first", code="empty_input")
    if resume and out is None:
        raise GisPlannerError("--resume needs the output store of the earlier run", fix="pass --out URL",
                              code="bad_option")
    if tile_parcels == RULES:
        tile_parcels = default_tile_parcels()
    tile_parcels = int(tile_parcels) if tile_parcels else None
    hierarchy = s.hierarchy()
    if engine == "memory":
        parts, stats = _memory(s, codes, exposure, detail)
        return _finish({c: p for c, p in parts.items()}, [], stats, hierarchy, allow_partial,
                       {c: [c] for c in codes})
    specs, early = _tasks(s, codes, tile_parcels, exposure, detail)
    groups: dict = {c: [] for c in codes}
    for sp in specs:
        groups.setdefault(sp.code, []).append(sp.key)
    config = {"set": s.url, "exposure": exposure, "detail": detail, "tile_parcels": tile_parcels}
    store = OutputStore(out, out_storage_options) if out is not None else None
    done = store.begin(config, resume) if store else set()
    kept = {k: store.get(k) for g in groups.values() for k in g if k in done}
    todo = [sp for sp in specs if sp.key not in kept]
    parts, failures, stats = _run([(sp.key, sp.code, (s.store, sp)) for sp in todo], national_task, engine,
                                  n_workers, scheduler, processes, retries,
                                  on_result=store.put if store else None, progress=progress, failed=early)
    parts.update(kept)
    failures = early + failures
    stats.update({"resumed_tasks": len(kept), "computed_tasks": len(todo), "tiled_municipalities":
                  sum(1 for g in groups.values() if len(g) > 1),
                  "largest_task_parcels": max((sp.parcels for sp in specs), default=0)})
    try:
        res = _finish(parts, failures, stats, hierarchy, allow_partial, groups)
    except RollupFailed as exc:
        if store:
            store.end(exc.result, config)
        raise
    if store:
        store.end(res, config)
    return res


def _memory(s: NationalSet, codes: list[str], exposure: bool, detail: bool) -> tuple[dict, dict]:
    """The whole country in this process: every layer read at once, then sliced per municipality."""
    t0 = time.perf_counter()
    st = s.store
    munis = s.municipalities().set_index("code")
    parcels = pd.concat([st.read_parquet(PARCELS_DIR, f"{c}.parquet") for c in codes], ignore_index=True)
    parcels = gpd.GeoDataFrame(parcels, geometry="geometry", crs=munis.crs)
    restr = st.read_parquet(RESTRICTIONS) if st.exists(RESTRICTIONS) else None
    hz = st.read_parquet(HAZARDS) if st.exists(HAZARDS) else None
    rtree = restr.sindex if restr is not None else None
    htree = hz.sindex if hz is not None else None
    parts = {}
    for code, p in parcels.groupby("municipality", sort=True):
        p = p.reset_index(drop=True)
        boundary = munis.geometry.loc[code]
        b = shapely.box(*[f(a, c) for f, a, c in zip((min, min, max, max), boundary.bounds, p.total_bounds)])
        r = restr.iloc[rtree.query(b, predicate="intersects")] if rtree is not None else None
        h = hz.iloc[htree.query(b, predicate="intersects")] if htree is not None else None
        parts[str(code)] = municipality_tables(str(code), p, r.reset_index(drop=True) if r is not None else None,
                                               h.reset_index(drop=True) if h is not None else None, boundary,
                                               exposure=exposure, detail=detail)
    return parts, {"engine": "memory", "tasks": len(codes), "workers": 1, "wall_s": time.perf_counter() - t0,
                   "peak_rss_mb_driver": round(peak_rss_mb(), 1)}


def rollup_workspaces(paths, *, engine: str = "dask", n_workers: int = 2, scheduler: str | None = None,
                      processes: bool = True, retries: int = 2, allow_partial: bool = False,
                      progress=None) -> RollupResult:
    """The same roll-up over a collection of municipality workspaces (one task per workspace).

    District and oblast come from the workspace meta (``district``, ``oblast``) or its boundary layer.
    Workspace paths are made absolute here, so an external scheduler's workers read the same folders.
    """
    from ..workspace import Workspace

    if engine not in ("single", "dask"):
        raise GisPlannerError(f"unknown engine '{engine}' for workspaces", fix="use single or dask",
                              code="bad_option")
    paths = [Path(p).resolve() for p in paths]
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
        tasks.append((code, code, (str(p), code)))
    hierarchy = pd.DataFrame(rows)
    parts, failures, stats = _run(tasks, _workspace_task, engine, n_workers, scheduler, processes, retries,
                                  progress=progress)
    return _finish(parts, failures, stats, hierarchy, allow_partial, {t[0]: [t[0]] for t in tasks})
