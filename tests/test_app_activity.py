"""Issue 20: the background warm-up yields to the users — to their script runs and to their browsers
fetching what a page needs — and the balance workbook it makes waits between its columns while they are
active; a language switch relabels the balance's sheets without computing its areas again."""
from __future__ import annotations

import io
import threading
import time

import pandas as pd
import pytest

from .apptest import copy_demo
from gis_planner.ui import activity


@pytest.fixture(scope="module")
def app_ws(tmp_path_factory, demo_ws):
    return copy_demo(demo_ws, tmp_path_factory.mktemp("activity") / "demo")


def test_a_request_answered_counts_as_activity():
    """A request the server answered keeps the warm-up waiting quiet_s after it, as the end of a run does."""
    import tornado.web

    from gis_planner.ui import app as shell

    assert activity.count_requests() and activity.count_requests()   # idempotent
    assert tornado.web.Application.log_request.__wrapped__.__name__ == "log_request"
    activity.RUNS["last_end"] = 0.0
    assert shell._wait_for_quiet(quiet_s=0.3, max_wait_s=5) < 0.2      # nothing going on: at once

    logged = []
    app = tornado.web.Application(log_function=logged.append)   # (tornado's own logging of the request)
    t0 = time.monotonic()
    app.log_request("a finished request")
    assert logged == ["a finished request"] and activity.RUNS["last_end"] >= t0
    waited = shell._wait_for_quiet(quiet_s=0.3, max_wait_s=5)
    assert 0.2 <= waited < 1.5


def _sheets():
    return [("a", pd.DataFrame({"x": [1.5, 2.5], "y": ["p", "q"]}), {"x": "ha"}, None),
            ("b", pd.DataFrame({"n": [1, 2, 3]}), {"n": "int"}, None)]


def test_workbook_pauses_before_each_column_and_writes_the_same_file(tmp_path):
    """write_workbook calls pause once per column of every sheet (2 + 1 here); the cells are those written
    without it."""
    import openpyxl

    from gis_planner.io.xlsx import write_workbook

    calls = []
    write_workbook(tmp_path / "p.xlsx", _sheets(), pause=lambda: calls.append(1))
    write_workbook(tmp_path / "n.xlsx", _sheets())
    assert len(calls) == 3

    def cells(p):
        wb = openpyxl.load_workbook(p)
        return {ws.title: [[(c.value, c.number_format) for c in row] for row in ws.iter_rows()] for ws in wb}
    assert cells(tmp_path / "p.xlsx") == cells(tmp_path / "n.xlsx")
    assert cells(tmp_path / "p.xlsx")["a"][1] == [(1.5, "#,##0.00"), ("p", "General")]


def test_yield_waits_only_in_the_warm_up_thread_and_only_while_users_are_active():
    pause = activity.Yield(quiet_s=0.2, max_wait_s=5)
    activity.user_run(True)                     # a script run going on
    try:
        t0 = time.monotonic()
        pause()                                 # not the warm-up's thread: never waits
        assert time.monotonic() - t0 < 0.1 and pause.waited == 0

        out = {}

        def warm():
            t = time.monotonic()
            pause()
            out["s"] = time.monotonic() - t
        th = threading.Thread(target=warm, name=activity.WARM_THREAD)
        th.start()
        time.sleep(0.4)
        assert th.is_alive()                    # waits while the run goes on
    finally:
        activity.user_run(False)                # the run ends now
    th.join(5)
    assert 0.5 <= out["s"] < 2.0                # 0.4 s of run + 0.2 s of quiet after it
    assert pause.calls == 2

    capped = activity.Yield(quiet_s=10, max_wait_s=0.3)   # at most max_wait_s in all

    def warm2():
        capped()
        capped()
    activity.request_done()
    th = threading.Thread(target=warm2, name=activity.WARM_THREAD)
    t0 = time.monotonic()
    th.start()
    th.join(5)
    assert 0.25 <= time.monotonic() - t0 < 1.0 and capped.calls == 2


def test_language_switch_relabels_the_balance_without_computing_it_again(app_ws, monkeypatch):
    """The sheets and workbook of a second language come from the balance already computed: compute_balance
    runs once for ky and ru, the sheets' numbers are the same, only the labels differ."""
    import gis_planner.balance as balance_pkg
    from gis_planner.ui import analyses

    ws = app_ws
    real, calls = balance_pkg.compute_balance, []
    monkeypatch.setattr(balance_pkg, "compute_balance", lambda w: calls.append(1) or real(w))
    ky = analyses.balance_tables(ws, "ky")
    ru = analyses.balance_tables(ws, "ru")
    xlsx = analyses.balance_xlsx(ws, "ru")
    assert len(calls) == 1
    assert list(ky) == list(ru)
    for key in ("by_category", "parcels"):
        assert ky[key].columns.tolist() != ru[key].columns.tolist()   # relabelled
        k_num, r_num = ky[key].select_dtypes("number"), ru[key].select_dtypes("number")
        assert k_num.shape[1] >= 2 and k_num.shape == r_num.shape   # the same numbers under other headers
        pd.testing.assert_frame_equal(k_num.set_axis(range(k_num.shape[1]), axis=1),
                                      r_num.set_axis(range(r_num.shape[1]), axis=1))
    import openpyxl

    assert len(openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames) == len(ru)


def test_warm_ups_take_turns(app_ws, monkeypatch):
    """Two warm-ups (the old and the new language after a switch) never run steps at the same time: each
    step holds the process's warm-up turn; both still do all their steps."""
    from gis_planner.ui import analyses, cache
    from gis_planner.ui import app as shell

    running, most, done = [0], [0], []
    lock = threading.Lock()

    def step(ws, *args):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        done.append((threading.current_thread(), args))

    monkeypatch.setattr(shell, "WARM", [("gis_planner.balance", "restrictions", ()),
                                        ("gis_planner.balance", "balance_tables", (shell.LANG,)),
                                        ("gis_planner.balance", "balance", ())])
    monkeypatch.setattr(shell, "PAGES", [])
    monkeypatch.setattr(shell, "WARM_DELAY_S", 0)
    monkeypatch.setattr(shell, "WARM_QUIET_S", 0)
    for name in ("restrictions", "balance_tables", "balance"):
        monkeypatch.setattr(analyses, name, step)
    key = cache.key(app_ws)
    monkeypatch.setitem(shell._WARM_LANG, key, "ky")
    shell.warm_up.clear()
    try:
        a, b = shell.warm_up(*key, "ky"), shell.warm_up(*key, "en")   # (the newest run's language: ky)
        a.join(60), b.join(60)
    finally:
        shell.warm_up.clear()
    mine = [args for th, args in done if th in (a, b)]
    assert most[0] == 1
    assert sorted(mine) == sorted([(), ("ky",), (), (), ()])   # en's sheets left to the ky warm-up


def test_the_first_page_does_not_import_the_map_plugins():
    """The maps module (everything the first page draws) leaves folium's ~40 plugin modules unimported until
    a map with drawing tools is made (then Draw is there)."""
    import subprocess
    import sys

    code = ("import sys, folium; import gis_planner.ui.maps as maps; a = 'folium.plugins' in sys.modules; "
            "m = maps.add_draw(folium.Map(), 'ky'); "
            "print(a, 'folium.plugins' in sys.modules, any(type(c).__name__ == 'Draw' for c in m._children.values()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "True", "True"], out.stderr[-2000:]


def test_a_request_to_streamlits_starlette_server_counts_as_activity():
    """Streamlit serves pages with Starlette: an HTTP request it answered counts (the warm-up then waits
    quiet_s), a websocket connection does not (it lasts the whole session)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from gis_planner.ui import app as shell

    assert activity.count_requests() and activity.count_requests()   # idempotent
    assert not getattr(Starlette.__call__.__wrapped__, "_gis_planner_activity", False)   # wrapped once
    web = Starlette(routes=[Route("/x", lambda request: PlainTextResponse("ok"))])
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "raw_path": b"/x", "query_string": b"", "headers": [],
             "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": "",
             "http_version": "1.1", "app": web}
    activity.RUNS["last_end"] = 0.0
    t0 = time.monotonic()
    asyncio.run(web(scope, receive, send))
    assert sent[0]["status"] == 200 and sent[-1]["body"] == b"ok"
    assert activity.RUNS["last_end"] >= t0
    assert 0.2 <= shell._wait_for_quiet(quiet_s=0.3, max_wait_s=5) < 1.5

    activity.RUNS["last_end"] = 0.0

    async def closed():
        return {"type": "websocket.disconnect", "code": 1000}
    try:
        asyncio.run(web({**scope, "type": "websocket", "subprotocols": []}, closed, send))
    except Exception:  # noqa: BLE001 - no websocket route here: only whether it counted matters
        pass
    assert activity.RUNS["last_end"] == 0.0
