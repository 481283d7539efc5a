"""Safe extraction of uploaded ZIP archives (zipped Shapefiles, KMZ).

An uploaded archive is untrusted: it may name files outside the destination (``../../etc/x``,
absolute paths, Windows drive letters), contain symbolic links, or be a *zip bomb* whose entries
expand to gigabytes. :func:`safe_extract` refuses all of these before writing anything, and while
writing it counts the real bytes (declared sizes can lie), so it never writes more than allowed.
"""
from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import GisPlannerError

DEFAULT_MAX_TOTAL_BYTES = 2 * 1024 ** 3
DEFAULT_MAX_FILES = 10_000
DEFAULT_MAX_RATIO = 200
DEFAULT_MAX_TOTAL_RATIO = 100          # whole archive: uncompressed / compressed (layers/import.yaml zip)
DEFAULT_TOTAL_RATIO_MIN_BYTES = 64 * 1024 ** 2   # below this, an archive may compress as well as it likes
_RATIO_MIN_BYTES = 1024 ** 2  # small files legitimately compress very well (e.g. .shx, .cpg)
_CHUNK = 1024 * 1024


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry name, re-decoded when the archive was written by Windows with a DOS code page.

    Without the UTF-8 flag (bit 11) Python decodes names as cp437; Russian Windows writes cp866
    and many tools write UTF-8 without setting the flag.
    """
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for enc in ("utf-8", "cp866"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return name


def _safe_relpath(name: str, archive: str) -> PurePosixPath | None:
    """A relative, traversal-free path for an entry, or None for a directory entry."""
    norm = name.replace("\\", "/")
    if norm.endswith("/"):
        return None
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or "\x00" in norm:
        raise GisPlannerError("the archive contains an absolute path", file=archive, feature=name,
                              fix="re-create the archive with relative paths only", code="zip_unsafe")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        raise GisPlannerError("the archive contains a path that leaves its folder (path traversal)",
                              file=archive, feature=name,
                              fix="re-create the archive without '..' in file names", code="zip_unsafe")
    return PurePosixPath(*parts)


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike, *,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES, max_files: int = DEFAULT_MAX_FILES,
                 max_ratio: float = DEFAULT_MAX_RATIO, max_total_ratio: float = DEFAULT_MAX_TOTAL_RATIO,
                 total_ratio_min_bytes: int = DEFAULT_TOTAL_RATIO_MIN_BYTES) -> list[Path]:
    """Extract ``zip_path`` into ``dest`` refusing path traversal, links and zip bombs.

    Parameters
    ----------
    zip_path : path
        The archive (``.zip``, ``.kmz``).
    dest : path
        Destination folder (created if missing). Nothing outside it is ever written.
    max_total_bytes : int
        Limit on the total uncompressed size (declared sizes are checked first, then real bytes
        are counted while writing).
    max_files : int
        Limit on the number of entries.
    max_ratio : float
        Limit on uncompressed/compressed size per entry (entries over 1 MiB).
    max_total_ratio : float
        Limit on uncompressed/compressed size of the whole archive, checked when it expands to more than
        ``total_ratio_min_bytes`` (many small, extremely compressible entries are a zip bomb too).

    Returns
    -------
    list of Path
        The extracted files, in archive order.

    Raises
    ------
    GisPlannerError
        ``zip_bad`` (not a readable ZIP), ``zip_unsafe`` (traversal, absolute path, link,
        encrypted entry) or ``zip_too_large`` (too many files, too many bytes, suspicious ratio).
        On error the partly extracted files are removed.

    Examples
    --------
    >>> import tempfile, zipfile, os
    >>> d = tempfile.mkdtemp(); z = os.path.join(d, "a.zip")
    >>> with zipfile.ZipFile(z, "w") as zf: zf.writestr("a/b.txt", "hi")
    >>> [p.name for p in safe_extract(z, os.path.join(d, "out"))]
    ['b.txt']
    """
    zip_path = Path(zip_path)
    label = zip_path.name
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise GisPlannerError(f"not a readable ZIP archive ({exc})", file=label,
                              fix="upload the original .zip/.kmz (not a renamed or partial file)",
                              code="zip_bad") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise GisPlannerError(f"the archive has {len(infos)} entries (limit {max_files})", file=label,
                                  fix="zip only the layer's files", code="zip_too_large")
        declared = sum(i.file_size for i in infos)
        if declared > max_total_bytes:
            raise GisPlannerError(f"the archive expands to {declared:,} bytes (limit {max_total_bytes:,})",
                                  file=label, fix="split the data or zip only the needed layer",
                                  code="zip_too_large")
        packed = max(sum(i.compress_size for i in infos), 1)
        if declared > total_ratio_min_bytes and declared > max_total_ratio * packed:
            raise GisPlannerError(
                f"the archive expands {declared / packed:,.0f}× ({declared:,} bytes from {packed:,}; limit "
                f"{max_total_ratio:g}×): looks like a zip bomb", file=label,
                fix="upload the original data archive", code="zip_too_large",
                details={"declared": declared, "compressed": packed})
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        seen: set[str] = set()
        for info in infos:
            name = _entry_name(info)
            rel = _safe_relpath(name, label)
            if rel is None:
                continue
            mode = (info.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                raise GisPlannerError("the archive contains a symbolic link", file=label, feature=name,
                                      fix="re-create the archive with regular files only", code="zip_unsafe")
            if info.flag_bits & 0x1:
                raise GisPlannerError("the archive entry is encrypted", file=label, feature=name,
                                      fix="zip the files without a password", code="zip_unsafe")
            if info.file_size > _RATIO_MIN_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
                raise GisPlannerError(
                    f"entry expands {info.file_size / max(info.compress_size, 1):.0f}× (limit {max_ratio:g}×): "
                    f"looks like a zip bomb", file=label, feature=name,
                    fix="upload the original data archive", code="zip_too_large")
            key = str(rel).lower()
            if key in seen:
                raise GisPlannerError("the archive contains the same file twice", file=label, feature=name,
                                      fix="re-create the archive", code="zip_unsafe")
            seen.add(key)
            plan.append((info, rel))

        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written: list[Path] = []
        total = 0
        try:
            for info, rel in plan:
                target = (root / Path(*rel.parts)).resolve()
                if root not in target.parents:
                    raise GisPlannerError("the archive contains a path that leaves its folder",
                                          file=label, feature=str(rel), fix="re-create the archive",
                                          code="zip_unsafe")
                target.parent.mkdir(parents=True, exist_ok=True)
                n = 0
                with zf.open(info) as src, open(target, "wb") as out:
                    written.append(target)
                    while True:
                        chunk = src.read(_CHUNK)
                        if not chunk:
                            break
                        n += len(chunk)
                        total += len(chunk)
                        if n > info.file_size or total > max_total_bytes:
                            raise GisPlannerError("the archive expands beyond its declared size",
                                                  file=label, feature=str(rel),
                                                  fix="upload the original data archive", code="zip_too_large")
                        out.write(chunk)
        except GisPlannerError:
            _cleanup(written)
            raise
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            _cleanup(written)
            raise GisPlannerError(f"the archive is damaged ({exc})", file=label,
                                  fix="upload the original .zip/.kmz again", code="zip_bad") from None
    return written


def archive_limits(rules: dict | None) -> dict:
    """Keyword arguments of :func:`safe_extract` from the ``zip`` section of ``layers/import.yaml``."""
    z = (rules or {}).get("zip") or {}
    return {"max_total_bytes": int(z.get("max_total_bytes", DEFAULT_MAX_TOTAL_BYTES)),
            "max_files": int(z.get("max_files", DEFAULT_MAX_FILES)),
            "max_ratio": float(z.get("max_ratio", DEFAULT_MAX_RATIO)),
            "max_total_ratio": float(z.get("max_total_ratio", DEFAULT_MAX_TOTAL_RATIO)),
            "total_ratio_min_bytes": int(z.get("total_ratio_min_bytes", DEFAULT_TOTAL_RATIO_MIN_BYTES))}


def _cleanup(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


def remove_tree(path: str | os.PathLike) -> None:
    shutil.rmtree(path, ignore_errors=True)
