"""GeoPackage spatial index (``gpkg_rtree_index`` extension) on the features' geometry; PostGIS: nothing to do.

The R-tree and its six triggers are exactly those of the GeoPackage 1.2 specification (the ones GDAL and QGIS
create and maintain). The triggers call ``ST_MinX``/``ST_MaxX``/``ST_MinY``/``ST_MaxY``/``ST_IsEmpty``: GDAL and
QGIS provide them, and gis_planner registers Python versions on its own SQLite connections
(:func:`gis_planner.community.models.register_gpkg_functions`).

Revision ID: 0002_gpkg_rtree
Revises: 0001_initial
Create Date: 2026-11-24
"""
from __future__ import annotations

from alembic import op

revision = "0002_gpkg_rtree"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

T, C, I = "community_features", "geom", "id"
R = f"rtree_{T}_{C}"
_VALUES = f"NEW.{I}, ST_MinX(NEW.{C}), ST_MaxX(NEW.{C}), ST_MinY(NEW.{C}), ST_MaxY(NEW.{C})"
_TRIGGERS = {
    "insert": f"AFTER INSERT ON {T} WHEN (NEW.{C} NOT NULL AND NOT ST_IsEmpty(NEW.{C})) "
              f"BEGIN INSERT OR REPLACE INTO {R} VALUES ({_VALUES}); END",
    "update1": f"AFTER UPDATE OF {C} ON {T} WHEN OLD.{I} = NEW.{I} AND (NEW.{C} NOTNULL AND NOT ST_IsEmpty(NEW.{C})) "
               f"BEGIN INSERT OR REPLACE INTO {R} VALUES ({_VALUES}); END",
    "update2": f"AFTER UPDATE OF {C} ON {T} WHEN OLD.{I} = NEW.{I} AND (NEW.{C} ISNULL OR ST_IsEmpty(NEW.{C})) "
               f"BEGIN DELETE FROM {R} WHERE id = OLD.{I}; END",
    "update3": f"AFTER UPDATE ON {T} WHEN OLD.{I} != NEW.{I} AND (NEW.{C} NOTNULL AND NOT ST_IsEmpty(NEW.{C})) "
               f"BEGIN DELETE FROM {R} WHERE id = OLD.{I}; INSERT OR REPLACE INTO {R} VALUES ({_VALUES}); END",
    "update4": f"AFTER UPDATE ON {T} WHEN OLD.{I} != NEW.{I} AND (NEW.{C} ISNULL OR ST_IsEmpty(NEW.{C})) "
               f"BEGIN DELETE FROM {R} WHERE id IN (OLD.{I}, NEW.{I}); END",
    "delete": f"AFTER DELETE ON {T} WHEN OLD.{C} NOT NULL BEGIN DELETE FROM {R} WHERE id = OLD.{I}; END",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    bind.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, "
        "definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, "
        "extension_name))")
    bind.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {R} USING rtree(id, minx, maxx, miny, maxy)")
    bind.exec_driver_sql(f"INSERT OR REPLACE INTO {R} SELECT {I}, ST_MinX({C}), ST_MaxX({C}), ST_MinY({C}), "
                         f"ST_MaxY({C}) FROM {T} WHERE {C} NOT NULL AND NOT ST_IsEmpty({C})")
    for name, body in _TRIGGERS.items():
        bind.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {R}_{name} {body}")
    bind.exec_driver_sql("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
                         "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", (T, C))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in _TRIGGERS:
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {R}_{name}")
    bind.exec_driver_sql(f"DROP TABLE IF EXISTS {R}")
    bind.exec_driver_sql("DELETE FROM gpkg_extensions WHERE table_name = ? AND extension_name = 'gpkg_rtree_index'",
                         (T,))
