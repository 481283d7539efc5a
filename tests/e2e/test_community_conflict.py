"""Two browser tabs (two Playwright contexts in real Chromium) edit and delete the same community feature and edit
the same session: the stale one is shown the conflict (who, when, theirs vs mine) and nothing is lost — on the
GeoPackage store and on PostGIS. One app server per backend, in Kyrgyz (screenshots in ``artifacts/``)."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from gis_planner.devtools.appserver import (CHROMIUM, AppServer, AppUnavailable, launch_chromium, run_mark,
                                           track_runs, wait_idle)
from gis_planner.i18n import t


pytestmark = pytest.mark.browser
LANG = "ky"


def tx(key, **kw):
    return t(key, LANG, **kw)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture(scope="module", params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def app(request, tmp_path_factory, demo_ws):
    """(url, store) of an app server over a copy of the demo; its community store is a fresh GeoPackage or a
    fresh schema in the PostGIS test database, seeded with one session and one feature."""
    import sqlalchemy as sa

    from gis_planner import Workspace
    from gis_planner.community import open_store
    from gis_planner.community import store as store_mod

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run scripts/install-system-deps.sh")
    dst = tmp_path_factory.mktemp(f"conflict_{request.param}") / "ws"
    shutil.copytree(demo_ws.root, dst, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock", "exports"))
    ws = Workspace(dst)
    env = dict(os.environ, GIS_PLANNER_WORKSPACE=str(dst), GIS_PLANNER_LANG=LANG, GIS_PLANNER_APP_WARM="0")
    env.pop("GIS_PLANNER_DATABASE_URL", None)
    schema = admin = None
    if request.param == "postgis":
        pg_url = request.getfixturevalue("pg_url")
        schema = f"e2e_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(pg_url)
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = f"{pg_url}?options=-csearch_path%3D{schema},public"
        env["GIS_PLANNER_DATABASE_URL"] = url
        store = open_store(ws, url=url)
    else:
        store = open_store(ws)
    # the newest session (selected first) with one feature (picked first), inside the municipality
    village = ws.read_layer("settlements").iloc[0]
    pt = village.geometry.centroid
    import geopandas as gpd

    lonlat = gpd.GeoSeries([pt], crs=ws.crs).to_crs(4326).iloc[0]
    sid = store.create_session(village["name"], "2030-06-01", "women", age_band="36-55", participants_female=12,
                               participants_male=0, author="S.S.")
    store.add_feature(sid, lonlat, "spring", "Булак", author="S.S.", votes=1)
    server = AppServer(dst, env={k: v for k, v in env.items() if k.startswith("GIS_PLANNER_")})
    try:
        server.start()
    except AppUnavailable as err:
        pytest.fail(str(err))
    try:
        yield {"url": server.url, "store": store, "sid": sid, "backend": request.param}
    finally:
        server.stop()
        eng = store_mod._ENGINES.pop(store.url, None)
        if eng is not None:
            eng.dispose()
        if admin is not None:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


def _tab(browser, app, author):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    track_runs(ctx)   # Streamlit's run state and the map's reports, for _settle
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app["url"] + "/community")
    _settle(page)
    page.get_by_role("heading", name=tx("app.page.community")).first.wait_for(timeout=60_000)
    box = page.get_by_role("textbox", name=tx("app.community.author"), exact=True)
    box.fill(author)
    mark = run_mark(page)
    box.press("Enter")
    _settle(page, mark)
    return ctx, page, errors


def _feature_form(page):
    return page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name=tx("app.community.save_changes")))


def _session_form(page):
    return page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name=tx("community.edit.session_save")))


def _click(page, locator, rerun: bool = True):
    """Click once the app is idle (a rerun started by the map reporting its view replaces elements), then wait
    for the run the click starts (``rerun``: a button, an option; not an expander's title or a list opening)
    and for the app to be idle again."""
    for attempt in range(3):
        _settle(page)
        try:
            locator.scroll_into_view_if_needed(timeout=10_000)
            mark = run_mark(page)
            locator.click(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - detached by a rerun: find it again
            if attempt == 2:
                raise
    _settle(page, mark if rerun else None)


def _settle(page, after: dict | None = None):
    """Until the app is idle by its own state — no script run, the map's reported view taken by a run (the map
    re-drawn after a run reports its view and so starts one more), every map made — with ``after``
    (``run_mark`` before an action) a run since then; no fixed sleep (``appserver.wait_idle``)."""
    wait_idle(page, after)


def _open_session_editor(page):
    exp = page.locator("[data-testid='stExpander']").filter(has_text=tx("community.edit.session")).first
    if not _session_form(page).count() or not _session_form(page).first.is_visible():
        _click(page, exp.locator("summary").first, rerun=False)
    _session_form(page).first.wait_for(timeout=30_000)


def test_two_tabs_conflicts_lose_nothing(browser, app, artifacts_dir):
    store, sid = app["store"], app["sid"]
    fid = int(store.features(session_id=sid)["id"].iloc[0])
    a_ctx, a, a_err = _tab(browser, app, "A.K.")
    b_ctx, b, b_err = _tab(browser, app, "B.T.")
    title = tx("app.community.title")

    # ---- feature: A saves a new title; B (stale) changes title and votes
    fa = _feature_form(a)
    fa.get_by_role("textbox", name=title, exact=True).fill("Булак A")
    _click(a, fa.get_by_role("button", name=tx("app.community.save_changes")))
    assert store.get_feature(fid).title == "Булак A" and store.get_feature(fid).version == 2
    fb = _feature_form(b)
    fb.get_by_role("textbox", name=title, exact=True).fill("Булак B <b>")
    fb.get_by_role("spinbutton", name=tx("app.community.votes")).fill("9")
    _click(b, fb.get_by_role("button", name=tx("app.community.save_changes")))
    rec = store.get_feature(fid)
    assert (rec.title, rec.votes, rec.version) == ("Булак A", 1, 2)          # nothing overwritten
    panel = b.locator(f".st-key-community_conflict_box_feature_{fid}")
    panel.wait_for(timeout=30_000)
    from playwright.sync_api import expect

    expect(panel).to_contain_text("Булак B <b>", timeout=30_000)   # (its table can arrive a moment after the title)
    text = panel.inner_text()
    assert "A.K." in text and "Булак A" in text and "Булак B <b>" in text and "9" in text
    assert tx("community.conflict.keep_mine") in text and tx("community.conflict.take_theirs") in text
    # B's entries are still in its form
    assert _feature_form(b).get_by_role("textbox", name=title, exact=True).input_value() == "Булак B <b>"
    panel.scroll_into_view_if_needed()
    b.wait_for_timeout(500)
    b.screenshot(path=str(artifacts_dir / f"community_conflict_{app['backend']}_ky.png"), full_page=False)
    # merge: A's title, B's votes
    mark = run_mark(b)
    panel.locator("[data-testid='stRadio']").filter(has_text=tx("app.community.change.title").capitalize()) \
        .get_by_text(tx("community.conflict.theirs")).click()
    _settle(b, mark)   # (a radio outside a form: its run)
    _click(b, b.get_by_role("button", name=tx("community.conflict.merge")))
    rec = store.get_feature(fid)
    assert (rec.title, rec.votes, rec.version) == ("Булак A", 9, 3)
    assert list(store.history(fid)["author"]) == ["S.S.", "A.K.", "B.T."]

    # ---- a stale delete: A still has version 2 open; B changes the description (version 4); A deletes
    fb = _feature_form(b)
    fb.get_by_role("textbox", name=tx("app.community.description"), exact=True).fill("Суу аз")
    _click(b, fb.get_by_role("button", name=tx("app.community.save_changes")))
    assert store.get_feature(fid).version == 4
    fa = _feature_form(a)
    fa.get_by_text(tx("app.community.delete_confirm")).click()
    _click(a, fa.get_by_role("button", name=tx("app.community.delete"), exact=True))
    assert not store.get_feature(fid).deleted                                 # not deleted silently …
    panel = a.locator(f".st-key-community_conflict_box_feature_{fid}")
    panel.wait_for(timeout=30_000)
    assert tx("community.conflict.stale_delete") in panel.inner_text() and "Суу аз" in panel.inner_text()
    a.screenshot(path=str(artifacts_dir / f"community_conflict_delete_{app['backend']}_ky.png"), full_page=False)
    _click(a, a.get_by_role("button", name=tx("community.conflict.delete_anyway")))   # … only when A confirms
    rec = store.get_feature(fid)
    assert rec.deleted and rec.version == 5
    assert list(store.history(fid)["action"]) == ["create", "update", "update", "update", "delete"]

    # ---- session: A saves women 20; B (stale) saves women 21 and men 3, then keeps its own values
    _open_session_editor(a)
    sa_ = _session_form(a)
    sa_.get_by_role("spinbutton", name=tx("app.community.n_female")).fill("20")
    _click(a, sa_.get_by_role("button", name=tx("community.edit.session_save")))
    assert store.get_session(sid)["participants_female"] == 20
    _open_session_editor(b)
    sb = _session_form(b)
    sb.get_by_role("spinbutton", name=tx("app.community.n_female")).fill("21")
    sb.get_by_role("spinbutton", name=tx("app.community.n_male")).fill("3")
    _click(b, sb.get_by_role("button", name=tx("community.edit.session_save")))
    s = store.get_session(sid)
    assert (s["participants_female"], s["participants_male"], s["version"]) == (20, 0, 2)
    panel = b.locator(f".st-key-community_conflict_box_session_{sid}")
    panel.wait_for(timeout=30_000)
    assert "A.K." in panel.inner_text() and "21" in panel.inner_text()
    panel.scroll_into_view_if_needed()
    b.screenshot(path=str(artifacts_dir / f"community_conflict_session_{app['backend']}_ky.png"), full_page=False)
    _click(b, b.get_by_role("button", name=tx("community.conflict.keep_mine")))
    s = store.get_session(sid)
    assert (s["participants_female"], s["participants_male"], s["version"]) == (21, 3, 3)
    h = store.session_history(sid)
    assert list(h["author"]) == ["S.S.", "A.K.", "B.T."]
    assert [r["participants_female"] for r in h["new"]] == [12, 20, 21]      # A's value is in the history

    # ---- a stale session delete: A opened version 2, the session is at 3 (B's save); A deletes
    sa_ = _session_form(a)
    sa_.get_by_text(tx("community.edit.session_delete_confirm")).click()
    _click(a, sa_.get_by_role("button", name=tx("community.edit.session_delete")))
    assert not store.get_session(sid)["deleted"]                              # not deleted silently …
    panel = a.locator(f".st-key-community_conflict_box_session_{sid}")
    panel.wait_for(timeout=30_000)
    assert tx("community.conflict.stale_delete_session") in panel.inner_text() and "B.T." in panel.inner_text()
    _click(a, a.get_by_role("button", name=tx("community.conflict.delete_anyway")))   # … only when A confirms
    s = store.get_session(sid)
    assert s["deleted"] and s["version"] == 4 and sid not in set(store.list_sessions()["id"])
    assert list(store.session_history(sid)["action"]) == ["create", "update", "update", "delete"]
    # and back (nothing is lost: the deleted session is restored with its features)
    exp = a.locator("[data-testid='stExpander']").filter(has_text=tx("community.edit.sessions_deleted", n=1)).first
    _click(a, exp.locator("summary").first, rerun=False)
    _click(a, a.get_by_role("button", name=tx("community.edit.session_restore")))
    s = store.get_session(sid)
    assert not s["deleted"] and s["version"] == 5

    assert not a_err and not b_err, (a_err, b_err)
    assert a.locator("[data-testid='stException']").count() == 0
    assert b.locator("[data-testid='stException']").count() == 0
    a_ctx.close()
    b_ctx.close()


def _leaflet(page, tries: int = 60):
    """The frame of the community map (streamlit-folium keeps the Leaflet map in ``window.map``), looked for
    ``tries`` times, 0.5 s apart, once the map's frame is there."""
    page.wait_for_selector("iframe[title*='st_folium']", timeout=60_000)
    for _ in range(tries):
        for fr in page.frames:
            try:
                if fr.evaluate("() => !!(window.map && window.map.getZoom)"):
                    return fr
            except Exception:  # noqa: BLE001 - a frame still loading
                pass
        page.wait_for_timeout(500)
    raise AssertionError("no Leaflet map")


@pytest.mark.parametrize("app", ["gpkg"], indirect=True)   # the map does not depend on the store backend
def test_map_at_village_scale_labels_kyrgyz_controls_view_kept_and_reshape(browser, app, artifacts_dir):
    import geopandas as gpd
    import shapely

    from gis_planner import Workspace

    store, sid = app["store"], app["sid"]
    ws = Workspace(store.path.parent)
    c = gpd.GeoSeries([ws.read_layer("settlements").geometry.iloc[0].representative_point()], crs=ws.crs)
    sq = c.buffer(40, cap_style="square").to_crs(4326).iloc[0]   # an 80 m field by the village
    rec = store.add_feature(sid, sq, "arable_land", "Талаа", author="S.S.")
    lonlat = c.to_crs(4326).iloc[0]
    ctx, page, errors = _tab(browser, app, "A.K.")
    # the field is the feature being edited (picked below the map)
    picker = page.locator("[data-testid='stSelectbox']").filter(has_text=tx("app.community.pick_feature")).first
    _click(page, picker, rerun=False)
    option = page.get_by_role("option", name=f"{rec.id}: Талаа")
    picked = option.get_attribute("aria-selected") == "true"   # (the only feature left is picked already: no run)
    _click(page, option, rerun=not picked)
    fr = _leaflet(page)
    page.locator("iframe[title*='st_folium']").first.scroll_into_view_if_needed()
    # the group zooms to the village
    fr.evaluate(f"() => {{ window.map.setView([{lonlat.y}, {lonlat.x}], 17); }}")
    _settle(page)
    fr = _leaflet(page)
    assert fr.evaluate("() => window.map.getZoom()") == 17
    # village and street names, controls in Kyrgyz
    assert fr.locator(".gp-label-village").count() >= 1 and fr.locator(".gp-label-street").count() >= 1
    assert fr.locator(".gp-label-village").first.inner_text() in {v for v in ws.read_layer("settlements")["name"]}
    assert fr.locator(".leaflet-control-zoom-in").get_attribute("title") == tx("community.map.zoom_in")
    assert fr.locator(".leaflet-control-zoom-out").get_attribute("title") == tx("community.map.zoom_out")
    assert fr.locator(".leaflet-control-layers-toggle").get_attribute("title") == tx("community.map.layers")
    assert fr.locator(".leaflet-control-scale-line").first.inner_text().endswith((" " + tx("community.map.m"),
                                                                                  " " + tx("community.map.km")))
    assert fr.locator(".leaflet-draw-edit-edit").get_attribute("title") == tx("community.map.edit")
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / "community_map_village_ky.png"), full_page=False)

    # reshape the field: the edit tool, drag one corner 60 px to the right, Leaflet.draw's save
    fr.locator(".leaflet-draw-edit-edit").click()
    handle = fr.locator(".leaflet-editing-icon").first
    handle.wait_for(timeout=10_000)
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=5)
    page.mouse.move(x + 60, y, steps=5)
    page.mouse.up()
    fr.locator(".leaflet-draw-actions a").filter(has_text=tx("community.map.save")).first.click()
    _settle(page)
    page.get_by_text(tx("community.edit.geometry_changed")).first.wait_for(timeout=30_000)
    assert not page.get_by_text(tx("app.community.draw_first")).count() == 0   # no "new feature" form
    _click(page, _feature_form(page).get_by_role("button", name=tx("app.community.save_changes")))
    new = store.get_feature(rec.id)
    assert new.version == 2 and new.geometry.area > sq.area * 1.1            # the corner moved outwards
    assert shapely.get_num_coordinates(new.geometry) == shapely.get_num_coordinates(sq)
    assert store.history(rec.id)["changed"].iloc[-1] == ["geometry"]
    # the map stays where the group works (it was re-drawn with the saved shape)
    fr = _leaflet(page)
    assert fr.evaluate("() => window.map.getZoom()") == 17
    ctr = fr.evaluate("() => window.map.getCenter()")
    assert abs(ctr["lat"] - lonlat.y) < 0.002 and abs(ctr["lng"] - lonlat.x) < 0.002
    page.locator("iframe[title*='st_folium']").first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / "community_map_village_saved_ky.png"), full_page=False)
    shown = page.locator("[data-testid='stMain']").inner_text()
    assert "nan" not in shown.split() and "None" not in shown.split()
    assert not errors, errors
    ctx.close()
