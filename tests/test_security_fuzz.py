"""Issue 18.9: a fuzzing harness — hostile layers generated with Hypothesis against import, community import
and the report writers.

Every generated input must end in one of two ways: accepted, or refused with a project error
(:class:`GisPlannerError`, with a code) — never another exception — and a refused input leaves the
workspace file byte-for-byte unchanged (SHA-256) and the community store without a new row.
Examples are bounded and derandomised (the same inputs on every run) so the module runs in well under 60 s.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis_planner import GisPlannerError, Workspace
from gis_planner.community import exchange, open_store
from gis_planner.community import store as store_mod
from gis_planner.io import import_layer
from gis_planner.text import safe_cell, safe_table, unsafe_cell

# more examples for a longer hunt: GIS_PLANNER_FUZZ_EXAMPLES=500 (and GIS_PLANNER_FUZZ_RANDOM=1 for new inputs)
FUZZ = settings(max_examples=int(os.environ.get("GIS_PLANNER_FUZZ_EXAMPLES", "25")), deadline=None,
                derandomize=os.environ.get("GIS_PLANNER_FUZZ_RANDOM") != "1", database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# ----------------------------------------------------------------------------------------- strategies
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "Ак-Суу $\\foo{$",
                     "Village $5 and $10", "<script>alert(1)</script>", "'; DROP TABLE parcels; --",
                     "a\x00b", "\u202egnp.exe", "x" * 5000, "", " ", "\ufeffBOM", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "NaN", "null"]),
)
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20))
LONLAT = st.tuples(st.floats(75.0, 79.0), st.floats(40.0, 43.0))
COORD = st.one_of(LONLAT.map(list), st.lists(NUMBER, min_size=0, max_size=4), st.just([None, None]),
                  st.just(["77", "42"]))


@st.composite
def geometries(draw):
    kind = draw(st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon", "GeometryCollection",
                                 "Bogus", None]))
    if kind is None:
        return None
    if kind == "Point":
        return {"type": kind, "coordinates": draw(COORD)}
    if kind == "LineString":
        return {"type": kind, "coordinates": draw(st.lists(COORD, max_size=5))}
    if kind == "Polygon":
        ring = draw(st.lists(COORD, max_size=6))
        if ring and draw(st.booleans()):
            ring = ring + [ring[0]]  # sometimes closed
        return {"type": kind, "coordinates": [ring]}
    if kind == "MultiPolygon":
        x, y = draw(LONLAT)
        d = draw(st.floats(0.0, 0.01))
        sq = [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]
        bow = [[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]   # self-intersecting
        return {"type": kind, "coordinates": [[draw(st.sampled_from([sq, bow, []]))]]}
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": [draw(geometries()) or {"type": "Point", "coordinates": [77, 42]}]}
    return {"type": kind, "coordinates": draw(COORD)}


PROP_NAME = st.one_of(st.sampled_from(["cadastral_no", "category", "name", "Кадастровый номер", "категория",
                                       "area_doc_ha", "", "geometry", "fid", "id"]), st.text(max_size=12))
PROP_VALUE = st.one_of(HOSTILE_TEXT, NUMBER, st.booleans(), st.none(), st.just({"nested": [1, 2]}))


@st.composite
def geojson_bytes(draw):
    feats = []
    for _ in range(draw(st.integers(0, 5))):
        props = draw(st.dictionaries(PROP_NAME, PROP_VALUE, max_size=5))
        feats.append({"type": "Feature", "properties": props, "geometry": draw(geometries())})
    doc = {"type": draw(st.sampled_from(["FeatureCollection", "FeatureCollection", "Feature", "Bogus"])),
           "features": feats}
    crs = draw(st.sampled_from([None, {"type": "name", "properties": {"name": "EPSG:4326"}},
                                {"type": "name", "properties": {"name": "EPSG:999999"}},
                                {"type": "link", "properties": {"href": "http://127.0.0.1:9/crs"}},
                                {"type": "name", "properties": {"name": "/etc/passwd"}}]))
    if crs is not None:
        doc["crs"] = crs
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=True)
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "utf-16", "latin-1"]))
    data = text.encode(enc, errors="replace")
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(data) - 1, 0))))
    return data if cut is None else data[:cut]    # sometimes a truncated upload


@st.composite
def zip_bytes(draw, inner=geojson_bytes()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        names = draw(st.lists(st.one_of(
            st.sampled_from(["parcels.geojson", "a/b/parcels.geojson", "../evil.geojson", "/abs.geojson",
                             "C:/win.geojson", "__MACOSX/._parcels.geojson", ".hidden.geojson", "dir/",
                             "readme.txt", "parcels.shp", "parcels.dbf", "nested.zip", "x.kml", "Парцеллы.geojson"]),
            st.text(min_size=1, max_size=15)), min_size=0, max_size=4))
        for name in names:
            if name.endswith("/"):
                try:
                    z.writestr(name, b"")
                except (ValueError, UnicodeError, IndexError):
                    pass
                continue
            payload = draw(st.one_of(inner, st.binary(max_size=64), st.just(bytes(2 * 1024 ** 2))))
            try:
                z.writestr(name, payload)
            except (ValueError, UnicodeError, IndexError):  # names zipfile itself cannot write
                continue
    data = buf.getvalue()
    if draw(st.booleans()):
        return data
    cut = draw(st.integers(0, max(len(data) - 1, 0)))
    return data[:cut]


@st.composite
def community_csv(draw):
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        rows.append({"category": draw(st.one_of(st.sampled_from(["spring", "school", "problem", "мектеп"]),
                                               HOSTILE_TEXT)),
                     "title": draw(HOSTILE_TEXT), "author": draw(st.one_of(st.just("A.K."), HOSTILE_TEXT)),
                     "votes": draw(st.one_of(NUMBER, HOSTILE_TEXT)),
                     "wkt": draw(st.one_of(LONLAT.map(lambda p: f"POINT ({p[0]} {p[1]})"),
                                           st.sampled_from(["POINT (nan nan)", "POLYGON ((0 0, 1 1))", "garbage",
                                                            "POINT (1e400 1e400)", "", "LINESTRING EMPTY",
                                                            "SRID=4326;POINT (77 42)"]), HOSTILE_TEXT))})
    df = pd.DataFrame(rows, columns=["category", "title", "author", "votes", "wkt"])
    text = df.to_csv(index=False, sep=draw(st.sampled_from([",", ";", "\t"])))
    return text.encode(draw(st.sampled_from(["utf-8", "cp1251", "utf-16"])), errors="replace")


# ----------------------------------------------------------------------------------------- helpers
def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fuzz_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return Workspace.create(root / "ws", name="Fuzz", crs=7695)


def _import_clean(ws: Workspace, path, layer: str = "parcels") -> None:
    before = _sha(ws.gpkg)
    try:
        import_layer(ws, layer, path, source="fuzz", source_date="2026-01-01", allow_unknown=True)
    except GisPlannerError as exc:
        assert exc.code and exc.code != "error", repr(exc)
        assert _sha(ws.gpkg) == before, f"refused ({exc.code}) but the workspace changed"
        assert not list(ws.root.glob(".ws-*")), "a refused import left a temporary copy"


# ----------------------------------------------------------------------------------------- tests
@FUZZ
@given(data=geojson_bytes())
def test_fuzz_import_geojson(fuzz_ws, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("gj") / "parcels.geojson"
    path.write_bytes(data)
    _import_clean(fuzz_ws, path)


@FUZZ
@given(data=zip_bytes())
def test_fuzz_import_archives(fuzz_ws, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("zip")
    path = folder / "parcels.zip"
    path.write_bytes(data)
    _import_clean(fuzz_ws, path)
    assert sorted(p.name for p in folder.iterdir()) == ["parcels.zip"]   # nothing extracted beside it


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("fuzzc") / "ws", name="Fuzz", crs=7695)
    st_ = open_store(ws)
    sid = st_.create_session("Ак-Суу", "2026-05-01", "youth")
    yield st_, sid
    st_.close()
    store_mod._ENGINES.pop(st_.url, None)


@FUZZ
@given(data=st.one_of(community_csv(), geojson_bytes()), suffix=st.sampled_from([".csv", ".geojson"]))
def test_fuzz_community_import(fuzz_store, tmp_path_factory, data, suffix):
    store, sid = fuzz_store
    path = tmp_path_factory.mktemp("ci") / f"in{suffix}"
    path.write_bytes(data)
    before = store.counts()
    try:
        recs = exchange.import_file(store, path, sid, author="A.K.", category="spring")
    except GisPlannerError as exc:
        assert exc.code and exc.code != "error", repr(exc)
        assert store.counts() == before, "a refused import wrote rows"
        return
    after = store.counts()
    assert after["features"] == before["features"] + len(recs)
    for r in recs:   # what was stored is clean text
        assert all(ord(c) >= 32 and not 0x202A <= ord(c) <= 0x202E for c in r.title)


@FUZZ
@given(village=HOSTILE_TEXT, titles=st.lists(HOSTILE_TEXT, min_size=1, max_size=3))
def test_fuzz_report_writers(fuzz_store, tmp_path_factory, village, titles):
    """Hearing export (PNG, CSV, HTML) with hostile names: written whole or refused with a project error."""
    store, _ = fuzz_store
    try:
        sid = store.create_session(village, "2026-05-01", "youth")
        for i, title in enumerate(titles):
            store.add_feature(sid, (77.1 + i / 1000, 42.6), "spring", title, author="A.K.")
    except GisPlannerError as exc:
        assert exc.code and exc.code != "error"
        return
    out = tmp_path_factory.mktemp("hearing")
    paths = exchange.export_session(store, sid, out, lang="en")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    table = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for cell in table.to_numpy().ravel():
        assert not str(cell).startswith(("=", "+", "@")) or str(cell).startswith("'")
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script>" not in page


@FUZZ
@given(st.lists(st.one_of(HOSTILE_TEXT, NUMBER, st.none()), max_size=8))
def test_fuzz_safe_cells(values):
    df = pd.DataFrame({"v": pd.Series(values, dtype=object)})
    out = safe_table(df)["v"].tolist()
    for before, after in zip(values, out):
        if isinstance(before, str):
            assert unsafe_cell(after) == before               # readable: only a leading ' was added
            assert not after.startswith(("=", "+", "@", "\t", "\r")) or after == before
        elif before is None or (isinstance(before, float) and math.isnan(before)):
            assert after is None or (isinstance(after, float) and math.isnan(after))
        else:
            assert after == before                             # numbers stay numbers
    assert safe_cell("=1") == "'=1"
