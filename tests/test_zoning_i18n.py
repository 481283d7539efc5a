"""Restrictions and zoning in Kyrgyz and Russian: legal sources, zone names and numbers on ky/ru screens.

Known answers are the texts of layers/restrictions.yaml and layers/zoning_rules.yaml (read here with
yaml, not through the code under test) and numbers formatted by hand.
"""
from __future__ import annotations

import re

import pytest
import shapely
import yaml

from gis_planner import Workspace
from gis_planner.i18n import t

from .apptest import ROOT, copy_demo, open_app

RESTR = yaml.safe_load((ROOT / "layers" / "restrictions.yaml").read_text(encoding="utf-8"))
ZRULES = yaml.safe_load((ROOT / "layers" / "zoning_rules.yaml").read_text(encoding="utf-8"))
DECREE = RESTR["sources"]["decree_271"]
ZONE_SOURCE = ZRULES["legal_source"]
ENGLISH_SENTENCES = ("Government Decree of the Kyrgyz Republic", "as revised", "indicative default",
                     "default zoning rules", "modelled on", "Law of the Kyrgyz Republic")


pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, demo_ws):
    return copy_demo(demo_ws, tmp_path_factory.mktemp("zi18n") / "demo")


def _cad_with(ws, kinds: set[str]) -> str:
    """A parcel whose housing check has reasons of all ``kinds``."""
    from gis_planner.zoning import check_many

    parcels = ws.read_layer("parcels")
    res = check_many(ws, "housing", parcels)
    for cad, reasons in zip(parcels["cadastral_no"], res["reasons"]):
        if kinds <= {r["kind"] for r in reasons}:
            return str(cad)
    pytest.fail(f"no demo parcel with {kinds}")


def test_yaml_sources_are_trilingual():
    for name, text in RESTR["sources"].items():
        assert set(text) == {"ky", "ru", "en"}, name
    assert "№ 271 токтому" in DECREE["ky"] and "Постановление Правительства КР № 271" in DECREE["ru"]
    # the honesty of the default widths is kept in every language
    assert "болжолдуу демейки" in DECREE["ky"] and "ориентировочное значение" in DECREE["ru"]
    assert "шаар куруу жана архитектура жөнүндө мыйзамы" in ZONE_SOURCE["ky"]
    assert "О градостроительстве и архитектуре Кыргызской Республики" in ZONE_SOURCE["ru"]


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_check_message_cites_the_source_in_the_language(ws, lang):
    from gis_planner.zoning import check

    cad = _cad_with(ws, {"water_protection_zone", "legal_zone"})
    res = check(ws, "housing", parcel_id=cad, lang=lang)
    water = [r for r in res.reasons if r["kind"] == "water_protection_zone"]
    zone = [r for r in res.reasons if r["kind"] == "legal_zone" and not r["rule_id"].endswith(".plot_size_ha")]
    assert water and zone
    for r in water:
        assert DECREE[lang] in r["message"] and r["source_text"] == DECREE[lang]
        assert r["legal_source"] == DECREE["en"]          # the data column stays English (files)
    for r in zone:
        assert ZONE_SOURCE[lang] in r["message"]
    text = str(res)
    for sentence in ENGLISH_SENTENCES:
        assert sentence not in text, sentence


def test_english_check_keeps_the_english_source(ws):
    from gis_planner.zoning import check

    cad = _cad_with(ws, {"water_protection_zone"})
    res = check(ws, "housing", parcel_id=cad, lang="en")
    assert any(DECREE["en"] in r["message"] for r in res.reasons if r["kind"] == "water_protection_zone")


def test_numbers_in_russian_messages_use_the_decimal_comma(ws):
    from gis_planner.zoning import check

    cad = _cad_with(ws, {"water_protection_zone"})
    res = check(ws, "housing", parcel_id=cad, lang="ru")
    for r in res.reasons:
        if r["rule_id"].endswith(".plot_size_ha"):
            continue
        area = f"{r['area_ha']:.4f}".replace(".", ",")      # 0.0963 -> 0,0963
        assert f"({area} га)" in r["message"], r["message"]
        assert not re.search(r"\d\.\d", r["message"]), r["message"]


def test_plot_size_message_known_answer(ws):
    """A 50 m × 50 m plot (0,25 ha) in a residential zone: housing plots there are 0,04–0,12 ha."""
    from gis_planner.zoning import check

    lz = ws.read_layer("legal_zones")
    zone = lz[lz["zone_code"] == "residential"].geometry.iloc[0]
    c = zone.representative_point()
    plot = shapely.box(c.x - 25, c.y - 25, c.x + 25, c.y + 25)
    res = check(ws, "housing", geometry=plot, lang="ru")
    msgs = [r["message"] for r in res.reasons if r["rule_id"] == "residential.plot_size_ha"]
    assert msgs == ["Площадь участка 0,2500 га вне пределов зоны (0,04–0,12 га)"]
    en = check(ws, "housing", geometry=plot, lang="en")
    assert "Plot area 0.2500 ha is outside the zone's limits (0.04–0.12 ha)" in \
        [r["message"] for r in en.reasons]


def test_plain_string_source_override_still_works(tmp_path, demo_ws):
    from gis_planner.zoning import build_restrictions, check, validate_restriction_rules

    dst = tmp_path / "ws"
    w = copy_demo(demo_ws, dst)
    (dst / "layers").mkdir(exist_ok=True)
    own = "Решение бассейнового управления № 12 от 2025 года"
    (dst / "layers" / "restrictions.yaml").write_text(yaml.safe_dump({
        "water_bodies": {wt: {cls: {"source": own, "confirmed": True} for cls in classes}
                         for wt, classes in RESTR["water_bodies"].items()}}, allow_unicode=True), encoding="utf-8")
    assert validate_restriction_rules(ws=w) == []
    assert set(build_restrictions(w).query("kind == 'water_protection_zone'")["legal_source"]) == {own}
    cad = _cad_with(w, {"water_protection_zone"})
    for lang in ("ky", "en"):
        res = check(w, "housing", parcel_id=cad, lang=lang)
        water = [r for r in res.reasons if r["kind"] == "water_protection_zone"]
        assert water and all(own in r["message"] for r in water)
        assert all(DECREE[lang] not in r["message"] for r in water)


def test_a_multilingual_source_missing_a_language_is_reported():
    from gis_planner.zoning import restriction_rules, validate_restriction_rules

    rules = restriction_rules()
    rules["rules"]["forest_fund"]["legal_source"] = {"ru": "Лесной кодекс", "en": "Forest Code"}
    problems = validate_restriction_rules(rules)
    assert any("rules.forest_fund.legal_source" in p and "'ky'" in p for p in problems), problems


def test_conflicts_message_in_russian_and_english_column_for_files(ws):
    from gis_planner.zoning import conflicts

    c = conflicts(ws, lang="ru")
    water = c[c["kind"].isin(["coastal_strip", "water_protection_zone"])]
    assert len(water)
    assert all(DECREE["ru"] in m for m in water["message"])
    assert not any("as revised" in m or "indicative default" in m for m in c["message"])
    assert set(water["legal_source"]) == {DECREE["en"]}


def test_regime_and_width_tables_are_translated():
    from gis_planner.zoning import regime_table, width_table

    reg = regime_table(lang="ky").set_index("rule_id")
    assert reg.loc["coastal_strip", "legal_source"] == DECREE["ky"]
    assert reg.loc["hazard_high", "legal_source"] == RESTR["sources"]["civil_protection"]["ky"]
    assert set(width_table(lang="ru")["source"]) == {DECREE["ru"]}
    assert set(width_table(lang="en")["source"]) == {DECREE["en"]}


def test_check_by_number_does_not_read_the_parcels_again(ws, monkeypatch):
    import importlib

    from gis_planner.zoning import build_restrictions, check

    check_mod = importlib.import_module("gis_planner.zoning.check")   # the module (the package exports the function)

    restr = build_restrictions(ws)
    cad = str(ws.read_layer("parcels")["cadastral_no"].iloc[3])
    first = check(ws, "housing", parcel_id=cad, restrictions=restr, lang="ky")
    calls = []
    real = check_mod.read_layer_fid
    monkeypatch.setattr(check_mod, "read_layer_fid", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = check(ws, "industry", parcel_id=cad, restrictions=restr, lang="ky")
    assert calls == []
    assert again.cadastral_no == first.cadastral_no == cad and again.area_ha == first.area_ha


def test_balance_restrictions_column_known_answer():
    from gis_planner.balance.export import restrictions_text

    raw = "water_protection_zone:lake 18.2%; hazard:flood:high 47.6%; legal_zone:residential 3.0%"
    assert restrictions_text(raw, "en") == raw
    nb = "\u00a0"
    assert restrictions_text(raw, "ru") == (f"Водоохранная зона: озеро 18,2{nb}%; "
                                            f"Зона природной опасности: паводок, высокий 47,6{nb}%; "
                                            f"Правовая зона: Жилая зона 3,0{nb}%")
    ky = restrictions_text(raw, "ky")
    assert ky.startswith(f"{t('zoning.kind.water_protection_zone', 'ky')}: {t('zoning.water.lake', 'ky')} 18,2{nb}%")
    assert "Турак жай зонасы 3,0" in ky and "lake" not in ky and "residential" not in ky


def test_balance_parcels_sheet_is_translated(ws):
    from gis_planner.balance import compute_balance
    from gis_planner.balance.export import tables

    b = compute_balance(ws)
    col_ru = tables(b, "ru")["parcels"][t("balance.restrictions", "ru")]
    col_en = tables(b, "en")["parcels"][t("balance.restrictions", "en")]
    assert list(col_en) == list(b.parcels["restrictions"])
    some = [v for v in col_ru if v]
    assert some and not any(re.search(r"\d\.\d", v) or "water_protection_zone" in v for v in some)


# ---------------------------------------------------------------------- the page (AppTest)
def _app(ws: Workspace, lang: str):
    return open_app(ws, lang, "zoning")


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_page_unknown_cadastral_number_is_translated(ws, lang):
    at = _app(ws, lang)
    assert not at.exception
    at.text_input(key="zoning_cad").input("9-99-99").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    msg = errors[0]
    expected = t("app.zoning.unknown_cadastral", lang, no="9\\-99\\-99")   # markdown-escaped number
    assert msg == expected
    assert "/tmp/" not in msg and "gpkg" not in msg and "Fix" not in msg


def test_page_conflict_shares_are_percentages(ws):
    at = _app(ws, "ru")
    at.session_state["zoning_tab_ru"] = t("app.zoning.tab_conflicts", "ru")
    at.run()
    assert not at.exception
    df = at.dataframe[0].value
    share = df[t("app.zoning.share", "ru")]
    assert all(re.fullmatch(r"\d+,\d\u00a0%", v) for v in share), list(share)[:5]
    assert all(DECREE["ru"] in m for m, k in zip(df[t("zoning.col.reason", "ru")], df[t("app.zoning.kind", "ru")])
               if k == t("zoning.kind.coastal_strip", "ru"))


def test_page_rules_editor_round_trips_the_parameters(tmp_path, demo_ws):
    """Saving the editor unchanged keeps every zone parameter: the green share shown in % comes back as a
    share, an empty cell stays unset (agricultural has no green share), whole numbers stay whole."""
    from gis_planner.zoning import zoning_rules

    dst = tmp_path / "ws"
    w = copy_demo(demo_ws, dst)
    at = _app(w, "ru")
    at.session_state["zoning_tab_ru"] = t("app.zoning.tab_rules", "ru")
    at.run()
    assert not at.exception and not at.error
    at.button(key="zoning_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = zoning_rules(w)["zones"]
    assert saved["residential"]["min_green_share"] == 0.15 and saved["residential"]["max_floors"] == 3
    assert saved["residential"]["max_height_m"] == 12 and isinstance(saved["residential"]["max_floors"], int)
    assert "min_green_share" not in saved["agricultural"] and "max_floors" not in saved["reserve"]
    default = zoning_rules(None)["zones"]
    params = ("max_floors", "max_height_m", "min_green_share", "plot_size_ha")
    assert {c: {k: z.get(k) for k in params} for c, z in saved.items()} == \
        {c: {k: z.get(k) for k in params} for c, z in default.items()}
