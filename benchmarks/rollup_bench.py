"""National roll-up benchmark: Dask (1, 2 workers; LocalCluster and an external scheduler) vs PostGIS vs in-memory.

Same national set, same session, one fresh process per engine (so peak memory is that engine's own)::

    python benchmarks/national_synthetic.py --city 150000        # ≈ 3.3 M parcels → benchmarks/out/national
    python benchmarks/rollup_bench.py                             # every engine, then the table
    python benchmarks/rollup_bench.py --engines city_untiled,city_tiled   # bounded tasks: the city alone

Engines: ``memory`` (everything loaded in one process), ``dask1``/``dask2`` (LocalCluster, 1/2 worker
processes), ``ext2`` (``dask scheduler`` + two ``dask worker`` processes started here, working directory
elsewhere — the way a cluster runs), ``postgis`` (load + one-query push-down + the same with one session per
oblast, ``--sessions``), ``city_untiled``/``city_tiled`` (only the city — ``manifest.json`` of a set made with
``--city N``, else the largest municipality — one worker, without and with tiles of ``tiles.max_parcels``
of ``layers/rollup.yaml``: the memory a straggler needs). Progress (one line per finished municipality
and per tile of a tiled one, with the load average) goes to stderr. Every run records wall seconds, **CPU seconds** (driver +
workers; for PostGIS the server's processes), load average before/after, peak memory per worker, the
largest task (parcels), each worker's memory at the end of the run ("end": what the tasks left behind;
``*_notrim``: the workers do not release memory after each task); every result is compared cell by cell with the first Python engine of the run
(PostGIS: the tables it computes, ``balance`` and ``restricted``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENGINES = {"memory": ("memory", 1), "single": ("single", 1), "dask1": ("dask", 1), "dask2": ("dask", 2),
           "ext2": ("external", 2), "postgis": ("postgis", 1),
           "postgis_s2": ("postgis", 2),  # load + only the 2-session query (one session per oblast, 2 at a time)
           "city_untiled": ("city", None),
           "city_tiled": ("city", "rules"),  # tiles.max_parcels of layers/rollup.yaml
           "city_tiled_20k": ("city", 20_000),
           # only what the PostGIS push-down computes (balance by category, cross-tab by kind)
           "memory_xt": ("memory", 1), "dask2_xt": ("dask", 2),
           # the workers do not release memory after each task (GIS_PLANNER_ROLLUP_TRIM=0): the comparison
           "dask1_notrim": ("dask", 1), "dask2_notrim": ("dask", 2)}
PG_TABLES = ("postgis", "postgis_s2", "memory_xt", "dask2_xt")


def _save(levels: dict, path: Path) -> None:
    pd.concat([df.assign(level=k) for k, df in levels.items()], ignore_index=True).to_parquet(path, index=False)


def _load(path: Path) -> dict:
    df = pd.read_parquet(path)
    return {k: g.drop(columns="level").reset_index(drop=True) for k, g in df.groupby("level", sort=False)}


class PgSampler(threading.Thread):
    """Largest resident memory of one PostgreSQL process and the server's CPU seconds, sampled every 0.2 s."""

    def __init__(self, datadir: str):
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.root = None
        for p in psutil.process_iter(["cmdline"]):
            if datadir in " ".join(p.info["cmdline"] or []):
                self.root = p
                break
        self.peak_mb = 0.0
        self.stop = threading.Event()
        self.cpu0 = self.cpu()

    def cpu(self) -> float:
        """CPU seconds of the postmaster, its live children and its reaped children."""
        if self.root is None:
            return 0.0
        try:
            t = self.root.cpu_times()
            total = t.user + t.system + t.children_user + t.children_system
            for c in self.root.children(recursive=True):
                try:
                    ct = c.cpu_times()
                    total += ct.user + ct.system
                except self.psutil.Error:
                    pass
            return total
        except self.psutil.Error:
            return 0.0

    def run(self):
        while not self.stop.is_set() and self.root is not None:
            try:
                for p in [self.root, *self.root.children(recursive=True)]:
                    try:
                        self.peak_mb = max(self.peak_mb, p.memory_info().rss / 2**20)
                    except self.psutil.Error:
                        pass
            except self.psutil.Error:
                pass
            time.sleep(0.2)


def external_cluster(n_workers: int):
    """``dask scheduler`` + ``n_workers`` single-threaded ``dask worker`` processes (cwd: a temp folder)."""
    tmp = tempfile.mkdtemp(prefix="rollup-ext-")
    sf = Path(tmp) / "scheduler.json"
    # as rollup_national's LocalCluster: no worker profiler (its 1000 s history grows a worker's memory),
    # pyarrow's system pool (mimalloc kept the Parquet reader's freed pages: driver.arrow_pool), and the
    # environment a nanny gives its worker (distributed.nanny.pre-spawn-environ: MALLOC_TRIM_THRESHOLD_,
    # one BLAS thread) - these workers run without a nanny, and without MALLOC_TRIM_THRESHOLD_ glibc's
    # dynamic mmap threshold keeps large freed arrays on the heap (docs/rollup.md "Settings")
    import dask.config
    import distributed  # noqa: F401 - registers its defaults (the nanny's pre-spawn-environ) in dask.config

    nanny_env = {k: str(v) for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()}
    env = {**nanny_env, "ARROW_DEFAULT_MEMORY_POOL": "system", **os.environ, "PYTHONPATH": str(ROOT),
           "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    log = open(Path(tmp) / "cluster.log", "w")  # noqa: SIM115 - the processes' log, kept for a post-mortem
    print(f"cluster log: {log.name}", file=sys.stderr, flush=True)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--scheduler-file", str(sf)], cwd=tmp, env=env,
                              stdout=log, stderr=log)]
    while not sf.exists():
        time.sleep(0.3)
    address = json.loads(sf.read_text())["address"]
    for _ in range(n_workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                                       "1", "--no-nanny", "--no-dashboard", "--local-directory", tmp], cwd=tmp,
                                      env=env, stdout=log, stderr=log))
    from dask.distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(n_workers, timeout=300)
    return address, procs


def progress(ev: dict) -> None:
    """One line per finished municipality (and tile of a tiled one) on stderr, with the load average."""
    e = ev["event"]
    la = "/".join(f"{x:.1f}" for x in os.getloadavg())
    if e == "start":
        msg = f"start: {ev['total']} municipalities, {ev['tasks']} tasks, {ev['workers']} workers"
    elif e == "tile":
        msg = f"    {ev['municipality']}: tile {ev['tile']}/{ev['tiles']} done"
    elif e == "done":
        tiles = f", {ev['tiles']} tiles" if ev.get("tiles", 1) > 1 else ""
        msg = f"[{ev['done']}/{ev['total']}] {ev['municipality']} done{tiles}"
    else:
        msg = f"{ev['municipality']} FAILED: {ev.get('error')}"
    secs = f" ({ev['seconds']:.0f} s, load {la})" if "seconds" in ev else f" (load {la})"
    print(msg + secs, file=sys.stderr, flush=True)


def run_one(engine: str, root: str, out: Path) -> dict:
    """Run one engine in this process; save its roll-up; return its stats."""
    from gis_planner.rollup import NationalSet, rollup_national
    from gis_planner.rollup.driver import peak_rss_mb

    kind, workers = ENGINES[engine]
    if kind == "postgis":
        from gis_planner.devtools.pgserver import PgServer
        from gis_planner.rollup.postgis import load_national, postgis_rollup

        with PgServer() as pg:
            t0 = time.perf_counter()
            counts = load_national(pg.url, root)
            t_load = time.perf_counter() - t0
            sampler = PgSampler(str(pg.tmp))
            sampler.start()
            res = postgis_rollup(pg.url) if workers == 1 else None
            cpu1 = sampler.cpu()
            res2 = postgis_rollup(pg.url, sessions=2)
            cpu2 = sampler.cpu()
            sampler.stop.set()
            sampler.join()
        from gis_planner.rollup import compare

        if res is None:  # postgis_s2: the 2-session query only
            res = res2
            stats = {**res.stats, "load_s": t_load, "query_s_2_sessions": res2.stats["wall_s"],
                     "wall_s": t_load + res2.stats["wall_s"], "pg_cpu_s_query_2_sessions": round(cpu2 - cpu1, 1),
                     "peak_rss_mb_pg_backend": round(sampler.peak_mb, 1), "loaded": counts}
        else:
            stats = {**res.stats, "load_s": t_load, "query_s": res.stats["wall_s"],
                     "wall_s": t_load + res.stats["wall_s"],
                     "query_s_2_sessions": res2.stats["wall_s"], "pg_cpu_s_query": round(cpu1 - sampler.cpu0, 1),
                     "pg_cpu_s_query_2_sessions": round(cpu2 - cpu1, 1),
                     "sessions_vs_one_query": compare(res.levels, res2.levels),
                     "peak_rss_mb_pg_backend": round(sampler.peak_mb, 1), "loaded": counts}
    elif kind == "city":
        s = NationalSet(root)
        city = (s.manifest.get("city") or {}).get("code")
        if not city:
            counts = {c: sum(v) for c, v in s.parcel_counts().items()}
            city = max(counts, key=counts.get)
        res = rollup_national(root, engine="dask", n_workers=1, codes=[city], tile_parcels=workers,
                              progress=progress)
        stats = {**res.stats, "city": city}
    elif kind == "external":
        from gis_planner.rollup.driver import RollupFailed

        address, procs = external_cluster(workers)
        try:
            res = rollup_national(os.path.relpath(root), scheduler=address, progress=progress)
            stats = res.stats
        except RollupFailed as exc:
            print(exc.result.failures.head(10).to_string(), file=sys.stderr)
            raise
        finally:
            for p in procs[::-1]:
                p.terminate()
            for p in procs[::-1]:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
    else:
        if engine.endswith("_notrim"):
            from gis_planner.rollup.driver import TRIM_ENV

            os.environ[TRIM_ENV] = "0"  # inherited by the LocalCluster's worker processes
        lean = engine.endswith("_xt")
        res = rollup_national(root, engine=kind, n_workers=workers, exposure=not lean, detail=not lean,
                              progress=progress)
        stats = res.stats
    stats["peak_rss_mb_driver"] = round(peak_rss_mb(), 1)
    stats["bench_engine"] = engine
    _save(res.levels, out / f"rollup_{engine}.parquet")
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(HERE / "out" / "national"))
    ap.add_argument("--engines", default="city_untiled,city_tiled,dask1,dask2,ext2,postgis,memory")
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one engine, print its stats
    ap.add_argument("--combine", nargs="+", metavar="OUT_DIR",
                    help="merge the results of separate runs (their --out folders) into one table, compared "
                         "cell by cell with the first Python engine")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.combine:
        return combine([Path(d) for d in a.combine], out)
    if a.one:
        print("STATS " + json.dumps(run_one(a.one, a.root, out), default=str), flush=True)
        return 0
    manifest = json.loads((Path(a.root) / "manifest.json").read_text())
    results = {}
    for engine in a.engines.split(","):
        print(f"== {engine}", flush=True)
        load0 = os.getloadavg()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        # the engine's progress (one line per municipality / tile, stderr) goes straight to this log
        proc = subprocess.run([sys.executable, __file__, "--root", a.root, "--out", str(out), "--one", engine],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)})
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("STATS ")]
        if proc.returncode or not line:
            print(proc.stdout[-3000:], file=sys.stderr)
            results[engine] = {"error": f"exit code {proc.returncode} (traceback above in the log)"}
            continue
        st = json.loads(line[-1][6:])
        st["process_wall_s"] = time.perf_counter() - t0
        # driver + local workers + an external cluster started by the run (all reaped children of this process)
        st["cpu_s"] = round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 1)
        st["loadavg_before"], st["loadavg_after"] = load0, os.getloadavg()
        # each parcel counted once: the roll-up's parcel count is the generator's
        city = manifest.get("city") or {}
        st["parcels_expected"] = city.get("parcels") if ENGINES[engine][0] == "city" else manifest.get("parcels")
        results[engine] = st
        print(json.dumps(st, default=str), flush=True)
    _compare_all(results, {e: out for e in results})
    doc = {"manifest": manifest, "cpus": os.cpu_count(), "results": results, "load_average_at_end": os.getloadavg()}
    (out / "rollup_bench.json").write_text(json.dumps(doc, indent=2, default=str))
    print(markdown(doc))
    return 0


def _compare_all(results: dict, where: dict) -> None:
    """Fill ``diff``/``diff_to`` of every result against the first Python engine (PostGIS: its tables)."""
    from gis_planner.rollup import compare
    from gis_planner.rollup.postgis import python_subset

    python = [e for e in results if "error" not in results[e] and ENGINES[e][0] in ("memory", "single", "dask",
                                                                                      "external")
              and not e.endswith("_xt")]
    if python:
        base_name = python[0]
        base = _load(where[base_name] / f"rollup_{base_name}.parquet")
        for engine, st in results.items():
            if "error" in st or engine == base_name or ENGINES[engine][0] == "city":
                continue
            other = _load(where[engine] / f"rollup_{engine}.parquet")
            pg = engine in PG_TABLES
            st["diff_to"] = base_name
            st["diff"] = compare(python_subset(base) if pg else base, python_subset(other) if pg else other)
    for tiled in ("city_tiled", "city_tiled_20k"):
        if "city_untiled" in results and tiled in results and "error" not in results[tiled]:
            results[tiled]["diff_to"] = "city_untiled"
            results[tiled]["diff"] = compare(_load(where["city_untiled"] / "rollup_city_untiled.parquet"),
                                             _load(where[tiled] / f"rollup_{tiled}.parquet"))


def combine(dirs: list[Path], out: Path) -> int:
    results, where, manifest = {}, {}, None
    for d in dirs:
        doc = json.loads((d / "rollup_bench.json").read_text())
        manifest = manifest or doc["manifest"]
        for engine, st in doc["results"].items():
            results[engine], where[engine] = st, d
    _compare_all(results, where)
    doc = {"manifest": manifest, "cpus": os.cpu_count(), "results": results, "load_average_at_end": os.getloadavg(),
           "combined_from": [str(d) for d in dirs]}
    (out / "rollup_bench.json").write_text(json.dumps(doc, indent=2, default=str))
    print(markdown(doc))
    return 0


def markdown(doc: dict) -> str:
    rows = ["| engine | workers | parcels | tasks | largest task (parcels) | wall s | CPU s | load avg before/after | "
            "peak MB driver | peak MB per worker / PG backend | max rel. diff (to) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    # parcels: "= set" when the roll-up counted exactly the generator's parcels (manifest.json)
    for engine, st in doc["results"].items():
        if "error" in st:
            rows.append(f"| {engine} | – | | | | failed | | | | | |")
            continue
        per = st.get("peak_rss_mb_per_worker")
        end = st.get("rss_mb_per_worker_end") or {}
        per = ", ".join(f"{v:.0f}" + (f" (end {end[k]:.0f})" if k in end else "") for k, v in per.items()) if per else (
            f"{st['peak_rss_mb_pg_backend']:.0f}" if "peak_rss_mb_pg_backend" in st else "–")
        d = st.get("diff") or {}
        wall = f"{st['wall_s']:.0f}"
        if "query_s" in st:
            wall += f" (load {st['load_s']:.0f} + query {st['query_s']:.0f}; 2 sessions {st['query_s_2_sessions']:.0f})"
        elif "load_s" in st:
            wall += f" (load {st['load_s']:.0f} + query in 2 sessions {st['query_s_2_sessions']:.0f})"
        cpu = f"{st.get('cpu_s', 0):.0f}"
        if "pg_cpu_s_query" in st:
            cpu += f" (+ server: query {st['pg_cpu_s_query']:.0f}, 2 sessions {st['pg_cpu_s_query_2_sessions']:.0f})"
        elif "pg_cpu_s_query_2_sessions" in st:
            cpu += f" (+ server: 2 sessions {st['pg_cpu_s_query_2_sessions']:.0f})"
        la = f"{st['loadavg_before'][0]:.1f} / {st['loadavg_after'][0]:.1f}" if "loadavg_before" in st else ""
        rel = f"{d.get('max_rel', 0):.1e} ({st.get('diff_to', '–')})" if d else "–"
        same = " (= set)" if st.get("parcels_expected") is not None and st.get("parcels") == st["parcels_expected"] else (
            f" (set: {st['parcels_expected']:,})" if st.get("parcels_expected") is not None else "")
        rows.append(f"| {engine} | {st.get('workers', st.get('sessions', 1))} | {st.get('parcels', 0):,}{same} | "
                    f"{st.get('tasks', '')} | "
                    f"{st.get('largest_task_parcels', '')} | {wall} | {cpu} | {la} | {st['peak_rss_mb_driver']:.0f} | "
                    f"{per} | {rel} |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
