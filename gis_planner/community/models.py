"""Tables of the community-map store (SQLAlchemy 2 declarative, GeoAlchemy2 on PostGIS).

Four tables, the same on both backends:

``community_sessions``  one participatory mapping session (village, date, group, counts of participants)
``community_features``  the objects drawn on the map (point / line / polygon in EPSG:4326), versioned
``community_history``   one row per create / update / delete / restore / import: who, when, old and new
                        attributes (JSON) and geometry (WKT)
``community_session_history``  the same for sessions (create / update), since revision 0004

Geometry column
---------------
On PostgreSQL the geometry is a PostGIS ``geometry(GEOMETRY, 4326)`` (GeoAlchemy2 ``Geometry``; values go in
as hex EWKB and come back as ``WKBElement``). On SQLite the file is a real **GeoPackage**: the column holds
GeoPackage binary geometries (the ``GP`` header + ISO WKB, encoded and decoded here in Python, so no SpatiaLite
extension is needed) and the migration registers the tables in ``gpkg_contents`` /
``gpkg_geometry_columns``, so QGIS and GDAL open ``community.gpkg`` and show the features.

Timestamps are UTC. On SQLite they are stored as GeoPackage ``DATETIME`` text (``2026-11-24T04:30:00.000Z``).
"""
from __future__ import annotations

import datetime as _dt
import struct

import geoalchemy2  # noqa: F401 - registers GeoAlchemy2's DDL events before any table is created
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import (Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text,
                        TypeDecorator)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

SRID = 4326
SESSIONS = "community_sessions"
FEATURES = "community_features"
HISTORY = "community_history"
SESSION_HISTORY = "community_session_history"

# --------------------------------------------------------------------------- GeoPackage geometry blobs
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def gpkg_blob(geom, srid: int = SRID) -> bytes:
    """Encode a shapely geometry as a GeoPackage binary geometry (little-endian, xy envelope).

    >>> from shapely.geometry import Point
    >>> gpkg_blob(Point(1, 2))[:2]
    b'GP'
    """
    empty = geom.is_empty
    flags = 0b1  # little endian
    if empty:
        flags |= 0b10000
        header = struct.pack("<2sBBi", b"GP", 0, flags, srid)
    else:
        minx, miny, maxx, maxy = geom.bounds
        flags |= 0b10  # envelope [minx, maxx, miny, maxy]
        header = struct.pack("<2sBBi4d", b"GP", 0, flags, srid, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, output_dimension=2, byte_order=1, flavor="iso")


def wkb_from_gpkg(blob: bytes) -> bytes:
    """The WKB part of a GeoPackage binary geometry."""
    blob = bytes(blob)
    if blob[:2] != b"GP":
        return blob  # plain WKB (e.g. written by another tool)
    flags = blob[3]
    env = _ENVELOPE_BYTES.get((flags >> 1) & 0b111, 0)
    return blob[8 + env:]


def gpkg_envelope(blob) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob, None when empty or NULL (R-tree functions)."""
    if blob is None:
        return None
    blob = bytes(blob)
    if blob[:2] != b"GP":
        g = shapely.from_wkb(blob)
        if g is None or g.is_empty:
            return None
        minx, miny, maxx, maxy = g.bounds
        return (minx, maxx, miny, maxy)
    flags = blob[3]
    if flags & 0b10000:
        return None
    endian = "<" if flags & 1 else ">"
    if (flags >> 1) & 0b111:
        return struct.unpack(endian + "4d", blob[8:40])
    g = shapely.from_wkb(blob[8:])  # no envelope stored (points): compute it
    if g is None or g.is_empty:
        return None
    minx, miny, maxx, maxy = g.bounds
    return (minx, maxx, miny, maxy)


def register_gpkg_functions(dbapi_connection) -> None:
    """SQL functions the GeoPackage R-tree triggers call (``ST_MinX`` … ``ST_IsEmpty``), for SQLite connections
    that, unlike GDAL's, have no SpatiaLite. Without them no row of a GeoPackage with a spatial index can be
    written."""

    def part(i):
        def fn(blob):
            env = gpkg_envelope(blob)
            return None if env is None else env[i]
        return fn

    for name, i in (("ST_MinX", 0), ("ST_MaxX", 1), ("ST_MinY", 2), ("ST_MaxY", 3)):
        dbapi_connection.create_function(name, 1, part(i), deterministic=True)
    dbapi_connection.create_function("ST_IsEmpty", 1,
                                     lambda blob: None if blob is None else int(gpkg_envelope(blob) is None),
                                     deterministic=True)


def geoms_from_gpkg(blobs) -> "shapely.Geometry":
    """Vectorised decoding of many GeoPackage blobs to a numpy array of shapely geometries."""
    import numpy as np

    wkbs = np.array([wkb_from_gpkg(b) if b is not None else None for b in blobs], dtype=object)
    return shapely.from_wkb(wkbs)


class _GpkgGeometryDDL(UserDefinedType):
    """SQLite column type rendered as ``GEOMETRY`` (GeoPackage convention); values are bytes."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "GEOMETRY"


def _as_utc(value):
    """An aware UTC datetime from a datetime or an ISO text (naive values are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


class GeomType(TypeDecorator):
    """A shapely geometry in EPSG:4326: PostGIS geometry on PostgreSQL, GeoPackage blob on SQLite."""

    impl = LargeBinary
    cache_ok = True
    # read by GeoAlchemy2's DDL events on PostGIS: the GiST index is made by the migration instead
    spatial_index = False
    use_N_D_index = False
    srid = SRID
    geometry_type = "GEOMETRY"
    dimension = 2
    use_typmod = None

    def load_dialect_impl(self, dialect):
        if dialect is None:  # GeoAlchemy2's DDL events probe types without a dialect
            return LargeBinary()
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry(geometry_type="GEOMETRY", srid=SRID,
                                                    spatial_index=False))
        return dialect.type_descriptor(_GpkgGeometryDDL())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return from_shape(value, srid=SRID, extended=True)
        return gpkg_blob(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return to_shape(value)
        return shapely.from_wkb(wkb_from_gpkg(value))


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps: ``timestamptz`` on PostgreSQL, GeoPackage DATETIME text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect is None:
            return String()
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(_GpkgDateTimeDDL())

    def process_bind_param(self, value, dialect):
        value = _as_utc(value)
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"

    def process_result_value(self, value, dialect):
        return _as_utc(value)


class Str(TypeDecorator):
    """Bounded text: ``VARCHAR(n)`` on PostgreSQL, ``TEXT(n)`` on SQLite (the GeoPackage spelling GDAL reads)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect is None:
            return String(self.impl.length)
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_GpkgTextDDL(self.impl.length))
        return dialect.type_descriptor(String(self.impl.length))


class _GpkgTextDDL(UserDefinedType):
    cache_ok = True

    def __init__(self, length=None):
        self.length = length

    def get_col_spec(self, **kw):
        return f"TEXT({self.length})" if self.length else "TEXT"


class _GpkgDateTimeDDL(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "DATETIME"


def utcnow() -> _dt.datetime:
    """Now in UTC, truncated to milliseconds (what the GeoPackage DATETIME text keeps)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


# --------------------------------------------------------------------------- tables
class Base(DeclarativeBase):
    pass


class MappingSession(Base):
    """A participatory mapping session of one group in one village."""

    __tablename__ = SESSIONS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    village: Mapped[str] = mapped_column(Str(120), nullable=False)
    date: Mapped[str] = mapped_column(Str(10), nullable=False)  # ISO date YYYY-MM-DD
    participant_group: Mapped[str] = mapped_column(Str(20), nullable=False)
    age_band: Mapped[str | None] = mapped_column(Str(10))
    participants_female: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    participants_male: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    facilitators: Mapped[str | None] = mapped_column(Str(120))  # initials or roles only
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # optimistic concurrency, as for features (revision 0004_session_versions)
    updated_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # soft delete (restorable)


class Feature(Base):
    """An object drawn on a community map (versioned, soft-deletable)."""

    __tablename__ = FEATURES

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(Str(36), nullable=False, unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey(f"{SESSIONS}.id"), nullable=False, index=True)
    category: Mapped[str] = mapped_column(Str(40), nullable=False)
    kind: Mapped[str] = mapped_column(Str(10), nullable=False)  # point / line / polygon
    title: Mapped[str] = mapped_column(Str(120), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Str(20))
    sufficiency: Mapped[str | None] = mapped_column(Str(20))
    is_problem: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_wish: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    votes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    activity: Mapped[str | None] = mapped_column(Str(40))
    author: Mapped[str] = mapped_column(Str(40), nullable=False)  # who last changed the content
    created_by: Mapped[str | None] = mapped_column(Str(40))  # who drew it (initials or role)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    geom = mapped_column(GeomType, nullable=False)


class History(Base):
    """Audit trail: one row per change of a feature."""

    __tablename__ = HISTORY

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feature_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    session_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(Str(10), nullable=False)  # create/update/delete/restore/import
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # the version after the change
    author: Mapped[str] = mapped_column(Str(40), nullable=False)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    old_attrs: Mapped[str | None] = mapped_column(Text)  # JSON
    new_attrs: Mapped[str | None] = mapped_column(Text)  # JSON
    old_wkt: Mapped[str | None] = mapped_column(Text)
    new_wkt: Mapped[str | None] = mapped_column(Text)


class SessionHistory(Base):
    """Audit trail of sessions: one row per create / update of a session (revision 0004_session_versions)."""

    __tablename__ = SESSION_HISTORY

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    action: Mapped[str] = mapped_column(Str(10), nullable=False)  # create/update/delete/restore
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # the version after the change
    author: Mapped[str] = mapped_column(Str(40), nullable=False)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    old_attrs: Mapped[str | None] = mapped_column(Text)  # JSON
    new_attrs: Mapped[str | None] = mapped_column(Text)  # JSON


# attribute columns a user may set on a feature (everything but bookkeeping)
EDITABLE = ("category", "title", "description", "condition", "sufficiency", "is_problem", "is_wish",
            "votes", "activity", "geometry")
# columns of the features frame, in order
FEATURE_COLUMNS = ("id", "uid", "session_id", "category", "kind", "title", "description", "condition",
                   "sufficiency", "is_problem", "is_wish", "votes", "activity", "author", "created_by", "created_at",
                   "updated_at", "version", "deleted")
SESSION_COLUMNS = ("id", "village", "date", "participant_group", "age_band", "participants_female",
                   "participants_male", "facilitators", "notes", "created_at", "updated_at", "version",
                   "deleted")
# session fields a user may change (update_session)
SESSION_EDITABLE = ("village", "date", "participant_group", "age_band", "participants_female", "participants_male",
                    "facilitators", "notes")

__all__ = ["Base", "MappingSession", "Feature", "History", "SessionHistory", "SESSION_HISTORY", "SESSION_EDITABLE", "GeomType", "UTCDateTime", "Str", "gpkg_blob",
           "wkb_from_gpkg", "geoms_from_gpkg", "gpkg_envelope", "register_gpkg_functions", "utcnow", "SRID", "EDITABLE", "FEATURE_COLUMNS",
           "SESSION_COLUMNS"]
