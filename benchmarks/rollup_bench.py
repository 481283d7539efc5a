"""National roll-up benchmark: in-memory single process vs streaming vs Dask (1, 2 workers) vs PostGIS.

Same national set, same run, one fresh process per engine (so peak memory is that engine's own)::

    python benchmarks/national_synthetic.py                  # ≥ 3 M parcels → benchmarks/out/national
    python benchmarks/rollup_bench.py                        # all engines → benchmarks/out/rollup_bench.json
    python benchmarks/rollup_bench.py --engines dask2,postgis --root /tmp/nat

Reported per engine: wall time, ratio to the in-memory single process, peak resident memory of the
driver and of each Dask worker (``ru_maxrss``) or of the largest PostgreSQL backend (sampled), and
the largest difference of every roll-up cell (municipality, district, oblast, country) to the in-memory
result (PostGIS: the tables it computes, ``balance`` and ``restricted``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ENGINES = {"memory": ("memory", 1), "single": ("single", 1), "dask1": ("dask", 1), "dask2": ("dask", 2),
           "postgis": ("postgis", 1),
           # only what the PostGIS push-down computes (balance by category, cross-tab by kind)
           "memory_xt": ("memory", 1), "dask2_xt": ("dask", 2)}


def _save(levels: dict, path: Path) -> None:
    pd.concat([df.assign(level=k) for k, df in levels.items()], ignore_index=True).to_parquet(path, index=False)


def _load(path: Path) -> dict:
    df = pd.read_parquet(path)
    return {k: g.drop(columns="level").reset_index(drop=True) for k, g in df.groupby("level", sort=False)}


class PgSampler(threading.Thread):
    """Largest resident memory of one PostgreSQL process of the server, sampled every 0.2 s."""

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

    def run(self):
        while not self.stop.is_set() and self.root is not None:
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                for p in procs:
                    try:
                        self.peak_mb = max(self.peak_mb, p.memory_info().rss / 2**20)
                    except self.psutil.Error:
                        pass
            except self.psutil.Error:
                pass
            time.sleep(0.2)


def run_one(engine: str, root: str, out: Path) -> dict:
    """Run one engine in this process; save its roll-up; return its stats."""
    from gis_planner.rollup import rollup_national
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
            res = postgis_rollup(pg.url)
            sampler.stop.set()
            sampler.join()
        stats = {**res.stats, "load_s": t_load, "query_s": res.stats["wall_s"], "wall_s": t_load + res.stats["wall_s"],
                 "peak_rss_mb_pg_backend": round(sampler.peak_mb, 1), "loaded": counts}
    else:
        lean = engine.endswith("_xt")
        res = rollup_national(root, engine=kind, n_workers=workers, exposure=not lean, detail=not lean)
        stats = res.stats
    stats["peak_rss_mb_driver"] = round(peak_rss_mb(), 1)
    stats["bench_engine"] = engine
    _save(res.levels, out / f"rollup_{engine}.parquet")
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(HERE / "out" / "national"))
    ap.add_argument("--engines", default="memory,single,dask1,dask2,postgis")
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one engine, print its stats
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.one:
        print("STATS " + json.dumps(run_one(a.one, a.root, out)), flush=True)
        return 0
    from gis_planner.rollup import compare
    from gis_planner.rollup.postgis import python_subset

    manifest = json.loads((Path(a.root) / "manifest.json").read_text())
    results = {}
    for engine in a.engines.split(","):
        print(f"== {engine}", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--root", a.root, "--out", str(out), "--one", engine],
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("STATS ")]
        if proc.returncode or not line:
            print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
            results[engine] = {"error": proc.stderr[-2000:]}
            continue
        results[engine] = json.loads(line[-1][6:])
        print(json.dumps(results[engine]), flush=True)
    base_name = "memory" if "memory" in results and "error" not in results["memory"] else None
    if base_name:
        base = _load(out / f"rollup_{base_name}.parquet")
        for engine, st in results.items():
            if "error" in st or engine == base_name:
                continue
            other = _load(out / f"rollup_{engine}.parquet")
            ref = python_subset(base) if engine in ("postgis", "dask2_xt", "memory_xt") else base
            if engine.endswith("_xt"):
                other = python_subset(other)
            st["diff_to_memory"] = compare(ref, other)
            st["ratio_to_memory"] = st["wall_s"] / results[base_name]["wall_s"]
    doc = {"manifest": manifest, "cpus": os.cpu_count(), "results": results,
           "load_average_at_end": os.getloadavg()}
    (out / "rollup_bench.json").write_text(json.dumps(doc, indent=2, default=str))
    print(markdown(doc))
    return 0


def markdown(doc: dict) -> str:
    rows = ["| engine | workers | wall s | × in-memory | peak MB driver | peak MB per worker / PG backend | max rel. diff | max abs. diff |",
            "|---|---|---|---|---|---|---|---|"]
    for engine, st in doc["results"].items():
        if "error" in st:
            rows.append(f"| {engine} | – | failed | | | | | |")
            continue
        per = st.get("peak_rss_mb_per_worker")
        per = ", ".join(f"{v:.0f}" for v in per.values()) if per else (
            f"{st['peak_rss_mb_pg_backend']:.0f}" if "peak_rss_mb_pg_backend" in st else "–")
        d = st.get("diff_to_memory") or {}
        wall = f"{st['wall_s']:.0f}" + (f" (load {st['load_s']:.0f} + query {st['query_s']:.0f})" if "load_s" in st else "")
        rows.append(f"| {engine} | {st.get('workers', 1)} | {wall} | {st.get('ratio_to_memory', 1.0):.2f} | "
                    f"{st['peak_rss_mb_driver']:.0f} | {per} | {d.get('max_rel', 0):.1e} | {d.get('max_abs', 0):.1e} |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
