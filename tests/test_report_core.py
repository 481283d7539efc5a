"""Report building blocks: local number format, DOCX/HTML writers, print maps, hillshade."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from gis_planner.basemap import hillshade
from gis_planner.report.document import Document, Figure, Heading, Para, Table, write_docx, write_html
from gis_planner.report.fmt import NBSP, fmt_number, fmt_percent
from gis_planner.report.maps import MapLayer, nice_length, render_map

from .helpers import X0, Y0, gdf, square


def test_local_number_format():
    assert fmt_number(12130.456, "ky", 1) == f"12{NBSP}130,5"
    assert fmt_number(12130.456, "ru", 2) == f"12{NBSP}130,46"
    assert fmt_number(12130.456, "en", 1) == "12,130.5"
    assert fmt_number(1234567, "ky", 0) == f"1{NBSP}234{NBSP}567"
    assert fmt_percent(0.0548, "ky", 2) == f"5,48{NBSP}%"
    assert fmt_percent(0.0548, "en", 2) == "5.48%"
    assert fmt_number(None) == "" and fmt_number(float("nan")) == ""


def test_hillshade_of_flat_ground_is_cos_zenith():
    hs = hillshade(np.full((4, 4), 100.0), 30.0, 30.0, altitude=45.0)
    assert np.allclose(hs, np.cos(np.radians(45.0)))


def test_nice_scale_lengths():
    assert nice_length(3700) == 2000 and nice_length(800) == 500 and nice_length(1000) == 1000


def _doc(tmp_path, png=None):
    doc = Document(title="6. Мейкиндик", lang="ky", subtitle="Демо")
    doc.blocks += [Heading("6.1 <script>alert(1)</script>"), Para("Текст & «тырмакча»"),
                   Table("Баланс", ["Категория", "Аянты, га"], [["Айыл чарба", 1234.5], ["Бардыгы", 1234.5]],
                         formats=["text", "ha"], source="кадастр 2026", total_row=True)]
    if png is not None:
        doc.blocks.append(Figure(png, "Карта", "DEM"))
    doc.number("6")
    return doc


def test_docx_has_numbered_table_with_local_numbers(tmp_path):
    from docx import Document as Docx

    path = write_docx([_doc(tmp_path)], tmp_path / "r.docx")
    d = Docx(str(path))
    texts = [p.text for p in d.paragraphs]
    assert "Таблица 6.1. Баланс" in texts
    assert any(p.style.name.startswith("Heading") and p.text.startswith("6.1") for p in d.paragraphs)
    cells = [c.text for row in d.tables[0].rows for c in row.cells]
    assert f"1{NBSP}234,50" in cells


def test_html_is_wellformed_and_escaped(tmp_path):
    path = write_html([_doc(tmp_path)], tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    root = ET.fromstring(text.split("\n", 1)[1])  # well-formed (XHTML-compatible) after the doctype
    assert root.tag == "html"
    assert root.find(".//table") is not None


def test_render_map_with_dem_and_scale(tmp_ws, tmp_path):
    z = (np.add.outer(np.arange(50.0), np.arange(60.0)) * 5.0).astype("float32")
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=60, height=50, count=1, dtype="float32",
                       crs="EPSG:7695", transform=from_origin(X0 - 100, Y0 + 1400, 30, 30), nodata=-9999) as ds:
        ds.write(z, 1)
    tmp_ws.set_dem(dem, source="analytic")
    tmp_ws.write_layer("boundary", gdf({"name": ["B"]}, [square(0, 0, 1200)]), source="t")
    parcels = gdf({"category": ["agricultural", "forest_fund"]}, [square(0, 0, 600), square(600, 600, 600)])
    png = render_map(tmp_ws, [MapLayer(parcels, column="category", colors={"agricultural": "#e8d88f"},
                                       labels={"agricultural": "Айыл чарба"})],
                     "Жер категориялары", ["кадастр (2026)"], tmp_path / "m.png", lang="ky", dpi=80)
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert img[..., :3].std() > 0.05   # not a blank canvas
