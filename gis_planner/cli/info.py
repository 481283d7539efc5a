"""``gis-planner info`` and ``gis-planner init``."""
from __future__ import annotations

import click
import pandas as pd

from ..catalog import validate_all
from ..errors import GisPlannerError
from ..i18n import t
from ..io.report import warning_text
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
             t("io.col.accuracy_m", lang): _accuracy(lay.get("precision")),
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


def _accuracy(prec: dict | None) -> str:
    """``±5`` (given or from metadata), ``≈±28`` (estimated from the drawing), '' (unknown)."""
    if not prec or not prec.get("accuracy_m"):
        return ""
    return f"{'≈' if prec.get('how') == 'estimated' else ''}±{prec['accuracy_m']:g}"


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
@click.option("--name", default=None, help="Municipality name (default: the boundary's name with --boundary).")
@click.option("--crs", default=None, help="Workspace CRS (a Kyrg-06 zone, e.g. EPSG:7695); default from the data. "
                                         "With --boundary: the CRS of a boundary file that declares none.")
@click.option("--boundary", "boundary", type=click.Path(exists=True), default=None,
              help="Administrative-boundary file (GADM, geoBoundaries, HDX COD-AB, or your own) to build the "
                   "workspace from.")
@click.option("--where", "where", multiple=True, metavar="FIELD=VALUE",
              help="Which unit of the boundary file (repeatable): a field of the file (NAME_2, ADM3_RU …) or "
                   "name/code/district/oblast.")
@click.option("--src-layer", default=None, help="Layer inside the boundary file (GeoPackage, FileGDB).")
@click.option("--encoding", default=None, help="Text encoding of the boundary file when it cannot be detected.")
@click.option("--dem", "dem", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Elevation GeoTIFF (default with --boundary: the bundled GEBCO grid).")
@click.option("--no-dem", is_flag=True, help="With --boundary: no DEM (and no derived rivers).")
@click.option("--rivers", "rivers", type=click.Path(exists=True), default=None,
              help="River layer to import into water_bodies (default: rivers derived from the DEM).")
@click.option("--no-rivers", is_flag=True, help="With --boundary: do not derive rivers from the DEM.")
@click.option("--date", "source_date", default=None, metavar="YYYY-MM-DD", help="Date of the boundary data.")
@click.option("--scale", default=None, metavar="1:N", help="Source scale of the boundary (for its accuracy).")
@click.option("--accuracy-m", "accuracy_m", type=float, default=None, help="Positional accuracy of the boundary (m).")
@lang_option
def init_cmd(folder, name, crs, boundary, where, src_layer, encoding, dem, no_dem, rivers, no_rivers,
             source_date, scale, accuracy_m, lang):
    """Create a workspace in FOLDER: empty, or for one municipality of a boundary file (--boundary)."""
    validate_all()
    if boundary is None:
        if where or dem or rivers:
            raise GisPlannerError("--where, --dem and --rivers need --boundary FILE",
                                  fix="give the municipality's boundary file with --boundary", code="bad_option")
        if not name:
            raise GisPlannerError("--name is required without --boundary", fix="give --name \"…\"",
                                  code="bad_option")
        ws = Workspace.create(folder, name=name, crs=crs)
        click.echo(t("core.created_workspace", lang, path=ws.gpkg))
        return
    from ..io.boundary import init_from_boundary

    res = init_from_boundary(folder, boundary, where=list(where), name=name, src_layer=src_layer,
                             encoding=encoding, crs=crs, dem=dem, use_gebco=not no_dem, rivers=rivers,
                             derive=not no_rivers, source_date=source_date, scale=scale, accuracy_m=accuracy_m)
    ws = res.workspace
    click.echo(t("core.created_workspace", lang, path=ws.gpkg))
    rep = res.boundary_report
    fields = ", ".join(f"{k} ← {v}" for k, v in rep.field_mapping.items())
    click.echo(t("init.boundary_chosen", lang, name=ws.name, field_list=fields, file=rep.source,
                 area=f"{res.area_ha:,.{_area_decimals(rep)}f}"))
    click.echo(t("init.crs", lang, crs=res.crs))
    if rep.precision.get("accuracy_m"):
        click.echo(t("init.precision", lang, accuracy=f"{rep.precision['accuracy_m']:g}"))
    if res.dem:
        click.echo(t("init.dem", lang, width=res.dem["width"], height=res.dem["height"],
                     res=f"{res.dem['resolution_m']:g}", source=res.dem["source"]))
    if res.rivers.get("derived"):
        click.echo(t("init.rivers_derived", lang, n=res.rivers["n"], km=f"{res.rivers['length_km']:,.1f}"))
    elif res.rivers.get("imported") is not None:
        click.echo(t("init.rivers_imported", lang, n=res.rivers["imported"]))
    for w in rep.warnings:
        if w["code"] != "no_source_date":
            click.echo(f"  - {warning_text(w, lang)}")
    click.echo(t("init.clip_note", lang))
    click.echo(t("init.next", lang, ws=ws.root))


def _area_decimals(rep) -> int:
    from ..io.precision import decimals_for

    return decimals_for((rep.precision or {}).get("accuracy_m"))[0]


commands = [info_cmd, init_cmd]
