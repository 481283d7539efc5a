"""Rules and catalogues as data: loading and validating ``layers/*.yaml``.

Every rule a planner may need to change (land categories, land types, restriction widths, hazard
thresholds, zoning rules, scenario norms) lives in a YAML file under ``layers/`` with a ``meta`` block
(``version``, ``source``, ``updated``). A workspace may override any file with its own copy in
``<workspace>/layers/<name>.yaml`` (deep-merged over the default, so a municipality can change one
width without copying the rest).

Examples
--------
>>> cats = catalogue("land_categories")
>>> cats.lookup("Земли с/х назначения")
'agricultural'
>>> cats.label("forest_fund", "ky")
'Токой фондунун жерлери'
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import settings, yamlio
from .errors import GisPlannerError
from .text import normalize_key

CODE_LISTS = ("land_categories", "land_types", "use_status", "owner_types", "land_uses", "activities",
              "water_types", "protected_regimes")


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yamlio.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        raise GisPlannerError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=str(path),
                              feature=where, fix="correct the YAML syntax (indentation, quotes, colons)",
                              code="bad_yaml") from None
    if not isinstance(data, dict):
        raise GisPlannerError("a rule file must be a YAML mapping", file=str(path),
                              fix="start the file with `meta:` and the rule keys", code="bad_yaml")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (lists and scalars are replaced)."""
    out = copy.deepcopy(base)
    for key, val in override.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
        return (str(path), st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return (str(path), None, None)


@lru_cache(maxsize=256)
def _load_cached(default_stamp: tuple, override_stamp: tuple | None) -> dict:
    default_path = Path(default_stamp[0])
    data: dict = {}
    if default_stamp[1] is not None:
        data = _read_yaml(default_path)
    if override_stamp is not None and override_stamp[1] is not None:
        data = deep_merge(data, _read_yaml(Path(override_stamp[0])))
    return data


def rule_paths(name: str, workspace: Any = None) -> tuple[Path, Path | None]:
    """Default path of rule file ``name`` and the workspace override path (if a workspace is given)."""
    default = settings.layers_dir() / f"{name}.yaml"
    override = None
    if workspace is not None:
        root = Path(getattr(workspace, "root", workspace))
        if root.suffix == ".gpkg":
            root = root.parent
        override = root / "layers" / f"{name}.yaml"
    return default, override


def load_rules(name: str, workspace: Any = None) -> dict:
    """Load rule file ``layers/<name>.yaml`` merged with the workspace override, if any.

    Returns a fresh deep copy each time (callers may modify it). Raises :class:`GisPlannerError` if
    the file does not exist anywhere or is not valid YAML.
    """
    return copy.deepcopy(_load_cached(*_stamps(name, workspace)))


def _stamps(name: str, workspace: Any) -> tuple[tuple, tuple | None]:
    """Modification stamps of rule file ``name`` and its workspace override (the cache keys); raises
    :class:`GisPlannerError` when neither file exists."""
    default, override = rule_paths(name, workspace)
    ostamp = _stamp(override) if override is not None else None
    dstamp = _stamp(default)
    if dstamp[1] is None and (ostamp is None or ostamp[1] is None):
        raise GisPlannerError(f"rule file '{name}.yaml' not found", file=str(default),
                              fix="restore it from the repository or set GIS_PLANNER_LAYERS_DIR",
                              code="missing_rules")
    return dstamp, ostamp


def rules_version(name: str, workspace: Any = None) -> dict:
    """Provenance of a rule file: its declared version, source and a content hash (computed once per
    modification stamp of the file and its override: scenario runs and checks ask for it many times)."""
    return dict(_rules_version_cached(name, *_stamps(name, workspace)))   # (raises when the file is missing)


@lru_cache(maxsize=256)
def _rules_version_cached(name: str, default_stamp: tuple, override_stamp: tuple | None) -> dict:
    default = Path(default_stamp[0])
    override = Path(override_stamp[0]) if override_stamp is not None else None
    h = hashlib.sha256()
    for p in (default, override):
        if p is not None and p.exists():
            h.update(p.read_bytes())
    data = _load_cached(default_stamp, override_stamp)
    meta = data.get("meta", {}) or {}
    return {
        "file": f"layers/{name}.yaml",
        "version": meta.get("version"),
        "source": meta.get("source"),
        "updated": str(meta.get("updated")) if meta.get("updated") is not None else None,
        "sha256": h.hexdigest()[:12],
        "overridden": bool(override is not None and override.exists()),
    }


@dataclass(frozen=True)
class Catalogue:
    """A code list: stable codes, labels in ky/ru/en, aliases for matching real-world values."""

    name: str
    items: dict  # code -> item dict
    source: str | None = None

    @property
    def codes(self) -> list[str]:
        return sorted(self.items, key=lambda c: (self.items[c].get("order", 999), c))

    def label(self, code: str | None, lang: str = "ky", short: bool = False) -> str:
        if code is None or code not in self.items:
            return "" if code is None else str(code)
        item = self.items[code]
        names = (item.get("short") if short else None) or item.get("names") or {}
        return names.get(lang) or names.get("en") or code

    def color(self, code: str, default: str = "#999999") -> str:
        return (self.items.get(code) or {}).get("color", default)

    def parent(self, code: str) -> str | None:
        return (self.items.get(code) or {}).get("parent")

    @property
    def _index(self) -> dict:
        return _alias_index(self.name, tuple(sorted((c, tuple(self._keys_for(c))) for c in self.items)))

    def _keys_for(self, code: str) -> Iterable[str]:
        item = self.items[code]
        yield code
        yield from (item.get("names") or {}).values()
        yield from (item.get("short") or {}).values()
        yield from item.get("aliases") or []

    def lookup(self, value: Any) -> str | None:
        """The code for a real-world value (code, name or alias in any language), or None."""
        if value is None:
            return None
        try:
            if value != value:  # NaN
                return None
        except Exception:  # noqa: BLE001
            pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return self._index.get(normalize_key(value))


@lru_cache(maxsize=64)
def _alias_index(name: str, keyed: tuple) -> dict:
    index: dict[str, str] = {}
    for code, keys in keyed:
        for k in keys:
            nk = normalize_key(k)
            if not nk:
                continue
            other = index.get(nk)
            if other is not None and other != code:
                raise GisPlannerError(f"alias '{k}' is given for both '{other}' and '{code}'",
                                      file=f"layers/{name}.yaml", feature=code,
                                      fix="keep each alias under one code only", code="bad_rules")
            index[nk] = code
    return index


def catalogue(name: str, workspace: Any = None, section: str = "items") -> Catalogue:
    """Load code list ``name`` (``land_categories``, ``land_types``, …).

    ``name`` may be ``"land_types.pasture_classes"`` to use another section of the file. The object is
    shared while the rule files are unchanged (keyed by their modification stamps; labelling a column of
    thousands of codes must not re-read and copy the rules each time): callers must not modify it.
    """
    if "." in name:
        name, section = name.split(".", 1)
    return _catalogue(name, section, *_stamps(name, workspace))


@lru_cache(maxsize=128)
def _catalogue(name: str, section: str, default_stamp: tuple, override_stamp: tuple | None) -> Catalogue:
    data = copy.deepcopy(_load_cached(default_stamp, override_stamp))
    items = data.get(section)
    if not isinstance(items, dict) or not items:
        raise GisPlannerError(f"section '{section}' is missing or empty", file=f"layers/{name}.yaml",
                              fix=f"add a `{section}:` mapping of code -> names", code="bad_rules")
    return Catalogue(name if section == "items" else f"{name}.{section}", items,
                     (data.get("meta") or {}).get("source"))


def validate_catalogue(name: str, workspace: Any = None) -> list[str]:
    """Check a code list: meta block, every item named in ky/ru/en, aliases unambiguous."""
    problems = []
    data = load_rules(name, workspace)
    meta = data.get("meta")
    if not isinstance(meta, dict) or not meta.get("source") or meta.get("version") is None:
        problems.append(f"layers/{name}.yaml: `meta` needs `version` and `source`")
    cat = catalogue(name, workspace)
    for code, item in cat.items.items():
        names = item.get("names") or {}
        for lang in settings.LANGUAGES:
            if not names.get(lang):
                problems.append(f"layers/{name}.yaml [{code}]: no name in '{lang}'")
        parent = item.get("parent")
        if parent is not None and parent not in cat.items:
            problems.append(f"layers/{name}.yaml [{code}]: parent '{parent}' is not a code")
    cat._index  # noqa: B018 - raises on ambiguous aliases
    return problems


def validate_all(workspace: Any = None) -> None:
    """Validate every code list at start-up; raise one error listing all problems."""
    problems: list[str] = []
    for name in CODE_LISTS:
        problems.extend(validate_catalogue(name, workspace))
    cats = catalogue("land_categories", workspace)
    required = {"agricultural", "settlement", "industry_transport", "protected", "forest_fund",
                "water_fund", "reserve"}
    missing = required - set(cats.items)
    if missing:
        problems.append(f"layers/land_categories.yaml: the Land Code categories {sorted(missing)} are missing")
    if problems:
        raise GisPlannerError("; ".join(problems), file="layers/", fix="correct the rule files",
                              code="bad_rules")
