"""Community map page (gis_planner/ui/pages/community.py): creating a session when others exist, only drawn
shapes start a new feature, Leaflet.draw texts in the UI language, labels that follow the data, confirmations
and the delete confirmation, session ids and local times.

Run on a copy of the demo *with* its community store (3 sessions), as users meet it."""
from __future__ import annotations

import re

import folium
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from gis_planner import Workspace
from gis_planner.i18n import t
from gis_planner.ui import maps

from .apptest import assert_ok, copy_demo, open_app



pytestmark = pytest.mark.usefixtures("no_app_warm_up")   # (conftest.py)


@pytest.fixture
def comm_ws(tmp_path, demo_ws):
    """A private copy of the demo including its community store (the tests write into it)."""
    return copy_demo(demo_ws, tmp_path / "demo", community=True)


def _app(ws: Workspace, lang: str = "ky") -> AppTest:
    return open_app(ws, lang, "community")


_ok = assert_ok


def _button(at: AppTest, key: str, lang: str):
    return [b for b in at.button if b.label == t(key, lang)][0]


def _sent_label(box) -> str:
    """The label the browser is told to show for the selectbox's value on this run. Streamlit's browser side
    keeps the label it last had unless it is sent one (``set_value``), so after a change of the data it must
    be sent the new label."""
    assert box.proto.set_value, "the browser keeps its old label"
    return box.proto.raw_value


def _label(box) -> str:
    """The label of the selectbox's current value."""
    return box.options[box.index]


# ------------------------------------------------------------------ pure helpers


SQUARE = {"type": "Polygon", "coordinates": [[[76.0, 42.0], [76.01, 42.0], [76.01, 42.01], [76.0, 42.0]]]}
BOUNDARY = {"type": "Polygon", "coordinates": [[[75.0, 41.0], [77.0, 41.0], [77.0, 43.0], [75.0, 41.0]]]}
POINT = {"type": "Point", "coordinates": [76.005, 42.005]}


def _feat(geom, **props):
    return {"type": "Feature", "properties": props, "geometry": geom}


def test_drawn_feature_ignores_clicked_layers():
    # nothing drawn, the boundary clicked: streamlit-folium reports it as last_active_drawing
    assert maps.drawn_feature({"last_active_drawing": _feat(BOUNDARY, name="Boundary"), "all_drawings": []}) is None
    assert maps.drawn_feature({"last_active_drawing": _feat(BOUNDARY), "all_drawings": None}) is None
    assert maps.drawn_feature(None) is None and maps.drawn_feature({}) is None
    # a square drawn, then the boundary clicked to read its popup: the drawn square is still the one to save
    got = maps.drawn_feature({"last_active_drawing": _feat(BOUNDARY), "all_drawings": [_feat(SQUARE)]})
    assert got["geometry"] == SQUARE
    # just drawn: the active drawing itself
    got = maps.drawn_feature({"last_active_drawing": _feat(POINT), "all_drawings": [_feat(SQUARE), _feat(POINT)]})
    assert got["geometry"] == POINT
    # two drawn, the first one clicked again: that one
    got = maps.drawn_feature({"last_active_drawing": _feat(SQUARE), "all_drawings": [_feat(SQUARE), _feat(POINT)]})
    assert got["geometry"] == SQUARE
    # a circle or a broken entry is never a feature to save
    assert maps.drawn_feature({"last_active_drawing": None,
                               "all_drawings": [{"type": "Feature", "geometry": None}, "x"]}) is None


def test_draw_toolbar_texts_follow_the_language():
    m = folium.Map(tiles=None)
    maps.add_draw(m, "ru")
    html_ = m.get_root().render()
    for key in ("app.draw.button_polygon", "app.draw.polygon_start", "app.draw.finish", "app.draw.undo",
                "app.draw.cancel"):
        assert t(key, "ru") in html_, key
    assert t("app.draw.polygon_start", "ru") == "Щёлкните по карте, чтобы начать рисовать полигон."
    assert "Click to start drawing shape." not in html_
    # the texts are set before the draw control is created (its buttons read them when built)
    assert html_.index("L.drawLocal") < html_.index("new L.Control.Draw")
    # the same in the script streamlit-folium sends to the browser
    m = folium.Map(tiles=None)
    maps.add_draw(m, "ky")
    script = maps._component_args(("test_draw_local", "ky"), m)["script"]
    assert t("app.draw.button_polygon", "ky") in script and t("app.draw.button_polygon", "ru") not in script
    assert script.index("L.drawLocal") < script.index("new L.Control.Draw")


def test_draw_texts_are_escaped(monkeypatch):
    from gis_planner.ui import leaflet_i18n   # (the draw texts are set there)

    monkeypatch.setattr(leaflet_i18n, "t", lambda key, lang: 'a "quote" </script><b>x</b>')
    m = folium.Map(tiles=None)
    maps.add_draw(m, "en")
    html_ = m.get_root().render()
    assert "</script><b>" not in html_
    assert r'a \"quote\" &lt;/script&gt;&lt;b&gt;x&lt;/b&gt;' in html_


# ------------------------------------------------------------------ the page


def test_new_session_is_created_once_and_selected(comm_ws):
    from gis_planner.community import open_store

    store = open_store(comm_ws)
    n0 = store.counts()["sessions"]
    assert n0 == 3   # the demo's sessions: the selectbox exists before the new session is made
    at = _app(comm_ws, "ky")
    _ok(at)
    # the village is chosen from the settlements layer; the age band has no default: it must be chosen
    village = at.selectbox(key="community_new_village")
    assert village.value is None and set(village.options) >= {t("community.edit.pick", "ky"), "Ак-Өрүк", "Көк-Сай"}
    village.select("Көк-Сай")
    _button(at, "app.community.create_session", "ky").click().run()
    _ok(at)
    assert t("community.edit.age_needed", "ky") in [w.value for w in at.warning]
    assert store.counts()["sessions"] == n0
    at.selectbox(key="community_new_village").select("Көк-Сай")
    age = at.selectbox(key="community_new_age")
    assert age.value is None
    age.select("36-55")
    _button(at, "app.community.create_session", "ky").click().run()
    _ok(at)
    sessions = store.list_sessions()
    assert len(sessions) == n0 + 1
    new_id = int(sessions["id"].max())
    assert store.get_session(new_id)["age_band"] == "36-55"
    box = at.selectbox(key="community_session")
    assert box.value == new_id
    assert _sent_label(box).startswith(f"#{new_id} · Көк-Сай · ")
    assert t("app.community.session_created", "ky") in [s.value for s in at.success]
    # every session's label starts with its id, so sessions of one village/date/group differ
    assert all(o.startswith("#") for o in box.options)
    assert len(set(box.options)) == len(box.options)
    # the wishes check names the session it checks
    from gis_planner.ui.safe import md_escape

    heading = t("app.community.check_wishes_session", "ky", session=md_escape(box.options[box.index]))
    assert f"#{new_id}" in heading and heading in [e.label for e in at.expander]
    at.run()   # a further run creates nothing
    _ok(at)
    assert store.counts()["sessions"] == n0 + 1


def test_labels_follow_the_data_and_writes_are_confirmed(comm_ws):
    from shapely.geometry import Point

    from gis_planner.community import open_store

    store = open_store(comm_ws)
    at = _app(comm_ws, "ru")
    at.text_input(key="community_author").input("Б.Т.").run()
    _ok(at)
    sid = int(at.selectbox(key="community_session").value)
    n = int(store.list_sessions().set_index("id").loc[sid, "features"])
    assert _label(at.selectbox(key="community_session")).endswith(f"объектов: {n}")
    # a feature saved (here through the store, as the form does): the session's label counts it
    c = comm_ws.read_layer("boundary").to_crs(4326).geometry.iloc[0].representative_point()
    rec = store.add_feature(sid, Point(c.x, c.y), "spring", "Булак", author="A.K.")
    at.run()
    _ok(at)
    assert _sent_label(at.selectbox(key="community_session")).endswith(f"объектов: {n + 1}")
    at.selectbox(key="community_pick").set_value(rec.id).run()
    _ok(at)
    assert _label(at.selectbox(key="community_pick")) == f"{rec.id}: Булак"
    # edit the title: the picker shows the new title, and the change is confirmed
    [w for w in at.text_input if w.label == t("app.community.title", "ru")][0].input("Булак оңдолду")
    _button(at, "app.community.save_changes", "ru").click().run()
    _ok(at)
    assert store.get_feature(rec.id).title == "Булак оңдолду"
    assert _sent_label(at.selectbox(key="community_pick")) == f"{rec.id}: Булак оңдолду"
    assert t("app.community.updated", "ru") in [s.value for s in at.success]
    assert t("app.community.updated", "ru") in [x.value for x in at.toast]
    # history in local time (UTC+6), day.month.year hours:minutes
    at_utc = pd.Timestamp(store.history(rec.id)["at"].iloc[-1])
    local = (at_utc.tz_convert(None) + pd.Timedelta(hours=6)).strftime("%d.%m.%Y %H:%M")
    hist = [d.value for d in at.dataframe if "at" in getattr(d.value, "columns", [])
            or t("app.community.at", "ru") in getattr(d.value, "columns", [])]
    assert hist, "history table"
    col = hist[0][t("app.community.at", "ru")] if t("app.community.at", "ru") in hist[0].columns else hist[0]["at"]
    assert local in list(col)
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", x) for x in col)
    # delete without the confirmation: nothing deleted, a warning
    _button(at, "app.community.delete", "ru").click().run()
    _ok(at)
    assert not store.get_feature(rec.id).deleted
    assert t("app.community.delete_confirm_needed", "ru") in [w.value for w in at.warning]
    # with it: deleted and confirmed
    [c for c in at.checkbox if c.label == t("app.community.delete_confirm", "ru")][0].check()
    _button(at, "app.community.delete", "ru").click().run()
    _ok(at)
    assert store.get_feature(rec.id).deleted
    assert t("app.community.deleted_ok", "ru") in [s.value for s in at.success]
    at.selectbox(key="community_pick_deleted").set_value(rec.id)
    at.button(key="community_restore").click().run()
    _ok(at)
    assert not store.get_feature(rec.id).deleted
    assert t("app.community.restored", "ru") in [s.value for s in at.success]
    assert list(store.history(rec.id)["action"]) == ["create", "update", "delete", "restore"]
    # the history names every changed attribute in the user's language (delete/restore change "deleted")
    at.selectbox(key="community_pick").set_value(rec.id).run()
    hist = [d.value for d in at.dataframe if t("app.community.changed", "ru") in getattr(d.value, "columns", [])]
    changed = list(hist[0][t("app.community.changed", "ru")])
    assert t("app.community.change.title", "ru") in changed
    assert changed.count(t("app.community.change.deleted", "ru")) == 2 and "deleted" not in changed


# ------------------------------------------------------------------ two tabs: no lost edit
def _tab(ws, lang="en", fid=None, sid=None):
    at = _app(ws, lang)
    at.text_input(key="community_author").input("A.K." if fid is None else "B.T.").run()
    if sid is not None:
        at.selectbox(key="community_session").set_value(sid).run()
    if fid is not None:
        at.selectbox(key="community_pick").set_value(fid).run()
    _ok(at)
    return at


def _text(at, key, lang="en"):
    return [w for w in at.text_input if w.label == t(key, lang)]


def test_stale_feature_edit_shows_the_conflict_and_loses_nothing(comm_ws):
    from gis_planner.community import open_store

    store = open_store(comm_ws)
    f = store.features().iloc[0]
    fid, sid = int(f["id"]), int(f["session_id"])
    a, b = _tab(comm_ws, fid=fid, sid=sid), _tab(comm_ws, fid=fid, sid=sid)
    a.text_input(key="community_author").input("A.K.").run()
    # tab A saves a new title
    [w for w in a.text_input if w.label == t("app.community.title", "en")][0].input("Title by A")
    [x for x in a.button if x.label == t("app.community.save_changes", "en")][0].click().run()
    _ok(a)
    assert store.get_feature(fid).title == "Title by A" and store.get_feature(fid).version == 2
    # tab B, still at version 1, changes title and votes
    [w for w in b.text_input if w.label == t("app.community.title", "en")][0].input("Title by B")
    [w for w in b.number_input if w.label == t("app.community.votes", "en")][0].set_value(7)
    [x for x in b.button if x.label == t("app.community.save_changes", "en")][0].click().run()
    _ok(b)
    rec = store.get_feature(fid)
    assert (rec.title, rec.version) == ("Title by A", 2)           # nothing overwritten …
    warn = " ".join(w.value for w in b.warning)
    assert "A.K." in warn and "version 2" in warn and "version 1" in warn   # … and B is told who, when
    table = b.table[0].value
    assert list(table.index) == ["Title", "Votes"]
    assert table.loc["Title"].tolist() == ["Title by A", "Title by B"]
    assert table.loc["Votes"].tolist() == [str(int(f["votes"])), "7"]
    # B's entries are still in its form
    assert [w for w in b.text_input if w.label == t("app.community.title", "en")][0].value == "Title by B"
    # merge: A's title, B's votes
    b.radio(key=f"community_cf_pick_feature_{fid}_title").set_value("theirs")
    b.button(key=f"community_cf_merge_feature_{fid}").click().run()
    _ok(b)
    rec = store.get_feature(fid)
    assert (rec.title, rec.votes, rec.version) == ("Title by A", 7, 3)
    assert t("community.conflict.saved_merge", "en") in [s.value for s in b.success]
    # the form shows the stored values again
    assert [w for w in b.text_input if w.label == t("app.community.title", "en")][0].value == "Title by A"
    h = store.history(fid)
    assert list(h["author"])[-2:] == ["A.K.", "B.T."] and list(h["version"])[-2:] == [2, 3]

    # a stale delete (A opened version 3; B saves version 4) shows the conflict too, nothing is deleted
    [w for w in b.text_input if w.label == t("app.community.title", "en")][0].input("Title by B again")
    [x for x in b.button if x.label == t("app.community.save_changes", "en")][0].click().run()
    a.run()   # A's form was opened after its own save: its base is version 2, the store is at 4
    [c for c in a.checkbox if c.label == t("app.community.delete_confirm", "en")][0].check()
    [x for x in a.button if x.label == t("app.community.delete", "en")][0].click().run()
    _ok(a)
    assert not store.get_feature(fid).deleted
    assert t("community.conflict.stale_delete", "en") in " ".join(m.value for m in a.markdown)
    # "keep mine" for A's delete: deleted now, with the current version
    a.button(key=f"community_cf_del_feature_{fid}").click().run()
    _ok(a)
    assert store.get_feature(fid).deleted
    assert list(store.history(fid)["action"])[-1] == "delete"


def test_stale_session_edit_keep_mine_and_take_theirs(comm_ws):
    from gis_planner.community import open_store

    store = open_store(comm_ws)
    sid = int(store.list_sessions()["id"].max())
    s0 = store.get_session(sid)
    a, b = _tab(comm_ws, sid=sid), _tab(comm_ws, sid=sid)
    a.number_input(key=f"community_session_{sid}_g0_participants_female").set_value(40)
    [x for x in a.button if x.label == t("community.edit.session_save", "en")][0].click().run()
    _ok(a)
    assert store.get_session(sid)["participants_female"] == 40
    b.text_input(key="community_author").input("B.T.").run()
    b.number_input(key=f"community_session_{sid}_g0_participants_female").set_value(41)
    b.number_input(key=f"community_session_{sid}_g0_participants_male").set_value(5)
    [x for x in b.button if x.label == t("community.edit.session_save", "en")][0].click().run()
    _ok(b)
    s = store.get_session(sid)
    assert (s["participants_female"], s["participants_male"], s["version"]) == (40, s0["participants_male"], 2)
    table = b.table[0].value
    assert table.loc[t("app.community.n_female", "en")].tolist() == ["40", "41"]
    # take theirs: B's entries dropped, the form shows 40
    b.button(key=f"community_cf_theirs_session_{sid}").click().run()
    _ok(b)
    assert b.number_input(key=f"community_session_{sid}_g1_participants_female").value == 40
    assert store.get_session(sid)["version"] == 2
    # A edits again (from version 2) while B changes the men (from version 2): B saves first, A keeps its own
    b.number_input(key=f"community_session_{sid}_g1_participants_male").set_value(9)
    [x for x in b.button if x.label == t("community.edit.session_save", "en")][0].click().run()
    a.number_input(key=f"community_session_{sid}_g1_participants_female").set_value(44)
    [x for x in a.button if x.label == t("community.edit.session_save", "en")][0].click().run()
    _ok(a)
    assert store.get_session(sid)["participants_female"] == 40     # not written yet: a conflict
    a.button(key=f"community_cf_mine_session_{sid}").click().run()
    _ok(a)
    s = store.get_session(sid)
    assert (s["participants_female"], s["participants_male"], s["version"]) == (44, 9, 4)   # both kept
    assert list(store.session_history(sid)["author"])[-3:] == ["A.K.", "B.T.", "A.K."]


def test_edit_of_a_feature_deleted_meanwhile_is_not_dropped(comm_ws):
    from gis_planner.community import open_store

    store = open_store(comm_ws)
    f = store.features().iloc[0]
    fid, sid = int(f["id"]), int(f["session_id"])
    b = _tab(comm_ws, fid=fid, sid=sid)
    store.delete_feature(fid, int(f["version"]), "A.K.")          # tab A (or the CLI) deletes it
    [w for w in b.text_input if w.label == t("app.community.title", "en")][0].input("Still here")
    [x for x in b.button if x.label == t("app.community.save_changes", "en")][0].click().run()
    _ok(b)
    assert store.get_feature(fid).deleted                           # not written …
    assert t("community.conflict.was_deleted", "en") in " ".join(m.value for m in b.markdown)   # … but shown
    b.button(key=f"community_cf_mine_feature_{fid}").click().run()   # keep mine: restored, then saved
    _ok(b)
    rec = store.get_feature(fid)
    assert (rec.deleted, rec.title) == (False, "Still here")
    assert list(store.history(fid)["action"])[-3:] == ["delete", "restore", "update"]


# ------------------------------------------------------------------ saving a drawing (issue 20: speed and trust)


class FakeMap:
    """Stands in for the browser's map in AppTest: ``maps.show`` does its real work (the cached base map, the
    dynamic layer's script, kept in ``self.js``) and answers what streamlit-folium would: the shapes drawn on
    this map instance (``draw``), as ``all_drawings`` and ``last_active_drawing``. A new instance (another
    cache key: the browser rebuilds the whole map) starts without drawings."""

    def __init__(self, monkeypatch):
        self.orig = maps.show
        self.idents: list = []
        self.drawn: list = []
        self.active = None
        self.js = ""
        monkeypatch.setattr(maps, "show", self.show)

    def draw(self, geom: dict) -> None:
        self.drawn.append(_feat(geom))
        self.active = _feat(geom)

    def show(self, m, key, returned_objects=None, height=520, cache_key=None, overlay_js=None):
        def overlay(a):
            self.js = overlay_js(a) if callable(overlay_js) else overlay_js
            return self.js

        self.orig(m, key, returned_objects, height, cache_key, overlay if callable(overlay_js) else overlay_js)
        ident = (key, repr(cache_key))
        if not self.idents or self.idents[-1] != ident:
            if self.idents:
                self.drawn, self.active = [], None
            self.idents.append(ident)
        return {"all_drawings": list(self.drawn) or None, "last_active_drawing": self.active,
                "center": {"lat": 42.0, "lng": 76.0}, "zoom": 15}


def _subheaders(at: AppTest) -> set:
    return {s.value for s in at.subheader}


def _new_form_title(at: AppTest):
    boxes = [x for x in at.text_input if str(x.key or "").startswith("community_new_") and x.key.endswith("_title")]
    return boxes[0] if boxes else None


def test_save_in_the_click_callback_keeps_the_map_and_loses_no_drawing(comm_ws, monkeypatch):
    import geopandas as gpd
    import shapely
    from shapely.geometry import mapping

    from gis_planner.community import open_store

    fake = FakeMap(monkeypatch)
    at = _app(comm_ws)
    _ok(at)
    at.text_input(key="community_author").set_value("T.T.").run()
    sid = at.selectbox(key="community_session").value
    store = open_store(comm_ws)
    n0 = len(store.features(session_id=sid))
    c = gpd.GeoSeries([comm_ws.read_layer("settlements").geometry.iloc[0].representative_point()],
                      crs=comm_ws.crs).to_crs(4326).iloc[0]
    square = mapping(shapely.box(c.x, c.y, c.x + 0.001, c.y + 0.001))
    square = {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in square["coordinates"]]}
    point = {"type": "Point", "coordinates": [c.x + 0.002, c.y]}
    line = {"type": "LineString", "coordinates": [[c.x, c.y - 0.001], [c.x + 0.001, c.y - 0.002]]}
    js0 = fake.js

    # draw a square, type its title, save
    fake.draw(square)
    at.run()
    _ok(at)
    assert _subheaders(at) >= {t("app.community.new_feature", "ky", kind=t("app.community.kind.polygon", "ky"))}
    _new_form_title(at).set_value("Жаңы аянт")
    _button(at, "app.community.save", "ky").click().run()
    _ok(at)
    feats = store.features(session_id=sid)
    assert len(feats) == n0 + 1
    mine = feats[feats["title"] == "Жаңы аянт"]
    assert len(mine) == 1 and mine.iloc[0]["author"] == "T.T."
    assert mine.geometry.iloc[0].equals_exact(shapely.geometry.shape(square), 1e-9)
    # after the rerun: saved (said), the form gone though the map still reports the square, the square is in the
    # community layer of the map, and the map is the same instance (not rebuilt: the view and drawings stay)
    assert _new_form_title(at) is None
    assert any(t("app.community.saved", "ky") in s.value for s in at.success)
    assert "Жаңы аянт" in fake.js and fake.js != js0
    assert len(fake.idents) == 1
    at.run()   # the map's answer to the rerun changes nothing: no second copy, no form
    assert len(store.features(session_id=sid)) == n0 + 1 and _new_form_title(at) is None

    # a second drawing right after: its own, empty form; saved too
    fake.draw(point)
    at.run()
    assert _subheaders(at) >= {t("app.community.new_feature", "ky", kind=t("app.community.kind.point", "ky"))}
    assert _new_form_title(at).value == ""
    _new_form_title(at).set_value("Булак")
    _button(at, "app.community.save", "ky").click().run()
    _ok(at)
    feats = store.features(session_id=sid)
    assert len(feats) == n0 + 2 and set(feats["title"]) >= {"Жаңы аянт", "Булак"}
    assert feats.loc[feats["title"] == "Булак"].geometry.iloc[0].geom_type == "Point"

    # a shape drawn while the save click is on its way: the click saves the shape its form was shown for, and
    # the newer shape gets a form of its own (the rerun cannot give one's attributes to the other or lose one)
    fake.draw(line)
    at.run()
    _new_form_title(at).set_value("Жол")
    other = {"type": "Point", "coordinates": [c.x - 0.002, c.y]}
    fake.draw(other)
    _button(at, "app.community.save", "ky").click().run()
    _ok(at)
    feats = store.features(session_id=sid)
    assert len(feats) == n0 + 3
    assert feats.loc[feats["title"] == "Жол"].geometry.iloc[0].geom_type == "LineString"
    assert _subheaders(at) >= {t("app.community.new_feature", "ky", kind=t("app.community.kind.point", "ky"))}
    assert _new_form_title(at).value == ""
    assert len(fake.idents) == 1   # three saves, one map
    # the saved shapes leave the draw group of the map (they are drawn by the community layer)
    assert '"saved":[' in fake.js and fake.js.count('"type":"LineString"') >= 2
