"""Zoning: conflicts of current land use with regimes, land transformation lists, CLI."""
from __future__ import annotations

import pandas as pd
import pytest
from shapely.geometry import LineString

from gis_planner.cli import main
from gis_planner.errors import GisPlannerError
from gis_planner.zoning import conflicts, transformation_list, write_transformation
from gis_planner.zoning.conflicts import conflicts_summary
from tests.helpers import X0, Y0, gdf, rect, square

PROV = {"source": "hand-made test geometry", "source_date": "2026-11-24"}


@pytest.fixture
def conflict_ws(tmp_ws):
    """One parcel per conflict of the issue, plus one parcel without any.

    river along y=0 (x 0..1000): coastal strip 20 m, water-protection zone 100 m.
    H1 house 100x40 at y 0..40      -> half in the coastal strip (0.2 ha)
    I1 industry 100x50 at y 50..100 -> inside the water-protection zone only (0.5 ha)
    C1 crops 100x100 in the protected core (1 ha)
    H2 house 100x100, 40 % in a high mudflow zone (0.4 ha)
    S1 settlement-category house plot on a forest-fund parcel's land: the parcel F1 itself is forest
       fund with a house on it (1 ha)
    OK house far from everything
    """
    write = {
        "water_bodies": gdf({"water_type": ["river"], "size_class": ["small"]},
                            [LineString([(X0, Y0), (X0 + 1000, Y0)])]),
        "protected_areas": gdf({"name": ["NP"], "regime": ["core"]}, [square(2000, 0, 200)]),
        "hazard_zones": gdf({"hazard_type": ["mudflow"], "level": ["high"], "method": ["official"]},
                            [rect(3000, 0, 3040, 100)]),
        "parcels": gdf({"cadastral_no": ["H1", "I1", "C1", "H2", "F1", "OK"],
                        "category": ["settlement", "industry_transport", "protected", "settlement",
                                     "forest_fund", "settlement"],
                        "land_use": ["housing", "industry", "crop", "house", "жильё", "housing"]},
                       [rect(400, 0, 500, 40), rect(400, 50, 500, 100), square(2050, 50, 100),
                        square(3000, 0, 100), square(4000, 0, 100), square(5000, 500, 50)]),
    }
    tmp_ws.write_layers(write, {k: PROV for k in write})
    return tmp_ws


def test_conflicts_table(conflict_ws):
    c = conflicts(conflict_ws, lang="en")
    got = {(r.cadastral_no, r.rule_id): round(r.conflict_area_ha, 6) for r in c.itertuples()}
    assert got == {("H1", "coastal_strip"): 0.2, ("I1", "water_protection_zone"): 0.5,
                   ("C1", "protected_core"): 1.0, ("H2", "hazard_high"): 0.4, ("F1", "forest_fund"): 1.0}
    assert "OK" not in set(c["cadastral_no"])
    h1 = c[c.cadastral_no == "H1"].iloc[0]
    assert h1.share == pytest.approx(0.5) and h1.area_ha == pytest.approx(0.4)
    assert h1.land_use == "housing" and h1.activity == "housing" and "271" in h1.legal_source
    assert c["parcel_id"].dtype.kind == "i"
    assert all(isinstance(m, str) and m for m in c["message"])
    s = conflicts_summary(c)
    assert s["conflict_area_ha"].sum() == pytest.approx(3.1)


def test_conflicts_follow_the_rules(conflict_ws):
    d = conflict_ws.root / "layers"
    d.mkdir()
    (d / "restrictions.yaml").write_text("conflicts: {kinds: [coastal_strip]}\n", encoding="utf-8")
    c = conflicts(conflict_ws)
    assert list(c["cadastral_no"]) == ["H1"]


def test_transformation_list(conflict_ws, tmp_path):
    tl = transformation_list(conflict_ws, ["H1", "OK", 5], "settlement", reason="housing queue of 600 families",
                             lang="en")
    assert list(tl["cadastral_no"]) == ["H1", "OK", "F1"]
    assert list(tl["current_category"]) == ["settlement", "settlement", "forest_fund"]
    assert set(tl["target_category"]) == {"settlement"}
    assert list(tl["area_ha"]) == pytest.approx([0.4, 0.25, 1.0])
    assert list(tl["verdict"]) == ["prohibited", "allowed", "prohibited"]  # housing checked for settlement
    # H1: coastal strip, water-protection zone, the river channel itself and the 100 m sanitary zone of
    # the industry parcel I1 10 m away (gis_planner.zoning.exclusions)
    assert tl["n_restrictions"].tolist() == [4, 0, 1]
    assert "coastal_strip:coastal_strip (river) 50%" in tl["restrictions"].iloc[0]
    steps = ["justification", "documents", "council_resolution", "state_agreement", "registration"]
    for i, s in enumerate(steps, 1):
        for f in ("status", "date", "document"):
            assert f"step{i}_{s}_{f}" in tl.columns
        assert set(tl[f"step{i}_{s}_status"]) == {"pending"}
    assert set(tl["reason"]) == {"housing queue of 600 families"}
    # CSV and XLSX, headers and step labels from i18n
    csv = write_transformation(tl, tmp_path / "t.csv", lang="ru")
    df = pd.read_csv(csv, encoding="utf-8-sig")
    assert "Кадастровый номер" in df.columns and df.shape[0] == 3
    assert df["Текущая категория"].iloc[2] == "Земли лесного фонда"
    assert "Прибрежная полоса" in df["Затронутые ограничения"].iloc[0]
    xlsx = write_transformation(tl, tmp_path / "t.xlsx", lang="ky")
    sheets = pd.read_excel(xlsx, sheet_name=None)
    assert len(sheets) == 3
    proc = list(sheets.values())[1]
    assert len(proc) == 5 and proc.iloc[2, 1].startswith("3. Жергиликтүү кеңештин токтому")
    with pytest.raises(GisPlannerError, match="unknown land category"):
        transformation_list(conflict_ws, ["H1"], "moon")
    with pytest.raises(GisPlannerError, match="parcels not found: NOPE"):
        transformation_list(conflict_ws, ["H1", "NOPE"], "settlement")


def test_transformation_accepts_a_frame(conflict_ws):
    from gis_planner.zoning.restrictions import read_layer_fid

    frame = read_layer_fid(conflict_ws, "parcels")
    frame = frame[frame.cadastral_no.isin(["C1", "OK"])]
    tl = transformation_list(conflict_ws, frame, "Земли населённых пунктов")
    assert list(tl["parcel_id"]) == list(frame.index)
    assert list(tl["verdict"]) == ["prohibited", "allowed"]


def test_cli(conflict_ws, tmp_path, capsys):
    w = str(conflict_ws.root)
    assert main(["check", "-w", w, "--use", "housing", "--parcel", "H1", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Prohibited" in out and "50%" in out
    assert main(["check", "-w", w, "--use", "housing", "--point", f"{X0 + 5010},{Y0 + 510}",
                 "--format", "json"]) == 0
    assert '"verdict": "allowed"' in capsys.readouterr().out
    assert main(["check", "-w", w, "--use", "flying", "--parcel", "H1"]) == 2
    assert "unknown intended use" in capsys.readouterr().err
    assert main(["restrictions", "-w", w, "--use", "housing", "--lang", "en"]) == 0
    assert conflict_ws.has_layer("restrictions") and conflict_ws.has_layer("restriction_map_housing")
    assert (conflict_ws.root / "exports" / "restriction_map_housing.geojson").exists()
    capsys.readouterr()
    assert main(["conflicts", "-w", w, "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 6  # header + 5 conflicts
    out = tmp_path / "t.xlsx"
    assert main(["transform", "-w", w, "--parcels", "H1,OK", "--to", "settlement", "--out", str(out)]) == 0
    assert out.exists()
