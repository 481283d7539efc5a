"""Robust import of layers into a workspace (readers, normalisation, validation/repair, report).

Public API::

    from gis_planner.io import import_layer, ImportReport, safe_extract, read_source

>>> from gis_planner.io import parse_field_map
>>> parse_field_map(["cadastral_no=Name"])
{'cadastral_no': 'Name'}
"""
from .layer_import import SRC_FID, import_layer
from .normalise import map_fields, normalise_attributes, parse_field_map
from .readers import RawSource, guess_encoding, read_source
from .report import ImportReport, warning_text
from .safezip import safe_extract
from .validate import clean_geometries, detect_swapped, find_duplicates, find_overlaps

__all__ = ["import_layer", "ImportReport", "warning_text", "safe_extract", "read_source", "RawSource",
           "guess_encoding", "map_fields", "normalise_attributes", "parse_field_map", "clean_geometries",
           "detect_swapped", "find_duplicates", "find_overlaps", "SRC_FID"]
