"""End-to-end test of the app in a real headless Chromium (Debian ``/usr/bin/chromium`` via Playwright).

Starts ``streamlit run app.py`` on a free port over a copy of the demo workspace, switches the interface to
Russian, draws a polygon on the community map, saves it, reloads the page and finds it again in the UI and
in the store. It also checks that no request leaves localhost (the maps work offline) and saves a
screenshot of every page in ``artifacts/``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gis_planner.devtools.appserver import (ARGS, CHROMIUM, ROOT, AppServer, AppUnavailable,  # noqa: F401
                                            free_port, launch_chromium, map_frame, wait_app)

pytestmark = pytest.mark.browser
_free_port, _wait_app, _map_frame = free_port, wait_app, map_frame   # (names other e2e tests import)


@pytest.fixture(scope="module")
def ws_copy(tmp_path_factory, request):
    """A copy of the demo (or of ``$GIS_PLANNER_E2E_WORKSPACE``) without community data."""
    src = os.environ.get("GIS_PLANNER_E2E_WORKSPACE")
    src = Path(src) if src else request.getfixturevalue("demo_ws").root
    dst = tmp_path_factory.mktemp("e2e") / "ws"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock"))
    return dst


@pytest.fixture(scope="module")
def server(ws_copy):
    try:
        with AppServer(ws_copy, env={"GIS_PLANNER_LANG": "ky"}) as app:
            yield app.url
    except AppUnavailable as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            b = launch_chromium(pw)
        except AppUnavailable as err:
            pytest.fail(str(err))
        yield b
        b.close()


# Streamlit's own English that must not reach a ky/ru screen
BUILTIN_ENGLISH = ("Drag and drop", "Browse files", "per file", "Upload", "Choose an option", "Choose options",
                   "No results")


def test_draw_polygon_in_russian_and_find_it_after_reload(server, browser, ws_copy, artifacts_dir):
    from gis_planner import Workspace
    from gis_planner.community import open_store
    from gis_planner.i18n import t

    outside = []
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="ru-RU")
    ctx.on("request", lambda r: outside.append(r.url)
           if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")) else None)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    _wait_app(page)
    _map_frame(page)
    # default language is Kyrgyz
    assert page.get_by_text(t("app.page.overview", "ky")).first.is_visible()

    # switch to Russian in the sidebar
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=t("app.lang.ru", "ru")).click()
    _wait_app(page)
    assert page.get_by_text(t("app.page.overview", "ru")).first.is_visible()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "app_overview_ru.png"), full_page=True)

    # every page renders without an error message; screenshot each
    from gis_planner.ui.app import PAGES, PAGES_DIR, available

    for slug, title, _icon, req in PAGES:
        if not ((PAGES_DIR / f"{slug}.py").exists() and available(req)):
            continue
        page.get_by_role("link", name=t(title, "ru")).first.click()
        _wait_app(page, 120_000)
        page.wait_for_timeout(2500)
        page.screenshot(path=str(artifacts_dir / f"app_{slug}_ru.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0, slug
        # no Streamlit built-in English on a Russian screen (the uploader's own texts are replaced)
        shown = page.locator("[data-testid='stMain']").inner_text()
        for phrase in BUILTIN_ENGLISH:
            assert phrase not in shown, (slug, phrase)

    # a download made when clicked (the balance XLSX is built by a callable): a real workbook arrives
    page.get_by_role("link", name=t("app.page.balance", "ru")).first.click()
    _wait_app(page, 120_000)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name=t("app.balance.download_xlsx", "ru")).click()
    xlsx = dl.value.path().read_bytes()
    assert xlsx[:2] == b"PK" and len(xlsx) > 10_000 and dl.value.suggested_filename == "balance_ru.xlsx"

    # community map: create a session, draw a polygon, save it
    page.get_by_role("link", name=t("app.page.community", "ru")).first.click()
    _wait_app(page)
    form = page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name=t("app.community.create_session", "ru")))
    try:   # the form is open when the workspace has no session yet
        form.first.wait_for(state="visible", timeout=30_000)
        no_session = True
    except Exception:  # noqa: BLE001 - sessions exist: the form stays folded
        no_session = False
    if no_session:
        # the village comes from the settlements layer, the age band is chosen explicitly
        form.locator("[data-testid='stSelectbox']").filter(has_text=t("app.community.village", "ru")).first.click()
        page.get_by_role("option").nth(1).click()
        form.locator("[data-testid='stSelectbox']").filter(has_text=t("app.community.age_band", "ru")).first.click()
        page.get_by_role("option", name="18-35").click()
        page.get_by_role("button", name=t("app.community.create_session", "ru")).click()
        _wait_app(page)
    page.get_by_role("textbox", name=t("app.community.author", "ru"), exact=True).fill("Т.Т.")
    page.keyboard.press("Enter")
    _wait_app(page)
    frame = _map_frame(page)
    page.wait_for_timeout(1500)
    frame.locator(".leaflet-container").scroll_into_view_if_needed()
    frame.locator(".leaflet-draw-draw-polygon").click()
    box = frame.locator(".leaflet-container").bounding_box()
    # vertices in the middle of the map, clear of the controls, the legend and the draw toolbar's action bar
    # («Завершить | Удалить последнюю точку | Отмена», next to the polygon button)
    fx = [0.40, 0.60, 0.58, 0.42]
    fy = [0.40, 0.40, 0.60, 0.60]
    pts = [(box["x"] + box["width"] * a, box["y"] + box["height"] * b) for a, b in zip(fx, fy)]
    for x, y in pts:
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
    page.mouse.click(*pts[0])          # close the ring on the first vertex
    title = "Бак-2026 <b>жаңы</b>"
    page.get_by_role("textbox", name=t("app.community.title", "ru"), exact=True).wait_for(timeout=30_000)
    page.get_by_role("textbox", name=t("app.community.title", "ru"), exact=True).fill(title)
    page.screenshot(path=str(artifacts_dir / "app_community_drawn_ru.png"), full_page=True)
    page.get_by_role("button", name=t("app.community.save", "ru")).click()
    _wait_app(page)
    page.get_by_text(t("app.community.saved", "ru")).wait_for(timeout=30_000)

    # the store has it
    store = open_store(Workspace(ws_copy))
    feats = store.features()
    mine = feats[feats["title"] == title]
    assert len(mine) == 1
    assert mine.iloc[0]["kind"] == "polygon"
    assert mine.geometry.iloc[0].area > 0
    # the drawn square, not a copy of a clicked layer (the municipality boundary)
    boundary = Workspace(ws_copy).read_layer("boundary").to_crs(4326).geometry.iloc[0]
    assert mine.geometry.iloc[0].area < boundary.area / 5

    # reload: still Russian, still there
    page.reload()
    _wait_app(page)
    page.get_by_role("heading", name=t("app.page.community", "ru")).first.wait_for(timeout=30_000)
    _map_frame(page)
    picker = page.locator("[data-testid='stSelectbox']").filter(
        has_text=t("app.community.pick_feature", "ru"))
    picker.first.scroll_into_view_if_needed()
    assert f"{int(mine.iloc[0]['id'])}: {title}" in picker.first.inner_text() + str(
        picker.first.locator("input").first.get_attribute("value"))
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "app_community_after_reload_ru.png"), full_page=True)

    assert not errors, errors
    assert not outside, f"requests left localhost: {sorted(set(outside))[:10]}"
    ctx.close()
