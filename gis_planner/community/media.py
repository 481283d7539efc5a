"""Photos attached to community-map features: checked, downscaled, stripped of metadata, stored in the store.

Table ``community_attachments`` (migration ``0005_attachments``), the same on both backends:

``id``, ``feature_id`` (→ ``community_features.id``), ``filename``, ``mime``, ``data`` (the image bytes:
GeoPackage ``BLOB`` / PostGIS ``bytea``), ``size`` (bytes stored), ``sha256`` (of ``data``), ``author``
(initials or role), ``created_at`` (UTC), ``exif_stripped`` (true when the stored bytes carry no EXIF/XMP).

On the way in (:func:`prepare_photo`) a photo must be a JPEG, PNG or WebP **by content** (Pillow opens it;
the file name and the browser's type are not trusted), no larger than ``photos.max_upload_bytes`` of
``layers/community_categories.yaml``; it is turned upright (EXIF orientation), downscaled to
``photos.max_edge_px`` on its longer edge and re-encoded **without any metadata**: the EXIF GPS position
of the phone never reaches the store, so it cannot leak into a hearing or an export. The capture position
is read before stripping (:func:`exif_location`) and offered to the user, who may take it as the feature's
geometry; it is not stored with the photo.

Examples
--------
>>> store.add_attachment(f.id, open("spring.jpg", "rb").read(), "spring.jpg", author="A.K.")  # doctest: +SKIP
>>> store.attachments(f.id)[["id", "filename", "mime", "size"]]                               # doctest: +SKIP
>>> store.get_attachment(1).data[:2]                                                          # doctest: +SKIP
b'\\xff\\xd8'
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import html
import io
import re
import unicodedata
import warnings
from pathlib import PurePath
from typing import Any, Iterable, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from ..errors import GisPlannerError
from . import models as m

ATTACHMENTS = "community_attachments"
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
COLUMNS = ("id", "feature_id", "filename", "mime", "size", "sha256", "author", "created_at", "exif_stripped")
_DEFAULTS = {"max_upload_bytes": 10 * 1024 * 1024, "max_edge_px": 1600, "max_pixels": 60_000_000,
             "per_feature_max": 10, "jpeg_quality": 85, "thumbnail_edge_px": 160,
             "formats": ["JPEG", "PNG", "WEBP"]}


class Attachment(m.Base):
    """A photo of a feature (bytes in the store)."""

    __tablename__ = ATTACHMENTS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feature_id: Mapped[int] = mapped_column(ForeignKey(f"{m.FEATURES}.id"), nullable=False, index=True)
    filename: Mapped[str] = mapped_column(m.Str(120), nullable=False)
    mime: Mapped[str] = mapped_column(m.Str(40), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(m.Str(64), nullable=False)
    author: Mapped[str] = mapped_column(m.Str(40), nullable=False)
    created_at: Mapped[_dt.datetime] = mapped_column(m.UTCDateTime, nullable=False)
    exif_stripped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


@dataclasses.dataclass(frozen=True)
class Photo:
    """A photo ready to store (see :func:`prepare_photo`)."""

    filename: str
    mime: str
    data: bytes
    width: int
    height: int
    original_bytes: int
    location: tuple[float, float] | None  # (lon, lat) from the EXIF GPS tags of the original, not stored

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclasses.dataclass(frozen=True)
class AttachmentRecord:
    """One stored photo (what :meth:`CommunityStore.get_attachment` returns)."""

    id: int
    feature_id: int
    filename: str
    mime: str
    size: int
    sha256: str
    author: str
    created_at: _dt.datetime
    exif_stripped: bool
    data: bytes = dataclasses.field(repr=False, default=b"")


def photo_rules(ws: Any = None) -> dict:
    """The ``photos`` section of ``layers/community_categories.yaml`` (with defaults)."""
    from .store import rules

    return {**_DEFAULTS, **(rules(ws).get("photos") or {})}


def safe_filename(name: str | None, mime: str, fallback: str = "photo") -> str:
    """A file name safe on every system: base name only, letters/digits/``._-`` (Cyrillic kept), the
    extension matching the stored type, at most 120 characters.

    >>> safe_filename("../../Мой родник?.JPG", "image/jpeg")
    'Мой_родник.jpg'
    """
    stem = PurePath(str(name or "").replace("\\", "/")).stem if name else ""
    stem = unicodedata.normalize("NFC", stem)
    stem = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE).strip("._-") or fallback
    ext = EXT.get(mime, "")
    return stem[:120 - len(ext)] + ext


def _gps_degrees(values, ref) -> float | None:
    try:
        d, mnt, s = (float(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    deg = d + mnt / 60.0 + s / 3600.0
    return -deg if str(ref).upper().startswith(("S", "W")) else deg


def exif_location(img) -> tuple[float, float] | None:
    """(lon, lat) of the EXIF GPS tags of a Pillow image (or image bytes), None when absent or unreadable."""
    from PIL import Image

    if isinstance(img, (bytes, bytearray)):
        try:
            img = Image.open(io.BytesIO(img))
        except Exception:  # noqa: BLE001 - any unreadable image simply has no location
            return None
    try:
        gps = img.getexif().get_ifd(0x8825)
    except Exception:  # noqa: BLE001
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    lat = _gps_degrees(gps.get(2), gps.get(1, "N"))
    lon = _gps_degrees(gps.get(4), gps.get(3, "E"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return (lon, lat)


def prepare_photo(data: bytes, filename: str | None = None, ws: Any = None, *, where: Any = None,
                  rules_: dict | None = None) -> Photo:
    """Check and normalise one photo: type by content, size limit, upright, downscaled, metadata removed.

    Raises :class:`GisPlannerError` (``photo_too_large``, ``not_an_image``, ``photo_format``) naming the file.
    """
    from PIL import Image, ImageOps

    r = rules_ or photo_rules(ws)
    data = bytes(data or b"")
    label = filename or "photo"
    limit = int(r["max_upload_bytes"])
    if not data:
        raise GisPlannerError("the photo file is empty", file=label, feature=where, fix="take or choose the photo again",
                              code="not_an_image")
    if len(data) > limit:
        raise GisPlannerError(f"the photo is {len(data) / 1048576:.1f} MB (at most {limit / 1048576:.0f} MB)",
                              file=label, feature=where,
                              fix="send a smaller photo (phone camera setting, or 'reduce size' when sharing)",
                              code="photo_too_large")
    formats = [str(f).upper() for f in r["formats"]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=formats)
            if img.width * img.height > int(r["max_pixels"]):
                raise GisPlannerError(f"the photo has {img.width}×{img.height} pixels (at most "
                                      f"{int(r['max_pixels']) / 1e6:.0f} megapixels)", file=label, feature=where,
                                      fix="send a smaller photo", code="photo_too_large")
            fmt = img.format
            location = exif_location(img)
            img.load()
    except GisPlannerError:
        raise
    except (Image.UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError) as exc:
        raise GisPlannerError(f"the file is not a readable JPEG, PNG or WebP image ({type(exc).__name__})",
                              file=label, feature=where, fix="attach a photo (JPEG, PNG or WebP)",
                              code="not_an_image") from None
    if fmt not in formats or fmt not in MIME:
        raise GisPlannerError(f"{fmt} images are not accepted", file=label, feature=where,
                              fix="attach a JPEG, PNG or WebP photo", code="photo_format")
    img = ImageOps.exif_transpose(img)  # turn upright before the orientation tag is dropped
    edge = int(r["max_edge_px"])
    if max(img.size) > edge:
        img.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=int(r["jpeg_quality"]), optimize=True)
    elif fmt == "WEBP":
        img.save(out, "WEBP", quality=int(r["jpeg_quality"]))
    else:
        img.save(out, "PNG", optimize=True)
    mime = MIME[fmt]
    return Photo(filename=safe_filename(filename, mime), mime=mime, data=out.getvalue(), width=img.width,
                 height=img.height, original_bytes=len(data), location=location)


def has_metadata(data: bytes) -> bool:
    """True when image bytes carry EXIF or XMP (used by tests and the publication check)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    return bool(img.getexif()) or "exif" in img.info or "xmp" in img.info or "XML:com.adobe.xmp" in img.info


def thumbnail(data: bytes, edge: int = 160) -> bytes:
    """A small JPEG of a stored photo (for map popups and lists)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    if img.mode not in ("RGB", "L"):
        bg = Image.new("RGB", img.size, "white")
        bg.paste(img.convert("RGBA"), mask=img.convert("RGBA").split()[-1])
        img = bg
    out = io.BytesIO()
    img.save(out, "JPEG", quality=75)
    return out.getvalue()


def thumbnail_img_tag(data: bytes, alt: str, edge: int = 160) -> str:
    """``<img>`` with a base64 JPEG thumbnail; ``alt`` (user text) is escaped."""
    b64 = base64.b64encode(thumbnail(data, edge)).decode("ascii")
    return (f'<img src="data:image/jpeg;base64,{b64}" alt="{html.escape(str(alt), quote=True)}" '
            f'style="max-width:{edge}px;max-height:{edge}px">')


# --------------------------------------------------------------------------- store operations
def _table():
    return m.Base.metadata.tables[ATTACHMENTS]


def insert_photos(store, conn, feature_id: int, photos: Sequence[Photo], author: str) -> list[AttachmentRecord]:
    """Insert prepared photos of one feature inside an open write transaction (used by the store)."""
    t = _table()
    r = photo_rules(store.ws)
    have = conn.execute(sa.select(sa.func.count()).where(t.c.feature_id == int(feature_id))).scalar_one()
    if have + len(photos) > int(r["per_feature_max"]):
        raise GisPlannerError(f"feature {feature_id} would have {have + len(photos)} photos (at most "
                              f"{r['per_feature_max']})", feature=feature_id,
                              fix="remove a photo first or keep the best ones", code="too_many_photos")
    now = m.utcnow()
    out = []
    for p in photos:
        values = dict(feature_id=int(feature_id), filename=p.filename, mime=p.mime, data=p.data, size=len(p.data),
                      sha256=p.sha256, author=author, created_at=now, exif_stripped=True)
        aid = conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one()
        out.append(AttachmentRecord(id=int(aid), **values))
    return out


def add_attachment(store, feature_id: int, data: bytes, filename: str | None, author: str) -> AttachmentRecord:
    from .store import _person_text, limits

    author = _person_text(author, "author", limits(store.ws).get("author_max", 40), required=True)
    photo = prepare_photo(data, filename, store.ws, where=feature_id)
    with store._writer() as conn:
        f = store.get_feature(feature_id, conn)
        if f.deleted:
            raise GisPlannerError("a deleted feature cannot get photos", feature=feature_id,
                                  fix="restore it first", code="deleted_feature")
        (rec,) = insert_photos(store, conn, f.id, [photo], author)
    return rec


def attachments(store, feature_id: int | Iterable[int] | None = None) -> pd.DataFrame:
    """Photos (without their bytes) of one feature, several, or all: columns :data:`COLUMNS`."""
    t = _table()
    q = sa.select(*[t.c[c] for c in COLUMNS]).order_by(t.c.feature_id, t.c.id)
    if feature_id is not None:
        ids = [int(feature_id)] if isinstance(feature_id, (int,)) or hasattr(feature_id, "__index__") \
            else [int(i) for i in feature_id]
        q = q.where(t.c.feature_id.in_(ids))
    with store._reader() as conn:
        rows = conn.execute(q).all()
    df = pd.DataFrame([tuple(r) for r in rows], columns=list(COLUMNS))
    df["exif_stripped"] = df["exif_stripped"].astype(bool)
    for c in ("id", "feature_id", "size"):
        df[c] = df[c].astype("int64")
    return df


def get_attachment(store, attachment_id: int) -> AttachmentRecord:
    t = _table()
    with store._reader() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == int(attachment_id))).mappings().first()
    if row is None:
        raise GisPlannerError(f"photo {attachment_id} does not exist", file=store.label,
                              fix="reload the feature: the photo may have been removed", code="unknown_attachment")
    d = dict(row)
    d["data"] = bytes(d["data"])
    d["exif_stripped"] = bool(d["exif_stripped"])
    return AttachmentRecord(**{k: d[k] for k in (*COLUMNS, "data")})


def delete_attachment(store, attachment_id: int, author: str) -> AttachmentRecord:
    """Remove a photo (returns what was removed, bytes included, so a caller can offer to undo)."""
    from .store import _person_text, limits

    _person_text(author, "author", limits(store.ws).get("author_max", 40), required=True)
    rec = get_attachment(store, attachment_id)
    t = _table()
    with store._writer() as conn:
        conn.execute(t.delete().where(t.c.id == rec.id))
    return rec


def write_photos(store, feature_ids: Iterable[int], folder, prefix: str = "") -> dict[int, list[str]]:
    """Write the photos of the given features into ``folder`` as ``<feature id>_<photo id>_<file name>``;
    returns ``{feature_id: [relative paths, prefix + name]}`` (features without photos are absent)."""
    from pathlib import Path

    folder = Path(folder)
    ids = [int(i) for i in feature_ids]
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    t = _table()
    q = (sa.select(t.c.id, t.c.feature_id, t.c.filename, t.c.data).where(t.c.feature_id.in_(ids))
         .order_by(t.c.feature_id, t.c.id))
    with store._reader() as conn:
        for aid, fid, name, data in conn.execute(q):
            folder.mkdir(parents=True, exist_ok=True)
            fname = f"{int(fid)}_{int(aid)}_{name}"
            (folder / fname).write_bytes(bytes(data))
            out.setdefault(int(fid), []).append(prefix + fname)
    return out


__all__ = ["ATTACHMENTS", "Attachment", "AttachmentRecord", "Photo", "prepare_photo", "exif_location",
           "safe_filename", "thumbnail", "thumbnail_img_tag", "has_metadata", "photo_rules", "add_attachment",
           "attachments", "get_attachment", "delete_attachment", "insert_photos", "write_photos", "COLUMNS"]
