"""CPU seconds of whole app reruns (Streamlit ``AppTest``, no browser) per checkout: the restrictions page
opened, rerun, and the intended use changed to four uses in turn; a language switch on the overview.

Issue 20: what the server computes for "change the intended use" and "language switch", without the
browser and its load. Each checkout runs in a fresh process (``cwd`` = the checkout, warm-up off), runs
alternate between checkouts; medians are printed with ``os.getloadavg()``::

    python benchmarks/app_page_cpu.py --runs 3 --compare /tmp/gp-prev
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USES = ("industry", "commercial", "grazing", "tourism_facility")


def one(ws: str) -> dict:
    import logging
    import time

    from streamlit.testing.v1 import AppTest

    logging.disable(logging.WARNING)

    def run(at) -> float:
        t = time.process_time()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return time.process_time() - t

    out = {}
    at = AppTest.from_file(str(Path.cwd() / "app.py"), default_timeout=300)
    at.session_state["ws_path"] = ws
    at.session_state["lang"] = "ky"
    out["overview_first"] = run(at)
    at.session_state["lang"] = "ru"
    out["language_switch"] = run(at)
    at.switch_page("gis_planner/ui/pages/zoning.py")
    out["open_zoning"] = run(at)
    out["rerun_zoning"] = run(at)
    changes = []
    for use in USES:
        at.selectbox(key="zoning_use").set_value(use)
        changes.append(run(at))
    out["change_use_median"] = statistics.median(changes)
    out["change_use_max"] = max(changes)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", default=str(ROOT / "data" / "cadastre" / "demo"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compare", help="another checkout (e.g. /tmp/gp-prev), run in turns")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.workspace)))
        return
    checkouts = [ROOT] + ([Path(a.compare).resolve()] if a.compare else [])
    print("load average before:", ", ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    res: dict = {str(c): [] for c in checkouts}
    env = dict(os.environ, GIS_PLANNER_APP_WARM="0")
    for i in range(a.runs):
        for c in checkouts:
            p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", "--workspace",
                                str(Path(a.workspace).resolve())], cwd=c, env={**env, "PYTHONPATH": str(c)},
                               capture_output=True, text=True, check=True)
            res[str(c)].append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"run {i + 1} {c}: {res[str(c)][-1]}", flush=True)
    print("load average after:", ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    keys = list(res[str(ROOT)][0])
    print("\n| CPU s (median of %d) | " % a.runs + " | ".join(Path(c).name for c in res) + " |")
    print("|---|" + "---|" * len(res))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{statistics.median(r[k] for r in rs):.2f}" for rs in res.values()) + " |")


if __name__ == "__main__":
    main()
