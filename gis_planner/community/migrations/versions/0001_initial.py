"""Initial schema: sessions, features (geometry EPSG:4326), history; GeoPackage registration on SQLite.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis_planner.community.models import GeomType, Str, UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
              'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
              'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
              'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]')

_GPKG_DDL = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
       organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
       description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
       identifier TEXT UNIQUE, description TEXT DEFAULT '',
       last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
       min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
       CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
       geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
       CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
       CONSTRAINT uk_gc_table_name UNIQUE (table_name),
       CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
       CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
]


def _gpkg_register() -> None:
    """Make the SQLite file a GeoPackage (1.2) that QGIS/GDAL open: metadata tables and registrations."""
    bind = op.get_bind()
    bind.exec_driver_sql("PRAGMA application_id = 1196444487")  # 'GPKG'
    if bind.exec_driver_sql("PRAGMA user_version").scalar() in (0, None):
        bind.exec_driver_sql("PRAGMA user_version = 10200")
    for ddl in _GPKG_DDL:
        bind.exec_driver_sql(ddl)
    srs = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
           ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
           ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")]
    for row in srs:
        bind.exec_driver_sql("INSERT OR IGNORE INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
                             "organization_coordsys_id, definition, description) VALUES (?,?,?,?,?,?)", row)
    contents = [
        ("community_features", "features", "community_features", "Community map features (participatory resource map)", 4326),
        ("community_sessions", "attributes", "community_sessions", "Community mapping sessions", None),
        ("community_history", "attributes", "community_history", "Community map change history", None),
    ]
    for row in contents:
        bind.exec_driver_sql("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                             "srs_id) VALUES (?,?,?,?,?)", row)
    bind.exec_driver_sql("INSERT OR IGNORE INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, "
                         "srs_id, z, m) VALUES ('community_features', 'geom', 'GEOMETRY', 4326, 0, 0)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "community_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("village", Str(120), nullable=False),
        sa.Column("date", Str(10), nullable=False),
        sa.Column("participant_group", Str(20), nullable=False),
        sa.Column("age_band", Str(10)),
        sa.Column("participants_female", sa.Integer, nullable=False, server_default="0"),
        sa.Column("participants_male", sa.Integer, nullable=False, server_default="0"),
        sa.Column("facilitators", Str(120)),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "community_features",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", Str(36), nullable=False, unique=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("community_sessions.id"), nullable=False),
        sa.Column("category", Str(40), nullable=False),
        sa.Column("kind", Str(10), nullable=False),
        sa.Column("title", Str(120), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("condition", Str(20)),
        sa.Column("sufficiency", Str(20)),
        sa.Column("is_problem", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_wish", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("activity", Str(40)),
        sa.Column("author", Str(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("geom", GeomType, nullable=False),
    )
    op.create_index("ix_community_features_session_id", "community_features", ["session_id"])
    op.create_table(
        "community_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("feature_id", sa.Integer, nullable=False),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("action", Str(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("author", Str(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("old_attrs", sa.Text),
        sa.Column("new_attrs", sa.Text),
        sa.Column("old_wkt", sa.Text),
        sa.Column("new_wkt", sa.Text),
    )
    op.create_index("ix_community_history_feature_id", "community_history", ["feature_id"])
    if dialect == "postgresql":
        op.create_index("ix_community_features_geom", "community_features", ["geom"], postgresql_using="gist")
    elif dialect == "sqlite":
        _gpkg_register()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        bind = op.get_bind()
        bind.exec_driver_sql("DELETE FROM gpkg_geometry_columns WHERE table_name = 'community_features'")
        bind.exec_driver_sql("DELETE FROM gpkg_contents WHERE table_name IN "
                             "('community_features', 'community_sessions', 'community_history')")
    op.drop_table("community_history")
    op.drop_table("community_features")
    op.drop_table("community_sessions")
