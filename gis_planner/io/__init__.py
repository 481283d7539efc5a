"""Robust import of layers into a workspace (readers, normalisation, validation/repair, report).

Public API::

    from gis_planner.io import import_layer, ImportReport, safe_extract, read_source

>>> from gis_planner.io import parse_field_map
>>> parse_field_map(["cadastral_no=Name"])
{'cadastral_no': 'Name'}
"""
from ..lazy import lazy_exports

# the public names, imported from their submodule on first use (PEP 562): ``gis_planner.io.safety``
# (GDAL's offline configuration, run by ``import gis_planner``) then loads without geopandas/pandas.
_EXPORTS = {
    "layer_import": ("SRC_FID", "import_layer"),
    "normalise": ("map_fields", "normalise_attributes", "parse_field_map"),
    "readers": ("RawSource", "guess_encoding", "read_source"),
    "report": ("ImportReport", "warning_text"),
    "safezip": ("safe_extract",),
    "validate": ("clean_geometries", "detect_swapped", "find_duplicates", "find_overlaps"),
}
__all__ = ["import_layer", "ImportReport", "warning_text", "safe_extract", "read_source", "RawSource",
           "guess_encoding", "map_fields", "normalise_attributes", "parse_field_map", "clean_geometries",
           "detect_swapped", "find_duplicates", "find_overlaps", "SRC_FID"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
