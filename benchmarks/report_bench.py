"""Time to write the demo's sections 6 and 7 as DOCX + HTML + PDF (issue 19, item 6: ≤ 20 s).

Two measurements of each checkout, in alternating runs (new, base, new, base …) so that both see the same
machine load:

* **whole process**: ``python -c "build_report(...)"`` from interpreter start to exit, as the CLI runs it;
* **in-process**: the same call timed inside a fresh interpreter after the imports (the part the app
  waits for when its page asks for a report).

For each run it records wall seconds and CPU seconds: the CPU of the Python process plus that of the
processes it started and waited for (LibreOffice), from ``getrusage``, and the peak resident memory (the larger of
the Python process and its largest child). CPU seconds tell more than wall
seconds on a loaded machine: wall time there includes waiting for a core. The 1-minute load average is
printed before and after each run.

Usage::

    git worktree add /tmp/report_base 1b19dd6          # the checkout to compare with
    .venv/bin/python benchmarks/report_bench.py --base /tmp/report_base --runs 3 [--scenario baseline]
    .venv/bin/python benchmarks/report_bench.py --runs 5  # this checkout alone (on a quiet machine: the 20 s target)

Both checkouts read the same demo workspace (``data/cadastre/demo`` of this checkout, built by
``make demo``); each run writes into a fresh temporary folder. Not a test: the figures depend on the
machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the child: imports, then build_report; prints its own in-process wall/CPU as JSON
CHILD = r"""
import json, os, resource, sys, time
t_start = time.perf_counter()
from gis_planner import Workspace
from gis_planner.report import build_report
ws = Workspace(sys.argv[1])
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
t0, c0 = time.perf_counter(), cpu()
out = build_report(ws, sys.argv[2], lang=sys.argv[3], formats=("docx", "html", "pdf"),
                   scenario=sys.argv[4] or None)
t1, c1 = time.perf_counter(), cpu()
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0, "imports": t0 - t_start, "peak_mb": rss / 1024,
                  "files": sorted(k for k in ("docx", "html", "pdf") if out.get(k)), "notes": out.get("notes")}))
"""


def run_once(tree: Path, workspace: Path, lang: str, scenario: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="report_bench_"))
    env = dict(os.environ, PYTHONPATH=str(tree), MPLBACKEND="Agg")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(workspace), str(out), lang, scenario or ""],
                          cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: report failed\n{proc.stderr[-3000:]}")
    inner = json.loads(proc.stdout.strip().splitlines()[-1])
    if inner["files"] != ["docx", "html", "pdf"]:
        raise SystemExit(f"{tree}: not all three files were written: {inner}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    pages = _pages(out / f"sedp_sections_{lang}.pdf")
    subprocess.run(["rm", "-rf", str(out)], check=False)
    return {"process_wall": wall, "process_cpu": cpu, "inproc_wall": inner["wall"], "inproc_cpu": inner["cpu"],
            "imports": inner["imports"], "peak_mb": inner["peak_mb"], "load_before": load0, "load_after": os.getloadavg()[0], "pages": pages}


def _pages(pdf: Path) -> int | None:
    try:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in info.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return None


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, help="checkout to compare with (e.g. a worktree of 1b19dd6)")
    ap.add_argument("--new", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workspace", type=Path, default=ROOT / "data" / "cadastre" / "demo")
    ap.add_argument("--lang", default="ky")
    ap.add_argument("--scenario", default="", help="growth scenario for 6.6 (default: none, as the CLI)")
    ap.add_argument("--warm", type=int, default=1, help="untimed runs of each checkout first (disk caches, "
                                                       "LibreOffice's cached profile)")
    args = ap.parse_args(argv)
    if not (args.workspace / "workspace.gpkg").exists():
        raise SystemExit(f"no workspace at {args.workspace}: run `make demo`")
    trees = [("new", args.new.resolve())] + ([("base", args.base.resolve())] if args.base else [])
    print(f"# report_bench: DOCX + HTML + PDF of {args.workspace.name} ({args.lang}"
          f"{', scenario ' + args.scenario if args.scenario else ''}); {platform.node()}, {os.cpu_count()} CPUs")
    for name, tree in trees:
        print(f"#   {name}: {tree} @ {_commit(tree)}")
    for _ in range(args.warm):
        for name, tree in trees:
            run_once(tree, args.workspace, args.lang, args.scenario)
    results: dict = {name: [] for name, _ in trees}
    for i in range(args.runs):
        for name, tree in (trees if i % 2 == 0 else trees[::-1]):     # alternate which goes first
            r = run_once(tree, args.workspace, args.lang, args.scenario)
            results[name].append(r)
            print(f"run {i + 1} {name:4s}: process {r['process_wall']:6.1f} s wall {r['process_cpu']:6.1f} s CPU | "
                  f"in-process {r['inproc_wall']:6.1f} s wall {r['inproc_cpu']:6.1f} s CPU | imports "
                  f"{r['imports']:4.1f} s | peak {r['peak_mb']:.0f} MB | load {r['load_before']:.1f} -> {r['load_after']:.1f} | "
                  f"{r['pages']} pages", flush=True)
    print("\n| checkout | process wall (s) | process CPU (s) | in-process wall (s) | in-process CPU (s) | peak MB | load |")
    print("|---|---|---|---|---|---|---|")
    med = {}
    for name, _ in trees:
        rs = results[name]
        med[name] = {k: statistics.median(r[k] for r in rs)
                     for k in ("process_wall", "process_cpu", "inproc_wall", "inproc_cpu", "peak_mb")}
        loads = [r["load_before"] for r in rs] + [r["load_after"] for r in rs]
        print(f"| {name} ({_commit(dict(trees)[name])}) | {med[name]['process_wall']:.1f} | "
              f"{med[name]['process_cpu']:.1f} | {med[name]['inproc_wall']:.1f} | {med[name]['inproc_cpu']:.1f} | "
              f"{med[name]['peak_mb']:.0f} | "
              f"{min(loads):.1f}–{max(loads):.1f} |")
    if "base" in med:
        for k in ("process_wall", "process_cpu", "inproc_wall", "inproc_cpu"):
            print(f"# {k}: base / new = {med['base'][k] / med['new'][k]:.2f}x")
    print(f"# target: whole process ≤ 20 s wall on a quiet machine; this run: median "
          f"{med['new']['process_wall']:.1f} s wall, {med['new']['process_cpu']:.1f} s CPU "
          f"(medians of {args.runs}; wall includes waiting for a core when the load is above {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
