"""The national roll-up as a cluster runs it: object storage (an S3 server started by the tests), process
workers (a LocalCluster and an external ``dask scheduler`` + ``dask worker``), retries, resume and the
failures report. The hand-built set of tests/test_rollup.py (numbers computable by hand)."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gis_planner.rollup import compare, rollup_national, write_partitioned
from gis_planner.rollup.driver import RollupFailed
from gis_planner.rollup.store import NationalSet, Store, open_store, parse_storage_options

from .flaky_fs import FlakyFileSystem
from .s3 import s3_bucket, s3_server  # noqa: F401  (fixtures)
from .helpers import stop_process
from .test_rollup import cell, hazards, municipalities, national, parcels, restrictions, single  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two single-threaded worker PROCESSES (the workers import this worktree)."""
    from dask.distributed import LocalCluster

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), old) if p)
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        yield c
    finally:
        c.close()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_open_store_resolves_on_the_driver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = open_store("rel/national")
    assert s.url == str(tmp_path / "rel" / "national") and s.local
    assert open_store("memory://x/y").url == "memory://x/y"
    assert parse_storage_options(["endpoint_url=http://m:9000", "anon=false", "client_kwargs.region_name=kg"]) == {
        "endpoint_url": "http://m:9000", "anon": False, "client_kwargs": {"region_name": "kg"}}


def test_s3_set_on_process_workers_equals_local(s3_server, s3_bucket, cluster, single):
    """Written to and read from an S3 bucket by worker processes; output store in the bucket too."""
    url = f"s3://{s3_bucket}/national"
    counts = write_partitioned(url, parcels(), municipalities(), restrictions(), hazards(), storage_options=s3_server)
    assert counts == {"A": 100, "B": 101, "C": 100}
    s = NationalSet(url, storage_options=s3_server)
    assert s.codes() == ["A", "B", "C"] and sum(sum(v) for v in s.parcel_counts().values()) == 301
    res = rollup_national(url, storage_options=s3_server, scheduler=cluster.scheduler_address,
                          out=f"s3://{s3_bucket}/out", out_storage_options=s3_server)
    d = compare(single.levels, res.levels)
    assert d["cells"] > 100 and d["max_rel"] < 1e-12, d
    assert cell(res, "municipality", "B", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)
    assert res.stats["workers"] == 2 and not res.partial
    out = open_store(f"s3://{s3_bucket}/out", s3_server)
    assert sorted(p.rsplit("/", 1)[-1] for p in out.glob("parts/*.parquet")) == ["A.parquet", "B.parquet",
                                                                                  "C.parquet"]
    assert json.loads(out.read_text("run.json"))["stats"]["parcels"] == 301 and not out.exists("failures.csv")


def test_local_cluster_of_processes_reads_s3(s3_server, s3_bucket, single):
    """rollup_national's own LocalCluster (worker processes) on an S3 URL."""
    url = f"s3://{s3_bucket}/n"
    write_partitioned(url, parcels(), municipalities(), restrictions(), hazards(), storage_options=s3_server)
    res = rollup_national(url, storage_options=s3_server, engine="dask", n_workers=2, processes=True)
    assert compare(single.levels, res.levels)["max_rel"] < 1e-12
    assert res.stats["dashboard"].startswith("http")


def test_transient_failure_is_rescued_by_a_retry(national, cluster, single, tmp_path):
    fs = FlakyFileSystem(fail={"B.parquet": 1}, counter_dir=str(tmp_path / "n"), driver_pid=os.getpid())
    store = Store(str(national), fs, str(national))
    res = rollup_national(store, scheduler=cluster.scheduler_address, retries=1)
    assert fs.attempts("B.parquet") >= 2  # the first open failed on a worker, the retry read the file
    assert not res.partial and compare(single.levels, res.levels)["max_rel"] < 1e-12
    # without a retry the same fault is a failure of B, reported with its error and the worker
    fs0 = FlakyFileSystem(fail={"B.parquet": 1}, counter_dir=str(tmp_path / "m"), driver_pid=os.getpid())
    with pytest.raises(RollupFailed, match="1 of 3 municipalities failed: B") as e:
        rollup_national(Store(str(national), fs0, str(national)), scheduler=cluster.scheduler_address, retries=0)
    f = e.value.result.failures
    assert f["municipality"].tolist() == ["B"] and "simulated network error" in f["error"].iloc[0]
    assert f["where"].iloc[0].startswith("worker tcp://")


def test_resume_recomputes_only_the_missing(national, cluster, single, tmp_path):
    out = tmp_path / "out"
    bad = FlakyFileSystem(fail={"C.parquet": 99}, counter_dir=str(tmp_path / "n"), driver_pid=os.getpid())
    with pytest.raises(RollupFailed) as e:
        rollup_national(Store(str(national), bad, str(national)), scheduler=cluster.scheduler_address,
                        retries=1, out=out)
    assert bad.attempts("C.parquet") == 2  # the first open of each of the two attempts fails
    fail = pd.read_csv(out / "failures.csv")
    assert fail["municipality"].tolist() == ["C"] and fail["attempts"].tolist() == [2]
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["A.parquet", "B.parquet"]
    partial = e.value.result
    assert partial.stats["partial"] and cell(partial, "country", "KG", "balance", "settlement", "parcels") == 100
    # resume: A and B are kept from the output store, only C is computed (a fresh counter: no fault for C)
    watch = FlakyFileSystem(fail={"A.parquet": 0, "C.parquet": 0}, counter_dir=str(tmp_path / "w"),
                            driver_pid=os.getpid())
    res = rollup_national(Store(str(national), watch, str(national)), scheduler=cluster.scheduler_address,
                          out=out, resume=True)
    assert res.stats["resumed_tasks"] == 2 and res.stats["computed_tasks"] == 1
    assert watch.attempts("A.parquet") == 0 and watch.attempts("C.parquet") >= 1
    assert not res.partial and not (out / "failures.csv").exists()
    assert compare(single.levels, res.levels)["max_rel"] < 1e-12
    # a resume with other options is refused, not mixed
    with pytest.raises(Exception, match="cannot resume"):
        rollup_national(national, engine="single", out=out, resume=True, exposure=False)


def test_cli_exit_code_and_partial_label(national, tmp_path, capsys):
    """A municipality that fails: exit code 2 and no total; --allow-partial prints totals marked PARTIAL."""
    import shutil

    from gis_planner.cli import main

    broken = tmp_path / "n2"
    shutil.copytree(national, broken)
    (broken / "parcels" / "B.parquet").write_bytes(b"not parquet")  # a damaged partition
    args = ["rollup", "run", str(broken), "--engine", "single", "--level", "country", "--lang", "en",
            "--retries", "0"]
    assert main([*args, "--failures", str(tmp_path / "f.csv")]) == 2
    r = capsys.readouterr()
    assert "error: 1 of 3 municipalities failed: B" in r.err and "Balance" not in r.out
    assert "1 municipalities failed; no total is printed" in r.err
    f = pd.read_csv(tmp_path / "f.csv")
    assert f["municipality"].tolist() == ["B"] and "Parquet" in f["error"].iloc[0]
    assert main([*args, "--allow-partial", "--out", str(tmp_path / "o")]) == 0
    r = capsys.readouterr()
    assert "PARTIAL: 1 municipalities are not included (B)" in r.out
    assert (tmp_path / "o" / "failures.csv").exists() and "[1/3] A done" in r.err


def _start(cmd, cwd, env):
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.contextmanager
def external_cluster(tmp_path, n_workers: int, worker_args=(), cwd=None):
    """`dask scheduler` + ``n_workers`` single-threaded `dask worker` processes (working directory ``cwd``);
    yields ``(address, worker processes)`` once every worker is registered; stops them all afterwards."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sf = tmp_path / "scheduler.json"
    cwd = cwd or tmp_path
    sched = _start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--scheduler-file", str(sf), "--no-dashboard"], tmp_path, env)
    workers = []
    try:
        deadline = time.monotonic() + 90
        while not sf.exists():
            assert sched.poll() is None and time.monotonic() < deadline, sched.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        address = json.loads(sf.read_text())["address"]
        for _ in range(n_workers):
            workers.append(_start([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--no-dashboard", "--local-directory", str(cwd), *worker_args], cwd, env))
        from dask.distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(n_workers, timeout=90)
        yield address, workers
    finally:
        for w in workers:
            stop_process(w, 15)
        stop_process(sched, 15)


def test_external_scheduler_and_worker(national, single, tmp_path, monkeypatch):
    """`dask scheduler` + `dask worker` subprocesses whose working directory is elsewhere: a relative set path
    given to the driver is resolved on the driver; a path the worker cannot see fails naming the worker."""
    elsewhere = tmp_path / "worker_cwd"
    elsewhere.mkdir()
    with external_cluster(tmp_path, 1, cwd=elsewhere) as (address, _):
        monkeypatch.chdir(national.parent)
        res = rollup_national(national.name, scheduler=address)  # relative: the worker's cwd is elsewhere
        assert compare(single.levels, res.levels)["max_rel"] < 1e-12 and res.stats["workers"] == 1
        # memory:// exists only in this process: the worker cannot see it, and the error names the worker
        write_partitioned("memory://national-x", parcels(), municipalities(), restrictions(), hazards())
        with pytest.raises(RollupFailed) as e:
            rollup_national("memory://national-x", scheduler=address, retries=0)
        f = e.value.result.failures
        assert len(f) == 3 and f["where"].str.startswith("worker tcp://127.0.0.1").all()
        assert "cannot read parcels/A.parquet (the driver can)" in f["error"].iloc[0]


@pytest.fixture(scope="module")
def fine(tmp_path_factory):
    """The same set with row groups of 10 parcels (tiles are runs of row groups)."""
    root = tmp_path_factory.mktemp("fine")
    write_partitioned(root, parcels(), municipalities(), restrictions(), hazards(), row_group_size=10)
    return root


def test_tiles_equal_the_untiled_run(fine, single):
    """Municipalities above 30 parcels in tiles of ≤ 30 (3 row groups of 10): 4 tiles each (B: 101 parcels,
    11 row groups). The water zone (two overlapping polygons) and the flood zone cross tile edges; each tile
    unions them itself, so every parcel's restricted area is the untiled one; zone areas come once."""
    from gis_planner.rollup.driver import plan_tiles

    s = NationalSet(fine)
    rg = s.parcel_counts()
    assert rg["A"] == [10] * 10 and sum(rg["B"]) == 101
    assert plan_tiles(rg["A"], 30) == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)]
    tiled = rollup_national(fine, engine="single", tile_parcels=30)
    assert tiled.stats["tiled_municipalities"] == 3 and tiled.stats["tasks"] == 12
    assert tiled.stats["largest_task_parcels"] == 30
    d = compare(single.levels, tiled.levels)
    assert d["cells"] > 100 and d["max_rel"] < 1e-12, d
    # hand-computed figures, as in test_hand_computed_numbers
    assert cell(tiled, "country", "KG", "balance", "settlement", "parcels") == 150
    assert cell(tiled, "municipality", "A", "restricted", "settlement", "water_protection_zone") == pytest.approx(20.0)
    assert cell(tiled, "municipality", "B", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)
    assert cell(tiled, "country", "KG", "zone_area", "water_protection_zone", "area_ha") == pytest.approx(40.0)
    assert cell(tiled, "country", "KG", "exposure", "flood:high", "zone_ha") == pytest.approx(20.0)
    assert cell(tiled, "country", "KG", "exposure", "flood:high", "parcels") == 20
    # every parcel is in exactly one tile: the tiles' parcels are the municipality's, once
    keys = [tuple(sorted(s.read_partition("A", row_groups=t, zones=False).parcels["cadastral_no"]))
            for t in plan_tiles(rg["A"], 30)]
    flat = [k for t in keys for k in t]
    assert len(flat) == len(set(flat)) == 100


def test_tiles_on_s3_with_process_workers_and_resume(s3_server, s3_bucket, cluster, single):
    """Tiles read their row groups through the same storage layer (an S3 bucket) on worker processes; the
    output store keeps tiles, so a resume after a lost tile recomputes that tile only."""
    url = f"s3://{s3_bucket}/fine"
    write_partitioned(url, parcels(), municipalities(), restrictions(), hazards(), storage_options=s3_server,
                      row_group_size=10)
    out = f"s3://{s3_bucket}/out"
    res = rollup_national(url, storage_options=s3_server, scheduler=cluster.scheduler_address, tile_parcels=30,
                          out=out, out_storage_options=s3_server)
    assert res.stats["tasks"] == 12 and compare(single.levels, res.levels)["max_rel"] < 1e-12
    o = open_store(out, s3_server)
    assert len(o.glob("parts/*.parquet")) == 12
    o.rm("parts", "B~t02of04.parquet")
    again = rollup_national(url, storage_options=s3_server, scheduler=cluster.scheduler_address, tile_parcels=30,
                            out=out, out_storage_options=s3_server, resume=True)
    assert again.stats["computed_tasks"] == 1 and again.stats["resumed_tasks"] == 11
    assert compare(single.levels, again.levels)["max_rel"] < 1e-12


@pytest.mark.postgis
def test_postgis_sessions_per_oblast_equal_one_query(pg_url, tmp_path):
    """C moved to a second oblast: two sessions (one per oblast) give the one-query and the Python numbers."""
    from click.testing import CliRunner

    from gis_planner.cli import cli
    from gis_planner.rollup.postgis import load_national, postgis_rollup, python_subset

    m = municipalities()
    m.loc[m["code"] == "C", "oblast"] = "O2"
    write_partitioned(tmp_path / "n", parcels(), m, restrictions(), hazards())
    py = rollup_national(tmp_path / "n", engine="single")
    load_national(pg_url, tmp_path / "n", schema="rollup_obl")
    one = postgis_rollup(pg_url, schema="rollup_obl", cell_m=700.0)
    two = postgis_rollup(pg_url, schema="rollup_obl", cell_m=700.0, sessions=2)
    assert two.stats["sessions"] == 2
    for other in (one, two):
        d = compare(python_subset(py.levels), other.levels)
        assert d["cells"] > 50 and d["max_rel"] < 1e-9, d
    assert cell(two, "oblast", "O2", "restricted", "settlement", "hazard") == pytest.approx(5.0)  # y 1000–1100, x 500–1000
    assert cell(two, "oblast", "O1", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)
    assert cell(two, "country", "KG", "balance", "agricultural", "parcels") == 150
    r = CliRunner().invoke(cli, ["rollup", "pg-run", "--db", pg_url, "--schema", "rollup_obl", "--sessions", "2",
                                 "--level", "oblast", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["units"]["O2"]["balance"]["settlement"]["parcels"] == 50


def test_external_cluster_survives_a_lost_scheduler_connection_and_a_killed_worker(fine, single, tmp_path):
    """The fault of the 3.2 M-parcel run at a small scale: `dask scheduler` + two `dask worker` processes; when
    the first municipality is done, one worker is killed (SIGKILL) and the driver's connection to the scheduler
    drops (what a scheduler unresponsive for > the comm timeouts does under load). Dask cancels every
    unfinished future of the client; they are not failures of the municipalities: the driver reconnects and
    resubmits them, the surviving worker computes them, and the totals are exact."""
    import signal

    from distributed import default_client

    with external_cluster(tmp_path, 2, worker_args=("--no-nanny",)) as (address, workers):
        faults = []

        def progress(event):
            if event["event"] == "done" and not faults:
                os.kill(workers[0].pid, signal.SIGKILL)
                default_client().scheduler_comm.comm.abort()  # the driver's connection to the scheduler drops
                faults.append(event["municipality"])
            elif event["event"] == "failed":
                faults.append(("failed", event["municipality"], event["error"]))

        res = rollup_national(fine, scheduler=address, tile_parcels=10, progress=progress)
        assert len(faults) == 1, faults  # the faults were injected once, no municipality failed
        assert res.stats["tasks"] == 31 and not res.partial
        assert res.stats["interruptions"] == 1 and res.stats["resubmitted_tasks"] >= 1
        assert len(res.stats["peak_rss_mb_per_worker"]) == 1  # the killed worker is left out of the figures
        # the scheduler only routed bytes: it never imported gis_planner or geopandas to read a task
        from dask.distributed import Client

        with Client(address, timeout="60s") as c:
            assert c.run_on_scheduler(eval, "[m for m in ('gis_planner', 'geopandas') if m in __import__('sys').modules]"
                                      ) == []
        d = compare(single.levels, res.levels)
        assert d["cells"] > 100 and d["max_rel"] < 1e-12, d
        assert cell(res, "country", "KG", "balance", "settlement", "parcels") == 150
        assert cell(res, "municipality", "B", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)


def _releases():
    from gis_planner.rollup import driver

    return driver.RELEASES


def test_process_workers_release_memory_after_every_task(national, cluster, single):
    """Each task ends with release_memory on its worker process (gc, pyarrow pool, malloc_trim): a worker's
    memory does not grow with the number of tasks it ran (benchmarks/results_rollup.md, 2026-12-06)."""
    from dask.distributed import Client

    with Client(cluster.scheduler_address) as c:
        before = sum(c.run(_releases).values())
        res = rollup_national(national, scheduler=cluster.scheduler_address)
        after = sum(c.run(_releases).values())
    assert after - before == res.stats["computed_tasks"] == 3  # one release per task (A, B, C), on the workers
    assert compare(single.levels, res.levels)["max_rel"] < 1e-12
    assert set(res.stats["rss_mb_per_worker_end"]) == set(res.stats["peak_rss_mb_per_worker"])


def test_release_memory_gives_freed_heap_pages_back():
    """Known answer: 1 KB blocks (malloc's heap, below the mmap threshold), 9 of 10 freed. The survivors
    pin the heap, so glibc's own top trim cannot return the ~170 MB; malloc_trim(0) does."""
    import ctypes.util

    from gis_planner.rollup.driver import release_memory, rss_mb

    if not sys.platform.startswith("linux") or "libc" not in str(ctypes.util.find_library("c")):
        pytest.skip("malloc_trim is glibc's")
    blocks = [bytes(1000) + bytes([i % 251]) for i in range(200_000)]  # ≈ 200 MB in ≈ 1 KB chunks
    keep = blocks[::10]
    del blocks
    freed = rss_mb()
    assert release_memory() is True
    assert freed - rss_mb() > 100  # MB back to the OS
    assert len(keep) == 20_000
    os.environ["GIS_PLANNER_ROLLUP_TRIM"] = "0"
    try:
        assert release_memory() is False
    finally:
        del os.environ["GIS_PLANNER_ROLLUP_TRIM"]


def _profiling(dask_worker):
    import dask

    return (dask.config.get("distributed.worker.profile.enabled"), len(dask_worker.profile_history))


def test_local_cluster_workers_do_not_profile():
    """rollup's LocalCluster turns Dask's worker profiler off: its 1000 s history of call trees (≈ 82 MB a
    worker measured at 30 M parcels) made a worker's memory grow with the length of the run."""
    import time

    from gis_planner.rollup.driver import _client

    client, cluster = _client(None, 1, processes=True)
    try:
        time.sleep(2.5)  # the profiler would have stored two one-second cycles by now
        assert list(client.run(_profiling).values()) == [(False, 0)]
    finally:
        client.close()
        cluster.close()



@pytest.mark.parametrize("driver_env, expected", [(None, "system"), ("mimalloc", "mimalloc")])
def test_local_cluster_workers_use_pyarrows_system_pool(national, single, monkeypatch, driver_env, expected):
    """rollup_national's LocalCluster starts its workers with ARROW_DEFAULT_MEMORY_POOL=system (mimalloc kept
    the Parquet reader's freed pages: a worker's memory grew with the number of large tasks it had run,
    benchmarks/results_rollup.md 2026-12-06); a value set in the driver's environment is what they get
    instead. The totals do not depend on the pool."""
    import pyarrow as pa

    if "mimalloc" not in pa.supported_memory_backends():
        pytest.skip("pyarrow built without mimalloc")
    if driver_env:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", driver_env)
    else:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    res = rollup_national(national, engine="dask", n_workers=1, processes=True)
    assert list(res.stats["arrow_pool_per_worker"].values()) == [expected]
    assert compare(single.levels, res.levels)["max_rel"] < 1e-12
