"""``gis-planner balance``: land-use balance, restriction cross-tab, topology, reconciliation."""
from __future__ import annotations

import click

from ..errors import GisPlannerError
from ..i18n import t
from ..io.precision import area_format
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option, open_ws, workspace_option

_TABLES = ("summary", "by_category", "by_land_type", "state_fund", "use_status", "by_owner", "by_zone",
           "restricted", "restricted_land_type", "restricted_detail", "parcels", "parcel_restrictions",
           "overlaps", "gaps", "outside", "reconciliation", "provenance")
_TERMINAL = ("summary", "by_category", "by_land_type", "state_fund", "use_status", "by_owner", "by_zone",
             "restricted", "restricted_land_type", "restricted_detail", "overlaps", "gaps", "outside",
             "reconciliation")


@click.command("balance")
@workspace_option
@format_option
@lang_option
@click.option("--table", "table", type=click.Choice(_TABLES), default=None,
              help="Only this table (terminal/CSV); default: all summary tables.")
@click.option("--xlsx", "xlsx", type=click.Path(dir_okay=False), default=None,
              help="Also write an XLSX workbook (one sheet per table, headers in --lang).")
@click.option("--csv-dir", "csv_dir", type=click.Path(file_okay=False), default=None,
              help="Also write every table as CSV into this folder.")
@click.option("--reported", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Official totals (YAML/CSV category -> ha); default <workspace>/reported_balance.yaml.")
@click.option("--tolerance-ha", type=float, default=None, help="Absolute reconciliation tolerance, ha.")
@click.option("--tolerance-pct", type=float, default=None, help="Relative reconciliation tolerance, %.")
@click.option("--zones", default=None, help="Zone layer of the by-zone table (default: settlements).")
@click.option("--no-detail", is_flag=True, help="Do not break restriction kinds down by subtype/level.")
def balance_cmd(workspace, fmt, lang, table, xlsx, csv_dir, reported, tolerance_ha, tolerance_pct, zones,
                no_detail):
    """Land-use balance and the area of each land category inside each restriction."""
    from ..balance import compute_balance
    from ..balance.export import tables, write_csv, write_xlsx

    ws = open_ws(workspace)
    if zones and not ws.has_layer(zones):
        # the library falls back to the parcels' settlement field when the layer is missing: a typo
        # here would silently give another table
        raise GisPlannerError(f"--zones: layer '{zones}' is not in the workspace", file=str(ws.gpkg),
                              fix=f"use one of: {', '.join(ws.layers())}", code="missing_layer")
    b = compute_balance(ws, reported=reported, abs_tolerance_ha=tolerance_ha,
                        rel_tolerance_pct=tolerance_pct, zones=zones, detail=not no_detail)
    if xlsx:
        write_xlsx(b, xlsx, lang)
    if csv_dir:
        write_csv(b, csv_dir, lang)
    if fmt == "json":
        echo_json(b.to_json())
        return
    tabs = tables(b, lang, with_parcels=table in ("parcels", "parcel_restrictions"))
    if fmt == "csv":
        name = table or "by_category"
        click.echo(safe_table(tabs[name]).to_csv(index=False), nl=False)
        return
    click.echo(f"{t('balance.title', lang)}: {ws.name}  ({b.provenance['crs']})")
    floatfmt, note = area_format(ws, 4, lang)   # areas to the decimals the coarsest input supports
    for name in ([table] if table else _TERMINAL):
        df = tabs.get(name)
        if df is None or (df.empty and name not in ("by_category", "restricted")):
            continue
        click.echo("")
        echo_table(df, title=f"== {t('balance.sheet.' + name, lang)}", floatfmt=floatfmt, lang=lang)
    for w in b.provenance.get("warnings") or []:
        # a restriction or a value left out of the tables is said where the user looks
        click.echo(f"{t('core.warning', lang)}: {w}")
    if note:
        click.echo("")
        click.echo(note)
    rec = b.reconciliation
    flagged = rec[rec["flag"] & (rec["code"] != "total")] if len(rec) else rec
    if len(flagged):
        tol = (f"{b.provenance['tolerance']['abs_ha']} {t('core.ha', lang)} / "
               f"{b.provenance['tolerance']['rel_pct']} %")
        click.echo("")
        click.echo(f"{t('core.warning', lang)}: {t('balance.flagged', lang, n=len(flagged), tol=tol)}")


commands = [balance_cmd]
