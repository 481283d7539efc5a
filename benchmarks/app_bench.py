"""Responsiveness of the Streamlit app on the demo workspace (issue 8: first page < 3 s, interactions < 1 s).

Two measurements, in one run:

1. **Browser** (what a user waits for): ``streamlit run app.py`` on a free port, Debian chromium driven by
   Playwright. *First render* = from ``page.goto`` until the overview map shows its terrain basemap and the
   script run has finished (the server was started and warmed by nothing else). *Interactions* = switching
   the language, opening each page a second time, clicking a parcel on the restrictions map (→ check).
2. **Server** (script run time, no browser): ``streamlit.testing.v1.AppTest`` runs of each page, cold
   (first, caches empty) and warm (second), to show where time goes.

Usage::

    .venv/bin/python benchmarks/app_bench.py [--workspace PATH] [--out benchmarks/results_app.md]
    # only the first render, N fresh starts, optionally against an older checkout started in turns:
    git worktree add /tmp/old <commit>
    .venv/bin/python benchmarks/app_bench.py --first-render 5 --compare /tmp/old

(The workspace copy is shared by the runs, so from the second start on the disk caches of the terrain and
parcel images exist, as after any earlier ``make app``.)

It copies the workspace to a temporary folder first (the app may write caches/exports). Not a test: the
figures depend on the machine; the targets are printed next to them.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGES = ["overview", "data", "balance", "zoning", "hazards", "community", "scenarios", "report"]
CHROMIUM = "/usr/bin/chromium"
# a page is open when this is drawn (pages with a map: when the map shows its terrain)
READY = {"balance": "[data-testid='stDataFrame'] canvas", "data": "[data-testid='stFileUploader']"}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    """Until the server accepts connections on ``port``."""
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


def wait_idle(page, timeout=120_000) -> None:
    page.wait_for_selector("[data-testid='stMainBlockContainer']", timeout=timeout)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                           "!document.querySelector('[data-testid=\"stSpinner\"]')", timeout=timeout)


def wait_map(page, timeout=120_000) -> None:
    frame = page.frame_locator("iframe[title*='st_folium']").first
    frame.locator(".leaflet-image-layer").first.wait_for(timeout=timeout)


def browser_bench(ws: Path, plain: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    from gis_planner.i18n import t
    from gis_planner.ui.app import PAGES as PAGE_DEFS, PAGES_DIR, available

    port = free_port()
    env = dict(os.environ, GIS_PLANNER_WORKSPACE=str(ws))
    t_start = time.perf_counter()
    launch = ([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")] if plain else
              [sys.executable, "-m", "gis_planner.ui.serve"])
    proc = subprocess.Popen([*launch, "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        wait_port(port)
        out["server_start_s"] = time.perf_counter() - t_start
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = b.new_page(viewport={"width": 1440, "height": 950})
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("[data-testid='stSidebarNav']").first.wait_for(timeout=120_000)
            out["first_shell_s"] = time.perf_counter() - t0     # Streamlit's page and the sidebar
            page.get_by_text(t("app.overview.parcels", "ky")).first.wait_for(timeout=120_000)
            out["first_content_s"] = time.perf_counter() - t0   # the overview's numbers
            wait_idle(page)
            wait_map(page)
            out["first_render_s"] = time.perf_counter() - t0
            # a second visitor (new tab) on the running server: what opening the app costs once started
            page2 = b.new_page(viewport={"width": 1440, "height": 950})
            t0 = time.perf_counter()
            page2.goto(f"http://127.0.0.1:{port}/")
            wait_idle(page2)
            wait_map(page2)
            out["second_visit_s"] = time.perf_counter() - t0
            page2.close()
            # language switch
            t0 = time.perf_counter()
            page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
            page.get_by_role("option", name=t("app.lang.ru", "ru")).click()
            page.get_by_text(t("app.overview.parcels", "ru")).first.wait_for()
            wait_idle(page)
            out["switch_language_s"] = time.perf_counter() - t0
            slugs = [(s, ti) for s, ti, _i, req in PAGE_DEFS if (PAGES_DIR / f"{s}.py").exists() and available(req)]
            cold, warm = {}, {}
            for rnd, store in (("cold", cold), ("warm", warm)):
                for slug, title in slugs:
                    t0 = time.perf_counter()
                    page.get_by_role("link", name=t(title, "ru")).first.click()
                    if slug == "overview":   # its heading is the municipality's name
                        page.get_by_text(t("app.overview.parcels", "ru")).first.wait_for(timeout=120_000)
                    else:
                        page.get_by_role("heading", name=t(title, "ru")).first.wait_for(timeout=120_000)
                    wait_idle(page)
                    if slug in ("overview", "zoning", "hazards"):   # (community: no map before a session exists)
                        wait_map(page)
                    if slug in READY:   # the page's main element drawn, not only the script finished
                        page.locator(READY[slug]).first.wait_for(timeout=120_000)
                    store[slug] = time.perf_counter() - t0
            out["page_first_open_s"] = cold
            out["page_reopen_s"] = warm
            # click a parcel on the restrictions map → the check appears
            page.get_by_role("link", name=t("app.page.zoning", "ru")).first.click()
            wait_idle(page)
            wait_map(page)
            frame = page.frame_locator("iframe[title*='st_folium']").first
            frame.locator(".leaflet-container").scroll_into_view_if_needed()
            box = frame.locator(".leaflet-container").bounding_box()
            t0 = time.perf_counter()
            page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
            page.get_by_text(t("app.zoning.pick", "ru")).wait_for(state="detached", timeout=60_000)
            wait_idle(page)
            out["click_parcel_check_s"] = time.perf_counter() - t0
            b.close()
    finally:
        proc.terminate()
        proc.wait(20)
    return out


def first_render_series(ws: Path, checkouts: list[Path], n: int) -> dict:
    """``n`` fresh starts of each checkout's launcher, taken in turns (new server, new browser each time):
    seconds to port open, to the sidebar and to the first render. ``checkouts`` are repository folders
    (this one, and e.g. an older commit from ``git worktree add``) run with this Python."""
    from playwright.sync_api import sync_playwright

    out: dict = {str(c): [] for c in checkouts}
    with sync_playwright() as pw:
        for _ in range(n):
            for co in checkouts:
                port = free_port()
                t_start = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-m", "gis_planner.ui.serve", "--server.port", str(port),
                                         "--server.address", "127.0.0.1", "--server.headless", "true"],
                                        cwd=co, env=dict(os.environ, GIS_PLANNER_WORKSPACE=str(ws)),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    wait_port(port)
                    port_s = time.perf_counter() - t_start
                    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    page = b.new_page(viewport={"width": 1440, "height": 950})
                    t0 = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.locator("[data-testid='stSidebarNav']").first.wait_for(timeout=120_000)
                    side_s = time.perf_counter() - t0
                    wait_idle(page)
                    wait_map(page)
                    out[str(co)].append((port_s, side_s, time.perf_counter() - t0))
                    b.close()
                finally:
                    proc.terminate()
                    proc.wait(20)
    return out


def server_bench(ws: Path) -> dict:
    from streamlit.testing.v1 import AppTest

    res = {}
    for rnd in ("cold", "warm"):
        for slug in PAGES:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.session_state["ws_path"] = str(ws)
            at.session_state["lang"] = "ky"
            at.run()
            t0 = time.perf_counter()
            if slug == "overview":
                at.run()
            else:
                at.switch_page(f"gis_planner/ui/pages/{slug}.py").run()
            res.setdefault(slug, {})[rnd] = time.perf_counter() - t0
    return res


def main() -> None:
    from gis_planner import settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", default=str(settings.demo_workspace()))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_app.md"))
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--first-render", type=int, default=0, metavar="N",
                    help="only measure the first render N times per checkout (fresh server and browser each)")
    ap.add_argument("--compare", action="append", default=[], metavar="CHECKOUT",
                    help="with --first-render: also this repository folder (e.g. a git worktree of an older "
                         "commit), started in turns with this one")
    ap.add_argument("--plain", action="store_true",
                    help="start with 'streamlit run app.py' instead of 'python -m gis_planner.ui.serve'")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gp-appbench-")) / "ws"
    shutil.copytree(args.workspace, tmp, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock", "exports"))
    if args.first_render:
        try:
            series = first_render_series(tmp, [ROOT, *map(Path, args.compare)], args.first_render)
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
        lines = ["| checkout | port open s (median) | sidebar s (median) | first render s: median (range) |",
                 "|---|---|---|---|"]
        for co, runs in series.items():
            med = [statistics.median(r[k] for r in runs) for k in range(3)]
            lines.append(f"| {co} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} "
                         f"({min(r[2] for r in runs):.2f}–{max(r[2] for r in runs):.2f}) |")
        print("\n".join(lines))
        return
    try:
        br = None if args.no_browser else browser_bench(tmp, args.plain)
        sv = server_bench(tmp)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
    lines = ["# App responsiveness (benchmarks/app_bench.py)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}; "
             f"workspace: demo (copy); started with "
             f"{'streamlit run app.py' if args.plain else 'python -m gis_planner.ui.serve'}. Load average at the end: "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.", ""]
    if br:
        inter = [br["switch_language_s"], br["click_parcel_check_s"], *br["page_reopen_s"].values()]
        lines += ["## Browser (headless chromium)", "", "| measure | seconds | target |", "|---|---|---|",
                  f"| server start (port open) | {br['server_start_s']:.2f} | |",
                  f"| first page: sidebar shown | {br['first_shell_s']:.2f} | |",
                  f"| first page: overview figures shown | {br['first_content_s']:.2f} | |",
                  f"| first render (overview + terrain map) | {br['first_render_s']:.2f} | < 3 |",
                  f"| another visitor opens the app (server warm) | {br['second_visit_s']:.2f} | < 3 |",
                  f"| switch language | {br['switch_language_s']:.2f} | < 1 |",
                  f"| click a parcel → check | {br['click_parcel_check_s']:.2f} | < 1 |"]
        for slug, v in br["page_reopen_s"].items():
            lines.append(f"| reopen page {slug} (first open {br['page_first_open_s'][slug]:.2f}) | {v:.2f} | < 1 |")
        lines += ["", f"Median interaction: {statistics.median(inter):.2f} s; worst: {max(inter):.2f} s.", ""]
    lines += ["## Server script runs (AppTest, no browser)", "", "| page | cold s | warm s |", "|---|---|---|"]
    for slug, v in sv.items():
        lines.append(f"| {slug} | {v['cold']:.2f} | {v['warm']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
