"""``gis-planner community …``: community-map sessions, features, review, import/export, hearing exports."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click
import pandas as pd

from .. import settings
from ..errors import GisPlannerError
from ..i18n import t
from ..text import safe_table
from .common import echo_json, echo_table, format_option, lang_option, workspace_option

db_option = click.option("--db", "db", default=None,
                         help="Store: a .gpkg path or postgresql:// URL (default: $GIS_PLANNER_DATABASE_URL, "
                              "else <workspace>/community.gpkg).")


def _open(workspace, db):
    from ..community import open_store
    from ..workspace import Workspace

    ws = Workspace(workspace if workspace else settings.default_workspace())
    return open_store(ws, url=db)


@contextmanager
def _cli_fixes():
    """Say how to fix a store error with the command line (the library names its Python API)."""
    try:
        yield
    except GisPlannerError as exc:
        if exc.code == "unknown_session":
            exc.fix = ("create it with `gis-planner community new-session` or see the numbers with "
                       "`gis-planner community sessions`")
        elif exc.code == "empty_text" and "author" in exc.problem:
            exc.fix = "pass your initials or role with --author (e.g. --author A.K.), or add an author column"
        raise


def _code_label(catalogue_name: str, code, lang: str | None) -> str:
    """The catalogue name of a code, or the code itself when the catalogue does not know it."""
    from ..i18n import label

    if code is None or (isinstance(code, float) and pd.isna(code)) or code == "":
        return ""
    try:
        return label(catalogue_name, str(code), lang)
    except GisPlannerError:
        return str(code)


def _readable(df: pd.DataFrame, lang: str | None) -> pd.DataFrame:
    """A terminal table in ``lang``: headers, participant groups, categories, verdicts, yes/no flags."""
    out = df.copy()
    groups = "community_categories.participant_groups"
    if "participant_group" in out:
        out["participant_group"] = [_code_label(groups, v, lang) for v in out["participant_group"]]
    if "category" in out:
        out["category"] = [_code_label("community_categories", v, lang) for v in out["category"]]
    if "verdict" in out:
        out["verdict"] = [t(f"zoning.verdict.{v}", lang) if isinstance(v, str) and v else "" for v in out["verdict"]]
    for col in ("is_problem", "is_wish", "deleted", "flagged"):
        if col in out:
            out[col] = [t("community.yes", lang) if v is True or v == 1 else "" for v in out[col]]
    names = {}
    for col in out.columns:
        key = f"community.col.{col}"
        text = t(key, lang)
        names[col] = text if text != key else _code_label(groups, col, lang)  # counts: one column per group
    return out.rename(columns=names)


def _emit(df: pd.DataFrame, fmt: str, title: str | None = None, lang: str | None = None) -> None:
    if fmt == "json":
        echo_json(df)
    elif fmt == "csv":
        click.echo(safe_table(df).to_csv(index=False), nl=False)
    else:
        echo_table(_readable(df, lang), title=title, lang=lang)


@click.group("community")
def community():
    """Community (participatory resource) maps: sessions, features, review, exchange."""


@community.command("sessions")
@workspace_option
@db_option
@click.option("--village", default=None)
@format_option
@lang_option
def sessions_cmd(workspace, db, village, fmt, lang):
    """List mapping sessions with their numbers of features."""
    store = _open(workspace, db)
    df = store.list_sessions(village=village).drop(columns=["notes"])
    df["created_at"] = df["created_at"].astype(str)
    _emit(df, fmt, t("community.sessions", lang), lang=lang)


@community.command("new-session")
@workspace_option
@db_option
@click.option("--village", required=True)
@click.option("--date", "date", required=True, help="YYYY-MM-DD")
@click.option("--group", "group", required=True, help="women, men, youth, elders, mixed, targeted")
@click.option("--age-band", default=None, help="18-35, 36-55, 56+ or all")
@click.option("--female", type=int, default=0, help="Number of women taking part.")
@click.option("--male", type=int, default=0, help="Number of men taking part.")
@click.option("--facilitators", default=None, help="Initials or roles (no names, no contacts).")
@lang_option
def new_session_cmd(workspace, db, village, date, group, age_band, female, male, facilitators, lang):
    """Record a mapping session."""
    store = _open(workspace, db)
    sid = store.create_session(village, date, group, age_band=age_band, participants_female=female,
                               participants_male=male, facilitators=facilitators)
    click.echo(t("community.created_session", lang, id=sid))
    _echo_privacy(store, sid, lang)


@community.command("features")
@workspace_option
@db_option
@click.option("--session", "session_id", type=int, default=None)
@click.option("--village", default=None)
@click.option("--group", default=None)
@click.option("--deleted/--no-deleted", default=False, help="Include deleted features.")
@format_option
@lang_option
def features_cmd(workspace, db, session_id, village, group, deleted, fmt, lang):
    """List features (id, session, category, title, flags, votes, version)."""
    store = _open(workspace, db)
    gdf = store.features(session_id=session_id, village=village, group=group, include_deleted=deleted)
    cols = ["id", "session_id", "village", "participant_group", "category", "kind", "title", "condition",
            "is_problem", "is_wish", "votes", "version", "deleted"]
    df = pd.DataFrame(gdf[cols])
    if fmt != "table":
        df["wkt"] = gdf.geometry.to_wkt()
    _emit(df, fmt, t("community.features_n", lang, n=len(df)), lang=lang)


@community.command("history")
@workspace_option
@db_option
@click.argument("feature_id", type=int)
@format_option
@lang_option
def history_cmd(workspace, db, feature_id, fmt, lang):
    """Change history of one feature."""
    store = _open(workspace, db)
    h = store.history(feature_id)
    df = h[["version", "action", "author", "at", "changed"]].copy()
    df["at"] = df["at"].astype(str)
    df["changed"] = df["changed"].map(lambda c: ", ".join(c))
    _emit(df, fmt, lang=lang)


def _change_cmd(name: str, help_text: str, with_target: bool = False):
    @community.command(name, help=help_text)
    @workspace_option
    @db_option
    @click.argument("feature_id", type=int)
    @click.option("--version", "version", type=int, required=True,
                  help="The version you looked at (see `history`); a newer one means someone else changed it.")
    @click.option("--author", required=True, help="Your initials or role.")
    @click.option("--to", "to_version", type=int, required=with_target, default=None,
                  help="Version to go back to." if with_target else "Not used.", hidden=not with_target)
    @lang_option
    def cmd(workspace, db, feature_id, version, author, to_version, lang):
        store = _open(workspace, db)
        if name == "revert":
            rec = store.revert_feature(feature_id, to_version, version, author)
        else:
            rec = getattr(store, f"{name}_feature")(feature_id, version, author)
        click.echo(t("community.changed", lang, id=rec.id, version=rec.version))

    return cmd


_change_cmd("delete", "Delete a feature (soft: `restore` brings it back).")
_change_cmd("restore", "Restore a deleted feature.")
_change_cmd("revert", "Bring back an earlier version of a feature (recorded as a new version).", with_target=True)


@community.command("import")
@workspace_option
@db_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--session", "session_id", type=int, required=True)
@click.option("--author", default=None, help="Initials or role for rows without an author.")
@click.option("--category", default=None, help="Category for rows without one.")
@click.option("--layer", default=None, help="Layer to read (GeoPackage/KML with several).")
@click.option("--copy", "copy", is_flag=True, help="Import as new copies (ignore the uid column).")
@click.option("--encoding", default=None, help="Text encoding of a CSV (default: UTF-8, else cp1251), e.g. cp866.")
@lang_option
def import_cmd(workspace, db, path, session_id, author, category, layer, copy, encoding, lang):
    """Import GeoJSON / GeoPackage / KML / CSV (WKT) into a session (all features or none)."""
    from ..community.exchange import import_file

    store = _open(workspace, db)
    with _cli_fixes():
        recs = import_file(store, path, session_id, author=author, category=category, layer=layer,
                           keep_uid=not copy, encoding=encoding)
    click.echo(t("community.imported", lang, n=len(recs)))
    _echo_privacy(store, session_id, lang)


@community.command("export")
@workspace_option
@db_option
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--session", "session_id", type=int, default=None)
@click.option("--village", default=None)
@click.option("--group", default=None)
@click.option("--public", is_flag=True,
              help="For publication: names and phone numbers in the text replaced, no author columns.")
@click.option("--photos", is_flag=True, help="Also write the photos to <name>_photos/ (a .zip path: always).")
@lang_option
def export_cmd(workspace, db, path, session_id, village, group, public, photos, lang):
    """Export features to .geojson, .gpkg, .kml or .csv (all attributes, or the public version), or .zip
    (GeoJSON + photos)."""
    from ..community.exchange import export

    store = _open(workspace, db)
    out = export(store, path, session_id=session_id, village=village, group=group, public=public, photos=photos,
                 lang=lang)
    click.echo(t("community.exported", lang, path=out))


@community.command("privacy")
@workspace_option
@db_option
@click.option("--session", "session_id", type=int, default=None)
@lang_option
def privacy_cmd(workspace, db, session_id, lang):
    """List names and phone numbers written into the text (hidden in every public output)."""
    from ..community.privacy import store_warnings

    store = _open(workspace, db)
    for w in store_warnings(store, session_id=session_id, lang=lang):
        click.echo(w)


def _echo_privacy(store, session_id, lang) -> None:
    """Warn at entry about names/phones in what was just stored (they are redacted when published)."""
    from ..community.privacy import store_warnings

    for w in store_warnings(store, session_id=session_id, lang=lang):
        click.echo(f"{t('privacy.warnings_title', lang)}: {w}")


@community.command("hearing")
@workspace_option
@db_option
@click.argument("session_id", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False))
@lang_option
def hearing_cmd(workspace, db, session_id, out_dir, lang):
    """Printable map (PNG) and numbered list (CSV, HTML) of a session for the public hearing."""
    from ..community.exchange import export_session

    store = _open(workspace, db)
    with _cli_fixes():
        paths = export_session(store, session_id, Path(out_dir), lang=lang)
    for p in paths.values():
        click.echo(t("community.exported", lang, path=p))


@community.command("counts")
@workspace_option
@db_option
@click.option("--village", default=None)
@click.option("--session", "session_id", type=int, default=None)
@click.option("--by", type=click.Choice(["session", "participant_group"]), default="participant_group",
              show_default=True)
@click.option("--level", type=click.Choice(["category", "group"]), default="category", show_default=True)
@format_option
@lang_option
def counts_cmd(workspace, db, village, session_id, by, level, fmt, lang):
    """Numbers of features by category per session or participant group."""
    from ..community.review import counts

    store = _open(workspace, db)
    table = counts(store, village=village, session_id=session_id, by=by, level=level, lang=lang)
    df = table.reset_index()
    df.columns = [str(c) for c in df.columns]
    if fmt == "table" and "label" in df.columns:  # the name says it; the code column stays in CSV/JSON
        df = df.drop(columns=[df.columns[0]])
    _emit(df, fmt, lang=lang)


def _list_cmd(name: str, func_name: str, help_text: str):
    @community.command(name, help=help_text)
    @workspace_option
    @db_option
    @click.option("--village", default=None)
    @click.option("--session", "session_id", type=int, default=None)
    @click.option("--group", default=None)
    @format_option
    @lang_option
    def cmd(workspace, db, village, session_id, group, fmt, lang):
        from ..community import review

        store = _open(workspace, db)
        df = getattr(review, func_name)(store, village=village, session_id=session_id, group=group, lang=lang)
        cols = [c for c in ["id", "village", "group_label", "category_label", "title", "votes", "lon", "lat"]
                if c in df.columns]
        _emit(df if fmt != "table" else df[cols], fmt, lang=lang)

    return cmd


_list_cmd("problems", "problems", "Problems marked on the maps, most voted first.")
_list_cmd("wishes", "wishes", "Wishes (objects people want), most voted first.")


@community.command("compare")
@workspace_option
@db_option
@click.argument("village")
@click.argument("group_a")
@click.argument("group_b")
@click.option("--tolerance", type=float, default=None, help="Metres (default from the catalogue).")
@format_option
@lang_option
def compare_cmd(workspace, db, village, group_a, group_b, tolerance, fmt, lang):
    """Compare two groups' maps of VILLAGE (group codes such as women, men, or session ids)."""
    from ..community.review import compare

    store = _open(workspace, db)
    a = int(group_a) if group_a.isdigit() else group_a
    b = int(group_b) if group_b.isdigit() else group_b
    res = compare(store, village, a, b, tolerance_m=tolerance)
    groups = "community_categories.participant_groups"
    title = t("community.compare_title", lang, a=_code_label(groups, res.a, lang), b=_code_label(groups, res.b, lang),
              village=village, tol=f"{res.tolerance_m:g}")
    _emit(res.summary, fmt, title, lang=lang)


@community.command("check")
@workspace_option
@db_option
@click.option("--village", default=None)
@click.option("--session", "session_id", type=int, default=None)
@format_option
@lang_option
def check_cmd(workspace, db, village, session_id, fmt, lang):
    """Check wishes and problems against restrictions and hazard zones."""
    from ..community.review import check_against_restrictions

    store = _open(workspace, db)
    df = check_against_restrictions(store, village=village, session_id=session_id, lang=lang)
    if fmt == "table":
        _emit(df[["id", "category", "verdict", "flagged", "message"]], fmt, lang=lang)
    else:
        _emit(df, fmt)


@community.command("basemap")
@workspace_option
@db_option
@click.option("--session", "session_id", type=int, default=None, help="Session to print for (its village).")
@click.option("--village", default=None, help="Village (settlements layer) to centre on.")
@click.option("--size", default="A3", show_default=True, help="Paper size: A4, A3, A2, A1 (landscape).")
@click.option("--scale", type=int, default=None, help="Printed scale 1:N (default: the smallest round one that fits).")
@click.option("--bounds", nargs=4, type=float, default=None, help="minx miny maxx maxy in the workspace CRS.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="A .pdf (a .png is written "
              "beside it) or .png file.")
@lang_option
def basemap_cmd(workspace, db, session_id, village, size, scale, bounds, out, lang):
    """Print a base map for a session to draw on (grid, corner marks, legend, scale, north arrow)."""
    from ..community.paper import basemap

    store = _open(workspace, db)
    with _cli_fixes():
        sheet = basemap(store.ws, out, store=store if session_id is not None else None, session_id=session_id,
                        village=village, size=size, scale=scale, bounds=bounds or None, lang=lang)
    click.echo(t("paper.printed", lang, files=", ".join(sheet.files.values()),
                 scale=f"{sheet.scale:,}".replace(",", " "), grid=f"{sheet.grid_m:g}", sheet=sheet.sheet_id))


@community.command("georef")
@workspace_option
@db_option
@click.argument("photo", type=click.Path(exists=True, dir_okay=False))
@click.option("--sheet", "sheet_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The .json written beside the printed base map (default: the session's last printed sheet).")
@click.option("--points", "points_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of control points: col,row,x,y (photo pixels, map metres) instead of the corner marks.")
@click.option("--session", "session_id", type=int, default=None)
@click.option("--kind", type=click.Choice(["auto", "affine", "projective"]), default="auto", show_default=True)
@click.option("--author", required=True, help="Initials or role of who uploads the photo.")
@lang_option
def georef_cmd(workspace, db, photo, sheet_path, points_path, session_id, kind, author, lang):
    """Georeference a photo/scan of a drawn paper map and store it in the workspace as an overlay."""
    from ..community import georef
    from ..community.paper import Sheet, paper_rules, sheets

    store = _open(workspace, db)
    ws = store.ws
    sheet = Sheet.load(sheet_path) if sheet_path else None
    if points_path:
        df = pd.read_csv(points_path)
        pixels, coords = georef.points_from_table(df.to_dict("records"))
        f = georef.fit(pixels, coords, kind=kind)
    else:
        if sheet is None:
            found = sheets(ws, session_id=session_id)
            if not found:
                raise GisPlannerError("no printed sheet to take the corner marks from", file=str(ws.root),
                                      fix="print one with `gis-planner community basemap`, give --sheet, or "
                                          "give control points with --points", code="no_sheet")
            sheet = found[0]
        f = georef.fit_marks(photo, sheet, kind="projective" if kind == "auto" else kind)
    rec = georef.save_overlay(ws, photo, f, file_name=Path(photo).name, uploader=author,
                              session_id=session_id if session_id is not None else (sheet.session_id if sheet else None),
                              sheet_id=sheet.sheet_id if sheet else None,
                              clip=sheet.extent if sheet else None)
    click.echo(t("paper.georef_done", lang, kind=t(f"paper.kind.{f.kind}", lang), n=len(f.pixels),
                 rms_px=f"{f.rms_px:.2f}", rms_m=f"{f.rms_m:.2f}", path=rec["dir"]))
    for row in f.table().itertuples():
        click.echo("  " + t("paper.residual_row", lang, point=row.point, residual_px=f"{row.residual_px:.2f}",
                            residual_m=f"{row.residual_m:.2f}"))
    if f.rms_px > float((paper_rules(ws).get("georef") or {}).get("warn_rms_px", 5)):
        click.echo(t("paper.poor_fit", lang, rms_px=f"{f.rms_px:.1f}"))


# --------------------------------------------------------------------------- phones and photos
@community.command("field-form")
@workspace_option
@click.argument("path", type=click.Path(dir_okay=False))
@lang_option
def field_form_cmd(workspace, path, lang):
    """Write the XLSForm (.xlsx) for ODK Collect / KoboCollect (labels in Kyrgyz, Russian, English)."""
    from ..community.fieldforms import write_xlsform
    from ..workspace import Workspace

    ws = Workspace(workspace if workspace else settings.default_workspace())
    click.echo(t("community.field.form_written", lang, path=write_xlsform(path, ws)))


def _report(rep, lang) -> None:
    """Print an import report; exit code 1 when a submission or a photo was not imported."""
    for line in rep.lines(lang):
        click.echo(line)
    if not rep.complete:
        exc = click.ClickException(t("community.field.incomplete", lang, rows=len(rep.skipped),
                                     photos=len(rep.missing_photos)))
        exc.exit_code = 1
        raise exc


def _field_import(name: str, func_name: str, help_text: str, extra=()):
    @community.command(name, help=help_text)
    @workspace_option
    @db_option
    @click.argument("path", type=click.Path(exists=True))
    @click.option("--session", "session_id", type=int, required=True)
    @click.option("--author", default=None, help="Initials or role for submissions without the form's initials.")
    @click.option("--media", "media_path", type=click.Path(exists=True), default=None,
                  help="Folder or .zip with the photos (inside a .zip export they are found by themselves).")
    @click.option("--category", default=None, help="Category for records without a known one.")
    @click.option("--skip-invalid", is_flag=True, help="Import the valid records and list the others.")
    @lang_option
    def cmd(workspace, db, path, session_id, author, media_path, category, skip_invalid, lang, **kw):
        from ..community import fieldforms

        store = _open(workspace, db)
        with _cli_fixes():
            rep = getattr(fieldforms, func_name)(store, path, session_id, author=author, media_path=media_path,
                                                 category=category, skip_invalid=skip_invalid, lang=lang, **kw)
        _report(rep, lang)

    for option in extra:
        cmd = option(cmd)
    return cmd


_field_import("import-odk", "import_odk",
              "Import a KoBo / ODK submissions export (CSV or GeoJSON; media folder or zip) into a session.")
_field_import("import-comapeo", "import_comapeo",
              "Import a CoMapeo / Mapeo GeoJSON export (.zip with media, or .geojson + --media) into a session.",
              extra=[click.option("--tracks/--no-tracks", default=True, help="Import CoMapeo tracks as lines.")])
_field_import("import-gpx", "import_gpx",
              "Import GPX waypoints, routes and tracks into a session (--as-polygon: walked boundaries).",
              extra=[click.option("--as-polygon", is_flag=True,
                                  help="A closed track or route becomes a polygon (a walked boundary).")])


@community.command("attach")
@workspace_option
@db_option
@click.argument("feature_id", type=int)
@click.argument("photo", type=click.Path(exists=True, dir_okay=False))
@click.option("--author", required=True, help="Initials or role.")
@lang_option
def attach_cmd(workspace, db, feature_id, photo, author, lang):
    """Attach a photo (JPEG/PNG/WebP) to a feature: downscaled, EXIF and GPS removed."""
    store = _open(workspace, db)
    rec = store.add_attachment(feature_id, Path(photo).read_bytes(), Path(photo).name, author)
    click.echo(t("community.photo.added", lang, name=f"{rec.filename} (#{rec.id}, {rec.size} B)"))


@community.command("photos")
@workspace_option
@db_option
@click.argument("feature_id", type=int, required=False)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the photos into this folder.")
@format_option
@lang_option
def photos_cmd(workspace, db, feature_id, out_dir, fmt, lang):
    """List the photos of a feature (or of all features); --out writes them to a folder."""
    from ..community import media

    store = _open(workspace, db)
    df = store.attachments(feature_id)
    df["created_at"] = df["created_at"].astype(str)
    if out_dir:
        paths = media.write_photos(store, sorted(set(df["feature_id"])), out_dir)
        click.echo(t("community.photo.exported", lang, n=sum(len(v) for v in paths.values()), path=out_dir))
    _emit(df, fmt, t("community.photo.photos", lang), lang=lang)


commands = [community]


@community.command("migrate")
@workspace_option
@db_option
@click.option("--to", "to", default="head", show_default=True,
              help="Schema revision: head, base (empty store) or a revision id.")
@click.option("--yes", is_flag=True, help="Confirm a downgrade (it drops tables or columns and their data).")
@lang_option
def migrate_cmd(workspace, db, to, yes, lang):
    """Upgrade or downgrade the store's schema (a downgrade asks for --yes)."""
    from ..community.schema import set_revision

    store = _open(workspace, db)
    res = set_revision(store, to, yes=yes)
    click.echo(t(f"hardening.migrate.{res['direction']}", lang, old=res["from"] or "base", new=res["to"] or "base"))
