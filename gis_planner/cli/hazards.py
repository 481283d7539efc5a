"""``gis-planner hazards …``: compute susceptibility zones, import official ones, exposure, relocation list."""
from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..errors import GisPlannerError
from ..i18n import label, t
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option, open_ws, workspace_option

HAZARD_CHOICES = ["flood", "mudflow", "landslide", "avalanche"]
_LEVEL_ORDER = {"high": 0, "medium": 1, "low": 2}


def _headers(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Translate codes (hazard type, level, basis) and column names for a human-readable table."""
    out = df.copy()
    if "hazard_type" in out:
        out["hazard_type"] = [label("hazards", v, lang) if v in HAZARD_CHOICES + ["rockfall"] else v
                              for v in out["hazard_type"]]
    if "hazard_types" in out:  # "flood;mudflow" of the relocation list
        out["hazard_types"] = [", ".join(label("hazards", h, lang) if h in HAZARD_CHOICES + ["rockfall"] else h
                                         for h in str(v).split(";") if h) for v in out["hazard_types"]]
    if "level" in out:
        out["level"] = [label("hazards.levels", v, lang) if v in ("high", "medium", "low") else v
                        for v in out["level"]]
    if "screening" in out:
        out["screening"] = [t("hazards.basis.screening", lang) if bool(v) else "" for v in out["screening"]]
    if "basis" in out:
        out["basis"] = [";".join(t(f"hazards.basis.{b}", lang) for b in str(v).split(";")) for v in out["basis"]]
    names = {}
    for c in out.columns:
        key = f"hazards.col.{c}"
        text = t(key, lang)
        names[c] = text if text != key else c
    return out.rename(columns=names)


def _emit(df: pd.DataFrame, fmt: str, lang: str, title: str | None = None, extra: dict | None = None) -> None:
    if fmt == "json":
        echo_json({"rows": df, **(extra or {})})
    elif fmt == "csv":
        click.echo(safe_table(df).to_csv(index=False), nl=False)
    else:
        echo_table(_headers(df, lang), title=title, floatfmt="{:,.2f}", lang=lang)


def _save(df: pd.DataFrame, out: str, extra: dict | None = None) -> None:
    import json

    from .common import _jsonable

    path = Path(out)
    if path.suffix.lower() == ".json":
        payload = {"rows": df, **(extra or {})}
        path.write_text(json.dumps(_jsonable(payload), ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    elif path.suffix.lower() == ".csv":
        safe_table(df).to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens Cyrillic correctly
    else:
        raise GisPlannerError("unknown output format", file=str(path), fix="use a .csv or .json file name",
                              code="bad_output")


@click.group("hazards")
def hazards_group():
    """Natural hazards: susceptibility zones, official zones, exposure and relocation list."""


@hazards_group.command("compute")
@workspace_option
@click.option("--hazard", "hazard_types", multiple=True, type=click.Choice(HAZARD_CHOICES),
              help="Hazard type to compute (repeat; default all).")
@click.option("--dry-run", is_flag=True, help="Compute and show, but do not write hazard_zones.")
@format_option
@lang_option
def compute_cmd(workspace, hazard_types, dry_run, fmt, lang):
    """Compute susceptibility zones from the workspace DEM into hazard_zones (official rows are kept)."""
    from ..hazards import compute_hazard_zones, store_hazard_zones

    ws = open_ws(workspace)
    hazards = list(hazard_types) or None
    import sys

    with click.progressbar(length=1000, label=t("hazards.title", lang), show_percent=True,
                           file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(fraction: float, message: str) -> None:
            target = int(round(fraction * 1000))
            bar.label = message
            if target > state["done"]:
                bar.update(target - state["done"])
                state["done"] = target

        zones = compute_hazard_zones(ws, hazards, progress=progress, lang=lang)
    summary = (zones.assign(area_ha=zones.geometry.area / 1e4)
               .groupby(["hazard_type", "level", "method"], as_index=False)
               .agg(zones=("area_ha", "size"), area_ha=("area_ha", "sum")))
    summary = summary.sort_values(["hazard_type", "level"], key=lambda c: c.map(
        {"high": 0, "medium": 1, "low": 2}) if c.name == "level" else c, kind="stable").reset_index(drop=True)
    result = {}
    if not dry_run:
        result = store_hazard_zones(ws, zones, hazards)
    fitness = zones.attrs.get("dem_fitness") or {}
    if fmt == "json":
        echo_json({"zones": summary, "written": not dry_run, "dem_fitness": fitness,
                   "conditioning": zones.attrs.get("conditioning"), **result})
        return
    summary["screening"] = [not fitness.get(h, {"fit": True})["fit"] for h in summary["hazard_type"]]
    _emit(summary, fmt, lang)
    if fmt == "table":
        click.echo(t("hazards.dry_run", lang) if dry_run else
                   t("hazards.computed", lang, n=result["written"], official=result["kept_official"]))
        from ..hazards.susceptibility import describe_conditioning

        line = describe_conditioning(zones.attrs.get("conditioning"), lang)
        if line:
            click.echo(line)
        _echo_fitness(ws, fitness, lang)


def _echo_fitness(ws, fitness: dict, lang: str) -> None:
    """What the DEM supports, and the screening note when some model is screening."""
    if not fitness:
        return
    from ..hazards.fitness import dem_profile, describe

    click.echo(t("hazards.fit.title", lang))
    for line in describe(dem_profile(ws), fitness, lang):
        click.echo("  " + line)
    if any(not f["fit"] for f in fitness.values()):
        click.echo(t("hazards.fit.screening_note", lang))


@hazards_group.command("zones")
@workspace_option
@format_option
@lang_option
def zones_cmd(workspace, fmt, lang):
    """Official and computed zones side by side (ha per hazard type and level); the official one governs."""
    from ..hazards import compare_official_computed

    ws = open_ws(workspace)
    df = compare_official_computed(ws)
    if len(df) and {"hazard_type", "level"} <= set(df.columns):  # high, medium, low (not alphabetical)
        df = df.sort_values(["hazard_type", "level"], key=lambda c: c.map(_LEVEL_ORDER) if c.name == "level" else c,
                            kind="stable").reset_index(drop=True)
    if df.empty and fmt == "table":
        click.echo(t("hazards.no_zones", lang))
        return
    _emit(df, fmt, lang, title=t("hazards.compare_title", lang))
    if fmt == "table":
        click.echo(t("hazards.official_governs", lang))


def _report(df: pd.DataFrame, out: str | None, fmt: str, lang: str, title: str, table_cols=None) -> None:
    """Save a table with its provenance (``--out``) and print it (the table format may show fewer columns)."""
    prov = df.attrs.get("provenance", {})
    if out:
        _save(df, out, {"provenance": prov})
    shown = df[table_cols] if (fmt == "table" and table_cols) else df
    _emit(shown, fmt, lang, title=title, extra={"provenance": prov})
    if out and fmt == "table":
        click.echo(t("hazards.saved", lang, path=out))


@hazards_group.command("exposure")
@workspace_option
@click.option("--out", type=click.Path(), default=None, help="Also save to a .csv or .json file.")
@format_option
@lang_option
def exposure_cmd(workspace, out, fmt, lang):
    """Parcels, house plots, people, buildings, settlement land, roads and community objects per hazard and level."""
    from ..hazards import exposure_table

    _report(exposure_table(open_ws(workspace)), out, fmt, lang, t("hazards.exposure_title", lang))


@hazards_group.command("relocation")
@workspace_option
@click.option("--out", type=click.Path(), default=None, help="Also save the list to a .csv or .json file.")
@format_option
@lang_option
def relocation_cmd(workspace, out, fmt, lang):
    """House plots in high-level hazard zones (relocation candidates for the hazard management plan)."""
    from ..hazards import relocation_candidates

    df = relocation_candidates(open_ws(workspace))
    cols = ["cadastral_no", "settlement", "address", "hazard_types", "basis", "overlap_ha", "overlap_share",
            "households", "population"]
    _report(df, out, fmt, lang, f"{t('hazards.relocation_title', lang)}: {len(df)}", cols)
    if fmt == "table" and df.attrs.get("screening_only"):
        click.echo(t("hazards.fit.relocation_screening", lang, n=df.attrs["screening_only"]))


@hazards_group.command("validate")
@workspace_option
@format_option
@lang_option
def validate_cmd(workspace, fmt, lang):
    """Agreement of computed zones with official zones and mapped landslides: official high zone captured,
    false alarms, ROC AUC of the computed level."""
    from ..hazards.validation import validate_zones

    df = validate_zones(open_ws(workspace))
    if df.empty and fmt == "table":
        click.echo(t("hazards.validate.none", lang))
        return
    _emit(df, fmt, lang, title=t("hazards.validate.title", lang))
    if fmt == "table":
        click.echo(t("hazards.validate.note", lang))


@hazards_group.command("import-official")
@click.argument("file", type=click.Path())
@workspace_option
@click.option("--source", required=True, help="Authority and document of the map (e.g. 'MChS KR, 2024').")
@click.option("--date", default=None, help="Date of the map (YYYY-MM-DD).")
@click.option("--hazard-type", default=None, help="Hazard type for a file without that column.")
@click.option("--level", default=None, help="Level for a file without that column.")
@click.option("--layer", default=None, help="Layer of a multi-layer file.")
@click.option("--replace", type=click.Choice(["source", "all", "none"]), default="source", show_default=True,
              help="Which earlier official rows to replace.")
@lang_option
def import_official_cmd(file, workspace, source, date, hazard_type, level, layer, replace, lang):
    """Import an official hazard map (any vector format) into hazard_zones with method=official."""
    from ..hazards import import_official_zones

    ws = open_ws(workspace)
    res = import_official_zones(ws, file, source=source, date=date, hazard_type=hazard_type, level=level,
                                layer=layer, replace=replace)
    click.echo(t("hazards.imported", lang, n=res["imported"], replaced=res["replaced"]))


@hazards_group.command("terrain")
@workspace_option
@click.option("--out", "out_dir", type=click.Path(), required=True, help="Folder for the GeoTIFFs.")
@lang_option
def terrain_cmd(workspace, out_dir, lang):
    """Save slope, flow accumulation (km²), HAND and curvature rasters of the workspace DEM (for QGIS)."""
    from ..hazards import hazard_rules, terrain_for_workspace
    from ..hazards.susceptibility import write_terrain_rasters

    ws = open_ws(workspace)
    terr = terrain_for_workspace(ws, hazard_rules(ws), lang=lang)
    paths = write_terrain_rasters(terr, out_dir, hazard_rules(ws))
    click.echo(t("hazards.terrain_saved", lang, path=", ".join(str(p) for p in paths)))


commands = [hazards_group]
