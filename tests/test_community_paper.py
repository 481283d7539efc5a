"""Paper maps to layers: the printed session base map, georeferencing a photographed drawn map from control
points / corner marks (RMS < 2 px), the stored overlay, tracing over it, and the hearing output."""
from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage
from shapely.geometry import Polygon

from gis_planner import GisPlannerError, Workspace
from gis_planner.community import exchange, georef, open_store, paper


@pytest.fixture(scope="module")
def ws(demo_ws, tmp_path_factory):
    """A copy of the demo workspace (the tests store sheets and photos in it)."""
    dst = tmp_path_factory.mktemp("paper") / "demo"
    shutil.copytree(demo_ws.root, dst, ignore=shutil.ignore_patterns("community_media"))
    return Workspace(dst)


@pytest.fixture(scope="module")
def sheet(ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("print") / "base.pdf"
    return paper.basemap(ws, out, store=open_store(ws), session_id=1, size="A3", lang="ru")


# --------------------------------------------------------------------------- the printed base map
def test_base_map_pdf_png_and_sheet(sheet, ws):
    pdf, png = sheet.files["pdf"], sheet.files["png"]
    with open(pdf, "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    with Image.open(png) as im:
        assert im.size == sheet.png_size == (2480, 1753)  # A3 landscape at 150 dpi
    # a round scale at which the village (Ак-Өрүк, ~2.3 km across) fits the 334 × 257 mm frame: 1:10 000
    assert sheet.scale == 10000 and sheet.grid_m == 500
    x0, y0, x1, y1 = sheet.extent
    assert (x1 - x0, y1 - y0) == pytest.approx((334 * 10, 257 * 10))
    village = ws.read_layer("settlements").set_index("name").loc["Ак-Өрүк"].geometry
    assert shapely.box(*sheet.extent).contains(village)
    # four marks 9 mm (= 90 m at 1:10 000) inside the frame corners, numbered NW 1, NE 2, SE 3, SW 4
    assert [(m["id"], m["corner"]) for m in sheet.marks] == [(1, "NW"), (2, "NE"), (3, "SE"), (4, "SW")]
    assert (sheet.marks[0]["x"], sheet.marks[0]["y"]) == pytest.approx((x0 + 90, y1 - 90))
    # the map → PNG transform puts a mark's centre on a black-and-white mark: white centre, black ring
    arr = np.asarray(Image.open(png).convert("L"))
    for m in sheet.marks:
        c, r = sheet.map_to_png(m["x"], m["y"])
        ring_c, _ = sheet.map_to_png(m["x"] + 5.0 * 10, m["y"])  # 5 mm right of the centre: on the black ring
        assert arr[int(r), int(ring_c)] < 60
    # the sheet description is kept in the workspace for georeferencing the photos later
    assert [s.sheet_id for s in paper.sheets(ws, session_id=1)][0] == sheet.sheet_id


def test_grid_letters_and_user_text_stays_literal():
    assert [paper.column_letter(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]
    xs, ys = paper.grid_lines((1000, 2000, 2600, 3100), 500)
    assert list(xs) == [1500, 2000, 2500] and list(ys) == [2500, 3000]
    assert paper.plain("Көчө $5$") == r"Көчө \$5\$"


def test_base_map_in_kyrgyz_with_dollar_in_a_village_name(ws, tmp_path):
    # mathtext would turn "$a$" into italics (or fail on "$"): the name must print as written
    sh = paper.basemap(ws, tmp_path / "ky.png", village="Ак-Өрүк", date="2026-05-12", size="A3", lang="ky",
                       keep_sheet=False)
    assert sh.scale == 10000 and "pdf" not in sh.files and (tmp_path / "ky.json").exists()
    sh2 = paper.basemap(ws, tmp_path / "dollar.pdf", village="$x^2$ айылы", bounds=sh.extent, size="A2",
                        lang="ky", keep_sheet=False, png=False)
    # A2: a 508 × 380 mm frame, at the same 1:10 000 it shows 5.08 × 3.80 km around the same centre
    assert sh2.size == "A2" and sh2.scale == 10000
    assert (sh2.extent[2] - sh2.extent[0], sh2.extent[3] - sh2.extent[1]) == pytest.approx((5080, 3800))
    with pytest.raises(GisPlannerError) as e:
        paper.basemap(ws, tmp_path / "x.pdf", village="Ак-Өрүк", size="B5")
    assert e.value.code == "bad_option"


# --------------------------------------------------------------------------- a photographed drawn map
# the "photo": the base map PNG rotated by 12°, scaled by 0.8, shifted and seen at an angle (perspective terms
# 6e-5, 3e-5): photo pixel = G(base PNG pixel) in homogeneous coordinates
ANGLE, SCALE = np.radians(12.0), 0.8
G = np.array([[1, 0, 0], [0, 1, 0], [6e-5, 3e-5, 1]]) @ np.array(
    [[SCALE * np.cos(ANGLE), -SCALE * np.sin(ANGLE), 300], [SCALE * np.sin(ANGLE), SCALE * np.cos(ANGLE), 100],
     [0, 0, 1]])
PHOTO_SIZE = (2400, 1900)


def _h(m, a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    w = m[2, 0] * a + m[2, 1] * b + m[2, 2]
    return (m[0, 0] * a + m[0, 1] * b + m[0, 2]) / w, (m[1, 0] * a + m[1, 1] * b + m[1, 2]) / w


def map_to_photo(sheet, x, y):
    c, r = sheet.map_to_png(x, y)
    return _h(G, c, r)


@pytest.fixture(scope="module")
def photo(sheet, tmp_path_factory):
    """The base map as photographed on a brown table: warped, unevenly lit, a little blurred, as a JPEG."""
    base = Image.open(sheet.files["png"]).convert("RGB")
    arr = np.asarray(base).copy()
    w, h = PHOTO_SIZE
    cc, rr = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    bx, by = _h(np.linalg.inv(G), cc, rr)
    out = np.zeros((h, w, 3), dtype="uint8")
    for b, bg in enumerate((120, 90, 60)):
        out[..., b] = np.clip(ndimage.map_coordinates(arr[..., b].astype("float32"), [by - 0.5, bx - 0.5], order=1,
                                                      mode="constant", cval=bg), 0, 255)
    # a phone photo: light falling off across the sheet (100 % → 70 %), slightly out of focus, JPEG
    out = ndimage.gaussian_filter(out.astype("float32"), sigma=(0.8, 0.8, 0))
    out = np.clip(out * np.linspace(1.0, 0.7, w)[None, :, None], 0, 255).astype("uint8")
    path = tmp_path_factory.mktemp("photo") / "IMG_0412.jpg"
    Image.fromarray(out).save(path, quality=85)
    return path


def _grid_points(sheet):
    xs, ys = paper.grid_lines(sheet.extent, sheet.grid_m)
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.ravel(), gy.ravel()])


def test_georeference_from_clicked_grid_crossings(sheet, photo):
    pts = _grid_points(sheet)  # 7 × 5 grid crossings of the printed sheet
    assert len(pts) == 35
    pc, pr = map_to_photo(sheet, pts[:, 0], pts[:, 1])
    # clicked by hand: up to ±1 px off (deterministic pattern)
    rng = np.random.default_rng(4)
    clicked = np.column_stack([pc, pr]) + rng.uniform(-1, 1, size=(len(pts), 2))
    # nine crossings spread over the sheet (columns 1, 4, 7 × rows 1, 3, 5 of the 7 × 5 crossings) are clicked
    use = np.zeros((5, 7), dtype=bool)
    use[np.ix_([0, 2, 4], [0, 3, 6])] = True
    use = use.ravel()
    f = georef.fit(clicked[use], pts[use])
    assert f.kind == "projective" and f.dof == 10
    assert f.rms_px < 2.0 and f.rms_m < 2.0 * f.metres_per_pixel(1200, 950)
    # the fitted transform predicts the other 26 crossings (check points) within 2 px
    qc, qr = f.to_pixel(pts[~use, 0], pts[~use, 1])
    err = np.hypot(qc - pc[~use], qr - pr[~use])
    assert np.sqrt(np.mean(err ** 2)) < 2.0 and err.max() < 2.5
    # a mis-clicked point shows up in the residuals
    bad = clicked[use].copy()
    bad[4] += (40, -25)
    fb = georef.fit(bad, pts[use])
    assert int(np.argmax(fb.residual_px)) == 4 and fb.rms_px > 5
    # an affine fit cannot absorb the perspective: clearly worse than the projective one
    fa = georef.fit(clicked[use], pts[use], kind="affine")
    assert fa.rms_px > 5 * f.rms_px


def test_georeference_from_the_corner_marks_and_trace(ws, sheet, photo, tmp_path):
    found = georef.detect_marks(photo)
    assert sorted(found) == [1, 2, 3, 4]
    for m in sheet.marks:
        tc, tr = map_to_photo(sheet, m["x"], m["y"])
        assert np.hypot(found[m["id"]][0] - tc, found[m["id"]][1] - tr) < 2.0
    f = georef.fit_marks(photo, sheet)
    pts = _grid_points(sheet)
    pc, pr = map_to_photo(sheet, pts[:, 0], pts[:, 1])
    qc, qr = f.to_pixel(pts[:, 0], pts[:, 1])
    rms = float(np.sqrt(np.mean((qc - pc) ** 2 + (qr - pr) ** 2)))
    assert rms < 2.0  # RMS over 35 independent check points
    # a polygon digitised over the photo (in photo pixels) comes out at its map coordinates
    x0, y0, x1, y1 = sheet.extent
    ring = [(x0 + 1000, y0 + 800), (x0 + 1600, y0 + 800), (x0 + 1700, y0 + 1500), (x0 + 1000, y0 + 1400)]
    rc, rr = map_to_photo(sheet, [p[0] for p in ring], [p[1] for p in ring])
    drawn = list(zip(rc.tolist(), rr.tolist()))
    traced = georef.trace(f, drawn + drawn[:1])
    truth = Polygon(ring)
    m_px = f.metres_per_pixel(1200, 950)  # ≈ 1.7 m per photo pixel at 1:10 000
    assert traced.geom_type == "Polygon"
    assert traced.hausdorff_distance(truth) < 2 * m_px
    assert traced.area == pytest.approx(truth.area, rel=0.01)
    # ... and it goes into the store as lon/lat like anything drawn in the app
    store = open_store(ws)
    rec = store.add_feature(1, georef.to_lonlat(traced, ws.crs), "pasture", "Жайыт (кагаз картадан)", author="А.К.")
    assert rec.kind == "polygon"
    back = gpd.GeoSeries([rec.geometry], crs=4326).to_crs(ws.crs).iloc[0]
    assert back.hausdorff_distance(truth) < 2 * m_px


def test_overlay_is_warped_stored_and_in_the_hearing(ws, sheet, photo, tmp_path):
    f = georef.fit_marks(photo, sheet)
    rec = georef.save_overlay(ws, photo, f, file_name="IMG_0412.jpg", uploader="А.К.", session_id=1,
                              sheet_id=sheet.sheet_id)
    d = georef.georef_dir(ws) / rec["id"]
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    assert meta["file_name"] == "IMG_0412.jpg" and meta["uploader"] == "А.К." and meta["kind"] == "projective"
    assert len(meta["points"]) == 4 and meta["rms_px"] < 0.01 and meta["sheet_id"] == sheet.sheet_id
    assert (d / "original.jpg").read_bytes() == photo.read_bytes()
    # the GeoTIFF is in the workspace CRS and the corner marks land on their coordinates: at each mark's centre
    # the overlay shows the white centre of the mark, 5 mm to the side its black ring
    with rasterio.open(d / rec["files"]["tif"]) as ds:
        assert ds.crs.to_epsg() == ws.crs.to_epsg() and ds.count == 4
        rgba = ds.read()
        for m in sheet.marks:
            r, c = ds.index(m["x"] + 16.0, m["y"])  # 1.6 mm right of the centre: white, between dots
            assert rgba[:3, r, c].min() > 150 and rgba[3, r, c] == 255  # (the light falls to 70 % on the right)
            r, c = ds.index(m["x"] + 50.0, m["y"])
            assert rgba[:3, r, c].max() < 90
        # outside the photo: transparent
        assert rgba[3, 0, 0] == 0 or rgba[3, -1, -1] == 0
    # the world file describes the same grid as the GeoTIFF
    pgw = [float(v) for v in (d / rec["files"]["pgw"]).read_text().split()]
    with rasterio.open(d / rec["files"]["tif"]) as ds:
        assert pgw[0] == pytest.approx(ds.transform.a) and pgw[4] == pytest.approx(ds.transform.c + ds.transform.a / 2)
    assert [o["id"] for o in georef.overlays(ws, session_id=1)] == [rec["id"]]
    assert georef.overlays(ws, session_id=2) == []
    # the hearing page shows the photo overlay with its provenance, but not who uploaded it
    paths = exchange.export_session(open_store(ws), 1, tmp_path / "hearing", lang="ky")
    page = paths["html"].read_text(encoding="utf-8")
    assert "IMG_0412.jpg" in page and "<img" in page and "А.К." not in page
    img = [p for p in (tmp_path / "hearing").iterdir() if p.name.startswith("overlay_")]
    assert len(img) == 1 and img[0].name in page


def test_affine_scan_goes_through_rasterio(ws, sheet, tmp_path):
    # a flat scan: the base PNG itself, so pixel → map is the sheet's own affine transform
    marks = sheet.marks
    px = [sheet.map_to_png(m["x"], m["y"]) for m in marks]
    f = georef.fit(px[:3], [(m["x"], m["y"]) for m in marks[:3]], kind="affine")
    assert f.kind == "affine" and f.dof == 0
    files = georef.warp(sheet.files["png"], f, tmp_path / "scan.tif", crs=ws.crs)
    with rasterio.open(files["tif"]) as ds:
        x0, y0, x1, y1 = sheet.extent
        b = ds.bounds
        # the whole PNG (frame + margins) covers the frame extent
        assert b.left < x0 and b.right > x1 and b.bottom < y0 and b.top > y1
        r, c = ds.index(marks[3]["x"] + 50.0, marks[3]["y"])
        assert ds.read(1)[r, c] < 90


@pytest.mark.parametrize("pixels, coords, code", [
    ([(0, 0), (1, 1)], [(0, 0), (1, 1)], "too_few_points"),
    ([(0, 0), (1, 1), (2, 2), (3, 3)], [(0, 0), (1, 0), (0, 1), (1, 1)], "degenerate_points"),
    ([(0, 0), (1, 0), (0, 1)], [(0, 0), (1, 0)], "bad_points"),
])
def test_bad_control_points_are_refused(pixels, coords, code):
    with pytest.raises(GisPlannerError) as e:
        georef.fit(pixels, coords)
    assert e.value.code == code


def test_photo_without_marks_is_refused(sheet, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (800, 600), "white").save(blank)
    with pytest.raises(GisPlannerError) as e:
        georef.fit_marks(blank, sheet)
    assert e.value.code == "marks_not_found"


def test_cli_basemap_and_georef(ws, sheet, photo, tmp_path):
    from gis_planner.cli import cli

    before = len(georef.overlays(ws, session_id=1))
    out = tmp_path / "cli.pdf"
    res = CliRunner().invoke(cli, ["community", "basemap", "-w", str(ws.root), "--session", "1", "--size", "A3",
                                   "--lang", "ky", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".png").exists() and "1:10 000" in res.output
    res = CliRunner().invoke(cli, ["community", "georef", "-w", str(ws.root), str(photo), "--sheet",
                                   str(out.with_suffix(".json")), "--session", "1", "--author", "Б.Т."])
    assert res.exit_code == 0, res.output
    assert "RMS" in res.output
    # control points from a CSV (col,row,x,y): five grid crossings, a projective fit with residuals per point
    pts = _grid_points(sheet)[[0, 6, 17, 28, 34]]
    pc, pr = map_to_photo(sheet, pts[:, 0], pts[:, 1])
    csv_path = tmp_path / "points.csv"
    pd.DataFrame({"col": pc, "row": pr, "x": pts[:, 0], "y": pts[:, 1]}).to_csv(csv_path, index=False)
    res = CliRunner().invoke(cli, ["community", "georef", "-w", str(ws.root), str(photo), "--points", str(csv_path),
                                   "--session", "1", "--author", "Б.Т.", "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert "projective, 5 points" in res.output and res.output.count("point ") >= 5
    assert len(georef.overlays(ws, session_id=1)) == before + 2


# --------------------------------------------------------------------------- the app
@pytest.mark.usefixtures("no_app_warm_up")
def test_app_prints_shows_overlay_and_privacy_warnings(demo_ws, sheet, photo, tmp_path):
    from gis_planner.i18n import t

    from .apptest import assert_ok, copy_demo, open_app

    ws2 = copy_demo(demo_ws, tmp_path / "demo", community=True)
    store = open_store(ws2)
    sid = int(store.list_sessions()["id"].iloc[0])  # the session the page opens with
    feat = store.features(session_id=sid).iloc[0]
    store.update_feature(int(feat["id"]), int(feat["version"]), "А.К.", description="Тел. 0555 12 34 56")
    f = georef.fit_marks(photo, sheet)
    georef.save_overlay(ws2, photo, f, file_name="IMG_0412.jpg", uploader="А.К.", session_id=sid, clip=sheet.extent)
    at = open_app(ws2, "ru", "community")
    assert_ok(at)
    # the overlay switch above the map, and the photo on the community map (a Leaflet image overlay)
    assert any(tg.label == t("paper.app.overlay_show", "ru", n=1) for tg in at.toggle)
    sent = [str(el.proto) for el in at.main if getattr(el, "type", "") == "component_instance"]
    assert len(sent) == 1 and "imageOverlay" in sent[0] and "data:image/png;base64" in sent[0]
    # the personal-data warning names the phone
    assert any("0555 12 34 56" in w.value for w in at.warning)
    # print the base map from the app: two download buttons appear
    [b for b in at.button if b.label == t("paper.app.prepare", "ru")][0].click()
    at.run()
    assert_ok(at)
    labels = [el.proto.label for el in at.get("download_button")]
    assert t("paper.app.download_pdf", "ru") in labels and t("paper.app.download_png", "ru") in labels
