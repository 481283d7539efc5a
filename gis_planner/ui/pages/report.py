"""Report: draft SEDP sections 6 (space) and 7 (environment) and download them.
A thin shell over gis_planner.report.build_report."""
import streamlit as st

from gis_planner import settings
from gis_planner.catalog import catalogue
from gis_planner.i18n import t
from gis_planner.report import build_report
from gis_planner.report.build import stage_text
from gis_planner.report.document import soffice_path
from gis_planner.ui import state
from gis_planner.ui.safe import md_escape

lang = state.lang()
tr = state.translator(lang)
ws = state.workspace()
root = str(ws.root)

st.title(tr("app.page.report"))
st.caption(tr("app.report.intro"))
c1, c2 = st.columns(2)
rlang = c1.selectbox(tr("app.report.lang"), list(settings.LANGUAGES), index=list(settings.LANGUAGES).index(lang),
                     format_func=lambda c: t(f"app.lang.{c}", c), key="report_lang")
formats = c2.multiselect(tr("app.report.formats"), ["docx", "html", "pdf"],
                         default=["docx", "html"] + (["pdf"] if soffice_path() else []), key="report_formats", placeholder=tr("app.choose"))
scn_dirs = [ws.root / "scenarios", settings.PROJECT_DIR / "data" / "scenarios"]
scn_paths = {p.stem: p for d in reversed(scn_dirs) if d.is_dir() for p in d.glob("*.y*ml")}   # the workspace's win
scenarios = sorted(scn_paths)


def _scenario_title(sid) -> str:
    """A scenario by its title in the page language (its id only if the file cannot be read)."""
    from gis_planner.scenarios import load_scenario

    try:
        return load_scenario(scn_paths[sid]).title(lang)
    except Exception:  # noqa: BLE001 - a broken file: the report run says why
        return sid


scenario = st.selectbox(tr("app.report.scenario"), [None, *scenarios],
                        format_func=lambda s: tr("app.report.no_scenario") if s is None else _scenario_title(s),
                        key="report_scenario")
measures_cat = catalogue("adaptation_measures", root)
measures = st.multiselect(tr("app.report.measures"), measures_cat.codes,
                          format_func=lambda c: measures_cat.label(c, lang), key="report_measures",
                          help=tr("app.report.measures_help"), placeholder=tr("app.choose"))

if st.button(tr("app.report.generate"), type="primary", key="report_go", disabled=not formats):
    bar = st.progress(0.0, text=tr("app.hazards.started"))
    out_dir = ws.root / "exports" / f"report_{rlang}"
    res = build_report(ws, out_dir, lang=rlang, formats=formats, scenario=scenario, measures=measures or None,
                       progress=lambda step, done, total: bar.progress(
                           min(1.0, done / total), text=f"{stage_text(step, lang)} ({done}/{total})"))
    bar.progress(1.0, text=tr("app.hazards.done"))
    st.session_state["report_files"] = {k: str(res[k]) for k in ("docx", "html", "pdf") if res.get(k)}
    st.session_state["report_notes"] = list(res.get("notes") or [])
    # the full lists behind the report's summaries (conflicts XLSX, relocation CSV): offered here too
    st.session_state["report_annexes"] = [str(p) for p in res.get("annexes") or []
                                          if str(p).endswith((".xlsx", "relocation_" + rlang + ".csv"))]

files = st.session_state.get("report_files") or {}
if files:
    st.success(tr("app.report.ready"))
    mime = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "html": "text/html", "pdf": "application/pdf"}
    cols = st.columns(len(files))
    from pathlib import Path

    for col, (fmt, path) in zip(cols, files.items()):
        p = Path(path)
        if p.exists():
            col.download_button(tr("app.report.download", fmt=fmt.upper()), p.read_bytes(), file_name=p.name,
                                mime=mime[fmt], key=f"report_dl_{fmt}")
    annexes = [Path(p) for p in st.session_state.get("report_annexes") or [] if Path(p).exists()]
    if annexes:
        st.caption(tr("app.report.annexes"))
        for col, p in zip(st.columns(len(annexes)), annexes):
            kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if p.suffix == ".xlsx" \
                else "text/csv"
            col.download_button(p.name, p.read_bytes(), file_name=p.name, mime=kind, key=f"report_dl_{p.name}")
    for note in st.session_state.get("report_notes") or []:
        st.caption(md_escape(note))
