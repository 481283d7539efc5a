"""gis_planner — spatial (Meikindik, section 6) and environment (Aiylana-choiro, section 7) sections of municipal
development programmes (SEDP) in Kyrgyzstan.

Public entry points::

    from gis_planner import Workspace, open_workspace, GisPlannerError
"""
from .errors import GisPlannerError
from .workspace import Workspace, open_workspace
from .io.safety import configure_gdal as _configure_gdal

_configure_gdal()  # no network access for GDAL, whatever an input file names (docs/security.md)

__version__ = "0.1.0"
__all__ = ["GisPlannerError", "Workspace", "open_workspace", "__version__"]
