"""``gis-planner rollup …``: district, oblast and national roll-up on Dask, and the PostGIS push-down."""
from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..catalog import catalogue
from ..errors import GisPlannerError
from ..i18n import t
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option

LEVEL_CHOICES = ["municipality", "district", "oblast", "country"]
TABLE_CHOICES = ["balance", "land_type", "use_status", "owner", "restricted", "restricted_detail", "zone_area",
                 "exposure"]
ROW_CATALOGUE = {"balance": "land_categories", "restricted": "land_categories",
                 "restricted_detail": "land_categories", "land_type": "land_types", "use_status": "use_status",
                 "owner": "owner_types"}

engine_options = [
    click.option("--engine", type=click.Choice(["dask", "single", "memory"]), default="dask", show_default=True,
                 help="dask: LocalCluster or --scheduler; single: partitions one after another here; "
                      "memory: the whole layer loaded here (baseline)."),
    click.option("--workers", "n_workers", type=int, default=2, show_default=True,
                 help="Worker processes of the local Dask cluster."),
    click.option("--scheduler", default=None, help="Address of an existing Dask scheduler (tcp://host:8786)."),
    click.option("--retries", type=int, default=2, show_default=True,
                 help="Extra attempts of a failing task before its municipality is reported as failed."),
    click.option("--allow-partial", is_flag=True,
                 help="Print totals without the failed municipalities (marked PARTIAL) instead of exit code 2."),
    click.option("--failures", "failures_path", default=None,
                 help="Where to write the failures report (CSV; default OUT/failures.csv or ./rollup_failures.csv)."),
]
storage_options = [
    click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE",
                 help="fsspec option of the set's storage (repeatable): endpoint_url=http://minio:9000, key=…, "
                      "secret=…, anon=true, client_kwargs.region_name=…"),
]
output_options = [
    click.option("--level", type=click.Choice(LEVEL_CHOICES), default="district", show_default=True),
    click.option("--table", "tables", type=click.Choice(TABLE_CHOICES), multiple=True,
                 help="Tables to show (repeatable; default balance and restricted)."),
    click.option("--save", type=click.Path(), default=None,
                 help="Write every level and table to this file (.parquet or .csv, long format)."),
    format_option, lang_option,
]


def _apply(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


def _wide(df: pd.DataFrame, table: str, lang: str) -> pd.DataFrame:
    sub = df[df["table"] == table]
    if sub.empty:
        return pd.DataFrame()
    wide = sub.pivot_table(index=["unit", "row"], columns="col", values="value", aggfunc="sum", sort=True)
    wide = wide.reset_index()
    cat = ROW_CATALOGUE.get(table)
    if cat:
        c = catalogue(cat)
        wide["row"] = [c.label(v, lang) or v for v in wide["row"]]
    wide.columns.name = None
    names = {}
    for col in wide.columns:
        for key in (f"balance.{col}", f"hazards.col.{col}"):
            text = t(key, lang)
            if text != key:
                names[col] = text
                break
    return wide.rename(columns=names)


def _emit(res, level: str, tables, fmt: str, lang: str, save: str | None) -> None:
    tables = list(tables) or ["balance", "restricted"]
    df = res.levels[level]
    if save:
        out = pd.concat([d.assign(level=k) for k, d in res.levels.items()], ignore_index=True)
        path = Path(save)
        if path.suffix.lower() == ".csv":
            safe_table(out).to_csv(path, index=False)
        else:
            out.to_parquet(path, index=False)
    partial = None
    if getattr(res, "partial", False):
        failed = sorted(set(res.failures["municipality"].astype(str)))
        partial = t("rollup.run.partial", lang, failed=len(failed),
                    codes=", ".join(failed[:10]) + (" …" if len(failed) > 10 else ""))
        click.echo(partial, err=True)
    if fmt == "json":
        doc = res.to_json()
        echo_json({"level": level, "units": doc["levels"][level], "stats": res.stats,
                   "partial": doc["partial"], "failed": doc["failed"]})
    elif fmt == "csv":
        click.echo(safe_table(df[df["table"].isin(tables)]).to_csv(index=False), nl=False)
    else:
        for table in tables:
            wide = _wide(df, table, lang).rename(columns={"unit": t(f"rollup.level.{level}", lang),
                                                           "row": t("rollup.row", lang)})
            title = f"{t(f'rollup.table.{table}', lang)} — {t(f'rollup.level.{level}', lang)}"
            echo_table(wide, title=f"{title} — {partial}" if partial else title, floatfmt="{:,.2f}")
            click.echo("")
        st = res.stats
        click.echo(t("rollup.stats", lang, engine=st.get("engine"), workers=st.get("workers", 1),
                     tasks=st.get("tasks", st.get("municipalities", 0)), wall=float(st.get("wall_s", 0.0))))
    if save:
        click.echo(t("rollup.saved", lang, path=save), err=True)


@click.group("rollup")
def rollup() -> None:
    """District, oblast and national roll-up (Dask) and the PostGIS push-down."""


def _progress(lang: str):
    def show(ev: dict) -> None:
        e = ev["event"]
        if e == "start":
            if ev.get("dashboard"):
                click.echo(t("rollup.run.dashboard", lang, link=ev["dashboard"], workers=ev["workers"],
                             tasks=ev["tasks"]), err=True)
            click.echo(t("rollup.run.start", lang, total=ev["total"], tasks=ev["tasks"]), err=True)
        elif e == "tile":
            click.echo(t("rollup.run.tile", lang, code=ev["municipality"], tile=ev["tile"], tiles=ev["tiles"],
                         seconds=ev["seconds"]), err=True)
        elif e == "done":
            click.echo(t("rollup.run.done", lang, done=ev["done"], total=ev["total"], code=ev["municipality"],
                         seconds=ev["seconds"]), err=True)
        elif e == "failed":
            click.echo(t("rollup.run.failed", lang, code=ev["municipality"], error=ev["error"]), err=True)
    return show


def _failures_report(res, path: str | None, out: str | None, lang: str) -> None:
    """failures.csv where the user looks: OUT/failures.csv (written by the run), or --failures, or ./"""
    if not res.partial:
        return
    if path is None and out is not None:
        shown = out.rstrip("/") + "/failures.csv"
    else:
        shown = path or "rollup_failures.csv"
        safe_table(res.failures).to_csv(shown, index=False)
    click.echo(t("rollup.run.failures_written", lang, path=shown), err=True)


@rollup.command("run")
@click.argument("root")
@_apply(engine_options)
@_apply(storage_options)
@click.option("--out", default=None,
              help="Output store (folder or URL): finished municipalities' rows, rollup.parquet, failures.csv.")
@click.option("--out-storage-option", "out_storage_option", multiple=True, metavar="KEY=VALUE",
              help="fsspec option of the output store (default: the --storage-option values).")
@click.option("--resume", is_flag=True, help="Keep the finished municipalities in --out; compute only the rest.")
@click.option("--tile-parcels", type=int, default=None,
              help="Split municipalities above this many parcels into tiles (0: never; default: tiles.max_parcels "
                   "of layers/rollup.yaml, 50 000).")
@_apply(output_options)
def run_cmd(root, engine, n_workers, scheduler, retries, allow_partial, failures_path, storage_option, out,
            out_storage_option, resume, tile_parcels, level, tables, save, fmt, lang):
    """Roll up a national set in ROOT: a folder or a URL (s3://bucket/national, gs://…, abfs://…)."""
    from ..rollup import rollup_national
    from ..rollup.driver import RollupFailed
    from ..rollup.store import parse_storage_options

    so = parse_storage_options(storage_option)
    oso = parse_storage_options(out_storage_option) if out_storage_option else so
    try:
        res = rollup_national(root, engine=engine, n_workers=n_workers, scheduler=scheduler, storage_options=so,
                              retries=retries, out=out, out_storage_options=oso, resume=resume,
                              tile_parcels="rules" if tile_parcels is None else (tile_parcels or None),
                              allow_partial=allow_partial,
                              progress=_progress(lang))
    except RollupFailed as exc:
        _failures_report(exc.result, failures_path, out, lang)
        click.echo(t("rollup.run.refused", lang, failed=exc.result.stats["failed"]), err=True)
        raise  # the console script prints it and exits with code 2
    st = res.stats
    if st.get("resumed_tasks"):
        click.echo(t("rollup.run.resumed", lang, kept=st["resumed_tasks"], computed=st["computed_tasks"]), err=True)
    if st.get("tiled_municipalities"):
        click.echo(t("rollup.run.tiles", lang, tiled=st["tiled_municipalities"],
                     largest=f"{st['largest_task_parcels']:,}"), err=True)
    _failures_report(res, failures_path, out, lang)
    _emit(res, level, tables, fmt, lang, save)


@rollup.command("workspaces")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_apply(engine_options)
@_apply(output_options)
def workspaces_cmd(paths, engine, n_workers, scheduler, retries, allow_partial, failures_path, level, tables,
                   save, fmt, lang):
    """Roll up a collection of municipality workspaces (district/oblast from each workspace)."""
    from ..rollup import rollup_workspaces
    from ..rollup.driver import RollupFailed

    if engine == "memory":
        raise GisPlannerError("--engine memory applies to a national set only", fix="use --engine single or dask",
                              code="bad_option")
    try:
        res = rollup_workspaces(paths, engine=engine, n_workers=n_workers, scheduler=scheduler, retries=retries,
                                allow_partial=allow_partial, progress=_progress(lang))
    except RollupFailed as exc:
        _failures_report(exc.result, failures_path, None, lang)
        click.echo(t("rollup.run.refused", lang, failed=exc.result.stats["failed"]), err=True)
        raise  # the console script prints it and exits with code 2
    _failures_report(res, failures_path, None, lang)
    _emit(res, level, tables, fmt, lang, save)


@rollup.command("info")
@click.argument("root")
@_apply(storage_options)
@lang_option
def info_cmd(root, storage_option, lang):
    """What a national set (folder or URL) holds (municipalities, parcels, hierarchy)."""
    from ..rollup import NationalSet
    from ..rollup.store import parse_storage_options

    s = NationalSet(root, parse_storage_options(storage_option))
    man = s.manifest
    h = s.hierarchy()
    n = man.get("parcels")
    if n is None:
        n = sum(sum(v) for v in s.parcel_counts().values())
    click.echo(t("rollup.info", lang, municipalities=len(h), parcels=f"{int(n):,}"))
    counts = h.groupby("oblast").agg(districts=("district", "nunique"), municipalities=("code", "count")).reset_index()
    echo_table(counts)


@rollup.command("pg-load")
@click.argument("root")
@click.option("--db", "url", required=True, envvar="GIS_PLANNER_DATABASE_URL",
              help="postgresql://user@host:port/db with PostGIS (or $GIS_PLANNER_DATABASE_URL).")
@click.option("--schema", default="rollup", show_default=True)
@_apply(storage_options)
@lang_option
def pg_load_cmd(root, url, schema, storage_option, lang):
    """Load a national set (folder or URL) into PostGIS (one partition at a time; GiST indexes)."""
    from ..rollup.postgis import load_national
    from ..rollup.store import parse_storage_options

    c = load_national(url, root, schema, storage_options=parse_storage_options(storage_option))
    click.echo(t("rollup.pg_loaded", lang, parcels=f"{c['parcels']:,}", restrictions=f"{c['restrictions']:,}",
                 seconds=c["load_s"]))


@rollup.command("pg-run")
@click.option("--db", "url", required=True, envvar="GIS_PLANNER_DATABASE_URL")
@click.option("--schema", default="rollup", show_default=True)
@click.option("--cell", "cell_m", type=float, default=20_000.0, show_default=True,
              help="Grid cell (m) within which restriction polygons are unioned.")
@click.option("--sessions", type=int, default=1, show_default=True,
              help="Parallel database sessions, one oblast each (1: one query for the whole country).")
@_apply(output_options)
def pg_run_cmd(url, schema, cell_m, sessions, level, tables, save, fmt, lang):
    """Balance by category and restriction cross-tab computed inside PostGIS, rolled up."""
    from ..rollup.postgis import postgis_rollup

    bad = [x for x in tables if x not in ("balance", "restricted")]
    if bad:
        raise GisPlannerError(f"PostGIS mode computes the balance and restricted tables, not {', '.join(bad)}",
                              fix="use --table balance or --table restricted (or `rollup run` for all tables)",
                              code="bad_option")
    res = postgis_rollup(url, schema, cell_m, sessions=sessions)
    _emit(res, level, tables, fmt, lang, save)


commands = [rollup]
