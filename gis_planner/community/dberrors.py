"""Database failures of the community store as project errors: the cause and the fix, never the SQL.

Every read and write of :class:`~gis_planner.community.store.CommunityStore` runs inside
:func:`store_errors`, which turns a SQLAlchemy/driver exception into a
:class:`~gis_planner.errors.GisPlannerError` whose ``code`` names the cause (``store_disk_full``,
``store_unreachable`` …) and whose fix speaks of the backend in use (a PostGIS user is never told to
close a GeoPackage in QGIS). The driver's own text is quoted only by its first line, with any
password masked; the SQL statement and its parameters (which hold user text) are never shown.
The app translates the codes (``app.err.<code>`` / ``app.fix.<code>`` in ``i18n/hardening.yaml``).

Reconnection: the PostgreSQL engine uses ``pool_pre_ping``, so a connection the server dropped (restart,
network) is replaced before the next query; a failed query asks the user to try again.

>>> import sqlite3, sqlalchemy as sa
>>> exc = sa.exc.OperationalError("INSERT INTO t VALUES (?)", ("secret title",),
...                               sqlite3.OperationalError("database or disk is full"))
>>> e = translate(exc, "geopackage", "community.gpkg")
>>> e.code, "secret title" in str(e), "INSERT" in str(e)
('store_disk_full', False, False)
"""
from __future__ import annotations

import contextlib

import sqlalchemy as sa

from ..errors import GisPlannerError
from ..text import mask_secrets

# (code, words in the driver's message, problem, fix for GeoPackage, fix for PostGIS); first match wins
_CAUSES = [
    ("store_bad_text", ("nul (0x00)", "contain nul", "null character", "\\x00", "0x00"),
     "a text contains a NUL character (code 0), which the database cannot store",
     "remove control characters from the text and save again",
     "remove control characters from the text and save again"),
    ("store_disk_full", ("disk is full", "disk full", "no space left", "could not extend file", "diskfull",
                         "out of disk", "sqlite_full"),
     "the disk holding the community store is full; nothing was saved",
     "free disk space on this computer (the workspace folder's disk) and try again",
     "free disk space on the database server (ask its administrator) and try again"),
    ("store_locked", ("database is locked", "database table is locked", "busy", "lock timeout",
                      "could not obtain lock", "deadlock"),
     "the community store is busy (locked by another program or editor)",
     "close community.gpkg in QGIS or other programs and try again",
     "try again in a moment; if it persists ask the database administrator which session holds the lock"),
    ("store_readonly", ("readonly database", "read-only", "read only", "permission denied",
                        "insufficient privilege", "must be owner"),
     "the community store may not be written with these rights",
     "check that you may write community.gpkg and its folder (not a read-only copy or share)",
     "ask the database administrator to grant this user write rights (INSERT, UPDATE) on the community tables"),
    ("store_auth", ("password authentication failed", "no password supplied", "authentication failed",
                    "role \"", "pg_hba.conf"),
     "the database server refused the user name or password",
     "check the store path",
     "check the user name and password in GIS_PLANNER_DATABASE_URL (or --db)"),
    ("store_corrupt", ("file is not a database", "malformed", "not a database", "disk i/o error"),
     "the community store file is damaged or is not a GeoPackage",
     "restore community.gpkg from a backup (or move it away to start an empty store)",
     "ask the database administrator to check the database"),
    ("store_unreachable", ("connection refused", "could not connect", "connection failed", "server closed",
                           "terminating connection", "name or service not known", "failed to resolve host",
                           "timeout expired", "connection timed out", "connection is closed", "no route to host",
                           "the database system is starting up", "the database system is shutting down",
                           "unable to open database file"),
     "the community store cannot be reached",
     "check that the workspace folder exists and community.gpkg can be opened",
     "start the PostgreSQL server or fix host, port and database name in GIS_PLANNER_DATABASE_URL; "
     "the store reconnects by itself once the server is back"),
]


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    if isinstance(exc, sa.exc.StatementError) and orig is exc:
        text = text.split("\n[SQL:")[0]
    line = text.splitlines()[0] if text else type(orig).__name__
    return mask_secrets(line.split("[SQL:")[0].strip())[:300]


def translate(exc: BaseException, backend: str, label: str | None) -> GisPlannerError:
    """A coded :class:`GisPlannerError` for a database exception (see module docstring)."""
    reason = _first_line(exc)
    low = reason.lower()
    pg = backend == "postgis"
    if pg and low.startswith(("database \"", "fatal:  database \"", "fatal: database \"")) and "does not exist" in low:
        return GisPlannerError(f"the database named in the URL does not exist ({reason})", file=label,
                               fix="create it (createdb NAME; CREATE EXTENSION postgis) or fix the name in "
                                   "GIS_PLANNER_DATABASE_URL", code="store_unreachable", details={"backend": backend})
    for code, words, problem, fix_gpkg, fix_pg in _CAUSES:
        if any(w in low for w in words):
            if code == "store_auth" and not pg:
                continue
            return GisPlannerError(f"{problem} ({reason})", file=label, fix=fix_pg if pg else fix_gpkg, code=code,
                                   details={"backend": backend})
    if isinstance(exc, sa.exc.DataError) or "invalid input" in low or "out of range" in low:
        return GisPlannerError(f"the database refused a value ({reason})", file=label,
                               fix="check the values entered (dates, numbers, text length) and try again",
                               code="store_bad_value", details={"backend": backend})
    return GisPlannerError(f"the community store failed ({reason})", file=label,
                           fix=("ask the database administrator to check the server log; then try again" if pg
                                else "check community.gpkg opens in QGIS; then try again"),
                           code="store_error", details={"backend": backend})


@contextlib.contextmanager
def store_errors(backend: str, label: str | None):
    """Run a block of store access; database exceptions leave it as a coded GisPlannerError."""
    try:
        yield
    except GisPlannerError:
        raise
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        if isinstance(exc, ValueError) and not _is_driver_value_error(exc):
            raise
        raise translate(exc, backend, label) from None


def _is_driver_value_error(exc: ValueError) -> bool:
    """psycopg refuses NUL bytes with a plain ValueError/DataError before sending the query."""
    low = str(exc).lower()
    return "nul" in low or "0x00" in low
