"""Alembic environment: runs on the connection handed over by :func:`gis_planner.community.store.migrate`.

The same revision scripts work on SQLite/GeoPackage and PostgreSQL/PostGIS; dialect-specific steps
(GeoPackage registration, GiST index) are guarded inside the scripts.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

from gis_planner.community.models import Base

VERSION_TABLE = "community_alembic_version"


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # pragma: no cover - only programmatic use is supported
        raise RuntimeError("run the community migrations through gis_planner.community.store.migrate()")
    if connection.dialect.name == "postgresql":
        # two processes opening a fresh database at once must not both create the schema
        connection.execute(text("SELECT pg_advisory_xact_lock(74310007)"))
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "config", None) is not None:  # imported by Alembic (not by a doctest collector)
    run()
