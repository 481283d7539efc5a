"""Community map: mapping sessions, draw points/lines/polygons, attributes, edit/delete/restore, history,
comparison of groups. A thin shell over gis_planner.community (the versioned store)."""
import datetime as dt
import json

import folium
import pandas as pd
import streamlit as st

from gis_planner.catalog import catalogue
from gis_planner.community import ConflictError, categories, open_store
from gis_planner.errors import GisPlannerError
from gis_planner.ui import cache, community_edit as ce, community_map as cm, community_paper, community_photos, maps, state
from gis_planner.ui.app import show_error
from gis_planner.ui.safe import md_escape
from gis_planner.ui.widgets import table

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
root = str(ws.root)
store = open_store(ws)
cats = categories(ws)
groups = catalogue("community_categories.participant_groups", root)
conditions = catalogue("community_categories.conditions", root)
sufficiency = catalogue("community_categories.sufficiency", root)
KIND_OF = {"Point": "point", "LineString": "line", "Polygon": "polygon"}
# History times are stored in UTC and shown in local time: Kyrgyzstan has one time zone, UTC+6, no summer time.
LOCAL_TZ = "Asia/Bishkek"
FLASH = "community_flash"   # message to show after the rerun that follows a write
# the map component answers a rerun with its state, which reruns the page once more: a confirmation is kept
# for a few seconds rather than for one run, so the person sees it
FLASH_SECONDS = 8.0


def flash(key: str) -> None:
    """Remember a confirmation (message key) to show after st.rerun()."""
    import time

    st.session_state[FLASH] = {"key": key, "at": time.monotonic(), "toasted": False}


def show_flash(keys: tuple[str, ...], toast: bool = False) -> None:
    """Show the pending confirmation if it is one of ``keys`` (as a message here; with ``toast`` also as a
    toast, once, seen wherever the page is scrolled)."""
    import time

    pending = st.session_state.get(FLASH)
    if not isinstance(pending, dict) or pending.get("key") not in keys:
        return
    if time.monotonic() - pending["at"] > FLASH_SECONDS:
        st.session_state.pop(FLASH, None)
        return
    text = tr(pending["key"])
    st.success(text)
    if toast and not pending["toasted"]:
        st.toast(text, icon=":material/check_circle:")
        pending["toasted"] = True


def changed_name(field: str) -> str:
    """A changed attribute's name for the history (``app.community.change.<field>``; the field itself if
    a later version of the store adds one without a name yet)."""
    key = f"app.community.change.{field}"
    text = tr(key)
    return field if text == key else text


def fresh_labels(key: str, options: list, fmt) -> None:
    """Make the selectbox ``key`` show the current label of its selected option.

    Streamlit's browser side keeps the label it had when the selected option's label changes (a new number
    of features, an edited title) unless the value is set again from Python, before the widget is drawn."""
    if key in st.session_state and st.session_state[key] in options:
        label = fmt(st.session_state[key])
        if st.session_state.get(f"{key}__label") != label:
            st.session_state[key] = st.session_state[key]
        st.session_state[f"{key}__label"] = label


def local_time(at) -> str:
    """A stored UTC time as local day.month.year hours:minutes (e.g. 24.11.2026 12:50)."""
    ts = pd.Timestamp(at)
    if pd.isna(ts):
        return ""
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    try:
        ts = ts.tz_convert(LOCAL_TZ)
    except Exception:  # no time-zone database: the fixed offset of Kyrgyzstan
        ts = ts.tz_convert(dt.timezone(dt.timedelta(hours=6)))
    return ts.strftime("%d.%m.%Y %H:%M")

st.title(tr("app.page.community"))
st.caption(tr("app.community.intro"))

# ------------------------------------------------------------------ session
all_sessions = store.list_sessions(include_deleted=True)
sessions = all_sessions[~all_sessions["deleted"]]


def session_text(sid) -> str:
    r = all_sessions.loc[all_sessions["id"] == sid].iloc[0]
    day = pd.Timestamp(r["date"]).strftime("%d.%m.%Y") if pd.notna(r["date"]) else ""
    gone = f" ({tr('community.conflict.deleted')})" if r["deleted"] else ""
    return (f"#{int(r['id'])} · {r['village']} · {day} · {groups.label(r['participant_group'], lang)}"
            f"{' ' + str(r['age_band']) if r['age_band'] else ''} · {tr('app.community.n_features', n=r['features'])}"
            f"{gone}")


# a session just created is selected here, before the selectbox exists (its state cannot change after that)
if "community_session_new" in st.session_state:
    st.session_state["community_session"] = st.session_state.pop("community_session_new")
session_ids = list(sessions["id"])
_cur_s = st.session_state.get("community_session")
if _cur_s is not None and _cur_s not in session_ids and _cur_s in set(all_sessions["id"]) \
        and ce.widget_key("session", _cur_s, "village") in st.session_state:
    session_ids.append(_cur_s)   # deleted by someone else while its form is open: kept, so its save shows the conflict
fresh_labels("community_session", session_ids, session_text)
c_sess, c_author = st.columns([3, 1])
with c_sess:
    sid = None
    if session_ids:
        sid = st.selectbox(tr("app.community.session"), session_ids, format_func=session_text,
                           key="community_session")
        show_flash(("app.community.session_created", "community.edit.session_saved",
                    "community.edit.session_deleted_ok", "community.edit.session_restored"))
    else:
        show_flash(("community.edit.session_deleted_ok",))
        st.info(tr("app.community.no_sessions"))
with c_author:
    author = st.text_input(tr("app.community.author"), key="community_author", max_chars=40,
                           help=tr("app.community.author_help"))

villages_ws = cm.village_options(ws, lang)   # {stored name: shown name} from the settlements layer
AGE_BANDS = cm.age_bands(ws)


def village_input(container, key: str, current: str | None = None):
    """The village, chosen from the workspace's settlements (free text only when the workspace has none)."""
    opts = dict(villages_ws)
    if current and current not in opts:
        opts[current] = current
    if not opts:
        return container.text_input(tr("app.community.village"), value=current or "", max_chars=120, key=key)
    codes = [None, *opts]
    return container.selectbox(tr("app.community.village"), codes, key=key,
                               index=codes.index(current) if current in codes else 0,
                               format_func=lambda v: tr("community.edit.pick") if v is None else opts[v])


def age_input(container, key: str, current: str | None = None):
    """The age band, chosen explicitly (no default band: a placeholder that must be picked)."""
    codes = [None, *AGE_BANDS]
    return container.selectbox(tr("app.community.age_band"), codes, key=key,
                               index=codes.index(current) if current in codes else 0,
                               format_func=lambda v: tr("community.edit.pick") if v is None
                               else (tr("app.community.age_all") if v == "all" else v))


with st.expander(tr("app.community.new_session"), expanded=not len(sessions)):
    with st.form("community_new_session", clear_on_submit=True):
        a, b, c = st.columns(3)
        village = village_input(a, "community_new_village")
        date = b.date_input(tr("app.community.date"), value=dt.date.today(), format="DD.MM.YYYY")
        group = c.selectbox(tr("app.community.group"), groups.codes, format_func=lambda g: groups.label(g, lang))
        a, b, c, d = st.columns(4)
        age = age_input(a, "community_new_age")
        n_f = b.number_input(tr("app.community.n_female"), min_value=0, max_value=1000, step=1)
        n_m = c.number_input(tr("app.community.n_male"), min_value=0, max_value=1000, step=1)
        facil = d.text_input(tr("app.community.facilitators"), max_chars=120)
        if st.form_submit_button(tr("app.community.create_session"), type="primary"):
            if not village:
                st.warning(tr("community.edit.village_needed"))
            elif age is None:
                st.warning(tr("community.edit.age_needed"))
            else:
                try:
                    new_id = store.create_session(village, date, group, age_band=age, participants_female=int(n_f),
                                                  participants_male=int(n_m), facilitators=facil or None,
                                                  author=author or None)
                    st.session_state["community_session_new"] = new_id
                    flash("app.community.session_created")
                    st.rerun()
                except GisPlannerError as err:
                    show_error(err)

# ------------------------------------------------------------------ edits through the version check
def _values(rec) -> dict:
    return {"category": rec.category, "title": rec.title, "description": rec.description,
            "condition": rec.condition, "sufficiency": rec.sufficiency, "votes": int(rec.votes),
            "geometry": rec.geometry}


def _fmt_feature(field, v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v == "":
        return tr("app.community.not_set")
    if field == "category":
        return cats.label(v, lang)
    if field == "condition":
        return conditions.label(v, lang)
    if field == "sufficiency":
        return sufficiency.label(v, lang)
    if field == "geometry":
        kind = {"Point": "point", "LineString": "line", "Polygon": "polygon"}.get(getattr(v, "geom_type", ""), "")
        c = v.centroid if hasattr(v, "centroid") else None
        where = f"{c.y:.5f}, {c.x:.5f}" if c is not None and not c.is_empty else ""
        return " · ".join(x for x in (tr(f"app.community.kind.{kind}") if kind else "", where) if x)
    return str(v)


def _need_author() -> bool:
    if not (author or "").strip():
        st.warning(tr("community.edit.author_needed", field=tr("app.community.author")))
        return True
    return False


def _moved_geometry(fid, opened_geom):
    """The shape moved/reshaped on the map for feature ``fid`` (shapely, lon/lat), None when unchanged."""
    from shapely.geometry import shape

    pending = st.session_state.get(f"community_geom_{fid}")
    if pending is None:
        return None
    try:
        g = shape(pending)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return None if opened_geom is not None and g.equals_exact(opened_geom, 1e-9) else g


def edit_feature(rec) -> None:
    """The edit form of one feature: saves/deletes with the version it was opened with; a conflict is shown."""
    base = ce.opened("feature", rec.id, rec.version, _values(rec), probe="title")
    done = ce.conflict_panel(
        "feature", rec.id, _values(rec), fmt=_fmt_feature, field_name=lambda f: changed_name(f).capitalize(),
        write=lambda v, ch: store.update_feature(rec.id, v, author, **ch),
        delete=lambda v: store.delete_feature(rec.id, v, author),
        restore=lambda v: store.restore_feature(rec.id, v, author),
        current_version=rec.version, current_deleted=rec.deleted)
    if done:
        if done in ("community.conflict.discarded", "community.conflict.saved_mine", "community.conflict.saved_merge",
                    "app.community.deleted_ok"):
            st.session_state.pop(f"community_geom_{rec.id}", None)
        flash(done)
        st.rerun()
    b = base["values"]
    k = lambda f: ce.widget_key("feature", rec.id, f)  # noqa: E731
    st.caption(tr("community.edit.geometry_hint"))
    moved = _moved_geometry(rec.id, b["geometry"])
    if moved is not None:
        st.info(tr("community.edit.geometry_changed"))
    with st.form(f"community_edit_{rec.id}"):
        kind_ok = [c for c in cats.codes if rec.kind in (cats.items[c].get("kinds") or [rec.kind])]
        e_cat = st.selectbox(tr("app.community.category"), kind_ok, key=k("category"),
                             index=kind_ok.index(b["category"]) if b["category"] in kind_ok else 0,
                             format_func=lambda c: cats.label(c, lang))
        e_title = st.text_input(tr("app.community.title"), value=b["title"], max_chars=120, key=k("title"))
        e_descr = st.text_area(tr("app.community.description"), value=b["description"] or "", max_chars=2000,
                               key=k("description"))
        opts = [None, *conditions.codes]
        sopts = [None, *sufficiency.codes]
        c1, c2 = st.columns(2)
        e_cond = c1.selectbox(tr("app.community.condition"), opts, key=k("condition"),
                              index=opts.index(b["condition"]) if b["condition"] in opts else 0,
                              format_func=lambda c: tr("app.community.not_set") if c is None else conditions.label(c, lang))
        e_suff = c2.selectbox(tr("app.community.sufficiency"), sopts, key=k("sufficiency"),
                              index=sopts.index(b["sufficiency"]) if b["sufficiency"] in sopts else 0,
                              format_func=lambda c: tr("app.community.not_set") if c is None else sufficiency.label(c, lang))
        e_votes = st.number_input(tr("app.community.votes"), min_value=0, max_value=10000, value=int(b["votes"]),
                                  key=k("votes"))
        b1, b2, b3 = st.columns([2, 1, 2])
        do_save = b1.form_submit_button(tr("app.community.save_changes"), type="primary")
        do_delete = b2.form_submit_button(tr("app.community.delete"))
        del_ok = b3.checkbox(tr("app.community.delete_confirm"), key=k("delete_ok"))
    mine = {"category": e_cat, "title": e_title, "description": e_descr or None, "condition": e_cond,
            "sufficiency": e_suff, "votes": int(e_votes), "geometry": b["geometry"]}
    if moved is not None:
        mine["geometry"] = moved
    try:
        if do_save and not _need_author():
            if ce.save("feature", rec.id, lambda v, ch: store.update_feature(rec.id, v, author, **ch), base, mine):
                st.session_state.pop(f"community_geom_{rec.id}", None)
                flash("app.community.updated")
            st.rerun()
        if do_delete and not del_ok:
            st.warning(tr("app.community.delete_confirm_needed"))
        elif do_delete and not _need_author():
            if ce.save("feature", rec.id, lambda v, ch: store.delete_feature(rec.id, v, author), base, mine,
                       action="delete"):
                flash("app.community.deleted_ok")
            st.rerun()
    except GisPlannerError as err:
        show_error(err)


def _fmt_session(field, v) -> str:
    if v is None or v == "" or (isinstance(v, float) and pd.isna(v)):
        return tr("app.community.not_set")
    if field == "participant_group":
        return groups.label(v, lang)
    if field == "village":
        return villages_ws.get(v, v)
    if field == "age_band" and v == "all":
        return tr("app.community.age_all")
    if field == "date":
        try:
            return dt.date.fromisoformat(str(v)[:10]).strftime("%d.%m.%Y")
        except ValueError:
            return str(v)
    return str(v)


SESSION_LABELS = {"village": "app.community.village", "date": "app.community.date",
                  "participant_group": "app.community.group", "age_band": "app.community.age_band",
                  "participants_female": "app.community.n_female", "participants_male": "app.community.n_male",
                  "facilitators": "app.community.facilitators", "notes": "community.edit.notes"}


def edit_session(sess: dict) -> None:
    """The edit form of the chosen session (versioned like features)."""
    oid = int(sess["id"])
    cur = {f: sess.get(f) for f in ce.SESSION_FIELDS}
    base = ce.opened("session", oid, int(sess["version"]), cur, probe="village")
    done = ce.conflict_panel("session", oid, cur, fmt=_fmt_session, field_name=lambda f: tr(SESSION_LABELS[f]),
                             write=lambda v, ch: store.update_session(oid, v, author, **ch),
                             delete=lambda v: store.delete_session(oid, v, author),
                             restore=lambda v: store.restore_session(oid, v, author),
                             current_version=int(sess["version"]), current_deleted=bool(sess["deleted"]))
    if done:
        flash("community.edit.session_deleted_ok" if done == "app.community.deleted_ok" else done)
        st.rerun()
    b = base["values"]
    k = lambda f: ce.widget_key("session", oid, f)  # noqa: E731
    with st.form(f"community_edit_session_{oid}"):
        a, c2, c3 = st.columns(3)
        e_village = village_input(a, k("village"), b["village"])
        try:
            day = dt.date.fromisoformat(str(b["date"])[:10])
        except ValueError:
            day = dt.date.today()
        e_date = c2.date_input(tr("app.community.date"), value=day, format="DD.MM.YYYY", key=k("date"))
        e_group = c3.selectbox(tr("app.community.group"), groups.codes, key=k("participant_group"),
                               index=groups.codes.index(b["participant_group"]) if b["participant_group"] in groups.codes else 0,
                               format_func=lambda g: groups.label(g, lang))
        a, c2, c3, c4 = st.columns(4)
        e_age = age_input(a, k("age_band"), b["age_band"])
        e_f = c2.number_input(tr("app.community.n_female"), min_value=0, max_value=1000, step=1,
                              value=int(b["participants_female"] or 0), key=k("participants_female"))
        e_m = c3.number_input(tr("app.community.n_male"), min_value=0, max_value=1000, step=1,
                              value=int(b["participants_male"] or 0), key=k("participants_male"))
        e_fac = c4.text_input(tr("app.community.facilitators"), value=b["facilitators"] or "", max_chars=120,
                              key=k("facilitators"))
        e_notes = st.text_area(tr("community.edit.notes"), value=b["notes"] or "", max_chars=2000, key=k("notes"))
        c1, c2, c3 = st.columns([2, 1, 2])
        do_save = c1.form_submit_button(tr("community.edit.session_save"), type="primary")
        do_delete = c2.form_submit_button(tr("community.edit.session_delete"))
        del_ok = c3.checkbox(tr("community.edit.session_delete_confirm"), key=k("delete_ok"))
    if do_delete and not del_ok:
        st.warning(tr("app.community.delete_confirm_needed"))
    elif do_delete and not _need_author():
        try:
            if ce.save("session", oid, lambda v, ch: store.delete_session(oid, v, author), base, {},
                       action="delete"):
                flash("community.edit.session_deleted_ok")
            st.rerun()
        except GisPlannerError as err:
            show_error(err)
    if do_save and not _need_author():
        mine = {"village": e_village, "date": e_date.isoformat(), "participant_group": e_group, "age_band": e_age,
                "participants_female": int(e_f), "participants_male": int(e_m), "facilitators": e_fac or None,
                "notes": e_notes or None}
        try:
            if ce.save("session", oid, lambda v, ch: store.update_session(oid, v, author, **ch), base, mine):
                flash("community.edit.session_saved")
            st.rerun()
        except GisPlannerError as err:
            show_error(err)


_gone = all_sessions[all_sessions["deleted"]]
if len(_gone):
    with st.expander(tr("community.edit.sessions_deleted", n=len(_gone))):
        _rs = st.selectbox(tr("app.community.session"), list(_gone["id"]), format_func=session_text,
                           key="community_pick_deleted_session")
        if st.button(tr("community.edit.session_restore"), key="community_restore_session"):
            try:
                _r = store.get_session(int(_rs))
                store.restore_session(int(_rs), int(_r["version"]), author)
                st.session_state["community_session_new"] = int(_rs)
                flash("community.edit.session_restored")
                st.rerun()
            except GisPlannerError as err:
                show_error(err)

if sid is None:
    st.stop()

_sess = store.get_session(int(sid))
with st.expander(tr("community.edit.session"),
                 expanded=ce.pending_conflict("session", int(sid)) is not None or bool(_sess["deleted"])):
    edit_session(_sess)
# ------------------------------------------------------------------ map and drawing
feats = store.features(session_id=int(sid))
show_all = st.toggle(tr("app.community.show_all"), key="community_show_all")
shown = store.features() if show_all else feats


def feature_layer(gdf):
    g = gdf.copy()
    g["cat_t"] = [cats.label(c, lang) for c in g["category"]]
    g["cond_t"] = [conditions.label(c, lang) if isinstance(c, str) and c else "" for c in g["condition"]]
    g["description"] = [d if isinstance(d, str) else "" for d in g["description"]]
    g["group_t"] = [groups.label(c, lang) for c in g["participant_group"]]
    g["flag_t"] = [tr("app.community.problem") if p else (tr("app.community.wish") if w else "")
                   for p, w in zip(g["is_problem"], g["is_wish"])]
    g["id_t"] = g["id"].astype(str)
    cols = [("id_t", "№"), ("title", tr("app.community.title")), ("cat_t", tr("app.community.category")),
            ("description", tr("app.community.description")), ("cond_t", tr("app.community.condition")),
            ("flag_t", ""), ("votes", tr("app.community.votes")), ("group_t", tr("app.community.group")),
            ("village", tr("app.community.village"))]
    colors = g["category"].map(lambda c: cats.color(c, "#ff7f00"))
    return maps.frame_display(g, colors, cols, tooltip_col="title")


# The base map (terrain, layers, names, the draw control, the paper-map photos) is built and rendered once per
# session, "show all", language and tiles, and kept in the browser; the community features, their photos, the
# legend and the feature being edited are a dynamic layer swapped in that map (community_map.dynamic_layer_js).
# A save redraws only that layer: the view, the draw control and a shape drawn meanwhile stay.
NEW_GEN = "community_new_gen"      # generation of the new-feature form (a fresh form after each save)
NEW_ERROR = "community_new_error"  # the store's refusal of the last save, shown in the form


def _nf_key(gen: int, field: str) -> str:
    return f"community_new_{gen}_{field}"


def save_drawing(store_, sid_: int, drawing: dict, gen: int) -> None:
    """The new-feature form's save (its ``on_click``): stored *before* the rerun that follows the click, with the
    drawing the form was shown for, so neither a rerun nor the map reporting a newer drawing can lose it or give
    its attributes to another shape. The saved shape leaves the map's draw group on the next run."""
    ss = st.session_state
    try:
        store_.add_feature(int(sid_), drawing, ss.get(_nf_key(gen, "category")), ss.get(_nf_key(gen, "title")) or "",
                           author=ss.get("community_author") or "",
                           description=ss.get(_nf_key(gen, "description")) or None,
                           condition=ss.get(_nf_key(gen, "condition")),
                           sufficiency=ss.get(_nf_key(gen, "sufficiency")),
                           votes=int(ss.get(_nf_key(gen, "votes")) or 0))
    except GisPlannerError as err:
        ss[NEW_ERROR] = err
        return
    ss.pop(NEW_ERROR, None)
    cm.remember_saved(int(sid_), drawing.get("geometry"))
    ss[NEW_GEN] = gen + 1
    flash("app.community.saved")


view = cm.baked_view((int(sid), show_all, lang, state.web_tiles()))   # stays where the group works
paper = folium.Map(tiles=None)   # collects the paper-map photos (their switch and slider are drawn every run)
community_paper.overlays_on_map(paper, ws, int(sid), lang)  # photos of the drawn paper maps, to trace over


def build_map() -> folium.Map:
    """The base map (called only when it is not cached)."""
    base_legend: list = []
    m, _ = maps.layers_map(ws, ["parcels", "settlements", "buildings", "water_bodies", "roads", "boundary"], lang,
                           state.web_tiles(), hidden=["parcels"], legend_out=base_legend)
    cm.expose_layer_control(m)
    if view:
        cm.SetView(view["center"], view["zoom"]).add_to(m)
    cm.localize_controls(m, lang)
    maps.add_draw(m, lang, edit=True)
    for child in list(paper._children.values()):
        if isinstance(child, folium.FeatureGroup):
            child.add_to(m)
    m.gp_extra = {"legend": base_legend}
    return m


# the feature picked for editing (below the map) can be moved/reshaped with the draw control's edit tool
edit_fid = st.session_state.get("community_pick")
if edit_fid not in set(feats["id"]):
    edit_fid = int(feats["id"].iloc[0]) if len(feats) else None
edit_row = feats.loc[feats["id"] == edit_fid] if edit_fid is not None else feats.iloc[0:0]
photos, _photo_key = community_photos.photo_items(store, shown, lang)  # thumbnails in popups
saved_here = cm.saved_drawings(int(sid))


def dynamic_layer(a: dict) -> str:
    sections = list((a.get("extra") or {}).get("legend") or [])
    if len(shown):
        sections.append((tr("app.page.community"), [(cats.label(c, lang), cats.color(c, "#ff7f00"))
                                                    for c in cats.codes if c in set(shown["category"])]))
    legend_html = json.loads(maps.Legend(sections, tr("app.map.legend")).html_json) if sections else None
    return cm.dynamic_layer_js(
        features=feature_layer(shown) if len(shown) else None, title=tr("app.page.community"),
        style={"color": "#222222", "weight": 2, "fill_opacity": 0.45, "by": "category", "point_radius": 8}, legend_html=legend_html,
        photos=photos, edit_fid=edit_fid, edit_version=int(edit_row["version"].iloc[0]) if len(edit_row) else None,
        edit_geometry=edit_row.geometry.iloc[0] if len(edit_row) else None, saved=saved_here)


left, right = st.columns([3, 2])
with left:
    st.caption(tr("app.community.draw_hint"))
    out = maps.show(build_map, key=f"community_map_{sid}",
                    returned_objects=["last_active_drawing", "all_drawings", "center", "zoom"],
                    height=580, cache_key=("community", *cache.key(ws), lang, state.web_tiles(), int(sid),
                                           show_all, str(view)),
                    overlay_js=dynamic_layer)
    cm.remember_view(out)
out = cm.without_saved(out, saved_here)   # a saved shape is reported until the next drawing: not new any more
out, moved = cm.split_drawings(out, edit_fid)
if edit_fid is not None and moved != st.session_state.get(f"community_geom_seen_{edit_fid}"):
    # a new edit on the map (the map keeps reporting the last one on later runs: only a change counts)
    st.session_state[f"community_geom_seen_{edit_fid}"] = moved
    if moved is not None:
        st.session_state[f"community_geom_{edit_fid}"] = moved
# only a shape drawn with the draw tools starts a new feature (a click on an existing layer does not)
drawing = maps.drawn_feature(out)

with right:
    if drawing and (drawing.get("geometry") or {}).get("type") in KIND_OF:
        kind = KIND_OF[drawing["geometry"]["type"]]
        gen = int(st.session_state.get(NEW_GEN, 0))
        k = lambda f: _nf_key(gen, f)  # noqa: E731
        st.subheader(tr("app.community.new_feature", kind=tr(f"app.community.kind.{kind}")))
        err = st.session_state.pop(NEW_ERROR, None)
        if err is not None:
            show_error(err)
        allowed = [c for c in cats.codes if kind in (cats.items[c].get("kinds") or ["point", "line", "polygon"])]
        with st.form("community_new_feature"):
            st.selectbox(tr("app.community.category"), allowed, format_func=lambda c: cats.label(c, lang),
                         key=k("category"))
            st.text_input(tr("app.community.title"), max_chars=120, key=k("title"))
            st.text_area(tr("app.community.description"), max_chars=2000, key=k("description"))
            a, b = st.columns(2)
            a.selectbox(tr("app.community.condition"), [None, *conditions.codes], key=k("condition"),
                        format_func=lambda c: tr("app.community.not_set") if c is None else conditions.label(c, lang))
            b.selectbox(tr("app.community.sufficiency"), [None, *sufficiency.codes], key=k("sufficiency"),
                        format_func=lambda c: tr("app.community.not_set") if c is None else sufficiency.label(c, lang))
            st.number_input(tr("app.community.votes"), min_value=0, max_value=10000, step=1, key=k("votes"))
            st.form_submit_button(tr("app.community.save"), type="primary", on_click=save_drawing,
                                  args=(store, int(sid), drawing, gen))
    else:
        show_flash(("app.community.saved",))
        st.info(tr("app.community.draw_first"))

community_paper.panel(ws, store, int(sid), author, lang)  # personal-data warnings; paper map print/photo

# ------------------------------------------------------------------ list, edit, delete, history
st.subheader(tr("app.community.features"))
show_flash(("app.community.updated", "app.community.deleted_ok", "app.community.restored",
            "community.conflict.saved_mine", "community.conflict.saved_merge", "community.conflict.discarded"),
           toast=True)
pick_ids = list(feats["id"])
_cur = st.session_state.get("community_pick")
if _cur is not None and _cur not in pick_ids and ce.widget_key("feature", _cur, "title") in st.session_state:
    pick_ids.append(_cur)   # deleted by someone else while this form is open: kept, so its save shows the conflict
if not pick_ids:
    st.caption(tr("app.empty"))
else:
    lst = pd.DataFrame({"id": feats["id"], "title": feats["title"],
                        "category": [cats.label(c, lang) for c in feats["category"]],
                        "kind": [tr(f"app.community.kind.{k}") for k in feats["kind"]],
                        "condition": [conditions.label(c, lang) if isinstance(c, str) and c else ""
                                      for c in feats["condition"]],
                        "votes": feats["votes"], "author": feats["author"], "version": feats["version"]})
    table(lst, {"id": "app.community.id", "title": "app.community.title", "category": "app.community.category",
                "kind": "app.community.kind", "condition": "app.community.condition", "votes": "app.community.votes",
                "author": "app.community.author", "version": "app.community.version"})
    def feature_text(i) -> str:
        if i in set(feats["id"]):
            return f"{i}: {feats.loc[feats['id'] == i, 'title'].iloc[0]}"
        return f"{i}: {store.get_feature(int(i)).title} ({tr('community.conflict.deleted')})"

    fresh_labels("community_pick", pick_ids, feature_text)
    fid = st.selectbox(tr("app.community.pick_feature"), pick_ids, format_func=feature_text,
                       key="community_pick")
    rec = store.get_feature(int(fid))
    community_photos.panel(store, rec, author, lang)  # attach / view / remove photos
    t_edit, t_hist = st.tabs([tr("app.community.edit"), tr("app.community.history")])
    with t_edit:
        edit_feature(rec)
    with t_hist:
        h = store.history(int(fid))
        if len(h):
            hist = pd.DataFrame({"at": [local_time(x) for x in h["at"]],
                                 "action": [tr(f"app.community.action.{a}") for a in h["action"]],
                                 "version": h["version"], "author": h["author"],
                                 "changed": [", ".join(changed_name(c) for c in ch) for ch in h["changed"]]})
            table(hist, {"at": "app.community.at", "action": "app.community.action", "version": "app.community.version",
                         "author": "app.community.author", "changed": "app.community.changed"})

deleted = store.features(session_id=int(sid), include_deleted=True)
deleted = deleted[deleted["deleted"]] if "deleted" in deleted.columns else deleted.iloc[0:0]
if len(deleted):
    with st.expander(tr("app.community.deleted", n=len(deleted))):
        rid = st.selectbox(tr("app.community.pick_feature"), list(deleted["id"]),
                           format_func=lambda i: f"{i}: {deleted.loc[deleted['id'] == i, 'title'].iloc[0]}",
                           key="community_pick_deleted")
        if st.button(tr("app.community.restore"), key="community_restore"):
            try:
                r = store.get_feature(int(rid))
                store.restore_feature(r.id, r.version, author)
                flash("app.community.restored")
                st.rerun()
            except GisPlannerError as err:
                show_error(err)

# ------------------------------------------------------------------ wishes of this session vs restrictions
from gis_planner.community import review  # noqa: E402

with st.expander(tr("app.community.check_wishes_session", session=md_escape(session_text(sid)))):
    st.caption(tr("app.community.check_wishes_help"))
    if st.button(tr("app.community.check_run"), key="community_check_run"):
        res = review.check_against_restrictions(store, ws, session_id=int(sid), lang=lang)
        if res.empty:
            st.caption(tr("app.empty"))
        else:
            out = res[["id", "title", "category", "verdict", "flagged", "message"]].copy()
            out["category"] = [cats.label(c, lang) for c in out["category"]]
            out["verdict"] = [tr(f"zoning.verdict.{x}") if isinstance(x, str) else "" for x in out["verdict"]]
            out["flagged"] = [tr("app.yes") if f else "" for f in out["flagged"]]
            table(out, {"id": "app.community.id", "title": "app.community.title", "category": "app.community.category",
                        "verdict": "zoning.col.verdict", "flagged": "app.community.flagged",
                        "message": "zoning.col.reason"})

# ------------------------------------------------------------------ compare the groups of a village
st.subheader(tr("app.community.compare"))
villages = sorted(set(sessions["village"]))
v = st.selectbox(tr("app.community.village"), villages, key="community_cmp_village")
present = [g for g in groups.codes if g in set(sessions.loc[sessions["village"] == v, "participant_group"])]
if len(present) < 2:
    st.caption(tr("app.community.compare_need_two"))
else:
    a, b = st.columns(2)
    g1 = a.selectbox(tr("app.community.group_a"), present, format_func=lambda g: groups.label(g, lang),
                     key="community_cmp_a")
    g2 = b.selectbox(tr("app.community.group_b"), [g for g in present if g != g1],
                     format_func=lambda g: groups.label(g, lang), key="community_cmp_b")
    cmp = review.compare(store, v, g1, g2)
    st.caption(tr("app.community.compare_help", a=groups.label(g1, lang), b=groups.label(g2, lang),
                  m=f"{cmp.tolerance_m:g}"))
    summ = cmp.summary.copy()
    summ["category"] = [cats.label(c, lang) for c in summ["category"]]
    table(summ.rename(columns={"a": "n_a", "b": "n_b"}),
          {"category": "app.community.category", "n_a": "app.community.cmp_a", "n_b": "app.community.cmp_b",
           "matched_a": "app.community.cmp_matched_a", "matched_b": "app.community.cmp_matched_b",
           "only_a": "app.community.cmp_only_a", "only_b": "app.community.cmp_only_b"})
