"""Saving drawn features on the community page in a real browser (issue 20: speed and trust), in Kyrgyz.

Zoomed to a village, a facilitator draws a field and saves it, then at once draws a spring and saves it: both are
in the store and on the map, the map was not rebuilt (same Leaflet map object, same zoom and centre, the draw
toolbar still there), the saved shapes left the draw group (they are drawn by the community layer), and no
script error. Screenshots ``community_saved_two_ky.png`` (the map after the two saves) in ``artifacts/``.
"""
from __future__ import annotations

import os
import shutil
import time

import pytest

from gis_planner.devtools.appserver import AppServer, AppUnavailable, launch_chromium

from .test_community_conflict import LANG, _leaflet, _settle, _tab, tx

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_ws):
    import geopandas as gpd

    from gis_planner import Workspace
    from gis_planner.community import open_store

    dst = tmp_path_factory.mktemp("save") / "ws"
    shutil.copytree(demo_ws.root, dst, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock", "exports"))
    ws = Workspace(dst)
    store = open_store(ws)
    village = ws.read_layer("settlements").iloc[0]
    lonlat = gpd.GeoSeries([village.geometry.representative_point()], crs=ws.crs).to_crs(4326).iloc[0]
    sid = store.create_session(village["name"], "2030-06-01", "women", age_band="36-55", participants_female=12,
                               participants_male=0, author="S.S.")
    env = {k: v for k, v in os.environ.items() if k.startswith("GIS_PLANNER_")}
    env.pop("GIS_PLANNER_DATABASE_URL", None)
    env.update(GIS_PLANNER_WORKSPACE=str(dst), GIS_PLANNER_LANG=LANG, GIS_PLANNER_APP_WARM="0")
    try:
        with AppServer(dst, env=env) as server:
            yield {"url": server.url, "store": store, "sid": sid, "lonlat": (lonlat.y, lonlat.x)}
    except AppUnavailable as err:
        pytest.fail(str(err))


def _save(page, title: str) -> float:
    """Type the title into the new-feature form and save; seconds until "saved" is shown and the form is gone."""
    save = page.get_by_role("button", name=tx("app.community.save"), exact=True)
    form = page.locator("[data-testid='stForm']").filter(has=save)
    box = form.get_by_role("textbox", name=tx("app.community.title"), exact=True)
    box.wait_for(timeout=60_000)
    box.fill(title)
    page.wait_for_timeout(400)
    t0 = time.time()
    save.click()
    try:
        page.get_by_text(tx("app.community.saved")).first.wait_for(timeout=60_000)
        save.wait_for(state="detached", timeout=60_000)
    except Exception:
        page.screenshot(path=f"/tmp/gp-save-fail-{title}.png", full_page=True)
        raise
    return time.time() - t0


def test_two_saves_in_a_row_keep_the_map_and_lose_nothing(app, artifacts_dir):
    from playwright.sync_api import sync_playwright

    store, sid = app["store"], app["sid"]
    lat, lng = app["lonlat"]
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        ctx, page, errors = _tab(browser, app, "А.К.")
        page.locator("iframe[title*='st_folium']").first.scroll_into_view_if_needed()
        fr = _leaflet(page, tries=120)
        fr.evaluate(f"() => {{ window.map.setView([{lat}, {lng}], 17); window.__gp_probe = 'same map'; }}")
        _settle(page)
        fr = _leaflet(page, tries=120)
        view0 = fr.evaluate("() => [window.map.getZoom(), window.map.getCenter()]")
        assert view0[0] == 17
        frame = page.frame_locator("iframe[title*='st_folium']").first
        box = frame.locator(".leaflet-container").bounding_box()

        # a field: the polygon tool, four corners, "finish"
        frame.locator(".leaflet-draw-draw-polygon").click()
        pts = [(box["x"] + box["width"] * a, box["y"] + box["height"] * b)
               for a, b in zip([0.40, 0.55, 0.55, 0.40], [0.40, 0.40, 0.55, 0.55])]
        for x, y in pts:
            page.mouse.click(x, y)
            page.wait_for_timeout(300)
        frame.locator(".leaflet-draw-actions:visible li:first-child a").first.click()
        first = _save(page, "Талаа")
        # at once a spring: the marker tool, one click
        frame.locator(".leaflet-draw-draw-marker").click()
        page.mouse.click(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.45)
        second = _save(page, "Булак")
        _settle(page)
        print(f"save click -> 'saved' shown: {first:.2f} s, {second:.2f} s")

        feats = store.features(session_id=sid)
        assert sorted(feats["title"]) == ["Булак", "Талаа"]
        assert set(feats["kind"]) == {"polygon", "point"}
        fr = _leaflet(page, tries=120)
        # the same map object (not rebuilt), where the group works, with its draw toolbar
        assert fr.evaluate("() => window.__gp_probe") == "same map"
        zoom, center = fr.evaluate("() => [window.map.getZoom(), window.map.getCenter()]")
        assert zoom == 17
        assert abs(center["lat"] - view0[1]["lat"]) < 1e-6 and abs(center["lng"] - view0[1]["lng"]) < 1e-6
        assert fr.locator(".leaflet-draw-draw-polygon").count() == 1
        # both features in the community layer (a field and a spring), the drawn shapes gone from the draw group
        n = fr.evaluate("""() => { var n = 0; window.__gp_comm.fg.eachLayer(function (l) {
                                     if (l.eachLayer) { l.eachLayer(function () { n++; }); } }); return n; }""")
        assert n == 2
        left = fr.evaluate("""() => window.drawnItems.getLayers().filter(function (l) {
                                  return !(l.feature && l.feature.properties &&
                                           l.feature.properties.community_edit_id != null); }).length""")
        assert left == 0
        # the community layer is in the layer switch, and the legend names the categories
        assert fr.locator(".leaflet-control-layers-overlays").inner_text().count(tx("app.page.community")) == 1
        assert fr.locator(".gp-legend").count() == 1
        page.locator("iframe[title*='st_folium']").first.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        page.screenshot(path=str(artifacts_dir / "community_saved_two_ky.png"), full_page=False)
        assert not errors, errors
        ctx.close()
        browser.close()
