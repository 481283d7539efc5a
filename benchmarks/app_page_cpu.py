"""CPU seconds of whole app reruns (Streamlit ``AppTest``, no browser) per checkout: the restrictions page
opened, rerun, and the intended use changed to four uses in turn; a language switch on the overview; the
community page opened, a drawing (the map's answer, see ``FakeMap``) and its save, twice.

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
    out.update(community(ws))
    return out


class FakeMap:
    """The browser's map in AppTest: ``maps.show`` does all its work and answers what streamlit-folium would,
    the shapes drawn on this map instance; a new instance (another cache key: the browser rebuilds the whole
    map, as main does after a save) starts without drawings. The same in every checkout."""

    def __init__(self):
        from gis_planner.ui import maps

        self.orig = maps.show
        self.ident = None
        self.drawn: list = []
        self.active = None
        maps.show = self.show

    def draw(self, geom: dict) -> None:
        f = {"type": "Feature", "properties": {}, "geometry": geom}
        self.drawn.append(f)
        self.active = f

    def show(self, m, key, returned_objects=None, height=520, cache_key=None, overlay_js=None, **kw):
        self.orig(m, key, returned_objects, height, cache_key, overlay_js, **kw)   # (highlight, click_now)
        ident = (key, repr(cache_key))
        if ident != self.ident:
            if self.ident is not None:
                self.drawn, self.active = [], None
            self.ident = ident
        return {"all_drawings": list(self.drawn) or None, "last_active_drawing": self.active,
                "center": {"lat": 42.0, "lng": 76.0}, "zoom": 15}


def community(ws: str) -> dict:
    """The community page on a private copy of ``ws`` (with its community store): opened after the overview,
    a square drawn (the rerun that shows the form), saved; a point drawn and saved right after."""
    import shutil
    import tempfile
    import time

    import geopandas as gpd
    from streamlit.testing.v1 import AppTest

    from gis_planner import Workspace
    from gis_planner.community import open_store
    from gis_planner.i18n import t

    tmp = Path(tempfile.mkdtemp(prefix="gp-pagecpu-")) / "ws"
    shutil.copytree(ws, tmp, ignore=shutil.ignore_patterns(".*lock", "exports"))
    w = Workspace(tmp)
    c = gpd.GeoSeries([w.read_layer("settlements").geometry.iloc[0].representative_point()],
                      crs=w.crs).to_crs(4326).iloc[0]
    square = {"type": "Polygon", "coordinates": [[[c.x, c.y], [c.x + 0.001, c.y], [c.x + 0.001, c.y + 0.001],
                                                  [c.x, c.y + 0.001], [c.x, c.y]]]}
    point = {"type": "Point", "coordinates": [c.x + 0.002, c.y]}
    fake = FakeMap()
    out: dict = {}

    def run(at, name=None) -> None:
        t0, w0 = time.process_time(), time.time()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if name:
            out[name] = time.process_time() - t0
            out[name + "_wall"] = time.time() - w0

    at = AppTest.from_file(str(Path.cwd() / "app.py"), default_timeout=300)
    at.session_state["ws_path"] = str(tmp)
    at.session_state["lang"] = "ky"
    run(at)
    at.switch_page("gis_planner/ui/pages/community.py")
    run(at, "open_community")
    run(at, "rerun_community")
    at.text_input(key="community_author").set_value("T.T.")
    run(at)
    sid = at.selectbox(key="community_session").value
    n0 = len(open_store(w).features(session_id=sid))
    label = t("app.community.title", "ky")
    for i, geom in enumerate((square, point)):
        fake.draw(geom)
        run(at, f"draw_{i + 1}")
        [x for x in at.text_input if x.label == label][0].set_value(f"bench {i + 1}")
        [b for b in at.button if b.label == t("app.community.save", "ky")][0].click()
        run(at, f"save_{i + 1}")
    assert len(open_store(w).features(session_id=sid)) == n0 + 2, "a save was lost"
    shutil.rmtree(tmp.parent, ignore_errors=True)
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
