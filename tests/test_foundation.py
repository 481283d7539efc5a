"""Workspace, CRS, catalogues, i18n, CLI basics — hand-computable answers."""
from __future__ import annotations

import json
import sqlite3

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import Polygon, box

from gis_planner import GisPlannerError, Workspace
from gis_planner.catalog import catalogue, load_rules, validate_all
from gis_planner.cli import main
from gis_planner.crs import area_ha, kyrg06_epsg, looks_swapped_lonlat
from gis_planner.i18n import missing_translations, t
from gis_planner.text import normalize_key

from .helpers import CRS, gdf, square


def test_square_100m_is_one_hectare_in_kyrg06():
    sq = gdf({"a": [1]}, [square(0, 0, 100)])
    assert area_ha(sq)[0] == pytest.approx(1.0, abs=1e-9)
    assert f"{area_ha(sq)[0]:.4f}" == "1.0000"


def test_area_in_degrees_is_reprojected_to_kyrg06():
    # the same 100 m square expressed in lon/lat must still measure 1 ha (to projection precision)
    sq = gdf({"a": [1]}, [square(0, 0, 100)]).to_crs(4326)
    assert area_ha(sq)[0] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("lon,lat,epsg", [(69.5, 40.0, 7692), (72.8, 41.0, 7693), (74.6, 42.87, 7694),
                                          (77.1, 42.6, 7695), (80.0, 42.2, 7696), (2.35, 48.85, 32631)])
def test_kyrg06_zone_choice(lon, lat, epsg):
    assert kyrg06_epsg(lon, lat) == epsg


def test_swapped_lonlat_detection():
    assert looks_swapped_lonlat([42.5, 42.6], [77.1, 77.3])
    assert not looks_swapped_lonlat([77.1, 77.3], [42.5, 42.6])


def test_catalogues_validate_and_match_real_spellings():
    validate_all()
    cats = catalogue("land_categories")
    assert cats.codes == ["agricultural", "settlement", "industry_transport", "protected",
                          "forest_fund", "water_fund", "reserve"]
    assert cats.lookup("ЗЕМЛИ С/Х НАЗНАЧЕНИЯ") == "agricultural"
    assert cats.lookup("ѳкжа") == "protected"          # ө typed as ѳ
    assert cats.lookup("OOПТ") == "protected"          # Latin O inside a Cyrillic word
    assert cats.lookup(7) == "reserve"
    assert cats.lookup("something else") is None
    types = catalogue("land_types")
    assert types.lookup("богара") == "rain_fed" and types.parent("rain_fed") == "arable"
    assert catalogue("owner_types").lookup("ГФСУ") == "state_fund"
    assert catalogue("land_types.pasture_classes").lookup("отгонные") == "remote"


def test_normalize_key_folds_lookalikes():
    assert normalize_key("Жайыт") == normalize_key("жaйыт")
    assert normalize_key("  Айыл   чарба ") == "айыл чарба"


def test_workspace_override_is_deep_merged(tmp_ws):
    (tmp_ws.root / "layers").mkdir()
    (tmp_ws.root / "layers" / "land_categories.yaml").write_text(
        "items:\n  reserve:\n    names: {en: 'Reserve (local)'}\n", encoding="utf-8")
    cats = catalogue("land_categories", tmp_ws)
    assert cats.label("reserve", "en") == "Reserve (local)"
    assert cats.label("reserve", "ru") == "Земли запаса"        # untouched keys survive
    assert load_rules("land_categories")["items"]["reserve"]["names"]["en"] == "Reserve land"


def test_bad_yaml_names_file_and_line(tmp_path, monkeypatch):
    d = tmp_path / "layers"
    d.mkdir()
    (d / "land_categories.yaml").write_text("items:\n  a: [1, 2\n", encoding="utf-8")
    monkeypatch.setenv("GIS_PLANNER_LAYERS_DIR", str(d))
    with pytest.raises(GisPlannerError) as exc:
        load_rules("land_categories")
    assert "land_categories.yaml" in str(exc.value) and "line" in str(exc.value)


def test_i18n_complete_and_formats():
    assert missing_translations() == []
    assert t("core.n_features", "en", n=3) == "3 features"
    assert t("core.workspace", "ky") == "Иш мейкиндиги"


def test_workspace_roundtrip_provenance_and_crs(tmp_path):
    ws = Workspace.create(tmp_path / "w", name="W")
    assert ws.crs is None
    g = gdf({"name": ["B"]}, [square(0, 0, 100)]).to_crs(4326)
    ws.write_layer("boundary", g, source="hand-made", source_date="2026-01-01", original_file="b.geojson",
                   original_crs="EPSG:4326")
    assert ws.crs.to_epsg() == CRS                     # chosen from the data: zone 4
    back = ws.read_layer("boundary")
    assert back.crs.to_epsg() == CRS
    assert back.geometry.area.iloc[0] == pytest.approx(10_000.0, rel=1e-6)
    prov = ws.provenance("boundary")
    assert prov["source"] == "hand-made" and prov["source_date"] == "2026-01-01"
    assert prov["original_crs"] == "EPSG:4326" and prov["feature_count"] == 1
    info = ws.info()
    assert [lay["name"] for lay in info["layers"]] == ["boundary"]
    assert "parcels" in info["missing_standard_layers"]
    # the GeoPackage is a plain GeoPackage GDAL reads, metadata tables registered as attributes
    names = {row[0] for row in pyogrio.list_layers(ws.gpkg)}
    assert {"boundary", "gp_layer_meta", "gp_workspace_meta"} <= names


def test_failed_write_changes_nothing(tmp_ws):
    tmp_ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 100)]), source="a")
    before = tmp_ws.gpkg.read_bytes()
    bad = gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(0, 0, 1, 1)], crs=None)
    with pytest.raises(GisPlannerError):
        tmp_ws.write_layers({"parcels": gdf({"a": [1]}, [square(0, 0, 10)]), "roads": bad})
    assert tmp_ws.gpkg.read_bytes() == before
    assert tmp_ws.layers() == ["boundary"]


def test_write_layers_is_all_or_nothing_on_io_error(tmp_ws, monkeypatch):
    tmp_ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 100)]), source="a")
    before = tmp_ws.gpkg.read_bytes()
    calls = {"n": 0}
    real = pyogrio.write_dataframe

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", failing)
    with pytest.raises(GisPlannerError, match="nothing was changed"):
        tmp_ws.write_layers({"parcels": gdf({"a": [1]}, [square(0, 0, 10)]),
                             "roads": gdf({"a": [1]}, [square(0, 0, 10).exterior])})
    assert tmp_ws.gpkg.read_bytes() == before


def test_mixed_polygon_multipolygon_layer(tmp_ws):
    mp = square(0, 0, 10).union(square(20, 0, 10))
    tmp_ws.write_layer("parcels", gdf({"cadastral_no": ["a", "b"]}, [square(50, 50, 10), mp]), source="t")
    back = tmp_ws.read_layer("parcels")
    assert list(back.geometry.area.round(6)) == [100.0, 200.0]


def test_cli_info_json_and_errors(tmp_ws, capsys):
    tmp_ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 100)]), source="a", source_date="2026-02-03")
    assert main(["info", "-w", str(tmp_ws.root), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"][0]["name"] == "boundary" and data["layers"][0]["features"] == 1
    assert data["layers"][0]["source_date"] == "2026-02-03"
    assert main(["info", "-w", str(tmp_ws.root / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Fix:" in err and "Traceback" not in err
