"""District/national roll-up: hand-built municipalities in EPSG:7695, numbers computable by hand.

Three municipalities of 1 km × 1 km (100 parcels of 1 ha each; west half agricultural, east half
settlement): A and B (district D1) side by side, C (district D2) north of A; all in oblast O1.
One extra 1.2 ha reserve parcel straddles the A/B border; its representative point is in B.

* a water-protection zone box x 800–1200 (plus an overlapping smaller polygon of the same kind)
  crosses A and B: 20 ha of A's settlement land, 20 ha of B's agricultural land, and the whole
  straddling parcel (1.2 ha, counted once, in B);
* a high flood zone box y 900–1100 crosses A and C: 10 ha in each, 10 parcels exposed in each.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gis_planner.balance import compute_balance
from gis_planner.errors import GisPlannerError
from gis_planner.rollup import (NationalSet, assign_municipality, compare, rollup_national, write_partitioned)

X0, Y0 = 4_300_000.0, 4_720_000.0
CRS = 7695


def B(x1, y1, x2, y2):
    return box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def municipalities():
    return gpd.GeoDataFrame({"code": ["A", "B", "C"], "name": ["Aa", "Bb", "Cc"],
                             "district": ["D1", "D1", "D2"], "oblast": ["O1", "O1", "O1"]},
                            geometry=[B(0, 0, 1000, 1000), B(1000, 0, 2000, 1000), B(0, 1000, 1000, 2000)], crs=CRS)


def parcels():
    rows = []
    for mx, my, m in ((0, 0, "A"), (1000, 0, "B"), (0, 1000, "C")):
        for i in range(10):
            for j in range(10):
                rows.append({"cadastral_no": f"{m}-{i}-{j}",
                             "category": "agricultural" if i < 5 else "settlement",
                             "land_type": "pasture", "use_status": "used", "owner_type": "state",
                             "geometry": B(mx + i * 100, my + j * 100, mx + i * 100 + 100, my + j * 100 + 100)})
    rows.append({"cadastral_no": "X", "category": "reserve", "land_type": None, "use_status": "unused",
                 "owner_type": "municipal", "geometry": B(960, 200, 1080, 300)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def restrictions():
    return gpd.GeoDataFrame({"kind": ["water_protection_zone", "water_protection_zone"],
                             "subtype": ["river", "river"], "level": [None, None]},
                            geometry=[B(800, 0, 1200, 1000), B(900, 0, 1100, 500)], crs=CRS)


def hazards():
    return gpd.GeoDataFrame({"hazard_type": ["flood"], "level": ["high"], "method": ["synthetic"],
                             "source": ["test"], "date": ["2026-01-01"]},
                            geometry=[B(0, 900, 1000, 1100)], crs=CRS)


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    root = tmp_path_factory.mktemp("national")
    write_partitioned(root, parcels(), municipalities(), restrictions(), hazards())
    return root


@pytest.fixture(scope="module")
def single(national):
    return rollup_national(national, engine="single")


def cell(res, level, unit, table, row, col):
    df = res.levels[level]
    v = df[(df["unit"] == unit) & (df["table"] == table) & (df["row"] == row) & (df["col"] == col)]["value"]
    return float(v.sum())


def test_partitions_by_representative_point(national):
    s = NationalSet(national)
    assert s.codes() == ["A", "B", "C"]
    assert [len(s.read_partition(c).parcels) for c in "ABC"] == [100, 101, 100]
    assert assign_municipality(parcels(), municipalities())[-1] == "B"
    # B reads every polygon meeting the bbox of its municipality and parcels (the straddling parcel
    # reaches x = 960 m, so the flood zone's corner is read too; it holds none of B's parcels)
    part = s.read_partition("B")
    assert len(part.restrictions) == 2 and len(part.hazard_zones) == 1


def test_hand_computed_numbers(single):
    r = single
    assert cell(r, "country", "KG", "balance", "agricultural", "area_ha") == pytest.approx(150.0, abs=1e-9)
    assert cell(r, "country", "KG", "balance", "reserve", "area_ha") == pytest.approx(1.2, abs=1e-9)
    assert cell(r, "country", "KG", "balance", "settlement", "parcels") == 150
    # the crossing water zone: 20 ha in A (settlement), 20 ha + the whole 1.2 ha parcel in B, once
    assert cell(r, "municipality", "A", "restricted", "settlement", "water_protection_zone") == pytest.approx(20.0)
    assert cell(r, "municipality", "B", "restricted", "agricultural", "water_protection_zone") == pytest.approx(20.0)
    assert cell(r, "municipality", "B", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)
    assert cell(r, "municipality", "A", "restricted", "reserve", "water_protection_zone") == 0.0
    assert cell(r, "district", "D1", "restricted", "agricultural", "water_protection_zone") == pytest.approx(20.0)
    # zone area clipped to each municipality: 20 + 20 = the 40 ha of the union, not 40 + overlap
    assert cell(r, "municipality", "A", "zone_area", "water_protection_zone", "area_ha") == pytest.approx(20.0)
    assert cell(r, "country", "KG", "zone_area", "water_protection_zone", "area_ha") == pytest.approx(40.0)
    # hazards enter the balance as kind 'hazard' and the exposure table; the 20 ha zone is split 10/10
    assert cell(r, "country", "KG", "restricted", "agricultural", "hazard") == pytest.approx(10.0)
    assert cell(r, "country", "KG", "restricted", "settlement", "hazard") == pytest.approx(10.0)
    assert cell(r, "municipality", "A", "exposure", "flood:high", "zone_ha") == pytest.approx(10.0)
    assert cell(r, "country", "KG", "exposure", "flood:high", "zone_ha") == pytest.approx(20.0)
    assert cell(r, "country", "KG", "exposure", "flood:high", "parcels") == 20
    assert cell(r, "district", "D2", "exposure", "flood:high", "parcels_ha") == pytest.approx(10.0)
    # any = union of kinds; unrestricted = total - any
    total = cell(r, "country", "KG", "restricted", "settlement", "total")
    anyr = cell(r, "country", "KG", "restricted", "settlement", "any")
    assert anyr == pytest.approx(20.0 + 5.0 + 5.0 - 2.0)  # water 20 + flood 10 - their 2 ha overlap in A
    assert cell(r, "country", "KG", "restricted", "settlement", "unrestricted") == pytest.approx(total - anyr)


def test_equals_one_machine_on_the_whole_layer(single):
    """The roll-up equals compute_balance on the whole (unpartitioned) layer: nothing double counted."""
    z = hazards()
    restr = pd.concat([restrictions(), gpd.GeoDataFrame(
        {"kind": "hazard", "subtype": z["hazard_type"], "level": z["level"]}, geometry=z.geometry, crs=CRS)],
        ignore_index=True)
    whole = compute_balance(parcels=parcels(), restrictions=gpd.GeoDataFrame(restr, crs=CRS), topology=False)
    for kind in ("water_protection_zone", "hazard", "any", "total"):
        for cat, ha in whole.restricted[kind].items():
            assert cell(single, "country", "KG", "restricted", cat, kind) == pytest.approx(ha, rel=1e-12, abs=1e-9)


def test_dask_and_memory_equal_single(national, single):
    dask_res = rollup_national(national, engine="dask", n_workers=2, processes=False)
    mem = rollup_national(national, engine="memory")
    for other in (dask_res, mem):
        d = compare(single.levels, other.levels)
        assert d["cells"] > 100 and d["max_rel"] < 1e-12, d
    assert dask_res.stats["workers"] == 2 and dask_res.stats["municipalities"] == 3


def test_errors_name_the_fix(tmp_path, national):
    with pytest.raises(GisPlannerError, match="not a national set"):
        rollup_national(tmp_path, engine="single")
    with pytest.raises(GisPlannerError, match="unknown engine"):
        rollup_national(national, engine="spark")
    stray = gpd.GeoDataFrame({"cadastral_no": ["far"], "category": ["reserve"]},
                             geometry=[B(5000, 5000, 5100, 5100)], crs=CRS)
    with pytest.raises(GisPlannerError, match="outside every municipality") as e:
        write_partitioned(tmp_path / "x", stray, municipalities())
    assert "far" in str(e.value)


@pytest.mark.postgis
def test_postgis_push_down_equals_python(pg_url, national, single):
    from gis_planner.rollup.postgis import load_national, postgis_rollup, python_subset

    counts = load_national(pg_url, national, schema="rollup_test")
    assert counts["parcels"] == 301 and counts["restrictions"] == 3
    pg = postgis_rollup(pg_url, schema="rollup_test", cell_m=700.0)  # grid cells cut the zones: still exact
    d = compare(python_subset(single.levels), pg.levels)
    assert d["cells"] > 50 and d["max_rel"] < 1e-9, d
    assert cell(pg, "municipality", "B", "restricted", "reserve", "water_protection_zone") == pytest.approx(1.2)
    assert cell(pg, "country", "KG", "restricted", "settlement", "any") == pytest.approx(28.0)
    np.testing.assert_allclose(cell(pg, "country", "KG", "balance", "agricultural", "parcels"), 150)


def _workspace(root, code, district, x_off):
    from gis_planner import Workspace

    ws = Workspace.create(root / code, name=code, crs=CRS, code=code, district=district, oblast="O1")
    p = parcels()
    sel = p["cadastral_no"].str.startswith("A-")  # the 100 parcels of A, shifted by x_off
    p = p[sel].copy()
    p["cadastral_no"] = code + p["cadastral_no"].str[1:]
    p = p.set_geometry(p.geometry.translate(x_off, 0))
    ws.write_layer("parcels", gpd.GeoDataFrame(p, crs=CRS), source="test")
    ws.write_layer("boundary", gpd.GeoDataFrame({"name": [code], "district": [district], "oblast": ["O1"]},
                                                geometry=[B(x_off, 0, x_off + 1000, 1000)], crs=CRS), source="test")
    ws.write_layer("protected_areas", gpd.GeoDataFrame({"name": ["pa"], "regime": ["core"]},
                                                       geometry=[B(800, 0, 1200, 1000)], crs=CRS), source="test")
    return ws


def test_workspaces_rollup_equals_each_workspace(tmp_path):
    """Two workspaces (A at x 0–1000, B at x 1000–2000) sharing one protected area across their border."""
    from gis_planner.rollup import rollup_workspaces, workspace_tables

    wa = _workspace(tmp_path, "WA", "D1", 0.0)
    wb = _workspace(tmp_path, "WB", "D1", 1000.0)
    single = rollup_workspaces([wa.root, wb.root], engine="single")
    dask_res = rollup_workspaces([wa.root, wb.root], engine="dask", n_workers=1, processes=False)
    assert compare(single.levels, dask_res.levels)["max_rel"] < 1e-12
    # WA: protected area over x 800–1000 = settlement land (20 ha); WB: x 1000–1200 = agricultural (20 ha)
    assert cell(single, "district", "D1", "restricted", "settlement", "protected_area") == pytest.approx(20.0)
    assert cell(single, "district", "D1", "restricted", "agricultural", "protected_area") == pytest.approx(20.0)
    assert cell(single, "district", "D1", "zone_area", "protected_area", "area_ha") == pytest.approx(40.0)
    assert cell(single, "country", "KG", "balance", "agricultural", "parcels") == 100
    one = workspace_tables(wa, "WA")
    mine = single.long[single.long["municipality"] == "WA"]
    assert np.isclose(one["value"].sum(), mine["value"].sum(), rtol=1e-12)


def test_cli_rollup(national):
    import json

    from click.testing import CliRunner

    from gis_planner.cli import cli

    r = CliRunner().invoke(cli, ["rollup", "run", str(national), "--engine", "single", "--level", "country",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # progress goes to stderr
    assert doc["units"]["KG"]["restricted"]["reserve"]["water_protection_zone"] == pytest.approx(1.2)
    r = CliRunner().invoke(cli, ["rollup", "run", str(national), "--engine", "single", "--lang", "ru",
                                 "--table", "zone_area"])
    assert r.exit_code == 0 and "Площадь зон ограничений" in r.output and "D2" in r.output
    r = CliRunner().invoke(cli, ["rollup", "info", str(national), "--lang", "en"])
    assert "3 municipalities, 301 parcels" in r.output
