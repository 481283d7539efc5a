"""The full balance in threads (``layers/balance.yaml`` ``engine.threads``, ``engine.clip_chunk_min_pairs``).

The threaded path must give exactly the single-thread figures: the compiled clipper's pairs cut into chunks
(boundaries in the middle of a parcel's pairs and of a piece's pairs) against one call, and the whole balance
with its phases in threads against ``threads: 1`` (the order of the code), table by table.
"""
from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis_planner.balance import compute_balance
from gis_planner.balance import core
from gis_planner.balance import kernels as K
from gis_planner.balance.engine import (Background, ParcelIndex, _ragged, balance_threads, clip_chunked,
                                        subdivide)
from gis_planner.errors import GisPlannerError
from tests.test_balance_clip import _synthetic
from tests.test_balance_speed_exact import jittered_cadastre


def _pairs(seed=3):
    """Parcels of a jittered cadastre, pieces of three overlapping discs, and every candidate pair (sorted
    by piece, as the balance queries them): many parcels have pairs with several pieces."""
    geoms = np.array(jittered_cadastre(nx=25, ny=18, seed=seed)[0], dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4
    discs = [shapely.Point(cx + dx * r, cy + dy * r).buffer(r, quad_segs=24) for dx, dy in ((-0.5, 0), (0.4, 0.3), (0, -0.6))]
    pieces = np.concatenate([subdivide(d, 24) for d in discs])
    q, p = shapely.STRtree(geoms).query(pieces)
    return geoms, pieces, p, q


def test_chunked_clip_equals_one_call_bit_for_bit():
    geoms, pieces, p, q = _pairs()
    (pxy, pr, pg, po), (qxy, qr, qg, qo) = _ragged(geoms), _ragged(pieces)
    ploc, qloc = np.empty(len(geoms), np.int64), np.empty(len(pieces), np.int64)
    ploc[po], qloc[qo] = np.arange(len(geoms)), np.arange(len(pieces))
    pp, qq = ploc[p], qloc[q]
    a1, s1 = K.clip_areas(pxy, pr, pg, qxy, qr, qg, pp, qq)
    assert (s1 == K.CLIP_CROSSING).sum() > 50 and (s1 == K.CLIP_INSIDE).sum() > 50
    # a parcel's pairs (and a piece's) cut by the chunk boundaries
    cuts = np.linspace(0, len(pp), 2 * 4 + 1).astype(int)[1:-1]
    assert any(p[c - 1] in set(p[c:]) for c in cuts) and any(q[c - 1] == q[c] for c in cuts)
    for threads, min_pairs in ((2, 7), (3, 1), (2, len(pp) // 3), (2, 10 ** 9), (1, 1)):
        a, s = clip_chunked(pxy, pr, pg, qxy, qr, qg, pp, qq, threads, min_pairs)
        assert np.array_equal(s, s1)
        assert np.array_equal(a, a1, equal_nan=True)      # the same bits: every pair measured on its own


def test_label_areas_in_threads_equal_one_thread():
    geoms, pieces, _, _ = _pairs(seed=5)
    idx = ParcelIndex(geoms)
    one = idx.label_areas(pieces, 24, compiled=True, threads=1)
    two = idx.label_areas(pieces, 24, compiled=True, threads=2, chunk_min_pairs=5)
    assert len(one[0]) > 200
    for x, y in zip(one, two):
        assert np.array_equal(x, y)


def _rules_with(monkeypatch, **engine):
    real = core.load_rules

    def load(name, ws=None):
        rules = real(name, ws)
        if name == "balance":
            rules = {**rules, "engine": {**(rules.get("engine") or {}), **engine}}
        return rules

    monkeypatch.setattr(core, "load_rules", load)


def _frames(bal) -> dict:
    out = {}
    for name in ("by_category", "by_land_type", "state_fund", "use_status", "by_owner", "by_zone", "restricted",
                 "restricted_land_type", "restricted_detail", "parcels", "parcel_restrictions", "overlaps", "outside",
                 "reconciliation"):
        out[name] = getattr(bal, name)
    out["gaps"] = pd.DataFrame({"area_ha": bal.gaps["area_ha"], "neighbours": bal.gaps["neighbours"],
                                "wkb": shapely.to_wkb(bal.gaps.geometry.values)})
    return out


@pytest.mark.parametrize("compiled", [True, False])
def test_full_balance_in_threads_equals_one_thread(monkeypatch, compiled):
    parcels, r, boundary = _synthetic(seed=2)
    # a damaged corner: two overlapping parcels, a gap, a parcel beyond the boundary (topology in a thread)
    g = parcels.geometry.values.copy()
    g[0] = shapely.affinity.translate(g[0], 3.0, 2.0)
    g[5] = shapely.affinity.scale(g[5], 0.8, 0.8)
    parcels = parcels.set_geometry(gpd.GeoSeries(g, crs=parcels.crs))
    monkeypatch.setattr(core, "use_compiled", lambda n, limit=None: compiled)
    results = []
    for threads in (1, 2, 3):
        _rules_with(monkeypatch, threads=threads, clip_chunk_min_pairs=3)
        results.append(compute_balance(parcels=parcels, restrictions=r, boundary=boundary))
        monkeypatch.undo()
        monkeypatch.setattr(core, "use_compiled", lambda n, limit=None: compiled)
    ref = results[0]
    assert len(ref.overlaps) >= 1 and len(ref.gaps) >= 1 and len(ref.parcel_restrictions) > 100
    for other in results[1:]:
        fa, fb = _frames(ref), _frames(other)
        for name in fa:
            pd.testing.assert_frame_equal(fa[name], fb[name], check_exact=True, obj=name)
        assert ref.topology == other.topology
        assert {k: v for k, v in ref.provenance.items() if k != "computed_at"} == \
               {k: v for k, v in other.provenance.items() if k != "computed_at"}


def test_errors_of_a_thread_are_raised_in_the_caller(monkeypatch):
    parcels, r, boundary = _synthetic()
    for threads in (1, 2):
        _rules_with(monkeypatch, threads=threads)
        with pytest.raises(GisPlannerError) as err:
            compute_balance(parcels=parcels, restrictions=r.drop(columns="kind"), boundary=boundary)
        assert err.value.code == "bad_restrictions"
        monkeypatch.undo()


def test_thread_count_defaults_to_the_available_cores():
    cores = len(os.sched_getaffinity(0))
    assert balance_threads(None) == cores
    assert balance_threads({"threads": None}) == cores
    assert balance_threads({"threads": 0}) == cores
    assert balance_threads({"threads": 3}) == 3
    assert core.load_rules("balance")["engine"]["threads"] is None       # the shipped default


def test_background_single_thread_defers_and_reraises():
    ran = []
    with Background(1) as bg:
        f = bg.submit(lambda x: ran.append(x) or x * 2, 21)
        assert ran == []                            # deferred: runs when asked
        assert f.result() == 42 and f.result() == 42 and ran == [21]
        bad = bg.submit(lambda: 1 / 0)
        for _ in range(2):
            with pytest.raises(ZeroDivisionError):
                bad.result()
    with Background(2) as bg:
        assert bg.submit(sum, [1, 2, 3]).result() == 6
