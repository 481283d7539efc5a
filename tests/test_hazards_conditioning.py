"""Hydrological conditioning (breach/fill, lakes, burned rivers, flats), MFD accumulation and
energy-line runout on analytic DEMs with hand-computable answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gis_planner.hazards import conditioning as C
from gis_planner.hazards import terrain as T


def v_valley(rows=12, cols=9, side=10.0, fall=1.0):
    """Two planes falling ``side`` m per column towards the centre column, which falls ``fall`` m per row
    southwards (row 0 north)."""
    c = cols // 2
    rr, cc = np.mgrid[0:rows, 0:cols]
    return np.abs(cc - c) * side + (rows - rr) * fall + 100.0


def dammed_valley(dam_row=6, dam_height=5.0):
    z = v_valley()
    z[dam_row, :] += dam_height          # an embankment across the valley, 5 m above the valley profile
    return z


# ----------------------------------------------------------------------------- breaching
def test_dam_across_a_v_valley_is_breached_and_the_basin_above_is_not_raised():
    z = dammed_valley()
    c = z.shape[1] // 2
    pit = z[5, c]                        # the channel cell just above the dam: 107 m
    assert pit == 107.0 and z[6, c] == 111.0 and z[7, c] == 105.0
    out, n = C.breach_depressions(z, xres=10, yres=10, return_count=True)
    expected = z.copy()
    expected[6, c] = pit                 # only the dam's channel cell is cut, to the pit's level
    assert n == 1 and np.array_equal(out, expected)
    cond = C.condition_dem(z, 10, 10)
    assert cond.filled_cells == 0 and cond.breached_cells == 1
    assert np.array_equal(cond.routing, expected)          # nothing upstream was raised
    acc = T.flow_accumulation(cond.fdir)
    assert acc[-1, c] == z.size                             # the whole valley drains through the cut
    # fill only (the old way) raises the channel above the dam to the crest: 5 rows, up to 4 m
    filled, _, _ = T.fill_depressions(z)
    assert (filled[:6, c] - z[:6, c]).max() == pytest.approx(111.0 - 107.0)


def test_a_breach_deeper_or_longer_than_allowed_is_filled_instead():
    z = dammed_valley()
    c = z.shape[1] // 2
    # the cut would be 4 m deep and one cell (10 m) long
    assert np.array_equal(C.breach_depressions(z, max_depth_m=3.9, xres=10, yres=10), z)
    assert np.array_equal(C.breach_depressions(z, max_length_m=5.0, xres=10, yres=10), z)
    cond = C.condition_dem(z, 10, 10, max_breach_depth_m=3.9)
    assert cond.breached_cells == 0
    # hybrid: the rest is filled, to the crest of the dam's channel cell (111 m)
    # channel 107, 108, 109, 110 m in rows 5..2 are raised to 111 m; row 1 (111 m) and row 0 are not
    assert cond.routing[1:6, c].tolist() == [111.0] * 5 and cond.routing[0, c] == z[0, c] == 112.0
    assert T.flow_accumulation(cond.fdir)[-1, c] == z.size


# ----------------------------------------------------------------------------- lakes, burning
def test_lake_cells_are_outlets_and_keep_the_basin_elevation():
    # a closed bowl: a cone rising 2 m per cell from a lake in the middle, rim higher than the border
    n = 15
    rr, cc = np.mgrid[0:n, 0:n]
    z = 100.0 + 2.0 * np.maximum(abs(rr - 7), abs(cc - 7))
    z[0, :] = z[-1, :] = z[:, 0] = z[:, -1] = 90.0   # the border is lower than the rim (a spill outward)
    lake = np.maximum(abs(rr - 7), abs(cc - 7)) <= 1
    cond = C.condition_dem(z, 30, 30, outlets=lake)
    assert np.array_equal(cond.heights, z) and cond.filled_cells == 0 and cond.breached_cells == 0
    assert np.array_equal(cond.routing[~lake], z[~lake]) and (cond.routing[lake] < z.min()).all()
    acc = T.flow_accumulation(cond.fdir)
    assert (cond.fdir[lake] == T.NO_OUTFLOW).all()
    # the bowl inside the rim (ring 5, 110 m) ends in the lake: 11 × 11 cells; ring 6 spills outward
    assert acc[lake].sum() == 121
    # without the lake as an outlet, the breach cuts through the rim to the border instead
    free = C.condition_dem(z, 30, 30)
    assert free.breached_cells > 0 and free.routing[7, 7] == 100.0


def test_burned_river_steers_the_routing_and_heights_stay_those_of_the_dem():
    # a plane falling east; a mapped river runs along row 4 and then turns south (column 8)
    rows, cols = 12, 12
    z = 200.0 - np.add.outer(np.zeros(rows), np.arange(cols) * 1.0)
    river = np.zeros(z.shape, bool)
    river[4, 1:9] = True
    river[4:, 8] = True
    cond = C.condition_dem(z, 10, 10, streams=river, burn_depth_m=5.0)
    assert cond.burned_cells == river.sum()
    assert np.array_equal(cond.heights, z)                  # the burn only steers, heights are the DEM's
    assert np.array_equal(cond.routing[river], z[river] - 5.0)
    acc = T.flow_accumulation(cond.fdir)
    # the river's southern end collects the whole river line and the cells draining into it
    assert acc[-1, 8] > acc[-1, 7] + 8 and (cond.fdir[5:-1, 8] == 2).all()


# ----------------------------------------------------------------------------- flats
def test_flat_resolution_drains_every_flat_cell_towards_lower_and_away_from_higher():
    # a flat valley floor (5 m), walls of 9 m on three sides and one low cell on the eastern border
    z = np.full((7, 11), 5.0)
    z[0, :] = z[-1, :] = z[:, 0] = 9.0
    z[:, -1] = 9.0
    z[3, -1] = 4.0
    fdir = C.resolve_flats(z, 1, 1)
    floor = np.zeros(z.shape, bool)
    floor[1:-1, 1:-1] = True
    assert (fdir[floor] >= 0).all()                         # every flat cell has a direction
    acc = T.flow_accumulation(fdir)                          # raises on a cycle
    assert acc[3, -1] == z.size                              # floor and walls leave through the one outlet
    # away from higher: the cells along the walls turn towards the middle row, which runs straight east
    assert (fdir[3, 1:-1] == 0).all()
    assert fdir[1, 5] in (1, 2) and fdir[5, 5] in (7, 6)     # south(-east) from the north wall, north(-east) from the south
    # towards lower: along the middle row each cell is one step nearer the outlet
    assert [acc[3, k] for k in range(1, 10)] == sorted(acc[3, k] for k in range(1, 10))


def test_flats_of_a_filled_pit_drain_to_the_spill_point():
    z = np.full((9, 9), 10.0)
    z[2:7, 2:7] = 3.0
    z[4, 4] = 1.0
    z[2, 0:3] = [2.0, 6.0, 6.0]      # spill at 6 m towards the west border
    z[1:4, 1] = [10.0, 6.0, 10.0]
    cond = C.condition_dem(z, 1, 1, breach=False)
    basin = cond.routing > z
    assert basin.sum() > 0 and (cond.fdir[basin] >= 0).all()
    acc = T.flow_accumulation(cond.fdir)
    assert acc[2, 0] >= basin.sum()


# ----------------------------------------------------------------------------- MFD
def test_mfd_on_an_inclined_plane_is_uniform_across_the_contour():
    rows, cols, res = 30, 40, 10.0
    z = 500.0 - np.add.outer(np.arange(rows) * 1.0, np.zeros(cols))       # falls 1 m per row southwards
    fdir = C.resolve_flats(z, res, res)
    acc = C.mfd_accumulation(z, fdir, res, res, exponent=1.1)
    for r in range(rows):
        inner = acc[r, r + 1: cols - 1 - r]             # cells the side borders have not yet influenced
        if inner.size:
            assert np.allclose(inner, r + 1, rtol=1e-12)
    # conservation: what leaves through the southern row equals the cells that drain there
    assert acc[-1].sum() == pytest.approx(z.size, rel=1e-12)


def test_mfd_removes_the_parallel_stripes_that_d8_draws_on_a_resampled_coarse_plain():
    # a gentle plain (0.5 %, falling SSE) sampled like GEBCO (460 m, whole metres) and resampled
    # bilinearly to 40 m: D8 gathers the flow into parallel lines along the coarse grid's creases
    rng = np.random.default_rng(7)
    coarse_n, f = 12, 12
    yy, xx = np.mgrid[0:coarse_n, 0:coarse_n] * 460.0
    coarse = np.round(900.0 - 0.005 * yy - 0.001 * xx + rng.normal(0, 0.3, yy.shape))
    from scipy.ndimage import zoom

    z = zoom(coarse, f, order=1)
    cond = C.condition_dem(z, 40, 40)
    acc8 = T.flow_accumulation(cond.fdir)
    accm = C.mfd_accumulation(cond.routing, cond.fdir, 40, 40, exponent=1.1)
    row = z.shape[0] // 2
    band = slice(20, z.shape[1] - 20)
    d8_row, mfd_row = acc8[row, band], accm[row, band]
    # D8: a few cells carry most of the flow (stripes); MFD: flow spread across the slope
    assert np.max(d8_row) / np.median(d8_row) > 20
    assert np.max(mfd_row) / np.median(mfd_row) < np.max(d8_row) / np.median(d8_row) / 4


def test_mfd_switches_to_d8_on_channels():
    # one unit of water on the top of a plane falling south: MFD spreads it, a channel keeps it on one line
    rows, cols = 30, 41
    z = 500.0 - np.add.outer(np.arange(rows) * 1.0, np.zeros(cols))
    w = np.zeros(z.shape)
    w[0, 20] = 1.0
    fdir = C.resolve_flats(z, 10, 10)
    spread = C.mfd_accumulation(z, fdir, 10, 10, weights=w)
    assert spread[-1].sum() == pytest.approx(1.0, rel=1e-12) and (spread[-1] > 1e-6).sum() > 9
    channel = C.mfd_accumulation(z, fdir, 10, 10, weights=w, channel_cells=0.5)
    expected = np.zeros(z.shape)
    expected[:, 20] = 1.0
    assert np.array_equal(channel, expected)
    # a V-valley: everything ends in the channel outlet
    v = v_valley(rows=20, cols=9)
    acc = C.mfd_accumulation(v, C.resolve_flats(v, 10, 10), 10, 10, channel_cells=30)
    assert acc[-1, 4] == pytest.approx(v.size, rel=1e-12)


# ----------------------------------------------------------------------------- runout
@pytest.mark.parametrize("alpha", [25.0, 30.0, 35.0])
def test_avalanche_on_a_planar_slope_stops_where_the_energy_line_meets_the_flat(alpha):
    # slope of 40° over 10 rows of 10 m, then a flat run-out; walls at the sides; outlet at the far end
    res, slope_rows, rows, cols = 10.0, 10, 60, 9
    drop_per_row = res * math.tan(math.radians(40))
    r = np.arange(rows)
    profile = np.where(r <= slope_rows, (slope_rows - r) * drop_per_row, 0.0)
    z = np.add.outer(profile, np.zeros(cols))
    z[:, 0] = z[:, -1] = 1000.0
    start = np.zeros(z.shape, bool)
    start[0, 1:-1] = True                    # release along the top row
    # make the run-out drain south only (the plain slopes imperceptibly towards the far end)
    z[slope_rows + 1:, 1:-1] -= np.arange(1, rows - slope_rows)[:, None] * 1e-6
    cond = C.condition_dem(z, res, res)
    reach = C.runout_energy_line(cond.routing, cond.fdir, start, alpha, res, res, exponent=8.0, min_share=0.0)
    drop = slope_rows * drop_per_row
    runout_m = drop / math.tan(math.radians(alpha))       # horizontal travel from the release line
    last = int(np.flatnonzero(reach[:, cols // 2]).max())
    assert abs(last * res - runout_m) <= res               # within one cell
    assert not reach[last + 2:, 1:-1].any()


def test_runout_share_threshold_limits_lateral_spreading():
    z = 500.0 - np.add.outer(np.arange(40) * 5.0, np.zeros(41))
    start = np.zeros(z.shape, bool)
    start[0, 20] = True
    fdir = C.resolve_flats(z, 10, 10)
    wide = C.runout_energy_line(z, fdir, start, 10, 10, 10, exponent=1.0, min_share=0.0)
    narrow = C.runout_energy_line(z, fdir, start, 10, 10, 10, exponent=8.0, min_share=3e-4)
    assert narrow.sum() < wide.sum()
    assert narrow[:, 20].all()                             # the fall line is always reached
    # a share of 3e-4: with Holmgren x = 8 the diagonal gets (1/√2)^8 / (1 + 2 (1/√2)^8) = 1/18 per step
    share = (2 ** -4) / (1 + 2 * 2 ** -4)
    k = int(math.floor(math.log(3e-4) / math.log(share)))  # at most k sideways steps
    assert narrow.any(axis=0).sum() <= 2 * k + 1


# ----------------------------------------------------------------------------- debris-flow runout
def test_debris_flow_runs_out_along_the_channel_until_the_energy_line_meets_the_ground():
    from rasterio.transform import from_origin

    from gis_planner import hazards as H
    from gis_planner.hazards import susceptibility as S

    # a 30° V-chute (1 km long, sides 30°) onto a 5° slope (2.4 km) that ends on a 1° plain
    res, cols, c = 20.0, 31, 15
    n1, n2 = 50, 170                                   # rows of the chute, row where the plain starts
    rows = n2 + 30
    t30, t5, t1 = (math.tan(math.radians(a)) for a in (30, 5, 1))
    x = np.arange(rows) * res                         # distance down the valley (row 0 north)
    x1, x2 = n1 * res, n2 * res
    along = np.where(x <= x1, (x1 - x) * t30, np.where(x <= x2, -(x - x1) * t5, -(x2 - x1) * t5 - (x - x2) * t1))
    rr, cc = np.mgrid[0:rows, 0:cols]
    side = np.where(rr < n1, np.abs(cc - c) * res * t30, np.abs(cc - c) * res * 0.02)
    z = 2000.0 + along[:, None] + side
    terr = S.compute_terrain(z, from_origin(0, rows * res, res, res), "EPSG:7695")
    rules = H.hazard_rules()
    lv = S.mudflow_levels(terr, rules)
    src = terr.extra["debris_sources"]
    path = terr.extra["debris_runout"]
    assert src.any() and src[:, c].any()
    top = int(np.flatnonzero(src[:, c]).min())
    # the energy line at 11° from the top source cell meets the 5° slope at x_s + d, where
    # z_top - tan(11°)·d = ground(x_top + d) (solved in closed form on the 5° segment)
    t11 = math.tan(math.radians(rules["mudflow"]["runout"]["alpha_deg"]))
    xs = top * res
    z_top = 2000.0 + (x1 - xs) * t30
    d = (z_top - 2000.0 + (xs - x1) * t5) / (t11 - t5)
    assert x1 < xs + d < x2 - rules["mudflow"]["apex_reach_m"]    # ends on the 5° slope
    last = int(np.flatnonzero(path[:, c]).max())
    assert abs(last * res - (xs + d)) <= res
    # beyond the fan (a sector of c·A^n below the apex) the runout is a corridor of the runout level
    apex = [divmod(int(a), cols) for a in terr.extra["fan_apexes"]]
    assert apex == [(n1 - 1, c)]
    r = rules["mudflow"]
    radius = math.sqrt(r["fan_area_c"] * (terr.acc[n1 - 1, c] * res * res / 1e6) ** r["fan_area_n"] * 1e6 / (math.pi / 2))
    beyond = rr > (n1 - 1) + radius / res + 1
    assert last > (n1 - 1) + radius / res + 10
    corridor = (lv > 0) & beyond
    assert (lv[corridor] == 2).all() and corridor[:, c][beyond[:, 0] & (rr[:, 0] <= last)].all()
    assert np.abs(cc - c)[corridor].max() * res <= r["channel_half_width_m"]["medium"]
    assert not corridor[last + 3:].any()              # it ends with the energy line, not on the 1° plain
    # without runout the channel below the fan is empty
    rules["mudflow"]["runout"]["alpha_deg"] = None
    lv0 = S.mudflow_levels(terr, rules)
    assert lv0[last, c] == 0 and (lv0 <= lv).all()


# ----------------------------------------------------------------------------- workspace wiring
def test_workspace_terrain_burns_mapped_rivers_not_canals_and_lakes_are_outlets(tmp_ws, tmp_path):
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import LineString

    from gis_planner.hazards import susceptibility as S
    from tests.helpers import CRS, X0, Y0, gdf, rect

    rows, cols, res = 40, 30, 20.0
    # a plane falling 0.5 m per row southwards onto a lake (last 5 rows), with a 6 m deep closed pit
    z = 1600.0 + (rows - 5 - np.arange(rows))[:, None] * 0.5 + np.zeros((1, cols))
    z[-5:] = 1600.0
    z[10, 20] -= 6.0
    tr = from_origin(X0, Y0 + rows * res, res, res)
    with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs=f"EPSG:{CRS}", transform=tr) as ds:
        ds.write(z.astype("float32"), 1)
    tmp_ws.set_dem(tmp_path / "dem.tif", source="analytic plane", source_date="2026-01-01")
    river = LineString([(X0 + 5 * res + 10, Y0 + rows * res - 10), (X0 + 5 * res + 10, Y0 + 6 * res)])
    canal = LineString([(X0 + 10, Y0 + 20 * res + 10), (X0 + cols * res - 10, Y0 + 20 * res + 10)])
    water = gdf([{"name": "lake", "water_type": "lake"}, {"name": "river", "water_type": "river"},
                 {"name": "canal", "water_type": "canal"}],
                [rect(0, 0, cols * res, 5 * res), river, canal])
    tmp_ws.write_layers({"water_bodies": water})
    terr = S.terrain_for_workspace(tmp_ws)
    info = terr.extra["conditioning"]
    assert info["method"] == "breach_mfd"
    burned = (terr.extra["routing"] < terr.filled - 9.9) & ~terr.lakes     # the burn depth is 10 m
    assert burned.any() and burned[:, 5].sum() >= rows - 6 - 1 and not burned[:, 10:].any()  # canal not burned
    assert info["burned_cells"] == burned.sum()
    # two cuts: the pit, and one unburned cell between the river's end (row 33) and the lake (row 35)
    assert info["breaches"] == 2 and info["filled_cells"] == 0
    route = terr.extra["routing"]
    assert route[33, 5] == pytest.approx(1600.0 + 1.0 - 10.0)
    assert sorted(route[34, 4:7]) == pytest.approx([route[33, 5], 1600.5, 1600.5])   # one of the three cut
    assert route[10, 20] == pytest.approx(z[10, 20]) and not (route[~terr.lakes] > z[~terr.lakes] + 1e-3).any()
    assert (terr.filled[-5:] == 1600.0).all() and (terr.fdir[-5:] == -1).all()   # the lake: outlet, not raised
    assert terr.acc_mfd is not None and np.nansum(terr.acc_mfd[-5:]) == pytest.approx(rows * cols)
    line = S.describe_conditioning(info, "en")
    assert "2 depressions breached" in line and f"{info['burned_cells']} river cells burned" in line
    # the v1 method stays available: fill only, no MFD
    rules = S.hazard_rules(tmp_ws)
    rules["terrain"]["conditioning"]["method"] = "fill_d8"
    old = S.terrain_for_workspace(tmp_ws, rules)
    assert old.acc_mfd is None and old.filled[10, 20] > z[10, 20] and S.describe_conditioning(
        old.extra["conditioning"], "en") is None


def test_condition_dem_in_place_equals_the_separate_steps():
    """condition_dem cuts and fills one working surface in place and counts in the kernels: the same
    surfaces and counts as breach_depressions + fill_depressions + resolve_flats on copies."""
    rng = np.random.default_rng(23)
    for k in range(24):
        h, w = (int(v) for v in rng.integers(6, 40, 2))
        z = np.round(rng.random((h, w)) * (3 + k % 6)) if k % 2 else rng.random((h, w)) * 40
        if k % 3 == 0:
            z[rng.random((h, w)) < 0.1] = np.nan
        lakes = (rng.random((h, w)) < 0.03) & np.isfinite(z) if k % 4 == 0 else np.zeros((h, w), bool)
        streams = (rng.random((h, w)) < 0.1) if k % 5 < 2 else None
        depth = 5.0 if (k % 2 and streams is not None) else 0.0
        md, ml = (3.0, 100.0) if k % 3 else (np.inf, np.inf)
        cond = C.condition_dem(z, 10.0, 10.0, outlets=lakes, streams=streams, burn_depth_m=depth,
                               max_breach_depth_m=md, max_breach_length_m=ml)
        burn = np.zeros(z.shape, bool) if streams is None else streams & ~lakes & np.isfinite(z)
        work = C.burn_streams(z, burn, depth) if depth else z.copy()
        if lakes.any():
            work[lakes & np.isfinite(work)] = np.nanmin(work) - 1.0
        breached, cuts = C.breach_depressions(work, lakes, md, ml, 10.0, 10.0, return_count=True)
        routing, flood_dir, _ = T.fill_depressions(breached, lakes)
        assert np.array_equal(cond.routing, routing, equal_nan=True)
        assert cond.breaches == cuts and cond.breached_cells == int((breached < work).sum())
        assert cond.filled_cells == int((routing > breached).sum())
        assert cond.burned_cells == int(burn.sum())
        assert np.array_equal(cond.fdir, C.resolve_flats(routing, 10.0, 10.0, outlets=lakes, fallback=flood_dir))
        heights = routing.copy()
        heights[lakes] = z[lakes]
        if depth:
            heights[burn] = np.maximum(routing[burn], np.minimum(routing[burn] + depth, z[burn]))
        assert np.array_equal(cond.heights, heights, equal_nan=True)
