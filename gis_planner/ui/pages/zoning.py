"""Restrictions and zoning: restriction map for an intended use, click a parcel -> the check with reasons,
conflicts of current use with the regimes, and the editor of the legal zoning rules."""
import copy

import pandas as pd
import streamlit as st
from pyproj import Transformer

from gis_planner.catalog import catalogue
from gis_planner.errors import GisPlannerError
from gis_planner.report.fmt import fmt_number, fmt_percent
from gis_planner.ui import analyses, cache, map_vectors, maps, state
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import lazy_tabs, table
from gis_planner.zoning import check, save_zoning_rules, zoning_rules
from gis_planner.zoning.rules import localize_text, source_translations

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
root = str(ws.root)

st.title(tr("app.page.zoning"))


acts = catalogue("activities", root)
uses = acts.codes
use = st.selectbox(tr("app.zoning.use"), uses, index=uses.index(analyses.default_use(uses)), format_func=lambda c: acts.label(c, lang),
                   key="zoning_use")


def _subtype_text(kind: str, sub, zones: dict) -> str:
    """The subtype of a restriction by name: a legal zone's name from the rules, else its message."""
    if not isinstance(sub, str):
        return ""
    if kind == "legal_zone":
        return ((zones.get(sub) or {}).get("names") or {}).get(lang) or sub
    return maps.code_text(None, sub, lang, prefixes=("zoning.hazard", "zoning.water", "zoning.regime"))


NUMBER_RE = r"^\s*(\d+([.,]\d+)?)?\s*$"


def _num(value, scale: float = 1.0) -> str:
    """A rule parameter as editor text: as short as it is, with the local decimal comma ("12,5"); empty
    when not set (a number column would show an empty cell as "None")."""
    if value is None:
        return ""
    text = f"{round(float(value) * scale, 6):g}"
    return text.replace(".", ",") if lang in ("ky", "ru") else text


def _parse(text) -> float | None:
    """Editor text back to a number (decimal comma or point); None for an empty cell; ValueError else."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return None
    s = str(text).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return None if s == "" else float(s)


def _typed() -> None:
    st.session_state["zoning_src"] = "cad"


def _map_layers(_ws, use: str, lang: str) -> list:
    """The restriction map and the regimes as display layers (simplified, popups in ``lang``): built once
    per data version, intended use and language, not on every click.

    The restriction map is drawn from the regime pieces (:func:`analyses.regime_display`, once per data
    version) coloured by their verdict for ``use`` — a look-up per row, not the union of
    :func:`analyses.restriction_map` (~1 CPU s per use): the municipality in the colour of free land, the
    pieces that condition the use above it, those that prohibit it on top, all opaque in one translucent
    pane, so the map looks like the dissolved classes. The class areas under the map are those of the union.
    """
    pieces = analyses.regime_display(ws)
    class_colors = maps.styles()["restriction_classes"]
    verdicts = analyses.regime_verdicts(ws, use)
    rm = pieces.assign(**{"class": verdicts.reindex(pieces["_pos"]).to_numpy()})
    rm = rm[rm["class"].isin(["free", "conditional", "prohibited"])]
    rm = rm.iloc[rm["class"].map({"free": 0, "conditional": 1, "prohibited": 2}).argsort(kind="stable")]
    rm["label_t"] = [tr(f"zoning.class.{c}") for c in rm["class"]]
    zones = zoning_rules(ws).get("zones") or {}
    rm["kind_t"] = [tr(f"zoning.kind.{k}") if isinstance(k, str) else "" for k in rm["kind"]]
    rm["sub_t"] = [_subtype_text(k, s, zones) for k, s in zip(rm["kind"], rm["subtype"])]
    extra = [(maps.frame_display(rm, rm["class"].map(class_colors),
                                 [("label_t", tr("app.zoning.class")), ("kind_t", tr("app.zoning.kind")),
                                  ("sub_t", tr("app.zoning.subtype"))],
                                 tooltip_col="label_t"),
              tr("app.zoning.restriction_map", use=acts.label(use, lang)),
              {"color": "#444444", "weight": 0, "fill_opacity": 0.45, "by": "class", "pane": "restriction_map"})]
    regimes = cache.cached(ws, "zoning_regimes_layer", _regimes_layer, lang)
    if regimes is not None:
        extra.append(regimes)
    return extra


def _regimes_layer(_ws, lang: str):
    """The regimes themselves as a display layer (kind, subtype, legal source in ``lang``): the same for
    every intended use, so built once per data version and language, not again for each use."""
    restr = analyses.restrictions(ws)
    if not len(restr):
        return None
    rs = restr.copy()
    rs["kind_t"] = [tr(f"zoning.kind.{k}") for k in rs["kind"]]
    zones = zoning_rules(ws).get("zones") or {}
    rs["sub_t"] = [_subtype_text(k, s, zones) for k, s in zip(rs["kind"], rs["subtype"])]
    # the frame carries the English source (files); the popup shows it in the page language
    sources = source_translations(ws)
    rs["src_t"] = [localize_text(v, lang, sources) for v in rs.get("legal_source", pd.Series("", index=rs.index))]
    kinds_colors = maps.styles()["layers"]["restrictions"]["colors"]
    return (maps.frame_display(rs, rs["kind"].map(kinds_colors).fillna("#777777"),
                               [("kind_t", tr("app.zoning.kind")), ("sub_t", tr("app.zoning.subtype")),
                                ("src_t", tr("app.zoning.legal_source"))], tooltip_col="kind_t"),
            tr("app.zoning.restrictions"), {"color": "#333333", "weight": 0.6, "fill_opacity": 0.15, "by": "kind"})


def _areas_table() -> None:
    """Prohibited / conditional / free hectares for the use: the union of the regimes
    (:func:`analyses.restriction_map`, ~1 CPU s for a use not computed yet), so for a new use only when asked
    (a button); the warm-up computes the use the page opens with, and a computed use shows at once."""
    if not analyses.restriction_map_ready(ws, use):
        if not st.button(tr("app-speed.zoning.compute_areas"), key=f"zoning_areas_{use}",
                         help=tr("app-speed.zoning.compute_areas_help")):
            return
        with st.spinner(tr("app.computing")):
            analyses.restriction_map(ws, use)
    rmap = analyses.restriction_map(ws, use)
    areas = pd.DataFrame({"class": [tr(f"zoning.class.{c}") for c in rmap["class"]],
                          "area_ha": rmap["area_ha"].round(2)})
    table(areas, {"class": "app.zoning.class", "area_ha": "app.balance.area_ha"})


@st.fragment
def _check_section() -> None:
    """Restriction map for the chosen use; a click or a cadastral number gives the check (a fragment: a
    click or a typed number reruns this section only, not the page and its sidebar)."""
    with st.spinner(tr("app.computing")):
        restr = analyses.restrictions(ws)
        extra = cache.cached(ws, "zoning_map_layers", _map_layers, use, lang)
    class_colors = maps.styles()["restriction_classes"]
    legend = [(tr(f"zoning.class.{c}"), class_colors[c]) for c in ("prohibited", "conditional", "free")]
    tiles = state.web_tiles()

    def m():   # built only when the map of this use is not cached (not on a click)
        return maps.layers_map(ws, ["parcels", "boundary"], lang, tiles, extra=extra,
                               legend_extra=[(tr("app.zoning.restriction_map", use=acts.label(use, lang)), legend)])[0]
    left, right = st.columns([3, 2])
    map_key = f"zoning_map_{use}"
    map_cache = ("zoning", *cache.key(ws), lang, tiles, use)
    with left:
        st.caption(tr("app.zoning.click_hint"))
    # the map's answer of this run (a click) is known before the map is drawn again
    before = st.session_state.get("zoning_point")
    maps.newest_click(maps.map_value(map_key), "zoning")
    clicked = st.session_state.get("zoning_point")
    if clicked and clicked != before:
        st.session_state["zoning_src"] = "click"   # the input changed last wins (a click or a typed number)
    with right:
        cad = st.text_input(tr("app.zoning.cadastral_no"), key="zoning_cad", on_change=_typed,
                            help=tr("appui.zoning.cad_help"))
        by_number = bool(cad.strip()) and (st.session_state.get("zoning_src", "cad") == "cad" or not clicked)
        if cad.strip() and clicked:   # both given: say which one the verdict is for
            st.caption(tr("appui.zoning.by_number" if by_number else "appui.zoning.by_click"))
        result = None
        failed = True
        try:
            if by_number:
                result = check(ws, use, parcel_id=cad.strip(), restrictions=restr, lang=lang)
            elif clicked:
                x, y = Transformer.from_crs(4326, ws.crs, always_xy=True).transform(clicked["lng"], clicked["lat"])
                result = check(ws, use, point=(x, y), restrictions=restr, lang=lang)
            failed = False
        except GisPlannerError as err:
            if err.code == "unknown_parcel":    # the number typed, in the user's language (no server path)
                st.error(tr("app.zoning.unknown_cadastral", no=md_escape(cad.strip())))
            elif err.code == "point_outside_parcels":
                st.warning(tr("zoning.outside_parcels"))
            else:
                show_error(err)
    highlight = None
    if result is not None and result.geometry is not None:
        highlight = map_vectors.highlight_data(map_vectors.parcel_geojson(result.geometry, ws.crs), fit=by_number)
    with left:   # drawn after the check (the checked parcel highlighted), at the same place in the column
        # the parcel beside the map, not in its arguments: a click does not send the map again
        maps.show(m, key=map_key, returned_objects=list(maps.CLICK_KEYS), height=560, cache_key=map_cache,
                  highlight=highlight, click_now=True)
    with right:
        if result is None:
            if not failed:
                st.info(tr("app.zoning.pick"))
        else:
            if result.at_point is not None:
                # what lies at the clicked point, apart from the verdict for the parcel under it
                from gis_planner.geoinput import at_point_lines
                from gis_planner.i18n import label
                from gis_planner.zoning.check import _what

                zr = zoning_rules(ws)
                lines = at_point_lines(result.at_point, label("activities", use, lang), lang,
                                       lambda z: _what(z, lang, ws, zr))
                st.markdown("\n".join([f"**{md_escape(lines[0])}**"]
                                       + [f"- {md_escape(x.strip()[2:])}" for x in lines[1:]]))
                st.markdown(f"**{md_escape(tr('geoinput.parcel_title'))}**")
            box = {"allowed": st.success, "conditional": st.warning, "prohibited": st.error}[result.verdict]
            head = md_escape(result.message)
            if result.cadastral_no:
                head = f"{md_escape(result.cadastral_no)} — {head}"
            box(head)
            st.caption(tr("app.zoning.shares", area=fmt_number(result.area_ha, lang, 4),
                          p=fmt_number(100 * result.prohibited_share, lang, 1),
                          c=fmt_number(100 * result.conditional_share, lang, 1)))
            for r in result.reasons:
                st.markdown(f"- {md_escape(r['message'])}")
                if r.get("procedure"):   # the category step: the five steps of the transformation
                    st.markdown("\n".join(f"{i}. {md_escape(p.split('. ', 1)[-1])}"
                                           for i, p in enumerate(r["procedure"], 1)))
            for c in result.category:
                if c.get("effect") is None:   # the category allows the use (or was not checked): said
                    st.caption(md_escape(c["message"]))


def _check_tab() -> None:
    """The map and the check (a fragment: a click reruns it), then the class areas of the use under the map —
    outside the fragment: they depend on the use only, so a click neither rebuilds nor redraws them (the table
    used to appear on the first click after the warm-up had computed the areas, its grid drawn then)."""
    _check_section()
    left, _right = st.columns([3, 2])
    with left:
        _areas_table()


def _conflicts_section() -> None:
    """Current land use against the restriction regimes."""
    conf = analyses.conflicts(ws, lang)
    if conf.empty:
        st.success(tr("app.zoning.no_conflicts"))
    else:
        st.caption(tr("app.zoning.n_conflicts", n=len(conf), ha=fmt_number(conf['conflict_area_ha'].sum(), lang, 2)))
        show = conf[[c for c in ("cadastral_no", "land_use", "kind", "conflict_area_ha", "share", "message")
                     if c in conf.columns]].copy()
        if "land_use" in show:
            show["land_use"] = [state.code_label("land_uses", v) for v in show["land_use"]]
        if "kind" in show:
            show["kind"] = [tr(f"zoning.kind.{k}") for k in show["kind"]]
        if "share" in show:   # a share of the parcel: a percentage, the local way
            show["share"] = [fmt_percent(v, lang, 1) for v in show["share"]]
        table(show, {"cadastral_no": "zoning.col.cadastral_no", "land_use": "zoning.col.land_use",
                     "kind": "app.zoning.kind", "conflict_area_ha": "zoning.col.conflict_area_ha",
                     "share": "app.zoning.share", "message": "zoning.col.reason"})


def _rules_section() -> None:
    """The legal zoning rules of the municipality, editable and saved as a workspace override."""
    rules = zoning_rules(ws)
    zones = {k: v for k, v in (rules.get("zones") or {}).items() if v}
    saved = st.session_state.pop("zoning_saved", None)
    if saved:
        st.success(tr("app.zoning.saved", path=md_escape(saved)), icon=":material/check_circle:")
    st.caption(tr("app.zoning.rules_help"))
    effects = ["permitted", "conditional", "prohibited", "unlisted"]
    eff_label = {e: tr(f"app.zoning.effect.{e}") for e in effects}
    label_eff = {v: k for k, v in eff_label.items()}
    grid = {}
    for code, z in zones.items():
        col = []
        for a in uses:
            e = next((k for k in ("permitted", "conditional", "prohibited") if a in (z.get(k) or [])), "unlisted")
            col.append(eff_label[e])
        grid[code] = col
    zname = {code: (z.get("names") or {}).get(lang) or code for code, z in zones.items()}
    df = pd.DataFrame(grid, index=[acts.label(a, lang) for a in uses])
    df.index.name = tr("app.zoning.use")
    cfg = {code: st.column_config.SelectboxColumn(zname[code], options=list(eff_label.values()), required=True)
           for code in zones}
    edited = st.data_editor(df, column_config=cfg, key="zoning_rules_grid", width="stretch")
    # one row per zone, one column per parameter, as text in the local number format: an unset value is an
    # empty cell (not "None"), 12,5 has its decimal comma, the green share is a percentage (15, not 0.15)
    params = pd.DataFrame({"max_floors": [_num(z.get("max_floors")) for z in zones.values()],
                           "max_height_m": [_num(z.get("max_height_m")) for z in zones.values()],
                           "green_pct": [_num(z.get("min_green_share"), 100.0) for z in zones.values()]},
                          index=pd.Index([zname[c] for c in zones], name=tr("app.zoning.zone")), dtype=object)
    pcfg = {col: st.column_config.TextColumn(tr(key), validate=NUMBER_RE)
            for col, key in (("max_floors", "app.zoning.max_floors"), ("max_height_m", "app.zoning.max_height_m"),
                             ("green_pct", "app.zoning.min_green_share_pct"))}
    edited_p = st.data_editor(params, column_config=pcfg, key="zoning_params_grid", width="stretch")
    if st.button(tr("app.zoning.save_rules"), type="primary", key="zoning_save"):
        new = copy.deepcopy(rules)
        bad = []
        for code in zones:
            z = new["zones"][code]
            for k in ("permitted", "conditional", "prohibited"):
                z[k] = [a for a, v in zip(uses, edited[code]) if label_eff.get(v) == k]
            row = edited_p.iloc[list(zones).index(code)]
            for k, col in (("max_floors", "max_floors"), ("max_height_m", "max_height_m"),
                           ("min_green_share", "green_pct")):
                try:
                    v = _parse(row[col])
                except ValueError:
                    bad.append(str(row[col]))
                    continue
                if v is None:
                    z.pop(k, None)
                elif k == "max_floors":
                    z[k] = int(v) if float(v).is_integer() else v
                elif k == "min_green_share":
                    z[k] = round(v / 100.0, 6)
                else:
                    z[k] = int(v) if float(v).is_integer() else v
        try:
            if bad:
                st.error(tr("app.zoning.bad_number", value=md_escape(", ".join(bad))))
                return
            path = save_zoning_rules(ws, new)
            st.session_state["zoning_saved"] = path.name   # shown after the rerun (which would wipe it now)
            st.rerun()
        except GisPlannerError as err:
            show_error(err)


# Only the open section runs (the tabs rerun the page when switched): the restriction map, the conflicts
# table and the two rule editors are not all built and sent on every visit. The key holds the open tab's
# label, so it is per language (labels change with the language).
SECTIONS = [("app.zoning.tab_check", _check_tab), ("app.zoning.tab_conflicts", _conflicts_section),
            ("app.zoning.tab_rules", _rules_section)]
tabs = lazy_tabs([tr(k) for k, _ in SECTIONS], key=f"zoning_tab_{lang}")
for tab, (_, render) in zip(tabs, SECTIONS):
    if tab.open is not False:   # None: this Streamlit does not track the open tab, so every tab runs
        with tab:
            render()
