"""Growth scenarios: edit a scenario with widgets, run it (demand -> allocation -> consequences), see the
allocated land and the consequences, compare scenarios side by side. A thin shell over gis_planner.scenarios."""
import copy
import re
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from gis_planner.errors import GisPlannerError
from gis_planner.scenarios import Scenario, compare_table, examples_dir, load_scenario, run_scenario, save_scenario
from gis_planner.scenarios.compare import USE_COLORS
from gis_planner.scenarios.consequences import label_table
from gis_planner.scenarios.explain import base_lines, unmet_lines, village_table
from gis_planner.scenarios.model import source_label
from gis_planner.report.fmt import fmt_number
from gis_planner.ui import analyses, cache, map_vectors, maps, state
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import local_numbers, table

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()


def scenario_files() -> dict:
    """id -> path: the examples, overridden by the workspace's own scenarios/."""
    out = {}
    for d in (examples_dir(), ws.root / "scenarios"):
        if d.is_dir():
            for p in sorted(d.glob("*.y*ml")):
                out[p.stem] = p
    return out


def _run(w, text: str):
    parcels, ctx = analyses.scenario_inputs(w)   # read once per data version, shared by every run
    return run_scenario(w, Scenario.from_dict(yaml.safe_load(text)), parcels=parcels, context=ctx)


def result_for(data: dict):
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=True)
    return cache.cached(ws, "scenario", _run, text)


def _num(v) -> str:
    """A count or an area in the local format (no decimals for whole numbers)."""
    return fmt_number(v, lang, 0 if float(v).is_integer() else 2)


# units whose values are counts (a household, a plot, a school is not split): whole numbers on screen
COUNT_UNITS = {"people", "households", "houses", "jobs", "objects", "places", "facilities", "plots"}


def _exact(v) -> str:
    """A value of the demand chain as the methodology writes it (its own decimals, at most 4), e.g. 12 130, 7,14."""
    x = float(v)
    d = next((d for d in range(5) if abs(round(x, d) - x) < 1e-9), 4)
    return fmt_number(x, lang, d)


def _by_unit(df, cols, unit_col="unit"):
    """Numbers of rows in different units: counts whole, everything else with 2 decimals."""
    out = df.copy()
    for col in cols:
        if col in out.columns:
            out[col] = [fmt_number(v, lang, 0 if u in COUNT_UNITS else 2) if v is not None and v == v else ""
                        for v, u in zip(out[col], out[unit_col])]
    return out


def _local(df):
    """Numbers formatted by their data column (before ``label_table`` translates the headers)."""
    return local_numbers(df, lang)


def _sources(df, col="source"):
    """In Kyrgyz and Russian the norms' sources by short name; the full text (file and rule) in an expander."""
    if col not in df.columns or lang == "en":
        return df
    out = df.copy()
    out[col] = [source_label(v, lang) for v in df[col]]
    return out


def _source_details(texts) -> None:
    full = sorted({str(s) for s in texts if s})
    if full and lang != "en":
        with st.expander(tr("scenarios.src.full_text")):
            st.markdown("\n".join(f"- {md_escape(s)}" for s in full))


def _compare(df):
    """The comparison table: a row per indicator with its unit (ha, plots, people, million som …), counts
    whole, areas (ha) and money (million som) 2 decimals."""
    keys = df.attrs.get("keys") or []
    out = df.copy()
    for col in out.columns[1:]:
        out[col] = [fmt_number(v, lang, 2 if (k.endswith("_ha") or "mio_som" in k) else 0) if v is not None and v == v
                    else "" for v, k in zip(df[col], keys)] if len(keys) == len(df) else df[col]
    units = df.attrs.get("units") or []
    if len(units) == len(df):
        out.insert(1, tr("scenarios.col.unit"), [unit_text(u) for u in units])
    return out


def use_text(u) -> str:
    return maps.code_text(None, u, lang, prefixes=("scenarios.use",))


def unit_text(u) -> str:
    """A unit code (ha, plots, people …) by name ('' when there is none)."""
    return maps.code_text(None, u, lang, prefixes=("scenarios.unit",)) if u is not None and u == u and u else ""


def allocated_map(res, key: str, height: int = 460, text: str = "", legend_below: bool = False):
    """The allocated land on the map; ``legend_below`` (small comparison maps) puts the legend under the map
    so that it does not cover the villages and the allocations."""
    pieces = res.allocation.pieces
    extra, legend = [], []
    if len(pieces):
        p = pieces.copy()
        p["use_t"] = [use_text(u) for u in p["use"]]
        p["area_t"] = p["area_ha"].round(3)
        cols = [("use_t", tr("app.scenarios.use")), ("cadastral_no", tr("app.field.cadastral_no")),
                ("area_t", tr("app.field.area_ha")), ("plots", tr("app.scenarios.plots")),
                ("score", tr("app.scenarios.score"))]
        extra.append((maps.frame_display(p, p["use"].map(USE_COLORS).fillna("#e7298a"), cols, tooltip_col="use_t"),
                      tr("app.scenarios.allocated"), {**maps.styles()["allocation"], "by": "use"}))
        outline = "outline:" + str(maps.styles()["allocation"].get("color", "#e7298a"))
        legend = [(tr("app.scenarios.allocated"), [(use_text(u), USE_COLORS.get(u, "#e7298a"))
                                                   for u in sorted(set(p["use"]))]
                   + [(tr("appui.scenarios.allocation_outline"), outline)])]
    below = [] if legend_below else None
    view = None
    if len(pieces) and pieces.crs is not None:   # the map opens on the allocated land and its villages
        x0, y0, x1, y1 = pieces.to_crs(4326).total_bounds
        pad = max(x1 - x0, y1 - y0) * 0.25 + 0.005
        view = [[float(y0 - pad), float(x0 - pad)], [float(y1 + pad), float(x1 + pad)]]
    m, _ = maps.layers_map(ws, ["settlements", "hazard_zones", "boundary"], lang, state.web_tiles(),
                           hidden=["hazard_zones"], extra=extra, legend_extra=legend, legend_out=below, bounds=view)
    maps.show(m, key=key, height=height,
              cache_key=("scenario", *cache.key(ws), lang, state.web_tiles(), res.id, hash(text)))
    if below:
        st.html(map_vectors.legend_html(below, tr("app.map.legend")))


st.title(tr("app.page.scenarios"))
files = scenario_files()
if not files:
    st.info(tr("app.scenarios.none"))
    st.stop()
titles = {sid: load_scenario(p).title(lang) for sid, p in files.items()}
tab_one, tab_cmp = st.tabs([tr("app.scenarios.tab_edit"), tr("app.scenarios.tab_compare")])

with tab_one:
    sid = st.selectbox(tr("app.scenarios.scenario"), list(files), format_func=lambda s: titles[s],
                       key="scn_pick")
    base = load_scenario(files[sid]).to_dict()
    data = copy.deepcopy(base)
    # the scenario's own description, only in the language on screen (no English text in a ky/ru page)
    desc = base.get("description")
    if isinstance(desc, dict) and desc.get(lang):
        st.caption(md_escape(str(desc[lang])))
    c1, c2, c3 = st.columns(3)
    data["base_year"] = int(c1.number_input(tr("app.scenarios.base_year"), 2000, 2100, int(base["base_year"]),
                                            key=f"scn_by_{sid}"))
    data["horizon_year"] = int(c2.number_input(tr("app.scenarios.horizon_year"), data["base_year"] + 1, 2100,
                                               max(int(base["horizon_year"]), data["base_year"] + 1),
                                               key=f"scn_hy_{sid}"))
    housing = dict(base.get("housing") or {})
    housing["queue_households"] = int(c3.number_input(tr("app.scenarios.queue"), 0, 100_000,
                                                      int(housing.get("queue_households", 0)), key=f"scn_q_{sid}"))
    share_pct = st.slider(tr("app.scenarios.multistorey"), 0, 100,
                          int(round(float(housing.get("multistorey_share", 0.0)) * 100)), 5, format="%d %%",
                          key=f"scn_ms_pct_{sid}")
    if share_pct or "multistorey_share" in housing:
        housing["multistorey_share"] = round(share_pct / 100, 4)
    data["housing"] = housing
    pop = dict(base.get("population") or {})
    if pop.get("method") == "q30" and isinstance(pop.get("history"), dict):
        st.caption(tr("app.scenarios.population_history"))
        hist = pd.DataFrame({"year": [int(y) for y in pop["history"]], "people": [int(v) for v in pop["history"].values()]})
        hist = st.data_editor(hist, num_rows="dynamic", key=f"scn_hist_{sid}", hide_index=True,
                              column_config={"year": st.column_config.NumberColumn(tr("app.scenarios.year"), format="%d"),
                                             # printf formats only: English gets "10,500"; the editor cannot
                                             # write the no-break-space thousands of ky/ru, so plain digits there
                                             "people": st.column_config.NumberColumn(
                                                 tr("app.scenarios.people"), min_value=0,
                                                 format="%,d" if lang == "en" else "%d")})
        # year order, duplicates kept: a year typed twice is refused by the scenario check, never merged away
        pop["history"] = sorted(([int(r.year), int(r.people)] for r in hist.dropna().itertuples()),
                                key=lambda p: p[0])
    elif pop.get("method") == "compound":
        a, b = st.columns(2)
        pop["base"] = int(a.number_input(tr("app.scenarios.people"), 0, 10_000_000, int(pop.get("base", 0)),
                                         key=f"scn_pb_{sid}"))
        pop["rate_pct"] = float(b.number_input(tr("app.scenarios.rate_pct"), -20.0, 50.0,
                                               float(pop.get("rate_pct", 0.0)), key=f"scn_pr_{sid}"))
    data["population"] = pop
    inv = pd.DataFrame(base.get("investments") or [], columns=["sector", "amount_mio_som"])
    st.caption(tr("app.scenarios.investments"))
    inv = st.data_editor(inv, num_rows="dynamic", key=f"scn_inv_{sid}", hide_index=True,
                         column_config={"sector": st.column_config.TextColumn(tr("app.scenarios.sector")),
                                        "amount_mio_som": st.column_config.NumberColumn(tr("app.scenarios.amount"),
                                                                                        min_value=0.0)})
    extra_cols = [c for c in (pd.DataFrame(base.get("investments") or []).columns) if c not in inv.columns]
    data["investments"] = [{k: v for k, v in r.items() if v is not None and v == v}
                           for r in inv.dropna(how="all").to_dict("records")] if not extra_cols else base["investments"]
    with st.expander(tr("app.scenarios.yaml")):
        st.caption(tr("app.scenarios.yaml_help"))
        text = st.text_area("YAML", yaml.safe_dump(data, allow_unicode=True, sort_keys=False), height=260,
                            key=f"scn_yaml_{sid}_{hash(yaml.safe_dump(data, sort_keys=True))}",
                            label_visibility="collapsed")
        try:
            edited = yaml.safe_load(text)
            if isinstance(edited, dict):
                data = edited
        except yaml.YAMLError as exc:
            st.error(tr("app.scenarios.bad_yaml") + f": {md_escape(str(exc)[:200])}")
    b1, b2 = st.columns(2)
    run = b1.button(tr("app.scenarios.run"), type="primary", key="scn_run")
    if b2.button(tr("app.scenarios.save"), key="scn_save"):
        try:
            path = save_scenario(Scenario.from_dict(data), ws.root / "scenarios" / f"{data.get('id', sid)}.yaml")
            st.success(tr("app.zoning.saved", path=md_escape(str(Path(path).relative_to(ws.root)))))
        except GisPlannerError as err:
            show_error(err)
    if run:
        st.session_state["scn_ran"] = yaml.safe_dump(data, allow_unicode=True, sort_keys=True)
    ran = st.session_state.get("scn_ran")
    if ran:
        ran_data = yaml.safe_load(ran)
        with st.spinner(tr("app.scenarios.running")):
            res = result_for(ran_data)
        st.subheader(md_escape(res.scenario.title(lang)))
        summ = res.allocation.summary
        cols = st.columns(max(1, min(4, len(summ))))
        for col, r in zip(cols, summ.itertuples()):
            unit = unit_text(r.unit)   # every figure with its unit (ha, plots …)
            col.metric(use_text(r.use) + (f", {unit}" if unit else ""), f"{_num(r.allocated)} / {_num(r.demand)}",
                       delta=(f"-{_num(r.unmet)}" if r.unmet > 0 else None), delta_color="normal",   # unmet: red
                       help=tr("appui.scenarios.metric_help"))
        if res.allocation.unmet():
            st.warning(tr("app.scenarios.unmet"))
        for line in base_lines(res.demand, lang):           # where the base comes from, plausibility notes
            st.caption(md_escape(line))
        allocated_map(res, key="scn_map_one", text=ran)
        t1, t2, t3, t4, t5, t6 = st.tabs([tr("app.scenarios.t_demand"), tr("app.scenarios.t_alloc"),
                                          tr("app.scenarios.t_transform"), tr("app.scenarios.t_loss"),
                                          tr("app.scenarios.t_infra"), tr("app.scenarios.t_balance")])
        with t1:
            steps = res.demand.steps_table(lang)
            steps[steps.columns[3]] = [_exact(s.result) for s in res.demand.steps]            # result
            steps[steps.columns[5]] = [source_label(s.source, lang) for s in res.demand.steps]   # source
            if lang in ("ky", "ru"):   # the formulas with the decimal comma, like the results beside them
                steps[steps.columns[2]] = [re.sub(r"(?<=\d)\.(?=\d)", ",", str(x)) for x in steps[steps.columns[2]]]
            table(steps)
            _source_details(s.source for s in res.demand.steps)
        with t2:
            table(label_table(_local(_by_unit(summ, ["demand", "allocated", "unmet"])), lang))
            vt = village_table(res.allocation, lang)
            if len(vt):                                       # demand, land and unmet demand per village
                st.caption(tr("scenarios.title.villages"))
                table(vt)
            for block in unmet_lines(res.allocation, lang):   # the alternatives for unmet demand
                st.warning(md_escape(block).replace("\n", "  \n"))
        c = res.consequences
        with t3:
            table(label_table(_local(c.transformations), lang))
        with t4:
            table(label_table(_local(c.land_loss), lang))
            if len(c.hazard_exposure):
                st.caption(tr("app.scenarios.hazard_exposure"))
                exp = _local(c.hazard_exposure)
                for col, prefix in (("hazard_type", "zoning.hazard"), ("level", "zoning.level")):
                    if col in exp.columns:   # codes (flood, medium) named as on the hazards page
                        exp[col] = [maps.code_text(None, v, lang, prefixes=(prefix,)) for v in exp[col]]
                table(label_table(exp, lang))
        with t5:
            table(label_table(_sources(_local(_by_unit(c.infrastructure, ["quantity"]))), lang))
            if "source" in c.infrastructure.columns:
                _source_details(c.infrastructure["source"])
        with t6:
            table(label_table(_local(c.balance), lang))

with tab_cmp:
    chosen = st.multiselect(tr("app.scenarios.compare_pick"), list(files), default=list(files)[:2],
                            format_func=lambda s: titles[s], key="scn_cmp", placeholder=tr("app.choose"))
    if chosen and st.button(tr("app.scenarios.compare_run"), key="scn_cmp_run"):
        st.session_state["scn_cmp_ran"] = list(chosen)
    ran_ids = [s for s in st.session_state.get("scn_cmp_ran", []) if s in files]
    if ran_ids:
        bar = st.progress(0.0)
        results = []
        for i, s in enumerate(ran_ids):
            bar.progress(i / len(ran_ids), text=titles[s])
            results.append(result_for(load_scenario(files[s]).to_dict()))
        bar.empty()
        table(_compare(compare_table(results, lang)))
        cols = st.columns(2)
        for i, res in enumerate(results):
            with cols[i % 2]:
                st.markdown(f"**{md_escape(res.scenario.title(lang))}**")
                allocated_map(res, key=f"scn_cmp_map_{res.id}", height=360, legend_below=True,
                              text=yaml.safe_dump(res.scenario.to_dict(), sort_keys=True))
