"""Issue 18.3: user text in figures is drawn literally (no math-text); an export writes all files or none."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from shapely.geometry import Point  # noqa: E402

from gis_planner import Workspace  # noqa: E402
from gis_planner.community import exchange, open_store  # noqa: E402
from gis_planner.text import literal_figure_text  # noqa: E402


@pytest.fixture
def store(tmp_path):
    ws = Workspace.create(tmp_path / "ws", name="Test", crs=7695)
    st = open_store(ws)
    yield st
    st.close()


def test_hearing_export_with_tex_like_village_name(store, tmp_path):
    sid = store.create_session("Ак-Суу $\\foo{$", "2026-05-01", "youth")
    store.add_feature(sid, Point(77.1, 42.6), "spring", "Spring $5 and $10", author="A.K.")
    paths = exchange.export_session(store, sid, tmp_path / "hearing", lang="en")
    assert sorted(p.suffix for p in paths.values()) == [".csv", ".html", ".png"]
    assert all(p.exists() and p.parent == tmp_path / "hearing" for p in paths.values())
    assert paths["map"].read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "hearing").iterdir()) == sorted(p.name for p in paths.values())


def test_dollar_amounts_render_literally():
    captured = {}

    @literal_figure_text
    def draw():
        fig, ax = plt.subplots()
        t = ax.set_title("Village $5 and $10")
        fig.canvas.draw()
        # what is laid out: math-text would give the glyphs of "5and10" without the dollars
        captured["parse_math"] = t.get_parse_math()
        captured["math"] = t._preprocess_math(t.get_text())
        captured["width"] = t.get_window_extent().width
        plt.close(fig)

    draw()
    assert captured["parse_math"] is False
    assert captured["math"] == ("Village $5 and $10", False)
    # control: outside the decorator the same title would be math-text
    fig, ax = plt.subplots()
    t = ax.set_title("Village $5 and $10")
    assert t._preprocess_math(t.get_text())[1] is True
    plt.close(fig)


def test_failed_hearing_export_writes_nothing(store, tmp_path, monkeypatch):
    """A failure after the CSV and HTML were written leaves the folder as it was."""
    sid = store.create_session("Ак-Суу", "2026-05-01", "youth")
    store.add_feature(sid, Point(77.1, 42.6), "spring", "Spring", author="A.K.")
    out = tmp_path / "hearing"
    out.mkdir()
    (out / "earlier.txt").write_text("kept")

    def broken_savefig(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError):
        exchange.export_session(store, sid, out, lang="en")
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]
