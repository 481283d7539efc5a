"""Hand-computable test geometry in Kyrg-06 zone 4 (EPSG:7695)."""
from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box

CRS = 7695
X0, Y0 = 4_300_000.0, 4_720_000.0  # a point on the north shore of Issyk-Kul in zone 4


def square(x, y, size):
    """Axis-aligned square with lower-left corner (X0+x, Y0+y) and side ``size`` metres."""
    return box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size)


def rect(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def gdf(records, geoms, crs=CRS):
    return gpd.GeoDataFrame(records, geometry=list(geoms), crs=crs)


def stop_process(proc, timeout: float = 10.0) -> None:
    """Terminate a server subprocess started by a test (kill it if it does not stop in ``timeout`` s)."""
    import subprocess

    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
