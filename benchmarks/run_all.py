"""Run every benchmark in one go (``make bench``); each writes its own results_*.md next to this file.

    .venv/bin/python benchmarks/run_all.py            # the standard sizes (tens of minutes)
    .venv/bin/python benchmarks/run_all.py --quick    # small sizes, a few minutes: a smoke run

Benchmarks compare against the obvious alternative in the same run and report ratios; absolute
seconds depend on the machine and its load. Reference tools that are not installed (PostGIS server,
gdaldem, GRASS r.watershed, Chromium) are skipped by the scripts with a note.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(quick: bool) -> list[list[str]]:
    if quick:
        return [
            ["balance_bench.py", "--sizes", "10000", "100000", "--methods", "ours", "overlay", "overlay_plain"],
            ["zoning_bench.py", "--sizes", "10000"],
            ["terrain_bench.py"],
            ["app_bench.py", "--no-browser"],
            ["scenario_bench.py"],
        ]
    return [
        ["balance_bench.py"],
        ["zoning_bench.py"],
        ["terrain_bench.py"],
        ["app_bench.py"],
        ["rollup_bench.py"],
        ["scenario_bench.py"],
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    args = ap.parse_args(argv)
    failed = []
    for cmd in plan(args.quick):
        script = HERE / cmd[0]
        if not script.exists():
            print(f"skip {cmd[0]} (not present)")
            continue
        print(f"\n=== {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *cmd[1:]])
        print(f"=== {cmd[0]}: exit {rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(cmd[0])
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
