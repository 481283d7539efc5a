"""Community map: mapping sessions, draw points/lines/polygons, attributes, edit/delete/restore, history,
comparison of groups. A thin shell over gis_planner.community (the versioned store)."""
import datetime as dt

import pandas as pd
import streamlit as st

from gis_planner.catalog import catalogue
from gis_planner.community import ConflictError, categories, open_store
from gis_planner.errors import GisPlannerError
from gis_planner.ui import cache, maps, state
from gis_planner.ui import community_photos
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


def flash(key: str) -> None:
    """Remember a confirmation (message key) to show after st.rerun()."""
    st.session_state[FLASH] = key


def show_flash(keys: tuple[str, ...], toast: bool = False) -> None:
    """Show the pending confirmation if it is one of ``keys`` (as a message here; with ``toast`` also as a
    toast, seen wherever the page is scrolled)."""
    if st.session_state.get(FLASH) in keys:
        text = tr(st.session_state.pop(FLASH))
        st.success(text)
        if toast:
            st.toast(text, icon=":material/check_circle:")


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
sessions = store.list_sessions()


def session_text(sid) -> str:
    r = sessions.loc[sessions["id"] == sid].iloc[0]
    day = pd.Timestamp(r["date"]).strftime("%d.%m.%Y") if pd.notna(r["date"]) else ""
    return (f"#{int(r['id'])} · {r['village']} · {day} · {groups.label(r['participant_group'], lang)}"
            f"{' ' + str(r['age_band']) if r['age_band'] else ''} · {tr('app.community.n_features', n=r['features'])}")


# a session just created is selected here, before the selectbox exists (its state cannot change after that)
if "community_session_new" in st.session_state:
    st.session_state["community_session"] = st.session_state.pop("community_session_new")
session_ids = list(sessions["id"])
fresh_labels("community_session", session_ids, session_text)
c_sess, c_author = st.columns([3, 1])
with c_sess:
    sid = None
    if len(sessions):
        sid = st.selectbox(tr("app.community.session"), session_ids, format_func=session_text,
                           key="community_session")
        show_flash(("app.community.session_created",))
    else:
        st.info(tr("app.community.no_sessions"))
with c_author:
    author = st.text_input(tr("app.community.author"), key="community_author", max_chars=40,
                           help=tr("app.community.author_help"))

with st.expander(tr("app.community.new_session"), expanded=not len(sessions)):
    with st.form("community_new_session", clear_on_submit=True):
        a, b, c = st.columns(3)
        village = a.text_input(tr("app.community.village"), max_chars=120)
        date = b.date_input(tr("app.community.date"), value=dt.date.today(), format="DD.MM.YYYY")
        group = c.selectbox(tr("app.community.group"), groups.codes, format_func=lambda g: groups.label(g, lang))
        a, b, c, d = st.columns(4)
        age = a.selectbox(tr("app.community.age_band"), ["18-35", "36-55", "56+", "all"],
                          format_func=lambda v: tr("app.community.age_all") if v == "all" else v)
        n_f = b.number_input(tr("app.community.n_female"), min_value=0, max_value=1000, step=1)
        n_m = c.number_input(tr("app.community.n_male"), min_value=0, max_value=1000, step=1)
        facil = d.text_input(tr("app.community.facilitators"), max_chars=120)
        if st.form_submit_button(tr("app.community.create_session"), type="primary"):
            try:
                new_id = store.create_session(village, date, group, age_band=age, participants_female=int(n_f),
                                              participants_male=int(n_m), facilitators=facil or None)
                st.session_state["community_session_new"] = new_id
                flash("app.community.session_created")
                st.rerun()
            except GisPlannerError as err:
                show_error(err)

if sid is None:
    st.stop()

# ------------------------------------------------------------------ map and drawing
feats = store.features(session_id=int(sid))
show_all = st.toggle(tr("app.community.show_all"), key="community_show_all")
shown = store.features() if show_all else feats


def feature_layer(gdf):
    g = gdf.copy()
    g["cat_t"] = [cats.label(c, lang) for c in g["category"]]
    g["cond_t"] = [conditions.label(c, lang) if c else "" for c in g["condition"]]
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


extra, legend = [], []
if len(shown):
    extra.append((feature_layer(shown), tr("app.page.community"),
                  {"color": "#222222", "weight": 2, "fill_opacity": 0.45, "by": "category"}))
    legend = [(tr("app.page.community"), [(cats.label(c, lang), cats.color(c, "#ff7f00"))
                                          for c in cats.codes if c in set(shown["category"])])]
m, _ = maps.layers_map(ws, ["parcels", "settlements", "water_bodies", "roads", "boundary"], lang,
                       state.web_tiles(), hidden=["parcels"], extra=extra, legend_extra=legend)
maps.add_draw(m, lang)
photo_key = community_photos.add_photo_layer(m, store, shown, lang)  # thumbnails in popups
left, right = st.columns([3, 2])
with left:
    st.caption(tr("app.community.draw_hint"))
    signature = tuple(zip(shown["id"].tolist(), shown["version"].tolist()))
    out = maps.show(m, key=f"community_map_{sid}", returned_objects=["last_active_drawing", "all_drawings"],
                    height=580, cache_key=("community", *cache.key(ws), lang, state.web_tiles(), int(sid),
                                           show_all, hash(signature), hash(photo_key)))
# only a shape drawn with the draw tools starts a new feature (a click on an existing layer does not)
drawing = maps.drawn_feature(out)

with right:
    if drawing and (drawing.get("geometry") or {}).get("type") in KIND_OF:
        kind = KIND_OF[drawing["geometry"]["type"]]
        st.subheader(tr("app.community.new_feature", kind=tr(f"app.community.kind.{kind}")))
        allowed = [c for c in cats.codes if kind in (cats.items[c].get("kinds") or ["point", "line", "polygon"])]
        with st.form("community_new_feature"):
            category = st.selectbox(tr("app.community.category"), allowed, format_func=lambda c: cats.label(c, lang))
            title = st.text_input(tr("app.community.title"), max_chars=120)
            descr = st.text_area(tr("app.community.description"), max_chars=2000)
            a, b = st.columns(2)
            cond = a.selectbox(tr("app.community.condition"), [None, *conditions.codes],
                               format_func=lambda c: tr("app.community.not_set") if c is None else conditions.label(c, lang))
            suff = b.selectbox(tr("app.community.sufficiency"), [None, *sufficiency.codes],
                               format_func=lambda c: tr("app.community.not_set") if c is None else sufficiency.label(c, lang))
            votes = st.number_input(tr("app.community.votes"), min_value=0, max_value=10000, step=1)
            if st.form_submit_button(tr("app.community.save"), type="primary"):
                try:
                    rec = store.add_feature(int(sid), drawing, category, title, author=author,
                                            description=descr or None, condition=cond, sufficiency=suff,
                                            votes=int(votes))
                    flash("app.community.saved")
                    st.rerun()
                except GisPlannerError as err:
                    show_error(err)
    else:
        show_flash(("app.community.saved",))
        st.info(tr("app.community.draw_first"))

# ------------------------------------------------------------------ list, edit, delete, history
st.subheader(tr("app.community.features"))
show_flash(("app.community.updated", "app.community.deleted_ok", "app.community.restored"), toast=True)
if feats.empty:
    st.caption(tr("app.empty"))
else:
    lst = pd.DataFrame({"id": feats["id"], "title": feats["title"],
                        "category": [cats.label(c, lang) for c in feats["category"]],
                        "kind": [tr(f"app.community.kind.{k}") for k in feats["kind"]],
                        "condition": [conditions.label(c, lang) if c else "" for c in feats["condition"]],
                        "votes": feats["votes"], "author": feats["author"], "version": feats["version"]})
    table(lst, {"id": "app.community.id", "title": "app.community.title", "category": "app.community.category",
                "kind": "app.community.kind", "condition": "app.community.condition", "votes": "app.community.votes",
                "author": "app.community.author", "version": "app.community.version"})
    def feature_text(i) -> str:
        return f"{i}: {feats.loc[feats['id'] == i, 'title'].iloc[0]}"

    fresh_labels("community_pick", list(feats["id"]), feature_text)
    fid = st.selectbox(tr("app.community.pick_feature"), list(feats["id"]), format_func=feature_text,
                       key="community_pick")
    rec = store.get_feature(int(fid))
    community_photos.panel(store, rec, author, lang)  # attach / view / remove photos
    t_edit, t_hist = st.tabs([tr("app.community.edit"), tr("app.community.history")])
    with t_edit:
        with st.form(f"community_edit_{rec.id}_{rec.version}"):
            kind_ok = [c for c in cats.codes if rec.kind in (cats.items[c].get("kinds") or [rec.kind])]
            e_cat = st.selectbox(tr("app.community.category"), kind_ok, index=kind_ok.index(rec.category)
                                 if rec.category in kind_ok else 0, format_func=lambda c: cats.label(c, lang))
            e_title = st.text_input(tr("app.community.title"), value=rec.title, max_chars=120)
            e_descr = st.text_area(tr("app.community.description"), value=rec.description or "", max_chars=2000)
            opts = [None, *conditions.codes]
            e_cond = st.selectbox(tr("app.community.condition"), opts, index=opts.index(rec.condition)
                                  if rec.condition in opts else 0,
                                  format_func=lambda c: tr("app.community.not_set") if c is None else conditions.label(c, lang))
            e_votes = st.number_input(tr("app.community.votes"), min_value=0, max_value=10000, value=int(rec.votes))
            b1, b2, b3 = st.columns([2, 1, 2])
            do_save = b1.form_submit_button(tr("app.community.save_changes"), type="primary")
            do_delete = b2.form_submit_button(tr("app.community.delete"))
            del_ok = b3.checkbox(tr("app.community.delete_confirm"), key=f"community_delete_ok_{rec.id}")
        try:
            if do_save:
                store.update_feature(rec.id, rec.version, author, category=e_cat, title=e_title,
                                     description=e_descr or None, condition=e_cond, votes=int(e_votes))
                flash("app.community.updated")
                st.rerun()
            if do_delete and not del_ok:
                st.warning(tr("app.community.delete_confirm_needed"))
            elif do_delete:
                store.delete_feature(rec.id, rec.version, author)
                flash("app.community.deleted_ok")
                st.rerun()
        except ConflictError as err:
            st.warning(tr("app.community.conflict"))
            show_error(err)
        except GisPlannerError as err:
            show_error(err)
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
