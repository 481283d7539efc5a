"""Before/after figure of the DEM conditioning on the demo (docs/hazards.md).

    python docs/img/make_hazards_conditioning.py [WORKSPACE] [OUT.png]

Computes the demo terrain twice, with ``terrain.conditioning.method: fill_d8`` (v1: fill + D8) and
``breach_mfd`` (burned rivers, breach/fill, flats, MFD), and draws the flow accumulation and the flood
zones with their drainage side by side. Prints the areas per flood level inside the whole grid.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # this checkout's gis_planner and layers/

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from gis_planner import Workspace  # noqa: E402
from gis_planner.hazards import susceptibility as S  # noqa: E402


def run(ws, method: str):
    rules = copy.deepcopy(S.hazard_rules(ws))
    rules["terrain"]["conditioning"]["method"] = method
    terr = S.terrain_for_workspace(ws, rules)
    flood = S.flood_levels(terr, rules)
    acc = terr.acc_mfd if terr.acc_mfd is not None else terr.acc
    return terr, flood, acc, S.flood_drainage(terr, rules) & ~terr.lakes


def hillshade(z, res):
    gy, gx = np.gradient(np.nan_to_num(z, nan=float(np.nanmin(z))), res)
    s = np.arctan(np.hypot(gx, gy))
    asp = np.arctan2(-gx, gy)
    return 0.7071 * np.cos(s) + 0.7071 * np.sin(s) * np.cos(np.radians(315) - asp)


def main(ws_path="data/cadastre/demo", out="docs/img/hazards_conditioning_demo.png"):
    ws = Workspace(ws_path)
    (t0, f0, a0, d0), (t1, f1, a1, d1) = run(ws, "fill_d8"), run(ws, "breach_mfd")
    ha = t0.cell_area_m2 / 1e4
    for name, f in (("fill_d8", f0), ("breach_mfd", f1)):
        print(name, {lv: round(float((f == code).sum() * ha)) for code, lv in S.LEVEL_NAMES.items()})
    rows = slice(300, 1000)          # the foothills and the plain down to the lake
    hs = hillshade(t0.dem, t0.xres)[rows]
    lv_cmap = ListedColormap(["#ffffbf", "#fdae61", "#d7191c"])
    fig, axs = plt.subplots(2, 2, figsize=(12, 13), dpi=80)
    for col, (acc, flood, drain, lakes, title) in enumerate((
            (a0, f0, d0, t0.lakes, "before: fill + D8"),
            (a1, f1, d1, t1.lakes, "after: burn + breach/fill + flats + MFD"))):
        ax = axs[0, col]
        ax.imshow(np.log10(np.where(lakes, np.nan, acc))[rows], cmap="Blues", vmin=0, vmax=4)
        ax.set_title(f"{title}\nflow accumulation (log10 cells)")
        ax = axs[1, col]
        ax.imshow(hs, cmap="gray", vmin=0, vmax=1)
        ax.imshow(np.ma.masked_equal(flood[rows], 0), cmap=lv_cmap, vmin=1, vmax=3, alpha=0.9,
                  interpolation="nearest")
        ax.imshow(np.ma.masked_equal(lakes[rows].astype(np.uint8), 0), cmap=ListedColormap(["#6baed6"]),
                  interpolation="nearest")
        ax.imshow(np.ma.masked_equal(drain[rows].astype(np.uint8), 0), cmap=ListedColormap(["#08306b"]),
                  interpolation="nearest")
        ax.set_title("flood zones (HAND) and drainage ≥ 5 km²")
    for ax in axs.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axs[1, 1].legend(handles=[Patch(color=c, label=n) for c, n in
                              zip(["#d7191c", "#fdae61", "#ffffbf", "#08306b", "#6baed6"],
                                  ["high", "medium", "low", "drainage", "lake"])], loc="lower right")
    plt.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(out)
    from PIL import Image  # a palette image: a fifth of the size

    Image.open(out).convert("RGB").quantize(colors=128).save(out, optimize=True)
    print("written", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
