"""Where the in-core terrain pipeline (``compute_terrain``, default ``breach_mfd``) peaks in memory.

    .venv/bin/python benchmarks/terrain_pipeline_mem.py [DEM]     # default: benchmarks/out/kg_10M.tif
    .venv/bin/python benchmarks/terrain_pipeline_mem.py --levels [DEM]   # and the four zone level rasters
    .venv/bin/python benchmarks/terrain_pipeline_mem.py --levels --hash [DEM]   # and SHA-1s of the outputs
    .venv/bin/python benchmarks/terrain_pipeline_mem.py --levels --tiled [DEM]  # the product's path from 20 M cells

One process (interpreter start and imports included): reads the GeoTIFF in float32, runs
``susceptibility.compute_terrain`` with the rules of ``layers/hazards.yaml`` and prints, at each
progress step, the resident set (``VmRSS``), its high-water mark (``VmHWM``) and the CPU seconds so
far, then the arrays the ``Terrain`` keeps (since 2026-12-06 in memory-mapped files, resident only while a
step reads them: ``Terrain.out_of_core``) and the process's peak RSS and CPU seconds. The DEM read is
dropped after ``compute_terrain`` (the terrain has it), as ``terrain_for_workspace`` does. ``--levels``: then
also the level rasters of ``hazards compute`` (flood HAND, mudflow, landslide, avalanche; no inventory or
lithology, no polygons), each followed by the same figures. ``--hash``: the SHA-1 of each level raster
(taken as it is made, ~nothing allocated) and, after the peak figure, of every array the ``Terrain``
keeps (its rasters and ``extra``), to compare outputs between two versions of the code. The 10 M-cell
grid is made by ``terrain_scale_bench.py`` (``grid_for(10)``). ``--tiled``: the terrain of the tiled path
(``tiled.compute_terrain_tiled``, as ``terrain_for_workspace`` does from ``tiled_min_cells``), out of core as
the product has it, then the same levels. To compare with other code, run the
script with ``PYTHONPATH`` pointing at that code (e.g. ``git archive <commit> gis_planner layers``
unpacked in a temporary folder).
"""
from __future__ import annotations

import hashlib
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


def sha1(a: np.ndarray) -> str:
    """SHA-1 of an array's bytes (C order), read a band of rows at a time."""
    h = hashlib.sha1()
    a = np.asarray(a)
    if a.ndim < 2:
        h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()
    for r0 in range(0, a.shape[0], 256):
        h.update(np.ascontiguousarray(a[r0:r0 + 256]).tobytes())
    return h.hexdigest()


def main(dem: str, levels: bool = False, hashes: bool = False, tiled: bool = False) -> None:
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

    if tiled:
        from gis_planner.hazards import tiled as TL

        z = np.asarray(z, dtype=np.float64)     # as terrain_for_workspace gives the tiled path its DEM
        terr = TL.compute_terrain_tiled(z, transform, crs, progress=step)
        getattr(terr, "out_of_core", lambda: None)()    # as terrain_for_workspace has it
    else:
        terr = S.compute_terrain(z, transform, crs, progress=step)
    del z                      # as in the product (terrain_for_workspace): the DEM lives on in the terrain
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
            print(f"{name:9s} levels {rss()}, CPU {cpu():.2f} s, cells with a level {int((lv > 0).sum()):,}"
                  + (f", sha1 {sha1(lv)}" if hashes else ""), flush=True)
            del lv
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, CPU {cpu():.2f} s, "
          f"load average {os.getloadavg()}", flush=True)
    if hashes:      # after the peak figure: reading the kept rasters may bring their pages back
        release = getattr(terr, "release", lambda: None)
        for k in ("dem", "filled", "fdir", "acc", "acc_mfd", "slope", "plan", "profile", "lakes"):
            print(f"sha1 {k} {getattr(terr, k).dtype} {sha1(getattr(terr, k))}", flush=True)
            release()
        for k, v in sorted(terr.extra.items()):
            if isinstance(v, np.ndarray):
                print(f"sha1 extra {k} {v.dtype} {v.shape} {sha1(v)}", flush=True)
                release()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a not in ("--levels", "--hash", "--tiled")]
    main(args[0] if args else str(HERE / "out" / "kg_10M.tif"), "--levels" in sys.argv[1:], "--hash" in sys.argv[1:],
         "--tiled" in sys.argv[1:])
