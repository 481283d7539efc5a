"""Issue 18.1: reading an input file never opens the network (GeoJSON crs link, /vsicurl/, VRT, KML NetworkLink).

A real HTTP server on 127.0.0.1 (random port, stopped at the end of each test) records every request;
each input form goes through ``gis-planner import``, ``gis-planner community import`` and ``dem set``,
and the server must receive nothing. The first test proves the server does receive requests (so the
other tests can fail).
"""
from __future__ import annotations

import http.server
import json
import threading
import urllib.request
import zipfile

import numpy as np
import pytest

from gis_planner import GisPlannerError, Workspace
from gis_planner.cli import main

WKT_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
            'UNIT["degree",0.0174532925199433]]')


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def _answer(self):
        self.hits.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(WKT_4326.encode())

    do_GET = do_HEAD = _answer

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    """A local HTTP server on a random port; yields (base_url, hits); always shut down."""
    handler = type("H", (_Recorder,), {"hits": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.timeout = 2
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler.hits
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(5)


def _feature_collection(crs=None):
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "properties": {"cadastral_no": "1-01", "title": "Spring",
                                                          "category": "spring"},
                        "geometry": {"type": "Point", "coordinates": [77.1, 42.6]}}]}
    if crs is not None:
        fc["crs"] = crs
    return fc


def _inputs(tmp_path, url):
    """Every hostile input form, as {name: path}."""
    out = {}
    p = tmp_path / "crs_link.geojson"
    p.write_text(json.dumps(_feature_collection({"type": "link", "properties": {"href": f"{url}/crs.wkt",
                                                                                "type": "ogcwkt"}})))
    out["geojson_crs_link"] = p
    p = tmp_path / "crs_name_url.geojson"
    p.write_text(json.dumps(_feature_collection({"type": "name", "properties": {"name": f"{url}/crs.wkt"}})))
    out["geojson_crs_name_url"] = p
    z = tmp_path / "crs_link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(out["geojson_crs_link"], "inner/parcels.geojson")
    out["zip_with_crs_link"] = z
    vrt = (f'<OGRVRTDataSource><OGRVRTLayer name="parcels"><SrcDataSource>/vsicurl/{url}/remote.geojson'
           f'</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>')
    (tmp_path / "remote.vrt").write_text(vrt)
    out["vrt"] = tmp_path / "remote.vrt"
    (tmp_path / "disguised.gml").write_text(vrt)   # GDAL recognises a VRT by its content, not its name
    out["vrt_named_gml"] = tmp_path / "disguised.gml"
    kml = ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
           '<Placemark><name>A</name><Point><coordinates>77.1,42.6</coordinates></Point></Placemark>'
           f'<NetworkLink><name>more</name><Link><href>{url}/more.kml</href></Link></NetworkLink>'
           '</Document></kml>')
    (tmp_path / "netlink.kml").write_text(kml)
    out["kml_network_link"] = tmp_path / "netlink.kml"
    out["vsicurl_path"] = f"/vsicurl/{url}/remote.geojson"
    out["url_path"] = f"{url}/remote.geojson"
    return out


def test_the_server_does_receive_requests(server):
    url, hits = server
    with urllib.request.urlopen(f"{url}/probe", timeout=5) as r:  # noqa: S310 - local test server
        r.read()
    assert hits == ["GET /probe"]


def test_gdal_itself_is_offline(server, tmp_path):
    """Second line of defence: even when a file reaches GDAL directly, GDAL sends no request."""
    import pyogrio
    import rasterio

    url, hits = server
    p = tmp_path / "a.geojson"
    p.write_text(json.dumps(_feature_collection({"type": "link", "properties": {"href": f"{url}/crs.wkt"}})))
    try:
        pyogrio.read_dataframe(p)
    except Exception:  # noqa: BLE001 - GDAL may fail or fall back: what matters is the request log
        pass
    with pytest.raises(Exception):
        pyogrio.read_dataframe(f"/vsicurl/{url}/a.geojson")
    with pytest.raises(Exception):
        rasterio.open(f"/vsicurl/{url}/dem.tif")
    assert hits == []


@pytest.mark.parametrize("form", ["geojson_crs_link", "geojson_crs_name_url", "zip_with_crs_link", "vrt",
                                  "vrt_named_gml", "kml_network_link", "vsicurl_path", "url_path"])
def test_import_sends_no_request(server, tmp_path, tmp_ws, capsys, form):
    url, hits = server
    src = _inputs(tmp_path, url)[form]
    code = main(["import", "-w", str(tmp_ws.root), "--layer", "parcels", str(src), "--date", "2025-01-01",
                 "--lang", "en"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert hits == []
    assert "internal error" not in err
    assert not tmp_ws.has_layer("parcels")


@pytest.mark.parametrize("form", ["geojson_crs_link", "geojson_crs_name_url", "vrt", "vrt_named_gml",
                                  "kml_network_link", "vsicurl_path"])
def test_community_import_sends_no_request(server, tmp_path, capsys, form):
    url, hits = server
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    w = str(ws.root)
    assert main(["community", "new-session", "-w", w, "--village", "Ak-Suu", "--date", "2026-05-01",
                 "--group", "youth", "--lang", "en"]) == 0
    src = _inputs(tmp_path, url)[form]
    code = main(["community", "import", "-w", w, str(src), "--session", "1", "--lang", "en"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert hits == []
    assert "internal error" not in err


def test_library_refusals_are_coded(server, tmp_path):
    from gis_planner.community.exchange import read_file
    from gis_planner.io import read_source

    url, hits = server
    inputs = _inputs(tmp_path, url)
    kinds = {}
    for form in ("geojson_crs_link", "vrt", "vrt_named_gml", "kml_network_link", "vsicurl_path"):
        for reader in (read_source, read_file):
            with pytest.raises(GisPlannerError) as ei:
                reader(inputs[form])
            assert ei.value.code == "unsafe_input"
            kinds[form] = ei.value.details["kind"]
    assert kinds == {"geojson_crs_link": "geojson_crs_link", "vrt": "vrt", "vrt_named_gml": "vrt",
                     "kml_network_link": "kml_network_link", "vsicurl_path": "remote_path"}
    # a GeoJSON naming its CRS by EPSG code is still read (no false alarm)
    ok = tmp_path / "ok.geojson"
    ok.write_text(json.dumps(_feature_collection({"type": "name",
                                                  "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}})))
    assert len(read_source(ok).gdf) == 1 and len(read_file(ok)) == 1
    assert hits == []


def test_dem_set_refuses_a_remote_vrt(server, tmp_path, tmp_ws):
    import rasterio
    from rasterio.transform import from_origin

    url, hits = server
    vrt = tmp_path / "dem.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="2" rasterYSize="2"><VRTRasterBand dataType="Float32" band="1">'
                   f'<SimpleSource><SourceFilename relativeToVRT="0">/vsicurl/{url}/dem.tif</SourceFilename>'
                   f'</SimpleSource></VRTRasterBand></VRTDataset>')
    disguised = tmp_path / "dem_disguised.tif"
    disguised.write_text(vrt.read_text())
    for src in (vrt, disguised, f"/vsicurl/{url}/dem.tif"):
        with pytest.raises(GisPlannerError) as ei:
            tmp_ws.set_dem(src, source="test")
        assert ei.value.code == "unsafe_input"
    # a real GeoTIFF is still accepted
    real = tmp_path / "real.tif"
    with rasterio.open(real, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32", crs="EPSG:7695",
                       transform=from_origin(4_300_000, 4_720_000, 10, 10)) as ds:
        ds.write(np.ones((1, 2, 2), dtype="float32"))
    assert tmp_ws.set_dem(real, source="test").exists()
    assert hits == []


@pytest.mark.parametrize("form", ["geojson_crs_link", "vrt_named_gml", "kml_network_link", "vsicurl_path"])
def test_official_hazard_import_sends_no_request(server, tmp_path, tmp_ws, capsys, form):
    url, hits = server
    src = _inputs(tmp_path, url)[form]
    code = main(["hazards", "import-official", str(src), "-w", str(tmp_ws.root), "--source", "MChS", "--lang", "en",
                 "--hazard-type", "mudflow", "--level", "high"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert hits == [] and "internal error" not in err
