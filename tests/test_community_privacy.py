"""Personal data in community maps: names and KR phone numbers found, warned about and redacted in public
outputs (hearing HTML/CSV, public GeoJSON/CSV/KML, the report's problem table)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point

from gis_planner.community import exchange, open_store, privacy

from .helpers import X0, Y0, gdf, square

LON, LAT = 77.10, 42.60
NAME = "Асанов Бакыт Токтосунович"
PHONE = "0555 12 34 56"


@pytest.mark.parametrize("text, kinds", [
    ("Асанов Бакыт", ["name"]),
    ("Бакыт Асан уулу", ["name"]),
    ("Айгүл Асан кызы", ["name"]),
    ("А.К. Асанов", ["name"]),
    ("Асанова Г.Т.", ["name"]),
    ("Сапарбекова Айгүл Бакытовна", ["name"]),
    ("+996 555 12 34 56", ["phone"]),
    ("+996 (555) 123-456", ["phone"]),
    ("996555123456", ["phone"]),
    ("0555 12 34 56", ["phone"]),
    ("0700-123-456", ["phone"]),
    ("(0312) 62-14-91", ["phone"]),
    ("555123456", ["phone"]),
    ("+7 912 345 67 89", ["phone"]),
    # not personal data: dates, cadastral numbers, counts, common words, a capitalised pair without a surname
    ("2026-05-12", []),
    ("4-02-01-0077-0011", []),
    ("120 голосов, 35 га, 1500000 сом", []),
    ("Ремонт канала", []),
    ("Чоң Арык", []),
    ("Жаңы мектеп керек", []),
])
def test_find_names_and_phones(text, kinds):
    assert [f.kind for f in privacy.find(text)] == kinds


def test_phone_followed_by_a_number_and_spans():
    text = "Звоните 0555123456 5 раз, Асанов Бакыт"
    found = privacy.find(text)
    assert [(f.kind, f.text) for f in found] == [("phone", "0555123456"), ("name", "Асанов Бакыт")]
    assert privacy.redact(text, lang="ru") == "Звоните [телефон скрыт] 5 раз, [имя скрыто]"
    assert privacy.redact(text, lang="ky") == "Звоните [телефон жашырылды] 5 раз, [аты жашырылды]"


def test_settlement_names_are_not_redacted(tmp_ws):
    # Орозбеков is a village (Кадамжай district) that ends like a surname
    text = "Борбор Орозбеков айылында"
    assert [f.kind for f in privacy.find(text)] == ["name"]  # without knowing the place it looks like a name
    tmp_ws.write_layer("settlements", gdf([{"name": "Орозбеков"}], [square(0, 0, 500)]), source="test")
    places = privacy.place_names(tmp_ws)
    assert "орозбеков" in places
    assert privacy.find(text, places=places) == []
    assert privacy.redact(text, lang="ru", places=places) == text


def test_warnings_at_entry():
    ws = privacy.warnings({"title": "Булак", "description": f"{NAME}, тел. {PHONE}", "author": "А.К."}, lang="ru")
    assert len(ws) == 2
    assert "«Описание»" in ws[0] and NAME in ws[0] and "имя" in ws[0]
    assert PHONE in ws[1] and "телефон" in ws[1]


def _store_with_personal_data(tmp_ws):
    tmp_ws.write_layer("settlements", gdf([{"name": "Орозбеков"}], [square(0, 0, 500)]), source="test")
    store = open_store(tmp_ws)
    sid = store.create_session("Орозбеков", "2026-05-12", "women", participants_female=12,
                               facilitators="А.К.", notes=f"Связь: {PHONE}")
    pt = Point(LON, LAT)
    store.add_feature(sid, pt, "spring", "Булак Асанов Бакыттын", author="Б.Т.",
                      description=f"Ээси {NAME}, тел. {PHONE} же +996 700 123 456. Орозбеков айылынын жанында")
    store.add_feature(sid, Point(LON + 0.002, LAT), "problem", "Көпүрө бузулган", author="Сапарова А.",
                      description="Айгүл Асан кызы айтты: 0700-123-456")
    return store, sid


def test_hearing_and_public_exports_carry_no_names_or_phones(tmp_ws, tmp_path):
    store, sid = _store_with_personal_data(tmp_ws)
    secrets = ["Асанов", "Бакыт", "Токтосунович", "0555", "700 123 456", "0700-123-456", "Айгүл", "Сапарова",
               "Б.Т."]
    # the warnings list names every feature that has personal data, and the session's notes
    warnings = privacy.store_warnings(store, session_id=sid, lang="en")
    assert any("notes" in w and PHONE in w for w in warnings)
    assert sum(w.startswith("№1:") for w in warnings) == 4  # title name; description name, two phones

    paths = exchange.export_session(store, sid, tmp_path / "hearing", lang="ky")
    page = paths["html"].read_text(encoding="utf-8")
    csv_text = paths["csv"].read_text(encoding="utf-8-sig")
    for s in secrets:
        assert s not in page and s not in csv_text, s
    assert page.count("[аты жашырылды]") == 3 and page.count("[телефон жашырылды]") == 3
    assert "Орозбеков айылынын жанында" in page  # the village stays

    for ext in ("geojson", "csv", "kml"):
        out = exchange.export(store, tmp_path / f"public.{ext}", session_id=sid, public=True, lang="ru")
        text = out.read_text(encoding="utf-8")
        for s in secrets:
            assert s not in text, (ext, s)
        assert "[имя скрыто]" in text and "[телефон скрыт]" in text
    data = json.loads((tmp_path / "public.geojson").read_text(encoding="utf-8"))
    props = data["features"][0]["properties"]
    assert "author" not in props and "created_by" not in props
    assert props["title"] == "Булак [имя скрыто]"
    # the working export keeps everything (it is not published)
    full = exchange.export(store, tmp_path / "full.geojson", session_id=sid)
    assert NAME in full.read_text(encoding="utf-8") and "Б.Т." in full.read_text(encoding="utf-8")


def test_cli_public_export_and_warnings(tmp_ws, tmp_path):
    from gis_planner.cli import cli as main

    store, sid = _store_with_personal_data(tmp_ws)
    out = tmp_path / "pub.geojson"
    res = CliRunner().invoke(main, ["community", "export", "-w", str(tmp_ws.root), str(out), "--session", str(sid),
                                    "--public", "--lang", "ru"])
    assert res.exit_code == 0, res.output
    assert "Асанов" not in out.read_text(encoding="utf-8")
    res = CliRunner().invoke(main, ["community", "privacy", "-w", str(tmp_ws.root), "--session", str(sid),
                                    "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert "phone number" in res.output and NAME in res.output


def test_report_problem_table_is_redacted(tmp_ws):
    from gis_planner.report.sections import _community

    store, sid = _store_with_personal_data(tmp_ws)
    _, problems = _community(tmp_ws, "ru")
    assert len(problems) == 1
    desc = problems["description"].iat[0]
    assert desc == "[имя скрыто] айтты: [телефон скрыт]"
