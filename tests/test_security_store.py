"""Issue 18.4: every community-store failure (reads too) is a coded error naming cause and fix, never raw SQL.

Real failures only: SQLite's own page limit fills the GeoPackage (SQLITE_FULL, what a full disk gives), a
GeoPackage overwritten with garbage, and a private PostgreSQL server stopped and started again.
"""
from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa
from shapely.geometry import Point

from gis_planner import GisPlannerError, Workspace
from gis_planner.community import open_store
from gis_planner.community import store as store_mod

RAW = ("OperationalError", "[SQL:", "INSERT INTO", "SELECT ", "parameters:", "sqlalche.me")


def _clean(exc: GisPlannerError, *also_absent: str) -> str:
    text = str(exc)
    for bad in RAW + also_absent:
        assert bad not in text, text
    return text


@pytest.fixture
def gpkg_store(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    st = open_store(ws)
    yield st
    st.close()
    store_mod._ENGINES.pop(st.url, None)


def test_full_geopackage_says_disk_full(gpkg_store):
    st = gpkg_store
    sid = st.create_session("Ак-Суу", "2026-05-01", "youth")
    st.add_feature(sid, Point(77.1, 42.6), "spring", "first", author="A.K.")

    @sa.event.listens_for(st.engine, "connect")
    def _limit(dbapi_con, _rec):   # SQLite refuses to grow the file beyond its current pages: SQLITE_FULL
        pages = dbapi_con.execute("PRAGMA page_count").fetchone()[0]
        dbapi_con.execute(f"PRAGMA max_page_count = {pages}")

    st.engine.dispose()
    before = len(st.features())
    with pytest.raises(GisPlannerError) as ei:
        st.add_features(sid, [{"geometry": Point(77.1 + i / 1e4, 42.6), "category": "spring",
                               "title": f"secret title {i}", "description": "y" * 150} for i in range(300)], author="A.K.")
    assert ei.value.code == "store_disk_full"
    text = _clean(ei.value, "secret title")
    assert "disk" in text and "full" in text and "free disk space" in text
    assert "QGIS" not in ei.value.fix or "disk" in ei.value.fix
    sa.event.remove(st.engine, "connect", _limit)
    st.engine.dispose()
    assert len(st.features()) == before   # nothing half-written


def test_damaged_geopackage_read_paths(gpkg_store):
    st = gpkg_store
    sid = st.create_session("Ак-Суу", "2026-05-01", "youth")
    f = st.add_feature(sid, Point(77.1, 42.6), "spring", "first", author="A.K.")
    st.engine.dispose()
    st.path.write_bytes(b"this is not a database at all" * 1000)
    for call in (lambda: st.features(), lambda: st.get_feature(f.id), lambda: st.list_sessions(),
                 lambda: st.history(f.id), lambda: st.counts()):
        with pytest.raises(GisPlannerError) as ei:
            call()
        assert ei.value.code == "store_corrupt", str(ei.value)
        assert "backup" in ei.value.fix
        _clean(ei.value)


def test_translate_names_backend_specific_fixes():
    import sqlite3

    from gis_planner.community.dberrors import translate

    exc = sa.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    g = translate(exc, "geopackage", "community.gpkg")
    assert g.code == "store_locked" and "QGIS" in g.fix
    p = translate(sa.exc.OperationalError("SELECT 1", {}, Exception("could not obtain lock on row")), "postgis", "db")
    assert p.code == "store_locked" and "GeoPackage" not in str(p) and "QGIS" not in str(p)
    full = translate(sa.exc.OperationalError("INSERT", {}, Exception("could not extend file: No space left on device")),
                     "postgis", "db")
    assert full.code == "store_disk_full" and "database server" in full.fix


# --------------------------------------------------------------------------- PostgreSQL
@pytest.fixture
def own_pg():
    """A private PostgreSQL server this test may stop and start (not the shared session server)."""
    from gis_planner.devtools.pgserver import PgServer, PgServerUnavailable

    try:
        server = PgServer()
    except PgServerUnavailable as exc:
        pytest.skip(f"PostGIS tests skipped: {exc}")
    server.start()
    try:
        yield server
    finally:
        for key in [k for k in store_mod._ENGINES if f":{server.port}/" in k]:
            store_mod._ENGINES.pop(key).dispose()
        server.stop()


def _pg_ctl(server, action: str) -> None:
    data = server.tmp / "data"
    args = [server.bindir / "pg_ctl", "-D", data, "-w", "-t", "60"]
    if action == "stop":
        args += ["-m", "fast", "stop"]
    else:
        opts = (f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={server.tmp} "
                f"-c fsync=off")
        args += ["-o", opts, "-l", server.tmp / "server.log", "start"]
    subprocess.run(server._cmd(*args), check=True, capture_output=True, timeout=120)


@pytest.mark.postgis
def test_postgresql_stopped_gives_clean_errors_then_reconnects(own_pg, tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    st = open_store(ws, url=own_pg.url)
    sid = st.create_session("Ак-Суу", "2026-05-01", "youth")
    f = st.add_feature(sid, Point(77.1, 42.6), "spring", "Spring", author="A.K.")
    _pg_ctl(own_pg, "stop")
    calls = {"features": lambda: st.features(), "get_feature": lambda: st.get_feature(f.id),
             "sessions": lambda: st.list_sessions(), "history": lambda: st.history(f.id),
             "add": lambda: st.add_feature(sid, Point(77.1, 42.6), "spring", "x", author="A.K.")}
    for name, call in calls.items():
        with pytest.raises(GisPlannerError) as ei:
            call()
        assert ei.value.code == "store_unreachable", (name, str(ei.value))
        text = _clean(ei.value, "GeoPackage", "QGIS", "gpkg")
        assert "PostgreSQL server" in text
    _pg_ctl(own_pg, "start")
    assert list(st.features()["title"]) == ["Spring"]   # reconnected by itself (pool_pre_ping)
    st.close()


@pytest.mark.postgis
def test_nul_byte_on_postgis_is_refused_without_sql(pg_url, tmp_path):
    import uuid

    # a schema of its own: community tables left in the shared database's public schema would be found
    # by the other PostGIS tests through their search_path
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    st = open_store(ws, url=f"{pg_url}?options=-csearch_path%3D{schema},public")
    sid = st.create_session("Ак-Суу", "2026-05-01", "youth")
    # the driver's own refusal, as any write with a NUL would meet it
    with pytest.raises(GisPlannerError) as ei:
        with st._writer() as conn:
            conn.execute(sa.text("SELECT CAST(:a AS text), CAST(:b AS text)"),
                         {"a": "A.K. private note", "b": "bad\x00text"})
    assert ei.value.code == "store_bad_text"
    _clean(ei.value, "private note", "CAST")
    # through the public API: refused (or cleaned) before it reaches the database, never a raw error
    try:
        rec = st.add_feature(sid, Point(77.1, 42.6), "spring", "Spring\x00 above", author="A.K.")
        assert "\x00" not in rec.title
    except GisPlannerError as exc:
        _clean(exc)
    st.close()
    store_mod._ENGINES.pop(st.url, None)
    with admin.begin() as c:
        c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()
