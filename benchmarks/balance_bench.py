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
               when the Debian packages are missing;
* ``full_ref`` ``compute_balance`` of another source tree (``--ref-src``, e.g. the main branch before
               a change): the same figures, the old time (not run by default);
* ``kinds``    in-process seconds of each restriction kind alone (union + areas), to compare a kind made
               of many parcels (forest fund) with the others (not run by default).

Data variants (``--variant``): ``blobs`` (the synthetic municipality as generated) and
``forest_parcels`` (forest fund given, as ``gis_planner.zoning.forest_zones`` builds it in a workspace,
as the *parcels* lying in the forest blobs: thousands of polygons sharing edges). ``--sizes 0`` is the
demo workspace (``data/cadastre/demo``): parcels, the restriction frame the workspace builds
(``gis_planner.balance.restriction_frame``: zoning module, forest-fund parcels included) and its boundary.

Timing: ``--repeat N`` runs the methods in alternation (A B C A B C …, each in a fresh process) and
reports medians: the in-process seconds of the measured call, CPU seconds of that call, and the whole
process (interpreter start, imports and data loading included). The load average is printed beside
every figure: the machine may be shared.

Each method runs in its own process, so the peak memory (``ru_maxrss``) is its own (data loading
included; for PostGIS only the client is measured, the server is separate). Areas are compared cell by
cell with the reference (``overlay`` where run, else ``ours``): the maximal relative difference is
printed. Results go to ``benchmarks/out/balance/results.json`` and a Markdown table to stdout.

Usage::

    .venv/bin/python benchmarks/balance_bench.py                       # 10k, 100k, 1M
    .venv/bin/python benchmarks/balance_bench.py --repeat 3 --overlay-max 1000000
    .venv/bin/python benchmarks/balance_bench.py --sizes 10000 --methods ours overlay
    .venv/bin/python benchmarks/balance_bench.py --sizes 100000 --methods ours full full_ref overlay postgis \
        --repeat 5 --ref-src /path/to/old/checkout
    .venv/bin/python benchmarks/balance_bench.py --sizes 100000 --variant forest_parcels --methods ours kinds
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
sys.path.insert(0, os.environ.get("BALANCE_BENCH_SRC") or str(HERE.parent))  # full_ref: another tree


# ---------------------------------------------------------------------- data
def data_paths(n: int) -> tuple[Path, Path, Path]:
    return OUT / f"parcels_{n}.parquet", OUT / f"restrictions_{n}.parquet", OUT / f"boundary_{n}.wkb"


def prepare(n: int, seed: int = 0) -> float:
    """Generate (once) the synthetic municipality of ``n`` parcels; returns seconds spent."""
    if n == 0:
        return 0.0
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


VARIANT = os.environ.get("BALANCE_BENCH_VARIANT", "blobs")


def forest_parcels_path(n: int) -> Path:
    return OUT / f"restrictions_{n}_forest_parcels.parquet"


def prepare_variant(n: int) -> None:
    """Forest fund as parcels (what a workspace builds from the forest-fund category)."""
    path = forest_parcels_path(n)
    if path.exists():
        return
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    p, r, _ = load(n, "blobs")
    blobs = shapely.union_all(r.geometry[r["kind"] == "forest_fund"].values)
    c = shapely.get_coordinates(shapely.centroid(p.geometry.values))
    sel = shapely.contains_xy(blobs, c[:, 0], c[:, 1])
    forest = gpd.GeoDataFrame({"kind": ["forest_fund"] * int(sel.sum()), "subtype": "forest_fund",
                               "source_layer": "parcels", "source_fid": np.flatnonzero(sel)},
                              geometry=p.geometry.values[sel], crs=p.crs)
    out = gpd.GeoDataFrame(pd.concat([r[r["kind"] != "forest_fund"], forest], ignore_index=True), crs=r.crs)
    out.to_parquet(path)


def load_demo():
    from gis_planner import Workspace
    from gis_planner.balance.core import _read_boundary, restriction_frame
    from gis_planner.settings import demo_workspace

    ws = Workspace(demo_workspace())
    p = ws.read_layer("parcels")
    if "category" not in p.columns:
        p["category"] = "unknown"
    r = restriction_frame(ws).to_crs(ws.crs)
    r = r[~r.geometry.is_empty & r.geometry.notna()]
    # the kinds the balance counts (layers/balance.yaml exclude_kinds: terrain, infrastructure are left
    # out), so that the cross-tab, overlay and PostGIS measure the same table as the full balance
    from gis_planner.catalog import load_rules

    skip = set(load_rules("balance", ws).get("exclude_kinds") or [])
    r = r[~r["kind"].isin(skip)]
    return p, r, _read_boundary(ws, ws.crs)


def load(n: int, variant: str | None = None):
    import geopandas as gpd
    import shapely

    if n == 0:
        return load_demo()
    pp, rp, bp = data_paths(n)
    if (variant or VARIANT) == "forest_parcels":
        rp = forest_parcels_path(n)
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

    import gis_planner

    p, r, b = load(n)
    # the rule catalogues (YAML) are read once per process: read them before the clock, time shown apart
    with Clock() as warm:
        compute_balance(parcels=p.iloc[:20], restrictions=r.iloc[:0], boundary=b, zones=None)
    with Clock() as c:
        bal = compute_balance(parcels=p, restrictions=r, boundary=b, zones=None)
    dt = c.wall
    j = bal.to_json()
    extra = {"cpu_s": c.cpu, "rules_load_s": round(warm.wall, 3), "src": str(Path(gis_planner.__file__).parent.parent),
             "overlap_ha": j["topology"].get("overlap_ha"),
             "identity_residual_ha": (j["topology"].get("identity") or {}).get("residual_ha"),
             "gap_ha": j["topology"].get("gap_ha"), "outside_ha": j["topology"].get("outside_ha"),
             "detail_groups": len(j["restricted_detail"])}
    return dt, j["restricted"], extra


def m_full_ref(n):
    """compute_balance of the source tree given with --ref-src (imported instead of this one)."""
    return m_full(n)


def m_kinds(n):
    """In-process seconds of each restriction kind alone: union of its polygons + parcel areas."""
    import numpy as np

    from gis_planner.balance.core import restriction_groups
    from gis_planner.balance.engine import ParcelIndex, union_polygons

    p, r, _ = load(n)
    index = ParcelIndex(np.asarray(p.geometry.values, dtype=object))
    by_kind, _ = restriction_groups(r)
    extra, table = {"cpu_s": 0.0}, {}
    total = 0.0
    for kind, g in by_kind.items():
        with Clock() as c:
            u = union_polygons(g)
        with Clock() as c2:
            a = index.areas_in(u)
        extra[kind] = {"polygons": len(g), "union_s": round(c.wall, 4), "areas_s": round(c2.wall, 4),
                       "cpu_s": round(c.cpu + c2.cpu, 4)}
        extra["cpu_s"] += c.cpu + c2.cpu
        total += c.wall + c2.wall
        cats = p["category"].astype(object).to_numpy()
        table[kind] = {str(k): float(a[cats == k].sum() / 1e4) for k in np.unique(cats)}
    return total, table, extra


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
    fn = {"ours": m_ours, "full": m_full, "full_ref": m_full_ref, "kinds": m_kinds, "overlay": m_overlay,
          "overlay_plain": m_overlay_plain, "postgis": m_postgis}[method]
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
            if abs(y) < 1e-9 and abs(x) < 1e-9:    # both zero to 1e-9 ha (1e-5 m²): rounding of a touch
                continue
            worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    return worst


def run(method: str, n: int, dsn: str | None, timeout: float, variant: str = "blobs",
        ref_src: str | None = None) -> dict:
    res = OUT / f"result_{method}_{n}.json"
    res.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", method, str(n), str(res)] + (["--dsn", dsn] if dsn else [])
    env = dict(os.environ, BALANCE_BENCH_VARIANT=variant)
    env.pop("BALANCE_BENCH_SRC", None)
    if method == "full_ref":
        env["BALANCE_BENCH_SRC"] = ref_src or ""
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0 or not res.exists():
        return {"method": method, "n": n, "error": (proc.stderr or "")[-800:]}
    out = json.loads(res.read_text())
    out["process_s"] = time.perf_counter() - t          # whole process: interpreter start included
    out["load"] = round((load_before + os.getloadavg()[0]) / 2, 1)
    return out


def median(xs):
    xs = sorted(xs)
    k = len(xs)
    return (xs[k // 2] if k % 2 else (xs[k // 2 - 1] + xs[k // 2]) / 2) if k else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000],
                    help="parcels of the synthetic municipality; 0 = the demo workspace")
    ap.add_argument("--methods", nargs="+", default=["ours", "full", "overlay", "postgis"])
    ap.add_argument("--variant", choices=["blobs", "forest_parcels"], default="blobs")
    ap.add_argument("--ref-src", default=None, help="source tree for the full_ref method (e.g. a checkout of main)")
    ap.add_argument("--overlay-max", type=int, default=100_000,
                    help="skip geopandas.overlay above this many parcels (it takes minutes)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the methods this many times, alternating (fresh process each), report medians")
    ap.add_argument("--worker", nargs=3, metavar=("METHOD", "N", "RESULT"), help=argparse.SUPPRESS)
    ap.add_argument("--dsn", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2], args.dsn)
        return 0
    if "full_ref" in args.methods and not args.ref_src:
        ap.error("full_ref needs --ref-src")
    OUT.mkdir(parents=True, exist_ok=True)
    pg = PostGIS() if "postgis" in args.methods else None
    if pg is not None and not pg.start():
        print(f"PostGIS skipped: {pg.reason}")
        pg = None
    results = []
    try:
        for n in args.sizes:
            gen = prepare(n)
            if args.variant != "blobs" and n:
                prepare_variant(n)
            label = "demo workspace" if n == 0 else f"{n:,} parcels"
            print(f"--- {label}, variant {args.variant}" + (f" (generated in {gen:.1f} s)" if gen else ""), flush=True)
            methods = [m for m in args.methods
                       if not (m.startswith("overlay") and n > args.overlay_max) and not (m == "postgis" and pg is None)]
            runs: dict[str, list] = {m: [] for m in methods}
            for rep in range(max(1, args.repeat)):
                for m in methods:                      # alternating: A B C A B C …
                    x = run(m, n, pg.dsn if (pg and m == "postgis") else None, args.timeout, args.variant, args.ref_src)
                    runs[m].append(x)
                    if "error" in x:
                        print(f"  [{rep + 1}] {m:9s} FAILED: {x['error'][-300:]}", flush=True)
                    else:
                        cpu = (x.get("extra") or {}).get("cpu_s")
                        print(f"  [{rep + 1}] {m:9s} in-process {x['seconds']:8.2f} s"
                              + (f"  cpu {cpu:7.2f} s" if cpu is not None else "  cpu  server ")
                              + f"  process {x['process_s']:7.2f} s  peak {x['peak_gb']:.2f} GB  load {x['load']}",
                              flush=True)
            row = {}
            for m, xs in runs.items():
                ok = [x for x in xs if "error" not in x]
                if not ok:
                    row[m] = xs[0]
                    continue
                r = dict(ok[0])
                r["seconds"] = median([x["seconds"] for x in ok])
                r["process_s"] = median([x["process_s"] for x in ok])
                cpus = [(x.get("extra") or {}).get("cpu_s") for x in ok]
                r["cpu_s"] = median(cpus) if None not in cpus else None
                r["peak_gb"] = max(x["peak_gb"] for x in ok)
                r["runs_s"] = [round(x["seconds"], 3) for x in ok]
                r["loads"] = [x["load"] for x in ok]
                row[m] = r
            ref_name = "overlay" if "table" in row.get("overlay", {}) else "ours"
            ref = row.get(ref_name, {}).get("table")
            for m, r in row.items():
                if "table" in r and ref is not None and m != "kinds":
                    r["max_rel_diff_vs_" + ref_name] = max_rel_diff(r["table"], ref)
                    r["reference"] = ref_name
            if "kinds" in row and "extra" in row["kinds"]:
                print("  per kind (in-process s, union + areas):", flush=True)
                for k, v in row["kinds"]["extra"].items():
                    if isinstance(v, dict):
                        print(f"    {k:22s} {v['polygons']:7d} polygons  union {v['union_s']:.3f}  "
                              f"areas {v['areas_s']:.3f}  cpu {v['cpu_s']:.3f}", flush=True)
            results.append({"n": n, "variant": args.variant, "cpus": os.cpu_count(), "load": os.getloadavg(),
                            "repeat": args.repeat, "methods": row})
    finally:
        if pg is not None:
            pg.stop()
    (OUT / f"results_{args.variant}.json").write_text(json.dumps(results, indent=1))
    # Markdown summary (medians)
    print(f"\n| parcels | method | in-process s | CPU s | whole process s | peak memory, GB | ÷ ours (in-process) "
          f"| ÷ ours (CPU) | load avg | max rel. diff |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for res in results:
        ours = res["methods"].get("ours", {})
        for m, r in res["methods"].items():
            name = "demo" if res["n"] == 0 else f"{res['n']:,}"
            if "error" in r:
                print(f"| {name} | {m} | failed | | | | | | | {r['error'][:60]} |")
                continue
            cpu, ocpu = r.get("cpu_s"), ours.get("cpu_s")
            ratio = f"{r['seconds'] / ours['seconds']:.1f}×" if ours.get("seconds") and m != "ours" else ""
            cratio = f"{cpu / ocpu:.1f}×" if cpu and ocpu and m != "ours" else ""
            diff = r.get("max_rel_diff_vs_" + r.get("reference", ""), None)
            dtxt = "reference" if m == r.get("reference") else (f"{diff:.1e} (vs {r['reference']})"
                                                               if diff is not None else "")
            ctxt = f"{cpu:.2f}" if cpu is not None else "server"
            loads = "–".join(f"{x:.0f}" for x in (min(r["loads"]), max(r["loads"]))) if r.get("loads") else ""
            print(f"| {name} | {m} | {r['seconds']:.2f} | {ctxt} | {r['process_s']:.2f} | {r['peak_gb']:.2f} "
                  f"| {ratio} | {cratio} | {loads} | {dtxt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
