"""gis_planner — spatial (Meikindik, section 6) and environment (Aiylana-choiro, section 7) sections of municipal
development programmes (SEDP) in Kyrgyzstan.

Public entry points::

    from gis_planner import Workspace, open_workspace, GisPlannerError
"""
from .errors import GisPlannerError
from .io.safety import configure_gdal as _configure_gdal
from .lazy import lazy_exports

_configure_gdal()  # no network access for GDAL, whatever an input file names (docs/security.md)


# Workspace and open_workspace are imported on first use (PEP 562): a process that only runs the terrain
# kernels (gis_planner.hazards.terrain / tiled) does not load geopandas, pandas and pyogrio.
__getattr__, __dir__ = lazy_exports(__name__, {"workspace": ("Workspace", "open_workspace")}, globals())
__version__ = "0.1.0"
__all__ = ["GisPlannerError", "Workspace", "open_workspace", "__version__"]
