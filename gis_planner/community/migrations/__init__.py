"""Alembic migrations of the community-map store (run programmatically by ``gis_planner.community.store``)."""
