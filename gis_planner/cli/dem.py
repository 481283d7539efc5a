"""``gis-planner dem set FILE``: put the terrain model (any GeoTIFF) into the workspace, with its provenance."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import GisPlannerError
from ..i18n import t
from .common import lang_option, open_ws, workspace_option


@click.group("dem")
def dem_group():
    """The workspace terrain model (DEM) used by the hazard analysis, maps and reports."""


@dem_group.command("set")
@click.argument("file", type=click.Path())
@workspace_option
@click.option("--source", required=True, help="Where the DEM comes from (e.g. 'SRTM 1 arc-second, USGS').")
@click.option("--date", "source_date", default=None, help="Date of the data (YYYY-MM-DD).")
@lang_option
def dem_set_cmd(file, workspace, source, source_date, lang):
    """Copy the elevation GeoTIFF FILE into the workspace as its DEM (replacing the previous one)."""
    if not Path(file).is_file():
        raise GisPlannerError("file not found", file=file, fix="check the path of the GeoTIFF", code="not_found")
    ws = open_ws(workspace)
    dst = ws.set_dem(file, source=source, source_date=source_date)
    click.echo(t("core.dem_set", lang, path=dst))


commands = [dem_group]
