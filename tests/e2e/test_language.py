"""Every page in Kyrgyz and Russian, in a real browser: no English word from Streamlit, Leaflet or a raw value,
and no catalogue code shown as text.

One app server over a copy of the demo, one headless Debian chromium, the pages one after another (each opened
by its address, as a bookmark would: ``/overview`` too). The text looked at is what a user sees or hears from a
screen reader: the page's text, the titles, labels and placeholders of its elements, and inside every map its
controls, legend, scale bar and labels.
"""
from __future__ import annotations

import re
import shutil

import pytest

from gis_planner.devtools.appserver import AppServer, AppUnavailable, launch_chromium, settle

pytestmark = pytest.mark.browser

# English that must not reach a ky/ru screen: Streamlit's and Leaflet's own texts, raw values, units
ENGLISH = ["Zoom in", "Zoom out", "Layers", "Legend", "Page not found", "does not seem to exist", "Running",
           "Stop", "Upload", "Browse files", "Drag and drop", "per file", "Choose an option", "No results",
           "Press Enter", "Download as CSV", "Search", "Fullscreen", "Close popup", "Previous month", "Next month",
           "DD.MM.YYYY", "YYYY", "km", "KB", "MB", "nan", "NaN", "None", "null", "True", "False", "src_fid",
           "fid", "Fix", "gis-planner init", "make demo", "Error", "Warning", "Traceback", "Workspace", "Loading"]
ENGLISH_RE = re.compile(r"(?<![A-Za-z_-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![A-Za-z_-])")
# Latin words that are not codes wherever they appear (formats, product and file names)
NOT_CODES = {"gis_planner"}

TEXT_JS = """() => {
  const out = [];
  const main = document.querySelector('[data-testid="stMain"]');
  const side = document.querySelector('[data-testid="stSidebar"]');
  for (const el of [main, side]) { if (el) out.push(el.innerText); }
  for (const el of document.querySelectorAll('[role="dialog"]')) out.push(el.innerText);
  for (const el of document.querySelectorAll('[title],[aria-label],[placeholder]')) {
    if (el.closest('[data-testid="stSidebarNav"]') === null && el.offsetParent !== null) {
      for (const a of ['title', 'aria-label', 'placeholder']) { const v = el.getAttribute(a); if (v) out.push(v); }
    }
  }
  return out.join('\\n');
}"""
MAP_JS = """() => {
  const c = document.querySelector('.leaflet-container');
  if (!c) return '';
  const out = [c.innerText];
  for (const el of c.querySelectorAll('[title],[aria-label]')) {
    for (const a of ['title', 'aria-label']) { const v = el.getAttribute(a); if (v) out.push(v); }
  }
  return out.join('\\n');
}"""


def _codes() -> set[str]:
    """Every catalogue code, legal-zone code and scenario id (the words that must be shown by name)."""
    from gis_planner.catalog import CODE_LISTS, catalogue, load_rules
    from gis_planner.scenarios import examples_dir

    codes: set[str] = set()
    for name in CODE_LISTS:
        codes.update(str(c) for c in catalogue(name).codes)
    for name in ("water_types", "protected_regimes", "community_categories"):
        try:
            codes.update(str(c) for c in catalogue(name).codes)
        except Exception:  # noqa: BLE001 - a catalogue of another shape
            pass
    codes.update(str(c) for c in (load_rules("zoning_rules").get("zones") or {}))
    codes.update(p.stem for p in examples_dir().glob("*.y*ml"))
    # only Latin identifiers can be codes shown raw (ky/ru text is Cyrillic)
    return {c for c in codes if re.fullmatch(r"[a-z][a-z0-9_]*", c) and len(c) > 2} - NOT_CODES


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_ws):
    dst = tmp_path_factory.mktemp("lang") / "ws"
    shutil.copytree(demo_ws.root, dst, ignore=shutil.ignore_patterns("community.gpkg*", ".*lock", "exports"))
    try:
        with AppServer(dst, env={"GIS_PLANNER_LANG": "ky", "GIS_PLANNER_APP_WARM": "0"}) as server:
            yield server
    except AppUnavailable as err:
        pytest.fail(str(err))


def _page_text(page) -> str:
    parts = [page.evaluate(TEXT_JS)]
    for frame in page.frames:
        if frame != page.main_frame:
            try:
                parts.append(frame.evaluate(MAP_JS))
            except Exception:  # noqa: BLE001 - a frame that went away while reading
                pass
    return "\n".join(parts)


def problems(text: str, codes: set[str]) -> list[str]:
    """English words and codes found in ``text`` (a line of context each)."""
    out = []
    for line in text.splitlines():
        for m in ENGLISH_RE.finditer(line):
            out.append(f"English {m.group(1)!r} in: {line.strip()[:160]}")
        for tok in re.findall(r"(?<![\w./-])[a-z][a-z0-9_]*(?![\w/.-])", line):
            if tok in codes:
                out.append(f"code {tok!r} in: {line.strip()[:160]}")
    return out


def test_problems_finds_what_it_should():
    codes = {"housing", "high_growth"}
    assert problems("Участок: housing", codes) and problems("Zoom in", codes)
    assert problems("0,7KB", codes) and problems("5 km", codes) and problems("nan", codes)
    assert problems("Жилищное строительство, 0,7 КБ, 5 км", codes) == []
    assert problems("файл workspace.gpkg", codes) == []


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_every_page_speaks_the_language(app, lang, artifacts_dir):
    from playwright.sync_api import sync_playwright

    from gis_planner.ui.app import PAGES, PAGES_DIR, available

    codes = _codes()
    found = {}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for slug, _title, _icon, req in PAGES:
            if not ((PAGES_DIR / f"{slug}.py").exists() and available(req)):
                continue
            page.goto(f"{app.url}/{slug}?lang={lang}")   # a deep link, /overview included
            settle(page)
            text = _page_text(page)
            assert page.locator("[data-testid='stException']").count() == 0, slug
            bad = problems(text, codes)
            if bad:
                page.screenshot(path=str(artifacts_dir / f"lang_{slug}_{lang}.png"), full_page=True)
                found[slug] = bad[:15]
        browser.close()
    assert not found, "\n".join(f"{slug}: {x}" for slug, xs in found.items() for x in xs)
    assert not errors, errors
