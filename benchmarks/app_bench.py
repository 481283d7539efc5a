"""What a user of the app waits for, measured in a real browser (issue 20, item 1).

Debian chromium (``/usr/bin/chromium``) driven by Playwright, as ``tests/e2e`` does, against the app started
with ``python -m gis_planner.ui.serve`` (the launcher of ``make app``) on a fresh copy of the demo workspace.
Every figure runs from the navigation or the click until **the page has stopped changing**:

* no Streamlit "running" state (status widget, spinner, stale elements),
* no pending network request (map component, Leaflet, tiles, images, downloads),
* every ``<img>`` of every frame loaded (map tiles, terrain and parcel images),
* no DOM change in any frame (a MutationObserver in each) for ``--quiet-ms`` (default 1000 ms),

and the figure is the moment of the **last** change (DOM mutation or network response), not the moment the
quiet window ended. A step also waits for its own evidence (the verdict shown, the download arrived …).

The steps of one run (one fresh server and browser, in this order):

=================  ==================================================================================
server_start       process start → first full page (overview with its map); the browser goes as soon
                   as the port accepts
page_load          the server running: a new tab opens the app → overview map drawn
language           ky → ru in the sidebar (overview page)
open_balance       sidebar link → the balance tables drawn
xlsx               first click on the balance XLSX download → file received
map_click          a click in the restrictions map → the verdict (zoning page)
change_use         another intended use in the restrictions page → its map
community          sidebar link → the community page
save_feature       a drawn polygon's "save" → "saved" shown
run_scenario       "run" on the scenarios page (baseline)
compare_four       the four example scenarios compared
report             DOCX + HTML (+ PDF with LibreOffice) generated → download buttons
=================  ==================================================================================

CPU seconds per step are those of the server process (all its threads) and of the browser processes,
read from ``/proc`` around each step: on a shared machine wall-clock figures carry the other jobs' load,
CPU seconds do not (much). ``os.getloadavg()`` is printed before and after.

With ``--compare DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/gp-prev 1b19dd6``)
runs alternate between this checkout and that one (A B A B …) and the table shows both medians.

Usage::

    git worktree add /tmp/gp-prev 1b19dd6
    .venv/bin/python benchmarks/app_bench.py --runs 3 --compare /tmp/gp-prev       # full, ~15 min
    .venv/bin/python benchmarks/app_bench.py --quick                              # one run, no report
    .venv/bin/python benchmarks/app_bench.py --cpu 3 --compare /tmp/gp-prev --out /tmp/cpu.md   # library CPU s

Not a test: the figures depend on the machine; the targets of issue 20 are printed next to them.
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
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}
# (step, what it is, target median s) — issue 20: start ≤ 4 s, page load ≤ 1.5 s, clicks ≤ 1 s, scenario ≤ 5 s,
# compare of four ≤ 8 s, report ≤ 20 s
STEPS = [("server_start", "server start → first full page", 4.0),
         ("page_load", "page load → overview map", 1.5),
         ("language", "language switch", 1.0),
         ("open_balance", "open the balance", 1.0),
         ("xlsx", "first balance XLSX download", 1.0),
         ("map_click", "map click → verdict", 1.0),
         ("change_use", "change the intended use", 1.0),
         ("community", "open the community page", 1.0),
         ("save_feature", "save a drawn feature", 1.0),
         ("run_scenario", "run a scenario", 5.0),
         ("compare_four", "compare four scenarios", 8.0),
         ("report", "report DOCX+HTML(+PDF)", 20.0)]
QUICK_SKIP = {"report"}

# injected into every frame (the page, the map component's iframe …): the time of the last DOM change
OBSERVER_JS = """
(() => {
  if (window.__gpb) return;
  window.__gpb = {last: Date.now()};
  // a change only a screen reader gets (a visually hidden live region: the select boxes' "3 options
  // available." announcement, emptied up to ~1 s after the box loses focus) is no change a user waits for
  const unseen = (m) => {
    const e = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    const live = e && e.closest ? e.closest('[aria-live]') : null;
    for (let a = live; a && a !== document.body; a = a.parentElement) {   // inside a box of ≤ 1 px that clips
      const r = a.getBoundingClientRect();
      if ((r.width <= 1 || r.height <= 1) && getComputedStyle(a).overflow === 'hidden') return true;
    }
    return false;
  };
  const mark = (muts) => {
    if (!Array.isArray(muts) || !muts.every(unseen)) window.__gpb.last = Date.now();
  };
  const start = () => new MutationObserver(mark).observe(document.documentElement || document,
      {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
  window.addEventListener('load', mark);
})();
"""
FRAME_STATE_JS = """
() => ({last: (window.__gpb || {last: 0}).last,
        images: Array.from(document.images).every(i => i.complete),
        running: !!document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"], '
                                          + '[data-stale="true"], [data-testid="stSkeleton"]')})
"""


class Settle:
    """Tracks the network of a browser context and tells when its pages stopped changing."""

    def __init__(self, ctx):
        self.pending: set = set()
        self.last_net = 0.0
        ctx.add_init_script(OBSERVER_JS)
        ctx.on("request", self._start)
        ctx.on("requestfinished", self._end)
        ctx.on("requestfailed", self._end)

    def _start(self, req) -> None:
        if not req.url.startswith(("data:", "blob:")):
            self.pending.add(req)

    def _end(self, req) -> None:
        self.pending.discard(req)
        self.last_net = time.time()

    def wait(self, page, t0: float, quiet_ms: int = 1000, timeout_s: float = 240.0, ready=None) -> float:
        """Seconds from ``t0`` (``time.time()``) to the last change of ``page``, once it has been quiet for
        ``quiet_ms`` (and ``ready(page)`` is true, if given)."""
        deadline = time.time() + timeout_s
        why = "ready"
        while True:
            time.sleep(0.1)
            now = time.time()
            if now > deadline:
                raise TimeoutError(f"the page did not settle in {timeout_s:.0f} s (waiting for: {why})")
            if ready is not None and not ready(page):
                why = "ready"
                continue
            states = []
            try:
                for fr in page.frames:
                    try:
                        states.append(fr.evaluate(FRAME_STATE_JS))
                    except Exception:  # noqa: BLE001 - a frame navigating or detached: not settled
                        states.append({"last": now * 1000, "images": False, "running": True})
            except Exception:  # noqa: BLE001
                continue
            if self.pending or any(s["running"] or not s["images"] for s in states):
                why = (f"requests {sorted(r.url for r in self.pending)[:3]}" if self.pending else
                       f"frames running/images {[(f.url[-40:], s['running'], s['images']) for f, s in zip(page.frames, states)]}")
                continue
            last = max([self.last_net, *(s["last"] / 1000 for s in states)])
            if (now - last) * 1000 >= quiet_ms:
                return max(0.0, last - t0)
            why = f"quiet (last change {now - last:.1f} s ago, in {[f.url[-40:] for f, s in zip(page.frames, states) if s['last'] / 1000 == last] or 'network'})"


class Cpu:
    """CPU seconds of the server process and of the browser's processes (from /proc, via psutil)."""

    def __init__(self, server_pid: int):
        import psutil

        self.psutil = psutil
        self.server = psutil.Process(server_pid)

    def _sum(self, procs) -> float:
        tot = 0.0
        for p in procs:
            try:
                c = p.cpu_times()
                tot += c.user + c.system
            except self.psutil.Error:
                pass
        return tot

    def read(self) -> tuple[float, float]:
        me = self.psutil.Process()
        try:
            kids = me.children(recursive=True)
        except self.psutil.Error:
            kids = []
        browser = [p for p in kids if p.pid != self.server.pid and "chrom" in self._name(p)]
        return self._sum([self.server]), self._sum(browser)

    def _name(self, p) -> str:
        try:
            return (p.name() or "").lower()
        except self.psutil.Error:   # a browser process that ended meanwhile (it failed a whole run)
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, timeout_s: float = 120.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("the server did not open its port")


def _has(sel: str, frame_sel: str | None = None):
    """A ``ready`` test: the selector is in the page (or in the map frame)."""
    def ready(page) -> bool:
        try:
            if frame_sel:
                return page.frame_locator(frame_sel).first.locator(sel).count() > 0
            return page.locator(sel).count() > 0
        except Exception:  # noqa: BLE001
            return False
    return ready


def _all(*tests):
    return lambda page: all(f(page) for f in tests)


MAP_FRAME = "iframe[title*='st_folium']"
MAP_READY = _has(".leaflet-container .leaflet-image-layer", MAP_FRAME)


def one_run(checkout: Path, src_ws: Path, steps: list[str], quiet_ms: int, log, out: dict,
            step_timeout: float = 240.0) -> dict:
    """One fresh server of ``checkout`` on a fresh workspace copy, one browser: every step's seconds and CPU."""
    from playwright.sync_api import sync_playwright

    from gis_planner.i18n import t

    tmp = Path(tempfile.mkdtemp(prefix="gp-appbench-"))
    ws = tmp / "ws"
    shutil.copytree(src_ws, ws, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock", "exports"))
    port = free_port()
    env = dict(os.environ, GIS_PLANNER_WORKSPACE=str(ws), GIS_PLANNER_LANG="ky", PYTHONPATH=str(checkout))
    env.pop("GIS_PLANNER_DATABASE_URL", None)
    t_start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "gis_planner.ui.serve", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"],
                            cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    cpu = Cpu(proc.pid)
    url = f"http://127.0.0.1:{port}"
    failed = out.setdefault("failed", [])
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ctx = b.new_context(viewport=VIEWPORT, locale="ru-RU", accept_downloads=True)
            st = Settle(ctx)
            page = ctx.new_page()

            def measure(name, action, ready=None, wait=True):
                """Run ``action`` (navigation or click) and time it until the page settled."""
                if name not in steps:
                    action()
                    if wait:
                        st.wait(page, time.time(), quiet_ms, ready=ready)
                    return
                c0 = cpu.read()
                t0 = time.time()
                try:
                    action()
                    secs = st.wait(page, t0, quiet_ms, ready=ready, timeout_s=step_timeout) if wait \
                        else time.time() - t0
                except Exception as exc:  # noqa: BLE001 - said in the table; the next steps navigate afresh
                    failed.append(name)
                    print(f"  {name}: FAILED {str(exc)[:300]!r}", flush=True)
                    page.screenshot(path=str(Path(tempfile.gettempdir()) / f"gp-appbench-{name}.png"))
                    return
                c1 = cpu.read()
                out[name] = {"s": secs, "server_cpu": c1[0] - c0[0], "browser_cpu": c1[1] - c0[1]}
                print(f"  {name}: {secs:.2f} s, server CPU {c1[0] - c0[0]:.2f} s", flush=True)

            def nav(slug):
                page.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").first.click()

            # server start -> first full page (the browser goes as soon as the port accepts)
            c0 = (0.0, 0.0)
            wait_port(port, proc)
            page.goto(url + "/")
            secs = st.wait(page, t_start, quiet_ms, ready=MAP_READY)
            c1 = cpu.read()
            out["server_start"] = {"s": secs, "server_cpu": c1[0] - c0[0], "browser_cpu": c1[1] - c0[1]}
            print(f"  server_start: {secs:.2f} s", flush=True)

            def second_tab():
                p2 = ctx.new_page()
                t0 = time.time()
                c0 = cpu.read()
                p2.goto(url + "/")
                secs = st.wait(p2, t0, quiet_ms, ready=MAP_READY)
                c1 = cpu.read()
                p2.close()
                return {"s": secs, "server_cpu": c1[0] - c0[0], "browser_cpu": c1[1] - c0[1]}
            if "page_load" in steps:
                out["page_load"] = second_tab()
                print(f"  page_load: {out['page_load']['s']:.2f} s", flush=True)

            def lang_ru():
                page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
                page.get_by_role("option", name=t("app.lang.ru", "ru")).click()
            measure("language", lang_ru, ready=_all(_has(f"text={t('app.page.overview', 'ru')}"), MAP_READY))

            measure("open_balance", lambda: nav("balance"), ready=_has("[data-testid='stDataFrame'] canvas"))

            def xlsx():
                with page.expect_download(timeout=300_000) as dl:
                    page.locator(".st-key-dl_xlsx button").first.click()
                dl.value.path()   # until the file has arrived
            measure("xlsx", xlsx, wait=False)

            measure(None, lambda: nav("zoning"), ready=MAP_READY)
            pick = t("app.zoning.pick", "ru")

            def click_map():
                frame = page.frame_locator(MAP_FRAME).first
                box = frame.locator(".leaflet-container").bounding_box()
                page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
            measure("map_click", click_map, ready=lambda p: p.get_by_text(pick).count() == 0)

            def change_use():
                page.locator(".st-key-zoning_use [data-testid='stSelectbox']").first.click()
                page.get_by_role("option").nth(3).click()
            measure("change_use", change_use, ready=MAP_READY)

            measure("community", lambda: nav("community"),
                    ready=_has(f"h1:has-text('{t('app.page.community', 'ru')}')"))
            if "save_feature" in steps:
                try:
                    save_feature(page, st, quiet_ms, measure, t, ws)
                except Exception as exc:  # noqa: BLE001 - drawing or saving failed: said, the run goes on
                    failed.append("save_feature")
                    out.pop("save_feature", None)   # a save not in the store is no timing
                    print(f"  save_feature: FAILED {str(exc)[:300]!r}", flush=True)

            measure(None, lambda: nav("scenarios"))
            measure("run_scenario", lambda: page.locator(".st-key-scn_run button").first.click(),
                    ready=_all(_has("[data-testid='stMetric']"), MAP_READY))
            if "compare_four" in steps:
                page.get_by_role("tab", name=t("app.scenarios.tab_compare", "ru")).click()
                st.wait(page, time.time(), quiet_ms)
                box = page.locator(".st-key-scn_cmp [data-testid='stMultiSelect']").first
                try:
                    for _ in range(8):   # (bounded: a selector that finds no tag must not loop for ever)
                        if box.locator("[data-baseweb='tag']").count() >= 4:
                            break
                        box.locator("input").first.click()
                        page.locator("[role='option']").first.click(timeout=60_000)
                        page.keyboard.press("Escape")
                        st.wait(page, time.time(), 300)
                except Exception as exc:  # noqa: BLE001
                    failed.append("compare_four")
                    print(f"  compare_four: FAILED choosing four {str(exc)[:300]!r}", flush=True)
                measure("compare_four", lambda: page.locator(".st-key-scn_cmp_run button").first.click(),
                        ready=lambda p: p.locator(MAP_FRAME).count() >= 5)   # the run's map + four
            if "report" in steps:
                measure(None, lambda: nav("report"))
                measure("report", lambda: page.locator(".st-key-report_go button").first.click(),
                        ready=_has("[class*='st-key-report_dl_']"))
            b.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _stored(ws: Path, title: str) -> bool:
    """Whether the community store of ``ws`` holds a feature titled ``title`` (read-only look)."""
    import sqlite3

    db = ws / "community.gpkg"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            tables = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")]
            for tb in tables:
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{tb}")')]
                if "title" in cols and con.execute(f'SELECT 1 FROM "{tb}" WHERE title = ?', (title,)).fetchone():
                    return True
    except sqlite3.Error:
        return False
    return False


def save_feature(page, st: Settle, quiet_ms: int, measure, t, ws: Path) -> None:
    """Create a session if needed, draw a square on the community map (not timed), time the save: until the
    feature is in the community store (read from its file) *and* the page shows it saved ("saved" note, or
    the new-feature form gone because the page reran after the save) and settled. A "saved" note without the
    feature in the store fails the step (a lost edit is never timed as a save)."""
    form = page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name=t("app.community.create_session", "ru")))
    if form.count():
        form.locator("[data-testid='stSelectbox']").filter(has_text=t("app.community.village", "ru")).first.click()
        page.get_by_role("option").nth(1).click()
        form.locator("[data-testid='stSelectbox']").filter(has_text=t("app.community.age_band", "ru")).first.click()
        page.get_by_role("option", name="18-35").click()
        page.get_by_role("button", name=t("app.community.create_session", "ru")).click()
        st.wait(page, time.time(), quiet_ms)
    page.get_by_role("textbox", name=t("app.community.author", "ru"), exact=True).fill("Т.Т.")
    page.keyboard.press("Enter")
    st.wait(page, time.time(), quiet_ms, ready=_has(".leaflet-draw-draw-polygon", MAP_FRAME))
    title = page.get_by_role("textbox", name=t("app.community.title", "ru"), exact=True)
    for attempt in range(3):   # a loaded browser can drop a click of the drawing: drawn again, said
        _draw_square(page)
        try:
            title.wait_for(timeout=60_000)
            break
        except Exception:  # noqa: BLE001 - the form did not come: draw again
            print(f"  save_feature: the drawing did not open the form (attempt {attempt + 1})", flush=True)
            page.keyboard.press("Escape")
    else:
        raise TimeoutError("the drawn square did not open the new-feature form in 3 attempts")
    title.fill("bench")
    st.wait(page, time.time(), quiet_ms)
    if _stored(ws, "bench"):
        raise RuntimeError("a feature titled 'bench' is in the store before the save")
    saved = t("app.community.saved", "ru")

    def done(p) -> bool:
        return _stored(ws, "bench") and (p.get_by_text(saved).count() > 0 or title.count() == 0)

    measure("save_feature", lambda: page.get_by_role("button", name=t("app.community.save", "ru")).click(),
            ready=done)
    if not _stored(ws, "bench"):
        raise RuntimeError("the save was clicked but the feature is not in the community store")


def _draw_square(page) -> None:
    """A square in the middle of the community map with Leaflet.draw's polygon tool, closed with the
    tool's "finish" action (not a click on the first vertex, which a late click can miss)."""
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator(".leaflet-container").scroll_into_view_if_needed()
    frame.locator(".leaflet-draw-draw-polygon").click()
    box = frame.locator(".leaflet-container").bounding_box()
    pts = [(box["x"] + box["width"] * a, box["y"] + box["height"] * b)
           for a, b in zip([0.40, 0.60, 0.58, 0.42], [0.40, 0.40, 0.60, 0.60])]
    for x, y in pts:
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
    finish = frame.locator(".leaflet-draw-actions:visible li:first-child a")
    if finish.count():
        finish.first.click()
    else:
        page.mouse.click(*pts[0])


def table(results: dict[str, list[dict]], steps: list[str]) -> list[str]:
    """Markdown: per step the median seconds (range) and median server/browser CPU s of each checkout."""
    names = list(results)
    head = "| step | target s | " + " | ".join(f"{n}: s median (range) | {n}: server CPU s | {n}: browser CPU s"
                                              for n in names) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(names))]
    for key, what, target in STEPS:
        if key not in steps:
            continue
        cells = []
        for n in names:
            runs = [r[key] for r in results[n] if key in r]
            nfail = sum(key in r.get("failed", []) for r in results[n])
            if not runs:
                cells += [f"failed ×{nfail}" if nfail else "–", "–", "–"]
                continue
            s = [r["s"] for r in runs]
            cells += [f"{statistics.median(s):.2f} ({min(s):.2f}–{max(s):.2f})" if len(s) > 1 else f"{s[0]:.2f}",
                      f"{statistics.median(r['server_cpu'] for r in runs):.2f}",
                      f"{statistics.median(r['browser_cpu'] for r in runs):.2f}"]
        lines.append(f"| {what} | ≤ {target:g} | " + " | ".join(cells) + " |")
    return lines


def cpu_series(checkouts: list[Path], labels: dict, ws: Path, runs: int) -> list[str]:
    """``benchmarks/app_cpu.py`` (the library work behind the interactions, CPU s) in a fresh process per
    checkout and run, alternating; a markdown table of the medians."""
    res: dict = {labels[c]: [] for c in checkouts}
    for i in range(runs):
        for c in checkouts:
            env = dict(os.environ, PYTHONPATH=str(c))
            p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "app_cpu.py"), str(ws)], cwd=c, env=env,
                               capture_output=True, text=True)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if p.returncode or not lines:
                print(f"  cpu run of {labels[c]} failed: {p.stderr[-500:]}", flush=True)
                continue
            import json

            res[labels[c]].append(json.loads(lines[-1]))
            print(f"cpu run {i + 1}/{runs} {labels[c]}: {lines[-1]}", flush=True)
    names = list(res)
    keys = list(dict.fromkeys(k for n in names for r in res[n] for k in r))
    out = ["| library work (CPU s, median) | " + " | ".join(names) + " |", "|" + "---|" * (1 + len(names))]
    for k in keys:
        cells = []
        for n in names:
            v = [r[k] for r in res[n] if k in r]
            cells.append(f"{statistics.median(v):.2f}" if v else "–")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    return out


def commit_of(checkout: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip() + \
            ("+changes" if subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "-uno"],
                                          capture_output=True, text=True).stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return checkout.name


def main() -> None:
    from gis_planner import settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", default=str(settings.demo_workspace()))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_app.md"))
    ap.add_argument("--runs", type=int, default=3, help="runs per checkout (alternating), default 3")
    ap.add_argument("--compare", action="append", default=[], metavar="CHECKOUT",
                    help="another repository folder (e.g. git worktree add /tmp/gp-prev 1b19dd6), run in turns")
    ap.add_argument("--quick", action="store_true", help="one run per checkout, without the report")
    ap.add_argument("--steps", default="", help="comma-separated subset of: " + ", ".join(k for k, *_ in STEPS))
    ap.add_argument("--cpu", type=int, default=0, metavar="N",
                    help="only the library work behind the interactions (benchmarks/app_cpu.py), CPU s, N runs "
                         "per checkout alternating (no browser; holds on a loaded machine)")
    ap.add_argument("--quiet-ms", type=int, default=1000, help="no change for this long = settled (default 1000)")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("Debian chromium is missing: run scripts/install-system-deps.sh")
    steps = [k for k, *_ in STEPS]
    if args.steps:
        steps = [s for s in args.steps.split(",") if s in steps]
    runs = args.runs
    if args.quick:
        runs = 1
        steps = [s for s in steps if s not in QUICK_SKIP]
    checkouts = [ROOT, *(Path(c).resolve() for c in args.compare)]
    label = {c: commit_of(c) for c in checkouts}
    load0 = os.getloadavg()
    print(f"load average before: {', '.join(f'{x:.2f}' for x in load0)}", flush=True)
    if args.cpu:
        lines = cpu_series(checkouts, label, Path(args.workspace).resolve(), args.cpu)
        load1 = os.getloadavg()
        text = "\n".join([f"Load average before: {', '.join(f'{x:.2f}' for x in load0)}; after: "
                          f"{', '.join(f'{x:.2f}' for x in load1)}.", "",
                          f"Command: `{' '.join(['python', 'benchmarks/app_bench.py', *sys.argv[1:]])}`", "",
                          *lines, ""])
        print(text)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        return
    results: dict[str, list[dict]] = {label[c]: [] for c in checkouts}
    logdir = Path(tempfile.mkdtemp(prefix="gp-appbench-logs-"))
    for i in range(runs):
        for c in checkouts:
            print(f"run {i + 1}/{runs}: {label[c]} ({c})", flush=True)
            with open(logdir / f"{label[c]}-{i}.log", "w") as log:
                out: dict = {}
                results[label[c]].append(out)   # the steps measured before a failure count
                try:
                    one_run(c, Path(args.workspace), steps, args.quiet_ms, log, out)
                except Exception as exc:  # noqa: BLE001 - said in the output, the other runs go on
                    print(f"  run failed: {exc!r} (server log: {log.name})", flush=True)
            report(args, results, steps, runs, load0)


def report(args, results: dict, steps: list[str], runs: int, load0: tuple) -> None:
    """Write the table (also after each run, so a run cut short leaves what it measured)."""
    load1 = os.getloadavg()
    lines = ["# App: what a user waits for (benchmarks/app_bench.py)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}; "
             f"headless Debian chromium {VIEWPORT['width']}×{VIEWPORT['height']}; demo workspace (fresh copy per run); "
             f"`python -m gis_planner.ui.serve`. {runs} run(s) per checkout, alternating; "
             f"settled = no running state, no pending request, images loaded, no DOM change for {args.quiet_ms} ms "
             f"(time of the last change).", "",
             f"Load average before: {', '.join(f'{x:.2f}' for x in load0)}; after: "
             f"{', '.join(f'{x:.2f}' for x in load1)}.", "",
             f"Command: `{' '.join(['python', 'benchmarks/app_bench.py', *sys.argv[1:]])}`", "",
             *table(results, steps), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
