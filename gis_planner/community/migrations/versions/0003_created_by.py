"""``created_by`` on features: who drew it; ``author`` is now who last changed its content.

Existing rows get ``created_by`` = ``author`` (until this revision ``author`` never changed after creation).

Revision ID: 0003_created_by
Revises: 0002_gpkg_rtree
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis_planner.community.models import Str

revision = "0003_created_by"
down_revision = "0002_gpkg_rtree"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("community_features", sa.Column("created_by", Str(40), nullable=True))
    op.execute("UPDATE community_features SET created_by = author WHERE created_by IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a column in place (keeps the GeoPackage registration and R-tree triggers)
        op.get_bind().exec_driver_sql("ALTER TABLE community_features DROP COLUMN created_by")
    else:
        op.drop_column("community_features", "created_by")
