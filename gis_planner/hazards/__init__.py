"""Natural hazards: terrain analysis, susceptibility zones, official zones, exposure.

- :mod:`~gis_planner.hazards.terrain` — numpy/numba kernels on DEM arrays (slope/aspect as gdaldem,
  priority-flood, D8, flow accumulation, streams, HAND, curvature, alpha-angle runout).
- :mod:`~gis_planner.hazards.susceptibility` — flood, mudflow, landslide and avalanche zones from the
  workspace DEM into the ``hazard_zones`` layer (computed rows only; official rows are kept).
- :mod:`~gis_planner.hazards.official` — official (emergency authority) zones: import, compare, and
  :func:`effective_hazard_zones`, the zones that govern (official wins where both exist).
- :mod:`~gis_planner.hazards.exposure` — what lies in each hazard type and level; relocation list.

Example
-------
>>> from gis_planner import Workspace, hazards              # doctest: +SKIP
>>> ws = Workspace("data/cadastre/demo")                   # doctest: +SKIP
>>> hazards.run_hazards(ws)                                # doctest: +SKIP
>>> hazards.exposure_table(ws)                             # doctest: +SKIP
"""
from ..lazy import lazy_exports

# the public names, imported from their submodule on first use (PEP 562): the terrain kernels
# (``gis_planner.hazards.terrain`` / ``tiled``) then load without geopandas, shapely and pandas,
# ~120 MB less in a terrain-only process (benchmarks/results_hazards.md).
_EXPORTS = {
    "exposure": ("exclusive_levels", "exposure_table", "house_plot_mask", "relocation_candidates"),
    "official": ("OFFICIAL", "compare_official_computed", "effective_hazard_zones", "import_official_zones",
                 "is_official", "mark_official", "read_hazard_zones", "split_zones"),
    "susceptibility": ("HAZARD_TYPES", "Terrain", "avalanche_levels", "compute_hazard_zones", "compute_terrain",
                       "flood_levels", "hazard_rules", "landslide_levels", "levels_to_polygons", "load_dem",
                       "mudflow_levels", "run_hazards", "store_hazard_zones", "terrain_for_workspace"),
}
__all__ = sorted(n for names in _EXPORTS.values() for n in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
