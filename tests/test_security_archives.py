"""Issue 18.7: whole-archive size/ratio limits; copies left by a killed workspace write are cleaned at next open."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from gis_planner import GisPlannerError, Workspace
from gis_planner.catalog import load_rules
from gis_planner.cli import main
from gis_planner.io import safe_extract
from gis_planner.io.safezip import archive_limits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def many_small_zeros(tmp_path_factory):
    """2 000 entries of 1 MiB of zeros: about 2 MB zipped, 2 GB unpacked (each entry is under the per-entry check)."""
    path = tmp_path_factory.mktemp("bomb") / "parcels.zip"
    zeros = bytes(1024 ** 2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("parcels.geojson", '{"type":"FeatureCollection","features":[]}')
        for i in range(2000):
            zf.writestr(f"pad/{i:04d}.bin", zeros)
    return path


def test_many_small_zeros_refused_before_expanding(many_small_zeros, tmp_path):
    assert many_small_zeros.stat().st_size < 10 * 1024 ** 2
    limits = archive_limits(load_rules("import"))
    assert limits["max_total_ratio"] == 100 and limits["total_ratio_min_bytes"] == 64 * 1024 ** 2
    dest = tmp_path / "out"
    with pytest.raises(GisPlannerError) as ei:
        safe_extract(many_small_zeros, dest, **limits)
    assert ei.value.code == "zip_too_large" and "zip bomb" in str(ei.value)
    assert not dest.exists() or not any(dest.rglob("*"))   # refused before writing a byte
    # the same archive under the old rules (no whole-archive ratio) would have been expanded
    old = dict(limits, max_total_ratio=float("inf"))
    assert sum(i.file_size for i in zipfile.ZipFile(many_small_zeros).infolist()) < old["max_total_bytes"]


def test_many_small_zeros_refused_by_import(many_small_zeros, tmp_ws, capsys):
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(many_small_zeros), "--lang", "en"])
    err = capsys.readouterr().err
    assert code == 2 and "zip bomb" in err


def test_small_compressible_archive_still_accepted(tmp_path):
    """A small archive compressing 1000× (e.g. a text file of spaces) is under the 64 MiB floor."""
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("a.txt", "b.txt", "c.txt"):
            zf.writestr(name, " " * 1024 ** 2)
    files = safe_extract(z, tmp_path / "out", **archive_limits(load_rules("import")))
    assert [f.name for f in files] == ["a.txt", "b.txt", "c.txt"]


_WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    from pathlib import Path
    from gis_planner import Workspace
    ws = Workspace(sys.argv[1])
    def files(tmp):
        con = sqlite3.connect(tmp)
        con.execute("BEGIN IMMEDIATE")
        con.execute("CREATE TABLE filler (x BLOB)")
        con.execute("INSERT INTO filler VALUES (zeroblob(2000000))")
        Path(sys.argv[2]).write_text("writing")   # tell the test we are in the middle of the write
        time.sleep(60)
    ws._transaction(files=files)
""")


def _start_writer(ws_root: Path, marker: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(ws_root), str(marker)], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the writer died before writing"
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.05)
    return proc


def test_killed_write_leaves_orphans_that_the_next_open_removes(tmp_ws, tmp_path):
    root = tmp_ws.root
    before = (root / "workspace.gpkg").read_bytes()
    proc = _start_writer(root, tmp_path / "marker")
    try:
        # while the writer lives (it holds the lock) its copy is not an orphan: opening keeps it
        Workspace(root)
        live = sorted(p.name for p in root.glob(".ws-*"))
        assert any(n.endswith(".gpkg") for n in live) and any(n.endswith("-journal") for n in live), live
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    orphans = sorted(root.glob(".ws-*"))
    assert orphans and sum(p.stat().st_size for p in orphans) > 100_000
    Workspace(root)   # the next open cleans up
    assert sorted(root.glob(".ws-*")) == []
    assert (root / "workspace.gpkg").read_bytes() == before   # the killed write changed nothing
    assert Workspace(root).info()["layers"] == []
