"""Natural hazards: compute susceptibility zones from the DEM (with progress), zones on the map, exposure,
relocation candidate list. A thin shell over gis_planner.hazards."""
import pandas as pd
import streamlit as st

from gis_planner.hazards import (HAZARD_TYPES, effective_hazard_zones, exposure_table, relocation_candidates,
                                 run_hazards)
from gis_planner.ui import cache, maps, state
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import download_csv, lazy_tabs, table

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()


def htext(code) -> str:
    return maps.code_text(None, code, lang, prefixes=("zoning.hazard",))


def ltext(code) -> str:
    return maps.code_text(None, code, lang, prefixes=("zoning.level",))


st.title(tr("app.page.hazards"))

with st.expander(tr("app.hazards.compute"), expanded=not ws.has_layer("hazard_zones")):
    if ws.dem_path is None:
        st.warning(tr("app.hazards.no_dem"))
    else:
        st.caption(tr("app.hazards.compute_help"))
        kinds = st.multiselect(tr("app.hazards.types"), list(HAZARD_TYPES), default=list(HAZARD_TYPES),
                               format_func=htext, key="hazards_types", placeholder=tr("app.choose"))
        if st.button(tr("app.hazards.run"), type="primary", key="hazards_run", disabled=not kinds):
            bar = st.progress(0.0, text=tr("app.hazards.started"))
            run_hazards(ws, kinds, progress=lambda f, msg: bar.progress(min(1.0, max(0.0, float(f))), text=str(msg)),
                        write=True, lang=lang)
            bar.progress(1.0, text=tr("app.hazards.done"))
            cache.clear()
            st.rerun()

def _fitness_lines(ws_) -> tuple[list[str], bool]:
    """What the DEM supports (lines) and whether some model is screening."""
    from gis_planner.hazards.fitness import fitness_report

    _, fit, lines = fitness_report(ws_, lang)
    return lines, any(not f["fit"] for f in fit.values())


if ws.dem_path is not None:
    lines, some_screening = cache.cached(ws, f"hazards_fitness_{lang}", _fitness_lines)
    with st.expander(tr("hazards.fit.title"), expanded=some_screening):
        st.markdown("\n".join(f"- {md_escape(x)}" for x in lines))
        if some_screening:
            st.caption(tr("hazards.fit.screening_note"))
        from gis_planner.hazards.validation import validate_zones

        val = cache.cached(ws, "hazards_validation", validate_zones)
        if len(val):
            show = val.assign(hazard_type=[htext(v) for v in val["hazard_type"]])
            st.markdown(f"**{md_escape(tr('hazards.validate.title'))}**")
            table(show, {c: f"hazards.col.{c}" for c in show.columns})
            st.caption(tr("hazards.validate.note"))

zones = cache.cached(ws, "hazards_effective", effective_hazard_zones)
if zones.empty:
    st.info(tr("app.hazards.no_zones"))
    st.stop()


def _zones_section() -> None:
    """The hazard zones on the map (official and computed) and their areas."""
    z = zones.copy()
    z["type_t"] = [htext(v) for v in z["hazard_type"]]
    z["level_t"] = [ltext(v) for v in z["level"]]
    z["basis_t"] = [maps.code_text(None, v, lang, prefixes=("hazards.basis",)) for v in z["basis"]]
    z["area_t"] = (z.geometry.area / 10_000).round(2)
    colors = maps.styles()["layers"]["hazard_zones"]["colors"]
    types = sorted(set(z["hazard_type"]))
    # keyed on the types present: a newly computed type (landslide, avalanche…) is shown at once, not hidden
    # behind the selection kept from before it existed
    shown = st.multiselect(tr("app.hazards.types"), types, default=types, format_func=htext,
                           key="hazards_show_" + "_".join(types), placeholder=tr("app.choose"))
    extra = []
    screening_name = tr("hazards.basis.screening")
    for htype in shown:
        for scr in (False, True):  # screening zones apart: dashed, paler, named as such in the layer list
            part = z[(z["hazard_type"] == htype) & ((z["basis"] == "screening") == scr)]
            if not len(part):
                continue
            style = ({"color": "#555555", "weight": 0.8, "fill_opacity": 0.18, "dash": "4 4", "by": "level"} if scr
                     else {"color": "#7a0000", "weight": 0.6, "fill_opacity": 0.4, "by": "level"})
            extra.append((maps.frame_display(part, part["level"].map(colors).fillna("#999999"),
                                             [("type_t", tr("hazards.col.hazard_type")),
                                              ("level_t", tr("hazards.col.level")),
                                              ("basis_t", tr("hazards.col.basis")),
                                              ("area_t", tr("hazards.col.area_ha"))],
                                             tooltip_col="type_t"),
                          f"{htext(htype)} ({screening_name})" if scr else htext(htype), style))
    legend = [(tr("hazards.col.level"), [(ltext(lv), c) for lv, c in colors.items()])]
    m, _ = maps.layers_map(ws, ["settlements", "water_bodies", "roads", "boundary"], lang, state.web_tiles(),
                           extra=extra, legend_extra=legend)
    maps.show(m, key="hazards_map", height=560,
              cache_key=("hazards", *cache.key(ws), lang, state.web_tiles(), tuple(shown)))
    # the area inside the municipality, as the restrictions table, the balance and the report count it
    import shapely

    from gis_planner.zoning.areas import boundary_geometry

    inside = boundary_geometry(ws)
    zg = z.geometry.values if inside is None else shapely.intersection(z.geometry.values, inside)
    summary = (z.assign(area_ha=shapely.area(zg) / 10_000)
               .groupby(["hazard_type", "level", "basis"], as_index=False)["area_ha"].sum())
    summary["hazard_type"] = [htext(v) for v in summary["hazard_type"]]
    summary["level"] = [ltext(v) for v in summary["level"]]
    summary["basis"] = [maps.code_text(None, v, lang, prefixes=("hazards.basis",)) for v in summary["basis"]]
    summary["area_ha"] = summary["area_ha"].round(2)
    table(summary, {"hazard_type": "hazards.col.hazard_type", "level": "hazards.col.level",
                    "basis": "hazards.col.basis", "area_ha": "hazards.col.area_ha"})


def _exposure_section() -> None:
    """What lies in each hazard zone (parcels, buildings, people), with a download."""
    with st.spinner(tr("app.computing")):
        exp = cache.cached(ws, "hazards_exposure", exposure_table)
    show = exp.copy()
    show["hazard_type"] = [htext(v) for v in show["hazard_type"]]
    show["level"] = [ltext(v) for v in show["level"]]
    show["screening"] = [tr("hazards.basis.screening") if v else "" for v in show["screening"]]
    table(show, {c: f"hazards.col.{c}" for c in show.columns})
    if exp["screening"].any():
        st.caption(tr("hazards.fit.screening_note"))
    download_csv(exp, "app.hazards.download_exposure", "hazard_exposure.csv", "hazards_dl_exp")


def _relocation_section() -> None:
    """Parcels proposed for relocation or protection, with a download."""
    with st.spinner(tr("app.computing")):
        rel = cache.cached(ws, "hazards_relocation", relocation_candidates)
    st.caption(tr("app.hazards.relocation_help", n=len(rel)))
    if rel.attrs.get("screening_only"):
        st.warning(tr("hazards.fit.relocation_screening", n=rel.attrs["screening_only"]))
    if len(rel):
        show = rel.drop(columns=[c for c in ("x", "y") if c in rel.columns]).copy()
        show["level"] = [ltext(v) for v in show["level"]]
        show["hazard_types"] = ["; ".join(htext(h) for h in str(v).split(";") if h) for v in show["hazard_types"]]
        show["category"] = [state.code_label("land_categories", v) for v in show["category"]]
        show["land_use"] = [state.code_label("land_uses", v) for v in show["land_use"]]
        show["basis"] = [maps.code_text(None, v, lang, prefixes=("hazards.basis",)) for v in show["basis"]]
        table(show, {c: f"hazards.col.{c}" for c in show.columns})
        download_csv(rel, "app.hazards.download_relocation", "relocation_candidates.csv", "hazards_dl_rel")


# only the open tab runs (see gis_planner.ui.widgets.lazy_tabs): exposure and relocation are computed
# when asked for, not on every visit of the map
SECTIONS = [("app.hazards.tab_zones", _zones_section), ("app.hazards.tab_exposure", _exposure_section),
            ("app.hazards.tab_relocation", _relocation_section)]
for tab, (_, render) in zip(lazy_tabs([tr(k) for k, _ in SECTIONS], key=f"hazards_tab_{lang}"), SECTIONS):
    if tab.open is not False:
        with tab:
            render()
