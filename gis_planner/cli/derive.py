"""``gis-planner derive rivers``: layers computed from the workspace's own data (rivers from the DEM)."""
from __future__ import annotations

import click

from ..i18n import t
from .common import lang_option, open_ws, workspace_option


@click.group("derive")
def derive_group():
    """Layers derived from the workspace data when no surveyed layer exists (marked derived)."""


@derive_group.command("rivers")
@workspace_option
@click.option("--min-catchment-km2", type=float, default=None,
              help="A channel starts where its catchment exceeds this (default: layers/import.yaml).")
@click.option("--replace", is_flag=True, help="Replace imported rivers/canals of water_bodies (lakes are kept).")
@lang_option
def derive_rivers_cmd(workspace, min_catchment_km2, replace, lang):
    """Trace the main rivers on the workspace DEM into water_bodies (provenance: derived, not surveyed)."""
    from ..io.boundary import derive_rivers

    ws = open_ws(workspace)
    res = derive_rivers(ws, min_catchment_km2=min_catchment_km2, replace=replace)
    click.echo(t("init.rivers_derived", lang, n=res["n"], km=f"{res['length_km']:,.1f}"))


commands = [derive_group]
