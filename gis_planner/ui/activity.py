"""What the users of this server are doing right now, so background work (the warm-up) yields to them.

Light on purpose (no Streamlit import): the app shell (:func:`gis_planner.ui.app.main`) counts its script
runs here and installs :func:`count_requests` in its first run.

Two kinds of activity: a **script run** going on (``RUNS["active"]``), and the **browser fetching** what a
page needs after its run (Streamlit's code chunks, the map component's files, images): every HTTP request the
server finishes counts as activity ending then (``RUNS["last_end"]``; not the session's websocket). The browser renders a page for up to
a second after its script run ended, on the same two cores as the server; a warm-up step started then slows
that page down even though no script runs (issue 20: the balance page opened right after a language switch).
"""
from __future__ import annotations

import threading
import time

RUNS = {"active": 0, "last_end": 0.0}
RUNS_LOCK = threading.Lock()
WARM_THREAD = "gis_planner-warm-up"   # name of the warm-up's thread (gis_planner.ui.app.warm_up)


def user_run(start: bool) -> None:
    """Count the script runs going on (any session)."""
    with RUNS_LOCK:
        RUNS["active"] += 1 if start else -1
        if not start:
            RUNS["last_end"] = time.monotonic()


def request_done() -> None:
    """A request of a browser was answered: the users are active now."""
    with RUNS_LOCK:
        RUNS["last_end"] = max(RUNS["last_end"], time.monotonic())


def busy(quiet_s: float) -> bool:
    """Whether a script run is going on, or one ended / a request was answered less than ``quiet_s`` ago."""
    with RUNS_LOCK:
        return RUNS["active"] > 0 or time.monotonic() - RUNS["last_end"] < quiet_s


def count_requests() -> bool:
    """Make every HTTP request the server finishes count as activity (:func:`request_done`): Streamlit's
    Starlette app (its server since 1.5x, uvicorn) and, for a Streamlit on tornado, tornado's request log.
    Only the end of a request counts (a download in progress does not hold the warm-up back: the workbook
    it may be waiting for is the warm-up's). Idempotent; returns whether a hook is in place."""
    hooked = False
    try:
        import starlette.applications as sa
    except ImportError:
        sa = None
    if sa is not None:
        call = sa.Starlette.__call__
        if not getattr(call, "_gis_planner_activity", False):
            async def counted_call(self, scope, receive, send):
                try:
                    await call(self, scope, receive, send)
                finally:
                    if scope.get("type") == "http":   # (not a websocket: it lasts the whole session)
                        request_done()

            counted_call._gis_planner_activity = True
            counted_call.__wrapped__ = call
            sa.Starlette.__call__ = counted_call
        hooked = True
    try:
        import tornado.web
    except ImportError:
        return hooked
    log_request = tornado.web.Application.log_request
    if not getattr(log_request, "_gis_planner_activity", False):
        def counted(self, handler):
            request_done()
            return log_request(self, handler)

        counted._gis_planner_activity = True
        counted.__wrapped__ = log_request
        tornado.web.Application.log_request = counted
    return True


class Yield:
    """A ``pause`` for long background work cut in small pieces (:func:`gis_planner.io.xlsx.write_workbook`):
    called between the pieces, it waits while the users are active (:func:`busy` with ``quiet_s``) — only in
    the warm-up's thread (the same work asked for by a user, e.g. a download, never waits) and at most
    ``max_wait_s`` in all, so a user waiting for the result of this very work waits at most that long more.
    ``waited``: seconds waited so far; ``calls``: pieces seen."""

    def __init__(self, quiet_s: float = 0.3, max_wait_s: float = 3.0, poll_s: float = 0.02):
        self.quiet_s, self.max_wait_s, self.poll_s = quiet_s, max_wait_s, poll_s
        self.waited, self.calls = 0.0, 0

    def __call__(self) -> None:
        self.calls += 1
        if threading.current_thread().name != WARM_THREAD:
            return
        while self.waited < self.max_wait_s and busy(self.quiet_s):
            time.sleep(self.poll_s)
            self.waited += self.poll_s
