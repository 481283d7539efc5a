"""Screenshots of every page of the app, for docs/app.md (and for a reviewer to look at).

Starts the app over a copy of the demo workspace (``gis_planner.devtools.appserver``), opens every page in
one language at each viewport in headless Debian chromium and writes
``docs/img/app/<page>_<lang>_<width>x<height>.png`` (the visible window, as a user first sees it), then the
screens after the main actions (``zoning_checked``, ``scenarios_run``, ``scenarios_compare``).

    python scripts/app_screenshots.py [--lang ky] [--out docs/img/app] [--sizes 1440x900,1024x768]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_planner.devtools.appserver import AppServer, launch_chromium, settle  # noqa: E402


def page_slugs() -> list[str]:
    from gis_planner.ui.app import PAGES, PAGES_DIR, available

    return [slug for slug, _t, _i, req in PAGES if (PAGES_DIR / f"{slug}.py").exists() and available(req)]


# a parcel in a village, typed the way it is copied from a certificate (spaces)
CHECK_NUMBER = "4 02 01 0050 0003"


def actions(page, lang: str, shot) -> None:
    """The screens after the main actions: a parcel checked by its number (the map at village scale with the
    parcel outlined), a scenario run, and two scenarios compared."""
    from gis_planner.i18n import t

    base = page.url.split("/")[0] + "//" + page.url.split("/")[2]
    page.goto(f"{base}/zoning?lang={lang}")
    settle(page)
    box = page.get_by_role("textbox", name=t("app.zoning.cadastral_no", lang))
    box.fill(CHECK_NUMBER)
    box.press("Enter")
    settle(page)
    page.wait_for_timeout(1500)    # the map flies to the parcel and draws the vectors
    shot("zoning_checked")
    page.goto(f"{base}/scenarios?lang={lang}")
    settle(page)

    def press_and_show(button: str, where, block: str, name: str) -> None:
        page.get_by_role("button", name=t(button, lang)).click()
        settle(page)
        where.evaluate(f"e => e.scrollIntoView({{block: '{block}'}})")
        page.wait_for_timeout(1500)
        shot(name)

    press_and_show("app.scenarios.run", page.locator("[data-testid='stMain'] h3").first, "start", "scenarios_run")
    page.get_by_role("tab", name=t("app.scenarios.tab_compare", lang)).click()
    settle(page)
    press_and_show("app.scenarios.compare_run", page.locator("iframe[title*='st_folium']").last, "center",
                   "scenarios_compare")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="ky")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "app"))
    ap.add_argument("--sizes", default="1440x900,1024x768")
    ap.add_argument("--workspace", default=str(ROOT / "data" / "cadastre" / "demo"))
    ap.add_argument("--pages", default="", help="comma-separated page slugs (default: all)")
    ap.add_argument("--no-actions", dest="actions", action="store_false",
                    help="only the pages as opened (not: a parcel checked, a scenario run and compared)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    slugs = [s for s in args.pages.split(",") if s] or page_slugs()

    from playwright.sync_api import sync_playwright

    # the workspace itself (pages are only looked at; its display name is what a user sees in the sidebar)
    with tempfile.TemporaryDirectory(prefix="gp-shots-") as tmp:
        log = Path(tmp) / "streamlit.log"
        with AppServer(Path(args.workspace), env={"GIS_PLANNER_LANG": args.lang}, log=log) as app, \
                sync_playwright() as pw:
            browser = launch_chromium(pw)
            for w, h in sizes:
                ctx = browser.new_context(viewport={"width": w, "height": h})
                page = ctx.new_page()
                def shot(name):
                    path = out / f"{name}_{args.lang}_{w}x{h}.png"
                    page.screenshot(path=str(path))
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, flush=True)

                for slug in slugs:
                    page.goto(f"{app.url}/{slug}?lang={args.lang}")
                    settle(page)
                    shot(slug)
                if args.actions:
                    actions(page, args.lang, shot)
                ctx.close()
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
