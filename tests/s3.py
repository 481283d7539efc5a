"""The session-scoped ``s3_server`` fixture: an S3-compatible HTTP server for the object-storage tests.

Like tests/pg.py starts PostgreSQL, this starts moto's standalone server (``python -m moto.server``, PyPI
``moto[server]``, a dev dependency) on a free port of 127.0.0.1 and stops it at the end of the session.
``$GIS_PLANNER_TEST_S3_ENDPOINT`` (with ``$AWS_ACCESS_KEY_ID`` / ``$AWS_SECRET_ACCESS_KEY``) points the tests
at a real S3-compatible server instead, e.g. a MinIO. Skips (with the reason) only when neither moto nor
s3fs is installed.

The fixture yields the fsspec ``storage_options`` of ``s3fs`` (``endpoint_url``, ``key``, ``secret``); tests
make their own bucket (``s3_bucket``).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from .helpers import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """fsspec storage options of a running S3-compatible server."""
    pytest.importorskip("s3fs", reason="object-storage tests need s3fs (pip install 'gis_planner[s3]')")
    endpoint = os.environ.get("GIS_PLANNER_TEST_S3_ENDPOINT")
    if endpoint:
        yield {"endpoint_url": endpoint, "key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
               "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", "")}
        return
    pytest.importorskip("moto.server", reason="object-storage tests need moto[server] (a dev dependency)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited: {proc.stderr.read().decode()[-2000:]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start within 60 s") from None
                time.sleep(0.3)
        yield {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    finally:
        stop_process(proc)


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket: its name (``s3://NAME/…``)."""
    import s3fs

    name = f"gis-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(**s3_server).mkdir(name)
    return name
