"""``gis-planner report``: the SEDP sections 6 (space) and 7 (environment) as DOCX/HTML/PDF."""
from __future__ import annotations


import click

from ..errors import GisPlannerError
from ..i18n import t
from .common import echo_json, lang_option, open_ws, workspace_option


@click.command("report")
@workspace_option
@lang_option
@click.option("--out", "out_dir", type=click.Path(), default="report", show_default=True,
              help="Output folder.")
@click.option("--format", "formats", default="docx,html", show_default=True,
              help="Comma-separated formats: docx, html, pdf (PDF needs LibreOffice).")
@click.option("--scenario", default=None, help="Growth scenario (name or YAML file) for section 6.6.")
@click.option("--measures", default=None,
              help="Comma-separated measure codes from layers/adaptation_measures.yaml (default: relevant ones).")
@click.option("--all-languages", is_flag=True, help="Write the sections in ky, ru and en (analyses run once).")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON.")
def report_cmd(workspace, lang, out_dir, formats, scenario, measures, all_languages, as_json):
    """Draft sections 6 (space) and 7 (environment) of the development programme."""
    from ..catalog import load_rules
    from ..report import build_reports

    ws = open_ws(workspace)
    chosen = None
    if measures:
        chosen = [m.strip() for m in measures.split(",") if m.strip()]
        known = load_rules("adaptation_measures", ws)["items"]
        bad = [m for m in chosen if m not in known]
        if bad:
            raise GisPlannerError(f"unknown measure code(s) {bad}", file="layers/adaptation_measures.yaml",
                                  fix=f"use codes from the catalogue: {', '.join(known)}", code="bad_measure")
    if scenario:  # fail before the analyses run (a misspelt name used to stop the report after them)
        from ..scenarios import find_scenario

        find_scenario(scenario, ws)
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    from ..report.build import stage_text

    def progress(step, done, total):   # one line per step on stderr: "[3/14] Drawing the map: …"
        click.echo(t("report.cli.step", lang, done=done, total=total, text=stage_text(step, lang)), err=True)

    langs = ["ky", "ru", "en"] if all_languages else [lang]
    results = build_reports(ws, out_dir, langs=langs, formats=fmts, scenario=scenario, measures=chosen,
                            progress=progress)
    files = {}
    notes = []
    for lg, out in results.items():
        files[lg] = {k: str(out[k]) for k in ("docx", "html", "pdf") if k in out}
        files[lg]["maps"] = [str(p) for p in out["maps"]]
        notes += [n for n in out["notes"] if n not in notes]
    if as_json:
        echo_json({"files": files, "notes": notes})
        return
    for lg, fs in files.items():
        for k in ("docx", "html", "pdf"):
            if k in fs:
                click.echo(f"{k}: {fs[k]}")
    for note in notes:
        click.echo(f"{t('report.cli.note', lang)}: {note}")


commands = [report_cmd]
