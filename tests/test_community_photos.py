"""Photos on community features: stored in the store (GeoPackage BLOB / PostGIS bytea), checked by content,
size-limited, downscaled, stripped of EXIF (GPS) and exported with the data; on GeoPackage and PostGIS."""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import pyogrio
import pytest
import sqlalchemy as sa
from PIL import Image
from shapely.geometry import Point

from gis_planner import GisPlannerError
from gis_planner.community import exchange, media, open_store
from gis_planner.community import store as store_mod

from .test_community import _alembic, store_url  # noqa: F401 - the GeoPackage / PostGIS store fixture

LON, LAT = 77.10, 42.60


def jpeg(w, h, *, gps=None, orientation=None, color=(200, 30, 30)) -> bytes:
    img = Image.new("RGB", (w, h), color)
    img.paste((0, 0, 255), (0, 0, w // 2, h // 2))  # top-left quarter blue (shows the orientation)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (42.0, 36.0, 0.0), 3: "E", 4: (77.0, 6.0, 0.0)}  # 42°36' N, 77°06' E
    b = io.BytesIO()
    img.save(b, "JPEG", exif=exif, quality=90)
    return b.getvalue()


def encoded(fmt, w=300, h=200, mode="RGB") -> bytes:
    b = io.BytesIO()
    Image.new(mode, (w, h), (10, 200, 10) if mode == "RGB" else (10, 200, 10, 128)).save(b, fmt)
    return b.getvalue()


@pytest.fixture
def store(store_url):  # noqa: F811
    with open_store(url=store_url) as s:
        yield s


@pytest.fixture
def feature(store):
    sid = store.create_session("Tört-Kül", "2026-05-12", "women", participants_female=10)
    return store.add_feature(sid, Point(LON, LAT), "spring", "Spring", author="A.K.")


def test_photo_is_downscaled_and_stripped_of_exif_gps(store, feature):
    original = jpeg(4000, 3000, gps=True)
    assert media.exif_location(original) == pytest.approx((77.1, 42.6))  # 77°06' = 77.1, 42°36' = 42.6
    assert media.has_metadata(original)
    rec = store.add_attachment(feature.id, original, "../../DCIM/Мой родник?.JPG", author="A.K.")
    assert (rec.feature_id, rec.filename, rec.mime, rec.author, rec.exif_stripped) == (
        feature.id, "Мой_родник.jpg", "image/jpeg", "A.K.", True)
    got = store.get_attachment(rec.id)
    img = Image.open(io.BytesIO(got.data))
    assert (img.format, img.size) == ("JPEG", (1600, 1200))  # longer edge 4000 → 1600 (layers: max_edge_px)
    assert not media.has_metadata(got.data) and media.exif_location(got.data) is None
    assert got.size == len(got.data) < len(original)
    assert got.sha256 == hashlib.sha256(got.data).hexdigest()
    listed = store.attachments(feature.id)
    assert list(listed.columns) == list(media.COLUMNS)
    assert listed[["id", "filename", "size"]].values.tolist() == [[rec.id, "Мой_родник.jpg", got.size]]
    assert "data" not in listed


def test_orientation_formats_and_transparency(store, feature):
    # EXIF orientation 6 = "rotate 90° clockwise to view": stored upright, the tag gone
    r = store.add_attachment(feature.id, jpeg(400, 200, orientation=6), "side.jpg", "A.K.")
    img = Image.open(io.BytesIO(store.get_attachment(r.id).data)).convert("RGB")
    assert img.size == (200, 400)
    assert img.getpixel((150, 50))[2] > 200 and img.getpixel((50, 350))[0] > 150  # blue quarter now top right
    p = store.add_attachment(feature.id, encoded("PNG", mode="RGBA"), "plan.png", "A.K.")
    w = store.add_attachment(feature.id, encoded("WEBP"), "x.webp", "A.K.")
    assert (p.mime, p.filename, w.mime) == ("image/png", "plan.png", "image/webp")
    assert Image.open(io.BytesIO(store.get_attachment(p.id).data)).mode == "RGBA"


@pytest.mark.parametrize("data,name,code", [
    (b"GIF89a" + bytes(100), "a.gif", "not_an_image"),             # GIF: not among JPEG/PNG/WebP
    (b"%PDF-1.4 hello", "scan.jpg", "not_an_image"),              # the name says JPEG, the content does not
    (b"\xff\xd8\xff\xe0" + bytes(50), "broken.jpg", "not_an_image"),  # a truncated JPEG
    (b"\xff\xd8" + os.urandom(10 * 1024 * 1024 + 1), "huge.jpg", "photo_too_large"),
    (b"", "empty.jpg", "not_an_image"),
])
def test_bad_photos_are_refused_and_nothing_is_written(store, feature, data, name, code):
    with pytest.raises(GisPlannerError) as exc:
        store.add_attachment(feature.id, data, name, "A.K.")
    assert exc.value.code == code and exc.value.file == name
    assert store.attachments(feature.id).empty


def test_limits_per_feature_deleted_features_and_delete(store, feature):
    small = encoded("PNG", 20, 20)
    ids = [store.add_attachment(feature.id, small, f"p{i}.png", "A.K.").id for i in range(10)]
    with pytest.raises(GisPlannerError) as exc:  # layers/community_categories.yaml photos.per_feature_max
        store.add_attachment(feature.id, small, "p10.png", "A.K.")
    assert exc.value.code == "too_many_photos" and len(store.attachments(feature.id)) == 10
    with pytest.raises(GisPlannerError) as exc:
        store.add_attachment(feature.id, small, "x.png", "+996 555 123 456")
    assert exc.value.code == "personal_data"
    removed = store.delete_attachment(ids[0], "B.T.")
    assert removed.id == ids[0] and Image.open(io.BytesIO(removed.data)).size == (20, 20)  # bytes handed back
    assert len(store.attachments(feature.id)) == 9
    with pytest.raises(GisPlannerError) as exc:
        store.get_attachment(ids[0])
    assert exc.value.code == "unknown_attachment"
    store.delete_feature(feature.id, 1, "B.T.")
    with pytest.raises(GisPlannerError) as exc:
        store.add_attachment(feature.id, small, "late.png", "A.K.")
    assert exc.value.code == "deleted_feature"


def test_export_with_photos_folder_and_zip(store, feature, tmp_path):
    other = store.add_feature(feature.session_id, Point(LON + 0.01, LAT), "well", "Well", author="A.K.")
    a = store.add_attachment(feature.id, jpeg(800, 600, gps=True), "spring.jpg", "A.K.")
    b = store.add_attachment(feature.id, encoded("PNG"), "sketch.png", "A.K.")
    out = exchange.export(store, tmp_path / "map.geojson", session_id=feature.session_id, photos=True)
    doc = json.loads(out.read_text(encoding="utf-8"))
    props = {f["properties"]["id"]: f["properties"]["photos"] for f in doc["features"]}
    assert props == {feature.id: [f"map_photos/{feature.id}_{a.id}_spring.jpg",
                                  f"map_photos/{feature.id}_{b.id}_sketch.png"], other.id: []}
    for rel, rec in zip(props[feature.id], (a, b)):
        data = (tmp_path / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec.sha256 and not media.has_metadata(data)
    csv = exchange.export(store, tmp_path / "map.csv", session_id=feature.session_id, photos=True)
    assert f"map_photos/{feature.id}_{a.id}_spring.jpg;map_photos/{feature.id}_{b.id}_sketch.png" in csv.read_text()

    z = exchange.export(store, tmp_path / "bundle.zip", session_id=feature.session_id)
    with zipfile.ZipFile(z) as zf:
        names = sorted(zf.namelist())
        assert names == ["bundle.geojson", f"bundle_photos/{feature.id}_{a.id}_spring.jpg",
                         f"bundle_photos/{feature.id}_{b.id}_sketch.png"]
        inner = json.loads(zf.read("bundle.geojson"))
        assert {f["properties"]["id"]: f["properties"]["photos"] for f in inner["features"]}[feature.id][0] == \
            names[1]


def test_thumbnail_escapes_alt_text(store, feature):
    rec = store.add_attachment(feature.id, jpeg(1200, 800), "x.jpg", "A.K.")
    tag = media.thumbnail_img_tag(store.get_attachment(rec.id).data, alt='<script>alert("x")</script>', edge=120)
    assert tag.startswith('<img src="data:image/jpeg;base64,') and "<script>" not in tag
    assert 'alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in tag
    thumb = media.thumbnail(store.get_attachment(rec.id).data, 120)
    assert Image.open(io.BytesIO(thumb)).size == (120, 80)


def test_migration_0005_up_and_down_keeps_photos_table_consistent(store_url):  # noqa: F811
    s = open_store(url=store_url)
    sid = s.create_session("Tört-Kül", "2026-05-12", "women")
    f = s.add_feature(sid, Point(LON, LAT), "spring", "Spring", author="A.K.")
    s.add_attachment(f.id, encoded("PNG"), "a.png", "A.K.")
    insp = sa.inspect(s.engine)
    cols = {c["name"]: type(c["type"]).__name__.lower() for c in insp.get_columns("community_attachments")}
    assert set(cols) == {"id", "feature_id", "filename", "mime", "data", "size", "sha256", "author", "created_at",
                         "exif_stripped"}
    assert ("bytea" if s.backend == "postgis" else "blob") in cols["data"]
    if s.backend == "geopackage":  # GDAL lists the photo table next to the features
        s.close()   # WAL: GDAL in this process reads the file once the store has checkpointed and closed it
        assert "community_attachments" in [str(n) for n, _ in pyogrio.list_layers(s.path)]
    _alembic(s.engine, "downgrade", "0003_created_by")
    assert "community_attachments" not in sa.inspect(s.engine).get_table_names()
    if s.backend == "geopackage":
        s.close()
        assert "community_attachments" not in [str(n) for n, _ in pyogrio.list_layers(s.path)]
    store_mod._MIGRATED.clear()
    s2 = open_store(url=store_url)  # upgraded on open
    assert s2.attachments().empty and len(s2.features()) == 1


# --------------------------------------------------------------------------- app
def test_map_popup_thumbnail_is_escaped(store, feature):
    import folium

    from gis_planner.ui import community_photos

    store.update_feature(feature.id, 1, "A.K.", title='Булак <img src=x onerror=alert(1)>')
    store.add_attachment(feature.id, jpeg(900, 600), "a.jpg", "A.K.")
    m = folium.Map(location=[LAT, LON], zoom_start=14)
    items, key = community_photos.photo_items(store, store.features(), "ru")   # what the page draws
    assert len(key) == 1 and len(items) == 1
    community_photos.PhotoMarkers(items).add_to(m)
    html_ = m.get_root().render()
    assert "data:image/jpeg;base64," in html_
    assert "<img src=x" not in html_ and "&lt;img src=x onerror=alert(1)&gt;" in html_
    assert "\\u0424\\u043e\\u0442\\u043e: 1" in html_  # "Фото: 1", JSON-encoded in the script
    assert "$(`" not in html_  # no folium Popup: it needs jQuery, which the offline app does not load
    assert community_photos.photo_items(store, store.features().iloc[0:0], "ru") == ([], ())


@pytest.mark.usefixtures("no_app_warm_up")
def test_app_shows_and_removes_a_features_photos(tmp_path, demo_ws):
    from .apptest import assert_ok, copy_demo, open_app

    ws = copy_demo(demo_ws, tmp_path / "demo", community=True)
    s = open_store(ws)
    sid = int(s.list_sessions()["id"].iloc[0])  # the session the page opens with
    fid = int(s.features(session_id=sid)["id"].iloc[0])  # the feature it picks first
    rec = s.add_attachment(fid, jpeg(900, 600), "spring.jpg", "A.K.")
    at = open_app(ws, "en", "community")
    assert_ok(at)
    exp = [e for e in at.expander if e.label == "Photos (1)"]
    assert exp, [e.label for e in at.expander]
    assert any("spring.jpg" in c.value for c in at.caption)
    at.session_state["community_author"] = "B.T."
    [b for b in at.button if b.key == f"community_photo_del_{rec.id}"][0].click()
    at.run()
    assert_ok(at)
    assert s.attachments(fid).empty
    assert any(e.label == "Photos (0)" for e in at.expander)
    assert any("Photo removed: spring.jpg" in x.value for x in at.success)


def test_exported_zip_imports_back_with_its_photos(store, feature, tmp_path):
    from gis_planner.community import fieldforms

    store.add_attachment(feature.id, encoded("PNG", 64, 48), "sketch.png", "A.K.")
    z = exchange.export(store, tmp_path / "bundle.zip", session_id=feature.session_id)
    other = open_store(url=str(tmp_path / "other.gpkg"))
    sid = other.create_session("Tört-Kül", "2026-05-12", "women")
    rep = fieldforms.import_odk(other, z, sid, author="Z.Z.")
    assert (len(rep.features), rep.photos, rep.missing_photos) == (1, 1, [])
    assert rep.features[0].uid == feature.uid  # the same feature (importing it twice would be refused)
    back = other.get_attachment(int(other.attachments()["id"].iloc[0]))
    orig = store.get_attachment(int(store.attachments(feature.id)["id"].iloc[0]))
    assert back.filename.endswith("sketch.png") and back.mime == "image/png"
    assert Image.open(io.BytesIO(back.data)).tobytes() == Image.open(io.BytesIO(orig.data)).tobytes()
    other.close()


@pytest.mark.browser
def test_browser_attaches_a_photo_and_moves_the_point_to_it(tmp_path, demo_ws, artifacts_dir):
    """A real upload through the app's file uploader in Chromium (Russian UI): the photo is stored without
    EXIF, and the point moves to the position the photo carried, because the user asked for it."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from gis_planner.i18n import t

    from .apptest import copy_demo
    from .e2e.test_browser import ARGS, CHROMIUM, ROOT

    ws = copy_demo(demo_ws, tmp_path / "demo", community=True)
    s = open_store(ws)
    sid = int(s.list_sessions()["id"].iloc[0])
    f = s.features(session_id=sid).iloc[0]  # the feature the page picks first (a point)
    assert f["kind"] == "point"
    lon, lat = f.geometry.x + 0.0004, f.geometry.y + 0.0003  # ~35 m away, inside the municipality
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (float(int(lat)), float(int(lat * 60 % 60)), lat * 3600 % 60),
                    3: "E", 4: (float(int(lon)), float(int(lon * 60 % 60)), lon * 3600 % 60)}
    photo = tmp_path / "IMG_2041.jpg"
    Image.new("RGB", (3000, 2000), (200, 120, 40)).save(photo, "JPEG", exif=exif)
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    env = dict(os.environ, GIS_PLANNER_WORKSPACE=str(ws.root), GIS_PLANNER_LANG="ru")
    env.pop("GIS_PLANNER_DATABASE_URL", None)
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(Path(ROOT) / "app.py"), "--server.port",
                             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            br = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = br.new_page(viewport={"width": 1440, "height": 1000}, locale="ru-RU")
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            def settle():
                page.wait_for_timeout(1000)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=240_000)
                page.wait_for_timeout(500)

            page.goto(f"http://127.0.0.1:{port}/community")
            header = page.get_by_text(f"{t('community.photo.photos', 'ru')} (0)")
            header.wait_for(timeout=240_000)
            settle()
            page.locator(f"input[aria-label*=\"{t('app.community.author', 'ru')}\"]").first.fill("B.T.")
            page.keyboard.press("Enter")
            settle()
            page.get_by_text(f"{t('community.photo.photos', 'ru')} (0)").click()
            photos_box = page.locator("[data-testid='stExpander']",
                                      has_text=f"{t('community.photo.photos', 'ru')} (0)")
            # the photo panel's own uploader (the paper-map panel above it has one too)
            photos_box.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(photo))
            settle()
            move = t("community.photo.use_location", "ru", lat=f"{lat:.5f}", lon=f"{lon:.5f}")
            page.get_by_text(move).click()
            page.get_by_role("button", name=t("community.photo.save", "ru")).click()
            page.get_by_text(f"{t('community.photo.photos', 'ru')} (1)").wait_for(timeout=120_000)
            settle()
            page.get_by_text(f"{t('community.photo.photos', 'ru')} (1)").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts_dir / "community_photos_ru.png"))
            body = page.inner_text("[data-testid='stMainBlockContainer']")
            assert t("community.photo.added", "ru", name="IMG_2041.jpg") in body
            assert "per file" not in body and "Upload" not in body  # Streamlit's English kept off screen
            assert not errors, errors
            br.close()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    att = s.attachments(int(f["id"]))
    assert list(att["filename"]) == ["IMG_2041.jpg"] and list(att["author"]) == ["B.T."]
    data = s.get_attachment(int(att["id"].iloc[0])).data
    assert Image.open(io.BytesIO(data)).size == (1600, 1067) and not media.has_metadata(data)
    moved = s.get_feature(int(f["id"]))
    assert moved.version == int(f["version"]) + 1
    assert moved.geometry.x == pytest.approx(lon, abs=1e-7) and moved.geometry.y == pytest.approx(lat, abs=1e-7)
