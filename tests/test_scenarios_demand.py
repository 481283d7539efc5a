"""Growth scenarios, demand model: the methodology's worked examples to the digit, other forecasts,
scenario files, norms as data."""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from gis_planner import GisPlannerError
from gis_planner.cli import main
from gis_planner.scenarios import (Norms, Scenario, cohort_forecast, compound_forecast, crop_chain, demand,
                                   find_scenario, irrigation_chain, load_scenario, q30_forecast, save_scenario,
                                   sector_chain, worked_examples)
from gis_planner.scenarios.demand import annual_rate, annual_rates
from gis_planner.scenarios.model import examples_dir

HISTORY = {2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500}


# --------------------------------------------------------------------------- worked examples
def test_q30_population_forecast_reproduces_methodology():
    fc, steps = q30_forecast(HISTORY, [2025])
    rates = [s.result for s in steps if s.key == "pop_rate"]
    assert rates == [Decimal("7.14"), Decimal("4.76"), Decimal("4.55")]
    mean = next(s for s in steps if s.key == "pop_mean_rate")
    assert mean.result == Decimal("5.48")
    assert fc == {2024: 11500, 2025: 12130}
    fstep = next(s for s in steps if s.key == "pop_forecast")
    # 11 500 × 1.0548 = 12 130.2 → 12 130 (whole people), shown in the formula
    assert fstep.formula == "11500 × 1.0548 = 12130.2 → 12130"
    assert fstep.result == Decimal("12130")


def test_q30_rounding_convention_is_half_up_on_two_decimals():
    # 1000 → 1001.25: 0.125% rounds half up to 0.13 (not banker's 0.12)
    _, steps = q30_forecast({2023: 80000, 2024: 80100}, [2025])
    assert steps[0].result == Decimal("0.13")
    # forecast 80100 × 1.0013 = 80204.13 → 80204
    assert steps[-1].result == Decimal("80204")


def test_irrigation_chain_reproduces_methodology():
    out, steps = irrigation_chain(20)
    assert [s.key for s in steps] == ["irr_land", "irr_farm_jobs", "irr_processing_jobs", "jobs_total", "income",
                                      "households_jobs"]
    assert [s.result for s in steps] == [Decimal(350), Decimal(30), Decimal(10), Decimal(40), Decimal(7),
                                         Decimal(20)]
    assert out["lag_years"] == (6, 10)
    assert "SEDP methodology worked example" in steps[0].source


def test_irrigation_chain_scales_linearly_and_rounds_people_up():
    out, _ = irrigation_chain(3)          # 52.5 ha; 4.5 → 5 farm jobs, 1.5 → 2 processing; 7 jobs; 3.5 → ≥4 houses
    assert out["irrigated_ha"] == Decimal("52.5")
    assert (out["farm_jobs"], out["processing_jobs"], out["jobs"]) == (Decimal(5), Decimal(2), Decimal(7))
    assert out["income_mio_som"] == Decimal("1.225")
    assert out["households"] == 4


def test_raspberry_chain_reproduces_methodology_and_implied_land():
    out, steps = crop_chain("raspberry", 2200, 2024, 2027, no_new_land_output_t=2900, target_growth_pct=74,
                            yield_gain_pct=5)
    assert out["base_area_ha"] == Decimal(550)                  # 2200 t / 4 t/ha
    assert out["no_land_growth_pct"] == Decimal("31.82")        # ≈ +30 %
    assert "≈ +30%" in next(s for s in steps if s.key == "crop_growth_no_land").formula
    assert out["no_land_yield_t_per_ha"] == Decimal("5.27")     # 2900 / 550
    assert out["target_output_t"] == Decimal(3828)              # 2200 × 1.74
    assert out["target_yield_t_per_ha"] == Decimal("4.2")       # 4 × 1.05
    assert out["area_needed_ha"] == Decimal("911.4")            # 3828 / 4.2 = 911.428… → 911.4
    assert out["new_land_ha"] == Decimal("361.4")               # 911.4 − 550
    needed = next(s for s in steps if s.key == "crop_area_needed")
    assert needed.formula == "3828 t / 4.2 t/ha = 911.4286 → 911.4"


def test_worked_examples_table_and_cli():
    ex = worked_examples()
    assert ex["population"][-1].result == Decimal(12130)
    assert ex["irrigation"][-1].result == Decimal(20)
    assert ex["raspberry"][-1].result == Decimal("361.4")
    assert main(["scenario", "examples", "--format", "csv", "--lang", "en"]) == 0


def test_examples_cli_prints_the_figures(capsys):
    assert main(["scenario", "examples", "--lang", "ru", "--no-source"]) == 0
    out = capsys.readouterr().out
    for figure in ("7.14", "4.76", "4.55", "5.48", "12 130", "350", "911.4", "361.4", "3 828"):
        assert figure in out
    assert "Прогноз населения" in out


# --------------------------------------------------------------------------- other forecasts
def test_compound_forecast():
    fc, steps = compound_forecast(1000, 2, 2024, [2025, 2026])
    assert fc == {2024: 1000, 2025: 1020, 2026: 1040}          # 1040.4 → 1040
    assert steps[-1].formula == "1000 × 1.02 ^ 2 = 1040.4 → 1040"


def test_cohort_forecast_hand_computed():
    groups = [{"age": [0, 0], "people": 100, "deaths_per_1000": 0},
              {"age": [1, 1], "people": 100, "deaths_per_1000": 100}]
    fc, _, extra = cohort_forecast(groups, births_per_1000=100, base_year=2024, years=[2025])
    # births 0.1 × 200 = 20 into age 0; the 100 of age 0 move to age 1; age 1 keeps 90 survivors
    assert extra["structure"][2025] == [20.0, 190.0]
    assert fc[2025] == 210


def test_cohort_scenario_uses_school_ages():
    groups = [{"age": [0, 6], "people": 700}, {"age": [7, 17], "people": 1100}, {"age": [18, 100], "people": 8200}]
    scn = Scenario.from_dict({"id": "c", "base_year": 2024, "horizon_year": 2025,
                              "population": {"method": "cohort", "groups": groups, "births_per_1000": 0}})
    d = demand(scn)
    # ages 7–17 at base: 1100; one year on: 1100 − 100 (ageing out) + 100 (from 0–6) = 1100 → no new places
    assert d.social["school_places"] == 0
    assert d.population == {2024: 10000, 2025: 10000}


# --------------------------------------------------------------------------- scenario → demand
def test_baseline_demand_by_hand():
    scn = find_scenario("baseline")
    d = demand(scn)
    # 11 500 × 1.0548^5 = 15 015.8 → 15 016; growth 3516; 3516 / 4.5 = 781.3 → 782 households; + 60 queue
    assert d.population[2029] == 15016
    assert d.households == {"trend": 782, "sectors": 0, "queue": 60, "total": 842, "multistorey": 0, "plots": 842}
    assert d.housing_plots == 842
    # schools: 15016 × 180 / 1000 = 2702.88 → 2703 places; base 11 500 × 0.18 = 2070; 633 new → 3 schools of 300
    assert d.social["school_places"] == 633 and d.social["schools_new"] == 3
    # school 12 million som to build, 0.5 a year to run (methodology)
    tab = d.steps_table("en")
    assert "3 × 12 = 36; +1.5/yr" in set(tab["Formula"])


def test_irrigation_scenario_counts_jobs_households_after_lag():
    d10 = demand(find_scenario("irrigation"))
    assert d10.land_ha["irrigated_agriculture"] == Decimal(350)
    assert d10.land_ha["perennial_crop"] == Decimal("361.4")
    irr = next(r for r in d10.sectors if r["chain"] == "irrigation")
    assert irr["households"] == 20 and irr["households_counted"]
    # a 5-year horizon is before the 6–10-year lag: the 20 houses are not yet counted
    data = find_scenario("irrigation").to_dict()
    data.update(horizon_year=2029, crops=[])
    d5 = demand(Scenario.from_dict(data))
    assert d5.households["sectors"] == 0


def test_sector_chains_industry_and_tourism():
    out, _ = sector_chain("industry", 10)
    assert (out["jobs"], out["land_ha"], out["use"]) == (Decimal(10), Decimal("0.5"), "industry")
    out, _ = sector_chain("tourism", 25)
    assert (out["jobs"], out["land_ha"], out["use"]) == (Decimal(20), Decimal("2.5"), "tourism_facility")


def test_multistorey_share_and_density():
    d = demand(find_scenario("high_growth"))
    total = d.households["total"]
    assert d.multistorey_households == round(total * 0.1)
    assert d.land_ha["multistorey_housing"] == Decimal(d.multistorey_households) / 100


# --------------------------------------------------------------------------- norms are data
def test_scenario_norm_override_and_source():
    scn = Scenario.from_dict({"id": "x", "base_year": 2024, "horizon_year": 2025, "housing": {"queue_households": 10},
                              "norms": {"housing": {"plot_size_ha": 0.08}}})
    d = demand(scn)
    land = next(s for s in d.steps if s.key == "housing_land")
    assert land.result == Decimal("0.8")
    assert land.source.startswith("scenario x")


def test_workspace_override_of_norms_changes_the_chain(tmp_ws):
    (tmp_ws.root / "layers").mkdir()
    (tmp_ws.root / "layers" / "scenario_norms.yaml").write_text(
        "sectors:\n  irrigation:\n    ha_per_mio_som: {value: 10, source: municipal decision}\n", encoding="utf-8")
    n = Norms.load(tmp_ws)
    out, steps = irrigation_chain(20, n)
    assert out["irrigated_ha"] == Decimal(200)
    assert "municipal decision" in steps[0].source


def test_every_norm_has_a_source():
    data = Norms.load().data
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            if "value" in node and not node.get("source"):
                missing.append(path)
            for k, v in node.items():
                if k != "meta":
                    walk(v, f"{path}.{k}" if path else k)

    walk(data, "")
    assert missing == []
    for sec in ("candidates", "suitability", "targets"):
        for key, rule in data[sec].items():
            assert rule.get("source") or key == "hazard_penalty" and rule.get("source"), f"{sec}.{key}"


# --------------------------------------------------------------------------- files and validation
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_and_load_roundtrip(tmp_path, suffix):
    scn = find_scenario("irrigation")
    path = save_scenario(scn, tmp_path / f"s{suffix}")
    back = load_scenario(path)
    assert back.to_dict() == scn.to_dict()
    assert demand(back).summary() == demand(scn).summary()


def test_examples_are_valid_and_distinct():
    names = sorted(p.stem for p in examples_dir().glob("*.yaml"))
    assert names == ["baseline", "high_growth", "irrigation", "tourism"]
    ids = {load_scenario(examples_dir() / f"{n}.yaml").id for n in names}
    assert len(ids) == 4


@pytest.mark.parametrize("patch,code,feature", [
    ({"colour": 1}, "bad_scenario", None),
    ({"population": {"method": "q30", "history": {2024: 11500}}}, "bad_scenario", "population.history"),
    ({"population": {"method": "magic"}}, "bad_scenario", "population.method"),
    ({"investments": [{"sector": "mining", "amount_mio_som": 1}]}, "bad_scenario", "investments[0]"),
    ({"norms": {"housing": {"plot_sise_ha": 0.1}}}, "unknown_norm", "housing.plot_sise_ha"),
    ({"horizon_year": 2090}, "bad_scenario", "horizon_year"),
])
def test_validation_names_the_key_and_fix(tmp_path, patch, code, feature):
    data = {"id": "t", "base_year": 2024, "horizon_year": 2029}
    data.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(GisPlannerError) as exc:
        load_scenario(path)
    assert exc.value.code == code
    assert exc.value.file == str(path)
    if feature:
        assert exc.value.feature == feature
    assert exc.value.fix


def test_cli_demand_json(capsys):
    assert main(["scenario", "demand", "irrigation", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["demand"]["land_ha"]["irrigated_agriculture"] == 350.0
    assert doc["demand"]["housing_plots"] == doc["demand"]["households"]["plots"]


def test_cli_unknown_scenario_is_one_line(capsys):
    assert main(["scenario", "demand", "no_such_scenario"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "baseline" in err and err.count("\n") == 1


def test_queue_list_counts_families(tmp_path):
    (tmp_path / "queue.csv").write_text("applicant,household_size,date\nA,5,2019-03-01\nB,3,2021-07-15\n"
                                        "C,4,2023-01-10\n", encoding="utf-8")
    f = tmp_path / "s.yaml"
    f.write_text("id: q\nbase_year: 2024\nhorizon_year: 2026\nhousing: {queue_file: queue.csv, queue_households: 2}\n",
                 encoding="utf-8")
    d = demand(load_scenario(f))
    assert d.households["queue"] == 5 and d.housing_plots == 5
    step = next(s for s in d.steps if s.key == "households_queue")
    assert step.formula == "3 rows in queue.csv (2019-03-01 … 2023-01-10) + 2"
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: q\nbase_year: 2024\nhorizon_year: 2026\nhousing: {queue_file: nope.csv}\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as exc:
        load_scenario(bad)
    assert exc.value.feature == "housing.queue_file"


# --------------------------------------------------------------------------- rates from any two years (issue 14.6)
WORKING_AGE = Path(__file__).parent / "data" / "working_age.yaml"


def test_rate_between_non_consecutive_years_is_the_compound_annual_rate():
    # ((11 132 / 9 367)^(1/6) − 1) × 100 = 2.9190 → 2.92 %/yr, not 18.84 % taken as one year
    rate, steps = annual_rates({2021: 9367, 2027: 11132})
    assert rate == Decimal("2.92")
    assert [s.key for s in steps] == ["pop_cagr", "pop_cagr_total"]
    assert steps[0].formula == "((11132 / 9367) ^ (1/6) − 1) × 100 = 2.9190 → 2.92"
    assert steps[0].inputs["years"] == 6
    assert abs(float(annual_rate(9367, 11132, 2021, 2027)[1]) - ((11132 / 9367) ** (1 / 6) - 1) * 100) < 1e-9
    fc, steps = q30_forecast({2021: 9367, 2027: 11132}, [2028, 2030])
    # 11 132 × 1.0292 = 11 457.05 → 11 457; × 1.0292^3 = 12 135.9 → 12 136
    assert fc == {2027: 11132, 2028: 11457, 2030: 12136}
    assert all(s.result != Decimal("18.84") for s in steps)


def test_every_pair_of_given_points_gets_its_rate_and_the_forecast_uses_the_end_points():
    hist = {2018: 10000, 2020: 12100, 2021: 12342}
    rate, steps = annual_rates(hist)
    # 2018→2020: (1.21)^(1/2) = 1.1 → 10.00 %; 2020→2021: 242 / 12 100 = 2.00 %; end points over 3 years
    assert [(s.key, s.result) for s in steps[:2]] == [("pop_cagr", Decimal("10")), ("pop_rate", Decimal("2"))]
    expected = round(((12342 / 10000) ** (1 / 3) - 1) * 100, 2)
    assert steps[-1].key == "pop_cagr_total" and float(rate) == expected == 7.27   # 1.0727^3 = 1.2343
    assert steps[-1].label("en") == "Annual growth rate for the forecast: 2018→2021 (3 years, history with gaps)"
    for lang in ("ky", "ru"):
        assert "2018→2021" in steps[-1].label(lang) and steps[-1].label(lang) != steps[-1].label("en")


def test_consecutive_years_keep_the_methodology_mean():
    rate, steps = annual_rates(HISTORY)
    assert rate == Decimal("5.48")
    assert [str(s.result) for s in steps] == ["7.14", "4.76", "4.55", "5.48"]
    assert [s.key for s in steps] == ["pop_rate", "pop_rate", "pop_rate", "pop_mean_rate"]


def test_working_age_scenario_file_through_the_api_and_the_cli():
    d = demand(load_scenario(WORKING_AGE))
    total = next(s for s in d.steps if s.key == "pop_cagr_total")
    assert total.result == Decimal("2.92")
    assert d.population[2028] == 11457
    out = subprocess.run([sys.executable, "-m", "gis_planner", "scenario", "demand", str(WORKING_AGE),
                          "--format", "json", "--lang", "en"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    doc = json.loads(out.stdout)
    rates = [s for s in doc["steps"] if s["unit"] == "%"]
    assert [s["result"] for s in rates] == [2.92, 2.92]
    assert rates[0]["formula"] == "((11132 / 9367) ^ (1/6) − 1) × 100 = 2.9190 → 2.92"
    assert rates[0]["step"] == "Compound annual growth rate 2021→2027 (6 years)"
    text = subprocess.run([sys.executable, "-m", "gis_planner", "scenario", "demand", str(WORKING_AGE),
                           "--lang", "ru"], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parents[1]).stdout
    assert "Среднегодовой (сложный) темп роста 2021→2027 (6 лет)" in text and "2.92" in text.replace(",", ".")


@pytest.mark.parametrize("history,problem", [
    ("{2027: 11132}", "at least two years"),
    ("{2021: 9367, '2021': 9400, 2027: 11132}", "given twice"),
    ("[[2027, 11132], [2021, 9367]]", "do not increase"),
    ("[[2021, 9367], [2021, 9367], [2027, 11132]]", "given twice"),
    ("{2021: 0, 2027: 11132}", "positive number"),
    ("{2021: -9367, 2027: 11132}", "positive number"),
    ("{2021: many, 2027: 11132}", "positive number"),
    ("{twenty: 9367, 2027: 11132}", "is not a year"),
])
def test_unusable_history_is_a_project_error_naming_the_file_and_the_fix(tmp_path, history, problem):
    path = tmp_path / "bad_history.yaml"
    path.write_text(f"id: bad\nbase_year: 2027\nhorizon_year: 2030\npopulation:\n  method: q30\n"
                    f"  history: {history}\n", encoding="utf-8")
    with pytest.raises(GisPlannerError) as exc:
        load_scenario(path)
    assert exc.value.file == str(path) and exc.value.feature == "population.history"
    assert problem in exc.value.problem and exc.value.fix
    out = subprocess.run([sys.executable, "-m", "gis_planner", "scenario", "demand", str(path)],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error:") and str(path) in out.stderr and "Fix:" in out.stderr


def test_api_refuses_an_unusable_history_rather_than_returning_a_rate():
    for hist in ({2024: 11500}, {2021: 0, 2024: 11500}, {2021: 9800, "2021": 9800, 2024: 11500}):
        with pytest.raises(GisPlannerError) as exc:
            q30_forecast(hist, [2025], file="s.yaml")
        assert exc.value.file == "s.yaml" and exc.value.code == "bad_scenario"


def test_scenarios_page_shows_the_compound_rate_step_by_step(demo_ws, tmp_path, no_app_warm_up):
    import shutil

    from tests.apptest import assert_ok, copy_demo, open_app

    ws = copy_demo(demo_ws, tmp_path / "demo")
    (ws.root / "scenarios").mkdir(exist_ok=True)
    shutil.copy(WORKING_AGE, ws.root / "scenarios" / "working_age.yaml")
    at = open_app(ws, "ru", "scenarios")
    at.selectbox(key="scn_pick").set_value("working_age").run()
    at.button(key="scn_run").click().run()
    assert_ok(at, errors=False)
    steps = next(d.value for d in at.dataframe if "Расчёт" in d.value.columns)
    first = steps.iloc[0]
    assert first["Шаг"] == "Среднегодовой (сложный) темп роста 2021→2027 (6 лет)"
    assert first["Расчёт"] == "((11132 / 9367) ^ (1/6) − 1) × 100 = 2,9190 → 2,92" and first["Результат"] == "2,92"
    assert steps.iloc[2]["Результат"].replace("\u202f", " ").replace("\xa0", " ") == "11 457"
