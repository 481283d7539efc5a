"""Exports that write several files write all of them or none.

:func:`all_or_nothing` runs an export function with its output folder replaced by a hidden temporary
folder inside it; only when the function returned are the files it names moved into the real folder.
If it fails, nothing is added to the folder (and files of an earlier export stay as they were).

>>> import tempfile, pathlib
>>> @all_or_nothing("out_dir")
... def two(out_dir, fail=False):
...     (pathlib.Path(out_dir) / "a.csv").write_text("a")
...     if fail:
...         raise ValueError("boom")
...     (pathlib.Path(out_dir) / "b.png").write_text("b")
...     return {"csv": pathlib.Path(out_dir) / "a.csv", "png": pathlib.Path(out_dir) / "b.png"}
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> try:
...     two(d, fail=True)
... except ValueError:
...     pass
>>> sorted(p.name for p in d.iterdir())
[]
>>> sorted(p.name for p in two(d).values()), sorted(p.name for p in d.iterdir())
(['a.csv', 'b.png'], ['a.csv', 'b.png'])
"""
from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path

_PREFIX = ".partial-"


def _move(obj, tmp: Path, final: Path):
    """Move every path under ``tmp`` named in ``obj`` (dict/list/tuple/Path) to ``final``; same shape back."""
    if isinstance(obj, dict):
        return {k: _move(v, tmp, final) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(v, tmp, final) for v in obj)
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        try:
            rel = p.relative_to(tmp)
        except ValueError:
            return obj
        dst = final / rel
        if p.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dst)
        return dst if isinstance(obj, Path) else str(dst)
    return obj


def all_or_nothing(param: str = "out_dir"):
    """Decorator: the export writes into a temporary folder; its files are moved in only on success."""

    def deco(func):
        sig = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            final = Path(bound.arguments[param])
            final.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=final))
            bound.arguments[param] = tmp
            try:
                result = func(*bound.args, **bound.kwargs)
                return _move(result, tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

        return wrapper

    return deco
