"""Where the in-core terrain pipeline (``compute_terrain``, default ``breach_mfd``) peaks in memory.

    .venv/bin/python benchmarks/terrain_pipeline_mem.py [DEM]     # default: benchmarks/out/kg_10M.tif
    .venv/bin/python benchmarks/terrain_pipeline_mem.py --levels [DEM]   # and the four zone level rasters

One process (interpreter start and imports included): reads the GeoTIFF in float32, runs
``susceptibility.compute_terrain`` with the rules of ``layers/hazards.yaml`` and prints, at each
progress step, the resident set (``VmRSS``), its high-water mark (``VmHWM``) and the CPU seconds so
far, then the arrays the ``Terrain`` keeps and the process's peak RSS and CPU seconds. ``--levels``: then
also the level rasters of ``hazards compute`` (flood HAND, mudflow, landslide, avalanche; no inventory or
lithology, no polygons), each followed by the same figures. The 10 M-cell
grid is made by ``terrain_scale_bench.py`` (``grid_for(10)``). To compare with other code, run the
script with ``PYTHONPATH`` pointing at that code (e.g. ``git archive <commit> gis_planner layers``
unpacked in a temporary folder).
"""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def rss() -> str:
    d = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return f"RSS {int(d['VmRSS'].split()[0]) // 1024:5d} MB, peak {int(d['VmHWM'].split()[0]) // 1024:5d} MB"


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main(dem: str, levels: bool = False) -> None:
    print(f"load average {os.getloadavg()}", flush=True)
    from gis_planner.hazards import susceptibility as S
    from gis_planner.hazards import terrain as T

    import rasterio   # after gis_planner, as in the product: its offline GDAL setup applies

    print(f"imports            {rss()}, CPU {cpu():.2f} s", flush=True)
    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(dem) as ds:
        try:
            z = T.as_float_dem(ds.read(1), ds.nodata, copy=False)
        except TypeError:                       # older code: always a copy
            z = T.as_float_dem(ds.read(1), ds.nodata)
        transform, crs = ds.transform, ds.crs
    print(f"read {z.shape} {z.dtype} {rss()}, CPU {cpu():.2f} s", flush=True)

    def step(frac, msg):
        print(f"  step {frac:.2f} (before it) {rss()}, CPU {cpu():.2f} s", flush=True)

    terr = S.compute_terrain(z, transform, crs, progress=step)
    print(f"done               {rss()}, CPU {cpu():.2f} s")
    seen, kept = set(), []
    for k, v in list(vars(terr).items()) + list(terr.extra.items()):
        if isinstance(v, np.ndarray) and id(v) not in seen:
            seen.add(id(v))
            kept.append((v.nbytes / 1e6, k, str(v.dtype)))
    print("kept arrays (MB): " + ", ".join(f"{k} {d} {mb:.0f}" for mb, k, d in sorted(kept, reverse=True)))
    if levels:
        rules = S.hazard_rules()
        for name in ("flood", "mudflow", "landslide", "avalanche"):
            lv = getattr(S, f"{name}_levels")(terr, rules)
            print(f"{name:9s} levels {rss()}, CPU {cpu():.2f} s, cells with a level {int((lv > 0).sum()):,}",
                  flush=True)
            del lv
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, CPU {cpu():.2f} s, "
          f"load average {os.getloadavg()}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--levels"]
    main(args[0] if args else str(HERE / "out" / "kg_10M.tif"), "--levels" in sys.argv[1:])
