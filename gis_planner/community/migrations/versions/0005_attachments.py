"""Photos of features: ``community_attachments`` (bytes in the store: GeoPackage BLOB / PostgreSQL bytea).

On the GeoPackage the table is registered in ``gpkg_contents`` as an attribute table, so QGIS and GDAL
list it next to the features (related by ``feature_id``).

Only ``down_revision`` names the previous revision: re-chain this script by changing that one string.

Revision ID: 0005_attachments
Revises: 0003_created_by
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis_planner.community.models import Str, UTCDateTime

revision = "0005_attachments"
down_revision = "0004_session_versions"
branch_labels = None
depends_on = None

T = "community_attachments"


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("feature_id", sa.Integer, sa.ForeignKey("community_features.id"), nullable=False),
        sa.Column("filename", Str(120), nullable=False),
        sa.Column("mime", Str(40), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", Str(64), nullable=False),
        sa.Column("author", Str(40), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("exif_stripped", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_community_attachments_feature_id", T, ["feature_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
                             "VALUES (?, 'attributes', ?, 'Photos of community map features')", (T, T))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DELETE FROM gpkg_contents WHERE table_name = ?", (T,))
    op.drop_index("ix_community_attachments_feature_id", table_name=T)
    op.drop_table(T)
