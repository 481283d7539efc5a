"""Lazy package exports (PEP 562): a package ``__init__`` names what it exports and from which
submodule; a name is imported on first use. A process that needs one light submodule (e.g. the
terrain kernels) then does not load geopandas, pandas and pyogrio through the package ``__init__``.

>>> getattr_, dir_ = lazy_exports("json", {"decoder": ("JSONDecodeError",)}, {})
>>> getattr_("JSONDecodeError").__name__
'JSONDecodeError'
"""
from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], namespace: dict):
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a submodule to the names it provides;
    a resolved name is cached in ``namespace`` (the package's ``globals()``)."""
    where = {name: mod for mod, names in exports.items() for name in names}

    def __getattr__(name):
        mod = where.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{mod}"), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__


class LazyModule:
    """A module imported on its first attribute access: a module that needs geopandas/pandas/shapely in
    a few functions only names them at the top without loading them (a terrain-only process stays
    ~110 MB lighter).

    >>> js = LazyModule("json")
    >>> js.dumps([1])
    '[1]'
    """

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)

    def __getattr__(self, attr):
        mod = importlib.import_module(object.__getattribute__(self, "_lazy_name"))
        return getattr(mod, attr)

    def __repr__(self):
        return f"<lazy module {object.__getattribute__(self, '_lazy_name')!r}>"
