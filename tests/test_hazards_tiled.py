"""Tiled (out-of-core) terrain kernels against the in-core kernels and analytic DEMs.

Tile sizes deliberately do not divide the grid, depressions and flats cross tile edges, and nodata
and lakes touch tile borders.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gis_planner.hazards import terrain as T
from gis_planner.hazards import tiled as TL


def in_core(z, lakes=None, xres=1.0, yres=1.0):
    filled, flood_dir, _ = T.fill_depressions(z, lakes)
    fdir = T.flow_direction_d8(filled, xres, yres, flood_dir=flood_dir, outlets=lakes)
    return filled, fdir


def random_dem(seed, rows, cols, flats=False, holes=False, lakes=False):
    rng = np.random.default_rng(seed)
    z = rng.random((rows, cols)) * 10
    if flats:
        z = np.round(z)          # many equal cells: filled depressions and flats across tile edges
    if holes:
        z[rng.random(z.shape) < 0.08] = np.nan
    lk = (rng.random(z.shape) < 0.02) if lakes else None
    return z, lk


CASES = [  # seed, rows, cols, tile, flats, holes, lakes
    (1, 37, 53, 7, False, False, False),
    (2, 41, 29, 6, True, False, False),
    (3, 33, 47, 5, True, True, False),
    (4, 50, 31, 9, False, True, True),
    (5, 23, 61, 4, True, True, True),
    (6, 64, 64, 13, True, False, True),
]


@pytest.mark.parametrize("seed,rows,cols,tile,flats,holes,lakes", CASES)
def test_tiled_equals_in_core_on_random_dems(seed, rows, cols, tile, flats, holes, lakes):
    z, lk = random_dem(seed, rows, cols, flats, holes, lakes)
    filled, fdir = in_core(z, lk, 10.0, 12.5)
    res = TL.tiled_hydrology(z, 10.0, 12.5, tile=tile, outlets=lk, slope=True)
    # fill: identical elevations (Barnes 2016 is exact)
    assert np.array_equal(res["filled"], filled, equal_nan=True)
    # D8: identical wherever a cell has a lower neighbour, on nodata, and on outlets
    steep = T.flow_direction_d8(filled, 10.0, 12.5, outlets=lk) != T.NO_OUTFLOW
    assert np.array_equal(res["fdir"][steep], fdir[steep])
    # flats: the same answer whatever the tiling (one tile = the whole grid in memory)
    whole = TL.tiled_hydrology(z, 10.0, 12.5, tile=max(rows, cols), outlets=lk)
    assert np.array_equal(res["fdir"], whole["fdir"])
    assert np.array_equal(res["acc"], whole["acc"], equal_nan=True)
    # accumulation: identical to the in-core kernel on the same directions; no cycles; conserves cells
    acc_core = T.flow_accumulation(res["fdir"])
    assert np.array_equal(res["acc"], acc_core, equal_nan=True)
    valid = np.isfinite(z)
    assert np.nansum(res["acc"][res["fdir"] == T.NO_OUTFLOW]) == valid.sum()
    # flats drain towards their exit: every flat cell that is not an outlet has a direction
    assert (res["fdir"][valid] >= -1).all()
    # slope and curvature with a one-cell halo: identical values (edges extrapolated as in-core)
    s, _ = T.slope_aspect(z, 10.0, 12.5, edges="linear", aspect=False)
    prof, plan = T.curvature(z, 10.0, 12.5, edges="linear")
    assert np.array_equal(res["slope"], s, equal_nan=True)
    assert np.array_equal(res["profile"], prof, equal_nan=True)
    assert np.array_equal(res["plan"], plan, equal_nan=True)


def test_tiled_accumulation_of_the_in_core_directions():
    """Barnes 2017 by tiles gives the in-core accumulation for any acyclic D8 raster (here the
    in-core directions with their flood-order flats)."""
    z, lk = random_dem(7, 45, 38, flats=True, holes=True, lakes=True)
    _, fdir = in_core(z, lk)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        r = TL.Raster(Path(tmp) / "fdir_in.npy", fdir.shape, np.int8)
        r.write(0, 0, fdir)
        acc = TL.tiled_accumulation(r, tmp, 8).load(mmap=False)
    assert np.array_equal(acc, T.flow_accumulation(fdir), equal_nan=True)


def test_closed_basin_across_four_tiles_fills_to_its_spill():
    """A bowl centred on a tile corner, rim 20 m with a notch at 12 m: filled to exactly 12 m."""
    n = 21
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(yy - 10, xx - 10)
    z = np.where(r <= 6, 5.0 + r, 20.0)      # bowl floor 5 m, walls up to the 20 m rim
    z[10, 16:] = [11.0, 12.0, 12.0, 9.0, 8.0]  # notch eastwards: spill at 12 m
    res = TL.tiled_hydrology(z, 1.0, 1.0, tile=10)   # the bowl centre is on the corner of 4 tiles
    filled, _ = in_core(z)
    assert np.array_equal(res["filled"], filled)
    assert res["filled"][10, 10] == 12.0                 # 7 m of fill at the bottom
    assert (res["filled"][r <= 6] == 12.0).all()
    # all of the bowl drains out through the notch: the last notch cell carries the bowl and the notch
    inside = int((r <= 6).sum())
    assert res["acc"][10, 20] >= inside + 5


def test_v_valley_matches_in_core_exactly_and_outlet_takes_all():
    rows, cols = 23, 17
    x = np.abs(np.arange(cols) - cols // 2) * 10.0        # sides fall 10 m per cell to the centre column
    y = (rows - 1 - np.arange(rows)) * 1.0                # the thalweg falls 1 m per row southwards
    z = y[:, None] + x[None, :]
    filled, fdir = in_core(z, None, 5.0, 5.0)
    res = TL.tiled_hydrology(z, 5.0, 5.0, tile=6)
    assert np.array_equal(res["fdir"], fdir)              # no flats: identical directions
    assert np.array_equal(res["acc"], T.flow_accumulation(fdir))
    # every cell (border cells too: each has a lower neighbour) drains to the foot of the thalweg
    assert res["acc"][rows - 1, cols // 2] == rows * cols
    assert (res["fdir"][:-1, cols // 2] == 2).all()          # the thalweg runs south


@pytest.mark.parametrize("exit_row", [0, -1])
@pytest.mark.parametrize("flat_budget", [10 ** 6, 0])
def test_flat_with_one_outlet_drains_to_it_across_tiles(exit_row, flat_budget):
    """A 20 m plateau enclosed by a 30 m wall with one gap at 10 m: every plateau cell drains to the
    gap, along the shortest 8-connected route (the flat distance crosses 3 × 3 tiles). Solved in memory
    (a budget above the flat: 0 passes) or by the tiled relaxation (budget 0): its first sweep visits the tiles
    north to south, so with the gap on the north border one sweep settles every distance (no tile can
    improve one already run), with the gap on the south border they must come back north later."""
    n = 17
    z = np.full((n, n), 30.0)
    z[1:-1, 1:-1] = 20.0
    z[exit_row, 3] = 10.0                                 # the only exit
    res = TL.tiled_hydrology(z, 1.0, 1.0, tile=6, flat_budget=flat_budget)
    if flat_budget:
        assert res["flat_passes"] == 0
    else:
        assert res["flat_passes"] == 1 if exit_row == 0 else res["flat_passes"] >= 2
    # the plateau and the wall (each wall cell has the plateau below it) all leave through the gap
    er = exit_row % n
    assert res["acc"][er, 3] == n * n
    # distance along the flat: a cell k rows from the exit needs k steps (diagonals allowed)
    fd = res["fdir"]
    r, c, steps = n - 1 - er - (1 if er == 0 else -1), 3, 0
    while (r, c) != (er, 3):
        k = int(fd[r, c])
        r, c = r + T.D8_OFFSETS[k][0], c + T.D8_OFFSETS[k][1]
        steps += 1
    assert steps == n - 2


def test_flats_in_memory_equal_the_tiled_relaxation():
    """Integer elevations (many flats across tile edges), nodata and lakes: the directions of the flats
    solved in memory equal those of the tiled relaxation, also when the budget runs out half way."""
    rng = np.random.default_rng(5)
    z = np.round(rng.random((41, 53)) * 4)
    z[rng.random(z.shape) < 0.05] = np.nan
    lakes = (rng.random(z.shape) < 0.01) & np.isfinite(z)
    runs = [TL.tiled_hydrology(z, 1.0, 1.0, tile=8, outlets=lakes, flat_budget=b) for b in (10 ** 6, 0, 200)]
    assert runs[0]["flat_passes"] == 0 and runs[1]["flat_passes"] >= 1 and runs[2]["flat_passes"] >= 1
    flats = (runs[1]["fdir"] >= 0) & ~(T.flow_direction_d8(runs[1]["filled"], 1.0, 1.0) >= 0)
    assert flats.sum() > 50                               # directions that only the flat step gives
    for r in runs[::2]:
        assert np.array_equal(r["fdir"], runs[1]["fdir"])
        assert np.array_equal(r["acc"], runs[1]["acc"], equal_nan=True)


def test_tiled_slope_of_a_plane_is_exact_on_every_cell():
    gx, gy = 0.1, 0.05
    rows, cols = 19, 26
    x = np.arange(cols) * 10.0
    y = (rows - 1 - np.arange(rows)) * 20.0
    z = 1000 + gx * x[None, :] + gy * y[:, None]
    res = TL.tiled_hydrology(z, 10.0, 20.0, tile=7, slope=True)
    assert np.allclose(res["slope"], math.degrees(math.atan(math.hypot(gx, gy))), atol=1e-4)


# ----------------------------------------------------------------------------- wired into hazards compute
def test_hazards_compute_goes_tiled_above_the_threshold_with_the_same_zones(tmp_ws, tmp_path):
    """``terrain.tiled_min_cells`` (layers/hazards.yaml) sends a DEM through the tiled kernels; forced
    down to 1 cell with 16-cell tiles, the analytic valley gives the zones of the in-core path."""
    from gis_planner import hazards as H
    from gis_planner.hazards import susceptibility as S
    from tests.helpers import rect
    from tests.test_hazards_zones import gdf, valley_dem, write_dem

    z, tr = valley_dem()
    write_dem(tmp_path / "dem.tif", z, tr)
    tmp_ws.set_dem(tmp_path / "dem.tif", source="analytic valley", source_date="2026-01-01")
    tmp_ws.write_layers({"water_bodies": gdf([{"name": "lake", "water_type": "lake"}], [rect(0, 0, 61 * 20, 6 * 20)])})
    assert S.hazard_rules(tmp_ws)["terrain"]["tiled_min_cells"] > z.size   # shipped threshold: in-core here
    # the tiled path conditions by priority-flood fill + D8: compare with the in-core fill_d8 method
    (tmp_ws.root / "layers").mkdir()
    override = tmp_ws.root / "layers" / "hazards.yaml"
    override.write_text("terrain:\n  conditioning:\n    method: fill_d8\n")
    core_terr = S.terrain_for_workspace(tmp_ws, S.hazard_rules(tmp_ws))
    assert "tiled" not in core_terr.extra
    core = H.compute_hazard_zones(tmp_ws, terrain=core_terr, date="2026-01-01")
    override.write_text("terrain:\n  tiled_min_cells: 1\n  tile_cells: 16\n")   # default conditioning: ignored
    tiled_terr = S.terrain_for_workspace(tmp_ws, S.hazard_rules(tmp_ws))
    assert tiled_terr.extra["tiled"]["tile"] == 16                # the tiled path ran, 16-cell tiles
    assert tiled_terr.extra["conditioning"]["method"] == "fill_d8_tiled"
    assert S.describe_conditioning(tiled_terr.extra["conditioning"], "en") is None   # no breach summary
    assert z.shape[0] % 16 and z.shape[1] % 16                    # tiles that do not divide the grid
    assert np.array_equal(np.asarray(tiled_terr.filled), core_terr.filled, equal_nan=True)
    assert np.array_equal(np.asarray(tiled_terr.acc), core_terr.acc, equal_nan=True)
    assert np.array_equal(np.asarray(tiled_terr.slope), core_terr.slope, equal_nan=True)
    tiled = H.compute_hazard_zones(tmp_ws, date="2026-01-01")     # the hook itself (no terrain given)
    assert len(core) and len(tiled) == len(core)
    for (h, lv), a in core.groupby(["hazard_type", "level"]):
        b = tiled[(tiled["hazard_type"] == h) & (tiled["level"] == lv)]
        assert a.union_all().symmetric_difference(b.union_all()).area == pytest.approx(0, abs=1e-6), (h, lv)


def test_terrain_kernels_load_without_the_vector_stack_and_gdal_stays_offline():
    """A process that runs only the terrain kernels does not import geopandas/pandas/pyogrio (lazy
    package ``__init__``s, ~110 MB of RSS), and pyogrio, once imported, still gets the offline GDAL
    options that ``import gis_planner`` sets (gis_planner/io/safety.py)."""
    import subprocess
    import sys

    code = ("import sys; from gis_planner.hazards import tiled, terrain, conditioning; "
            "heavy = sorted({'geopandas', 'pandas', 'pyogrio', 'shapely', 'pyarrow'} & set(sys.modules)); "
            "import pyogrio; "
            "print(heavy, pyogrio.get_gdal_config_option('GDAL_HTTP_PROXY'), "
            "pyogrio.get_gdal_config_option('CPL_VSIL_CURL_ALLOWED_EXTENSIONS')); "
            "from gis_planner import Workspace, hazards; from gis_planner.io import import_layer; "
            "print(Workspace.__name__, hazards.run_hazards.__name__, hazards.Terrain.__name__, import_layer.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[] 127.0.0.1:9 .gis-planner-no-network"
    assert out[1] == "Workspace run_hazards Terrain import_layer"


@pytest.mark.parametrize("seed,tile", [(11, 5), (12, 8)])
def test_float32_dem_is_filled_and_routed_in_float32_as_in_core(seed, tile):
    """A float32 DEM (a float32 GeoTIFF) stays float32 in the tiled files: the same filled elevations,
    directions and accumulation as the in-core kernels on the float32 grid and as the tiled float64 run."""
    z, lk = random_dem(seed, 39, 44, flats=True, holes=True, lakes=True)
    z = (z * 37.1).astype(np.float32)
    filled, fdir = in_core(z, lk, 10.0, 12.5)
    assert filled.dtype == np.float32
    res = TL.tiled_hydrology(z, 10.0, 12.5, tile=tile, outlets=lk)
    assert res["filled"].dtype == np.float32
    assert np.array_equal(res["filled"], filled, equal_nan=True)
    steep = T.flow_direction_d8(filled, 10.0, 12.5, outlets=lk) != T.NO_OUTFLOW
    assert np.array_equal(res["fdir"][steep], fdir[steep])
    wide = TL.tiled_hydrology(z.astype(np.float64), 10.0, 12.5, tile=tile, outlets=lk)
    assert np.array_equal(res["fdir"], wide["fdir"])
    assert np.array_equal(res["acc"], wide["acc"], equal_nan=True)
    assert np.array_equal(res["acc"], T.flow_accumulation(res["fdir"]), equal_nan=True)
