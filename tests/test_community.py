"""Community-map store: the same tests on the GeoPackage backend and on a real PostGIS server."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from shapely.geometry import LineString, Point, Polygon

from gis_planner import GisPlannerError, Workspace
from gis_planner.community import ATTRIBUTES, ConflictError, exchange, open_store, review
from gis_planner.community import store as store_mod

from .helpers import X0, Y0, gdf, square

# a place on the north shore of Issyk-Kul (Kyrg-06 zone 4, EPSG:7695)
LON, LAT = 77.10, 42.60


def lonlat(x: float, y: float):
    """Point (X0 + x, Y0 + y) of EPSG:7695 as lon/lat (metres offsets are exact in the zone CRS)."""
    return gpd.GeoSeries([Point(X0 + x, Y0 + y)], crs=7695).to_crs(4326).iloc[0]


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request, tmp_path):
    """URL of an empty store: a fresh GeoPackage, or a fresh schema in the PostGIS test database."""
    if request.param == "gpkg":
        path = tmp_path / "community.gpkg"
        yield str(path)
        eng = store_mod._ENGINES.pop(store_mod._normalise_url(str(path)), None)
        if eng is not None:
            eng.dispose()
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{pg_url}?options=-csearch_path%3D{schema},public"
    yield url
    eng = store_mod._ENGINES.pop(store_mod._normalise_url(url), None)
    if eng is not None:
        eng.dispose()
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def store(store_url):
    with open_store(url=store_url) as s:
        yield s


def _session(store, village="Tört-Kül", group="women", **kw):
    kw.setdefault("participants_female", 22)
    return store.create_session(village, "2026-05-12", group, age_band="18-35", **kw)


# --------------------------------------------------------------------------- write path
def test_create_edit_delete_restore_with_history(store):
    sid = _session(store)
    f = store.add_feature(sid, {"type": "Point", "coordinates": [LON, LAT]}, "Родник", "Spring above the village",
                          author="A.K.", sufficiency="жетишсиз")
    assert (f.version, f.category, f.kind, f.sufficiency, f.is_wish, f.deleted) == (1, "spring", "point",
                                                                                    "insufficient", False, False)
    f2 = store.update_feature(f.id, 1, "B.T.", condition="needs_repair", votes=12, geometry=Point(LON + 0.001, LAT))
    assert (f2.version, f2.condition, f2.votes) == (2, "needs_repair", 12)
    assert (f2.author, f2.created_by) == ("B.T.", "A.K.")  # last editor, and who drew it
    assert f2.geometry.equals(Point(LON + 0.001, LAT))
    f3 = store.delete_feature(f.id, 2, "B.T.")
    assert f3.deleted and f3.version == 3
    assert store.features(session_id=sid).empty
    assert list(store.features(session_id=sid, include_deleted=True)["id"]) == [f.id]
    f4 = store.restore_feature(f.id, 3, "C.D.")
    assert (f4.deleted, f4.version) == (False, 4)
    assert list(store.features(session_id=sid)["id"]) == [f.id]

    h = store.history(f.id)
    assert list(h["action"]) == ["create", "update", "delete", "restore"]
    assert list(h["version"]) == [1, 2, 3, 4]
    assert list(h["author"]) == ["A.K.", "B.T.", "B.T.", "C.D."]
    assert h["changed"].iloc[1] == ["condition", "votes", "geometry"]
    assert h["old"].iloc[1]["condition"] is None and h["new"].iloc[1]["condition"] == "needs_repair"
    assert shapely.from_wkt(h["old_wkt"].iloc[1]).equals(Point(LON, LAT))
    assert shapely.from_wkt(h["new_wkt"].iloc[1]).equals(Point(LON + 0.001, LAT))
    assert h["changed"].iloc[2] == ["deleted"] and h["changed"].iloc[3] == ["deleted"]
    assert store.counts() == {"sessions": 1, "features": 1, "deleted": 0, "history": 4}
    # saving without a change writes nothing
    assert store.update_feature(f.id, 4, "C.D.", condition="needs_repair").version == 4
    assert store.counts()["history"] == 4


def test_stale_edit_is_a_conflict_and_writes_nothing(store):
    sid = _session(store)
    f = store.add_feature(sid, Point(LON, LAT), "well", "Well", author="A.K.")
    store.update_feature(f.id, 1, "B.T.", title="Well by the school")
    with pytest.raises(ConflictError) as exc:
        store.update_feature(f.id, 1, "C.D.", title="Old well")
    assert isinstance(exc.value, GisPlannerError) and exc.value.code == "edit_conflict"
    assert exc.value.details["current_version"] == 2 and exc.value.details["changed_by"] == "B.T."
    with pytest.raises(ConflictError):
        store.delete_feature(f.id, 1, "C.D.")
    assert store.get_feature(f.id).title == "Well by the school"
    assert len(store.history(f.id)) == 2


def test_two_concurrent_writers_exactly_one_conflict(store_url):
    first = open_store(url=store_url)
    sid = _session(first)
    f = first.add_feature(sid, Point(LON, LAT), "school", "School", author="A.K.")
    barrier = threading.Barrier(2)
    results: dict = {}

    def writer(name):
        s = open_store(url=store_url)  # each writer its own store object and connection
        barrier.wait()
        try:
            results[name] = s.update_feature(f.id, 1, name, title=f"School ({name})")
        except ConflictError as exc:
            results[name] = exc

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("W1", "W2")]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    conflicts = [v for v in results.values() if isinstance(v, ConflictError)]
    saved = [v for v in results.values() if not isinstance(v, Exception)]
    assert len(conflicts) == 1 and len(saved) == 1
    final = first.get_feature(f.id)
    assert final.version == 2 and final.title == saved[0].title
    assert list(first.history(f.id)["action"]) == ["create", "update"]


# --------------------------------------------------------------------------- validation
def test_validation_rejects_bad_input_with_reasons(store):
    sid = _session(store)
    p = Point(LON, LAT)
    cases = [
        (dict(geometry=p, category="volcano", title="x"), "unknown_category"),
        (dict(geometry=Polygon([(LON, LAT), (LON + .01, LAT), (LON, LAT + .01)]), category="spring", title="x"),
         "bad_geometry_kind"),
        (dict(geometry=Polygon([(LON, LAT), (LON + .01, LAT + .01), (LON + .01, LAT), (LON, LAT + .01)]),
              category="pasture", title="bow tie"), "invalid_geometry"),
        (dict(geometry=Point(4_300_000, 4_720_000), category="spring", title="metres"), "not_lonlat"),
        (dict(geometry=LineString([(LON + i * 1e-5, LAT) for i in range(5001)]), category="road", title="long"),
         "too_many_vertices"),
        (dict(geometry=LineString([(LON, LAT), (LON + 1.0, LAT)]), category="road", title="80 km"), "too_large"),
        (dict(geometry=p, category="spring", title="x" * 121), "text_too_long"),
        (dict(geometry=p, category="spring", title="   "), "empty_text"),
        (dict(geometry=p, category="spring", title="x", condition="broken-ish"), "bad_condition"),
        (dict(geometry=p, category="spring", title="x", votes=-1), "bad_number"),
        (dict(geometry=p, category="spring", title="x", activity="rocket_launch"), "unknown_activity"),
    ]
    for kwargs, code in cases:
        with pytest.raises(GisPlannerError) as exc:
            store.add_feature(sid, author="A.K.", **kwargs)
        assert exc.value.code == code, (kwargs.get("title"), exc.value)
    with pytest.raises(GisPlannerError) as exc:
        store.add_feature(sid, p, "spring", "x", author="+996 555 123 456")
    assert exc.value.code == "personal_data"
    with pytest.raises(GisPlannerError) as exc:
        store.create_session("V", "2026-05-12", "women", facilitators="aigul@example.org")
    assert exc.value.code == "personal_data"
    with pytest.raises(GisPlannerError) as exc:
        store.add_feature(sid + 99, p, "spring", "x", author="A.K.")
    assert exc.value.code == "unknown_session"
    with pytest.raises(GisPlannerError) as exc:
        store.create_session("V", "12.05.2026", "women")
    assert exc.value.code == "bad_date"
    bow = Polygon([(LON, LAT), (LON + .01, LAT + .01), (LON + .01, LAT), (LON, LAT + .01)])
    with pytest.raises(GisPlannerError, match="Self-intersection"):
        store.add_feature(sid, bow, "pasture", "bow tie", author="A.K.")
    assert store.counts()["features"] == 0 and store.counts()["history"] == 0


def test_features_outside_the_municipality_are_rejected(tmp_path, store_url):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 5000)]), source="test")
    store = open_store(ws, url=store_url)
    sid = _session(store)
    # 1.9 km east of the boundary: inside the 2 km tolerance of layers/community_categories.yaml
    assert store.add_feature(sid, lonlat(6900, 2500), "spring", "near", author="A.K.").id
    with pytest.raises(GisPlannerError) as exc:
        store.add_feature(sid, lonlat(7100, 2500), "spring", "far", author="A.K.")
    assert exc.value.code == "outside_boundary" and "2.1 km" in str(exc.value)


# --------------------------------------------------------------------------- import / export
def _fill(store, sid, n=3):
    recs = [
        store.add_feature(sid, Point(77.123456789012345, 42.6), "spring", 'Spring "above" <the> village, ѳ',
                          author="A.K.", description="line 1\nline 2; comma, 'quote'", sufficiency="insufficient",
                          votes=3),
        store.add_feature(sid, LineString([(77.1, 42.6), (77.11, 42.61), (77.12, 42.605)]), "road", "Gullied road",
                          author="A.K.", condition="needs_repair", is_problem=True),
        store.add_feature(sid, Polygon([(77.1, 42.6), (77.11, 42.6), (77.11, 42.61), (77.1, 42.6)]), "school",
                          "New school", author="B.T.", is_wish=True, votes=7),
    ]
    return recs[:n]


@pytest.mark.parametrize("ext", ["geojson", "gpkg", "kml", "csv"])
def test_export_import_round_trip(store, tmp_path, ext):
    sid = _session(store)
    _fill(store, sid)
    before = store.features(session_id=sid)
    path = exchange.export(store, tmp_path / f"map.{ext}", session_id=sid)
    # the file itself holds every attribute
    back = exchange.read_file(path)
    assert len(back) == 3 and set(ATTRIBUTES) <= set(back.columns)
    # importing it (as copies: the originals are in this store) restores the attributes exactly
    sid2 = _session(store, group="men", participants_male=20)
    exchange.import_file(store, path, sid2, keep_uid=False)
    after = store.features(session_id=sid2)
    cols = [c for c in ATTRIBUTES if c != "uid"]
    pd.testing.assert_frame_equal(before[cols].reset_index(drop=True), after[cols].reset_index(drop=True))
    # KML keeps 15 significant digits (GDAL's KML writer), the others the full double
    tol = 1e-12 if ext == "kml" else 0.0
    assert all(a.equals_exact(b, tol) for a, b in zip(before.geometry, after.geometry))
    assert list(store.history(session_id=sid2)["action"]) == ["import"] * 3
    # the same file with its uids is refused: it is already in the store
    with pytest.raises(GisPlannerError) as exc:
        exchange.import_file(store, path, sid2)
    assert exc.value.code == "duplicate_uid"


def test_round_trip_into_another_store_keeps_uid(store, tmp_path):
    sid = _session(store)
    _fill(store, sid)
    path = exchange.export(store, tmp_path / "map.geojson", session_id=sid)
    other = open_store(url=str(tmp_path / "other.gpkg"))
    exchange.import_file(other, path, _session(other))
    a, b = store.features(), other.features()
    pd.testing.assert_frame_equal(a[list(ATTRIBUTES)], b[list(ATTRIBUTES)])


def test_crash_mid_import_leaves_store_unchanged(store, tmp_path):
    sid = _session(store)
    _fill(store, sid, n=2)
    before = store.features(include_deleted=True)
    counts = store.counts()
    n = 1000
    xs = LON + (np.arange(n) % 40) * 1e-4
    ys = LAT + (np.arange(n) // 40) * 1e-4
    frame = gpd.GeoDataFrame({"category": ["well"] * n, "title": [f"Well {i}" for i in range(n)],
                              "author": ["A.K."] * n, "votes": np.arange(n) % 5},
                             geometry=shapely.points(xs, ys), crs=4326)
    path = tmp_path / "many.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    seen = []

    def crash(done, total):
        seen.append(done)
        if done >= 400:  # two blocks of 200 are already written inside the transaction
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        exchange.import_file(store, path, sid, progress=crash)
    assert seen == [200, 400]
    assert store.counts() == counts
    pd.testing.assert_frame_equal(store.features(include_deleted=True), before)
    # a bad row in the middle: nothing is written either, and the error names the row
    frame.loc[500, "category"] = "volcano"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    with pytest.raises(GisPlannerError) as exc:
        exchange.import_file(store, path, sid)
    assert exc.value.code == "unknown_category" and exc.value.feature == "row 501"
    assert str(path) in str(exc.value)
    assert store.counts() == counts
    # and the whole file imports when nothing goes wrong
    frame.loc[500, "category"] = "well"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    assert len(exchange.import_file(store, path, sid)) == n
    assert store.counts()["features"] == counts["features"] + n


# --------------------------------------------------------------------------- review
def _two_groups(store):
    women = _session(store, group="women")
    men = _session(store, group="men", participants_female=0, participants_male=25)
    store.add_feature(women, lonlat(1000, 1000), "spring", "Spring", author="W1", sufficiency="insufficient")
    store.add_feature(women, lonlat(2000, 2000), "school", "School 1971", author="W1", condition="collapsing",
                      is_problem=True, votes=9)
    store.add_feature(women, LineString([lonlat(0, 0), lonlat(500, 0)]), "road", "Road to the spring",
                      author="W1", is_problem=True, votes=4)
    store.add_feature(women, lonlat(2500, 2500), "kindergarten", "Kindergarten", author="W1", is_wish=True, votes=12)
    store.add_feature(men, lonlat(1050, 1000), "spring", "Spring", author="M1")       # 50 m from the women's
    store.add_feature(men, lonlat(2000, 2500), "school", "School", author="M1")       # 500 m away
    store.add_feature(men, lonlat(3000, 3000), "shop_market", "Bazaar", author="M1")
    return women, men


def test_features_in_a_box(store):
    sid = _session(store)
    _fill(store, sid)
    # the line runs 77.10 → 77.12; the triangle spans 77.10–77.11; the spring is at 77.1234…
    assert list(store.features(bbox=(77.115, 42.59, 77.13, 42.62))["title"]) == [
        'Spring "above" <the> village, ѳ'.replace("ѳ", "ө"), "Gullied road"]
    # inside the bounding boxes of the road and the triangle, above the diagonal they share, so touching
    # neither: the index finds two candidates, the exact test rejects both
    assert store.features(bbox=(77.101, 42.608, 77.103, 42.609)).empty
    assert store.features(bbox=(78.0, 43.0, 78.1, 43.1)).empty


def test_counts_problems_wishes(store):
    women, men = _two_groups(store)
    table = review.counts(store, village="Tört-Kül", by="participant_group")
    assert table.loc["spring", "women"] == 1 and table.loc["spring", "men"] == 1
    assert table.loc["road", "men"] == 0 and table.loc["shop_market", "men"] == 1
    assert table.loc["total", "women"] == 4 and table.loc["total", "men"] == 3 and table.loc["total", "total"] == 7
    by_session = review.counts(store, by="session", level="group", lang="ru")
    assert by_session.loc["water", women] == 1 and by_session.loc["social", women] == 2
    assert by_session.loc["social", "label"] == "Больницы, школы, религиозные здания"
    probs = review.problems(store, village="Tört-Kül", lang="en")
    assert list(probs["title"]) == ["School 1971", "Road to the spring"]  # most votes first
    assert list(probs["votes"]) == [9, 4] and probs["group_label"].iloc[0] == "Women"
    wishes = review.wishes(store)
    assert list(wishes["title"]) == ["Kindergarten"] and wishes["activity"].iloc[0] == "social_facility"


def test_compare_two_groups(store):
    _two_groups(store)
    res = review.compare(store, "Tört-Kül", "women", "men", tolerance_m=100)
    s = res.summary.set_index("category")
    assert s.loc["spring", ["a", "b", "matched_a", "matched_b", "only_a", "only_b"]].tolist() == [1, 1, 1, 1, 0, 0]
    assert s.loc["school", ["only_a", "only_b"]].tolist() == [1, 1]  # 500 m apart: not the same school
    assert sorted(res.only_a["category"]) == ["kindergarten", "road", "school"]
    assert sorted(res.only_b["category"]) == ["school", "shop_market"]
    assert res.pairs["distance_m"].iloc[0] == pytest.approx(50.0, abs=0.01)
    wide = review.compare(store, "Tört-Kül", "women", "men", tolerance_m=600)
    assert wide.summary.set_index("category").loc["school", "only_a"] == 0


def test_wished_school_in_mudflow_zone_is_flagged(tmp_path, store_url):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 5000)]), source="test")
    ws.write_layer("hazard_zones", gdf({"hazard_type": ["mudflow"], "level": ["high"], "method": ["official"],
                                        "source": ["MES"], "date": ["2025"]}, [square(1000, 1000, 1000)]),
                   source="test")
    store = open_store(ws, url=store_url)
    sid = _session(store)
    bad = store.add_feature(sid, lonlat(1500, 1500), "school", "School in the gully", author="A", is_wish=True)
    ok = store.add_feature(sid, lonlat(3500, 3500), "school", "School on the hill", author="A", is_wish=True)
    prob = store.add_feature(sid, lonlat(1990, 1500), "problem", "Dump by the gully", author="A")
    far = store.add_feature(sid, lonlat(4000, 4000), "problem", "Broken lamp", author="A")
    res = review.check_against_restrictions(store, lang="en").set_index("id")
    assert res.loc[bad.id, "verdict"] == "prohibited" and res.loc[bad.id, "flagged"]
    # the 20 m disc of the point lies wholly inside the mudflow polygon
    assert res.loc[bad.id, "prohibited_share"] == pytest.approx(1.0)
    assert res.loc[bad.id, "reasons"][0]["rule_id"] == "hazard_high"
    assert res.loc[bad.id, "message"] == "“School in the gully”: Prohibited (hazard zone mudflow high)"
    assert res.loc[ok.id, "verdict"] == "allowed" and not res.loc[ok.id, "flagged"]
    assert res.loc[prob.id, "verdict"] is None and res.loc[prob.id, "flagged"]
    assert res.loc[prob.id, "zones"] == [{"kind": "hazard", "subtype": "mudflow", "level": "high"}]
    assert not res.loc[far.id, "flagged"] and res.loc[far.id, "zones"] == []


# --------------------------------------------------------------------------- hearing export
def test_session_export_for_the_hearing(store, tmp_path):
    sid = _session(store)
    _fill(store, sid)
    store.add_feature(sid, Point(77.105, 42.605), "problem", "<script>alert(1)</script>", author="A.K.")
    paths = exchange.export_session(store, sid, tmp_path / "hearing", lang="ru")
    assert paths["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(paths["map"]) as im:
        assert im.size == (1753, 1240)  # A4 landscape at 150 dpi
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    assert len(table) == 4 and list(table["№"]) == [1, 2, 3, 4]
    # numbered in catalogue order: road, spring, school, problem
    assert list(table["Категория"]) == ["Дорога", "Родник", "Школа", "Проблема"]
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A.K." not in page  # no authors on the published list


# --------------------------------------------------------------------------- GeoPackage on disk
def test_geopackage_opens_with_gdal(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    store = open_store(ws)
    assert store.backend == "geopackage" and store.path == ws.root / "community.gpkg"
    sid = _session(store)
    _fill(store, sid)
    path = ws.root / "community.gpkg"
    # GDAL (pyogrio) has its own SQLite library: in one process, the store's connections must be closed while it
    # reads the WAL-mode file (POSIX locks are per process). QGIS, another process, reads it while the store is open.
    store.close()
    assert not (ws.root / "community.gpkg-wal").exists() or (ws.root / "community.gpkg-wal").stat().st_size == 0
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"community_features", "community_sessions", "community_history",
                           "community_session_history", "community_attachments"}
    df = pyogrio.read_dataframe(path, layer="community_features")
    assert df.crs.to_epsg() == 4326 and len(df) == 3
    assert sorted(df["title"]) == sorted(['Spring "above" <the> village, ө', "Gullied road", "New school"])
    assert df.geometry.iloc[0].equals(Point(77.123456789012345, 42.6))
    info = pyogrio.read_info(path, layer="community_features")
    assert info["features"] == 3 and info["fid_column"] == "id"
    assert np.allclose(info["total_bounds"], [77.1, 42.6, 77.123456789012345, 42.61])
    # the GeoPackage R-tree is maintained by the triggers: bbox reads use it and see moved features
    moved = store.update_feature(3, 1, "A.K.", geometry=Point(77.3, 42.7))
    with store.engine.connect() as c:
        lo, hi = c.exec_driver_sql("SELECT minx, maxx FROM rtree_community_features_geom WHERE id = 3").one()
    store.close()
    # SQLite's R-tree stores float32 boxes rounded outwards
    assert lo <= 77.3 <= hi and hi - lo < 2e-5
    near = pyogrio.read_dataframe(path, layer="community_features", bbox=(77.29, 42.69, 77.31, 42.71))
    assert list(near["title"]) == [moved.title]
    sessions = pyogrio.read_dataframe(path, layer="community_sessions", read_geometry=False)
    assert sessions["participants_female"].tolist() == [22]
    if shutil.which("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-so", str(path), "community_features"], capture_output=True, text=True,
                             check=True).stdout
        assert "Feature Count: 3" in out and "Extent: (77.100000, 42.600000) - (77.300000, 42.700000)" in out
        idx = subprocess.run(["ogrinfo", "-sql", "SELECT HasSpatialIndex('community_features', 'geom')", str(path)],
                             capture_output=True, text=True, check=True).stdout
        assert "HasSpatialIndex (Integer) = 1" in idx
        # no warnings about the schema (column types are GeoPackage types)
        err = subprocess.run(["ogrinfo", "-al", "-so", str(path)], capture_output=True, text=True).stderr
        assert "Warning" not in err


def _alembic(engine, action, revision):
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(store_mod.MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(store_mod.MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_migrations_upgrade_an_older_store(store_url):
    s1 = open_store(url=store_url)
    sid = _session(s1)
    _fill(s1, sid)
    _alembic(s1.engine, "downgrade", "0001_initial")  # a store written by the first release
    store_mod._MIGRATED.clear()
    s2 = open_store(url=store_url)  # upgrades to the head on open
    got = s2.features()
    assert s2.get_session(sid)["village"] == "Tört-Kül" and len(got) == 3
    assert list(got["created_by"]) == list(got["author"]) == ["A.K.", "A.K.", "B.T."]  # backfilled by 0003
    with s2.engine.connect() as c:
        assert c.exec_driver_sql("SELECT version_num FROM community_alembic_version").scalar() == _head()
        if s2.backend == "geopackage":  # the spatial index was built for the features already there
            assert c.exec_driver_sql("SELECT count(*) FROM rtree_community_features_geom").scalar() == 3


# --------------------------------------------------------------------------- CLI
def test_cli_community(tmp_path, capsys):
    from gis_planner.cli import main

    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    w = str(ws.root)
    assert main(["community", "new-session", "-w", w, "--village", "Ak-Suu", "--date", "2026-05-01",
                 "--group", "youth", "--female", "11", "--male", "12", "--lang", "en"]) == 0
    assert "Session 1 created" in capsys.readouterr().out
    src = tmp_path / "in.csv"
    pd.DataFrame({"category": ["spring", "мектеп"], "title": ["Spring", "School"], "author": ["A.K.", "A.K."],
                  "is_wish": ["", "yes"], "wkt": ["POINT (77.1 42.6)", "POINT (77.11 42.6)"]}).to_csv(src, index=False)
    assert main(["community", "import", "-w", w, str(src), "--session", "1", "--lang", "en"]) == 0
    assert "2 features imported" in capsys.readouterr().out
    assert main(["community", "wishes", "-w", w, "--format", "json", "--lang", "en"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in out] == ["School"] and out[0]["category"] == "school"
    assert main(["community", "import", "-w", w, str(tmp_path / "in.csv"), "--session", "7"]) == 2
    assert "session 7 does not exist" in capsys.readouterr().err
    assert main(["community", "delete", "-w", w, "1", "--version", "1", "--author", "A.K.", "--lang", "en"]) == 0
    assert "Feature 1: now version 2" in capsys.readouterr().out
    assert main(["community", "restore", "-w", w, "1", "--version", "1", "--author", "B.T."]) == 2
    assert "changed by A.K." in capsys.readouterr().err  # a stale version is a conflict, one line
    assert main(["community", "restore", "-w", w, "1", "--version", "2", "--author", "B.T."]) == 0


def test_catalogue_for_the_drawing_ui():
    from gis_planner.catalog import validate_catalogue
    from gis_planner.community import category_table, code_options

    assert validate_catalogue("community_categories") == []
    cats = category_table(lang="ru").set_index("code")
    # every BRIEF heading has at least one category
    assert set(cats["group"]) == {"infrastructure", "water", "arable", "agro_ecological", "forest", "pasture",
                                  "commerce", "social", "special_use", "problems", "wishes"}
    assert cats.loc["school", ["label", "icon", "activity"]].tolist() == ["Школа", "graduation-cap", "social_facility"]
    assert cats.loc["spring", "kinds"] == ["point"] and cats.loc["problem", "problem"]
    assert list(code_options("conditions", lang="en")) == ["new", "under_construction", "needs_repair", "old",
                                                           "collapsing"]
    assert list(code_options("sufficiency")) == ["sufficient", "insufficient", "unused", "running_out"]


def test_values_given_as_names_are_stored_as_codes(store):
    sid = store.create_session("Ак-Суу", "2026-05-12", "Аялдар", age_band="18–35")
    assert store.get_session(sid)["participant_group"] == "women"
    assert store.get_session(sid)["age_band"] == "18-35"
    f = store.add_feature(sid, Point(LON, LAT), "Мектеп", "  Мектеп   1971  ", author="А.К.",
                          condition="Требует ремонта", is_wish="ооба", votes="4")
    assert (f.category, f.title, f.condition, f.is_wish, f.votes, f.activity) == (
        "school", "Мектеп 1971", "needs_repair", True, 4, "social_facility")


def test_revert_to_an_earlier_version(store):
    sid = _session(store)
    geom1 = Polygon([(77.1, 42.6), (77.11, 42.6), (77.11, 42.61), (77.1, 42.6)])
    f = store.add_feature(sid, geom1, "pasture", "Near-village pasture", author="A.K.", sufficiency="running_out")
    store.update_feature(f.id, 1, "B.T.", title="Pasture", sufficiency="insufficient", geometry=geom1.buffer(0.001))
    r = store.revert_feature(f.id, to_version=1, expected_version=2, author="A.K.")
    assert (r.version, r.title, r.sufficiency) == (3, "Near-village pasture", "running_out")
    assert r.geometry.equals_exact(geom1, 0.0)
    assert list(store.history(f.id)["action"]) == ["create", "update", "revert"]
    with pytest.raises(ConflictError):
        store.revert_feature(f.id, to_version=2, expected_version=2, author="A.K.")
    with pytest.raises(GisPlannerError) as exc:
        store.revert_feature(f.id, to_version=9, expected_version=3, author="A.K.")
    assert exc.value.code == "unknown_version"


def test_participation_counts_people_not_names(store):
    _session(store, village="Tört-Kül", group="women", participants_female=24)
    _session(store, village="Tört-Kül", group="men", participants_female=0, participants_male=26)
    _session(store, village="Ak-Bulak", group="youth", participants_female=10, participants_male=15)
    p = review.participation(store).set_index("village")
    assert p.loc["Tört-Kül", ["sessions", "participants", "participants_female"]].tolist() == [2, 50, 24]
    assert p.loc["Tört-Kül", "share_female"] == pytest.approx(0.48)
    assert p.loc["Tört-Kül", "groups"] == ["women", "men"]
    assert p.loc["Ak-Bulak", "share_female"] == pytest.approx(0.4)


def test_demo_municipality_wish_in_the_mudflow_zone(demo_ws, tmp_path):
    """End to end on the bundled demo: a wished school inside the official high mudflow zone is prohibited."""
    store = open_store(demo_ws, url=str(tmp_path / "community.gpkg"))  # the demo folder itself is not written
    hz = demo_ws.read_layer("hazard_zones")
    mud = hz[(hz["hazard_type"] == "mudflow") & (hz["level"] == "high")].geometry.iloc[0]
    settlement = demo_ws.read_layer("settlements").iloc[0]
    pts = gpd.GeoSeries([mud.representative_point(), settlement.geometry.representative_point()],
                        crs=demo_ws.crs).to_crs(4326)
    sid = store.create_session(settlement["name"], "2026-05-12", "youth", age_band="18-35",
                               participants_female=12, participants_male=11)
    school = store.add_feature(sid, pts.iloc[0], "school", "School in the mudflow fan", author="A.K.", is_wish=True)
    store.add_feature(sid, pts.iloc[1], "clinic", "Health post", author="A.K.", condition="needs_repair")
    res = review.check_against_restrictions(store, lang="en").set_index("id")
    assert len(res) == 1 and res.loc[school.id, "verdict"] == "prohibited"
    hazard = [r for r in res.loc[school.id, "reasons"] if r["kind"] == "hazard"]
    assert hazard[0]["subtype"] == "mudflow" and hazard[0]["level"] == "high"
    assert hazard[0]["share"] == pytest.approx(1.0)
    paths = exchange.export_session(store, sid, tmp_path / "hearing", lang="ky")
    assert paths["map"].stat().st_size > 50_000  # boundary, settlements and roads drawn under the features


GOOGLE_EARTH_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Springs</name>
<Folder><name>Upper</name>
 <Placemark><name>Kara-Suu spring</name><description>2 hours a day</description>
  <Point><coordinates>77.1012,42.6034,1712</coordinates></Point></Placemark>
 <Placemark><name>Sary-Bulak</name><Point><coordinates>77.1051,42.6071,1730</coordinates></Point></Placemark>
</Folder>
<Folder><name>Lower</name>
 <Placemark><name>Shared with livestock</name><Point><coordinates>77.0990,42.5980,1650</coordinates></Point></Placemark>
</Folder></Document></kml>
"""


def test_import_google_earth_kml_with_folders(store, tmp_path):
    path = tmp_path / "springs.kml"
    path.write_text(GOOGLE_EARTH_KML, encoding="utf-8")
    sid = _session(store)
    recs = exchange.import_file(store, path, sid, author="A.K.", category="spring")
    assert sorted(r.title for r in recs) == ["Kara-Suu spring", "Sary-Bulak", "Shared with livestock"]
    by_title = {r.title: r for r in recs}
    assert by_title["Kara-Suu spring"].description == "2 hours a day"
    assert by_title["Kara-Suu spring"].geometry.equals(Point(77.1012, 42.6034))  # altitude dropped
    assert all(r.category == "spring" and r.author == "A.K." for r in recs)


WRITER = """
import sys, time
from pathlib import Path
from gis_planner.community import ConflictError, open_store
url, fid, name, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
store = open_store(url=url)
store.get_feature(fid)                      # connected and migrated: ready
Path(go.parent / f"ready-{name}").touch()
while not go.exists():
    time.sleep(0.005)
try:
    store.update_feature(fid, 1, name, title=f"Canal ({name})")
    print("saved")
except ConflictError:
    print("conflict")
"""


def test_two_processes_writing_one_geopackage(tmp_path):
    """Two programs (e.g. two app servers) save the same feature version: one wins, one gets the conflict."""
    import os
    import sys
    import time

    url = str(tmp_path / "community.gpkg")
    with open_store(url=url) as s:
        f = s.add_feature(_session(s), LineString([(LON, LAT), (LON + 0.01, LAT)]), "canal", "Canal", author="A.K.")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(store_mod.Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(f.id), name, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for name in ("P1", "P2")]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("P1", "P2")) and time.time() < deadline:
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert sorted(o.strip() for o, _ in outs) == ["conflict", "saved"], outs
    with open_store(url=url) as s:
        assert s.get_feature(f.id).version == 2
        assert list(s.history(f.id)["action"]) == ["create", "update"]


# --------------------------------------------------------------------------- sessions: versions and conflicts
def test_session_edits_are_versioned_with_history(store):
    sid = store.create_session("Tört-Kül", "2026-05-12", "women", age_band="18-35", participants_female=22,
                               author="A.K.")
    s1 = store.get_session(sid)
    assert s1["version"] == 1 and s1["updated_at"] == s1["created_at"]
    s2 = store.update_session(sid, 1, "B.T.", participants_female=24, date="2026-05-13")
    assert (s2["version"], s2["participants_female"], s2["date"]) == (2, 24, "2026-05-13")
    s3 = store.update_session(sid, 2, "C.D.", participant_group="Аялдар")   # the same group by name: no change
    assert s3["version"] == 2
    h = store.session_history(sid)
    assert list(h["action"]) == ["create", "update"] and list(h["version"]) == [1, 2]
    assert list(h["author"]) == ["A.K.", "B.T."]
    assert h["changed"].iloc[1] == ["date", "participants_female"]
    assert (h["old"].iloc[1]["participants_female"], h["new"].iloc[1]["participants_female"]) == (22, 24)
    with pytest.raises(GisPlannerError) as exc:
        store.update_session(sid, 2, "C.D.", name="x")
    assert exc.value.code == "bad_field"
    with pytest.raises(GisPlannerError) as exc:
        store.update_session(sid, 2, "+996 555 123 456", notes="x")
    assert exc.value.code == "personal_data"
    assert store.get_session(sid)["version"] == 2


def test_stale_session_edit_is_a_conflict_and_writes_nothing(store):
    sid = _session(store)
    store.update_session(sid, 1, "A.K.", participants_female=25)       # tab A
    with pytest.raises(ConflictError) as exc:                          # tab B, opened at version 1
        store.update_session(sid, 1, "B.T.", participants_female=30, participants_male=3)
    d = exc.value.details
    assert (d["session_id"], d["expected_version"], d["current_version"], d["changed_by"]) == (sid, 1, 2, "A.K.")
    assert exc.value.code == "edit_conflict" and d["changed_at"]
    now = store.get_session(sid)
    assert (now["participants_female"], now["participants_male"], now["version"]) == (25, 0, 2)
    assert len(store.session_history(sid)) == 2
    # B keeps its values over the new version: a new version, A's change is in the history
    kept = store.update_session(sid, 2, "B.T.", participants_female=30, participants_male=3)
    assert (kept["version"], kept["participants_female"], kept["participants_male"]) == (3, 30, 3)
    assert [r["participants_female"] for r in store.session_history(sid)["new"]] == [22, 25, 30]


def test_session_delete_and_restore_are_versioned_and_stale_delete_is_a_conflict(store):
    sid = _session(store)
    other = _session(store, group="men")
    f = store.add_feature(sid, Point(LON, LAT), "well", "Well", author="A.K.")
    store.update_session(sid, 1, "A.K.", notes="moved to the school")      # tab A: version 2
    with pytest.raises(ConflictError) as exc:                               # tab B opened version 1
        store.delete_session(sid, 1, "B.T.")
    assert exc.value.details["current_version"] == 2 and exc.value.details["changed_by"] == "A.K."
    assert not store.get_session(sid)["deleted"]
    gone = store.delete_session(sid, 2, "B.T.")
    assert gone["deleted"] and gone["version"] == 3
    assert list(store.list_sessions()["id"]) == [other]
    assert sorted(store.list_sessions(include_deleted=True)["id"]) == sorted([sid, other])
    assert store.features().empty and list(store.features(include_deleted=True)["id"]) == [f.id]
    for call in (lambda: store.update_session(sid, 3, "B.T.", notes="x"),
                 lambda: store.add_feature(sid, Point(LON, LAT), "well", "Well 2", author="B.T.")):
        with pytest.raises(GisPlannerError) as exc:
            call()
        assert exc.value.code == "deleted_session"
    back = store.restore_session(sid, 3, "A.K.")
    assert (back["deleted"], back["version"]) == (False, 4)
    assert list(store.features()["id"]) == [f.id]
    h = store.session_history(sid)
    assert list(h["action"]) == ["create", "update", "delete", "restore"]
    assert h["changed"].iloc[2] == ["deleted"] and h["changed"].iloc[1] == ["notes"]


def test_two_concurrent_session_writers_exactly_one_conflict(store_url):
    first = open_store(url=store_url)
    sid = _session(first)
    barrier = threading.Barrier(2)
    results = []

    def edit(n):
        s = open_store(url=store_url)
        barrier.wait()
        try:
            s.update_session(sid, 1, f"W{n}", participants_female=100 + n)
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["conflict", "ok"]
    got = first.get_session(sid)
    assert got["version"] == 2 and got["participants_female"] in (100, 101)
    assert len(first.session_history(sid)) == 2


def test_session_versions_migration_down_and_up(store_url):
    s1 = open_store(url=store_url)
    sid = _session(s1)
    s1.update_session(sid, 1, "A.K.", participants_male=4)
    _alembic(s1.engine, "downgrade", "0003_created_by")
    with s1.engine.connect() as c:
        cols = {r[1] for r in c.exec_driver_sql("PRAGMA table_info(community_sessions)")} if s1.backend == "geopackage" \
            else set(c.exec_driver_sql("SELECT column_name FROM information_schema.columns WHERE "
                                       "table_name = 'community_sessions' AND table_schema = current_schema()").scalars())
    assert "version" not in cols and "deleted" not in cols and "participants_male" in cols
    store_mod._MIGRATED.clear()
    s2 = open_store(url=store_url)
    got = s2.get_session(sid)
    assert (got["version"], got["participants_male"]) == (1, 4) and got["updated_at"] == got["created_at"]
    assert s2.session_history(sid).empty          # history starts with the next change
    assert s2.update_session(sid, 1, "B.T.", participants_male=5)["version"] == 2


# --------------------------------------------------------------------------- GeoPackage: readers never block
def _timed(fn, out, name):
    import time

    t0 = time.monotonic()
    try:
        out[name] = ("ok", fn(), t0, time.monotonic())
    except Exception as exc:  # noqa: BLE001 - reported by the test
        out[name] = ("error", repr(exc), t0, time.monotonic())


def test_long_reader_and_writer_do_not_block_each_other(tmp_path):
    """WAL: a reader holding a read transaction for 5 s does not hold a writer up, and a writer holding its
    transaction for 5 s does not hold a reader up (in rollback-journal mode each waited for the other)."""
    import time

    path = tmp_path / "community.gpkg"
    store = open_store(url=str(path))
    sid = _session(store)
    f = store.add_feature(sid, Point(LON, LAT), "well", "Well", author="A.K.")
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    out = {}

    def long_read():      # another program's connection (as QGIS would hold one), 5 s in one read transaction
        import sqlite3

        con = sqlite3.connect(path, isolation_level=None, timeout=60)
        con.execute("BEGIN")
        first = con.execute("SELECT title, version FROM community_features").fetchall()
        time.sleep(5)
        again = con.execute("SELECT title, version FROM community_features").fetchall()
        con.execute("COMMIT")
        con.close()
        return first, again

    reader = threading.Thread(target=_timed, args=(long_read, out, "read"))
    reader.start()
    time.sleep(0.5)
    _timed(lambda: store.update_feature(f.id, 1, "B.T.", title="Well by the school").version, out, "write")
    reader.join()
    assert out["write"][0] == "ok" and out["write"][1] == 2, out["write"]
    assert out["write"][3] - out["write"][2] < 1.0          # the writer did not wait for the reader
    # the reader saw one consistent snapshot (the state when it began) and finished too
    assert out["read"][0] == "ok" and out["read"][1] == ([("Well", 1)], [("Well", 1)]), out["read"]
    assert out["write"][3] < out["read"][3]

    # a long write (an import whose transaction stays open 5 s) does not hold a reader up
    out.clear()
    rows = [{"geometry": Point(LON + 0.001 * i, LAT), "category": "well", "title": f"W{i}"} for i in range(3)]

    def long_import():
        return len(store.add_features(sid, rows, author="C.D.", progress=lambda done, total: time.sleep(5)))

    writer = threading.Thread(target=_timed, args=(long_import, out, "write"))
    writer.start()
    time.sleep(0.5)
    other = open_store(url=str(path))
    _timed(lambda: len(other.features(session_id=sid)), out, "read")
    writer.join()
    assert out["read"][0] == "ok" and out["read"][1] == 1, out["read"]   # the committed state, without the import
    assert out["read"][3] - out["read"][2] < 1.0
    assert out["write"][0] == "ok" and out["write"][1] == 3
    assert len(store.features(session_id=sid)) == 4
    store.close()
    assert path.with_name("community.gpkg-wal").stat().st_size == 0 if path.with_name("community.gpkg-wal").exists() \
        else True   # close() folds the log back into the file


def test_gdal_in_another_process_reads_the_wal_geopackage_while_the_store_is_open(tmp_path):
    """QGIS's case: the store keeps its connections (edits still in community.gpkg-wal), another program reads."""
    import sys

    path = tmp_path / "community.gpkg"
    store = open_store(url=str(path))
    sid = _session(store)
    _fill(store, sid)
    store.update_feature(1, 1, "B.T.", title="Moved on")
    wal = path.with_name("community.gpkg-wal")
    assert wal.exists() and wal.stat().st_size > 0          # the last edits are only in the log yet
    code = ("import pyogrio, sys; df = pyogrio.read_dataframe(sys.argv[1], layer='community_features'); "
            "print('|'.join(sorted(df['title'])))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Gullied road|Moved on|New school" and "Warning" not in out.stderr
    if shutil.which("ogrinfo"):
        info = subprocess.run(["ogrinfo", "-so", "-ro", str(path), "community_features"], capture_output=True,
                              text=True, check=True)
        assert "Feature Count: 3" in info.stdout and "Warning" not in info.stderr
    # and the store still writes after the other program has read
    assert store.update_feature(1, 2, "C.D.", votes=4).version == 3
    store.close()
