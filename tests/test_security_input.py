"""Issue 18.6: input validation (real dates, control/bidi characters, ';' in file names, --encoding for
community import, features added in QGIS, confirmation before emptying the store)."""
from __future__ import annotations


import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from gis_planner import GisPlannerError, Workspace
from gis_planner.cli import main
from gis_planner.community import open_store
from gis_planner.community import store as store_mod
from gis_planner.text import clean_text, iso_date


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "cws", name="Test", crs=7695)


@pytest.fixture
def store(ws):
    st = open_store(ws)
    yield st
    st.close()
    store_mod._ENGINES.pop(st.url, None)


def test_only_real_dates(store, tmp_ws, tmp_path, capsys):
    for bad in ("2026-05-12; DROP", "2026-02-30", "12.05.2026", "2026-05-12abc", ""):
        with pytest.raises(GisPlannerError) as ei:
            store.create_session("Ак-Суу", bad, "youth")
        assert ei.value.code in ("bad_date", "empty_text")
        with pytest.raises(ValueError):
            iso_date(bad)
    sid = store.create_session("Ак-Суу", "2026-05-12", "youth")
    assert store.get_session(sid)["date"] == "2026-05-12"
    src = tmp_path / "p.geojson"
    gpd.GeoDataFrame({"cadastral_no": ["1"], "category": ["agricultural"]}, geometry=[Point(77.1, 42.6).buffer(0.001)],
                     crs=4326).to_file(src)
    code = main(["import", "-w", str(tmp_ws.root), "-l", "parcels", str(src), "--date", "2026-05-12; DROP"])
    assert code == 2 and "is not a date" in capsys.readouterr().err
    assert not tmp_ws.has_layer("parcels")


def test_control_and_bidi_characters_removed(store):
    assert clean_text("Ак\u202eСуу\x00\x1b[31m") == "АкСуу[31m"
    sid = store.create_session("Ак-Суу\u202e\u2066", "2026-05-12", "youth")
    assert store.get_session(sid)["village"] == "Ак-Суу"
    f = store.add_feature(sid, Point(77.1, 42.6), "spring", "Spring\u202egnirps\x07", author="A.K.\u200f")
    assert f.title == "Springgnirps"
    assert all(ord(c) >= 32 and not 0x202A <= ord(c) <= 0x202E for c in f.title + f.author)


def test_file_names_with_semicolon(store, tmp_ws, tmp_path, capsys):
    src = tmp_path / "parcels; 2026.geojson"   # written with Python: GDAL itself would write a file "parcels"
    src.write_text(gpd.GeoDataFrame({"cadastral_no": ["1-01"], "category": ["agricultural"]}, geometry=[Point(77.1, 42.6).buffer(0.001)],
                                    crs=4326).to_json())
    assert main(["import", "-w", str(tmp_ws.root), "-l", "parcels", str(src), "--date", "2026-05-12"]) == 0
    assert tmp_ws.has_layer("parcels")
    csv = tmp_path / "springs;v2.csv"
    pd.DataFrame({"category": ["spring"], "title": ["Spring"], "author": ["A.K."],
                  "wkt": ["POINT (77.1 42.6)"]}).to_csv(csv, index=False)
    sid = store.create_session("Ак-Суу", "2026-05-12", "youth")
    w = str(store.ws.root)
    assert main(["community", "import", "-w", w, str(csv), "--session", str(sid), "--lang", "en"]) == 0
    assert list(store.features()["title"]) == ["Spring"]
    # and the export to such a name writes that file (not "springs")
    from gis_planner.community import exchange

    out = exchange.export(store, tmp_path / "export;v2.geojson")
    assert out.name == "export;v2.geojson" and len(exchange.read_file(out)) == 1


def test_community_import_encoding(store, tmp_path, capsys):
    sid = store.create_session("Ак-Суу", "2026-05-12", "youth")
    csv = tmp_path / "dos.csv"
    csv.write_bytes("category,title,author,wkt\nspring,Булак,A.K.,POINT (77.1 42.6)\n".encode("cp866"))
    w = str(store.ws.root)
    assert main(["community", "import", "-w", w, str(csv), "--session", str(sid), "--encoding", "cp866",
                 "--lang", "en"]) == 0
    assert list(store.features()["title"]) == ["Булак"]
    # a wrong encoding is a clean error naming the option
    assert main(["community", "import", "-w", w, str(csv), "--session", str(sid), "--encoding", "utf-8"]) == 2
    assert "encoding" in capsys.readouterr().err


def test_feature_added_in_qgis_can_be_edited_and_deleted(store):
    sid = store.create_session("Ак-Суу", "2026-05-12", "youth")
    store.add_feature(sid, Point(77.1, 42.6), "spring", "first", author="A.K.")
    path = store.path
    store.close()
    # what QGIS writes through OGR when somebody adds a point: the form's fields, version 0, no history
    row = gpd.GeoDataFrame({"uid": ["qgis-1"], "session_id": [sid], "category": ["spring"], "kind": ["point"],
                            "title": ["from QGIS"], "is_problem": [0], "is_wish": [0], "votes": [0],
                            "author": ["Q.G."], "created_at": ["2026-05-13T10:00:00Z"],
                            "updated_at": ["2026-05-13T10:00:00Z"], "version": [0], "deleted": [0]},
                           geometry=[Point(77.11, 42.6)], crs=4326)
    pyogrio.write_dataframe(row, path, layer="community_features", append=True)
    qid = int(pyogrio.read_dataframe(path, layer="community_features", fid_as_index=True).index.max())
    assert store.history(qid).empty
    f = store.update_feature(qid, 0, "B.T.", title="edited")
    assert f.version == 1 and f.title == "edited"
    f = store.delete_feature(qid, 1, "B.T.")
    h = store.history(qid)
    assert list(h["action"]) == ["create", "update", "delete"]
    assert list(h["version"]) == [0, 1, 2]
    assert list(h["author"]) == ["Q.G.", "B.T.", "B.T."]
    assert h["new"].iloc[0]["title"] == "from QGIS" and h["old"].iloc[1]["title"] == "from QGIS"
    # a stale version is still a conflict
    with pytest.raises(GisPlannerError) as ei:
        store.restore_feature(qid, 1, "B.T.")
    assert ei.value.code == "edit_conflict"


def test_emptying_the_store_asks_for_confirmation(store, capsys):
    sid = store.create_session("Ак-Суу", "2026-05-12", "youth")
    store.add_feature(sid, Point(77.1, 42.6), "spring", "Spring", author="A.K.")
    w = str(store.ws.root)
    assert main(["community", "migrate", "-w", w, "--to", "base", "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "--yes" in err and "1 sessions and 1 features" in err
    assert store.counts()["features"] == 1          # nothing dropped
    assert main(["community", "migrate", "-w", w, "--lang", "en"]) == 0
    assert "already" in capsys.readouterr().out
    assert main(["community", "migrate", "-w", w, "--to", "base", "--yes", "--lang", "en"]) == 0
    assert "downgraded" in capsys.readouterr().out
    tables = {str(n) for n, _ in pyogrio.list_layers(store.path)} if store.path.exists() else set()
    assert "community_features" not in tables
