"""Sessions are versioned like features: ``version``, ``updated_at`` and ``deleted`` (soft delete) on
``community_sessions`` and a ``community_session_history`` table (who changed which field when), so a stale
session edit or delete is a conflict instead of silently overwriting someone else's change.

Existing sessions get version 1 and ``updated_at`` = ``created_at``; their history starts with the next change.

Revision ID: 0004_session_versions
Revises: 0003_created_by
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis_planner.community.models import Str, UTCDateTime

revision = "0004_session_versions"
down_revision = "0003_created_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("community_sessions", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("community_sessions", sa.Column("updated_at", UTCDateTime, nullable=True))
    op.add_column("community_sessions", sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE community_sessions SET updated_at = created_at WHERE updated_at IS NULL")
    op.create_table(
        "community_session_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("action", Str(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("author", Str(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("old_attrs", sa.Text),
        sa.Column("new_attrs", sa.Text),
    )
    op.create_index("ix_community_session_history_session_id", "community_session_history", ["session_id"])
    if bind.dialect.name == "sqlite":  # a GeoPackage attributes table, listed for QGIS/GDAL
        bind.exec_driver_sql(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
            "VALUES ('community_session_history', 'attributes', 'community_session_history', "
            "'Community mapping session change history', NULL)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DELETE FROM gpkg_contents WHERE table_name = 'community_session_history'")
    op.drop_index("ix_community_session_history_session_id", table_name="community_session_history")
    op.drop_table("community_session_history")
    if bind.dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place (keeps the GeoPackage registration)
        bind.exec_driver_sql("ALTER TABLE community_sessions DROP COLUMN deleted")
        bind.exec_driver_sql("ALTER TABLE community_sessions DROP COLUMN updated_at")
        bind.exec_driver_sql("ALTER TABLE community_sessions DROP COLUMN version")
    else:
        op.drop_column("community_sessions", "deleted")
        op.drop_column("community_sessions", "updated_at")
        op.drop_column("community_sessions", "version")
