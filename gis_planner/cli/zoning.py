"""``gis-planner check | restrictions | conflicts | transform``: restrictions and legal zoning."""
from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..i18n import label, t
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option, open_ws, workspace_option


def _provenance_line(prov: dict, lang: str) -> str:
    parts = [f"{p['layer']}: {p.get('source') or ''} ({p.get('source_date') or ''})" for p in prov.get("layers") or []]
    parts += [f"{r['file']} v{r.get('version')}" + (" +" if r.get("overridden") else "") + f" [{r.get('sha256')}]"
              for r in prov.get("rules") or []]
    return f"{t('core.source', lang)}: " + "; ".join(parts)


@click.command("check")
@workspace_option
@format_option
@lang_option
@click.option("--use", "use", required=True, help="Intended use (activity code of layers/activities.yaml, e.g. housing).")
@click.option("--parcel", "parcel", default=None, help="Parcel fid or cadastral number.")
@click.option("--point", "point", default=None,
              help="X,Y in the workspace CRS, or GPS longitude,latitude: what lies at the point, and the "
                   "parcel under it.")
@click.option("--wkt", "wkt", default=None,
              help="A drawn plot as WKT polygon in the workspace CRS or in GPS longitude/latitude.")
def check_cmd(workspace, fmt, lang, use, parcel, point, wkt):
    """May a plot be used for USE? Verdict with every reason, share of the plot and legal source."""
    from ..zoning import check

    ws = open_ws(workspace)
    # lon/lat or workspace coordinates: detected (and refused outside the municipality) by the library
    res = check(ws, use, parcel_id=parcel, point=point, geometry=wkt, lang=lang)
    if fmt == "json":
        echo_json(res.to_dict())
        return
    df = pd.DataFrame([{"kind": r["kind"], t("zoning.col.regime", lang): t(f"zoning.kind.{r['kind']}", lang),
                        "rule_id": r["rule_id"], "effect": t(f"zoning.effect.{r['effect']}", lang),
                        t("zoning.col.share", lang): f"{r['share']:.1%}",
                        t("zoning.col.area_ha", lang): r["area_ha"],
                        t("zoning.col.legal_source", lang): r.get("source_text") or r.get("legal_source") or ""}
                       for r in res.reasons])
    if fmt == "csv":
        click.echo(safe_table(df).to_csv(index=False), nl=False)
        return
    if res.input:
        click.echo(res.input["note"])
        for note in res.input.get("notes") or []:
            click.echo(f"{t('core.warning', lang)}: {note}")
    if res.at_point is not None:
        from ..geoinput import at_point_lines
        from ..zoning import zoning_rules
        from ..zoning.check import _what

        zr = zoning_rules(ws)
        for line in at_point_lines(res.at_point, label("activities", res.use, lang), lang,
                                   lambda z: _what(z, lang, ws, zr)):
            click.echo(line)
        click.echo("")
        click.echo(t("geoinput.parcel_title", lang) + ":")
    head = res.message
    if res.cadastral_no:
        head = f"{res.cadastral_no} ({res.area_ha:.4f} {t('core.ha', lang)}): {head}"
    click.echo(head)
    for r in res.reasons:
        click.echo(f"  - {r['message']}")
        if r.get("procedure"):   # the category step: the five steps of the transformation
            click.echo(f"    {t('zoning.category.procedure', lang)}:")
            for p in r["procedure"]:
                click.echo(f"      {p}")
    for c in res.category:
        if c.get("effect") is None:   # the category allows the use: said, not left out
            click.echo(f"  = {c['message']}")
    click.echo(_provenance_line(res.provenance, lang))


@click.command("restrictions")
@workspace_option
@format_option
@lang_option
@click.option("--use", "use", default=None, help="Also make the restriction map for this intended use.")
@click.option("--write/--no-write", default=True, show_default=True,
              help="Store the restrictions (and the map) in the workspace.")
@click.option("--geojson", type=click.Path(dir_okay=False), default=None,
              help="GeoJSON path of the restriction map (default <workspace>/exports/restriction_map_<use>.geojson).")
@click.option("--validate", is_flag=True, help="Only validate the rule files (with the workspace overrides).")
def restrictions_cmd(workspace, fmt, lang, use, write, geojson, validate):
    """Derive the restriction layers from the rules; with --use, the prohibited/conditional/free map."""
    from ..io.precision import area_format
    from ..zoning import build_restrictions, restriction_map, validate_rules, write_restrictions

    ws = open_ws(workspace)
    validate_rules(ws, legal_zones=validate)  # unknown zone codes only warn when building (see below)
    if validate:
        click.echo("ok")
        return
    r = write_restrictions(ws) if write else build_restrictions(ws)
    from ..zoning.areas import boundary_geometry, regime_areas

    # one area per regime: union clipped to the municipality, as the balance and the report measure it
    summary = regime_areas(r, boundary_geometry(ws))
    summary.insert(0, "label", summary["kind"].map(lambda k: t(f"zoning.kind.{k}", lang)))
    out = {"restrictions": summary}
    if use:
        m = restriction_map(ws, use, write=write, geojson=geojson, lang=lang)
        out["map"] = pd.DataFrame(m.drop(columns="geometry"))
    if fmt == "json":
        echo_json({k: v for k, v in out.items()} | {"warnings": r.attrs.get("warnings", [])})
        return
    if fmt == "csv":
        click.echo(safe_table(out.get("map", summary)).to_csv(index=False), nl=False)
        return
    shown = summary[["label", "rule_id", "features", "area_ha", "outside_ha"]].rename(columns={
        "label": t("zoning.col.regime", lang), "rule_id": t("zoning.col.rule", lang),
        "features": t("core.features", lang), "area_ha": t("zoning.col.area_ha", lang),
        "outside_ha": t("zoning.col.outside_ha", lang)})
    floatfmt, note = area_format(ws, 2, lang)     # no more decimals than the coarsest input supports
    echo_table(shown, floatfmt=floatfmt, lang=lang)
    if note:
        click.echo(note)
    for w in r.attrs.get("warnings", []):
        click.echo(f"{t('core.warning', lang)}: {w}")
    if use:
        click.echo("")
        shown_map = out["map"][["label", "area_ha"]].rename(columns={
            "label": t("zoning.col.class", lang), "area_ha": t("zoning.col.area_ha", lang)})
        echo_table(shown_map, title=t("zoning.map_title", lang, use=label("activities", use, lang)),
                   floatfmt=floatfmt, lang=lang)
        if write:
            click.echo(f"-> {m.attrs.get('layer')}, {m.attrs.get('geojson')}")


@click.command("conflicts")
@workspace_option
@format_option
@lang_option
@click.option("--legal-zones", is_flag=True, help="Also report uses that do not conform to the legal zoning.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Also write CSV/XLSX.")
def conflicts_cmd(workspace, fmt, lang, legal_zones, out):
    """Current land use against the restriction regimes (parcels, areas, rule)."""
    from ..zoning import conflicts, restriction_rules

    ws = open_ws(workspace)
    kinds = None
    if legal_zones:
        kinds = list((restriction_rules(ws).get("conflicts") or {}).get("kinds") or []) + ["legal_zone"]
    c = conflicts(ws, kinds=kinds, lang=lang)
    if out:
        p = Path(out)
        if p.suffix.lower() == ".xlsx":
            from ..io.xlsx import write_sheet

            with pd.ExcelWriter(p, engine="openpyxl") as xw:
                write_sheet(xw, "conflicts", safe_table(pd.DataFrame(c)))   # areas with 2 decimals
        else:
            safe_table(c).to_csv(p, index=False, encoding="utf-8-sig")
    if fmt == "json":
        echo_json(c)
        return
    if fmt == "csv":
        click.echo(safe_table(c).to_csv(index=False), nl=False)
        return
    echo_table(_conflicts_table(c, lang, ws), title=t("zoning.conflicts_title", lang), lang=lang)
    click.echo(_provenance_line(c.attrs, lang))


def _conflicts_table(c: pd.DataFrame, lang: str, ws) -> pd.DataFrame:
    """The conflicts as a terminal table: headers, current uses and regimes in ``lang`` (codes stay in CSV/JSON)."""
    from ..zoning import zoning_rules
    from ..zoning.check import _what

    zrules = zoning_rules(ws)
    uses = {u: label("land_uses", u, lang) for u in pd.unique(c["land_use"])} if len(c) else {}
    rows = {
        t("zoning.col.parcel_id", lang): c["parcel_id"],
        t("zoning.col.cadastral_no", lang): c["cadastral_no"],
        t("zoning.col.land_use", lang): c["land_use"].map(uses),
        t("zoning.col.regime", lang): [_what(r, lang, ws, zrules) for r in c.to_dict("records")],
        t("zoning.col.area_ha", lang): c["area_ha"],
        t("zoning.col.conflict_area_ha", lang): c["conflict_area_ha"],
    }
    return pd.DataFrame(rows)


@click.command("transform")
@workspace_option
@format_option
@lang_option
@click.option("--parcels", "parcels", required=True,
              help="Comma-separated cadastral numbers or fids of the parcels to transform.")
@click.option("--to", "target", required=True, help="Target land category (code or name).")
@click.option("--reason", default="", help="Justification (step 1).")
@click.option("--use", "use", default=None, help="Intended use to check (default from the target category).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Write the list as .csv or .xlsx.")
def transform_cmd(workspace, fmt, lang, parcels, target, reason, use, out):
    """Land transformation list: cadastral number, current -> target category, area, restrictions, steps."""
    from ..zoning import transformation_list, write_transformation
    from ..zoning.transformation import localized

    ws = open_ws(workspace)
    ids = [p.strip() for p in parcels.split(",") if p.strip()]
    tl = transformation_list(ws, ids, target, reason=reason, use=use, lang=lang)
    if out:
        click.echo(f"-> {write_transformation(tl, out, lang=lang, ws=ws)}", err=True)
    if fmt == "json":
        echo_json(tl.drop(columns=["restriction_list"]))
        return
    loc = localized(tl, lang, ws)
    if fmt == "csv":
        click.echo(safe_table(loc).to_csv(index=False), nl=False)
        return
    steps_col = t("zoning.col.legal_step", lang)
    shown = loc.drop(columns=[steps_col]) if steps_col in loc else loc
    echo_table(shown.iloc[:, :8], lang=lang)
    for cad, step in zip(tl["cadastral_no"], loc.get(steps_col, [])):   # the legal step of each parcel
        if step:
            click.echo(f"{cad}: {step}")


commands = [check_cmd, restrictions_cmd, conflicts_cmd, transform_cmd]
