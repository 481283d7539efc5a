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
    if fmt == "json":
        doc = res.to_json()
        echo_json({"level": level, "units": doc["levels"][level], "stats": res.stats})
    elif fmt == "csv":
        click.echo(safe_table(df[df["table"].isin(tables)]).to_csv(index=False), nl=False)
    else:
        for table in tables:
            wide = _wide(df, table, lang).rename(columns={"unit": t(f"rollup.level.{level}", lang),
                                                           "row": t("rollup.row", lang)})
            echo_table(wide, title=f"{t(f'rollup.table.{table}', lang)} — {t(f'rollup.level.{level}', lang)}",
                       floatfmt="{:,.2f}")
            click.echo("")
        st = res.stats
        click.echo(t("rollup.stats", lang, engine=st.get("engine"), workers=st.get("workers", 1),
                     tasks=st.get("tasks", st.get("municipalities", 0)), wall=float(st.get("wall_s", 0.0))))
    if save:
        click.echo(t("rollup.saved", lang, path=save), err=True)


@click.group("rollup")
def rollup() -> None:
    """District, oblast and national roll-up (Dask) and the PostGIS push-down."""


@rollup.command("run")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@_apply(engine_options)
@_apply(output_options)
def run_cmd(root, engine, n_workers, scheduler, level, tables, save, fmt, lang):
    """Roll up a national set (GeoParquet partitioned by municipality) in ROOT."""
    from ..rollup import rollup_national

    res = rollup_national(root, engine=engine, n_workers=n_workers, scheduler=scheduler)
    _emit(res, level, tables, fmt, lang, save)


@rollup.command("workspaces")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@_apply(engine_options)
@_apply(output_options)
def workspaces_cmd(paths, engine, n_workers, scheduler, level, tables, save, fmt, lang):
    """Roll up a collection of municipality workspaces (district/oblast from each workspace)."""
    from ..rollup import rollup_workspaces

    if engine == "memory":
        raise GisPlannerError("--engine memory applies to a national set only", fix="use --engine single or dask",
                              code="bad_option")
    res = rollup_workspaces(paths, engine=engine, n_workers=n_workers, scheduler=scheduler)
    _emit(res, level, tables, fmt, lang, save)


@rollup.command("info")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@lang_option
def info_cmd(root, lang):
    """What a national set holds (municipalities, parcels, hierarchy)."""
    from ..rollup import NationalSet

    s = NationalSet(root)
    man = s.manifest
    h = s.hierarchy()
    n = man.get("parcels")
    if n is None:
        import pyarrow.parquet as pq

        n = sum(pq.ParquetFile(s.parcel_file(c)).metadata.num_rows for c in s.codes())
    click.echo(t("rollup.info", lang, municipalities=len(h), parcels=f"{int(n):,}"))
    counts = h.groupby("oblast").agg(districts=("district", "nunique"), municipalities=("code", "count")).reset_index()
    echo_table(counts)


@rollup.command("pg-load")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--db", "url", required=True, envvar="GIS_PLANNER_DATABASE_URL",
              help="postgresql://user@host:port/db with PostGIS (or $GIS_PLANNER_DATABASE_URL).")
@click.option("--schema", default="rollup", show_default=True)
@lang_option
def pg_load_cmd(root, url, schema, lang):
    """Load a national set into PostGIS (one partition at a time; GiST indexes)."""
    from ..rollup.postgis import load_national

    c = load_national(url, root, schema)
    click.echo(t("rollup.pg_loaded", lang, parcels=f"{c['parcels']:,}", restrictions=f"{c['restrictions']:,}",
                 seconds=c["load_s"]))


@rollup.command("pg-run")
@click.option("--db", "url", required=True, envvar="GIS_PLANNER_DATABASE_URL")
@click.option("--schema", default="rollup", show_default=True)
@click.option("--cell", "cell_m", type=float, default=20_000.0, show_default=True,
              help="Grid cell (m) within which restriction polygons are unioned.")
@_apply(output_options)
def pg_run_cmd(url, schema, cell_m, level, tables, save, fmt, lang):
    """Balance by category and restriction cross-tab computed inside PostGIS, rolled up."""
    from ..rollup.postgis import postgis_rollup

    bad = [x for x in tables if x not in ("balance", "restricted")]
    if bad:
        raise GisPlannerError(f"PostGIS mode computes the balance and restricted tables, not {', '.join(bad)}",
                              fix="use --table balance or --table restricted (or `rollup run` for all tables)",
                              code="bad_option")
    res = postgis_rollup(url, schema, cell_m)
    _emit(res, level, tables, fmt, lang, save)


commands = [rollup]
