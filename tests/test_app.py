"""The Streamlit app with streamlit.testing.v1.AppTest: every page renders in ky/ru/en with nothing
untranslated on screen, the language switch works, and each page's main action runs on a copy of the demo.

Known answers come from the library functions the pages are shells over (the app must show what they
return), or are counted by hand (features saved, versions).
"""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from gis_planner import Workspace
from gis_planner.i18n import t

from .apptest import APP, assert_ok, copy_demo, open_app, zip_bytes

PAGES = ["overview", "data", "balance", "zoning", "hazards", "community", "scenarios", "report"]
# a message key left on screen: namespace.word[.word…] (file names such as balance.xlsx are not keys)
KEY_RE = re.compile(r"(?<![\w./-])(?:app|core|balance|zoning|hazards|scenarios|io|report|community)"
                    r"\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\b")
EXTENSIONS = {"xlsx", "json", "csv", "gpkg", "yaml", "yml", "docx", "html", "pdf", "png", "py", "md", "geojson"}


pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture(scope="module")
def app_ws(tmp_path_factory, demo_ws):
    """A private copy of the demo (the actions write into it)."""
    return copy_demo(demo_ws, tmp_path_factory.mktemp("appws") / "demo")


_app = open_app


def _texts(at: AppTest) -> str:
    """All text the app sent to the browser (labels, values, options, table bytes) as one string."""
    out = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def _untranslated(at: AppTest) -> list[str]:
    found = set()
    for m in KEY_RE.finditer(_texts(at)):
        key = m.group(0)
        second = key.split(".")[1]
        if any(second.startswith(ext) for ext in EXTENSIONS):   # a file name (balance.yaml…), not a key
            continue
        found.add(key)
    return sorted(found)


_ok = assert_ok


# pages whose tabs run only when open (gis_planner.ui.widgets.lazy_tabs): the key of their tab state
LAZY_TABS = {"zoning": "zoning_tab", "hazards": "hazards_tab", "balance": "balance_tab"}


def _open_tab(at: AppTest, page: str, lang: str, label: str) -> AppTest:
    at.session_state[f"{LAZY_TABS[page]}_{lang}"] = label
    return at.run()


@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_every_page_renders_translated(app_ws, lang):
    for page in PAGES:
        at = _app(app_ws, lang, page)
        _ok(at)
        assert not _untranslated(at), (page, lang, _untranslated(at))
        assert at.title[0].value  # each page has a heading
        if page in LAZY_TABS:   # the other tabs too
            for label in [tab.label for tab in at.tabs][1:]:
                _open_tab(at, page, lang, label)
                _ok(at)
                assert not _untranslated(at), (page, label, lang, _untranslated(at))


def test_language_switch_changes_every_label(app_ws):
    at = _app(app_ws, "ky")
    _ok(at)
    assert [m.label for m in at.metric][1] == t("app.overview.parcels", "ky")
    at.sidebar.selectbox(key="lang").set_value("ru").run()
    _ok(at)
    assert [m.label for m in at.metric][1] == t("app.overview.parcels", "ru")
    assert at.query_params["lang"] == ["ru"] or at.query_params["lang"] == "ru"
    at.sidebar.selectbox(key="lang").set_value("en").run()
    assert [m.label for m in at.metric][1] == "Parcels"


def test_overview_shows_layers_and_counts(app_ws):
    at = _app(app_ws, "en")
    _ok(at)
    parcels = app_ws.read_layer("parcels")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parcels"] == f"{len(parcels):,d}"
    assert metrics["Layers"] == str(len(app_ws.layers()))
    boundary_ha = app_ws.read_layer("boundary").geometry.area.sum() / 10_000
    assert metrics["Territory area, ha"] == f"{boundary_ha:,.2f}"   # as on the balance page
    # Russian/Kyrgyz: space (no-break) thousands, comma decimals, e.g. "25 609,5"
    at.sidebar.selectbox(key="lang").set_value("ru").run()
    metrics = {m.label: m.value for m in at.metric}
    nbsp = "\u00a0"
    assert metrics[t("app.overview.area_ha", "ru")] == f"{boundary_ha:,.2f}".replace(",", nbsp).replace(".", ",")
    assert metrics[t("app.overview.parcels", "ru")] == f"{len(parcels):,d}".replace(",", nbsp)


def test_overview_draws_dense_parcels_as_an_image_and_answers_clicks(app_ws):
    """5 560 parcels > raster_above: one image overlay instead of GeoJSON; a click is looked up on the server."""
    from gis_planner.ui import cache, maps

    root, version = cache.key(app_ws)
    parcels = app_ws.read_layer("parcels")
    assert len(parcels) > maps.raster_threshold() and maps.is_dense(root, version, "parcels")
    img = maps.layer_raster(root, version, "parcels")
    assert img["url"].startswith("data:image/webp;base64,") and img["total"] == len(parcels)
    m, _ = maps.layers_map(app_ws, ["parcels", "boundary"], "en")
    html_ = m.get_root().render()
    assert parcels["cadastral_no"].iloc[0] not in html_
    assert html_.count("L.imageOverlay") == 2   # terrain + parcels
    # the point inside a parcel (representative point) finds exactly that parcel
    p = parcels.iloc[[17]]
    pt = p.geometry.representative_point().to_crs(4326).iloc[0]
    hits = maps.feature_at(root, version, "parcels", pt.y, pt.x)
    assert list(hits["cadastral_no"]) == [p["cadastral_no"].iloc[0]]
    rows = maps.feature_rows(root, "parcels", hits.iloc[0], "en")
    assert p["cadastral_no"].iloc[0] in set(rows["value"])
    # asking for details draws the vector layer (GeoJSON with the cadastral numbers)
    m2, _ = maps.layers_map(app_ws, ["parcels"], "en", vector=["parcels"])
    assert p["cadastral_no"].iloc[0] in m2.get_root().render()


def test_missing_workspace_is_a_message_not_a_traceback(tmp_path):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["ws_path"] = str(tmp_path / "nowhere")
    at.session_state["lang"] = "ru"
    at.run()
    assert not at.exception
    assert at.error and t("app.err.no_workspace", "ru") in at.error[0].value


def test_balance_matches_the_library(app_ws):
    from gis_planner.balance import compute_balance

    at = _app(app_ws, "en", "balance")
    _ok(at)
    b = compute_balance(app_ws)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[t("balance.summary.total_ha", "en")] == f"{b.total_ha:,.2f}"
    assert metrics[t("balance.summary.parcels", "en")] == f"{len(b.parcels):,d}"
    assert len(at.get("download_button")) == 2
    assert len(at.dataframe) == 1                      # only the open sheet is built (the summary)
    from gis_planner.balance import tables
    _open_tab(at, "balance", "en", t("balance.sheet.by_category", "en"))
    _ok(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == len(tables(b, "en")["by_category"])


def test_zoning_check_by_cadastral_number(app_ws):
    from gis_planner.zoning import check

    parcels = app_ws.read_layer("parcels")
    cad = str(parcels["cadastral_no"].iloc[0])
    at = _app(app_ws, "ru", "zoning")
    _ok(at)
    at.text_input(key="zoning_cad").input(cad).run()
    assert not at.exception
    expected = check(app_ws, "housing", parcel_id=cad, lang="ru")
    boxes = {"allowed": at.success, "conditional": at.warning, "prohibited": at.error}
    shown = [b.value for b in boxes[expected.verdict]]
    assert any(cad.replace("-", "\\-") in v for v in shown), shown
    assert len(at.markdown) >= len(expected.reasons)


def test_zoning_rule_editor_saves_an_override(app_ws):
    from gis_planner.zoning import zoning_rules

    at = _app(app_ws, "en", "zoning")
    _ok(at)
    assert not [b for b in at.button if b.key == "zoning_save"]   # the editor is built only when its tab is open
    _open_tab(at, "zoning", "en", t("app.zoning.tab_rules", "en"))
    _ok(at)
    at.button(key="zoning_save").click().run()
    _ok(at)
    assert at.success and at.success[0].value.startswith(t("app.zoning.saved", "en", path="")[:10])   # seen
    assert (app_ws.root / "layers" / "zoning_rules.yaml").exists()
    assert zoning_rules(app_ws)["zones"]["residential"]["permitted"] == \
        zoning_rules(None)["zones"]["residential"]["permitted"]


def test_data_upload_rejects_path_traversal(app_ws):
    at = _app(app_ws, "en", "data")
    _ok(at)
    at.file_uploader(key="data_upload").set_value(("evil.zip", zip_bytes({"../../evil.txt": b"x"}), "application/zip")).run()
    assert not at.exception
    assert at.error  # the archive check refused it
    assert not (app_ws.root.parent / "evil.txt").exists()


def test_data_upload_field_mapping_and_import(app_ws, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    b = app_ws.read_layer("boundary")
    x0, y0, _, _ = b.total_bounds
    src = gpd.GeoDataFrame({"NAME_X": ["Park <b>1</b>", "Park 2"], "REGIME_X": ["core", "buffer"]},
                           geometry=[box(x0 + 100, y0 + 100, x0 + 300, y0 + 300),
                                     box(x0 + 400, y0 + 100, x0 + 600, y0 + 300)], crs=b.crs)
    path = tmp_path / "parks.geojson"
    src.to_crs(4326).to_file(path, driver="GeoJSON")
    at = _app(app_ws, "en", "data")
    at.file_uploader(key="data_upload").set_value(("parks.geojson", path.read_bytes(), "application/geo+json")).run()
    _ok(at)
    at.selectbox(key="data_target").set_value("protected_areas").run()
    at.selectbox(key="data_map_protected_areas_name").set_value("NAME_X")
    at.selectbox(key="data_map_protected_areas_regime").set_value("REGIME_X")
    at.checkbox(key="data_confirm_replace_protected_areas").check().run()   # the layer exists: it is replaced
    at.button(key="data_import").click().run()
    _ok(at)
    pa = Workspace(app_ws.root).read_layer("protected_areas")
    assert sorted(pa["name"]) == ["Park 2", "Park <b>1</b>"]
    assert abs(pa.geometry.area.sum() - 2 * 200 * 200) < 1.0   # two 200 m squares, reprojected back


def test_community_session_edit_delete_restore(app_ws):
    from shapely.geometry import Point

    from gis_planner.community import open_store

    store = open_store(app_ws)
    at = _app(app_ws, "ru", "community")
    _ok(at)
    n0 = store.counts()["sessions"]
    village = at.selectbox(key="community_new_village")   # from the settlements layer
    village.set_value("Таш-Булак")
    at.selectbox(key="community_new_age").set_value("all")  # chosen explicitly (no default)
    [b for b in at.button if b.label == t("app.community.create_session", "ru")][0].click().run()
    _ok(at)
    assert store.counts()["sessions"] == n0 + 1
    sid = int(store.list_sessions()["id"].max())
    c = app_ws.read_layer("boundary").to_crs(4326).geometry.iloc[0].representative_point()
    rec = store.add_feature(sid, Point(c.x, c.y), "spring", "Булак <script>", author="A.K.")
    at = _app(app_ws, "ru", "community")
    at.text_input(key="community_author").input("Б.Т.").run()
    _ok(at)
    title_inputs = [w for w in at.text_input if w.label == t("app.community.title", "ru")]
    title_inputs[0].input("Булак оңдолду")
    [b for b in at.button if b.label == t("app.community.save_changes", "ru")][0].click().run()
    _ok(at)
    got = store.get_feature(rec.id)
    assert (got.title, got.version, got.author) == ("Булак оңдолду", 2, "Б.Т.")
    [c for c in at.checkbox if c.label == t("app.community.delete_confirm", "ru")][0].check()   # asks to confirm
    [b for b in at.button if b.label == t("app.community.delete", "ru")][0].click().run()
    _ok(at)
    assert store.get_feature(rec.id).deleted
    at.button(key="community_restore").click().run()
    _ok(at)
    assert not store.get_feature(rec.id).deleted
    assert list(store.history(rec.id)["action"]) == ["create", "update", "delete", "restore"]


def test_hazards_compute_with_progress(app_ws):
    before = app_ws.read_layer("hazard_zones")
    official = before[before["method"] == "official"]
    at = _app(app_ws, "en", "hazards")
    _ok(at)
    at.multiselect(key="hazards_types").set_value(["flood"])
    at.button(key="hazards_run").click().run()
    _ok(at)
    z = Workspace(app_ws.root).read_layer("hazard_zones")
    after_official = z[z["method"] == "official"]
    assert len(after_official) == len(official)                     # official zones are kept apart
    assert after_official.geometry.area.sum() == pytest.approx(official.geometry.area.sum())
    assert set(z.loc[z["method"] != "official", "hazard_type"]) == {"flood"}   # only what was asked


def test_scenario_runs_and_shows_allocation(app_ws):
    from gis_planner.scenarios import run_scenario

    at = _app(app_ws, "en", "scenarios")
    _ok(at)
    at.button(key="scn_run").click().run()
    _ok(at)
    res = run_scenario(app_ws, "baseline")
    labels = [m.label for m in at.metric]
    values = [m.value for m in at.metric]
    for r in res.allocation.summary.itertuples():
        # the figure's unit in its title ("House plots, plots", "Social facilities, ha")
        assert f'{t(f"scenarios.use.{r.use}", "en")}, {t(f"scenarios.unit.{r.unit}", "en")}' in labels
        def num(v):   # whole numbers without decimals, else two (English: comma thousands)
            return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
        assert f"{num(r.allocated)} / {num(r.demand)}" in values


def test_report_generates_html(app_ws):
    at = _app(app_ws, "en", "report")
    _ok(at)
    at.multiselect(key="report_formats").set_value(["html"])
    at.button(key="report_go").click().run()
    _ok(at)
    assert (app_ws.root / "exports" / "report_en" / "sedp_sections_en.html").exists()
    # the report and the full lists behind its summaries: the conflicts workbook and the relocation list
    names = sorted(b.proto.label for b in at.get("download_button"))
    assert names == ["Download HTML", "conflicts_en.xlsx", "relocation_en.csv"]


def test_background_warm_up_fills_the_caches_the_pages_use(app_ws):
    """The start-up thread computes the restrictions under the key the zoning page reads: afterwards the
    page's lookup returns that result without computing (a function that would fail is never called)."""
    from gis_planner.ui import app as shell
    from gis_planner.ui import cache, maps
    from gis_planner.zoning import build_restrictions

    root, version = cache.key(app_ws)
    old, old_delay = shell.WARM, shell.WARM_DELAY_S
    shell.WARM = [w for w in old if w[1] == "restrictions"]   # (the balance is tested on its own page)
    shell.WARM_DELAY_S = 0
    try:
        shell.warm_up.clear()
        shell.warm_up(root, version).join(120)
    finally:
        shell.WARM, shell.WARM_DELAY_S = old, old_delay

    def must_not_run(_ws):
        raise AssertionError("recomputed instead of using the warmed cache")

    warmed = cache.compute(root, version, "restrictions", must_not_run)
    assert len(warmed) == len(build_restrictions(app_ws))
    gdf, sidx = maps.layer_index(root, version, "parcels")
    assert sidx is not None and len(gdf) == len(app_ws.read_layer("parcels"))


def test_launcher_prepares_the_first_page(app_ws):
    """`python -m gis_planner.ui.serve` fills the overview's caches before the first visitor: afterwards the
    parcel image is on disk for this data version and the overview map needs no new rasterising."""
    from gis_planner.ui import cache, maps, serve

    root, version = cache.key(app_ws)
    maps.layer_raster.clear()
    for f in (app_ws.root / ".gis_planner_cache").glob("layer-parcels-*.json"):
        f.unlink()
    serve.prepare(str(app_ws.root), "ru")
    assert list((app_ws.root / ".gis_planner_cache").glob("layer-parcels-*.json"))
    assert maps.layer_raster(root, version, "parcels")["total"] == len(app_ws.read_layer("parcels"))


def test_launcher_component_scan_finds_the_same_components():
    """The launcher's quicker pre-filter of Streamlit's components-v2 scan keeps exactly the distributions
    Streamlit's own filter keeps (it only skips, unparsed, those whose metadata never says "streamlit")."""
    import importlib.metadata as md

    from streamlit.components.v2 import manifest_scanner as ms

    from gis_planner.ui import serve

    before = ms._is_likely_streamlit_component_package
    try:
        assert serve.quick_component_scan() and serve.quick_component_scan()   # idempotent
        quick = ms._is_likely_streamlit_component_package
        full = getattr(quick, "__wrapped__", quick)
        dists = list(md.distributions())
        kept = sorted(d.name for d in dists if quick(d))
        assert kept == sorted(d.name for d in dists if full(d))
        assert "streamlit-folium" in kept and "numpy" not in kept
    finally:
        ms._is_likely_streamlit_component_package = before


def test_markdown_table_escapes_cells_and_formats_numbers():
    """The overview's layer list is a Markdown table (no grid code to load): cells are escaped, so a
    source text cannot break the table, format or inject HTML; numbers are in the local format."""
    def page():
        import pandas as pd

        from gis_planner.ui.widgets import md_table
        md_table(pd.DataFrame({"layer": ["<script>alert(1)</script>|*x*"], "features": [12345.5]}),
                 {"layer": "core.layer", "features": "core.features"})

    at = AppTest.from_function(page)
    at.session_state["lang"] = "ru"
    at.run()
    _ok(at)
    text = at.markdown[0].value
    head, rule, row = text.split("\n")
    assert head == f"| {t('core.layer', 'ru')} | {t('core.features', 'ru')} |" and rule == "|---|---|"
    assert "<script>" not in text and "&lt;script&gt;" in row
    assert row.count(" | ") == 1                      # the cell's '|' is escaped, not a new column
    assert "\\|\\*x\\*" in row and "12\u00a0345,5" in row


def test_file_uploader_shows_no_builtin_english(app_ws):
    """Streamlit's uploader says "Upload" and "200MB per file • …" in English: the Data page hides the hint
    (its caption says it in the user's language) and labels the button from the catalogue; the size limit
    is the app's, enforced by the browser too."""
    at = _app(app_ws, "ky", "data")
    _ok(at)
    sent = _texts(at)
    style = next(s for s in sent.split("\n") if "<style>" in s and "stFileUploader" in s)   # (the page has others)
    assert f'content: \\"{t("app.data.choose_file", "ky")}\\"' in style          # the button's label
    assert 'DropzoneInstructions\\"] {display: none;}' in style                  # the English hint
    assert "max_upload_size_mb: 100" in sent


def test_css_string_cannot_escape_its_context():
    from gis_planner.ui.widgets import css_string

    s = css_string('a"b\\c</style><script>')
    assert s.startswith('"') and s.endswith('"') and '"' not in s[1:-1]
    assert "<" not in s and "\\22 " in s and "\\5c " in s


def test_municipality_name_follows_the_language(app_ws):
    """The demo has name/name_ru/name_en, district/district_ru: the overview and the sidebar use the
    one of the chosen language and fall back to the municipality's own (Kyrgyz) name."""
    from gis_planner.ui.safe import md_escape

    meta = app_ws.meta()
    for lang, name, district in (("ru", meta["name_ru"], meta["district_ru"]),
                                 ("en", meta["name_en"], meta["district"]),
                                 ("ky", meta["name"], meta["district"])):
        at = _app(app_ws, lang)
        _ok(at)
        assert at.title[0].value == md_escape(name)
        assert md_escape(district) in at.caption[0].value
        assert md_escape(name) in [c.value for c in at.sidebar.caption]


def test_import_warnings_use_the_apps_wording():
    """Stored import warnings (overview, data page) never tell the user to use a CLI option: the app's own
    wording (app.warn.*) where the library's names one, the library's text otherwise."""
    def page():
        from gis_planner.ui.widgets import warnings_list
        warnings_list([{"code": "no_source_date", "params": {}},
                       {"code": "swapped_axes", "params": {}}])

    at = AppTest.from_function(page)
    at.session_state["lang"] = "ky"
    at.run()
    _ok(at)
    text = at.markdown[0].value
    assert "--" not in text
    assert md_escape_(t("app.warn.no_source_date", "ky")) in text
    assert md_escape_(t("io.warn.swapped_axes", "ky")) in text


def md_escape_(text: str) -> str:
    from gis_planner.ui.safe import md_escape
    return md_escape(text)
