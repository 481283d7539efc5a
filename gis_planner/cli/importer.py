"""``gis-planner import``: import a vector file into a standard workspace layer (validated, repaired)."""
from __future__ import annotations

import sys

import click

from .. import settings
from ..i18n import t
from ..io import import_layer
from .common import echo_json, open_ws, workspace_option


@click.command("import")
@workspace_option
@click.option("--layer", "-l", required=True, help="Standard layer to fill (parcels, boundary, protected_areas …).")
@click.argument("file", type=click.Path())
@click.option("--field-map", "-m", "field_map", multiple=True, metavar="CANONICAL=SOURCE",
              help="Which source field feeds a canonical field (repeatable); wkt=/lon=/lat= name CSV "
                   "geometry columns.")
@click.option("--crs", default=None, metavar="EPSG",
              help="CRS of the coordinates when the file has none (replaces a wrong one), e.g. EPSG:4326.")
@click.option("--src-layer", default=None, help="Layer inside a GeoPackage/FileGDB/KML/GPX/OSM, or file inside a ZIP.")
@click.option("--source", default=None, help="Source of the data for the provenance (default: file name).")
@click.option("--date", "source_date", default=None, metavar="YYYY-MM-DD", help="Date of the data.")
@click.option("--encoding", default=None,
              help="Text encoding (e.g. cp1251, koi8_r) of a Shapefile/CSV, when it is not detected for sure.")
@click.option("--allow-unknown", is_flag=True,
              help="Import features with an unknown/empty required category (stored empty, reported).")
@click.option("--scale", default=None, metavar="1:N",
              help="Scale of the source map/plan (its accuracy: 0.5 mm at that scale); estimated if not given.")
@click.option("--accuracy-m", "accuracy_m", type=float, default=None,
              help="Positional accuracy of the source in metres (instead of --scale).")
@click.option("--replace", "replace", is_flag=True,
              help="Replace the layer if it already holds features (without it such an import is refused).")
@click.option("--append", "append", is_flag=True,
              help="Add the features to the existing layer (duplicate numbers/geometries are reported).")
@click.option("--accept-drops", is_flag=True,
              help="Import a damaged file (truncated/corrupt records): the unreadable records are dropped "
                   "and listed.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress line on stderr (default: when stderr is a terminal).")
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format of the report.")
@click.option("--lang", type=click.Choice(list(settings.LANGUAGES)), default=settings.DEFAULT_LANG,
              show_default=True, help="Language of the report.")
def import_cmd(workspace, layer, file, field_map, crs, src_layer, source, source_date, encoding, allow_unknown,
               scale, accuracy_m, replace, append, accept_drops, progress, dry_run, fmt, lang):
    """Import FILE (GeoPackage, Shapefile/.zip, GeoJSON, KML/KMZ, CSV, FileGDB .gdb/.gdb.zip, GPX, DXF,
    OSM .osm/.osm.pbf, GeoJSONSeq) into a workspace layer.

    Fields and category values are recognised from Kyrgyz/Russian/English names; invalid geometries
    are repaired; problems are reported with feature ids and stored with the layer's provenance.
    """
    if replace and append:
        raise click.UsageError("give --replace or --append, not both")
    ws = open_ws(workspace)
    show = progress if progress is not None else sys.stderr.isatty()

    def step(name, done, total):
        text = t("importsafe.progress", lang, step=t(f"importsafe.step.{name}", lang), done=done, total=total)
        click.echo("\r" + text.ljust(60), nl=name == "done", err=True)

    report = import_layer(ws, layer, file, field_map=list(field_map), crs=crs, source=source,
                          source_date=source_date, dry_run=dry_run, src_layer=src_layer, encoding=encoding,
                          allow_unknown=allow_unknown, scale=scale, accuracy_m=accuracy_m,
                          accept_drops=accept_drops, mode="replace" if replace else "append" if append else "new",
                          progress=step if show else None)
    if fmt == "json":
        echo_json(report.to_dict())
        return
    for line in report.lines(lang):
        click.echo(line)


commands = [import_cmd]
