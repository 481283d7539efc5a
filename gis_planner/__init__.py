"""gis_planner — spatial (Meikindik, section 6) and environment (Aiylana-choiro, section 7) sections of municipal
development programmes (SEDP) in Kyrgyzstan.

Public entry points::

    from gis_planner import Workspace, open_workspace, GisPlannerError
"""
import os as _os

# OpenBLAS (numpy's BLAS) lets its worker threads spin ~2**28 cycles waiting for work before they sleep,
# also right after numpy's import: ~0.1 CPU s burnt in every process on a multi-core machine that uses no
# BLAS at all (the terrain kernels, slope). 2**4 cycles instead: the threads stay, they sleep at once.
# Only applies when numpy is imported after gis_planner (the CLI, the app); a value already set is kept.
# benchmarks/results_hazards.md (2026-12-06, terrain-fast)
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .errors import GisPlannerError  # noqa: E402
from .io.safety import configure_gdal as _configure_gdal  # noqa: E402
from .lazy import lazy_exports  # noqa: E402

_configure_gdal()  # no network access for GDAL, whatever an input file names (docs/security.md)


# Workspace and open_workspace are imported on first use (PEP 562): a process that only runs the terrain
# kernels (gis_planner.hazards.terrain / tiled) does not load geopandas, pandas and pyogrio.
__getattr__, __dir__ = lazy_exports(__name__, {"workspace": ("Workspace", "open_workspace")}, globals())
__version__ = "0.1.0"
__all__ = ["GisPlannerError", "Workspace", "open_workspace", "__version__"]
