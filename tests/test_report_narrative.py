"""The narrative paragraphs of sections 6 and 7: one in every data subsection, in ky, ru and en, whose
numbers are the workspace's own (computed here from the layers, not taken from the report), in the number
format of the language, with counts whole and their nouns in the agreeing form."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import shapely

from gis_planner.i18n import t
from gis_planner.report.fmt import NBSP, count_noun, fmt_number, fmt_percent, plural_form

LANGS = ("ky", "ru", "en")
HA = 10_000.0


# ----------------------------------------------------------------------------- counted nouns
@pytest.mark.parametrize("n, text", [(1, "1 участок"), (2, "2 участка"), (4, "4 участка"), (5, "5 участков"),
                                     (11, "11 участков"), (12, "12 участков"), (14, "14 участков"),
                                     (21, "21 участок"), (22, "22 участка"), (25, "25 участков"),
                                     (101, "101 участок"), (111, "111 участков"), (1021, "1 021 участок"),
                                     (0, "0 участков")])
def test_russian_counts_agree_with_the_number(n, text):
    assert count_noun(n, "parcel", "ru") == text.replace(" ", NBSP)


def test_kyrgyz_has_no_plural_after_a_numeral_and_english_has_one_or_many():
    assert count_noun(5, "parcel", "ky") == f"5{NBSP}участок"
    assert count_noun(21, "parcel", "ky") == f"21{NBSP}участок"
    assert count_noun(1, "parcel", "en") == f"1{NBSP}parcel"
    assert count_noun(2, "parcel", "en") == f"2{NBSP}parcels"
    assert count_noun(1200, "household", "en") == f"1,200{NBSP}households"
    assert count_noun(2, "person", "ru") == f"2{NBSP}человека" and count_noun(5, "person", "ru") == f"5{NBSP}человек"
    # a count is a whole number even when the figure arrives as a float
    assert count_noun(842.0, "parcel", "ru") == f"842{NBSP}участка"


def test_every_counted_noun_has_the_forms_its_language_needs():
    from gis_planner.i18n import messages

    nouns = [k for k in messages() if k.startswith("report.noun.")]
    assert len(nouns) >= 15
    for key in nouns:
        assert len(t(key, "ru").split("|")) == 3, key
        assert len(t(key, "en").split("|")) == 2, key
        assert "|" not in t(key, "ky"), key
    assert [plural_form(n, "ru") for n in (1, 3, 7, 11, 13, 21, 34, 111, 112, 1001)] == [0, 1, 2, 2, 2, 0, 1, 2, 2, 0]


# ----------------------------------------------------------------------------- the paragraphs on the demo
@pytest.fixture(scope="module")
def narr(demo_ws, tmp_path_factory):
    """Sections 6 and 7 of the demo with the baseline scenario in the three languages (maps stubbed:
    the maps have their own tests, these are about the text)."""
    from gis_planner.report import build_context, build_report
    from gis_planner.report import sections

    out = tmp_path_factory.mktemp("narr")

    def no_map(ws, layers, title, sources, out_png, *a, **k):
        from PIL import Image

        Image.new("RGB", (40, 30), "white").save(out_png)
        return Path(out_png)

    mp = pytest.MonkeyPatch()
    mp.setattr(sections, "render_map", no_map)
    try:
        ctx = build_context(demo_ws, "ky", scenario="baseline")
        docs = {lang: build_report(demo_ws, out / lang, lang=lang, formats=("html",), context=ctx)["documents"]
                for lang in LANGS}
    finally:
        mp.undo()
    return ctx, docs


def _topic(docs, topic: str) -> str:
    paras = [b.text for d in docs if not d.annex for b in d.blocks if getattr(b, "topic", "") == topic]
    assert paras, topic
    return "\n".join(paras)


def _has(text: str, *parts: str) -> None:
    for p in parts:
        assert p in text, (p, text)


# the subsection heading under which each topic's paragraph stands
TOPICS = {"general": "report.s6.general", "balance": "report.s6.balance", "zoning": "report.s6.zoning",
          "restrictions": "report.s6.restrictions", "conflicts": "report.s6.conflicts",
          "programmes": "report.s6.programmes", "scenario": "report.s6.prospects", "land_needs": "report.s6.land_needs",
          "infrastructure": "report.s6.infrastructure", "land": "report.s7.land", "water": "report.s7.water",
          "ecosystems": "report.s7.ecosystems", "pasture_load": "report.s7.pasture_load",
          "hazards": "report.s7.hazards", "waste": "report.s7.waste", "measures": "report.s7.adaptation"}


@pytest.mark.parametrize("lang", LANGS)
def test_every_data_subsection_has_its_paragraph_under_its_heading(narr, lang):
    from gis_planner.report.document import Heading, Para

    _, docs = narr
    for d in docs[lang]:
        if d.annex:
            continue
        current = []   # the headings this block stands under (level 1 and 2)
        for b in d.blocks:
            if isinstance(b, Heading):
                current = current[:b.level - 1] + [b.text]
            elif isinstance(b, Para) and b.topic:
                assert t(TOPICS[b.topic], lang) in current, (b.topic, current)
                assert b.style is None                    # body text, not a note
                assert "{" not in b.text and "report." not in b.text, b.text
    found = {b.topic for d in docs[lang] for b in d.blocks if getattr(b, "topic", "")}
    assert found == set(TOPICS), set(TOPICS) ^ found


@pytest.mark.parametrize("lang", LANGS)
def test_general_and_balance_numbers_are_the_workspace_figures(demo_ws, narr, lang):
    from gis_planner.catalog import catalogue

    _, docs = narr
    parcels = demo_ws.read_layer("parcels")
    area = parcels.geometry.area / HA
    by_cat = area.groupby(parcels["category"]).sum().sort_values(ascending=False)
    total = float(area.sum())
    cats = catalogue("land_categories", demo_ws)
    text = _topic(docs[lang], "general")
    _has(text, fmt_number(total, lang, 1), count_noun(len(parcels), "parcel", lang))
    s = demo_ws.read_layer("settlements")
    big = s.loc[s["population"].idxmax()]
    _has(text, count_noun(len(s), "settlement", lang), count_noun(int(s["population"].sum()), "person", lang),
         str(big["name"]), fmt_percent(big["population"] / s["population"].sum(), lang))
    text = _topic(docs[lang], "balance")
    _has(text, cats.label(by_cat.index[0], lang), fmt_number(by_cat.iloc[0], lang, 1),
         fmt_percent(by_cat.iloc[0] / total, lang), cats.label(by_cat.index[1], lang),
         fmt_percent(by_cat.iloc[2:].sum() / total, lang))
    # irrigated land as a share of the arable land (its parent type)
    lt = area.groupby(parcels["land_type"]).sum()
    irrigated = float(area[parcels["land_type"].isin(["irrigated"])].sum())
    if "irrigated" in set(parcels["land_type"]):
        arable = float(area[parcels["land_type"].isin(["irrigated", "rain_fed", "arable"])].sum())
        _has(text, fmt_percent(irrigated / arable, lang))
    assert lt.idxmax() == "pasture"
    _has(text, catalogue("land_types", demo_ws).label("pasture", lang), fmt_number(lt.max(), lang, 1))
    # the official balance: the demo's reported total against the computed one
    import yaml

    rep = yaml.safe_load((demo_ws.root / "reported_balance.yaml").read_text(encoding="utf-8"))
    reported_total = float(rep["total_ha"])
    assert reported_total == pytest.approx(sum(rep["categories"].values()))
    _has(text, fmt_number(abs(total - reported_total), lang, 1),
             t(f"report.narr.{'less' if total < reported_total else 'more'}", lang))


@pytest.mark.parametrize("lang", LANGS)
def test_space_paragraphs_zoning_conflicts_roads_queue(demo_ws, narr, lang):
    from gis_planner.catalog import load_rules
    from gis_planner.report.subsections import environment

    ctx, docs = narr
    zones = demo_ws.read_layer("legal_zones")
    z = (zones.geometry.area / HA).groupby(zones["zone_code"]).sum().sort_values(ascending=False)
    name = load_rules("zoning_rules", demo_ws)["zones"][z.index[0]]["names"][lang]
    _has(_topic(docs[lang], "zoning"), count_noun(len(zones), "zone", lang), fmt_number(z.sum(), lang, 1), name,
         fmt_number(z.iloc[0], lang, 1), fmt_percent(z.iloc[0] / z.sum(), lang))
    c = ctx.conflicts
    _has(_topic(docs[lang], "conflicts"), count_noun(c["cadastral_no"].nunique(), "parcel_loc", lang),
         fmt_number(c["conflict_area_ha"].sum(), lang, 1))
    roads = demo_ws.read_layer("roads")
    km = (roads.geometry.length / 1000).groupby(roads["road_class"]).sum()
    _has(_topic(docs[lang], "infrastructure"), fmt_number(km.sum(), lang, 1), t(f"report.road.{km.idxmax()}", lang),
         fmt_number(km.max(), lang, 1), fmt_percent(km.max() / km.sum(), lang))
    env = environment(demo_ws)
    n = int(env["housing_queue"]["households"])
    plot = float(load_rules("scenario_norms", demo_ws)["housing"]["plot_size_ha"]["value"])
    _has(_topic(docs[lang], "land_needs"), count_noun(n, "household", lang), fmt_number(n * plot, lang, 1))
    _has(_topic(docs[lang], "programmes"), count_noun(len(env["programmes"]), "programme_gen", lang),
         env["programmes"][0]["name"][lang])
    restrictions = _topic(docs[lang], "restrictions")
    by_kind = ctx.balance.restricted.drop(columns=["any", "unrestricted", "total"]).sum()
    _has(restrictions, t(f"report.kind.{by_kind.idxmax()}", lang), fmt_number(by_kind.max(), lang, 1))


@pytest.mark.parametrize("lang", LANGS)
def test_scenario_paragraph_says_demand_where_it_goes_and_what_is_unmet(narr, lang):
    ctx, docs = narr
    r = ctx.scenario
    text = _topic(docs[lang], "scenario")
    pop = r.demand.population
    _has(text, fmt_number(pop[r.demand.base_year], lang, 0), fmt_number(pop[r.demand.horizon_year], lang, 0),
         fmt_number(pop[r.demand.horizon_year] - pop[r.demand.base_year], lang, 0))
    v = r.allocation.villages
    h = v[v["use"] == "housing"]
    demand, allocated, unmet = (int(h[c].sum()) for c in ("demand", "allocated", "unmet"))
    assert demand == allocated + unmet
    _has(text, count_noun(demand, "house_plot", lang), fmt_number(allocated, lang, 0), fmt_number(unmet, lang, 0))
    most = h.loc[h["allocated"].idxmax()]
    short = h.loc[h["unmet"].idxmax()]
    _has(text, f"{most['village']} ({count_noun(most['allocated'], 'house_plot', lang)})",
         f"{short['village']} ({count_noun(short['unmet'], 'house_plot', lang)})")
    tr = r.consequences.transformations
    _has(text, fmt_number(tr["area_ha"].sum(), lang, 1))
    if lang == "ru":   # genitive after "для" / "перевод": для 308 участков, перевод 17 участков
        _has(text, f"для {fmt_number(allocated, lang, 0)}{NBSP}участк",
             f"перевод {count_noun(tr['cadastral_no'].nunique(), 'parcel_gen', 'ru')}")


@pytest.mark.parametrize("lang", LANGS)
def test_environment_paragraphs_are_the_workspace_figures(demo_ws, narr, lang):
    from gis_planner.catalog import catalogue
    from gis_planner.zoning.areas import boundary_geometry

    ctx, docs = narr
    parcels = demo_ws.read_layer("parcels")
    area = parcels.geometry.area / HA
    unused = float(area[parcels["use_status"] == "unused"].sum())
    pasture = parcels["land_type"] == "pasture"
    classes = area[pasture].groupby(parcels.loc[pasture, "pasture_class"]).sum()
    land = _topic(docs[lang], "land")
    forest = float(area[parcels["category"] == "forest_fund"].sum())
    _has(land, fmt_number(unused, lang, 1), fmt_percent(unused / area.sum(), lang), fmt_number(forest, lang, 1),
         fmt_number(area[pasture].sum(), lang, 1), fmt_percent(area[pasture].sum() / area.sum(), lang),
         catalogue("land_types.pasture_classes", demo_ws).label(classes.idxmax(), lang),
         fmt_percent(classes.max() / area[pasture].sum(), lang))
    # the lake lies outside the municipality: the paragraph says so, with its shore and the water fund
    inside = boundary_geometry(demo_ws)
    w = demo_ws.read_layer("water_bodies")
    lake = w.loc[w.geometry.area.idxmax()]
    assert shapely.intersection(lake.geometry, inside).area < 1.0
    lines = w[~w.geometry.geom_type.str.endswith("Polygon")]
    water = _topic(docs[lang], "water")
    _has(water, lake["name"], fmt_number(lake.geometry.area / HA, lang, 1),
         fmt_number(lake.geometry.boundary.intersection(inside).length / 1000, lang, 1),
         fmt_number(area[parcels["category"] == "water_fund"].sum(), lang, 1),
         fmt_number(sum(g.intersection(inside).length for g in lines.geometry) / 1000, lang, 1))
    pa = demo_ws.read_layer("protected_areas")
    pa_ha = sum(g.intersection(inside).area for g in pa.geometry) / HA
    _has(_topic(docs[lang], "ecosystems"), count_noun(len(pa), "protected_area", lang), fmt_number(pa_ha, lang, 1),
         fmt_number(area[pasture].sum(), lang, 1))
    # 5400 livestock units on a capacity of 4100: 132 %, 32 % above it
    _has(_topic(docs[lang], "pasture_load"), count_noun(5400, "livestock_unit", lang), "132", "32")
    hz = demo_ws.read_layer("hazard_zones")
    by_type = (hz.geometry.area / HA).groupby(hz["hazard_type"]).sum()
    top = by_type.idxmax()
    high = float((hz.geometry.area / HA)[(hz["hazard_type"] == top) & (hz["level"] == "high")].sum())
    hazards = _topic(docs[lang], "hazards")
    _has(hazards, fmt_number(by_type.sum(), lang, 1), t(f"report.hazard.{top}", lang), fmt_number(by_type.max(), lang, 1),
         fmt_number(high, lang, 1), t("report.narr.no_computed", lang),
         count_noun(len(ctx.relocation), "parcel", lang))
    hi = ctx.exposure[ctx.exposure["level"] == "high"]
    _has(hazards, count_noun(int(hi["parcels"].sum()), "parcel", lang),
         count_noun(int(hi["residents"].sum()), "resident", lang))
    waste = _topic(docs[lang], "waste")
    s = demo_ws.read_layer("settlements")
    _has(waste, count_noun(len(demo_ws.read_layer("waste_sites")), "waste_site", lang),
         count_noun(round(s["households"].sum() * 0.55), "household", lang))
    pr = ctx.problems
    top = pr.loc[pd.to_numeric(pr["votes"]).idxmax()]
    _has(waste, top["title"], count_noun(int(top["votes"]), "vote", lang), count_noun(len(pr), "problem_acc", lang))
    _has(_topic(docs[lang], "measures"), count_noun(len(ctx.measures), "measure_acc", lang))


def test_russian_paragraphs_use_the_agreeing_forms(narr):
    """The demo's own counts in Russian: 243 участках, 3 населённых пункта, 2 особо охраняемые …"""
    _, docs = narr
    ru = "\n".join(b.text for d in docs["ru"] for b in d.blocks if getattr(b, "topic", ""))
    for text in ("3 населённых пункта", "14 555 человек", "30 зон", "2 особо охраняемые природные территории",
                 "2 места размещения отходов", "4 проблемы", "17 голосов", "14 мер", "1 программы"):
        assert text.replace(" ", NBSP) in ru.replace(" ", NBSP), text
    assert not re.search(r"\b1\s(участков|программ)\b", ru)


def test_cli_report_shows_each_step_in_the_language(demo_ws, tmp_path, capsys):
    """`gis-planner report` prints one line per step on stderr ("[3/14] Построение карты: …"), counting
    to the end; the files it names exist."""
    from gis_planner.cli import main

    code = main(["report", "-w", str(demo_ws.root), "--lang", "ru", "--format", "html", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("[")]
    steps = [re.match(r"\[(\d+)/(\d+)\] (.*)", x).groups() for x in lines]
    total = int(steps[-1][1])
    assert [int(d) for d, _, _ in steps] == list(range(total)) + [total]
    assert all(int(tt) == total for _, tt, _ in steps[-3:])
    texts = [x for _, _, x in steps]
    assert t("report.stage.balance", "ru") in texts and t("report.stage.html", "ru") in texts
    assert t("report.stage.map", "ru", name=t("report.map.categories", "ru")) in texts
    assert texts[-1] == t("report.stage.done", "ru")
    assert (tmp_path / "sedp_sections_ru.html").exists() and "html: " in out


def test_with_a_scenario_no_code_or_english_word_reaches_the_ky_ru_body(demo_ws, narr):
    """The scenario part (6.6) too: units are words (га, участок), counts of plots whole (1 030, not 1 030,0)."""
    from gis_planner.report.document import Table

    from .helpers import leaked_words

    ctx, docs = narr
    for lang in ("ky", "ru"):
        found = leaked_words(demo_ws, docs[lang], lang, extra=("ha",))
        assert not found, (lang, found)
        alloc = next(b for d in docs[lang] for b in d.blocks
                     if isinstance(b, Table) and b.caption == t("report.s6.allocation_table", lang))
        housing = next(r for r in alloc.rows if r[1] == t("scenarios.unit.plots", lang))
        demand = int(ctx.scenario.allocation.summary.set_index("use").loc["housing", "demand"])
        assert alloc.cell_text(housing[2], 2, lang) == fmt_number(demand, lang, 0)
