"""The land-category step of the parcel verdict (issue 14, item 4): `check` and `transform` say whether the
parcel's category (and land type) allows the use, and if not, the transformation it needs, who decides and
the legal source; pasture and irrigated arable land get the stricter verdict; the strictest reason wins."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gis_planner.i18n import t
from gis_planner.zoning import check, check_many, transformation_list, write_transformation
from gis_planner.zoning.category import (category_rules, category_step, category_table, strictest,
                                         validate_category_rules)
from tests.helpers import gdf, rect, square

ROOT = Path(__file__).resolve().parents[1]
PROV = {"source": "hand-made test geometry", "source_date": "2026-12-04"}

# demo parcels (data/cadastre/build_demo.py), each free of restrictions for housing unless said
PASTURE = "4-02-13-0006-0056"      # the 543 ha agricultural pasture of the issue
HOUSE = "4-02-01-0013-0004"        # settlement house plot, 0.118 ha, in the residential zone
RAIN_FED = "4-02-10-2340-0001"     # rain-fed arable, 0.70 ha
IRRIGATED = "4-02-10-0100-0003"    # irrigated arable, 4.48 ha
FOREST = "4-02-13-0004-0001"       # forest fund
WATER = "4-02-11-0001-0001"        # water fund (lake shore, in the coastal strip)

FIVE_STEPS = ["justification", "documents", "council_resolution", "state_agreement", "registration"]


# ---------------------------------------------------------------------- the table as data
def test_the_table_is_valid_and_every_row_has_a_source_in_three_languages():
    assert validate_category_rules() == []
    rules = category_rules()
    for row in rules["transformations"]:
        assert all(row["source"][lang] for lang in ("ky", "ru", "en")), row["id"]
    for code, entry in rules["categories"].items():
        assert all(entry["source"][lang] for lang in ("ky", "ru", "en")), code
    # the moratorium and the transformation law are cited with number and date
    moratorium = next(r for r in rules["transformations"] if r["id"] == "irrigated_moratorium")
    assert "No. 257 of 31 July 2009" in moratorium["source"]["en"] and "№ 257" in moratorium["source"]["ru"]
    assert "No. 145 of 15 July 2013" in next(r for r in rules["transformations"]
                                               if r["id"] == "agricultural")["source"]["en"]


@pytest.mark.parametrize("use,category,land_type,effect,rule,to,exceptional", [
    ("housing", "settlement", None, None, "allowed", "settlement", False),
    ("housing", "agricultural", "pasture", "conditional", "pasture", "settlement", True),
    ("housing", "agricultural", "irrigated", "prohibited", "irrigated_moratorium", "settlement", False),
    ("housing", "agricultural", "rain_fed", "conditional", "agricultural", "settlement", False),
    ("housing", "agricultural", "hayfield", "conditional", "agricultural", "settlement", False),
    ("housing", "forest_fund", None, "conditional", "forest_fund", "settlement", True),
    ("housing", "water_fund", None, "prohibited", "water_fund", "settlement", False),
    ("housing", "protected", None, "prohibited", "protected", "settlement", False),
    ("housing", "reserve", None, "conditional", "reserve", "settlement", False),
    ("industry", "settlement", None, None, "allowed", "settlement", False),
    ("landfill", "settlement", None, "conditional", "other", "industry_transport", False),
    # the moratorium's own exceptions (schools/clinics, cemeteries, sewage works, public roads)
    ("social_facility", "agricultural", "irrigated", "conditional", "irrigated_moratorium", "settlement", True),
    ("road", "agricultural", "irrigated", "conditional", "irrigated_moratorium", "industry_transport", True),
    # farming uses stay where they are; a pasture ploughed for irrigation changes its land type
    ("irrigated_agriculture", "agricultural", "irrigated", None, "allowed", "agricultural", False),
    ("grazing", "agricultural", "pasture", None, "allowed", "agricultural", False),
    ("irrigated_agriculture", "agricultural", "pasture", "conditional", "pasture", "agricultural", True),
    ("livestock_farm", "agricultural", "irrigated", "prohibited", "irrigated_moratorium", "agricultural", False),
])
def test_category_step(use, category, land_type, effect, rule, to, exceptional):
    s = category_step(use, category, land_type)
    assert (s["effect"], s["rule_id"], s["to_category"], s["exceptional"]) == (effect, rule, to, exceptional)
    assert s["type_change"] == (effect is not None and to == category)
    if effect is not None:
        assert s["decided_by"] and s["legal_source"]["en"]


def test_who_decides_depends_on_category_and_land_type():
    assert category_step("housing", "agricultural", "pasture")["decided_by"] == [
        "pasture_committee", "ayil_kenesh", "district_administration", "land_resources", "cabinet"]
    assert category_step("housing", "agricultural", "rain_fed")["decided_by"] == [
        "ayil_kenesh", "district_administration", "land_resources", "cabinet"]
    assert category_step("housing", "forest_fund", None)["decided_by"][0] == "forest_service"
    for code in category_rules()["bodies"]:
        assert all(t(f"zoning.body.{code}", lang) != f"zoning.body.{code}" for lang in ("ky", "ru", "en"))


def test_strictest_wins():
    assert strictest("allowed", None) == "allowed"
    assert strictest("permitted", "conditional") == "conditional"
    assert strictest("conditional", "prohibited", "allowed") == "prohibited"
    assert strictest("prohibited", None) == "prohibited"


def test_category_table_lists_every_use_for_every_category():
    tab = category_table(lang="en")
    n_uses = 16
    n_rows = len(category_rules()["categories"]) + 2       # + irrigated and pasture land types
    assert len(tab) == n_uses * n_rows
    row = tab[(tab.category == "Agricultural land (Irrigated arable land)") & (tab.use == "Housing")].iloc[0]
    assert row.verdict == "Prohibited" and "No. 257" in row.legal_source


# ---------------------------------------------------------------------- a hand-made workspace, known answers
@pytest.fixture
def cat_ws(tmp_ws):
    """Eight 100 m squares, one per category / land type, no restriction layer at all."""
    codes = ["S", "P", "I", "R", "F", "W", "X", "Z"]
    cats = ["settlement", "agricultural", "agricultural", "agricultural", "forest_fund", "water_fund",
            "protected", "reserve"]
    lts = [None, "pasture", "irrigated", "rain_fed", None, None, None, None]
    parcels = gdf({"cadastral_no": codes, "category": cats, "land_type": lts},
                  [square(200 * i, 0, 100) for i in range(len(codes))])
    tmp_ws.write_layers({"parcels": parcels}, {"parcels": PROV})
    return tmp_ws


def test_hand_made_verdicts_for_housing(cat_ws):
    got = {c: check(cat_ws, "housing", parcel_id=c, lang="en") for c in "SPIRFWXZ"}
    assert {c: r.verdict for c, r in got.items()} == {
        "S": "allowed", "P": "conditional", "I": "prohibited", "R": "conditional", "F": "prohibited",
        "W": "prohibited", "X": "prohibited", "Z": "conditional"}
    # no restriction layer: the restriction part allows everything but the forest-fund regime (derived from
    # the forest-fund parcels, it prohibits housing); elsewhere the category step decides
    assert {c: r.restriction_verdict for c, r in got.items() if r.restriction_verdict != "allowed"} == {
        "F": "prohibited"}
    assert got["F"].category[0]["effect"] == "conditional" and got["F"].category[0]["exceptional"]
    assert got["S"].reasons == [] and got["S"].category[0]["rule_id"] == "allowed"
    assert "the category allows Housing" in str(got["S"])
    p = got["P"].reasons
    assert len(p) == 1 and p[0]["kind"] == "land_category" and p[0]["rule_id"] == "category.pasture"
    assert p[0]["share"] == 1.0 and p[0]["area_ha"] == pytest.approx(1.0)
    assert p[0]["message"].startswith("Conditional, exceptional only: the law allows the transformation from "
                                      "Agricultural land (Pastures) to Settlement land for Housing")
    assert "pasture committee" in p[0]["message"] and "Cabinet of Ministers" in p[0]["message"]
    assert "«On pastures» (No. 30 of 26 January 2009)" in p[0]["legal_source"]
    assert not p[0]["confirmed"] and "confirmed by the district land specialist" in p[0]["message"]
    # the five steps of the procedure, step 4 naming the bodies of this case
    assert len(p[0]["procedure"]) == 5
    assert p[0]["procedure"][0] == t("zoning.step.justification", "en")
    assert p[0]["procedure"][3].endswith("here: pasture committee, district administration, land resources agency, "
                                         "Cabinet of Ministers of the KR")
    r = got["R"].reasons[0]
    assert r["message"].startswith("Conditional: Housing needs a transformation from Agricultural land "
                                   "(Rain-fed arable land) to Settlement land; decided by: local council")
    i = got["I"].reasons[0]
    assert i["effect"] == "prohibited" and i["procedure"] == [] and "No. 257 of 31 July 2009" in i["legal_source"]
    assert got["I"].message == "Housing: Prohibited. " + t("zoning.category.only", "en")


def test_reasons_in_every_language_with_the_source_in_that_language(cat_ws):
    ky = check(cat_ws, "housing", parcel_id="P", lang="ky").reasons[0]
    ru = check(cat_ws, "housing", parcel_id="P", lang="ru").reasons[0]
    assert "«Жайыттар жөнүндө» КР Мыйзамы" in ky["message"] and "Жайыттар" in ky["message"]
    assert "Закон КР «О пастбищах»" in ru["message"] and "Пастбища" in ru["message"]
    assert ky["source_text"] != ru["source_text"] and ky["legal_source"] == ru["legal_source"]  # English kept
    assert ru["procedure"][2] == t("zoning.step.council_resolution", "ru")


def test_a_drawn_plot_over_two_categories_gets_a_step_for_each_part(cat_ws):
    # 100 × 100 over settlement S (x 0..100) and nothing; then over P and I halves
    half = check(cat_ws, "housing", geometry=rect(50, 0, 150, 100), lang="en")
    assert [(c["from_category"], round(c["share"], 6)) for c in half.category] == [("settlement", 0.5), (None, 0.5)]
    assert half.verdict == "conditional"                     # the part on no parcel: category unknown
    assert half.reasons[0]["rule_id"] == "category.unknown_category"
    both = check(cat_ws, "housing", geometry=rect(250, 0, 450, 100), lang="en")   # ¼ P, ½ no parcel, ¼ I
    assert both.verdict == "prohibited"
    assert [(r["rule_id"], r["share"]) for r in both.reasons] == [("category.irrigated_moratorium", 0.25),
                                                                  ("category.unknown_category", 0.5),
                                                                  ("category.pasture", 0.25)]


def test_restrictions_and_category_combine_strictest_wins(cat_ws):
    # a high mudflow zone over the settlement plot: the restriction prohibits although the category allows
    cat_ws.write_layers({"hazard_zones": gdf({"hazard_type": ["mudflow"], "level": ["high"], "method": ["official"]},
                                             [square(0, 0, 100)])}, {"hazard_zones": PROV})
    s = check(cat_ws, "housing", parcel_id="S", lang="en")
    assert (s.restriction_verdict, s.category[0]["effect"], s.verdict) == ("prohibited", None, "prohibited")
    many = check_many(cat_ws, "housing", cat_ws.read_layer("parcels"), category=True)
    assert list(many["verdict"]) == ["prohibited", "conditional", "prohibited", "conditional", "prohibited",
                                     "prohibited", "prohibited", "conditional"]
    assert list(many["restriction_verdict"])[:2] == ["prohibited", "allowed"]


def test_a_workspace_override_changes_the_answer_without_code(cat_ws):
    assert check(cat_ws, "housing", parcel_id="Z").verdict == "conditional"
    d = cat_ws.root / "layers"
    d.mkdir()
    (d / "category_uses.yaml").write_text(yaml.safe_dump({"categories": {"reserve": {"allows": ["housing"]}}}),
                                          encoding="utf-8")
    assert check(cat_ws, "housing", parcel_id="Z").verdict == "allowed"
    (d / "category_uses.yaml").write_text(yaml.safe_dump({"categories": {"reserve": {"allows": ["flying"]}}}),
                                          encoding="utf-8")
    assert any("unknown activity 'flying'" in p for p in validate_category_rules(ws=cat_ws))


# ---------------------------------------------------------------------- the demo, the API and the CLI
@pytest.fixture(scope="module")
def demo_flat(demo_ws, tmp_path_factory):
    """The demo where the municipality's own norms allow building higher and steeper (a workspace override of
    ``settlement_terrain``), so that on its pasture and rain-fed fields the land-category step alone decides.
    On the plain demo those fields lie above the village terrain limit: they are prohibited for housing by
    the terrain exclusion too (``test_demo_terrain_limit_also_applies``)."""
    from tests.apptest import copy_demo

    ws = copy_demo(demo_ws, tmp_path_factory.mktemp("demo-flat") / "demo")
    (ws.root / "layers").mkdir(exist_ok=True)
    (ws.root / "layers" / "scenario_norms.yaml").write_text(
        "settlement_terrain:\n  max_above_settlement_m: {value: 5000}\n  max_elevation_m: {value: 6000}\n"
        "  max_slope_deg: {value: 90}\n", encoding="utf-8")
    return ws


def test_demo_terrain_limit_also_applies(demo_ws):
    res = check(demo_ws, "housing", parcel_id=PASTURE, lang="en")
    assert res.verdict == "prohibited" and res.restriction_verdict == "prohibited"
    kinds = {r["kind"]: r["effect"] for r in res.reasons}
    assert kinds["terrain"] == "prohibited" and kinds["land_category"] == "conditional"   # both said


@pytest.mark.parametrize("cad,verdict,rule", [
    (PASTURE, "conditional", "category.pasture"),
    (HOUSE, "allowed", None),
    (RAIN_FED, "conditional", "category.agricultural"),
    (IRRIGATED, "prohibited", "category.irrigated_moratorium"),
    (FOREST, "prohibited", "category.forest_fund"),           # the forest-fund regime prohibits as well
    (WATER, "prohibited", "category.water_fund"),
])
def test_demo_verdicts_through_the_api(demo_flat, cad, verdict, rule):
    demo_ws = demo_flat
    res = check(demo_ws, "housing", parcel_id=cad, lang="en")
    assert res.verdict == verdict
    cat = [r for r in res.reasons if r["kind"] == "land_category"]
    assert [r["rule_id"] for r in cat] == ([rule] if rule else [])
    if rule:
        assert cat[0]["legal_source"] and cat[0]["source_text"]
    if cad in (PASTURE, HOUSE, RAIN_FED, IRRIGATED):
        assert res.restriction_verdict == "allowed"              # so the category step alone decides


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gis_planner", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_demo_pasture_through_the_cli(demo_flat):
    demo_ws = demo_flat
    out = _cli("check", "-w", str(demo_ws.root), "--use", "housing", "--parcel", PASTURE, "--lang", "en")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{PASTURE} (543.0785 ha): Housing: Allowed with conditions. " + t("zoning.category.only", "en")
    assert lines[1].startswith("  - Conditional, exceptional only: the law allows the transformation from "
                               "Agricultural land (Pastures) to Settlement land")
    assert "Source: Law of the KR «On pastures»" in lines[1]
    assert lines[2] == "    Transformation procedure:"
    assert lines[3] == "      " + t("zoning.step.justification", "en") and lines[7].startswith("      5.")
    doc = json.loads(_cli("check", "-w", str(demo_ws.root), "--use", "housing", "--parcel", PASTURE,
                          "--format", "json").stdout)
    assert doc["verdict"] == "conditional" and doc["restriction_verdict"] == "allowed"
    assert doc["reasons"][0]["decided_by"][-1] == "cabinet" and doc["reasons"][0]["to_category"] == "settlement"


def test_demo_house_plot_through_the_cli(demo_ws):
    out = _cli("check", "-w", str(demo_ws.root), "--use", "housing", "--parcel", HOUSE, "--lang", "ru")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].endswith("Жилищное строительство: Разрешено")
    assert "  = Земли населённых пунктов: категория допускает «Жилищное строительство», перевод не нужен" in out.stdout


def test_transformation_list_gives_the_legal_step_per_parcel(demo_flat, tmp_path):
    demo_ws = demo_flat
    tl = transformation_list(demo_ws, [PASTURE, IRRIGATED, RAIN_FED, HOUSE], "settlement", lang="en")
    assert list(tl["category_effect"]) == ["conditional", "prohibited", "conditional", None]
    assert list(tl["verdict"]) == ["conditional", "prohibited", "conditional", "allowed"]
    assert list(tl["land_type"]) == ["pasture", "irrigated", "rain_fed", None]
    assert tl["decided_by"].iloc[1] == "cabinet" and tl["exceptional"].iloc[0]
    assert tl["legal_step"].iloc[1].startswith("Prohibited: the law bars the transformation")
    assert tl["legal_step"].iloc[3] == ""
    # a frame without the land type (as scenario allocation passes it) still gets the moratorium
    frame = demo_ws.read_layer("parcels", where=f"cadastral_no = '{IRRIGATED}'")[["cadastral_no", "category",
                                                                                  "geometry"]]
    assert transformation_list(demo_ws, frame, "settlement")["category_effect"].tolist() == ["prohibited"]
    csv = write_transformation(tl, tmp_path / "t.csv", lang="ru")
    df = pd.read_csv(csv, encoding="utf-8-sig", keep_default_na=False)
    assert df["Правовой шаг (категория)"].iloc[0].startswith("Условно, только в исключительном случае")
    assert df["Вид угодий"].iloc[1] == "Орошаемая пашня"
    assert "пастбищный комитет" in df["Кто решает"].iloc[0]
    out = _cli("transform", "-w", str(demo_ws.root), "--parcels", f"{PASTURE},{IRRIGATED}", "--to", "settlement",
               "--lang", "en")
    assert out.returncode == 0, out.stderr
    assert f"{IRRIGATED}: Prohibited: the law bars the transformation from Agricultural land (Irrigated arable " \
           "land) to Settlement land for Housing" in out.stdout
    assert f"{PASTURE}: Conditional, exceptional only" in out.stdout


def test_restrictions_page_shows_the_category_step(demo_flat, tmp_path, no_app_warm_up):
    from tests.apptest import assert_ok, copy_demo, open_app

    ws = copy_demo(demo_flat, tmp_path / "demo")
    at = open_app(ws, "ru", "zoning")
    assert_ok(at)
    at.text_input(key="zoning_cad").input(PASTURE).run()
    assert_ok(at)
    assert any(PASTURE.replace("-", "\\-") in w.value and "Разрешено с условиями" in w.value for w in at.warning)
    md = [m.value for m in at.markdown]
    assert any("Условно, только в исключительном случае" in m and "О пастбищах" in m for m in md), md
    steps = next(m for m in md if m.startswith("1\\. ") or m.startswith("1. "))
    assert steps.count("\n") == 4 and "Государственная регистрация" in steps
    at.text_input(key="zoning_cad").input(HOUSE).run()
    assert_ok(at)
    assert any("Земли населённых пунктов: категория допускает" in c.value for c in at.caption)


def test_restrictions_validate_covers_the_category_table(cat_ws):
    from gis_planner.zoning import validate_rules
    from gis_planner.zoning.rules import validate_rules_file

    validate_rules(cat_ws)                      # the default table is valid
    d = cat_ws.root / "layers"
    d.mkdir()
    bad = d / "category_uses.yaml"
    bad.write_text(yaml.safe_dump({"home": {"housing": "moon"}}), encoding="utf-8")
    assert validate_rules_file(bad) == ["layers/category_uses.yaml [home.housing]: unknown land category 'moon'"]
    out = _cli("restrictions", "-w", str(cat_ws.root), "--validate")
    assert out.returncode == 2 and "unknown land category 'moon'" in out.stderr


def test_transformation_to_a_category_without_a_checked_use_names_its_purpose(cat_ws):
    tl = transformation_list(cat_ws, ["P", "I", "Z"], "reserve", lang="en")
    assert list(tl["use"]) == [None] * 3 and list(tl["verdict"]) == ["conditional", "prohibited", None]
    assert tl["legal_step"].iloc[0].startswith("Conditional, exceptional only: the law allows the transformation "
                                               "from Agricultural land (Pastures) to Reserve land for the purposes "
                                               "of Reserve land only in exceptional cases")
    assert tl["legal_step"].iloc[2] == "" and tl["category_effect"].iloc[2] is None
