"""Benchmark of the restriction cross-tab (issue 3): gis_planner.balance vs geopandas.overlay vs PostGIS.

For each size (synthetic municipalities of ``benchmarks/synthetic.py``) and in the same run:

* ``ours``     ``gis_planner.balance.restriction_crosstab``: ha of each land category inside each
               restriction kind (union per kind) — the same table as the two alternatives below;
* ``full``     ``gis_planner.balance.compute_balance``: the whole balance (all tables, detail by
               subtype/level, "any restriction", per-parcel shares, topology: overlaps/gaps/outside);
* ``overlay``  the obvious alternative, tuned: ``dissolve(by="kind")`` → ``explode`` →
               ``geopandas.overlay(how="intersection")`` → area → ``groupby(category, kind)``;
* ``overlay_plain``  the same without ``explode`` (one multipolygon per kind), as most people write it
               (not run by default);
* ``postgis``  a throw-away PostgreSQL/PostGIS server started by this script: ``ST_Union`` per kind,
               ``ST_Subdivide``, GiST indexes, ``ST_Intersection`` (``ST_Within`` short cut); skipped
               when the Debian packages are missing.

Each method runs in its own process, so the peak memory (``ru_maxrss``) is its own (data loading
included; for PostGIS only the client is measured, the server is separate). Areas are compared cell by
cell with the reference (``overlay`` where run, else ``ours``): the maximal relative difference is
printed. Results go to ``benchmarks/out/balance/results.json`` and a Markdown table to stdout.

Usage::

    .venv/bin/python benchmarks/balance_bench.py                       # 10k, 100k, 1M
    .venv/bin/python benchmarks/balance_bench.py --repeat 3 --overlay-max 1000000
    .venv/bin/python benchmarks/balance_bench.py --sizes 10000 --methods ours overlay
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "balance"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


# ---------------------------------------------------------------------- data
def data_paths(n: int) -> tuple[Path, Path, Path]:
    return OUT / f"parcels_{n}.parquet", OUT / f"restrictions_{n}.parquet", OUT / f"boundary_{n}.wkb"


def prepare(n: int, seed: int = 0) -> float:
    """Generate (once) the synthetic municipality of ``n`` parcels; returns seconds spent."""
    pp, rp, bp = data_paths(n)
    if pp.exists() and rp.exists() and bp.exists():
        return 0.0
    from synthetic import make_municipality

    t = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    p, r, b = make_municipality(n, seed=seed)
    p.to_parquet(pp)
    r.to_parquet(rp)
    bp.write_bytes(b.wkb)
    return time.perf_counter() - t


def load(n: int):
    import geopandas as gpd
    import shapely

    pp, rp, bp = data_paths(n)
    return gpd.read_parquet(pp), gpd.read_parquet(rp), shapely.from_wkb(bp.read_bytes())


class Clock:
    """Wall and CPU (all threads of this process) seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def table_dict(df) -> dict:
    """{kind: {category: ha}} from a DataFrame indexed by category with one column per kind."""
    return {str(k): {str(c): float(v) for c, v in df[k].items()} for k in df.columns}


# ---------------------------------------------------------------------- methods (run in a worker)
def m_ours(n):
    from gis_planner.balance import restriction_crosstab

    p, r, _ = load(n)
    with Clock() as c:
        ct = restriction_crosstab(p, r)
    return c.wall, table_dict(ct), {"cpu_s": c.cpu}


def m_full(n):
    from gis_planner.balance import compute_balance

    p, r, b = load(n)
    with Clock() as c:
        bal = compute_balance(parcels=p, restrictions=r, boundary=b, zones=None)
    dt = c.wall
    j = bal.to_json()
    extra = {"cpu_s": c.cpu, "identity_residual_ha": (j["topology"].get("identity") or {}).get("residual_ha"),
             "gap_ha": j["topology"].get("gap_ha"), "outside_ha": j["topology"].get("outside_ha"),
             "detail_groups": len(j["restricted_detail"])}
    return dt, j["restricted"], extra


def m_overlay(n):
    import geopandas as gpd

    p, r, _ = load(n)
    with Clock() as c:
        diss = r[["kind", "geometry"]].dissolve(by="kind").reset_index().explode(index_parts=False)
        ov = gpd.overlay(p[["category", "geometry"]], diss, how="intersection", keep_geom_type=True)
        ct = (ov.assign(ha=ov.geometry.area / 1e4).groupby(["category", "kind"])["ha"].sum()
              .unstack("kind").fillna(0.0))
    return c.wall, table_dict(ct), {"cpu_s": c.cpu}


def m_overlay_plain(n):
    """The most obvious form: overlay with the dissolved kinds as they come (one multipolygon per kind)."""
    import geopandas as gpd

    p, r, _ = load(n)
    with Clock() as c:
        diss = r[["kind", "geometry"]].dissolve(by="kind").reset_index()
        ov = gpd.overlay(p[["category", "geometry"]], diss, how="intersection", keep_geom_type=True)
        ct = (ov.assign(ha=ov.geometry.area / 1e4).groupby(["category", "kind"])["ha"].sum()
              .unstack("kind").fillna(0.0))
    return c.wall, table_dict(ct), {"cpu_s": c.cpu}


def m_postgis(n, dsn: str):
    import psycopg
    import shapely

    p, r, _ = load(n)
    extra = {}
    with psycopg.connect(dsn, autocommit=True) as con:
        cur = con.cursor()
        t = time.perf_counter()
        cur.execute("DROP TABLE IF EXISTS parcels; DROP TABLE IF EXISTS restrictions;")
        cur.execute("CREATE TABLE parcels (id serial primary key, category text, geom geometry(Polygon, 7695));"
                    "CREATE TABLE restrictions (id serial primary key, kind text, geom geometry(Geometry, 7695));")
        for table, col, frame in (("parcels", "category", p), ("restrictions", "kind", r)):
            wkb = shapely.to_wkb(frame.geometry.values, hex=True, include_srid=True)
            with cur.copy(f"COPY {table} ({col}, geom) FROM STDIN") as cp:
                for c, g in zip(frame[col].astype(str), wkb):
                    cp.write_row((c, g))
        cur.execute("CREATE INDEX ON parcels USING gist(geom); CREATE INDEX ON restrictions USING gist(geom);"
                    "ANALYZE parcels; ANALYZE restrictions;")
        extra["load_s"] = time.perf_counter() - t
        cur.execute("SET max_parallel_workers_per_gather = 2; SET work_mem = '256MB';")
        t = time.perf_counter()
        cur.execute("DROP TABLE IF EXISTS rk; CREATE TABLE rk AS SELECT kind, ST_Subdivide(ST_Union(geom), 256) AS geom "
                    "FROM restrictions GROUP BY kind; CREATE INDEX ON rk USING gist(geom); ANALYZE rk;")
        cur.execute("SELECT p.category, rk.kind, SUM(CASE WHEN ST_Within(p.geom, rk.geom) THEN ST_Area(p.geom) "
                    "ELSE ST_Area(ST_Intersection(p.geom, rk.geom)) END) / 10000.0 "
                    "FROM parcels p JOIN rk ON ST_Intersects(p.geom, rk.geom) GROUP BY 1, 2")
        rows = cur.fetchall()
        dt = time.perf_counter() - t
    out: dict = {}
    for cat, kind, ha in rows:
        out.setdefault(kind, {})[cat] = float(ha)
    return dt, out, extra


def worker(method: str, n: int, result_path: str, dsn: str | None) -> None:
    fn = {"ours": m_ours, "full": m_full, "overlay": m_overlay, "overlay_plain": m_overlay_plain,
          "postgis": m_postgis}[method]
    dt, table, extra = fn(n, dsn) if method == "postgis" else fn(n)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    Path(result_path).write_text(json.dumps({"method": method, "n": n, "seconds": dt, "peak_gb": peak_gb,
                                             "table": table, "extra": extra}))


# ---------------------------------------------------------------------- PostGIS server
class PostGIS:
    """A throw-away PostgreSQL/PostGIS cluster in a temporary folder (None if unavailable)."""

    def __init__(self):
        self.dir = None
        self.dsn = None
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins or not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
            self.reason = "PostgreSQL/PostGIS packages not installed"
            return
        self.bin = Path(bins[-1]).parent
        self.reason = None

    def start(self) -> bool:
        if self.reason:
            return False
        self.dir = Path(tempfile.mkdtemp(prefix="gp-bench-pg-"))
        data = self.dir / "data"
        runas = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            subprocess.run(runas + [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
                           check=True, capture_output=True)
            subprocess.run(runas + [str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-l", str(self.dir / "log"),
                                    "-o", f"-p {port} -k {self.dir} -c listen_addresses='' "
                                          f"-c shared_buffers=512MB -c max_parallel_workers_per_gather=2",
                                    "start"], check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            self.reason = f"could not start a server ({exc})"
            return False
        self.dsn = f"host={self.dir} port={port} user=postgres dbname=postgres"
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        self.runas, self.data = runas, data
        return True

    def stop(self) -> None:
        if self.dsn:
            subprocess.run(self.runas + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                           capture_output=True)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------- driver
def max_rel_diff(a: dict, ref: dict) -> float:
    worst = 0.0
    for kind in set(a) | set(ref):
        for cat in set(a.get(kind, {})) | set(ref.get(kind, {})):
            x, y = a.get(kind, {}).get(cat, 0.0), ref.get(kind, {}).get(cat, 0.0)
            if y == 0.0 and abs(x) < 1e-9:
                continue
            worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return worst


def run(method: str, n: int, dsn: str | None, timeout: float) -> dict:
    res = OUT / f"result_{method}_{n}.json"
    res.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", method, str(n), str(res)] + (["--dsn", dsn] if dsn else [])
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0 or not res.exists():
        return {"method": method, "n": n, "error": (proc.stderr or "")[-800:]}
    out = json.loads(res.read_text())
    out["wall_s"] = time.perf_counter() - t
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--methods", nargs="+", default=["ours", "full", "overlay", "postgis"])
    ap.add_argument("--overlay-max", type=int, default=100_000,
                    help="skip geopandas.overlay above this many parcels (it takes minutes)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each method this many times (fresh process each) and keep the fastest")
    ap.add_argument("--worker", nargs=3, metavar=("METHOD", "N", "RESULT"), help=argparse.SUPPRESS)
    ap.add_argument("--dsn", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2], args.dsn)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    pg = PostGIS() if "postgis" in args.methods else None
    if pg is not None and not pg.start():
        print(f"PostGIS skipped: {pg.reason}")
        pg = None
    results = []
    try:
        for n in args.sizes:
            gen = prepare(n)
            print(f"--- {n:,} parcels (generated in {gen:.1f} s)" if gen else f"--- {n:,} parcels (cached data)",
                  flush=True)
            row = {}
            for m in args.methods:
                if m.startswith("overlay") and n > args.overlay_max:
                    continue
                if m == "postgis" and pg is None:
                    continue
                runs = [run(m, n, pg.dsn if (pg and m == "postgis") else None, args.timeout)
                        for _ in range(max(1, args.repeat))]
                ok = [x for x in runs if "error" not in x]
                r = min(ok, key=lambda x: x["seconds"]) if ok else runs[0]
                r["runs_s"] = [round(x["seconds"], 3) for x in ok]
                row[m] = r
                if "error" in r:
                    print(f"  {m:8s} FAILED: {r['error'][-300:]}", flush=True)
                else:
                    print(f"  {m:8s} {r['seconds']:9.2f} s   peak {r['peak_gb']:.2f} GB  {r.get('extra') or ''}",
                          flush=True)
            print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)", flush=True)
            ref_name = "overlay" if "table" in row.get("overlay", {}) else "ours"
            ref = row.get(ref_name, {}).get("table")
            for m, r in row.items():
                if "table" in r and ref is not None:
                    r["max_rel_diff_vs_" + ref_name] = max_rel_diff(r["table"], ref)
                    r["reference"] = ref_name
            results.append({"n": n, "cpus": os.cpu_count(), "load": os.getloadavg(), "methods": row})
    finally:
        if pg is not None:
            pg.stop()
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    # Markdown summary
    print("\n| parcels | method | wall s | CPU s | peak memory, GB | wall ÷ ours | CPU ÷ ours | max rel. diff |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for res in results:
        ours = res["methods"].get("ours", {})
        for m, r in res["methods"].items():
            if "error" in r:
                print(f"| {res['n']:,} | {m} | failed | | | | | {r['error'][:60]} |")
                continue
            cpu = (r.get("extra") or {}).get("cpu_s")
            ocpu = (ours.get("extra") or {}).get("cpu_s")
            ratio = f"{r['seconds'] / ours['seconds']:.1f}×" if ours.get("seconds") and m != "ours" else ""
            cratio = f"{cpu / ocpu:.1f}×" if cpu and ocpu and m != "ours" else ""
            diff = r.get("max_rel_diff_vs_" + r.get("reference", ""), None)
            dtxt = "reference" if m == r.get("reference") else (f"{diff:.1e} (vs {r['reference']})"
                                                               if diff is not None else "")
            ctxt = f"{cpu:.2f}" if cpu is not None else "server"
            print(f"| {res['n']:,} | {m} | {r['seconds']:.2f} | {ctxt} | {r['peak_gb']:.2f} | {ratio} | {cratio} "
                  f"| {dtxt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
