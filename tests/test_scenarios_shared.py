"""Scenarios of one workspace share work (``gis_planner.scenarios.shared``) without changing any result.

Issue 20: compare four scenarios ≤ 8 s. The shared results are keyed by a fingerprint of their inputs;
these tests check that a shared run gives every field of every result exactly as runs that share nothing,
that it really computes less, and that the keys see every change of the inputs.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from gis_planner import Workspace
from gis_planner.scenarios import examples_dir, load_scenario, run_scenario, shared
from gis_planner.scenarios.candidates import load_context

from .helpers import CRS, gdf, rect, square

alloc_mod = importlib.import_module("gis_planner.scenarios.allocate")   # (the package exports the function allocate)
ROOT = Path(__file__).resolve().parents[1]


def _identity():
    spec = importlib.util.spec_from_file_location("scenario_identity", ROOT / "benchmarks" / "scenario_identity.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _forget():
    shared.clear()
    alloc_mod._MEMO.update(key=None, check={}, cut={})


def test_demo_four_scenarios_shared_equal_each_alone(demo_ws, monkeypatch):
    """The app's sequence (one scenario, then the four) with sharing against each scenario run alone in a
    fresh state: every field identical (pieces' WKB, summary, candidates, indicators, balance, procedure …),
    and the shared run scored fewer candidate sets and balanced the cadastre before only once."""
    ident = _identity()
    scs = [load_scenario(p) for p in sorted(examples_dir().glob("*.yaml"))]
    assert len(scs) == 4
    calls = {"n": 0}
    real = alloc_mod.score_parcels

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(alloc_mod, "score_parcels", counting)
    alone = {}
    for s in scs:
        _forget()
        alone[s.id] = ident.fields(run_scenario(demo_ws, s))
    n_alone = calls["n"]
    _forget()
    calls["n"] = 0
    first = ident.fields(run_scenario(demo_ws, scs[0]))
    together = {s.id: ident.fields(run_scenario(demo_ws, s)) for s in scs}
    assert ident.diff(alone[scs[0].id], first) == []
    assert ident.diff(alone, together) == []
    # the first scenario again and the first use of the other three (same candidates): scored once
    assert calls["n"] <= n_alone - 3, (calls["n"], n_alone)
    assert len(shared._STORES["balance"]) == 1          # the cadastre before: one balance for all runs
    assert len(shared._STORES["inputs"]) == 1           # parcels and context read once
    assert sum(len(v["pieces"]["rows"]) for v in together.values()) > 100


def test_fingerprints_see_every_change():
    a = gdf({"cadastral_no": ["A", "B"], "category": ["reserve", "agricultural"]},
            [square(0, 0, 100), square(100, 0, 100)])
    f = shared.frame_fingerprint(a)
    assert shared.frame_fingerprint(a.copy()) == f
    b = a.copy()
    b.loc[1, "category"] = "settlement"
    assert shared.frame_fingerprint(b) != f
    c = a.copy()
    c.geometry = c.geometry.translate(0.001, 0)               # 1 mm
    assert shared.frame_fingerprint(c) != f
    assert shared.frame_fingerprint(a.rename(columns={"category": "cat"})) != f
    assert shared.frame_fingerprint(a.iloc[::-1]) != f           # order matters (results are per row)
    g = np.asarray(a.geometry.values)
    assert shared.geoms_fingerprint(g) == shared.geoms_fingerprint(g.copy())
    assert shared.geoms_fingerprint(g[:1]) != shared.geoms_fingerprint(g)
    assert shared.value_key({"b": 1, "a": [1, 2]}) == shared.value_key({"a": [1, 2], "b": 1})


def _small_ws(root: Path) -> Workspace:
    ws = Workspace.create(root, name="Shared", crs=CRS)
    frames = {"parcels": gdf({"cadastral_no": ["P0", "P1"], "category": ["reserve"] * 2,
                              "land_type": [None] * 2, "use_status": ["unused"] * 2,
                              "owner_type": ["municipal"] * 2}, [square(0, 0, 100), square(100, 0, 100)]),
              "settlements": gdf({"name": ["Village"], "population": [500]}, [rect(-200, -100, 0, 200)])}
    ws.write_layers(frames, {k: {"source": "hand-made", "source_date": "2026-01-01"} for k in frames})
    return ws


def test_inputs_follow_the_data_version(tmp_path):
    _forget()
    ws = _small_ws(tmp_path / "ws")
    p1, c1 = shared.inputs(ws)
    p2, c2 = shared.inputs(ws)
    assert p1 is p2 and c1 is c2                                 # read once per data version
    assert sorted(p1["cadastral_no"]) == ["P0", "P1"]
    more = gdf({"cadastral_no": ["P0", "P1", "P2"], "category": ["reserve"] * 3, "land_type": [None] * 3,
                "use_status": ["unused"] * 3, "owner_type": ["municipal"] * 3},
               [square(0, 0, 100), square(100, 0, 100), square(200, 0, 100)])
    ws.write_layer("parcels", more, source="hand-made")
    p3, c3 = shared.inputs(ws)
    assert p3 is not p1 and c3 is not c1
    assert sorted(p3["cadastral_no"]) == ["P0", "P1", "P2"]


def test_scores_are_not_shared_between_contexts(tmp_path):
    """Two contexts (another settlement) score the same candidates differently: no hit across them."""
    _forget()
    ws = _small_ws(tmp_path / "ws")
    parcels = ws.read_layer("parcels")
    ctx1 = load_context(ws, parcels)
    ctx2 = dataclasses.replace(ctx1, settlement=shapely.buffer(Point(parcels.total_bounds[2] + 1000,
                                                                     parcels.total_bounds[1]), 10))
    geoms = np.asarray(parcels.geometry.values)
    suit = {"weights": {"settlement": 1.0}, "max_distance_m": {"settlement": 2000}}
    s1 = alloc_mod._score_memo(geoms, ctx1, suit, {}, None)
    s2 = alloc_mod._score_memo(geoms, ctx2, suit, {}, None)
    # P0 touches the village of ctx1 (0 m); ctx2: a 10 m disc 1 000 m east of P1's east edge (990 m)
    assert s1["dist_settlement_m"].tolist() == [0.0, 100.0]
    assert s2["dist_settlement_m"].tolist() == pytest.approx([1090.0, 990.0], abs=0.01)
    assert s1["score"].tolist() == pytest.approx([1.0, 0.95])
    again = alloc_mod._score_memo(geoms, ctx1, suit, {}, None)
    assert again.equals(s1)
    again["score"] = 0.0                                         # a caller's change does not reach the store
    assert alloc_mod._score_memo(geoms, ctx1, suit, {}, None)["score"].tolist() == pytest.approx([1.0, 0.95])
