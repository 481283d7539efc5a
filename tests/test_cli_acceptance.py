"""Acceptance tests of the ``gis-planner`` command line as its users meet it.

Every bad input gives ONE line ``error: … Fix: …`` on stderr with exit code 2 (never a traceback), and
the terminal tables speak the chosen language. Commands that write run on a copy of the demo.
"""
from __future__ import annotations

import shutil

import pytest

from gis_planner import settings
from gis_planner.cli import main


@pytest.fixture(scope="module")
def ws_copy(tmp_path_factory):
    """A writable copy of the demo workspace (shared by the tests of this module)."""
    src = settings.demo_workspace()
    if not (src / "workspace.gpkg").exists():
        pytest.fail("demo workspace missing: run `make demo`")
    dst = tmp_path_factory.mktemp("qa") / "ws"
    shutil.copytree(src, dst)
    return dst


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and ". Fix: " in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- usage errors are one line, exit 2
@pytest.mark.parametrize("args, needle", [
    (["info", "--lang", "xx"], "'xx' is not one of 'ky', 'ru', 'en'"),
    (["nosuchcmd"], "No such command 'nosuchcmd'"),
    (["balance", "--reported", "/nonexistent/reported.yaml"], "does not exist"),
    (["check", "--use", "housing", "--point", "abc"], "give the point as X,Y"),
])
def test_usage_errors_are_one_line_exit_2(capsys, args, needle):
    code, out, err = run(capsys, *args)
    assert code == 2
    line = one_error_line(err)
    assert needle in line
    assert "Usage:" not in err and not line.endswith("..")


def test_multiline_yaml_error_is_one_line(capsys, tmp_path):
    bad = tmp_path / "reported.yaml"
    bad.write_text("foo: [\n", encoding="utf-8")
    code, _, err = run(capsys, "balance", "--reported", bad)
    assert code == 2
    line = one_error_line(err)
    assert "not valid YAML" in line and "^" not in line


def test_unwritable_output_is_a_user_error(capsys, ws_copy, tmp_path):
    target = tmp_path / "missing_folder" / "conflicts.xlsx"
    code, _, err = run(capsys, "conflicts", "-w", ws_copy, "--out", target)
    assert code == 2  # was 3 ("internal error") before
    line = one_error_line(err)
    assert "internal error" not in line


def test_missing_workspace(capsys):
    code, _, err = run(capsys, "info", "-w", "/nonexistent/ws")
    assert code == 2
    assert "gis-planner init" in one_error_line(err)


# ---------------------------------------------------------------- labels in the chosen language
def test_empty_workspace_info_in_russian(capsys, tmp_path):
    assert run(capsys, "init", tmp_path / "new", "--name", "Жаңы айыл аймагы")[0] == 0
    code, out, _ = run(capsys, "info", "-w", tmp_path / "new", "--lang", "ru")
    assert code == 0
    assert "Система координат: нет" in out  # not "None"
    assert "(пусто)" in out and "(empty)" not in out


def test_check_area_unit_in_language(capsys):
    code, out, _ = run(capsys, "check", "--use", "housing", "--parcel", "4-02-10-0224-0012", "--lang", "ru")
    assert code == 0
    # the demo parcel is 4.48 ha; the unit is Russian «га», not "ha"
    assert out.startswith("4-02-10-0224-0012 (4.4800 га): ")


def test_balance_warning_unit_in_language(capsys):
    code, out, _ = run(capsys, "balance", "--table", "outside", "--lang", "ky")
    assert code == 0
    # two categories of the demo's reported balance differ by more than the tolerance (0.5 ha / 1 %)
    assert "Эскертүү: 2 категория кадастрдан 0.5 га / 1.0 % ашык айырмаланат" in out
    assert " ha " not in out
