"""``gis-planner dem set FILE`` / ``dem info``: the terrain model (any GeoTIFF), its provenance and fitness."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import GisPlannerError
from ..i18n import t
from .common import echo_json, format_option, lang_option, open_ws, workspace_option


@click.group("dem")
def dem_group():
    """The workspace terrain model (DEM) used by the hazard analysis, maps and reports."""


@dem_group.command("set")
@click.argument("file", type=click.Path())
@workspace_option
@click.option("--source", required=True, help="Where the DEM comes from (e.g. 'SRTM 1 arc-second, USGS').")
@click.option("--date", "source_date", default=None, help="Date of the data (YYYY-MM-DD).")
@click.option("--native-resolution-m", type=float, default=None,
              help="Cell size (m) of the product this DEM was made from, when it was resampled.")
@click.option("--vertical-error-m", type=float, default=None,
              help="Vertical error (RMSE, m) of the DEM, from its metadata or a field check.")
@lang_option
def dem_set_cmd(file, workspace, source, source_date, native_resolution_m, vertical_error_m, lang):
    """Copy the elevation GeoTIFF FILE into the workspace as its DEM (replacing the previous one).

    Prints what the DEM can support: a hazard model it is too coarse or too inexact for is computed
    as screening. A DEM that does not cover the municipality is refused and the workspace kept.
    """
    from ..hazards.fitness import fitness_report, notes_for

    if not Path(file).is_file():
        raise GisPlannerError("file not found", file=file, fix="check the path of the GeoTIFF", code="not_found")
    ws = open_ws(workspace)
    notes = notes_for(native_resolution_m, vertical_error_m)
    _, _, lines = fitness_report(ws, lang, check=True, path=file, source=source, notes=notes)
    dst = ws.set_dem(file, source=source, source_date=source_date, notes=notes)
    click.echo(t("core.dem_set", lang, path=dst))
    for line in lines:
        click.echo(line)


@dem_group.command("info")
@workspace_option
@format_option
@lang_option
def dem_info_cmd(workspace, fmt, lang):
    """The workspace DEM: cell size, the product's own resolution and vertical error, coverage, and
    for each hazard model whether the DEM supports it (else its zones are screening)."""
    from ..hazards.fitness import fitness_report

    ws = open_ws(workspace)
    prof, fit, lines = fitness_report(ws, lang, check=True)
    if fmt == "json":
        echo_json({"dem": prof, "models": fit})
        return
    click.echo(t("hazards.fit.title", lang))
    for line in lines:
        click.echo(line)


commands = [dem_group]
