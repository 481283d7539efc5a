"""The session-scoped ``pg_url`` fixture: a real PostgreSQL/PostGIS server for the PostGIS tests.

Uses ``$GIS_PLANNER_TEST_DATABASE_URL`` when set (the database must have PostGIS); otherwise starts a
throwaway cluster with :class:`gis_planner.devtools.pgserver.PgServer` and removes it at the end of the
session. Skips (with the reason) only when no PostgreSQL server binaries are installed.

Tests that need an empty database take ``pg_schema_url(pg_url, name)``-style isolation themselves, e.g. by
creating a schema and putting it first on the ``search_path`` (see tests/test_community.py).
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def pg_url():
    """URL (``postgresql+psycopg://…``) of a PostgreSQL database with the PostGIS extension."""
    url = os.environ.get("GIS_PLANNER_TEST_DATABASE_URL")
    if url:
        for prefix in ("postgres://", "postgresql://"):  # psycopg 3 is the installed driver
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        yield url
        return
    from gis_planner.devtools.pgserver import PgServer, PgServerUnavailable

    try:
        server = PgServer()
    except PgServerUnavailable as exc:
        pytest.skip(f"PostGIS tests skipped: {exc}")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
