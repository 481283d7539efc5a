"""Zoning on the demo municipality (built by `make demo`): invariants that must hold on real-size data.

Nothing here writes to the demo workspace (restriction_map with write=False).
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis_planner import zoning


@pytest.fixture(scope="module")
def demo(demo_ws):
    return demo_ws, zoning.build_restrictions(demo_ws), demo_ws.read_layer("parcels")


def test_demo_restriction_frame(demo):
    ws, r, _ = demo
    assert r.attrs["warnings"] == []  # every water type, hazard level and zone code has a rule
    kinds = set(r["kind"])
    assert {"water_protection_zone", "coastal_strip", "protected_area", "hazard", "legal_zone"} <= kinds
    assert set(r.loc[r.kind == "protected_area", "subtype"]) == {"core", "buffer"}
    # the lake is buffered outward from its shore: its zones do not cover the water surface
    lake = ws.read_layer("water_bodies", where="water_type = 'lake'").geometry.union_all()
    ring = r[(r.kind == "coastal_strip") & (r.subtype == "lake")].geometry.union_all()
    assert ring.intersection(lake).area < 1e-3 * ring.area


def test_demo_map_covers_the_boundary_exactly(demo):
    ws, r, _ = demo
    m = zoning.restriction_map(ws, "housing", restrictions=r, write=False)
    boundary = ws.read_layer("boundary").geometry.union_all()
    assert m["area_ha"].sum() == pytest.approx(boundary.area / 1e4, rel=1e-8)  # map overlay on a 1 mm grid
    assert (m["area_ha"] > 0).all()


def test_demo_check_many_agrees_with_check_on_a_sample(demo):
    ws, r, parcels = demo
    many = zoning.check_many(ws, "housing", parcels, r, plot_size=True)
    assert set(many["verdict"]) == {"allowed", "conditional", "prohibited"}
    rng = np.random.default_rng(7)
    sample = np.concatenate([rng.choice(np.flatnonzero(many["verdict"].to_numpy() == v), 5, replace=False)
                             for v in ("allowed", "conditional", "prohibited")])
    for k in sample:
        one = zoning.check(ws, "housing", geometry=parcels.geometry.iloc[k], restrictions=r)
        # the restriction part of the single check is the vectorised one; the category step comes on top
        assert one.restriction_verdict == many["verdict"].iloc[k]
        assert one.prohibited_share == pytest.approx(many["prohibited_share"].iloc[k], abs=1e-9)
    # with the category step, the vectorised verdict is the single check's, parcel by parcel
    sub = parcels.iloc[sample]
    withcat = zoning.check_many(ws, "housing", sub, r, plot_size=True, category=True)
    for k, (fid, row) in enumerate(sub.iterrows()):
        one = zoning.check(ws, "housing", parcel_id=row["cadastral_no"], restrictions=r)
        assert one.verdict == withcat["verdict"].iloc[k]
        assert [c["effect"] for c in one.category] == [withcat["category_effect"].iloc[k]]


def test_demo_prohibited_area_equals_brute_force_union(demo):
    ws, r, parcels = demo
    rng = np.random.default_rng(3)
    sample = parcels.iloc[np.sort(rng.choice(len(parcels), 800, replace=False))]
    many = zoning.check_many(ws, "industry", sample, r)
    rr = zoning.with_effects(r, "industry", ws)
    # brute force on a 1 mm grid: floating-point overlay of a parcel with the union of zones cut from the
    # same lines can fail (GEOS returns an empty intersection for a parcel inside the union)
    P = shapely.union_all(rr.geometry[rr.effect == "prohibited"].values, grid_size=1e-3)
    brute = shapely.area(shapely.intersection(sample.geometry.values, P, grid_size=1e-3))
    mine = (many["prohibited_share"] * many["area_ha"]).to_numpy() * 1e4
    assert brute.sum() > 0
    # per parcel: equal up to the 1 mm grid and edge-contact slivers (< 1 m2 per rule) ignored by the check
    assert np.abs(mine - brute).max() < 2.0
    assert mine.sum() == pytest.approx(brute.sum(), rel=1e-6)


def test_demo_conflicts(demo):
    ws, r, _ = demo
    c = zoning.conflicts(ws, restrictions=r)
    assert len(c) > 0 and (c["conflict_area_ha"] > 0).all()
    assert (c["conflict_area_ha"] <= c["area_ha"] + 1e-9).all()
    assert c["cadastral_no"].notna().all()
