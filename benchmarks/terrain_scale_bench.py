"""Large DEMs: the tiled terrain pipeline against GRASS ``r.watershed -s`` (and the in-core kernels).

    .venv/bin/python benchmarks/terrain_scale_bench.py                  # 10 M and 40 M cells, 3 runs each
    .venv/bin/python benchmarks/terrain_scale_bench.py --sizes 300 --repeat 1 --no-incore --no-hydro  # an oblast
    .venv/bin/python benchmarks/terrain_scale_bench.py --sizes 10 --repeat 5 --slope-only  # slope vs gdaldem

Writes the section "Large DEMs" of ``benchmarks/results_hazards.md`` from the runs of every size saved in
``benchmarks/out/scale_<size>M.json`` (``--report``: rewrite it without running); the text before it and
after its end mark (the hand-written reading) is kept.

Grids: the GEBCO 2023 grid of Kyrgyzstan (``terrain_bench.prepare_dem``: 11.5 M cells at 374 m, 10.4 M
valid) resampled by ``gdalwarp -r bilinear`` to finer cells so that it has about 10, 40 or 300 M
cells: real relief with depressions, flats and nodata around the country, at the size of a 30 m
DEM of a rayon (10-40 M) or an oblast (300 M).

Each run is a **whole process** (interpreter start and imports included), run in turn with the
reference; the child reports its own resource usage (``getrusage``): CPU seconds (user + system),
wall seconds and peak RSS. The checks of the tiled outputs (outlets carry every valid cell, no
holes) run afterwards in another process that is not timed, as nothing checks r.watershed's. Medians over ``--repeat`` alternating runs. ``os.getloadavg()``
is printed before and after: on a shared machine wall times are not comparable, CPU seconds are.

- ours, tiled: GeoTIFF → tiled files → fill + flats + D8 + accumulation (``hydro``), and the whole
  terrain pipeline with slope and curvature (``pipeline``); ``--tile`` cells a side.
- ours, in-core: read the GeoTIFF, ``fill_depressions`` + ``flow_direction_d8`` + ``flow_accumulation``.
- GRASS ``r.watershed -s`` (D8, in memory), timed around the module alone (the import by
  ``r.in.gdal`` is not counted), peak RSS and CPU of the module process.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
RESULTS = HERE / "results_hazards.md"
MARK = "<!-- terrain_scale_bench -->"
MARK_END = "<!-- /terrain_scale_bench -->"   # text after it (the reading) is kept


def grid_for(mcells: float) -> Path:
    """The GEBCO Kyrgyzstan grid resampled to about ``mcells`` million cells (cached in benchmarks/out)."""
    import rasterio

    sys.path.insert(0, str(HERE))
    import terrain_bench

    base = terrain_bench.prepare_dem()
    dst = OUT / f"kg_{int(mcells)}M.tif"
    if dst.exists():
        return dst
    with rasterio.open(base) as ds:
        n0, res0 = ds.width * ds.height, ds.res[0]
    res = res0 * float(np.sqrt(n0 / (mcells * 1e6)))
    subprocess.run(["gdalwarp", "-q", "-r", "bilinear", "-tr", f"{res:.6f}", f"{res:.6f}", "-co", "TILED=YES",
                    "-co", "COMPRESS=DEFLATE", "-co", "BIGTIFF=YES", "-wm", "512", str(base), str(dst)], check=True)
    return dst


# ----------------------------------------------------------------------------- child processes
def _disk_bytes(folder) -> int:
    """Bytes of disk the files in ``folder`` occupy (allocated blocks: the rasters are sparse files)."""
    return sum(f.stat().st_blocks * 512 for f in Path(folder).iterdir() if f.is_file())


def child_tiled(dem: str, tile: int, slope: bool) -> dict:
    """The timed process: GeoTIFF -> tiled files -> the tiled pipeline. Its outputs stay in a folder
    that :func:`child_check` (another, untimed process) checks and removes."""
    from gis_planner.hazards import tiled as TL

    t0 = time.perf_counter()
    disk = [0]

    def step(frac, msg):   # progress on stderr (the parent lets it through) and the disk in use
        disk[0] = max(disk[0], _disk_bytes(tmp))
        print(f"  [{time.strftime('%H:%M:%S')}] {msg} (disk {disk[0] / 1e9:.1f} GB)", file=sys.stderr, flush=True)

    tmp = tempfile.mkdtemp(dir=OUT, prefix="tiled_")
    raster, transform, _ = TL.dem_to_raster(dem, tmp)
    t1 = time.perf_counter()
    res = TL.run_tiled(raster, abs(transform.a), abs(transform.e), tmp, tile, slope=slope, progress=step)
    disk[0] = max(disk[0], _disk_bytes(tmp))
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "compute_s": t2 - t1, "flat_passes": res["flat_passes"], "disk_gb": disk[0] / 1e9,
            "folder": tmp, "shape": list(raster.shape), "dem_dtype": str(raster.dtype), "slope": slope}


def child_check(folder: str, shape, dem_dtype: str, slope: bool) -> dict:
    """Checks of a tiled run's outputs (not timed): the outlets carry every valid cell, no holes."""
    from gis_planner.hazards.tiled import Raster

    f = Path(folder)
    acc = Raster(f / "acc.bin", shape, np.float64, create=False)
    fd = Raster(f / "fdir.bin", shape, np.int8, create=False)
    dem = Raster(f / "dem.bin", shape, dem_dtype, create=False)
    sl = Raster(f / "slope.bin", shape, np.float32, create=False) if slope else None
    outlet_sum, valid, n_out, max_acc = 0.0, 0, 0, 0.0
    acc_holes = slope_holes = bad_dir = acc_on_nodata = dem_valid = 0
    try:
        for r0 in range(0, shape[0], 256):
            r1 = min(shape[0], r0 + 256)
            a = acc.read(r0, r1, 0, shape[1])
            d = fd.read(r0, r1, 0, shape[1])
            ok = d != -2
            outlet_sum += float(np.nansum(a[d == -1]))
            n_out += int((d == -1).sum())
            valid += int(ok.sum())
            max_acc = max(max_acc, float(np.nanmax(a, initial=0.0)))
            acc_holes += int((ok & ~(a >= 1)).sum())                  # valid cell without accumulation
            bad_dir += int(((d < -2) | (d > 7)).sum())
            z = dem.read(r0, r1, 0, shape[1])
            dem_valid += int(np.isfinite(z).sum())
            if sl is not None:
                s = sl.read(r0, r1, 0, shape[1])
                slope_holes += int((np.isfinite(z) & ~np.isfinite(s)).sum())  # valid DEM cell without slope
            acc_on_nodata += int((~ok & ~np.isnan(a)).sum())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"outlet_sum": outlet_sum, "valid": valid, "dem_valid": dem_valid, "outlets": n_out, "max_acc": max_acc,
            "acc_holes": acc_holes, "slope_holes": slope_holes, "bad_dir": bad_dir, "acc_on_nodata": acc_on_nodata}


def run_tiled_checked(dem: str, tile: int, slope: bool) -> dict:
    """:func:`child_tiled` timed as a whole process, then :func:`child_check` on its outputs."""
    r = run_child_usage("child_tiled", dem, tile, slope)
    try:
        c = run_child_usage("child_check", r["folder"], r["shape"], r["dem_dtype"], slope)
    finally:
        shutil.rmtree(r.pop("folder"), ignore_errors=True)
    r.update({k: v for k, v in c.items() if k not in ("cpu_s", "peak_rss_mb", "wall_s")})
    return r


def child_incore(dem: str) -> dict:
    from gis_planner.hazards import terrain as T

    import rasterio   # after gis_planner, as in the product: its offline GDAL setup applies

    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(dem) as ds:   # 16 MB block cache, as the tiled path
        z = T.as_float_dem(ds.read(1), ds.nodata, copy=False)   # float32 throughout (the GeoTIFF's type)
        res = ds.res
    filled, flood_dir, _ = T.fill_depressions(z)
    del z
    fdir = T.flow_direction_d8(filled, res[0], res[1], flood_dir=flood_dir)
    del flood_dir, filled            # the outputs are directions and accumulation, as r.watershed's
    acc = T.flow_accumulation(fdir)
    return {"outlet_sum": float(np.nansum(acc[fdir == -1])), "valid": int((fdir != -2).sum())}


def child_slope(dem: str, out: str) -> dict:
    """Slope GeoTIFF -> GeoTIFF as ``gdaldem slope`` does it (float32, nodata -9999, an uncompressed
    striped GTiff as gdaldem's default), in a whole process."""
    from gis_planner.hazards import surface as T   # numpy only: no numba in this process

    import rasterio   # after gis_planner, as in the product: its offline GDAL setup applies

    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(dem) as ds:
        z = T.as_float_dem(ds.read(1), ds.nodata, copy=False)
        prof = {"driver": "GTiff", "width": ds.width, "height": ds.height, "count": 1, "dtype": "float32",
                "crs": ds.crs, "transform": ds.transform, "nodata": -9999.0}
        res = ds.res
    slope, _ = T.slope_aspect(z, res[0], res[1], aspect=False)
    del z
    slope[np.isnan(slope)] = -9999.0
    with rasterio.Env(GDAL_CACHEMAX=16), rasterio.open(out, "w", **prof) as ds:
        ds.write(slope, 1)
    return {"cells": int(slope.size)}


# Linux keeps in a process's peak RSS (``ru_maxrss``) the peak of the memory it had before ``exec``: a child
# spawned by this (large) process reports at least this process's peak (a 26 MB child reported 312 MB). A
# Python child reads its own high-water mark (``VmHWM``, reset by ``exec``) instead; an external program is
# started by a small launcher process, so what it inherits is the launcher's few MB, not ours.
_LAUNCH = ("import os, sys, json, subprocess; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
           "print(json.dumps({'rc': os.waitstatus_to_exitcode(st), 'cpu_s': ru.ru_utime + ru.ru_stime, "
           "'peak_rss_mb': ru.ru_maxrss / 1024}))")


def external_usage(cmd: list[str]) -> dict:
    """``cmd`` as a whole process: its own CPU seconds and peak RSS (``os.wait4`` in a small launcher)."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-S", "-c", _LAUNCH, *cmd], stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if res.returncode or out.pop("rc"):
        raise RuntimeError(f"{cmd[0]} failed, see the messages above")
    return {**out, "wall_s": wall}


def gdaldem_slope(dem: str, out: str) -> dict:
    """``gdaldem slope`` as a whole process: its own CPU seconds and peak RSS."""
    return external_usage(["gdaldem", "slope", "-q", dem, out])


def slope_diff(a: str, b: str) -> dict:
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        sa, sb = x.read(1, masked=True), y.read(1, masked=True)
    both = ~sa.mask & ~sb.mask
    return {"max_abs_diff_deg": float(np.abs(sa.data[both] - sb.data[both]).max()), "compared": int(both.sum()),
            "same_nodata": bool(np.array_equal(sa.mask, sb.mask))}


def own_peak_mb(usage) -> float:
    """This process's own peak RSS in MB: ``VmHWM`` (not what it inherited at ``exec``, see ``_LAUNCH``),
    else ``ru_maxrss`` of ``usage``."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return usage.ru_maxrss / 1024


def run_child_usage(fn: str, *args) -> dict:
    """The child's own CPU seconds and peak RSS (resource usage of that one process). The child imports
    ``gis_planner`` before numpy, as the product's processes (CLI, app) do: its process settings
    (OpenBLAS thread timeout, GDAL offline) apply as they do there."""
    code = (f"import sys, json, resource; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(HERE)!r}); "
            f"import gis_planner; import terrain_scale_bench as b; r = b.{fn}(*{args!r}); "
            f"u = resource.getrusage(resource.RUSAGE_SELF); "
            f"r.update(cpu_s=u.ru_utime + u.ru_stime, peak_rss_mb=b.own_peak_mb(u)); print(json.dumps(r))")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if res.returncode:   # its stderr went to ours
        raise RuntimeError(f"{fn} failed (exit {res.returncode}), see the messages above")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def grass_watershed(dem: Path) -> dict:
    import terrain_bench

    r = terrain_bench.grass_watershed(dem, tag=f"rw_{dem.stem}")
    return {"wall_s": r["seconds"], "cpu_s": r["cpu_s"], "peak_rss_mb": r["peak_rss_mb"]}


def med(runs, key):
    return float(np.median([r[key] for r in runs]))


LABELS = (("grass", "r.watershed -s (module)"), ("hydro", "tiled fill + D8 + acc"),
          ("pipeline", "tiled + slope + curvature"), ("incore", "in-core fill + D8 + acc"))


def section(saved: list[dict]) -> list[str]:
    """The "Large DEMs" section from the saved runs of every size (``benchmarks/out/scale_<size>M.json``)."""
    lines = [MARK, "## Large DEMs: tiled terrain vs r.watershed (`benchmarks/terrain_scale_bench.py`)", "",
             "Whole processes (interpreter start and imports included), each size in its own invocation; "
             "CPU = user + system seconds of the process, peak RSS of that process (for GRASS the "
             "`r.watershed` module process; the `r.in.gdal` import is not counted); medians of the "
             "alternating runs. On a shared machine the wall seconds are an indication only.", ""]
    lines += ["| grid | run | runs | CPU s | wall s | peak RSS MB | CPU / r.watershed | RSS / r.watershed |",
              "|---|---|---|---|---|---|---|---|"]
    notes = []
    for rec in sorted(saved, key=lambda r: r["size"]):
        runs = rec["runs"]
        g = runs.get("grass") or []
        shape, res = rec["shape"], rec["res"]
        grid = f"{shape[0]} × {shape[1]} = {shape[0] * shape[1] / 1e6:.1f} M cells, {res:.0f} m"
        for name, label in LABELS:
            rr = runs.get(name) or []
            if not rr:
                continue
            ratio_cpu = f"{med(rr, 'cpu_s') / med(g, 'cpu_s'):.2f}" if g and name != "grass" else "—"
            ratio_rss = f"{med(rr, 'peak_rss_mb') / med(g, 'peak_rss_mb'):.2f}" if g and name != "grass" else "—"
            lines.append(f"| {grid} | {label} | {len(rr)} | {med(rr, 'cpu_s'):.1f} | {med(rr, 'wall_s'):.1f} | "
                         f"{med(rr, 'peak_rss_mb'):,.0f} | {ratio_cpu} | {ratio_rss} |")
        h = (runs.get("hydro") or runs.get("pipeline"))[-1]
        holes = f"; valid cells without accumulation {h['acc_holes']}" if "acc_holes" in h else ""
        if h.get("slope_holes") is not None and runs.get("pipeline"):
            holes += f", without slope {runs['pipeline'][-1]['slope_holes']}"
        disk = f"; tiled files on disk {h['disk_gb']:.1f} GB" if "disk_gb" in h else ""
        lines.append(f"| | check: outlets carry {h['outlet_sum']:,.0f} of {h['valid']:,} valid cells"
                     f"{holes}; flat passes {h['flat_passes']}{disk} | | | | | | |")
        l0, l1 = rec["load_start"], rec["load_end"]
        notes.append(f"- {rec['size']:g} M: run {rec.get('started', '?')} to {rec['date'][11:]} on {rec['machine']}, load average (1/5/15 min) at "
                     f"start {l0[0]:.1f}/{l0[1]:.1f}/{l0[2]:.1f}, at end {l1[0]:.1f}/{l1[1]:.1f}/{l1[2]:.1f}; "
                     f"tile {rec['tile']}; code at {rec.get('commit', '?')}; `{rec['command']}`" + ("" if g else "; r.watershed not run")
                     + (f" ({rec['note']})" if rec.get("note") else ""))
    slope_lines = []
    for rec in sorted(saved, key=lambda r: r["size"]):
        runs, shape = rec["runs"], rec["shape"]
        ours, gd = runs.get("slope") or [], runs.get("gdaldem") or []
        if not ours or not gd:
            continue
        grid = f"{shape[0]} × {shape[1]} = {shape[0] * shape[1] / 1e6:.1f} M cells, {rec['res']:.0f} m"
        for name, rr in (("gdaldem slope", gd), ("ours: slope_aspect", ours)):
            ratio = "—" if rr is gd else (f"{med(ours, 'cpu_s') / med(gd, 'cpu_s'):.2f} | "
                                          f"{med(ours, 'peak_rss_mb') / med(gd, 'peak_rss_mb'):.2f} | "
                                          f"{med(ours, 'wall_s') / med(gd, 'wall_s'):.2f}")
            slope_lines.append(f"| {grid} | {name} | {len(rr)} | {med(rr, 'cpu_s'):.2f} | {med(rr, 'wall_s'):.2f} | "
                               f"{med(rr, 'peak_rss_mb'):,.0f} | {ratio if rr is not gd else '— | — | —'} |")
        d = rec.get("slope_check") or {}
        if d:
            slope_lines.append(f"| | check: largest difference ours − gdaldem {d['max_abs_diff_deg']:.2e}° on {d['compared']:,} cells, "
                               f"same nodata {d['same_nodata']}; {rec.get('slope_note', '')} | | | | | | | |")
    if slope_lines:
        lines += ["", "Slope, GeoTIFF → GeoTIFF, whole processes against `gdaldem slope` (uncompressed GTiff out "
                  "on both sides; `--slope-only` runs, alternating, medians):", "",
                  "| grid | run | runs | CPU s | wall s | peak RSS MB | CPU / gdaldem | RSS / gdaldem | wall / gdaldem |",
                  "|---|---|---|---|---|---|---|---|---|"] + slope_lines
    return lines + [""] + notes + [""]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=float, nargs="+", default=[10, 40], help="million cells")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--no-incore", action="store_true")
    ap.add_argument("--no-grass", action="store_true")
    ap.add_argument("--no-hydro", action="store_true", help="only the whole tiled pipeline (with slope)")
    ap.add_argument("--report", action="store_true", help="run nothing: rewrite the section from the saved runs")
    ap.add_argument("--slope-only", action="store_true",
                    help="only slope against gdaldem slope (whole processes), added to the saved runs of the size")
    args = ap.parse_args()
    if args.report:
        args.sizes = []
    import rasterio

    OUT.mkdir(exist_ok=True)
    have_grass = shutil.which("grass") is not None and not args.no_grass
    command = "python benchmarks/terrain_scale_bench.py " + " ".join(sys.argv[1:])
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "?"
    for size in args.sizes:
        dem = grid_for(size)
        with rasterio.open(dem) as ds:
            shape, res = (ds.height, ds.width), ds.res[0]
        if args.slope_only:
            saved_f = OUT / f"scale_{size:g}M.json"
            rec = json.loads(saved_f.read_text()) if saved_f.exists() else {
                "size": size, "shape": shape, "res": res, "runs": {}, "tile": args.tile, "command": command,
                "commit": commit, "load_start": os.getloadavg(), "load_end": os.getloadavg(),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "started": "?",
                "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
            l0, t0 = os.getloadavg(), dt.datetime.now(dt.timezone.utc).strftime("%H:%M")
            ours, gd = [], []
            for k in range(args.repeat):   # ours, then gdaldem, in turn
                ours.append(run_child_usage("child_slope", str(dem), str(OUT / "slope_ours.tif")))
                gd.append(gdaldem_slope(str(dem), str(OUT / "slope_gdaldem.tif")))
                print(f"slope run {k + 1}: ours {json.dumps(ours[-1])} gdaldem {json.dumps(gd[-1])}", flush=True)
            l1 = os.getloadavg()
            rec["runs"]["slope"], rec["runs"]["gdaldem"] = ours, gd
            rec["slope_check"] = slope_diff(str(OUT / "slope_ours.tif"), str(OUT / "slope_gdaldem.tif"))
            rec["slope_note"] = (f"run {t0} to {dt.datetime.now(dt.timezone.utc).strftime('%H:%M')} UTC, load "
                                 f"{l0[0]:.1f} → {l1[0]:.1f}, code {commit}, `{command}`")
            saved_f.write_text(json.dumps(rec, indent=1))
            continue
        load0 = os.getloadavg()
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        print(f"{size:g} M ({shape[0]} x {shape[1]}): load average at start {load0}", flush=True)
        runs = {"hydro": [], "pipeline": [], "incore": [], "grass": []}
        for k in range(args.repeat):   # ours, then the reference, in turn
            if not args.no_hydro:
                runs["hydro"].append(run_tiled_checked(str(dem), args.tile, False))
            runs["pipeline"].append(run_tiled_checked(str(dem), args.tile, True))
            print(f"{size:g} M run {k + 1} pipeline: {json.dumps(runs['pipeline'][-1])}", flush=True)
            if have_grass:
                runs["grass"].append(grass_watershed(dem))
            if not args.no_incore:
                runs["incore"].append(run_child_usage("child_incore", str(dem)))
            print(f"{size:g} M run {k + 1}: " + json.dumps({n: v[-1] for n, v in runs.items() if v}), flush=True)
        load1 = os.getloadavg()
        print(f"load average at end: {load1}", flush=True)
        rec = {"size": size, "shape": shape, "res": res, "runs": runs, "tile": args.tile, "command": command,
               "commit": commit,
               "load_start": load0, "load_end": load1, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "started": started + " UTC", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        (OUT / f"scale_{size:g}M.json").write_text(json.dumps(rec, indent=1))
    saved = [json.loads(f.read_text()) for f in sorted(OUT.glob("scale_*M.json"))]
    lines = section(saved)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    head = text.split(MARK)[0].rstrip() + "\n\n" if text else ""
    tail = text.split(MARK_END, 1)[1] if MARK_END in text else "\n"   # hand-written reading, kept
    RESULTS.write_text(head + "\n".join(lines) + MARK_END + tail, encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
