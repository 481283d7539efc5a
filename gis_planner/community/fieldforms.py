"""Phones in the field, offline: an XLSForm for ODK Collect / KoboCollect, and importers of what comes back.

* :func:`write_xlsform` — the community categories (``layers/community_categories.yaml``) as an XLSForm
  (``survey`` / ``choices`` / ``settings`` sheets; Kyrgyz, Russian and English labels): the BRIEF group,
  then the category (filtered by group), how to mark it (point / line / area, only the kinds the category
  allows), the matching ``geopoint`` / ``geotrace`` / ``geoshape``, title, description, condition,
  sufficiency, two photos (``max-pixels`` as stored) and the collector's initials. Upload it to
  KoboToolbox or ODK Central; phones collect offline.
* :func:`import_odk` — a KoBo / ODK submissions export: CSV (``lat lon alt acc`` geopoints,
  ``lat lon alt acc;…`` geotraces/geoshapes, media file names, ``_uuid``, ``_submission_time``) or the
  GeoJSON export, with the media as a folder or a zip (or everything in one zip).
* :func:`import_comapeo` — a CoMapeo (or Mapeo) GeoJSON export (observations with tags and
  ``attachment_N`` photo names, tracks as lines), the ``.zip`` with its media folder or the ``.geojson``
  with a media folder.
* :func:`import_gpx` — GPX waypoints, routes and tracks; a walked closed track becomes a polygon with
  ``as_polygon=True``.

Each importer maps fields to the community catalogue (codes or ky/ru/en names and aliases, through the
store's normalisation), writes through :meth:`CommunityStore.add_features` into one session (features and
photos in one transaction) and returns an :class:`ImportReport` saying what was *not* taken: columns with
no place in the store, metadata left out on purpose (device names, URLs), photos named but not found or
refused, and submissions not imported (with ``skip_invalid=True``; otherwise the first invalid submission
stops the import and nothing is written).
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

import pandas as pd
import shapely
from shapely.geometry import LineString, Point, Polygon, shape

from ..errors import GisPlannerError
from ..i18n import check_lang, t
from . import media
from .store import CommunityStore, FeatureRecord, _Rules, categories, rules

LANGS = {"ky": "Kyrgyz (ky)", "ru": "Russian (ru)", "en": "English (en)"}
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp")
# fields of the store an imported column can fill (lower-case column name -> field)
_FIELDS = {
    "category": "category", "category_label": "category", "$category": "category", "categoryid": "category",
    "preset": "category", "type": "category",
    "title": "title", "name": "title",
    "description": "description", "notes": "description", "note": "description", "comment": "description",
    "desc": "description", "cmt": "description",
    "condition": "condition", "sufficiency": "sufficiency", "votes": "votes", "is_problem": "is_problem",
    "is_wish": "is_wish", "activity": "activity", "author": "author",
}
# metadata columns of KoBo / ODK / CoMapeo exports, deliberately not stored (listed in the report)
_META = {"_id", "_index", "_validation_status", "_notes", "_status", "_submitted_by", "__version__", "_version_",
         "_tags", "_xform_id_string", "_xform_id", "uuid", "formhub/uuid", "deviceid", "today", "username",
         "simserial", "subscriberid", "phonenumber", "audit", "_attachments", "_parent_index",
         "submitterid", "submittername", "attachmentspresent", "attachmentsexpected", "status", "reviewstate",
         "deviceid", "edits", "formversion", "key", "cat_group", "kind", "$id", "$createdat", "$updatedat",
         "$categoryid", "$authorid", "$author", "$updateauthorid", "$updateauthor", "$observations", "$comapeo",
         "start", "end", "submissiondate", "_submission_time", "_uuid", "instanceid", "meta/instanceid",
         "instancename", "meta/instancename", "_geolocation", "uid", "sym", "src", "link1_href", "link1_text",
         "link1_type", "link2_href", "link2_text", "link2_type", "_created", "_modified", "_version",
         "time", "ele", "number", "fix", "sat", "hdop",
         "vdop", "pdop", "magvar", "geoidheight", "ageofdgpsdata", "dgpsid", "id", "created_at", "timestamp"}
_GEO_NAMES = ("point", "line", "polygon", "geopoint", "geotrace", "geoshape", "location", "gps", "geometry",
              "coordinates", "position")


@dataclasses.dataclass
class ImportReport:
    """What an import took and what it did not (shown by the CLI and the app; nothing is dropped silently)."""

    source: str
    features: list[FeatureRecord] = dataclasses.field(default_factory=list)
    photos: int = 0
    unmapped_columns: list[str] = dataclasses.field(default_factory=list)   # no place in the store
    ignored_columns: list[str] = dataclasses.field(default_factory=list)    # metadata left out on purpose
    missing_photos: list[dict] = dataclasses.field(default_factory=list)    # {"row", "file", "reason"}
    skipped: list[dict] = dataclasses.field(default_factory=list)           # {"row", "id", "reason"}
    notes: list[dict] = dataclasses.field(default_factory=list)             # {"row", "note"}

    @property
    def complete(self) -> bool:
        """True when every submission and every photo named in the source was stored."""
        return not (self.skipped or self.missing_photos)

    def lines(self, lang: str | None = None) -> list[str]:
        """The report as lines of text in ``lang``."""
        lang = check_lang(lang)
        out = [t("community.field.report_imported", lang, n=len(self.features), photos=self.photos,
                 source=self.source)]
        if self.unmapped_columns:
            out.append(t("community.field.report_unmapped", lang, cols=", ".join(self.unmapped_columns)))
        if self.ignored_columns:
            out.append(t("community.field.report_ignored", lang, cols=", ".join(self.ignored_columns)))
        for s in self.skipped:
            out.append(t("community.field.report_skipped", lang, row=s["row"], reason=s["reason"]))
        for p in self.missing_photos:
            out.append(t("community.field.report_photo", lang, row=p["row"], file=p["file"], reason=p["reason"]))
        for n in self.notes:
            out.append(t("community.field.report_note", lang, row=n["row"], note=n["note"]))
        return out


# =========================================================================== XLSForm
def _labels(names: Mapping[str, str], langs: Sequence[str]) -> list[str]:
    return [str(names.get(lang) or names.get("en") or "") for lang in langs]


def _msg(key: str, langs: Sequence[str], **fmt) -> list[str]:
    return [t(key, lang, **fmt) for lang in langs]


def xlsform_sheets(ws: Any = None, langs: Sequence[str] = ("ky", "ru", "en")) -> dict[str, list[list]]:
    """The XLSForm as rows of its three sheets ``survey``, ``choices``, ``settings`` (first row: headers)."""
    data = rules(ws)
    cats = categories(ws)
    lim = dict(data.get("limits") or {})
    photos = media.photo_rules(ws)
    field = dict(data.get("field") or {})
    lab = [f"label::{LANGS[lg]}" for lg in langs]
    hint = [f"hint::{LANGS[lg]}" for lg in langs]
    cmsg = [f"constraint_message::{LANGS[lg]}" for lg in langs]
    head = ["type", "name", *lab, *hint, "required", "relevant", "constraint", *cmsg, "choice_filter",
            "appearance", "parameters"]
    n = len(langs)

    def q(type_, name, label_key, *, hint_key=None, required="", relevant="", constraint="", cmsg_key=None,
          cmsg_fmt=None, choice_filter="", appearance="", parameters="", label=None):
        labels = label if label is not None else (_msg(label_key, langs) if label_key else [""] * n)
        hints = _msg(hint_key, langs) if hint_key else [""] * n
        msgs = _msg(cmsg_key, langs, **(cmsg_fmt or {})) if cmsg_key else [""] * n
        return [type_, name, *labels, *hints, required, relevant, constraint, *msgs, choice_filter, appearance,
                parameters]

    title_max = int(lim.get("title_max", 120))
    desc_max = int(lim.get("description_max", 2000))
    author_max = int(lim.get("author_max", 40))
    edge = int(photos["max_edge_px"])
    survey = [head,
              q("start", "start", None), q("end", "end", None),
              q("select_one cat_group", "cat_group", "community.field.q_group", required="yes"),
              q("select_one category", "category", "community.category", required="yes",
                choice_filter="group=${cat_group}"),
              q("select_one kind", "kind", "community.field.q_kind", required="yes",
                choice_filter="selected(cats, ${category})"),
              q("geopoint", "point", "community.field.q_point", hint_key="community.field.h_point", required="yes",
                relevant="${kind} = 'point'"),
              q("geotrace", "line", "community.field.q_line", hint_key="community.field.h_line", required="yes",
                relevant="${kind} = 'line'"),
              q("geoshape", "polygon", "community.field.q_polygon", hint_key="community.field.h_polygon",
                required="yes", relevant="${kind} = 'polygon'"),
              q("text", "title", "community.title_col", hint_key="community.field.h_title", required="yes",
                constraint=f"string-length(.) <= {title_max}", cmsg_key="community.field.too_long",
                cmsg_fmt={"n": title_max}),
              q("text", "description", "community.description", appearance="multiline",
                constraint=f"string-length(.) <= {desc_max}", cmsg_key="community.field.too_long",
                cmsg_fmt={"n": desc_max}),
              q("select_one condition", "condition", "community.condition"),
              q("select_one sufficiency", "sufficiency", "community.sufficiency"),
              q("image", "photo", "community.field.q_photo", hint_key="community.field.h_photo",
                parameters=f"max-pixels={edge}"),
              q("image", "photo_2", "community.field.q_photo_2", hint_key="community.field.h_photo",
                relevant="${photo} != ''", parameters=f"max-pixels={edge}"),
              q("text", "author", "community.field.q_author", hint_key="community.field.h_author",
                constraint=f"string-length(.) <= {author_max} and not(regex(., '[0-9]{{5,}}|@'))",
                cmsg_key="community.field.bad_author", cmsg_fmt={"n": author_max}),
              ]
    groups = data.get("groups") or {}
    choices = [["list_name", "name", *lab, "group", "cats"]]
    for code, g in sorted(groups.items(), key=lambda kv: kv[1].get("order", 0)):
        choices.append(["cat_group", code, *_labels(g.get("names") or {}, langs), "", ""])
    for code in cats.codes:
        item = cats.items[code]
        choices.append(["category", code, *_labels(item.get("names") or {}, langs), item.get("group", ""), ""])
    for kind in ("point", "line", "polygon"):
        allowed = [c for c in cats.codes if kind in (cats.items[c].get("kinds") or ["point", "line", "polygon"])]
        choices.append(["kind", kind, *_msg(f"community.field.kind_{kind}", langs), "", " ".join(allowed)])
    for section, list_name in (("conditions", "condition"), ("sufficiency", "sufficiency")):
        for code, item in sorted((data.get(section) or {}).items(), key=lambda kv: kv[1].get("order", 0)):
            choices.append([list_name, code, *_labels(item.get("names") or {}, langs), "", ""])
    meta = data.get("meta") or {}
    version = f"{int(meta.get('version', 1))}{str(meta.get('updated', '')).replace('-', '')}"
    settings = [["form_title", "form_id", "version", "default_language", "instance_name"],
                [t("community.field.form_title", langs[0]), field.get("form_id", "gis_planner_community"),
                 version, LANGS[langs[0]], "concat(${category}, ': ', ${title})"]]
    return {"survey": survey, "choices": choices, "settings": settings}


def write_xlsform(path, ws: Any = None, langs: Sequence[str] = ("ky", "ru", "en")) -> Path:
    """Write the field form (``.xlsx``) for ODK Collect / KoboCollect; returns the path.

    >>> p = write_xlsform(tempfile.mkdtemp() + "/community_form.xlsx")   # doctest: +SKIP
    """
    from openpyxl import Workbook

    langs = [check_lang(lg) for lg in langs]
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise GisPlannerError("an XLSForm is an .xlsx file", file=str(path), fix="name the file …/form.xlsx",
                              code="bad_format")
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in xlsform_sheets(ws, langs).items():
        sh = wb.create_sheet(name)
        for row in rows:
            sh.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return path


# =========================================================================== media
class _Media:
    """Photo files by base name, from a folder or a zip (KoBo: ``…/attachments/<form>/<uuid>/<file>``;
    ODK Central: ``media/<file>``; CoMapeo: ``CoMapeo_…_Media_…/<name>_<variant>.<ext>``)."""

    def __init__(self, source: Path | None = None, zf: zipfile.ZipFile | None = None):
        self._zip = zf
        self._files: dict[str, list] = {}
        if zf is not None:
            for info in zf.infolist():
                if not info.is_dir():
                    self._files.setdefault(PurePosixPath(info.filename).name.lower(), []).append(info)
        elif source is not None:
            source = Path(source)
            if not source.exists():
                raise GisPlannerError("the media folder does not exist", file=str(source),
                                      fix="give the folder (or .zip) with the photos", code="file_not_found")
            if source.is_file() and zipfile.is_zipfile(source):
                self._zip = zipfile.ZipFile(source)
                self.__init__(None, self._zip)
                return
            for p in source.rglob("*"):
                if p.is_file():
                    self._files.setdefault(p.name.lower(), []).append(p)

    def __bool__(self) -> bool:
        return bool(self._files)

    def read(self, name: str, hint: str | None = None) -> tuple[bytes | None, str]:
        """Bytes of a photo by file name (a path in the name is ignored); ``hint`` picks among equal names."""
        base = PurePosixPath(str(name).replace("\\", "/")).name.lower()
        found = self._files.get(base, [])
        if not found:
            return None, "not_found"
        if len(found) > 1 and hint:
            pick = [f for f in found if hint.lower() in str(getattr(f, "filename", f)).lower()]
            found = pick or found
        if len(found) > 1:
            return None, "ambiguous"
        f = found[0]
        if self._zip is not None:
            if f.file_size > 4 * media.photo_rules()["max_upload_bytes"]:
                return None, "too_large"
            return self._zip.read(f), "ok"
        return Path(f).read_bytes(), "ok"


def _photo_reason(code: str, lang: str | None = None) -> str:
    return {"not_found": "not in the media folder/zip", "ambiguous": "several files have this name",
            "too_large": "file too large"}.get(code, code)


# =========================================================================== mapping
def _key(col: str) -> str:
    """A column name without KoBo group paths (``grp/title`` → ``title``), lower case."""
    c = str(col).strip()
    low = c.lower()
    if low in _META or low in _FIELDS:
        return low
    last = low.rsplit("/", 1)[-1]
    if last in _FIELDS or last in _META or last.startswith(("photo", "image")) or last in _GEO_NAMES:
        return last
    if "-" in last and not last.startswith("$"):  # ODK Central flattens groups with '-'
        tail = last.rsplit("-", 1)[-1]
        if tail in _FIELDS or tail in _META or tail.startswith(("photo", "image")) or tail in _GEO_NAMES:
            return tail
    return last


_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_ODK_POINT = re.compile(rf"^\s*({_NUM})\s+({_NUM})(?:\s+({_NUM}))?(?:\s+({_NUM}))?\s*$")


def parse_odk_geometry(value: str, kind: str | None = None):
    """A shapely geometry (lon/lat) from an ODK geopoint ``"lat lon alt acc"`` or a geotrace / geoshape
    ``"lat lon alt acc;lat lon alt acc;…"``. ``kind`` (``point``/``line``/``polygon``) says which; without it
    one vertex is a point, a closed ring of ≥ 4 vertices a polygon, anything else a line.

    >>> parse_odk_geometry("42.6 77.1 1650 5").wkt
    'POINT (77.1 42.6)'
    >>> parse_odk_geometry("42.6 77.1 0 0;42.6 77.2 0 0;42.7 77.2 0 0;42.6 77.1 0 0").geom_type
    'Polygon'
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.startswith("[") and text.endswith("]"):  # KoBo `_geolocation`: "[lat, lon]"
        nums = re.findall(_NUM, text)
        if len(nums) != 2:
            return None
        return Point(float(nums[1]), float(nums[0]))
    pts = []
    for part in text.split(";"):
        if not part.strip():
            continue
        mt = _ODK_POINT.match(part)
        if mt is None:
            return None
        lat, lon = float(mt.group(1)), float(mt.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        pts.append((lon, lat))
    if not pts:
        return None
    if kind == "point" or (kind is None and len(pts) == 1):
        return Point(pts[0]) if len(pts) == 1 else None
    closed = len(pts) >= 4 and pts[0] == pts[-1]
    if kind == "polygon" or (kind is None and closed):
        if not closed:
            pts = pts + [pts[0]]
        return Polygon(pts) if len(pts) >= 4 else None
    return LineString(pts) if len(pts) >= 2 else None


def _is_blank(v) -> bool:
    return (v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v))
            or (isinstance(v, str) and not v.strip()))


class _Mapper:
    """Turns raw records (field dicts + optional geometry) into store rows, photos and a report."""

    def __init__(self, store: CommunityStore, report: ImportReport, *, category: str | None, lang: str | None,
                 media_: _Media | None, author: str | None = None):
        self.store = store
        self.ctx = _Rules(store.ws)
        self.report = report
        self.category = category
        self.lang = check_lang(lang)
        self.media = media_
        self.prules = media.photo_rules(store.ws)
        self.unmapped: dict[str, None] = {}
        self.ignored: dict[str, None] = {}
        self.author = author
        self._first_error: GisPlannerError | None = None
        self.rows: list[dict] = []
        self.photos: list[list] = []
        self.row_no: list[int] = []

    def lookup_category(self, *values) -> str | None:
        for v in values:
            if _is_blank(v):
                continue
            code = self.ctx.lookup("categories", v)
            if code is None and isinstance(v, str):  # a path like "categories/spring" or a prefixed id
                code = self.ctx.lookup("categories", re.split(r"[/:#]", v)[-1])
            if code is not None:
                return code
        return None

    def add(self, row_no: int, fields: Mapping[str, Any], geom, *, uid=None, created=None, photo_names=(),
            hint=None, ident=None) -> None:
        """One record. ``fields``: column → value (original names); unknown columns go to the report."""
        row: dict[str, Any] = {}
        raw_category = []
        for col, val in fields.items():
            if _is_blank(val):
                continue
            k = _key(col)
            target = _FIELDS.get(k)
            if target == "category":
                raw_category.append(val)
            elif target is not None and target not in row:
                row[target] = val.strip() if isinstance(val, str) else val
            elif target is None:
                if k in _META or k.endswith("_url") or re.match(r"^_.*_(latitude|longitude|altitude|precision)$", k):
                    self.ignored[col] = None
                elif k in _GEO_NAMES or k.startswith(("photo", "image", "attachment_", "picture")):
                    pass  # read as geometry / photos
                else:
                    self.unmapped[col] = None
        ident = ident or uid or f"row {row_no}"
        code = self.lookup_category(*raw_category)
        if code is None:
            if raw_category and self.category is None:
                self._skip(row_no, ident, f"category '{raw_category[0]}' is not in layers/community_categories.yaml "
                                          "(give --category or add an alias)")
                return
            code = self.category
            if raw_category and code is not None:
                self.report.notes.append({"row": row_no, "note": f"category '{raw_category[0]}' unknown, "
                                                                 f"imported as '{code}'"})
        if code is None:
            self._skip(row_no, ident, "no category (give --category)")
            return
        if geom is None:
            self._skip(row_no, ident, "no position (the point/line/area was not recorded)")
            return
        row["category"] = code
        row["geometry"] = geom
        if _is_blank(row.get("title")):
            row["title"] = categories(self.store.ws).label(code, self.lang)
        if _is_blank(row.get("author")):  # who collected it: the form's initials, else the importer's author
            row["author"] = self.author
        if uid:
            row["uid"] = str(uid)[:36]
        if created is not None and not _is_blank(created):
            row["created_at"] = created
        try:
            self.store._validate_feature(row, index=len(self.rows), ctx=self.ctx, feature=ident)
            self.store._check_location([shapely.force_2d(geom)], [row], ids=[ident])
        except GisPlannerError as exc:
            self._skip(row_no, ident, exc.problem + (f" ({exc.fix})" if exc.fix else ""), exc)
            return
        photos = []
        for name in photo_names:
            if _is_blank(name):
                continue
            if not self.media:
                self.report.missing_photos.append({"row": row_no, "file": str(name),
                                                   "reason": "no media folder or zip given"})
                continue
            data, status = self.media.read(str(name), hint=hint)
            if data is None:
                self.report.missing_photos.append({"row": row_no, "file": str(name),
                                                   "reason": _photo_reason(status)})
                continue
            try:
                photos.append(media.prepare_photo(data, str(name), self.store.ws, where=ident, rules_=self.prules))
            except GisPlannerError as exc:
                self.report.missing_photos.append({"row": row_no, "file": str(name), "reason": exc.problem})
        self.rows.append(row)
        self.photos.append(photos)
        self.row_no.append(row_no)

    def _skip(self, row_no, ident, reason, exc: GisPlannerError | None = None):
        self.report.skipped.append({"row": row_no, "id": str(ident), "reason": reason})
        self._first_error = self._first_error or (exc or GisPlannerError(
            reason, feature=ident, fix="correct the submission or import with skip_invalid (--skip-invalid)",
            code="bad_submission"))

    def write(self, session_id: int, author: str | None, skip_invalid: bool, source: str) -> ImportReport:
        rep = self.report
        rep.unmapped_columns = list(self.unmapped)
        rep.ignored_columns = list(self.ignored)
        if rep.skipped and not skip_invalid:
            exc = self._first_error
            exc.file = exc.file or source
            exc.details = {**(exc.details or {}), "skipped": rep.skipped}
            if len(rep.skipped) > 1:
                exc.problem += f" (and {len(rep.skipped) - 1} more submission(s) cannot be imported)"
            exc.fix = (exc.fix + "; or " if exc.fix else "") + "import the valid ones with --skip-invalid"
            raise exc
        if not self.rows:
            return rep
        try:
            rep.features = self.store.add_features(session_id, self.rows, author=author, action="import",
                                                   photos=self.photos, keep_created=True)
        except GisPlannerError as exc:
            if exc.file is None:
                exc.file = source
            raise
        rep.photos = sum(len(p) for p in self.photos)
        return rep


# =========================================================================== KoBo / ODK
def _read_csv_bytes(data: bytes, label: str) -> pd.DataFrame:
    from ..io.readers import _decode_text, _sniff_delimiter

    text, _ = _decode_text(data, ["utf-8-sig", "cp1251"], label, None)
    try:
        return pd.read_csv(io.StringIO(text), sep=_sniff_delimiter(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise GisPlannerError(f"cannot read the CSV ({exc})", file=label, fix="export the submissions as CSV again",
                              code="bad_file") from None


def _strip_uuid(v) -> str | None:
    if _is_blank(v):
        return None
    s = str(v).strip()
    return s[5:] if s.lower().startswith("uuid:") else s


def _records_from_table(df: pd.DataFrame) -> list[tuple[dict, Any, dict]]:
    """(fields, geometry, extras) per submission of a KoBo/ODK CSV."""
    keys = {c: _key(c) for c in df.columns}
    geo_cols = [c for c, k in keys.items() if k in _GEO_NAMES]
    # other columns whose every non-empty value is an ODK geopoint/geotrace/geoshape
    for c, k in keys.items():
        if c in geo_cols or k in _META or k in _FIELDS or k.endswith("_url") or k.startswith("_"):
            continue
        vals = [v for v in df[c] if not _is_blank(v)]
        # ODK writes every vertex as exactly four numbers "lat lon alt acc"
        if vals and all(len(v.split(";")[0].split()) == 4 and parse_odk_geometry(v) is not None for v in vals[:50]):
            geo_cols.append(c)
    photo_cols = [c for c, k in keys.items()
                  if k.startswith(("photo", "image", "picture")) and not k.endswith("_url")]
    for c, k in keys.items():  # any other column holding image file names
        if c in photo_cols or k.endswith("_url") or c in geo_cols:
            continue
        vals = [v for v in df[c] if not _is_blank(v)]
        if vals and all(str(v).lower().endswith(IMAGE_EXT) and "/" not in str(v) for v in vals):
            photo_cols.append(c)
    kind_col = next((c for c, k in keys.items() if k == "kind"), None)
    out = []
    for rec in df.to_dict("records"):
        geom = None
        kind = rec.get(kind_col) if kind_col else None
        kind = kind.strip().lower() if isinstance(kind, str) and kind.strip() else None
        ordered = sorted(geo_cols, key=lambda c: 0 if keys[c] == kind else 1)
        for c in ordered:
            v = rec.get(c)
            if _is_blank(v):
                continue
            k = keys[c]
            hint_kind = k if k in ("point", "line", "polygon") else {"geopoint": "point", "geotrace": "line",
                                                                    "geoshape": "polygon"}.get(k)
            geom = parse_odk_geometry(v, hint_kind)
            if geom is not None:
                break
        if geom is None:
            g = next((rec.get(c) for c, k in keys.items() if k == "_geolocation" and not _is_blank(rec.get(c))), None)
            geom = parse_odk_geometry(g) if g is not None else None
        uid = next((_strip_uuid(rec[c]) for c, k in keys.items()
                    if k in ("_uuid", "instanceid", "meta/instanceid", "key", "uid") and not _is_blank(rec[c])),
                   None)
        # when it was collected on the phone (the form's end/start), else when the server received it
        created = next((rec[c] for want in ("end", "start", "_submission_time", "submissiondate")
                        for c, k in keys.items() if k == want and not _is_blank(rec[c])), None)
        fields = {c: rec[c] for c in df.columns if c not in geo_cols and c not in photo_cols}
        out.append((fields, geom, {"uid": uid, "created": created,
                                   "photos": [rec[c] for c in photo_cols if not _is_blank(rec[c])]}))
    return out


def _records_from_geojson(data: dict, label: str) -> list[tuple[dict, Any, dict]]:
    feats = data.get("features") if isinstance(data, dict) else None
    if not isinstance(feats, list):
        raise GisPlannerError("not a GeoJSON FeatureCollection", file=label,
                              fix="export the submissions as GeoJSON (or CSV)", code="bad_file")
    out = []
    for f in feats:
        props = dict(f.get("properties") or {})
        geom = None
        if f.get("geometry"):
            try:
                geom = shape(f["geometry"])
            except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
                geom = None
        keys = {c: _key(c) for c in props}
        uid = next((_strip_uuid(props[c]) for c, k in keys.items()
                    if k in ("_uuid", "instanceid", "meta/instanceid", "$id", "uid") and not _is_blank(props[c])),
                   None)
        created = next((props[c] for c, k in keys.items()
                        if k in ("_submission_time", "submissiondate", "$createdat", "created_at", "end", "_created")
                        and not _is_blank(props[c])), None)
        photo_keys = [c for c, k in keys.items() if k.startswith(("photo", "image", "picture", "attachment_"))
                      and not k.endswith("_url")]
        photos = []
        for c in photo_keys:
            v = props.pop(c)
            photos.extend(v if isinstance(v, list) else [v])
        for c in ("attachments", "pictures", "_photos"):  # Mapeo desktop: ["abc.jpg", …] or [{"id": …}, …]
            v = props.pop(c, None)
            if isinstance(v, list):
                photos.extend(a.get("id") or a.get("name") if isinstance(a, dict) else a for a in v)
        fields = {c: (json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
                  for c, v in props.items()}
        out.append((fields, geom, {"uid": uid, "created": created, "photos": [p for p in photos if p]}))
    return out


def _open_source(path: Path, exts: Sequence[str], media_path) -> tuple[bytes, str, _Media | None]:
    """The data file's bytes (from the file or inside a zip) and the media index."""
    if not path.exists():
        raise GisPlannerError("file not found", file=str(path), fix="check the path", code="file_not_found")
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = [i.filename for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(tuple(exts))
                 and not PurePosixPath(i.filename).name.startswith((".", "__"))]
        names.sort(key=lambda n: (n.count("/"), len(n)))
        if not names:
            raise GisPlannerError(f"the zip holds no {' or '.join(exts)} file", file=str(path),
                                  fix="give the export zip or the data file itself", code="bad_file")
        top = [n for n in names if n.count("/") == names[0].count("/")]
        if len(top) > 1:
            raise GisPlannerError(f"the zip holds several data files ({', '.join(top)})", file=str(path),
                                  fix="unzip it and give the one to import", code="ambiguous_layer")
        media_ = _Media(Path(media_path)) if media_path else _Media(None, zf)
        return zf.read(names[0]), f"{path}:{names[0]}", media_
    if media_path is None and path.with_name(f"{path.stem}_photos").is_dir():  # gis_planner's own export
        media_path = path.with_name(f"{path.stem}_photos")
    return path.read_bytes(), str(path), (_Media(Path(media_path)) if media_path else None)


def import_odk(store: CommunityStore, path, session_id: int, *, author: str | None = None, media_path=None,
               category: str | None = None, skip_invalid: bool = False, lang: str | None = None) -> ImportReport:
    """Import a KoBo / ODK submissions export (CSV or GeoJSON, or a zip with the media) into a session.

    ``media_path``: the folder or zip of photos (KoBo "media attachments" zip, ODK Central ``media/``);
    inside a zip export the media are found by themselves. ``author`` fills submissions without the form's
    ``author`` (initials). Returns an :class:`ImportReport`.
    """
    path = Path(path)
    data, label, media_ = _open_source(path, (".csv", ".geojson", ".json"), media_path)
    if label.lower().endswith((".geojson", ".json")):
        try:
            records = _records_from_geojson(json.loads(data.decode("utf-8-sig")), label)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GisPlannerError(f"not valid GeoJSON ({exc})", file=label, fix="export the submissions again",
                                  code="bad_file") from None
    else:
        records = _records_from_table(_read_csv_bytes(data, label))
    return _run(store, records, session_id, label, author=author, media_=media_, category=category,
                skip_invalid=skip_invalid, lang=lang)


def _run(store, records, session_id, label, *, author, media_, category, skip_invalid, lang) -> ImportReport:
    store.get_session(session_id)  # a clear error before any work
    rep = ImportReport(source=label)
    mp = _Mapper(store, rep, category=category, lang=lang, media_=media_, author=author)
    for i, (fields, geom, extra) in enumerate(records, start=1):
        mp.add(i, fields, geom, uid=extra.get("uid"), created=extra.get("created"), photo_names=extra["photos"],
               hint=extra.get("uid"), ident=extra.get("ident"))
    return mp.write(session_id, author, skip_invalid, label)


# =========================================================================== CoMapeo / Mapeo
def import_comapeo(store: CommunityStore, path, session_id: int, *, author: str | None = None, media_path=None,
                   category: str | None = None, skip_invalid: bool = False, lang: str | None = None,
                   tracks: bool = True) -> ImportReport:
    """Import a CoMapeo / Mapeo GeoJSON export (the ``.zip`` with its media folder, or the ``.geojson`` and
    ``media_path``). Observations become points, tracks lines (``tracks=False`` leaves them out, reported).

    Categories come from the ``$category`` (preset name) or the tags ``categoryId`` / ``type`` /
    ``category``; title from the ``name`` tag (else the category's name in ``lang``); description from
    ``notes``; photos from ``attachment_1`` … (the export's file names). Device names (``$author``) are
    personal data and are not stored: ``author`` (initials or role) is.
    """
    path = Path(path)
    data, label, media_ = _open_source(path, (".geojson", ".json"), media_path)
    try:
        gj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GisPlannerError(f"not valid GeoJSON ({exc})", file=label, fix="export from CoMapeo again",
                              code="bad_file") from None
    records = _records_from_geojson(gj, label)
    out = []
    for i, (fields, geom, extra) in enumerate(records, start=1):
        if "$observations" in fields and not tracks:
            continue
        # CoMapeo's preset name first, then the tags
        ordered = {k: fields[k] for k in ("$category", "categoryId", "type", "category") if k in fields}
        ordered.update({k: v for k, v in fields.items() if k not in ordered})
        out.append((ordered, geom, extra))
    rep_skipped = len(records) - len(out)
    rep = _run(store, out, session_id, label, author=author, media_=media_, category=category,
               skip_invalid=skip_invalid, lang=lang)
    if rep_skipped:
        rep.notes.append({"row": "-", "note": f"{rep_skipped} track(s) left out (tracks=False)"})
    return rep


# =========================================================================== GPX
def _metres_between(a, b) -> float:
    """Geodesic distance (WGS 84) between two lon/lat points."""
    from pyproj import Geod

    return float(Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])


def import_gpx(store: CommunityStore, path, session_id: int, *, author: str | None = None,
               category: str | None = None, as_polygon: bool = False, media_path=None,
               skip_invalid: bool = False, lang: str | None = None) -> ImportReport:
    """Import the waypoints, routes and tracks of a GPX file (GDAL's GPX driver) into a session.

    Category from the GPX ``type`` (then ``sym``, ``name``) mapped through the catalogue, else ``category``.
    With ``as_polygon`` a track or route whose ends are within ``field.gpx_close_tolerance_m`` becomes a
    polygon (a walked boundary); one that is not closed stays a line and the report says so. Photos linked
    from waypoints (``<link href="IMG_1.jpg">``) are attached when ``media_path`` holds them.
    """
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise GisPlannerError("file not found", file=str(path), fix="check the path", code="file_not_found")
    tol = float((rules(store.ws).get("field") or {}).get("gpx_close_tolerance_m", 50))
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise GisPlannerError(f"cannot read the GPX file ({exc})", file=str(path),
                              fix="give a GPX 1.0/1.1 file from the phone or GPS", code="bad_file") from None
    records = []
    notes = []
    n = 0
    ctx = _Rules(store.ws)
    for layer in ("waypoints", "routes", "tracks"):
        if layer not in names:
            continue
        gdf = pyogrio.read_dataframe(path, layer=layer)
        for rec, geom in zip(gdf.drop(columns="geometry").to_dict("records"), gdf.geometry.values):
            n += 1
            if geom is not None and not geom.is_empty:
                geom = shapely.force_2d(geom)
                if geom.geom_type == "MultiLineString":  # a track: its segments joined in order
                    coords = [c for part in geom.geoms for c in part.coords]
                    geom = LineString(coords) if len(coords) >= 2 else None
                if as_polygon and geom is not None and geom.geom_type == "LineString":
                    cs = list(geom.coords)
                    gap = _metres_between(cs[0], cs[-1])
                    if len(cs) >= 3 and gap <= tol:
                        geom = Polygon(cs if cs[0] == cs[-1] else cs + [cs[0]])
                    else:
                        notes.append({"row": n, "note": f"{layer[:-1]} not closed (ends {gap:.0f} m apart, "
                                                        f"more than {tol:.0f} m): kept as a line"})
            fields = {k: v for k, v in rec.items() if not _is_blank(v) and k != "time"}
            photos = [v for k, v in rec.items() if str(k).lower().endswith("_href") and not _is_blank(v)
                      and str(v).lower().endswith(IMAGE_EXT)]
            # category: GPX <type>, then <sym>, then <name> (a waypoint named after a category, e.g. a spring)
            cat_fields = {k: fields.pop(k) for k in ("type", "sym") if k in fields}
            mapped = {}
            if cat_fields:
                mapped["type"] = next(iter(cat_fields.values()))
            mapped.update(fields)
            if "type" not in mapped or ctx.lookup("categories", mapped["type"]) is None:
                for k in ("sym", "name"):
                    v = cat_fields.get(k, fields.get(k))
                    if v is not None and ctx.lookup("categories", v) is not None:
                        mapped["type"] = v
                        break
            if "type" in mapped and ctx.lookup("categories", mapped["type"]) is None \
                    and category is not None:
                notes.append({"row": n, "note": f"GPX type '{mapped.pop('type')}' unknown: category '{category}'"})
            records.append((mapped, geom if geom is not None and not geom.is_empty else None,
                            {"photos": photos, "created": rec.get("time"), "ident": f"{layer[:-1]} {n}"}))
    rep = _run(store, records, session_id, str(path), author=author, media_=_Media(Path(media_path))
               if media_path else None, category=category, skip_invalid=skip_invalid, lang=lang)
    rep.notes.extend(notes)
    return rep


__all__ = ["write_xlsform", "xlsform_sheets", "import_odk", "import_comapeo", "import_gpx", "parse_odk_geometry",
           "ImportReport", "LANGS"]
