"""Which workspaces a browser user may open: only those under the configured roots, named relative to them.

The app's workspace field never shows a server path. A workspace is named ``<root name>`` (the root
itself) or ``<root name>/<sub/folder>``; :func:`resolve` turns such a name back into the folder, refusing
anything outside the roots (absolute paths, ``..``, links leading out, home-relative ``~`` paths) with a
:class:`~gis_planner.errors.GisPlannerError` of code ``workspace_not_allowed``. Roots come from
``GIS_PLANNER_WORKSPACE_ROOTS`` (:func:`gis_planner.settings.workspace_roots`).

>>> import tempfile, pathlib
>>> r = pathlib.Path(tempfile.mkdtemp()) / "sites"; (r / "at-bashy").mkdir(parents=True)
>>> display_name(r / "at-bashy", [r])
'sites/at-bashy'
>>> resolve("sites/at-bashy", [r]) == (r / "at-bashy").resolve()
True
>>> resolve("/etc", [r])
Traceback (most recent call last):
...
gis_planner.errors.GisPlannerError: '/etc' is not among the workspace folders of the app. Fix: choose one \
of: sites (or ask the administrator to add it to GIS_PLANNER_WORKSPACE_ROOTS)
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .. import settings
from ..errors import GisPlannerError


def _roots(roots=None) -> list[Path]:
    return [Path(r).resolve() for r in (roots if roots is not None else settings.workspace_roots())]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def display_name(path, roots=None) -> str:
    """The name of a workspace folder as the browser shows it (never an absolute path)."""
    p = Path(path).resolve()
    for root in _roots(roots):
        if _inside(p, root):
            rel = p.relative_to(root)
            return root.name if rel == Path(".") else f"{root.name}/{rel.as_posix()}"
    return p.name  # outside every root (set by the server, not the user): only its folder name


def _refuse(name: str, roots: list[Path]) -> GisPlannerError:
    shown = str(name)[:120]
    return GisPlannerError(f"'{shown}' is not among the workspace folders of the app",
                           fix=f"choose one of: {', '.join(r.name for r in roots) or '-'} (or ask the administrator "
                               f"to add it to GIS_PLANNER_WORKSPACE_ROOTS)",
                           code="workspace_not_allowed", details={"roots": [r.name for r in roots]})


def resolve(name: str, roots=None) -> Path:
    """The folder a workspace name (as :func:`display_name` gives it) stands for, inside a root."""
    roots = _roots(roots)
    text = str(name or "").strip().replace("\\", "/")
    if not text or "\x00" in text or text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":"):
        raise _refuse(text, roots)
    parts = PurePosixPath(text).parts
    if any(p in ("..", ".") for p in parts):
        raise _refuse(text, roots)
    for root in roots:
        if parts[0] != root.name:
            continue
        candidate = root.joinpath(*parts[1:]).resolve()  # symbolic links are followed, then checked
        if _inside(candidate, root):
            return candidate
    raise _refuse(text, roots)


def choices(roots=None, depth: int = 2) -> list[str]:
    """Names of the workspaces found under the roots (folders holding ``workspace.gpkg``)."""
    out: list[str] = []
    for root in _roots(roots):
        if (root / "workspace.gpkg").exists():
            out.append(display_name(root, [root]))
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            level = len(Path(dirpath).parts) - base_depth
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if level < depth else []
            if level and "workspace.gpkg" in filenames:
                out.append(display_name(Path(dirpath), [root]))
    return out


def upload_root() -> Path:
    """This user's private folder (mode 0700) for uploads being read, under the system temporary folder.

    Refuses to use a folder of that name that is a link or belongs to another user (it could be planted).
    """
    import tempfile

    root = Path(tempfile.gettempdir()) / f"gp-uploads-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(root)
    import stat as _stat

    if not _stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise GisPlannerError("the temporary folder for uploads is not private", file=root.name,
                              fix="ask the administrator to remove it from the temporary folder",
                              code="upload_folder_unsafe")
    os.chmod(root, 0o700)
    return root
