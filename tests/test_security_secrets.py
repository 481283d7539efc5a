"""Issue 18.5: no credential is ever printed (every URL/DSN form, library errors and the CLI)."""
from __future__ import annotations

import socket

import pytest

from gis_planner import GisPlannerError
from gis_planner.cli import main
from gis_planner.text import mask_secrets, register_secret

SECRET_FORMS = [
    # (text containing a secret, the secret pieces that must not appear, what must stay readable)
    ("postgresql://gp:hunter2pw@db.example:5432/gp", ["hunter2pw"], "postgresql://gp:***@db.example:5432/gp"),
    ("postgresql://gp@db.example/gp?sslmode=require&password=hunter2pw", ["hunter2pw"],
     "postgresql://gp@db.example/gp?sslmode=require&password=***"),
    ("postgresql://db.example/gp?password=hunter2pw&user=gp", ["hunter2pw"],
     "postgresql://db.example/gp?password=***&user=gp"),
    ("postgresql://gp:p@ss:w0rd@db.example:5432/gp", ["p@ss", "w0rd"], "postgresql://gp:***@db.example:5432/gp"),
    ("postgresql+psycopg://gp:a/b@c@db.example/gp", ["a/b", "b@c"], "postgresql+psycopg://gp:***@db.example/gp"),
    ("host=db.example user=gp password=hunter2pw dbname=gp", ["hunter2pw"],
     "host=db.example user=gp password=*** dbname=gp"),
    ("host=db.example password='two words' dbname=gp", ["two words"], "host=db.example password=*** dbname=gp"),
    ("error (PGPASSWORD=hunter2pw)", ["hunter2pw"], "error (PGPASSWORD=***)"),
]


@pytest.mark.parametrize("text,secrets,masked", SECRET_FORMS)
def test_mask_every_form(text, secrets, masked):
    out = mask_secrets(text)
    assert out == masked
    for s in secrets:
        assert s not in out


def test_no_false_alarm():
    for text in ("postgresql://gp@db.example:5432/gp", "/home/ak/ws/community.gpkg", "https://example.org/a?b=c",
                 "parcels.shp: 3 features"):
        assert mask_secrets(text) == text


def test_registered_password_pieces_are_masked():
    # a driver that mis-parsed "p@ssw0rd" quotes the part after '@' as a host name
    register_secret("postgresql://gp:zq9x@kv7w2@db.example/gp")
    assert mask_secrets('could not translate host name "kv7w2@db.example"') == \
        'could not translate host name "***@db.example"'


def test_project_errors_are_masked():
    exc = GisPlannerError("cannot connect (password=hunter2pw rejected)",
                          file="postgresql://gp:p@ss:w0rd@db.example/gp", fix="check postgresql://u:hunter2pw@h/d")
    text = str(exc)
    for s in ("hunter2pw", "p@ss", "w0rd"):
        assert s not in text and s not in exc.file and s not in exc.problem and s not in exc.fix


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("template", [
    "postgresql://gp:Xy7hunter@127.0.0.1:{port}/gp",
    "postgresql://gp@127.0.0.1:{port}/gp?password=Xy7hunter",
    "postgresql://gp:Xy7@hunter:pw@127.0.0.1:{port}/gp",
])
def test_cli_never_prints_the_password(template, capsys, tmp_ws):
    url = template.format(port=_closed_port())
    code = main(["community", "sessions", "-w", str(tmp_ws.root), "--db", url])
    out = capsys.readouterr()
    assert code != 0
    text = out.out + out.err
    assert "Xy7" not in text and "hunter" not in text, text
    assert "127.0.0.1" in text     # the message still says which server


def test_rollup_connect_error_is_masked():
    from gis_planner.rollup.postgis import connect

    with pytest.raises(GisPlannerError) as ei:
        connect(f"postgresql://gp:Xy7@hunter@127.0.0.1:{_closed_port()}/gp")
    assert "Xy7" not in str(ei.value) and "hunter" not in str(ei.value)
