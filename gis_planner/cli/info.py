"""``gis-planner info`` and ``gis-planner init``."""
from __future__ import annotations

import click
import pandas as pd

from ..catalog import validate_all
from ..i18n import t
from ..text import safe_table
from ..workspace import Workspace
from .common import echo_json, echo_table, format_option, lang_option, open_ws, workspace_option


@click.command("info")
@workspace_option
@format_option
@lang_option
def info_cmd(workspace, fmt, lang):
    """List the workspace layers with feature counts, CRS, source and date."""
    ws = open_ws(workspace)
    info = ws.info()
    if fmt == "json":
        echo_json(info)
        return
    click.echo(f"{t('core.workspace', lang)}: {info['name']}  ({info['workspace']})")
    click.echo(f"{t('core.crs', lang)}: {info['crs'] or t('core.none', lang)}")
    rows = [{t("core.layer", lang): lay["name"], t("core.features", lang): lay["features"],
             t("core.geometry", lang): lay["geometry_type"] or "-",
             t("core.source", lang): lay["source"] or "", t("core.date", lang): lay["source_date"] or ""}
            for lay in info["layers"]]
    df = pd.DataFrame(rows)
    if fmt == "csv":
        click.echo(safe_table(df).to_csv(index=False), nl=False)
        return
    echo_table(df, lang=lang)
    dem = info["dem"]
    click.echo(f"{t('core.dem', lang)}: " + (f"{dem['width']}×{dem['height']}, {dem['crs']}, "
                                              f"{_resolution(dem)}, {dem['source'] or ''}"
                                              if dem else t("core.none", lang)))
    for name in info["missing_standard_layers"]:
        click.echo(t("core.layer_missing", lang, layer=name))


def _resolution(dem: dict) -> str:
    """The DEM cell size: metres, or arc-seconds for a geographic DEM (``0.0 m`` said nothing)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    res = float(dem["resolution"][0])
    try:
        geographic = bool(dem.get("crs")) and CRS.from_user_input(dem["crs"]).is_geographic
    except CRSError:
        geographic = False
    return f"{res * 3600:.2f}″" if geographic else f"{res:.1f} m"


@click.command("init")
@click.argument("folder", type=click.Path())
@click.option("--name", required=True, help="Municipality name.")
@click.option("--crs", default=None, help="Workspace CRS (a Kyrg-06 zone, e.g. EPSG:7695); default from first import.")
@lang_option
def init_cmd(folder, name, crs, lang):
    """Create an empty workspace in FOLDER."""
    validate_all()
    ws = Workspace.create(folder, name=name, crs=crs)
    click.echo(t("core.created_workspace", lang, path=ws.gpkg))


commands = [info_cmd, init_cmd]
