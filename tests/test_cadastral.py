"""Cadastral numbers found however they are written (gis_planner.zoning.cadastral) — and by the check."""
import pytest

from gis_planner.zoning.cadastral import CadastralIndex, groups, normalize

NUMBERS = [("4-02-01-0050-0003", 10), ("4-02-01-0050-0004", 11), ("4-02-01-0500-0003", 12)]


@pytest.mark.parametrize("text, fid", [
    ("4-02-01-0050-0003", 10),
    ("  4-02-01-0050-0003 ", 10),
    ("4 02 01 0050 0003", 10),
    ("4\u00a002\u00a001\u00a00050\u00a00003", 10),   # no-break spaces (copied from a document)
    ("4.02.01.0050.0003", 10),
    ("4/02/01/0050/0004", 11),
    ("4–02–01–0050–0004", 11),                       # en dashes
    ("4020100500003", 10),
    ("4-2-1-50-3", 10),                              # leading zeros left out
    ("4-2-1-500-3", 12),
])
def test_written_forms_find_the_parcel(text, fid):
    assert CadastralIndex(NUMBERS).find(text) == fid


@pytest.mark.parametrize("text", ["4-02-01-0050-0009", "", None, "abc", "4-02-01-0050", "4 02 01 0050 0003 x"])
def test_other_text_finds_nothing(text):
    assert CadastralIndex(NUMBERS).find(text) is None


def test_an_ambiguous_form_finds_nothing():
    # "4-02-010-050-0003" and "4-02-01-0050-0003" have the same digits: no separators cannot tell them apart
    idx = CadastralIndex([("4-02-010-050-0003", 1), ("4-02-01-0050-0003", 2)])
    assert idx.find("4020100500003") is None
    assert idx.find("4 02 010 050 0003") == 1 and idx.find("4.02.01.0050.0003") == 2


def test_groups_and_normalize():
    assert groups("4 02.01-0050/0003") == ("4", "02", "01", "0050", "0003")
    assert groups("Ak-Talaa 5") == ()
    assert normalize("4 02 01 0050 0003") == "4-02-01-0050-0003"
    assert normalize(" x ") == "x"


def test_check_finds_a_number_typed_with_spaces(demo_ws):
    from gis_planner.zoning import check

    no = str(demo_ws.read_layer("parcels")["cadastral_no"].iloc[3])
    typed = no.replace("-", " ")
    assert typed != no
    a = check(demo_ws, "housing", parcel_id=no, lang="ru")
    b = check(demo_ws, "housing", parcel_id=typed, lang="ru")
    c = check(demo_ws, "housing", parcel_id=no.replace("-", ""), lang="ru")
    assert a.cadastral_no == b.cadastral_no == c.cadastral_no == no
    assert a.verdict == b.verdict
