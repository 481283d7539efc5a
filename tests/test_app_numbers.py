"""Numbers, headers and progress texts the app shows in Kyrgyz and Russian (a user audit found English codes,
counts with decimals and a column mixing ``3819`` and ``4 334``). Known answers are written out by hand or
come from the message catalogues."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gis_planner import Workspace
from gis_planner.i18n import t

from .apptest import ROOT, assert_ok, copy_demo, open_app

NB = "\u00a0"


pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture(scope="module")
def app_ws(tmp_path_factory, demo_ws):
    return copy_demo(demo_ws, tmp_path_factory.mktemp("appws_numbers") / "demo")


_app = open_app
_ok = assert_ok


# ----------------------------------------------------------------------------- local_numbers
def test_mixed_int_column_is_formatted_whole():
    """The exposure table showed «3819» beside «4 334»: ``residents`` contains "id" and was taken for an
    identifier; numbers stored as objects (int, numpy int, float) were skipped."""
    from gis_planner.ui.widgets import local_numbers

    df = pd.DataFrame({"residents": [4334.0, 3819.0], "population": [4334, 3819],
                       "mixed": pd.Series([np.int64(4334), 3819], dtype=object),
                       "with_text": pd.Series([4334.0, "—"], dtype=object)})
    out = local_numbers(df, "ky")
    assert list(out["residents"]) == [f"4{NB}334", f"3{NB}819"]
    assert list(out["population"]) == [f"4{NB}334", f"3{NB}819"]
    assert list(out["mixed"]) == [f"4{NB}334", f"3{NB}819"]
    assert list(out["with_text"]) == [f"4{NB}334", "—"]
    assert list(local_numbers(df, "en")["mixed"]) == ["4,334", "3,819"]


def test_counts_whole_areas_and_money_two_decimals():
    from gis_planner.ui.widgets import column_decimals, local_numbers

    df = pd.DataFrame({"households": [842.0, 11500.0], "house_plots": [12.4, 3.0], "area_ha": [25609.5285, 1.2],
                       "parcels_ha": [0.0021, 3.0], "build_mio_som": [0.0, 263.7935], "base_year": [2024, 2030],
                       "cadastral_no": ["4-02", "4-03"], "overlap_share": [0.25, 1.0], "lon": [77.1034741, 77.2]})
    out = local_numbers(df, "ru")
    assert list(out["households"]) == ["842", f"11{NB}500"]           # not «842,00», «11 500,00»
    assert list(out["house_plots"]) == ["12", "3"]
    assert list(out["area_ha"]) == [f"25{NB}609,53", "1,20"]           # one rule: 2 decimals for hectares
    assert list(out["parcels_ha"]) == ["0,0021", "3,00"]               # 4 only where 0,00 would hide a parcel
    assert list(out["build_mio_som"]) == ["0,00", "263,79"]            # not «0,0000»
    assert list(out["base_year"]) == [2024, 2030] and list(out["cadastral_no"]) == ["4-02", "4-03"]
    assert list(out["overlap_share"]) == ["0,25", "1,00"]
    assert list(out["lon"]) == ["77,103474", "77,200000"]
    assert list(local_numbers(df, "en")["area_ha"]) == ["25,609.53", "1.20"]
    assert column_decimals("run_mio_som_per_year", [0.5, 1.25]) == 2


# ----------------------------------------------------------------------------- scenarios
def test_norm_sources_have_a_short_name_in_kyrgyz_and_russian():
    """Every source in layers/scenario_norms.yaml maps to a catalogue name (no English, no file path in ky/ru);
    English keeps the full text with the file and the rule."""
    import yaml

    from gis_planner.scenarios.model import source_label

    texts = []

    def walk(node, path):
        if isinstance(node, dict):
            if isinstance(node.get("source"), str):
                texts.append(f"layers/scenario_norms.yaml {path}: {node['source']}")
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))

    walk(yaml.safe_load((ROOT / "layers" / "scenario_norms.yaml").read_text(encoding="utf-8")), "")
    assert len(texts) > 50
    src_texts = {t(f"scenarios.src.{k}", lang, code="{code}") for k in ("sedp", "statcom", "law_education",
                 "land_code", "land_types", "plot_norm", "brief", "default") for lang in ("ky", "ru")}
    for text in texts:
        for lang in ("ky", "ru"):
            label = source_label(text, lang)
            assert "layers/" not in label and (label in src_texts or label.startswith("СНиП ")), (text, label)
    first = "layers/scenario_norms.yaml rounding.rate_pct_decimals: SEDP methodology worked example: 7.14%"
    assert source_label(first, "ky") == t("scenarios.src.sedp", "ky")
    assert source_label(first, "en") == first
    assert source_label("layers/scenario_norms.yaml housing.street_width_m: SNiP 2.07.01-89*, table 8", "ru") \
        == "СНиП 2.07.01-89*"


def test_scenario_tables_show_whole_counts_and_short_sources(app_ws):
    from gis_planner.scenarios import run_scenario

    at = _app(app_ws, "ru", "scenarios")
    _ok(at)
    at.button(key="scn_run").click().run()
    _ok(at)
    res = run_scenario(app_ws, "baseline")
    # the demand chain (first tab; the editors of the history and investments come before it)
    steps = next(d.value for d in at.dataframe if t("scenarios.col.formula", "ru") in list(d.value.columns))
    result_col, source_col = steps.columns[3], steps.columns[5]
    forecast = [s for s in res.demand.steps if s.unit == "people"]
    assert forecast
    shown = list(steps[result_col])
    for s in forecast:
        whole = f"{int(s.result):,d}".replace(",", NB)
        assert whole in shown                                  # «12 130», not «12 130,00»
    assert not any(",00" in str(v) for v, s in zip(shown, res.demand.steps) if s.unit == "people")
    assert not any("layers/" in str(v) or "SEDP" in str(v) for v in steps[source_col])
    assert t("scenarios.src.sedp", "ru") in list(steps[source_col])
    formulas = [str(x) for x in steps[steps.columns[2]]]   # decimal comma in the formulas too («7,1429 → 7,14»)
    assert not any(re.search(r"\d\.\d", x) for x in formulas) and any(re.search(r"\d,\d", x) for x in formulas)
    # the hazard exposure of the allocated land names hazards and levels (it showed «flood», «medium»)
    from gis_planner.ui import maps
    hcol = t("scenarios.col.hazard_type", "ru")
    haz = [d.value for d in at.dataframe if hcol in list(d.value.columns)]
    exposed = res.consequences.hazard_exposure
    assert len(haz) == (1 if len(exposed) else 0)
    if len(exposed):
        assert list(haz[0][hcol]) == [maps.code_text(None, v, "ru", prefixes=("zoning.hazard",))
                                      for v in exposed["hazard_type"]]
        assert not set(haz[0][hcol]) & set(exposed["hazard_type"])
    # the multi-storey share is a percent slider
    slider = at.slider(key="scn_ms_pct_baseline")
    assert slider.max == 100 and slider.value == round(100 * float(
        (res.scenario.to_dict().get("housing") or {}).get("multistorey_share", 0)))


def test_compare_table_counts_have_no_decimals(app_ws):
    from gis_planner.scenarios import compare_table, run_scenario

    at = _app(app_ws, "ru", "scenarios")
    _ok(at)
    at.multiselect(key="scn_cmp").set_value(["baseline"]).run()
    at.button(key="scn_cmp_run").click().run()
    _ok(at)
    res = run_scenario(app_ws, "baseline")
    df = at.dataframe[-1].value
    ref = compare_table([res], "ru")
    row = {lab: v for lab, v in zip(df.iloc[:, 0], df[res.scenario.title("ru")])}
    # every row with its unit (issue 20: «result metrics have no units»)
    unit = {lab: u for lab, u in zip(df.iloc[:, 0], df[t("scenarios.col.unit", "ru")])}
    assert list(df.columns[:2]) == [t("scenarios.col.indicator", "ru"), t("scenarios.col.unit", "ru")]
    assert all(unit.values()), [lab for lab, u in unit.items() if not u]
    assert unit[t("scenarios.ind.population_base", "ru")] == "чел."
    assert unit[t("scenarios.ind.plots_unmet", "ru")] == "участков"
    assert unit[t("scenarios.ind.transformations", "ru")] == t("scenarios.unit.parcels", "ru")
    assert unit[t("scenarios.ind.land_allocated_ha", "ru")] == "га"
    assert unit[t("scenarios.ind.run_mio_som_per_year", "ru")] == "млн сом/год"
    households = res.consequences.indicators["households_new"]
    assert row[t("scenarios.ind.households_new", "ru")] == f"{households:,d}".replace(",", NB)
    assert row[t("scenarios.ind.population_base", "ru")] == \
        f"{int(res.consequences.indicators['population_base']):,d}".replace(",", NB)
    build = res.consequences.indicators["build_mio_som"]
    assert row[t("scenarios.ind.build_mio_som", "ru")] == f"{build:,.2f}".replace(",", NB).replace(".", ",")
    assert len(df) == len(ref)


# ----------------------------------------------------------------------------- hazards
def _open_tab(at: AppTest, lang: str, label: str) -> AppTest:
    at.session_state[f"hazards_tab_{lang}"] = label
    return at.run()


def test_relocation_headers_are_translated(app_ws):
    at = _app(app_ws, "ky", "hazards")
    _ok(at)
    at = _open_tab(at, "ky", t("app.hazards.tab_relocation", "ky"))
    _ok(at)
    cols = list(at.dataframe[0].value.columns)
    for field in ("category", "land_use", "has_building"):
        assert field not in cols
        assert t(f"app.field.{field}", "ky") in cols
    assert t("hazards.col.lon", "ky") in cols and "lon" not in cols


def test_zones_filter_shows_newly_computed_types(app_ws):
    """The filter kept its old selection (flood, mudflow): a landslide computed afterwards stayed hidden."""
    at = _app(app_ws, "en", "hazards")
    _ok(at)
    before = [m for m in at.multiselect if str(m.key).startswith("hazards_show")]
    assert len(before) == 1
    old_types = set(before[0].value)
    assert "landslide" not in old_types
    at.multiselect(key="hazards_types").set_value(["landslide"])
    at.button(key="hazards_run").click().run()
    _ok(at)
    z = Workspace(app_ws.root).read_layer("hazard_zones")
    assert "landslide" in set(z["hazard_type"])
    after = [m for m in at.multiselect if str(m.key).startswith("hazards_show")]
    assert len(after) == 1
    assert set(after[0].value) == set(z["hazard_type"]) >= old_types | {"landslide"}


# ----------------------------------------------------------------------------- report
def test_report_progress_texts_come_from_the_catalogue(app_ws, tmp_path):
    from gis_planner.report import build_report
    from gis_planner.report.build import stage_text

    seen = []
    build_report(app_ws, tmp_path / "r", lang="ru", formats=["html"],
                 progress=lambda s, done, total: seen.append((s, done, total)))
    stages = [s for s, _, _ in seen]
    assert {"balance", "conflicts", "hazards", "html", "annexes", "done"} <= set(stages)
    maps = [s for s in stages if s.startswith("map_")]
    assert "map_categories" in maps and "map_hazards" in maps            # one step per map drawn
    done = [d for _, d, _ in seen]
    assert done == list(range(len(seen) - 1)) + [seen[-1][2]]            # one step at a time, to the end
    assert seen[-1] == ("done", len(seen) - 1, len(seen) - 1)
    for s in stages:
        for lang in ("ky", "ru"):
            text = stage_text(s, lang)
            assert text != s and "report.stage" not in text, (s, text)
    assert stage_text("balance", "ky") == t("report.stage.balance", "ky")
    assert stage_text("map_hazards", "ru") == t("report.stage.map", "ru", name=t("report.map.hazards", "ru"))


# ----------------------------------------------------------------------------- balance chart
def test_balance_chart_axis_uses_the_local_number_format(app_ws):
    """st.bar_chart wrote «2,000 … 24,000» on a Russian page: the chart carries Vega's number locale."""
    import json

    at = _app(app_ws, "ru", "balance")
    _ok(at)
    at.session_state["balance_tab_ru"] = t("balance.sheet.by_category", "ru")
    at.run()
    _ok(at)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["config"]["locale"]["number"]["thousands"] == NB
    assert spec["config"]["locale"]["number"]["decimal"] == ","
    assert spec["encoding"]["x"]["axis"]["format"] == ",.0f"
