"""A city in the national synthetic set (``benchmarks/national_synthetic.py --city N``) and its tiles.

A small set (12 municipalities, ≈ 23.5 k parcels) whose largest municipality is a city of exactly
5 000 parcels, written in row groups of 500; with the tile threshold of ``layers/rollup.yaml`` lowered
to 1 500 (a copy of the rules folder), the city is 4 tiles and the tiled roll-up equals the untiled one,
each parcel counted once.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pytest

from gis_planner.rollup import NationalSet, assign_municipality, compare, rollup_national

ROOT = Path(__file__).resolve().parents[1]
CITY = 5_000


@pytest.fixture(scope="module")
def gen():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import national_synthetic

    return national_synthetic


@pytest.fixture(scope="module")
def city_set(gen, tmp_path_factory):
    out = tmp_path_factory.mktemp("city") / "national"
    gen.generate(out, n_parcels=20_000, n_munis=12, verbose=False, city=CITY, row_group_size=500)
    return out


@pytest.fixture()
def low_threshold(tmp_path, monkeypatch):
    """layers/ with tiles.max_parcels 1 500 (the other rules unchanged)."""
    from gis_planner import settings
    from gis_planner.catalog import load_rules

    layers = tmp_path / "layers"
    shutil.copytree(settings.layers_dir(), layers)
    text = (layers / "rollup.yaml").read_text(encoding="utf-8")
    (layers / "rollup.yaml").write_text(text.replace("max_parcels: 50000", "max_parcels: 1500"), encoding="utf-8")
    monkeypatch.setenv("GIS_PLANNER_LAYERS_DIR", str(layers))
    assert load_rules("rollup")["tiles"]["max_parcels"] == 1500
    return 1500


def test_city_holds_exactly_n_parcels(gen, city_set, tmp_path):
    man = json.loads((city_set / "manifest.json").read_text())
    code = man["city"]["code"]
    assert man["city"]["parcels"] == CITY and man["version"] == 3
    s = NationalSet(city_set)
    assert sum(s.parcel_counts([code])[code]) == CITY
    assert s.parcel_counts([code])[code] == [500] * 10
    p = gpd.read_parquet(city_set / "parcels" / f"{code}.parquet")
    assert len(p) == CITY and p["cadastral_no"].is_unique and (p["municipality"] == code).all()
    # every city parcel belongs to the city by the partition rule (its representative point is inside)
    assert set(assign_municipality(p, s.municipalities())) == {code}
    # a dense city grid: plots of 12-30 m (≈ 144-900 m2), mostly settlement land
    assert 100 < p.area.median() < 1_000
    assert (p["category"] == "settlement").mean() > 0.6
    # a clean coverage: no two parcels overlap
    inter = p.sindex.query(p.geometry, predicate="overlaps")
    assert inter.shape[1] == 0
    # the other municipalities are the same as in a set without a city
    plain = tmp_path / "plain"
    gen.generate(plain, n_parcels=20_000, n_munis=12, verbose=False, row_group_size=500)
    for f in sorted((plain / "parcels").glob("*.parquet")):
        if f.stem == code:
            continue
        a, b = gpd.read_parquet(f), gpd.read_parquet(city_set / "parcels" / f.name)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), f.stem
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), f.stem


def test_city_tiles_equal_untiled(city_set, low_threshold):
    from gis_planner.rollup.driver import plan_tiles

    man = json.loads((city_set / "manifest.json").read_text())
    code, total = man["city"]["code"], man["parcels"]
    untiled = rollup_national(city_set, engine="single", tile_parcels=None)
    events = []
    tiled = rollup_national(city_set, engine="single", progress=events.append)  # threshold from layers/rollup.yaml
    assert untiled.stats["tasks"] == 12 and untiled.stats["largest_task_parcels"] == CITY
    assert tiled.stats["largest_task_parcels"] <= low_threshold
    counts = NationalSet(city_set).parcel_counts()
    expect = [c for c, rg in counts.items() if plan_tiles(rg, low_threshold)]
    assert code in expect and tiled.stats["tiled_municipalities"] == len(expect)
    assert tiled.stats["tasks"] == sum(len(plan_tiles(rg, low_threshold) or [0]) for rg in counts.values())
    tiles = plan_tiles([500] * 10, low_threshold)
    assert len(tiles) == 4 and sum(len(t) for t in tiles) == 10
    # progress: one line per finished tile of the city but its last, then the city itself
    city_tiles = [e for e in events if e["event"] == "tile" and e["municipality"] == code]
    assert [e["tile"] for e in city_tiles] == [1, 2, 3] and city_tiles[0]["tiles"] == 4
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 12 and [e["tiles"] for e in done if e["municipality"] == code] == [4]
    # totals: every cell of every level equal, every parcel counted once
    d = compare(untiled.levels, tiled.levels)
    assert d["cells"] > 1_000 and d["max_rel"] < 1e-9, d
    print(f"tiled vs untiled: {d}, tasks {untiled.stats['tasks']} -> {tiled.stats['tasks']}")
    assert untiled.stats["parcels"] == tiled.stats["parcels"] == total
    lv = tiled.levels["municipality"]
    n = lv[(lv["unit"] == code) & (lv["table"] == "balance") & (lv["col"] == "parcels")]["value"].sum()
    assert n == CITY
    s = NationalSet(city_set)
    names = [c for t in tiles for c in s.read_partition(code, row_groups=t, zones=False).parcels["cadastral_no"]]
    assert len(names) == len(set(names)) == CITY
