"""The community-map store: sessions and drawn features, versioned, on GeoPackage or PostGIS.

Backends
--------
* **Embedded (default):** ``<workspace>/community.gpkg``, a GeoPackage 1.2 file (SQLite) that QGIS and
  GDAL open directly (layer ``community_features``, attribute tables ``community_sessions`` and
  ``community_history``).
* **PostgreSQL/PostGIS:** when ``url=`` is given or ``GIS_PLANNER_DATABASE_URL`` is set, e.g.
  ``postgresql://user@host:5432/db`` (the database needs ``CREATE EXTENSION postgis``).

The schema is created and upgraded by the Alembic scripts in ``gis_planner/community/migrations`` when the
store is opened (same scripts on both backends).

Safety
------
Every create / update / delete / restore / import is one database transaction that also writes a row to
the history table. Edits carry the version the editor started from (``expected_version``); if somebody
else saved the feature in between, :class:`ConflictError` is raised and nothing is written (optimistic
concurrency). Deletes are soft and can be undone with :meth:`CommunityStore.restore_feature`.

Personal data: sessions store *numbers* of participants by sex, never names; ``author`` and
``facilitators`` are initials or roles (text that looks like an e-mail address or a phone number is
rejected).

Examples
--------
>>> import tempfile
>>> from shapely.geometry import Point
>>> store = open_store(url=tempfile.mkdtemp() + "/community.gpkg")
>>> sid = store.create_session("Tört-Kül", "2026-05-12", "women", participants_female=22)
>>> f = store.add_feature(sid, Point(77.1, 42.6), "spring", "Spring above the village", author="A.K.")
>>> f.version
1
>>> f = store.update_feature(f.id, 1, "B.T.", condition="needs_repair")
>>> [h["action"] for h in store.history(f.id).to_dict("records")]
['create', 'update']
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import re
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from shapely.geometry import shape as _geojson_shape

from .. import settings
from ..catalog import catalogue, load_rules
from ..errors import GisPlannerError
from ..text import clean_text, iso_date, normalize_key
from . import media
from .dberrors import _first_line, store_errors, translate
from . import models as m

STORE_NAME = "community.gpkg"
VERSION_TABLE = "community_alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
KINDS = ("point", "line", "polygon")
_KIND_OF = {"Point": "point", "MultiPoint": "point", "LineString": "line", "MultiLineString": "line",
            "Polygon": "polygon", "MultiPolygon": "polygon"}
# attributes stored per feature that a user gives (and that import/export round-trip)
ATTRIBUTES = ("uid", "category", "title", "description", "condition", "sufficiency", "is_problem", "is_wish",
              "votes", "activity", "author", "created_by", "created_at")


class ConflictError(GisPlannerError):
    """Somebody else saved the feature (or session) after you opened it (optimistic concurrency).

    ``details`` holds ``feature_id`` (or ``session_id``), ``expected_version``, ``current_version``,
    ``changed_by``, ``changed_at``.
    """


@dataclasses.dataclass(frozen=True)
class FeatureRecord:
    """One stored feature (what :meth:`CommunityStore.get_feature` and the write methods return)."""

    id: int
    uid: str
    session_id: int
    category: str
    kind: str
    title: str
    description: str | None
    condition: str | None
    sufficiency: str | None
    is_problem: bool
    is_wish: bool
    votes: int
    activity: str | None
    author: str
    created_by: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    version: int
    deleted: bool
    geometry: Any

    def attrs(self) -> dict:
        """Attributes without the geometry (JSON-able)."""
        return _jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "geometry"})


# --------------------------------------------------------------------------- rules
def rules(ws: Any = None) -> dict:
    """The community catalogue ``layers/community_categories.yaml`` (with workspace overrides)."""
    return load_rules("community_categories", ws)


def categories(ws: Any = None):
    """The category :class:`~gis_planner.catalog.Catalogue` (labels, icons, colours, allowed kinds)."""
    return catalogue("community_categories", ws)


def limits(ws: Any = None) -> dict:
    """Input limits (``limits`` section of the catalogue: text lengths, vertices, size, boundary tolerance)."""
    return dict(rules(ws).get("limits") or {})


def category_table(ws: Any = None, lang: str | None = None) -> pd.DataFrame:
    """Categories for a drawing UI: ``code, label, group, group_label, kinds, icon, color, marker_color,
    activity, problem, wish`` in catalogue order (labels in ``lang``).

    >>> category_table(lang="en").set_index("code").loc["spring", ["label", "icon", "kinds"]].tolist()
    ['Spring', 'tint', ['point']]
    """
    from ..i18n import check_lang

    lang = check_lang(lang)
    cats = categories(ws)
    groups = catalogue("community_categories", ws, section="groups")
    rows = []
    for code in cats.codes:
        item = cats.items[code]
        rows.append({"code": code, "label": cats.label(code, lang), "group": item.get("group"),
                     "group_label": groups.label(item.get("group"), lang), "kinds": list(item.get("kinds") or KINDS),
                     "icon": item.get("icon", "map-marker"), "color": item.get("color", "#999999"),
                     "marker_color": item.get("marker_color", "gray"), "activity": item.get("activity"),
                     "problem": bool(item.get("problem", False)), "wish": bool(item.get("wish", False))})
    return pd.DataFrame(rows)


def code_options(section: str, ws: Any = None, lang: str | None = None) -> dict[str, str]:
    """``{code: label}`` of a catalogue section (``conditions``, ``sufficiency``, ``participant_groups``) for
    select boxes, in catalogue order.

    >>> list(code_options("conditions", lang="en").values())[:2]
    ['New', 'Under construction']
    """
    from ..i18n import check_lang

    lang = check_lang(lang)
    cat = catalogue("community_categories", ws, section=section)
    return {c: cat.label(c, lang) for c in cat.codes}


# --------------------------------------------------------------------------- engines
_ENGINES: dict[str, sa.Engine] = {}
_MIGRATED: set[str] = set()
_LOCK = threading.Lock()


def _normalise_url(url: str) -> str:
    if "://" not in url:  # a file path
        return "sqlite:///" + str(Path(url).expanduser().resolve())
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgresql"):
        url = _encode_password(url)
    return url


def _encode_password(url: str) -> str:
    """Percent-encode a password typed with a raw ``@``, ``:`` or ``/`` (else the driver would take part of
    it for the host name and quote it in its error)."""
    from urllib.parse import quote, unquote

    from ..text import split_userinfo

    scheme, rest = url.split("://", 1)
    split = split_userinfo(rest)
    if split is None or ":" not in split[0]:
        return url
    user, pw = split[0].split(":", 1)
    return f"{scheme}://{user}:{quote(unquote(pw), safe='')}@{split[1]}"


def _engine(url: str) -> sa.Engine:
    with _LOCK:
        eng = _ENGINES.get(url)
        if eng is not None:
            return eng
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            eng = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})

            @sa.event.listens_for(eng, "connect")
            def _on_connect(dbapi_con, _rec):  # pragma: no cover - trivial
                dbapi_con.isolation_level = None  # we issue BEGIN ourselves
                dbapi_con.execute("PRAGMA foreign_keys = ON")
                _wal(dbapi_con)
                m.register_gpkg_functions(dbapi_con)  # the GeoPackage R-tree triggers call ST_MinX …

            @sa.event.listens_for(eng, "begin")
            def _on_begin(conn):  # pragma: no cover - trivial
                # writers take the write lock at the start, so two writers queue instead of failing half-way;
                # readers use a deferred transaction (works on read-only files and never blocks a writer)
                conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("gp_read") else "BEGIN IMMEDIATE")
        elif url.startswith("postgresql"):
            eng = sa.create_engine(url, pool_pre_ping=True)
        else:
            raise GisPlannerError(f"unsupported database URL '{_redact(url)}'",
                                  fix="use a .gpkg path or a postgresql:// URL", code="bad_database_url")
        _ENGINES[url] = eng
        return eng


# GeoPackage concurrency (see docs/community.md «Readers never block»): write-ahead log, so readers see the
# last committed state while a writer works and a long reader never holds a writer up; writers queue on
# SQLite's write lock for at most BUSY_TIMEOUT_S. The log is folded back into the file (checkpoint) every
# WAL_AUTOCHECKPOINT pages by whichever writer commits (PASSIVE: never waits for readers), its file is cut
# back to JOURNAL_SIZE_LIMIT bytes, and close() truncates it, so a copied .gpkg alone is complete.
BUSY_TIMEOUT_S = 60
WAL_AUTOCHECKPOINT = 1000          # pages (4 MB with 4 KiB pages): SQLite's default
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def _wal(dbapi_con) -> None:
    """Put a GeoPackage connection in WAL mode with the checkpoint policy above (read-only files and files
    another program keeps locked stay in their mode: reading them still works)."""
    import sqlite3

    dbapi_con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    try:
        mode = dbapi_con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            dbapi_con.execute("PRAGMA journal_mode = WAL")
        dbapi_con.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")
        dbapi_con.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        dbapi_con.execute("PRAGMA synchronous = FULL")  # a committed edit survives a power cut
    except sqlite3.DatabaseError:   # locked, read-only, or not a database: the query itself will say which
        pass


def _redact(url: str) -> str:
    from ..text import mask_secrets

    return mask_secrets(url)


def migrate(engine: sa.Engine) -> None:
    """Create or upgrade the schema with the Alembic scripts (idempotent)."""
    from alembic import command
    from alembic.config import Config

    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    try:
        # already at the head revision: nothing to write (a read-only GeoPackage opens fine)
        with engine.connect() as conn:
            conn = conn.execution_options(gp_read=True)
            current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
        if current == ScriptDirectory.from_config(cfg).get_current_head():
            return
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except sa.exc.OperationalError as exc:
        raise translate(exc, "postgis" if engine.dialect.name == "postgresql" else "geopackage",
                        _redact(str(engine.url))) from None
    except sa.exc.ProgrammingError as exc:
        raise GisPlannerError(f"cannot create the community tables ({exc.orig})",
                              file=_redact(str(engine.url)),
                              fix="run `CREATE EXTENSION postgis` in the database (PostGIS is required)",
                              code="store_unavailable") from None


def store_path(ws: Any) -> Path:
    """Path of the embedded store of a workspace: ``<root>/community.gpkg``."""
    root = Path(getattr(ws, "root", ws))
    if root.suffix.lower() == ".gpkg":
        root = root.parent
    return root / STORE_NAME


def open_store(ws: Any = None, url: str | None = None) -> "CommunityStore":
    """Open (creating or upgrading if needed) the community-map store.

    Parameters
    ----------
    ws : Workspace or path, optional
        The municipality workspace. Its ``community.gpkg`` is the embedded store, and its boundary is used
        to check that drawn features lie in or near the municipality.
    url : str, optional
        A ``postgresql://…`` URL, or a path to a ``.gpkg`` file. Default: ``$GIS_PLANNER_DATABASE_URL``,
        else ``<ws>/community.gpkg``, else the default workspace's.

    Examples
    --------
    >>> import tempfile
    >>> open_store(url=tempfile.mkdtemp() + "/c.gpkg").backend
    'geopackage'
    """
    from ..workspace import Workspace

    if ws is not None and not isinstance(ws, Workspace):
        ws = Workspace(ws)
    if url is None:
        url = settings.database_url()
    if url is None:
        base = ws if ws is not None else settings.default_workspace()
        url = str(store_path(base))
    return CommunityStore(url, ws=ws)


class CommunityStore:
    """Sessions and features of community maps (see the module docstring)."""

    def __init__(self, url: str, ws: Any = None):
        from ..text import register_secret

        register_secret(str(url))  # pieces of the password a driver quotes are masked too
        self.url = _normalise_url(str(url))
        self.ws = ws
        self.engine = _engine(self.url)
        self.backend = "postgis" if self.engine.dialect.name == "postgresql" else "geopackage"
        self.path = Path(self.url.split("///", 1)[1]) if self.backend == "geopackage" else None
        key = self.url if self.path is None else f"{self.url}:{self._file_id()}"
        if key not in _MIGRATED:
            migrate(self.engine)
            if self.backend == "geopackage":
                # the GeoPackage header (application_id, user_version) reaches the file itself only at a
                # checkpoint of the write-ahead log; GDAL reads it from the file
                self.checkpoint()
            _MIGRATED.add(f"{self.url}:{self._file_id()}" if self.path is not None else self.url)
        self._boundary_cache: tuple | None = None
        t = m.Base.metadata.tables
        self.t_sessions, self.t_features, self.t_history = t[m.SESSIONS], t[m.FEATURES], t[m.HISTORY]
        self.t_session_history = t[m.SESSION_HISTORY]

    def _file_id(self) -> str:
        try:
            st = self.path.stat()
            return f"{st.st_ino}:{st.st_dev}"
        except (FileNotFoundError, AttributeError):
            return "new"

    @contextlib.contextmanager
    def _writer(self):
        """One write transaction; database failures become a GisPlannerError (nothing is written)."""
        with store_errors(self.backend, self.label):  # coded cause + backend's fix, never the SQL
            try:
                with self.engine.begin() as conn:
                    yield conn
            except sa.exc.IntegrityError as exc:
                raise GisPlannerError(f"the store refused the change ({_first_line(exc)})", file=self.label,
                                      fix="reload and try again", code="store_integrity") from None

    @contextlib.contextmanager
    def _reader(self):
        """A read-only connection (a deferred transaction on SQLite)."""
        with store_errors(self.backend, self.label), self.engine.connect() as conn:
            yield conn.execution_options(gp_read=True)

    def __repr__(self) -> str:
        return f"CommunityStore({self.backend}: {_redact(self.url)})"

    def close(self) -> None:
        """Close the pooled database connections (the store stays usable; connections reopen on demand).

        On the GeoPackage the write-ahead log is first folded into the file and emptied (a checkpoint that
        does not wait: skipped if another program is reading), so the ``.gpkg`` alone holds every edit."""
        if self.backend == "geopackage":
            self.checkpoint()
        self.engine.dispose()

    def checkpoint(self) -> bool:
        """GeoPackage: copy the write-ahead log into the file and truncate it (True when complete; False when
        a reader or writer elsewhere kept it from finishing — nothing is lost, the next one finishes it)."""
        if self.backend != "geopackage":
            return True
        import sqlite3

        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                old = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute("PRAGMA busy_timeout = 0")
                try:
                    busy, _log, _done = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    raw.execute(f"PRAGMA busy_timeout = {old}")
            return busy == 0
        except (sa.exc.DBAPIError, sqlite3.DatabaseError):   # busy, or a damaged file: nothing to fold in
            return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else _redact(self.url)

    # ------------------------------------------------------------------ sessions
    def create_session(self, village: str, date: str | _dt.date, participant_group: str, *,
                       age_band: str | None = None, participants_female: int = 0, participants_male: int = 0,
                       facilitators: str | None = None, notes: str | None = None, author: str | None = None) -> int:
        """Record a mapping session; returns its id (version 1, with a ``create`` row in the session history).

        ``participant_group`` is a code of ``participant_groups`` (women, men, youth, elders, mixed, targeted)
        or one of its names; participants are *counts* by sex; ``facilitators`` initials or roles; ``author``
        (initials or role) is who recorded it (default: the facilitators).
        """
        values = self._validate_session(dict(village=village, date=date, participant_group=participant_group,
                                             age_band=age_band, participants_female=participants_female,
                                             participants_male=participants_male, facilitators=facilitators,
                                             notes=notes))
        who = _person_text(author, "author", limits(self.ws).get("author_max", 40), required=False)
        who = who or (values.get("facilitators") or "")[:40]
        now = m.utcnow()
        values.update(created_at=now, updated_at=now, version=1)
        with self._writer() as conn:
            sid = int(conn.execute(self.t_sessions.insert().values(**values)
                                   .returning(self.t_sessions.c.id)).scalar_one())
            conn.execute(self.t_session_history.insert().values(
                session_id=sid, action="create", version=1, author=who, at=now, old_attrs=None,
                new_attrs=json.dumps(_session_attrs(values), ensure_ascii=False)))
        return sid

    def update_session(self, session_id: int, expected_version: int, author: str, **changes) -> dict:
        """Change fields of a session (same validation as :meth:`create_session`); returns the stored session.

        ``expected_version`` is the session version the editor loaded: if somebody saved the session in
        between, :class:`ConflictError` is raised and nothing is written (``details``: ``session_id``,
        ``expected_version``, ``current_version``, ``changed_by``, ``changed_at``). A save that changes nothing
        writes nothing. Every change writes a row to ``community_session_history``.
        """
        unknown = set(changes) - set(m.SESSION_EDITABLE)
        if unknown:
            raise GisPlannerError(f"unknown session field(s) {sorted(unknown)}", feature=session_id,
                                  fix=f"use {', '.join(m.SESSION_EDITABLE)}", code="bad_field")
        return self._session_write(session_id, expected_version, author, "update", changes)

    def delete_session(self, session_id: int, expected_version: int, author: str) -> dict:
        """Soft-delete a session (it and its features disappear from lists, maps and reviews;
        :meth:`restore_session` brings them back). Version-checked like :meth:`update_session`."""
        return self._session_write(session_id, expected_version, author, "delete", {})

    def restore_session(self, session_id: int, expected_version: int, author: str) -> dict:
        """Undo :meth:`delete_session`."""
        return self._session_write(session_id, expected_version, author, "restore", {})

    def _session_write(self, session_id, expected_version, author, action, changes) -> dict:
        author = _person_text(author, "author", limits(self.ws).get("author_max", 40), required=True)
        s = self.t_sessions
        with self._writer() as conn:
            current = self.get_session(session_id, conn)
            if int(expected_version) != int(current["version"]):
                self._session_conflict(conn, current, expected_version)
            deleted = bool(current.get("deleted"))
            if action == "update":
                if deleted:
                    raise GisPlannerError("a deleted session cannot be edited", feature=f"session {session_id}",
                                          fix="restore it first", code="deleted_session")
                merged = {k: current[k] for k in m.SESSION_EDITABLE}
                merged.update(changes)
                values = self._validate_session(merged)
                if all(values[k] == current[k] for k in values):
                    return current  # nothing changed: no new version, no history row
            elif action == "delete":
                if deleted:
                    raise GisPlannerError("the session is already deleted", feature=f"session {session_id}",
                                          fix="restore it instead", code="already_deleted")
                values = {"deleted": True}
            else:
                if not deleted:
                    raise GisPlannerError("the session is not deleted", feature=f"session {session_id}",
                                          code="not_deleted")
                values = {"deleted": False}
            now = m.utcnow()
            old_at = current.get("updated_at") or current["created_at"]
            values.update(version=int(current["version"]) + 1, updated_at=max(now, old_at))
            res = conn.execute(s.update().where(s.c.id == int(session_id), s.c.version == int(expected_version))
                               .values(**values))
            if res.rowcount != 1:
                self._session_conflict(conn, current, expected_version)
            new = self.get_session(session_id, conn)
            conn.execute(self.t_session_history.insert().values(
                session_id=int(session_id), action=action, version=int(new["version"]), author=author, at=now,
                old_attrs=json.dumps(_session_attrs(current), ensure_ascii=False),
                new_attrs=json.dumps(_session_attrs(new), ensure_ascii=False)))
        return new

    def session_history(self, session_id: int) -> pd.DataFrame:
        """Change history of a session (oldest first): ``action``, ``version``, ``author``, ``at``, ``changed``
        (field names), ``old``/``new`` field dicts."""
        h = self.t_session_history
        with self._reader() as conn:
            rows = [dict(r) for r in conn.execute(sa.select(h).where(h.c.session_id == int(session_id))
                                                  .order_by(h.c.id)).mappings().all()]
        out = []
        for r in rows:
            old = json.loads(r["old_attrs"]) if r["old_attrs"] else None
            new = json.loads(r["new_attrs"]) if r["new_attrs"] else None
            changed = [k for k in (*m.SESSION_EDITABLE, "deleted")
                       if old is not None and old.get(k, False) != (new or {}).get(k, False)]
            out.append({"id": r["id"], "session_id": r["session_id"], "action": r["action"], "version": r["version"],
                        "author": r["author"], "at": r["at"], "changed": changed, "old": old, "new": new})
        df = pd.DataFrame(out, columns=["id", "session_id", "action", "version", "author", "at", "changed", "old",
                                        "new"])
        df["at"] = pd.to_datetime(df["at"], utc=True).astype("datetime64[ms, UTC]")
        return df

    def _session_conflict(self, conn, current: dict, expected_version) -> None:
        h = self.t_session_history
        sid = int(current["id"])
        last = conn.execute(sa.select(h.c.author, h.c.at).where(h.c.session_id == sid)
                            .order_by(h.c.id.desc()).limit(1)).first()
        now = self.get_session(sid, conn)
        by, at = (last[0], last[1]) if last is not None else (None, now.get("updated_at"))
        raise ConflictError(
            f"the session was changed by {by or 'someone else'} at "
            f"{at.strftime('%Y-%m-%d %H:%M') if at else '?'} UTC (version {now['version']}); "
            f"your edit started from version {expected_version} and was not saved",
            file=self.label, feature=f"session {sid}",
            fix="reload the session, re-apply your change and save again", code="edit_conflict",
            details={"session_id": sid, "expected_version": int(expected_version),
                     "current_version": int(now["version"]), "changed_by": by,
                     "changed_at": at.isoformat() if at else None})

    def get_session(self, session_id: int, conn: sa.Connection | None = None) -> dict:
        """One session as a dict (``SESSION_COLUMNS``, with its ``version``)."""
        q = sa.select(self.t_sessions).where(self.t_sessions.c.id == int(session_id))
        if conn is None:
            with self._reader() as c:
                row = c.execute(q).mappings().first()
        else:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise GisPlannerError(f"mapping session {session_id} does not exist", file=self.label,
                                  fix="create the session first (create_session) or pick one from list_sessions()",
                                  code="unknown_session")
        return dict(row)

    def list_sessions(self, village: str | None = None, include_deleted: bool = False) -> pd.DataFrame:
        """All sessions with their numbers of live features, newest first (deleted ones only with
        ``include_deleted``)."""
        s, f = self.t_sessions, self.t_features
        n = (sa.select(sa.func.count()).where(f.c.session_id == s.c.id, f.c.deleted == sa.false())
             .scalar_subquery().label("features"))
        q = sa.select(s, n).order_by(s.c.date.desc(), s.c.id.desc())
        if village is not None:
            q = q.where(s.c.village == clean_text(village))
        if not include_deleted:
            q = q.where(s.c.deleted == sa.false())
        with self._reader() as conn:
            rows = conn.execute(q).mappings().all()
        df = pd.DataFrame([dict(r) for r in rows], columns=[*m.SESSION_COLUMNS, "features"])
        df["deleted"] = df["deleted"].astype(bool)
        return df

    def _validate_session(self, v: dict) -> dict:
        lim = limits(self.ws)
        out: dict[str, Any] = {}
        out["village"] = _text(v.get("village"), "village", lim.get("village_max", 120), required=True)
        date = v.get("date")
        try:
            date = iso_date(date)  # a real date only: "2026-05-12; DROP" is refused
        except ValueError:
            raise GisPlannerError(f"'{date}' is not a date", feature="date", fix="give the date as YYYY-MM-DD",
                                  code="bad_date") from None
        out["date"] = date.isoformat()
        groups = catalogue("community_categories", self.ws, section="participant_groups")
        code = groups.lookup(v.get("participant_group"))
        if code is None:
            raise GisPlannerError(f"unknown participant group '{v.get('participant_group')}'",
                                  feature="participant_group", fix=f"use one of {', '.join(groups.codes)}",
                                  code="unknown_group")
        out["participant_group"] = code
        band = v.get("age_band")
        bands = [str(b) for b in rules(self.ws).get("age_bands") or []]
        if band not in (None, ""):
            band = str(band).replace("–", "-").replace(" ", "")
            if bands and band not in bands:
                raise GisPlannerError(f"unknown age band '{v.get('age_band')}'", feature="age_band",
                                      fix=f"use one of {', '.join(bands)}", code="bad_age_band")
        out["age_band"] = band or None
        for k in ("participants_female", "participants_male"):
            out[k] = _count(v.get(k), k, lim.get("max_participants", 1000))
        out["facilitators"] = _person_text(v.get("facilitators"), "facilitators",
                                           lim.get("facilitators_max", 120), required=False)
        out["notes"] = _text(v.get("notes"), "notes", lim.get("notes_max", 2000), required=False,
                             keep_lines=True)
        return out

    # ------------------------------------------------------------------ features: write
    def add_feature(self, session_id: int, geometry: Any, category: str, title: str, *, author: str,
                    description: str | None = None, condition: str | None = None,
                    sufficiency: str | None = None, is_problem: bool | None = None, is_wish: bool | None = None,
                    votes: int = 0, activity: str | None = None) -> FeatureRecord:
        """Add one feature drawn on the map (EPSG:4326 lon/lat) to a session; returns the stored record.

        ``geometry`` may be a shapely geometry, a GeoJSON geometry or Feature dict (as drawn in the browser)
        or WKT. ``category`` is a code of ``layers/community_categories.yaml`` (or one of its names).
        ``is_problem`` / ``is_wish`` default from the category (``problem`` / ``wish``). For a wish, ``activity``
        (what the wished object would be used for, ``layers/activities.yaml``) defaults from the category and is
        what :func:`~gis_planner.community.review.check_against_restrictions` checks.
        """
        values = dict(geometry=geometry, category=category, title=title, description=description,
                      condition=condition, sufficiency=sufficiency, is_problem=is_problem, is_wish=is_wish,
                      votes=votes, activity=activity, author=author)
        with self._writer() as conn:
            self._require_session(conn, session_id)
            (rec,) = self._insert(conn, session_id, [values], action="create")
        return rec

    def add_features(self, session_id: int, rows: Iterable[Mapping], *, author: str | None = None,
                     action: str = "import", progress: Callable[[int, int], None] | None = None,
                     keep_created: bool = True, photos: Sequence[Sequence] | None = None) -> list[FeatureRecord]:
        """Add many features in **one transaction** (all or nothing); used by the importers.

        ``rows`` are mappings with the arguments of :meth:`add_feature` (``geometry``, ``category``,
        ``title``, ``author`` …; ``uid`` and ``created_at`` are kept when given). ``author`` fills rows
        without one. ``photos`` (one list of :class:`~.media.Photo` per row, see :func:`.media.prepare_photo`)
        are stored with the features in the same transaction. Every row is validated before anything is
        written; ``progress(done, total)`` is called after each block of rows written (an exception raised
        there rolls everything back).
        """
        rows = [dict(r) for r in rows]
        for r in rows:
            if not r.get("author"):
                r["author"] = author
        lim = limits(self.ws)
        if len(rows) > int(lim.get("import_max_features", 50000)):
            raise GisPlannerError(f"{len(rows)} features is more than the limit of "
                                  f"{lim.get('import_max_features')} per import", fix="split the file",
                                  code="too_many_features")
        if photos is not None and len(photos) != len(rows):
            raise ValueError("photos= needs one list of prepared photos per row")
        with self._writer() as conn:
            self._require_session(conn, session_id)
            out = self._insert(conn, session_id, rows, action=action, progress=progress,
                               keep_created=keep_created)
            for rec, ph in zip(out, photos or ()):  # photos of imported features: same transaction
                if ph:
                    media.insert_photos(self, conn, rec.id, ph, rec.author)
            return out

    def update_feature(self, feature_id: int, expected_version: int, author: str, **changes) -> FeatureRecord:
        """Change attributes and/or the geometry of a feature.

        ``expected_version`` is the version the editor loaded; if the stored version differs, nothing is
        written and :class:`ConflictError` is raised (reload, merge, retry). ``changes`` may contain
        ``geometry``, ``category``, ``title``, ``description``, ``condition``, ``sufficiency``,
        ``is_problem``, ``is_wish``, ``votes`` and ``activity``.
        """
        unknown = set(changes) - set(m.EDITABLE)
        if unknown:
            raise GisPlannerError(f"cannot change field(s) {sorted(unknown)}", feature=feature_id,
                                  fix=f"editable fields are {', '.join(m.EDITABLE)}", code="bad_field")
        return self._write(feature_id, expected_version, author, "update", changes)

    def delete_feature(self, feature_id: int, expected_version: int, author: str) -> FeatureRecord:
        """Soft-delete a feature (it disappears from maps and lists; :meth:`restore_feature` brings it back)."""
        return self._write(feature_id, expected_version, author, "delete", {})

    def restore_feature(self, feature_id: int, expected_version: int, author: str) -> FeatureRecord:
        """Undo a soft delete."""
        return self._write(feature_id, expected_version, author, "restore", {})

    def revert_feature(self, feature_id: int, to_version: int, expected_version: int, author: str) -> FeatureRecord:
        """Bring back the attributes and geometry a feature had at ``to_version`` (from the history).

        This is a new change (version ``expected_version + 1``, history action ``revert``), so nothing is
        lost: the reverted state stays in the history too.
        """
        h = self.t_history
        with self._reader() as conn:
            row = conn.execute(sa.select(h.c.new_attrs, h.c.new_wkt).where(
                h.c.feature_id == int(feature_id), h.c.version == int(to_version))).first()
        if row is None or row[0] is None:
            raise GisPlannerError(f"feature {feature_id} has no version {to_version}", file=self.label,
                                  feature=feature_id, fix="pick a version listed by history()", code="unknown_version")
        attrs = json.loads(row[0])
        changes = {k: attrs.get(k) for k in m.EDITABLE if k != "geometry"}
        changes["geometry"] = shapely.from_wkt(row[1])
        return self._write(feature_id, expected_version, author, "revert", changes)

    # ------------------------------------------------------------------ photos (gis_planner/community/media.py)
    def add_attachment(self, feature_id: int, data: bytes, filename: str | None, author: str) -> "media.AttachmentRecord":
        """Attach a photo (JPEG/PNG/WebP by content; size-limited, downscaled and stripped of EXIF/GPS)."""
        return media.add_attachment(self, feature_id, data, filename, author)

    def attachments(self, feature_id: int | Iterable[int] | None = None) -> pd.DataFrame:
        """Photos of a feature (or several, or all) without their bytes: id, feature_id, filename, mime, size,
        sha256, author, created_at, exif_stripped."""
        return media.attachments(self, feature_id)

    def get_attachment(self, attachment_id: int) -> "media.AttachmentRecord":
        """One photo with its bytes (``.data``)."""
        return media.get_attachment(self, attachment_id)

    def delete_attachment(self, attachment_id: int, author: str) -> "media.AttachmentRecord":
        """Remove a photo; returns the removed record (with its bytes)."""
        return media.delete_attachment(self, attachment_id, author)

    # ------------------------------------------------------------------ features: read
    def get_feature(self, feature_id: int, conn: sa.Connection | None = None) -> FeatureRecord:
        q = sa.select(self.t_features).where(self.t_features.c.id == int(feature_id))
        if conn is None:
            with self._reader() as c:
                row = c.execute(q).mappings().first()
        else:
            row = conn.execute(q).mappings().first()
        if row is None:
            raise GisPlannerError(f"community feature {feature_id} does not exist", file=self.label,
                                  feature=feature_id, fix="reload the map: it may have been imported elsewhere",
                                  code="unknown_feature")
        return _record(row)

    def features(self, session_id: int | Iterable[int] | None = None, village: str | None = None,
                 group: str | None = None, include_deleted: bool = False, category: str | None = None,
                 bbox: tuple | None = None) -> gpd.GeoDataFrame:
        """Features as a GeoDataFrame in EPSG:4326, with the session's village, group, age band and date.

        Filters: ``session_id`` (one id or several), ``village``, ``group`` (participant group code),
        ``category``, ``bbox`` (lon/lat minx, miny, maxx, maxy). Deleted features only with ``include_deleted``.
        """
        f, s = self.t_features, self.t_sessions
        cols = [f.c[c] for c in m.FEATURE_COLUMNS]
        geom = sa.type_coerce(f.c.geom, sa.LargeBinary) if self.backend == "geopackage" else f.c.geom
        q = (sa.select(*cols, s.c.village, s.c.participant_group, s.c.age_band, s.c.date.label("session_date"),
                       geom.label("geom"))
             .join(s, s.c.id == f.c.session_id).order_by(f.c.id))
        if session_id is not None:
            ids = [int(session_id)] if isinstance(session_id, (int, np.integer)) else [int(i) for i in session_id]
            q = q.where(f.c.session_id.in_(ids))
        if village is not None:
            q = q.where(s.c.village == clean_text(village))
        if group is not None:
            code = catalogue("community_categories", self.ws, section="participant_groups").lookup(group) or group
            q = q.where(s.c.participant_group == code)
        if category is not None:
            q = q.where(f.c.category == (categories(self.ws).lookup(category) or category))
        if not include_deleted:
            q = q.where(f.c.deleted == sa.false(), s.c.deleted == sa.false())
        if bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in bbox)
            if self.backend == "geopackage":  # the GeoPackage R-tree (float32 boxes, rounded outwards)
                q = q.where(f.c.id.in_(sa.text(
                    "SELECT id FROM rtree_community_features_geom WHERE maxx >= :minx AND minx <= :maxx "
                    "AND maxy >= :miny AND miny <= :maxy").bindparams(minx=minx, maxx=maxx, miny=miny, maxy=maxy)))
            else:  # the GiST index
                q = q.where(sa.text("community_features.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
                            .bindparams(minx=minx, maxx=maxx, miny=miny, maxy=maxy))
        with self._reader() as conn:
            rows = conn.execute(q).all()
        names = [*m.FEATURE_COLUMNS, "village", "participant_group", "age_band", "session_date"]
        df = pd.DataFrame([r[:-1] for r in rows], columns=names)
        if self.backend == "geopackage":
            geoms = m.geoms_from_gpkg([r[-1] for r in rows]) if rows else []
        else:
            geoms = [r[-1] for r in rows]
        gdf = gpd.GeoDataFrame(_typed(df), geometry=gpd.GeoSeries(list(geoms), crs=m.SRID), crs=m.SRID)
        if bbox is not None and len(gdf):  # exact test after the index's box test
            keep = np.sort(gdf.sindex.query(shapely.box(*bbox), predicate="intersects"))
            gdf = gdf.iloc[keep].reset_index(drop=True)
        return gdf

    def history(self, feature_id: int | None = None, session_id: int | None = None) -> pd.DataFrame:
        """Change history (oldest first): ``action``, ``version``, ``author``, ``at``, ``changed`` (field names),
        ``old``/``new`` attribute dicts and ``old_wkt``/``new_wkt``."""
        h = self.t_history
        q = sa.select(h).order_by(h.c.id)
        if feature_id is not None:
            q = q.where(h.c.feature_id == int(feature_id))
        if session_id is not None:
            q = q.where(h.c.session_id == int(session_id))
        with self._reader() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings().all()]
        out = []
        for r in rows:
            old = json.loads(r["old_attrs"]) if r["old_attrs"] else None
            new = json.loads(r["new_attrs"]) if r["new_attrs"] else None
            changed = sorted(k for k in set(old or {}) | set(new or {})
                             if old is not None and old.get(k) != (new or {}).get(k)
                             and k not in ("version", "updated_at", "author"))
            if r["old_wkt"] != r["new_wkt"] and r["old_wkt"] is not None:
                changed.append("geometry")
            out.append({"id": r["id"], "feature_id": r["feature_id"], "session_id": r["session_id"],
                        "action": r["action"], "version": r["version"], "author": r["author"], "at": r["at"],
                        "changed": changed, "old": old, "new": new, "old_wkt": r["old_wkt"],
                        "new_wkt": r["new_wkt"]})
        df = pd.DataFrame(out, columns=["id", "feature_id", "session_id", "action", "version", "author", "at",
                                        "changed", "old", "new", "old_wkt", "new_wkt"])
        df["at"] = pd.to_datetime(df["at"], utc=True).astype("datetime64[ms, UTC]")
        return df

    def counts(self) -> dict:
        """Numbers of sessions, live features, deleted features and history rows (for checks)."""
        f = self.t_features
        with self._reader() as conn:
            return {
                "sessions": conn.execute(sa.select(sa.func.count()).select_from(self.t_sessions)).scalar_one(),
                "features": conn.execute(sa.select(sa.func.count()).where(f.c.deleted == sa.false())).scalar_one(),
                "deleted": conn.execute(sa.select(sa.func.count()).where(f.c.deleted == sa.true())).scalar_one(),
                "history": conn.execute(sa.select(sa.func.count()).select_from(self.t_history)).scalar_one(),
            }

    # ------------------------------------------------------------------ internals
    def _require_session(self, conn: sa.Connection, session_id: int) -> None:
        ok = conn.execute(sa.select(self.t_sessions.c.id, self.t_sessions.c.deleted)
                          .where(self.t_sessions.c.id == int(session_id))).first()
        if ok is None:
            raise GisPlannerError(f"mapping session {session_id} does not exist", file=self.label,
                                  fix="create the session first (create_session)", code="unknown_session")
        if ok[1]:
            raise GisPlannerError(f"mapping session {session_id} is deleted", file=self.label,
                                  fix="restore the session first (restore_session)", code="deleted_session")

    def _insert(self, conn, session_id, rows, action, progress=None, keep_created=False) -> list[FeatureRecord]:
        ctx = self._ctx()
        prepared = [self._validate_feature(r, index=i if len(rows) > 1 else None, ctx=ctx)
                    for i, r in enumerate(rows)]
        self._check_location([p["geom"] for p in prepared], rows)
        now = m.utcnow()
        for i, (p, r) in enumerate(zip(prepared, rows)):
            p["session_id"] = int(session_id)
            uid = r.get("uid")
            p["uid"] = str(uid) if uid not in (None, "") and not _isnan(uid) else str(uuid.uuid4())
            by = r.get("created_by") if keep_created else None
            if by is None or _isnan(by):
                by = None
            p["created_by"] = _person_text(by, "created_by", ctx.limits.get("author_max", 40), required=False,
                                           where=f"row {i + 1}" if len(rows) > 1 else None) or p["author"]
            created = r.get("created_at") if keep_created else None
            p["created_at"] = _as_datetime(created) or now
            p["updated_at"] = now
            p["version"] = 1
            p["deleted"] = False
        dup = pd.Series([p["uid"] for p in prepared])
        if dup.duplicated().any():
            raise GisPlannerError(f"uid '{dup[dup.duplicated()].iloc[0]}' occurs twice in the input",
                                  fix="give each feature its own uid (or none)", code="duplicate_uid")
        existing = set()
        for chunk in _chunks([p["uid"] for p in prepared], 500):
            existing |= set(conn.execute(sa.select(self.t_features.c.uid)
                                         .where(self.t_features.c.uid.in_(chunk))).scalars())
        if existing:
            raise GisPlannerError(f"{len(existing)} feature(s) are already in the store (uid "
                                  f"{sorted(existing)[0]}…)", file=self.label,
                                  fix="import into another store, or drop the uid column to import copies",
                                  code="duplicate_uid", details={"uids": sorted(existing)})
        out: list[FeatureRecord] = []
        total = len(prepared)
        block = 200
        for start in range(0, total, block):
            part = prepared[start:start + block]
            ids = conn.execute(self.t_features.insert().returning(self.t_features.c.id, sort_by_parameter_order=True),
                               part).scalars().all()
            hist = []
            for fid, p in zip(ids, part):
                rec = FeatureRecord(id=int(fid), **{k: p[k] for k in m.FEATURE_COLUMNS if k != "id"},
                                    geometry=p["geom"])
                out.append(rec)
                hist.append(dict(feature_id=rec.id, session_id=rec.session_id, action=action, version=1,
                                 author=rec.author, at=now, old_attrs=None, new_attrs=json.dumps(rec.attrs(), ensure_ascii=False),
                                 old_wkt=None, new_wkt=rec.geometry.wkt))
            conn.execute(self.t_history.insert(), hist)
            if progress is not None:
                progress(min(start + block, total), total)
        self._touch_gpkg(conn, [p["geom"] for p in prepared])
        return out

    def _touch_gpkg(self, conn, geoms) -> None:
        """Keep the GeoPackage layer extent and last-change time current (QGIS "zoom to layer")."""
        if self.backend != "geopackage" or not geoms:
            return
        minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
        conn.exec_driver_sql(
            "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), min_y = min(coalesce(min_y, ?), ?), "
            "max_x = max(coalesce(max_x, ?), ?), max_y = max(coalesce(max_y, ?), ?), "
            "last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE table_name = ?",
            (minx, minx, miny, miny, maxx, maxx, maxy, maxy, m.FEATURES))

    def _write(self, feature_id, expected_version, author, action, changes) -> FeatureRecord:
        author = _person_text(author, "author", limits(self.ws).get("author_max", 40), required=True)
        f = self.t_features
        with self._writer() as conn:
            old = self.get_feature(feature_id, conn)
            current = old.version or 0  # a feature drawn in QGIS may carry version 0 or NULL
            if int(expected_version or 0) != current:
                self._conflict(conn, old, expected_version)
            if action == "delete" and old.deleted:
                raise GisPlannerError("the feature is already deleted", feature=feature_id,
                                      fix="restore it instead", code="already_deleted")
            if action == "restore" and not old.deleted:
                raise GisPlannerError("the feature is not deleted", feature=feature_id, code="not_deleted")
            if action in ("update", "revert") and old.deleted:
                raise GisPlannerError("a deleted feature cannot be edited", feature=feature_id,
                                      fix="restore it first", code="deleted_feature")
            values: dict[str, Any] = {}
            if action in ("update", "revert"):
                merged = {k: getattr(old, k) for k in m.EDITABLE if k != "geometry"}
                merged["geometry"] = old.geometry
                merged["author"] = author
                if "category" in changes and "activity" not in changes:
                    merged["activity"] = None  # re-derive from the new category
                merged.update(changes)
                prepared = self._validate_feature(merged, feature=feature_id)
                if "geometry" in changes:
                    self._check_location([prepared["geom"]], [merged], ids=[feature_id])
                values = {k: prepared[k] for k in (*[e for e in m.EDITABLE if e != "geometry"], "kind", "geom")}
                same = all(values[k] == getattr(old, k) for k in values if k != "geom")
                if same and values["geom"].equals_exact(old.geometry, 0.0):
                    return old  # nothing changed: no new version, no history row
                values["author"] = author  # the last editor of the content; created_by keeps who drew it
            elif action == "delete":
                values = {"deleted": True}
            elif action == "restore":
                values = {"deleted": False}
            now = m.utcnow()
            values.update(version=current + 1, updated_at=max(now, old.updated_at or now))
            same = f.c.version == current if old.version is not None else f.c.version.is_(None)
            res = conn.execute(f.update().where(f.c.id == old.id, same).values(**values))
            if res.rowcount != 1:
                self._conflict(conn, old, expected_version)
            new = self.get_feature(feature_id, conn)
            self._touch_gpkg(conn, [new.geometry])
            self._adopt(conn, old, current, now)
            conn.execute(self.t_history.insert().values(
                feature_id=new.id, session_id=new.session_id, action=action, version=new.version, author=author,
                at=now, old_attrs=json.dumps(old.attrs(), ensure_ascii=False),
                new_attrs=json.dumps(new.attrs(), ensure_ascii=False), old_wkt=old.geometry.wkt,
                new_wkt=new.geometry.wkt))
        return new

    def _adopt(self, conn, old: FeatureRecord, version: int, now) -> None:
        """A feature added outside the store (QGIS) has no history row: record its state as the creation."""
        h = self.t_history
        if conn.execute(sa.select(h.c.id).where(h.c.feature_id == old.id).limit(1)).first() is not None:
            return
        conn.execute(h.insert().values(
            feature_id=old.id, session_id=old.session_id, action="create", version=version,
            author=old.created_by or old.author or "QGIS", at=old.created_at or now, old_attrs=None,
            new_attrs=json.dumps(old.attrs(), ensure_ascii=False), old_wkt=None, new_wkt=old.geometry.wkt))

    def _conflict(self, conn, old: FeatureRecord, expected_version) -> None:
        h = self.t_history
        last = conn.execute(sa.select(h.c.author, h.c.at, h.c.version).where(h.c.feature_id == old.id)
                            .order_by(h.c.id.desc()).limit(1)).first()
        current = self.get_feature(old.id, conn)
        by, at = (last[0], last[1]) if last is not None else (None, None)
        raise ConflictError(
            f"the feature was changed by {by or 'someone else'} at "
            f"{at.strftime('%Y-%m-%d %H:%M') if at else '?'} UTC (version {current.version}); "
            f"your edit started from version {expected_version} and was not saved",
            file=self.label, feature=old.id,
            fix="reload the feature, re-apply your change and save again",
            code="edit_conflict",
            details={"feature_id": old.id, "expected_version": int(expected_version),
                     "current_version": current.version, "changed_by": by,
                     "changed_at": at.isoformat() if at else None})

    def _ctx(self) -> "_Rules":
        """The catalogue and limits, loaded once per write (not once per row)."""
        return _Rules(self.ws)

    def _validate_feature(self, v: Mapping, index: int | None = None, feature: Any = None,
                          ctx: "_Rules | None" = None) -> dict:
        """Check and normalise one feature's values; raise GisPlannerError with the reason."""
        where = feature if feature is not None else (f"row {index + 1}" if index is not None else None)
        ctx = ctx or self._ctx()
        lim = ctx.limits

        def err(problem, fix, code):
            return GisPlannerError(problem, feature=where, fix=fix, code=code)

        code = ctx.lookup("categories", v.get("category"))
        if code is None:
            raise err(f"unknown category '{v.get('category')}'",
                      f"use one of {', '.join(ctx.cats.codes)} (layers/community_categories.yaml)",
                      "unknown_category")
        item = ctx.cats.items[code]
        geom = _to_geometry(v.get("geometry"), where)
        kind = _KIND_OF.get(geom.geom_type)
        if kind is None:
            raise err(f"a {geom.geom_type} cannot be stored", "draw a point, a line or a polygon",
                      "bad_geometry_type")
        allowed = item.get("kinds") or list(KINDS)
        if kind not in allowed:
            raise err(f"a '{code}' is drawn as {' or '.join(allowed)}, not as a {kind}",
                      f"draw it as a {allowed[0]} or choose another category", "bad_geometry_kind")
        _check_geometry(geom, lim, where)
        out: dict[str, Any] = {"category": code, "kind": kind, "geom": geom}
        out["title"] = _text(v.get("title"), "title", lim.get("title_max", 120), required=True, where=where)
        out["description"] = _text(v.get("description"), "description", lim.get("description_max", 2000),
                                   required=False, where=where, keep_lines=True)
        for field, section in (("condition", "conditions"), ("sufficiency", "sufficiency")):
            value = v.get(field)
            if value is None or (isinstance(value, str) and not value.strip()) or _isnan(value):
                out[field] = None
                continue
            c = ctx.lookup(section, value)
            if c is None:
                raise err(f"unknown {field} '{value}'", f"use one of {', '.join(ctx.section(section).codes)}",
                          f"bad_{field}")
            out[field] = c
        out["is_problem"] = _flag(v.get("is_problem"), bool(item.get("problem", False)), "is_problem", where,
                                  ctx.true_values, ctx.false_values)
        out["is_wish"] = _flag(v.get("is_wish"), bool(item.get("wish", False)), "is_wish", where,
                               ctx.true_values, ctx.false_values)
        out["votes"] = _count(v.get("votes"), "votes", lim.get("max_votes", 10000), where=where)
        act = v.get("activity")
        if act is None or (isinstance(act, str) and not act.strip()) or _isnan(act):
            act = item.get("activity") if out["is_wish"] else None
        if act is not None:
            a = ctx.lookup("activities", act)
            if a is None:
                raise err(f"unknown activity '{act}'",
                          f"use one of {', '.join(ctx.section('activities').codes)} (layers/activities.yaml)",
                          "unknown_activity")
            act = a
        out["activity"] = act
        out["author"] = _person_text(v.get("author"), "author", lim.get("author_max", 40), required=True, where=where)
        return out

    def _boundary(self):
        """The workspace boundary as one geometry in the workspace CRS (cached by data version)."""
        if self.ws is None:
            return None
        key = self.ws.version
        if self._boundary_cache is not None and self._boundary_cache[0] == key:
            return self._boundary_cache[1]
        b = self.ws.read_layer("boundary", missing_ok=True)
        geom = None
        if b is not None and len(b):
            geom = shapely.union_all(shapely.make_valid(b.geometry.values))
            geom = (geom, b.crs)
        self._boundary_cache = (key, geom)
        return geom

    def _check_location(self, geoms: list, rows: list, ids: list | None = None) -> None:
        """Reject features farther than ``boundary_tolerance_m`` from the workspace boundary (vectorised)."""
        bnd = self._boundary()
        if bnd is None or not geoms:
            return
        boundary, crs = bnd
        tol = float(limits(self.ws).get("boundary_tolerance_m", 2000))
        projected = gpd.GeoSeries(geoms, crs=m.SRID).to_crs(crs).values
        dist = shapely.distance(projected, boundary)
        bad = np.flatnonzero(dist > tol)
        if len(bad):
            i = int(bad[0])
            where = ids[i] if ids else (f"row {i + 1}" if len(geoms) > 1 else None)
            raise GisPlannerError(
                f"the feature lies {dist[i] / 1000:.1f} km outside the municipality boundary "
                f"(tolerance {tol:.0f} m){'; ' + str(len(bad)) + ' feature(s) in all' if len(bad) > 1 else ''}",
                feature=where, fix="check the map position (longitude/latitude not swapped?) or the workspace",
                code="outside_boundary", details={"rows": [int(b) for b in bad]})


# --------------------------------------------------------------------------- helpers
class _Rules:
    """Catalogue sections and limits of ``layers/community_categories.yaml`` with fast code lookup."""

    def __init__(self, ws=None):
        self.ws = ws
        self.data = rules(ws)
        self.limits = dict(self.data.get("limits") or {})
        self.cats = categories(ws)
        self._sections: dict = {"categories": self.cats}
        flags = self.data.get("flag_values") or {}
        self.true_values = _TRUE | {str(x).lower() for x in flags.get("true_values") or []}
        self.false_values = _FALSE | {str(x).lower() for x in flags.get("false_values") or []}
        self._index: dict = {}

    def section(self, name: str):
        cat = self._sections.get(name)
        if cat is None:
            cat = (catalogue("activities", self.ws) if name == "activities"
                   else catalogue("community_categories", self.ws, section=name))
            self._sections[name] = cat
        return cat

    def lookup(self, name: str, value) -> str | None:
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = dict(self.section(name)._index)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return index.get(normalize_key(value))


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE = re.compile(r"(?:\+?\d[\s\-()]*){7,}")


def _text(value, field, max_len, required, where=None, keep_lines=False) -> str | None:
    if value is None or _isnan(value):
        value = ""
    if keep_lines:
        lines = [clean_text(line) for line in str(value).replace("\r\n", "\n").split("\n")]
        text = "\n".join(lines).strip()
    else:
        text = clean_text(value)
    if not text:
        if required:
            raise GisPlannerError(f"the {field} is empty", feature=where, fix=f"write a short {field}",
                                  code="empty_text")
        return None
    if len(text) > max_len:
        raise GisPlannerError(f"the {field} is {len(text)} characters long (at most {max_len})", feature=where,
                              fix=f"shorten the {field}", code="text_too_long")
    return text


def _person_text(value, field, max_len, required, where=None) -> str | None:
    text = _text(value, field, max_len, required, where)
    if text and (_EMAIL.search(text) or _PHONE.search(text)):
        raise GisPlannerError(f"the {field} looks like an e-mail address or a phone number", feature=where,
                              fix="write initials or a role (e.g. 'A.K.', 'facilitator 2'): participants' "
                                  "personal data is not stored", code="personal_data")
    return text


def _count(value, field, max_value, where=None) -> int:
    if value is None or (isinstance(value, str) and not value.strip()) or _isnan(value):
        return 0
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise GisPlannerError(f"{field} '{value}' is not a number", feature=where, fix="give a whole number",
                              code="bad_number") from None
    if not f.is_integer() or f < 0 or f > max_value:
        raise GisPlannerError(f"{field} must be a whole number from 0 to {max_value}, not {value}", feature=where,
                              fix="correct the number", code="bad_number")
    return int(f)


_TRUE = {"1", "true", "yes", "y", "t", "on"}
_FALSE = {"0", "false", "no", "n", "f", "off"}


def _flag(value, default, field, where, true_values=_TRUE, false_values=_FALSE) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()) or _isnan(value):
        return default
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    s = str(value).strip().lower()
    if s in true_values:
        return True
    if s in false_values:
        return False
    raise GisPlannerError(f"{field} '{value}' is not yes/no", feature=where, fix="use true/false or 1/0",
                          code="bad_flag")


def _isnan(value) -> bool:
    try:
        return isinstance(value, float) and math.isnan(value) or value is pd.NA or value is pd.NaT
    except TypeError:
        return False


def _to_geometry(value, where):
    if value is None or _isnan(value):
        raise GisPlannerError("the feature has no geometry", feature=where, fix="draw it on the map",
                          code="no_geometry")
    try:
        if isinstance(value, shapely.Geometry):
            geom = value
        elif isinstance(value, Mapping):
            g = value.get("geometry", value) if value.get("type") == "Feature" else value
            geom = _geojson_shape(g)
        elif isinstance(value, (bytes, bytearray)):
            geom = shapely.from_wkb(bytes(value))
        else:
            geom = shapely.from_wkt(str(value))
    except (shapely.errors.GEOSException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise GisPlannerError(f"the geometry cannot be read ({exc})", feature=where,
                              fix="give GeoJSON, WKT or a shapely geometry in longitude/latitude",
                              code="bad_geometry") from None
    if geom is None or geom.is_empty:
        raise GisPlannerError("the geometry is empty", feature=where, fix="draw it on the map", code="empty_geometry")
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    return geom


def _check_geometry(geom, lim, where) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(c) for c in (minx, miny, maxx, maxy)):
        raise GisPlannerError("the geometry has non-finite coordinates", feature=where, fix="redraw it",
                              code="bad_geometry")
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GisPlannerError(f"coordinates ({minx:.1f}, {miny:.1f}) are not longitude/latitude",
                              feature=where, fix="give the geometry in EPSG:4326 (longitude, latitude)",
                              code="not_lonlat")
    n = shapely.get_num_coordinates(geom)
    if n > int(lim.get("max_vertices", 5000)):
        raise GisPlannerError(f"the geometry has {n} vertices (at most {lim.get('max_vertices')})", feature=where,
                              fix="simplify it", code="too_many_vertices")
    lat = math.radians((miny + maxy) / 2)
    dx = (maxx - minx) * 111.32 * math.cos(lat)
    dy = (maxy - miny) * 110.57
    extent = math.hypot(dx, dy)
    if extent > float(lim.get("max_extent_km", 60)):
        raise GisPlannerError(f"the feature is {extent:.0f} km across (at most {lim.get('max_extent_km')} km)",
                              feature=where, fix="draw a smaller object or split it", code="too_large")
    if not geom.is_valid:
        raise GisPlannerError(f"the geometry is not valid ({shapely.is_valid_reason(geom)})", feature=where,
                              fix="redraw the outline without crossing itself", code="invalid_geometry")
    if geom.geom_type in ("Polygon", "MultiPolygon") and geom.area == 0:
        raise GisPlannerError("the polygon has no area", feature=where, fix="redraw it", code="invalid_geometry")


def _as_datetime(value) -> _dt.datetime | None:
    if value is None or _isnan(value) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    d = ts.tz_convert("UTC").to_pydatetime()
    return d.replace(microsecond=(d.microsecond // 1000) * 1000)


def _record(row) -> FeatureRecord:
    d = {k: row[k] for k in m.FEATURE_COLUMNS}
    d["is_problem"], d["is_wish"], d["deleted"] = bool(d["is_problem"]), bool(d["is_wish"]), bool(d["deleted"])
    return FeatureRecord(**d, geometry=row["geom"])


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("id", "session_id", "votes", "version"):
        df[c] = df[c].astype("int64")
    for c in ("is_problem", "is_wish", "deleted"):
        df[c] = df[c].astype(bool)
    for c in ("created_at", "updated_at"):
        df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[ms, UTC]")
    return df


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (_dt.datetime, _dt.date)):
            v = v.isoformat()
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _session_attrs(values: Mapping) -> dict:
    """The user-given fields of a session (JSON-able), as kept in the session history."""
    return _jsonable({**{k: values.get(k) for k in m.SESSION_EDITABLE}, "deleted": bool(values.get("deleted"))})


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


__all__ = ["open_store", "CommunityStore", "ConflictError", "FeatureRecord", "categories", "rules", "limits",
           "category_table", "code_options",
           "store_path", "migrate", "ATTRIBUTES", "KINDS"]
