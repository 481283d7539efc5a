"""Start the Streamlit app on a free port and drive Debian's chromium with Playwright.

One place for what the browser tests, the screenshot script and the benchmarks need:

* :class:`AppServer` — ``streamlit run app.py`` on ``127.0.0.1:<free port>`` over a workspace, its log in a
  file, stopped (terminate, then kill) on :meth:`AppServer.stop` / leaving the ``with`` block.
* :func:`launch_chromium` — ``/usr/bin/chromium`` through Playwright's ``executable_path`` (never
  ``playwright install``: the browser is the Debian package, see ``scripts/install-system-deps.sh``).
* :func:`wait_app` — until a script run has finished (no "running" widget, no spinner).
* :func:`map_frame` — the streamlit-folium iframe, once Leaflet is on screen.
* :func:`track_runs`, :func:`run_mark`, :func:`wait_idle` — until the app is idle by its own state (Streamlit's
  run state, the components' reported values, the map frames), after a click's run if asked: no fixed sleeps.

Examples
--------
>>> with AppServer(workspace) as app, sync_playwright() as pw:      # doctest: +SKIP
...     browser = launch_chromium(pw)
...     page = browser.new_page(); page.goto(app.url); wait_app(page)
"""
from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class AppUnavailable(RuntimeError):
    """Chromium is missing or the app did not start (the message says which)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """The app (``streamlit run app.py``) over ``workspace`` on a free local port.

    ``env`` adds environment variables (``GIS_PLANNER_LANG``, ``GIS_PLANNER_APP_WARM`` …);
    ``GIS_PLANNER_DATABASE_URL`` is dropped unless given there. ``log`` is the server's output file
    (default: ``<workspace>/../streamlit.log``).
    """

    def __init__(self, workspace, env: dict | None = None, log: Path | None = None, timeout: float = 60.0):
        self.workspace = Path(workspace)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log) if log else self.workspace.parent / "streamlit.log"
        self.timeout = timeout
        self._env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> "AppServer":
        env = dict(os.environ, GIS_PLANNER_WORKSPACE=str(self.workspace))
        env.pop("GIS_PLANNER_DATABASE_URL", None)
        env.update({k: str(v) for k, v in self._env.items()})
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise AppUnavailable(f"streamlit exited with {self.proc.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise AppUnavailable(f"streamlit did not start within {self.timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright, **kw):
    """Debian's chromium, headless, through Playwright (``executable_path``)."""
    if not Path(CHROMIUM).exists():
        raise AppUnavailable("Debian chromium is missing: run scripts/install-system-deps.sh")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, **kw)


def wait_app(page, timeout: int = 60_000) -> None:
    """Wait until the script run finished (no 'running' indicator, no spinner) and the main block rendered."""
    page.wait_for_selector("[data-testid='stMainBlockContainer']", timeout=timeout)
    page.wait_for_timeout(800)   # the running indicator appears a moment after a rerun starts
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                           "!document.querySelector('[data-testid=\"stSpinner\"]')", timeout=timeout)
    page.wait_for_timeout(500)


def settle(page, timeout: int = 180_000, quiet_ms: int = 1500) -> None:
    """Wait until the page has stopped changing: no script run for ``quiet_ms`` (a lazy tab or a map
    component reruns the page once more), every map's Leaflet container and images loaded."""
    wait_app(page, timeout)
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)   # the page itself, not the shell
    page.wait_for_function(
        """(q) => {
            const now = Date.now();
            if (!window.__gpMutObs) {   // the page changing at all (elements arriving one by one) is not quiet
                window.__gpLastMut = now;
                window.__gpMutObs = new MutationObserver(() => { window.__gpLastMut = Date.now(); });
                window.__gpMutObs.observe(document.body, {subtree: true, childList: true, characterData: true});
            }
            const bar = Array.from(document.querySelectorAll('[data-testid="stProgress"] [role="progressbar"]'))
                .some(b => Number(b.getAttribute('aria-valuenow') || 100) < 100);
            const busy = bar || now - window.__gpLastMut < q ||
                         document.querySelector('[data-testid="stStatusWidget"]') ||
                         document.querySelector('[data-testid="stSpinner"]') ||
                         document.querySelector('[data-testid="stSkeleton"]') ||
                         document.querySelector('[data-stale="true"]');   // a run under way (elements faded)
            if (busy || window.__gpQuietSince === undefined) { window.__gpQuietSince = now; }
            return !busy && now - window.__gpQuietSince >= q;
        }""", arg=quiet_ms, timeout=timeout, polling=250)
    for frame in page.frames:
        if frame == page.main_frame:
            continue
        try:
            if frame.locator(".leaflet-container").count():
                frame.wait_for_function(
                    "() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
        except Exception:  # noqa: BLE001 - a frame that went away while looking
            pass
    page.wait_for_timeout(300)


# Streamlit's own run state (``data-test-script-state`` on ``stApp``: initial / running / rerunRequested /
# notRunning, set as soon as the server says so — unlike the "Running…" widget, which shows after a delay) and the
# values components send (``streamlit:setComponentValue``: a map reporting a click or its view; each starts a run
# on the server), counted in the page from its first script on (``page.add_init_script`` / ``context.add_init_script``).
RUN_TRACKER_JS = """
(() => {
  if (window.top !== window || window.__gpRun) { return; }
  const R = window.__gpRun = {state: 'initial', starts: 0, ends: 0, reportStarts: 0, reportEnds: 0};
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'streamlit:setComponentValue') {
      // settled by a run that starts after it (or, if one is under way, by the end of that one: Streamlit
      // reruns before it says it is done when a value came in meanwhile)
      R.reportStarts = R.starts + 1; R.reportEnds = R.state === 'notRunning' ? Infinity : R.ends + 1;
      R.reportAt = Date.now();
    }
  });
  const look = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const s = app ? app.getAttribute('data-test-script-state') || 'initial' : 'initial';
    if (s === R.state) { return; }
    if (s === 'notRunning') { R.ends += 1; }
    else if (R.state === 'notRunning' || R.state === 'initial') { R.starts += 1; }
    R.state = s;
  };
  const start = () => { look(); new MutationObserver(look).observe(document.documentElement, {subtree: true,
      childList: true, attributes: true, attributeFilter: ['data-test-script-state']}); };
  if (document.documentElement) { start(); } else { document.addEventListener('DOMContentLoaded', start); }
})();
"""
IDLE_JS = """
([q, mark, call, grace]) => {
  const R = window.__gpRun, now = Date.now();
  if (!R) { throw new Error('the run tracker is not installed (RUN_TRACKER_JS)'); }
  let maps = true;   // every map frame has made its map (it reports its first view right then)
  document.querySelectorAll('iframe[title*="st_folium"]').forEach((f) => {
    try { if (!(f.contentWindow && f.contentWindow.map)) { maps = false; } } catch (e) { /* other origin */ }
  });
  const ran = !mark || R.starts > mark.starts || (mark.state !== 'notRunning' && R.ends > mark.ends);
  // a value Streamlit starts no run for (the same as the component's last one) is settled once nothing ran
  // for ``REPORT_GRACE_MS`` after it (CI 2026-12-06: 120 s waited after a value that no run followed)
  const report = R.starts < R.reportStarts && R.ends < R.reportEnds &&
                 !(R.state === 'notRunning' && now - R.reportAt >= grace);
  const busy = R.state !== 'notRunning' || !ran || report || !maps ||
               document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]');
  const key = String(call);   // each wait starts its quiet time afresh
  if (busy || R.idleKey !== key) { R.idleSince = now; R.idleKey = key; }
  return !busy && now - R.idleSince >= q;
}
"""


_WAIT_NO = itertools.count(1)   # numbers the wait_idle calls
# ms after a component's value with no run started (and none going) before that value counts as taken: Streamlit
# starts no run for a value equal to the component's last one (a map reporting the same view again)
REPORT_GRACE_MS = 3000


def track_runs(target) -> None:
    """Install :data:`RUN_TRACKER_JS` in a Playwright page or context (before it loads the app)."""
    target.add_init_script(RUN_TRACKER_JS)


def run_mark(page) -> dict:
    """The run counters now, for :func:`wait_idle` ``after`` (taken just before a click that reruns the app)."""
    return page.evaluate("() => ({starts: window.__gpRun.starts, ends: window.__gpRun.ends, "
                         "state: window.__gpRun.state})")


def wait_idle(page, after: dict | None = None, quiet_ms: int = 500, timeout: int = 120_000) -> None:
    """Until the app is idle, judged by its state, not by a fixed sleep: Streamlit says no script runs, every
    value a component sent (a map's click or view) has been taken by a run, every map frame has made its map, no
    element is stale — and this for ``quiet_ms`` on end (streamlit-folium reports a moved view 250 ms after the
    move). With ``after`` (:func:`run_mark` before a click), a run must also have started since. Needs
    :func:`track_runs` on the page or its context."""
    try:
        page.wait_for_function(IDLE_JS, arg=[quiet_ms, after, next(_WAIT_NO), REPORT_GRACE_MS], timeout=timeout,
                              polling=100)
    except Exception as exc:  # noqa: BLE001 - said with what was still busy
        seen = page.evaluate("""() => ({run: window.__gpRun, maps: Array.from(document.querySelectorAll(
            'iframe[title*="st_folium"]')).map((f) => { try { return !!f.contentWindow.map; } catch (e) { return null; } }),
            stale: document.querySelectorAll('[data-stale="true"], [data-testid="stSkeleton"]').length})""")
        raise TimeoutError(f"the app was not idle within {timeout} ms (after {after}): {seen}") from exc


def map_frame(page, timeout: int = 60_000):
    """The first streamlit-folium map's frame, once its Leaflet container is there."""
    page.wait_for_selector("iframe[title*='st_folium']", timeout=timeout)
    frame = page.frame_locator("iframe[title*='st_folium']").first
    frame.locator(".leaflet-container").wait_for(timeout=timeout)
    return frame
