"""Land-type hierarchy ("of which") and XLSX number formats of the balance (issue 16): hand-computed.

Four agricultural parcels side by side, 100 m deep: A arable (coded with the parent land type only,
«пашня»), B irrigated, C rain-fed (both sub-types of arable), 1 ha each, and D pasture 2 ha. A hazard
zone covers x = 50…350: A 0.5 ha, B 1 ha, C 1 ha, D 0.5 ha.
"""
from __future__ import annotations

import openpyxl
import pytest

from gis_planner.balance import compute_balance
from gis_planner.balance.export import tables, write_xlsx

from .helpers import rect
from .test_balance import parcels, restr


@pytest.fixture(scope="module")
def bal():
    p = parcels([("A", "agricultural", rect(0, 0, 100, 100), "пашня", "used"),
                 ("B", "agricultural", rect(100, 0, 200, 100), "irrigated", "used"),
                 ("C", "agricultural", rect(200, 0, 300, 100), "rain_fed", "unused"),
                 ("D", "agricultural", rect(300, 0, 500, 100), "pasture", "used")])
    r = restr([("hazard", "flood", "high", rect(50, 0, 350, 100))])
    return compute_balance(parcels=p, restrictions=r)


def test_restrictions_by_land_type_total_counts_parent_coded_parcels(bal):
    tab = tables(bal, "en", with_parcels=False)["restricted_land_type"]
    total = tab[tab["Code"] == "total"].iloc[0]
    # 5 ha of agricultural land, 3 ha in the hazard zone; leaving out the arable row (A, coded
    # arable only) gave 4 ha and 2.5 ha before
    assert total["Total"] == pytest.approx(5.0)
    assert total["Natural hazard zone"] == pytest.approx(3.0)
    arable = tab[tab["Code"] == "arable"].iloc[0]
    assert arable["Total"] == pytest.approx(3.0) and arable["Natural hazard zone"] == pytest.approx(2.5)


def test_land_type_table_shows_sub_types_as_of_which_and_top_level_shares_add_to_100(bal):
    tab = tables(bal, "en", with_parcels=False)["by_land_type"]
    labels = dict(zip(tab["Code"], tab.iloc[:, 1]))
    assert labels["irrigated"].strip().startswith("of which:") and labels["rain_fed"].strip().startswith("of which:")
    assert not labels["arable"].strip().startswith("of which")
    shares = dict(zip(tab["Code"], tab["Share, %"]))
    assert shares["arable"] == pytest.approx(60.0) and shares["pasture"] == pytest.approx(40.0)
    assert shares["arable"] + shares["pasture"] == pytest.approx(100.0)
    ru = tables(bal, "ru", with_parcels=False)["by_land_type"]
    assert "в том числе" in " ".join(ru.iloc[:, 1])


def test_xlsx_number_formats(bal, tmp_path):
    path = write_xlsx(bal, tmp_path / "b.xlsx", "en")
    wb = openpyxl.load_workbook(path)
    sheet = wb["Categories"]
    head = [c.value for c in sheet[1]]
    area = sheet.cell(row=2, column=head.index("Area, ha") + 1)
    share = sheet.cell(row=2, column=head.index("Share, %") + 1)
    count = sheet.cell(row=2, column=head.index("Parcels") + 1)
    assert area.number_format == "#,##0.00" and area.value == pytest.approx(5.0)
    assert share.number_format == "0.0%" and share.value == pytest.approx(1.0)     # 100 % of the land
    assert count.number_format == "#,##0"
    parcels_sheet = wb["Parcel restrictions"]
    head = [c.value for c in parcels_sheet[1]]
    cell = parcels_sheet.cell(row=2, column=head.index("Share of parcel") + 1)
    assert cell.number_format == "0.0%" and 0 < cell.value <= 1
    summary = wb[wb.sheetnames[0]]
    fmts = {summary.cell(row=i, column=1).value: summary.cell(row=i, column=2) for i in range(2, summary.max_row + 1)}
    used = fmts["Used, %"]
    assert fmts["Number of parcels"].number_format == "#,##0" and fmts["Number of parcels"].value == 4
    assert used.number_format == "0.0%" and used.value == pytest.approx(0.8)        # A, B, D used: 4 of 5 ha


def test_balance_says_what_it_left_out(tmp_ws, capsys):
    """A hazard zone stored with a level no rule knows (written past the importer) is not silently left
    out: the balance output says so."""
    from gis_planner.cli import main

    from .helpers import gdf

    tmp_ws.write_layer("parcels", parcels([("A", "agricultural", rect(0, 0, 100, 100), "arable", "used")]),
                       source="test")
    tmp_ws.write_layer("hazard_zones", gdf({"hazard_type": ["mudflow"], "level": ["высокий"]},
                                           [rect(0, 0, 50, 100)]), source="test")
    assert main(["balance", "-w", str(tmp_ws.root), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Warning: hazard zones without a rule" in out and "mudflow/высокий" in out
