"""``gis-planner scenario``: growth scenarios — demand chain, allocation, consequences, comparison.

    gis-planner scenario examples                      the methodology's worked examples, step by step
    gis-planner scenario demand irrigation             the causal chain of a scenario (no land needed)
    gis-planner scenario run irrigation -w WS --out D  demand → allocation → consequences (+ files)
    gis-planner scenario compare baseline irrigation tourism high_growth -w WS --out D
    gis-planner scenario list -w WS                    scenarios available (workspace, then examples)

A scenario is a file path or a name in ``<workspace>/scenarios/`` or ``data/scenarios/``.
"""
from __future__ import annotations

import os

from pathlib import Path

import click
import pandas as pd

from ..i18n import t
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option, open_ws, workspace_option


def _readable(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as people write them in a terminal table: whole numbers without decimals."""
    out = df.copy()
    for col in out.columns:
        vals = out[col]
        if vals.dtype == object or pd.api.types.is_float_dtype(vals):
            def fmt(v):
                if isinstance(v, bool) or v is None:
                    return v
                if isinstance(v, (int, float)) and v == v:
                    if float(v).is_integer():
                        return f"{int(v):,}".replace(",", " ")
                    return f"{v:,.4f}".rstrip("0").rstrip(".").replace(",", " ")
                return v
            out[col] = vals.astype(object).map(fmt)
    return out


def _emit(df: pd.DataFrame, fmt: str, title: str | None = None) -> None:
    if fmt == "table":
        df = _readable(df)
    if fmt == "csv":
        click.echo(safe_table(df).to_csv(index=False), nl=False)
    elif fmt == "json":
        echo_json(df)
    else:
        echo_table(df, title=title)
        click.echo("")


@click.group("scenario")
def scenario_group():
    """Growth scenarios: economic growth → land demand → where it can go → consequences."""


@scenario_group.command("examples")
@format_option
@lang_option
@click.option("--no-source", is_flag=True, help="Leave out the source column.")
def examples_cmd(fmt, lang, no_source):
    """The SEDP methodology's worked examples (population, irrigation, raspberry) computed step by step."""
    from ..scenarios import worked_examples
    from ..scenarios.demand import chain_label, steps_frame

    ex = worked_examples()
    if fmt == "json":
        echo_json({k: [s.as_row(lang) for s in v] for k, v in ex.items()})
        return
    for name, steps in ex.items():
        df = steps_frame(steps, lang)
        if no_source:
            df = df.drop(columns=[t("scenarios.col.source", lang)])
        _emit(df.drop(columns=[t("scenarios.col.chain", lang)]), fmt,
              f"{t('scenarios.title.examples', lang)}: {chain_label(name, lang)}")


@scenario_group.command("list")
@workspace_option
def list_cmd(workspace):
    """Scenarios available: the workspace's scenarios/ folder, then the bundled examples."""
    from ..scenarios.model import examples_dir

    dirs = []
    if workspace:
        dirs.append(Path(open_ws(workspace).root) / "scenarios")
    dirs.append(examples_dir())
    for d in dirs:
        if not d.exists():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix in (".yaml", ".yml", ".json"):
                click.echo(f"{p.stem:16s} {p}")


@scenario_group.command("demand")
@click.argument("scenario")
@workspace_option
@format_option
@lang_option
def demand_cmd(scenario, workspace, fmt, lang):
    """The causal chain of SCENARIO (file or name): population, sectors, housing, social facilities."""
    from ..scenarios import demand, find_scenario

    ws = None
    if workspace or os.environ.get("GIS_PLANNER_WORKSPACE"):
        # like every command, $GIS_PLANNER_WORKSPACE is the default: its layers/ overrides and scenarios/
        # apply; without either, the chain needs no workspace (the demo need not be built)
        ws = open_ws(workspace)
    scn = find_scenario(scenario, ws)
    dem = demand(scn, ws)
    if fmt == "json":
        echo_json({"steps": [s.as_row(lang) for s in dem.steps], "demand": dem.summary()})
        return
    _emit(dem.steps_table(lang), fmt, f"{t('scenarios.title.steps', lang)}: {scn.title(lang)}")


def _print_result(res, fmt, lang):
    from ..scenarios.consequences import label_table

    c = res.consequences
    if fmt == "json":
        echo_json(res.to_json(lang))
        return
    _emit(res.demand.steps_table(lang), fmt, f"{t('scenarios.title.steps', lang)}: {res.scenario.title(lang)}")
    _emit(label_table(res.allocation.summary, lang), fmt, t("scenarios.title.allocation", lang))
    from ..scenarios.explain import base_lines, unmet_lines, village_table

    vt = village_table(res.allocation, lang)
    if len(vt):
        _emit(vt, fmt, t("scenarios.title.villages", lang))
    if fmt == "table":
        for line in base_lines(res.demand, lang) + unmet_lines(res.allocation, lang):
            click.echo(line)
        unmet = res.allocation.unmet()
        if not unmet:
            click.echo(t("scenarios.cli.all_met", lang))
        for use, amount in unmet.items():
            unit = "plots" if use == "housing" else "ha"
            click.echo(t("scenarios.cli.unmet", lang, use=t(f"scenarios.use.{use}", lang),
                         amount=f"{amount:,.2f}" if unit == "ha" else int(round(amount)),
                         unit=t(f"scenarios.unit.{unit}", lang)))
        d = res.allocation.densification
        if d["unmet_households"]:
            click.echo(t("scenarios.cli.densification", lang, households=d["unmet_households"],
                         ha=d["multistorey_ha_for_unmet"], density=d["households_per_ha"],
                         plot_ha=d["plot_ha_for_unmet"]))
        click.echo("")
    _emit(label_table(c.transformations, lang), fmt, t("scenarios.title.transformations", lang))
    _emit(label_table(c.land_loss, lang), fmt, t("scenarios.title.land_loss", lang))
    _emit(label_table(c.hazard_exposure, lang), fmt, t("scenarios.title.hazard_exposure", lang))
    _emit(label_table(c.infrastructure.drop(columns=["source"]), lang), fmt, t("scenarios.title.infrastructure", lang))
    _emit(label_table(c.balance, lang), fmt, t("scenarios.title.balance", lang))


@scenario_group.command("run")
@click.argument("scenario")
@workspace_option
@format_option
@lang_option
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Folder for CSV tables, GeoJSON of allocated land, JSON and a PNG map.")
@click.option("--save", is_flag=True, help="Store the allocated land as workspace layer scenario_<id>.")
def run_cmd(scenario, workspace, fmt, lang, out_dir, save):
    """Run SCENARIO on the workspace: demand → allocation → consequences."""
    from ..scenarios import plot_maps, run_scenario, save_to_workspace, write_outputs

    ws = open_ws(workspace)
    res = run_scenario(ws, scenario)
    _print_result(res, fmt, lang)
    if out_dir:
        files = write_outputs(res, out_dir, lang, ws)
        parcels = ws.read_layer("parcels", columns=[])
        png = plot_maps([res], parcels, Path(out_dir) / f"{res.id}_map.png", lang,
                        hazards=ws.read_layer("hazard_zones", missing_ok=True),
                        settlements=ws.read_layer("settlements", missing_ok=True))
        files["map"] = str(png)
        if fmt == "table":
            for path in files.values():
                click.echo(t("scenarios.cli.written", lang, path=path))
    if save:
        layer = save_to_workspace(ws, res)
        if fmt == "table":
            click.echo(t("scenarios.cli.saved_layer", lang, layer=layer))


@scenario_group.command("compare")
@click.argument("scenarios", nargs=-1, required=True)
@workspace_option
@format_option
@lang_option
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Folder for the comparison table (CSV) and the small-multiple maps (PNG).")
def compare_cmd(scenarios, workspace, fmt, lang, out_dir):
    """Compare SCENARIOS side by side: one table of indicators and small-multiple maps."""
    from ..scenarios import compare_table, plot_maps, run_many

    ws = open_ws(workspace)
    results = run_many(ws, list(scenarios))
    df = compare_table(results, lang)
    _emit(df, fmt, t("scenarios.title.comparison", lang))
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv = out / "scenario_comparison.csv"
        safe_table(df).to_csv(csv, index=False)
        png = plot_maps(results, ws.read_layer("parcels", columns=[]), out / "scenario_comparison.png", lang,
                        hazards=ws.read_layer("hazard_zones", missing_ok=True),
                        settlements=ws.read_layer("settlements", missing_ok=True))
        if fmt == "table":
            for path in (csv, png):
                click.echo(t("scenarios.cli.written", lang, path=path))


commands = [scenario_group]
