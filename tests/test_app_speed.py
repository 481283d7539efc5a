"""Issue 20 (app speed): the restrictions page draws the restriction map of a use from the regimes
coloured by their verdict (no union), and shows the class areas of the union (unchanged) on request."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely

from .apptest import assert_ok, copy_demo, open_app
from gis_planner.i18n import t


@pytest.fixture(scope="module")
def app_ws(tmp_path_factory, demo_ws):
    return copy_demo(demo_ws, tmp_path_factory.mktemp("appspeed") / "demo")


@pytest.mark.parametrize("use", ["housing", "industry"])
def test_verdict_lookup_gives_the_classes_of_the_union(demo_ws, use):
    """The pieces coloured "prohibited" are exactly the rows restriction_map unions into its prohibited
    class, "conditional" those of its conditional class: the areas of their (unsnapped) unions within the
    municipality equal the map's class areas to 10 m² of ~19 400 ha (the map snaps to a 1 mm grid, which
    moves a few m² over the long shared edges; a wrong row would move hectares)."""
    from gis_planner.ui import analyses
    from gis_planner.zoning import build_restrictions, restriction_map

    r = build_restrictions(demo_ws)
    rmap = restriction_map(demo_ws, use, restrictions=r, write=False).set_index("class")["area_ha"]
    v = analyses._regime_verdicts(demo_ws, use)
    assert v[-1] == "free" and set(v.drop(-1)) <= {"prohibited", "conditional"}
    g = np.asarray(r.geometry.values, dtype=object)
    extent = shapely.union_all(demo_ws.read_layer("boundary").geometry.values)
    pro = [p for p, c in v.drop(-1).items() if c == "prohibited"]
    both = list(v.drop(-1).index)
    P = shapely.intersection(shapely.union_all(g[pro]), extent).area / 1e4 if pro else 0.0
    R = shapely.intersection(shapely.union_all(g[both]), extent).area / 1e4
    assert P > 0 and R > P   # the demo has both classes for these uses
    assert abs(P - rmap["prohibited"]) < 1e-3          # hectares: < 10 m²
    assert abs((R - P) - rmap["conditional"]) < 1e-3
    assert abs((extent.area / 1e4 - R) - rmap["free"]) < 1e-3


def test_display_pieces_are_the_regimes_clipped_to_the_municipality(demo_ws):
    from gis_planner.ui import analyses
    from gis_planner.zoning import build_restrictions

    pieces = analyses._regime_display(demo_ws)
    r = build_restrictions(demo_ws)
    assert pieces.crs.to_epsg() == 4326
    assert pieces["_pos"].iloc[0] == -1 and not isinstance(pieces["kind"].iloc[0], str)    # the municipality first
    assert set(pieces["_pos"]) <= set(range(-1, len(r)))
    rows = pieces[pieces["_pos"] >= 0]
    assert list(rows["kind"]) == list(r["kind"].iloc[rows["_pos"]])
    # every piece lies within the municipality (display simplification: a pixel ≈ 20 m)
    ext = pieces.to_crs(demo_ws.crs).geometry.iloc[0].buffer(25)
    assert rows.to_crs(demo_ws.crs).geometry.within(ext).all()


def test_zoning_page_areas_on_request_equal_the_union(app_ws):
    """A use whose map is not computed yet: the map and the check come without the union; the class areas
    come with a button and are those of restriction_map (the union), to the hectare's hundredth."""
    from gis_planner.zoning import restriction_map

    at = open_app(app_ws, "en", "zoning")
    assert_ok(at)
    at.selectbox(key="zoning_use").set_value("industry").run()
    assert_ok(at)
    assert not at.dataframe                          # no union computed for the new use
    at.button(key="zoning_areas_industry").click().run()
    assert_ok(at)
    rm = restriction_map(app_ws, "industry", write=False)
    shown = at.dataframe[0].value
    want = [f"{v:,.2f}" for v in rm["area_ha"].round(2)]
    assert [str(x) for x in shown.iloc[:, 1]] == want, (list(shown.iloc[:, 1]), want)
    assert list(shown.iloc[:, 0]) == [t(f"zoning.class.{c}", "en") for c in rm["class"]]


def test_warm_up_waits_for_the_users():
    """The warm-up starts a step only when no script run is going on and none ended in the last
    quiet_s seconds; it goes on after max_wait_s of continuous use."""
    import time

    from gis_planner.ui import app as shell

    shell._user_run(True)            # a run in progress: waits the whole max_wait_s
    try:
        waited = shell._wait_for_quiet(quiet_s=0.1, max_wait_s=0.5)
    finally:
        shell._user_run(False)       # the run ends now
    assert 0.5 <= waited < 1.5
    t0 = time.monotonic()
    waited = shell._wait_for_quiet(quiet_s=0.4, max_wait_s=5)   # quiet 0.4 s after the end
    assert 0.3 <= waited < 1.5 and time.monotonic() - shell._RUNS["last_end"] >= 0.4
    assert shell._RUNS["active"] == 0
    assert shell._wait_for_quiet(quiet_s=0.0, max_wait_s=5) < 0.2   # nothing going on: at once


def test_warm_up_leaves_the_old_language_to_the_new_one(app_ws, monkeypatch):
    """A warm-up started in Kyrgyz whose users switched to Russian makes the language-independent steps but
    not the Kyrgyz sheets (the Russian warm-up makes the Russian ones): no work for a language off screen."""
    from gis_planner.ui import analyses, cache
    from gis_planner.ui import app as shell

    calls = []   # (thread, step): a warm-up thread left by an earlier test of this process may wake up here too
    monkeypatch.setattr(shell, "WARM", [("gis_planner.balance", "restrictions", ()),
                                        ("gis_planner.balance", "balance_tables", (shell.LANG,))])
    monkeypatch.setattr(shell, "PAGES", [])
    monkeypatch.setattr(shell, "WARM_DELAY_S", 0)
    monkeypatch.setattr(analyses, "restrictions", lambda ws: calls.append((threading.current_thread(), "restrictions")))
    monkeypatch.setattr(analyses, "balance_tables",
                        lambda ws, lang: calls.append((threading.current_thread(), ("tables", lang))))
    key = cache.key(app_ws)
    monkeypatch.setitem(shell._WARM_LANG, key, "ru")
    shell.warm_up.clear()

    def steps_of(th):
        th.join(60)
        return [step for thread, step in calls if thread is th]

    try:
        assert steps_of(shell.warm_up(*key, "ky")) == ["restrictions"]
        assert steps_of(shell.warm_up(*key, "ru")) == ["restrictions", ("tables", "ru")]
    finally:
        shell.warm_up.clear()
