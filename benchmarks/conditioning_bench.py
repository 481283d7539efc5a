"""CPU seconds of the DEM conditioning (breach_mfd) against fill + D8 on a synthetic grid, alternating runs.

    python benchmarks/conditioning_bench.py [SIDE]        # SIDE² cells, default 3162 (10 M)

The grid: smoothed noise on a 460 m lattice in whole metres, resampled bilinearly to 40 m cells (like the
GEBCO-based demo DEM), falling northwards to southwards. Prints CPU and wall seconds per run, the parts of
breach_mfd (conditioning; D8 + MFD accumulation; one runout), peak RSS and the load average.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter, zoom  # noqa: E402

from gis_planner.hazards import conditioning as C  # noqa: E402
from gis_planner.hazards import terrain as T  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def grid(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    m = n // 12 + 1
    coarse = np.round(gaussian_filter(rng.normal(0, 1, (m, m)), 2) * 300 + 2000 - np.arange(m)[:, None] * 2.0)
    return zoom(coarse, 12, order=1)[:n, :n].copy()


def fill_d8(z):
    f, fd, _ = T.fill_depressions(z)
    return T.flow_accumulation(T.flow_direction_d8(f, 40, 40, flood_dir=fd))


def breach_mfd(z, parts):
    c0 = cpu()
    cond = C.condition_dem(z, 40, 40, max_breach_depth_m=30, max_breach_length_m=1000)
    c1 = cpu()
    T.flow_accumulation(cond.fdir)
    order = C.mfd_order(cond.routing, cond.fdir)
    C.mfd_accumulation(cond.routing, cond.fdir, 40, 40, channel_cells=5e6 / 1600, order=order)
    c2 = cpu()
    start = np.zeros(z.shape, bool)
    start[: z.shape[0] // 10] = True
    C.runout_energy_line(cond.routing, cond.fdir, start, 24, 40, 40, order=order)
    parts.append((round(c1 - c0, 2), round(c2 - c1, 2), round(cpu() - c2, 2)))


def main(side: int = 3162, repeats: int = 2) -> None:
    z = grid(side)
    print(f"cells {z.size:,}  load {os.getloadavg()}")
    small = z[:60, :60].copy()       # compile the kernels first
    fill_d8(small)
    breach_mfd(small, [])
    runs: dict[str, list] = {"fill_d8": [], "breach_mfd": []}
    parts: list = []
    for _ in range(repeats):
        for name in runs:
            c0, w0 = cpu(), time.perf_counter()
            fill_d8(z) if name == "fill_d8" else breach_mfd(z, parts)
            runs[name].append((round(cpu() - c0, 2), round(time.perf_counter() - w0, 2)))
    for name, r in runs.items():
        print(f"{name:11s} CPU s, wall s per run: {r}; median CPU {np.median([c for c, _ in r]):.2f}")
    print(f"breach_mfd parts (condition, D8+MFD accumulation, runout) CPU s: {parts}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB  load {os.getloadavg()}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
