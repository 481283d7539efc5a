"""Community maps (participatory resource maps): a safe, versioned store, review and exchange.

Public API::

    from gis_planner.community import open_store, ConflictError
    store = open_store(ws)                       # <ws>/community.gpkg, or PostGIS via GIS_PLANNER_DATABASE_URL
    sid = store.create_session("Tört-Kül", "2026-05-12", "women", age_band="18-35", participants_female=24)
    f = store.add_feature(sid, geometry, "spring", "Spring above the village", author="A.K.")
    f = store.update_feature(f.id, f.version, "B.T.", condition="needs_repair")   # ConflictError if moved on
    store.delete_feature(f.id, f.version, "B.T."); store.restore_feature(...); store.history(f.id)
    store.features(session_id=sid)               # GeoDataFrame, EPSG:4326

Review (:mod:`.review`) and import/export (:mod:`.exchange`) are imported lazily::

    from gis_planner.community import review, exchange

Photos (:mod:`.media`: ``store.add_attachment`` / ``attachments`` / ``get_attachment`` / ``delete_attachment``)
and phones in the field (:mod:`.fieldforms`: XLSForm for ODK/KoBo, KoBo/ODK, CoMapeo and GPX importers).

See ``docs/community.md``.
"""
from .store import (ATTRIBUTES, KINDS, CommunityStore, ConflictError, FeatureRecord, categories, category_table,
                    code_options, limits, open_store, rules, store_path)

__all__ = ["open_store", "CommunityStore", "ConflictError", "FeatureRecord", "categories", "category_table",
           "code_options", "rules", "limits", "store_path", "ATTRIBUTES", "KINDS"]
