"""Project-wide settings in one place (paths, defaults, environment overrides).

Environment variables
---------------------
GIS_PLANNER_WORKSPACE      workspace opened by default (app, CLI); defaults to the bundled demo.
GIS_PLANNER_LAYERS_DIR     folder of rule/catalogue YAML files; defaults to ``layers/`` of the checkout.
GIS_PLANNER_DATABASE_URL   community-map store on PostgreSQL/PostGIS instead of the embedded GeoPackage.
GIS_PLANNER_LANG           default interface language (ky, ru, en); default ``ky``.
GIS_PLANNER_WORKSPACE_ROOTS  folders (separated by ``:``) under which the app may open workspaces; default: the
                           demo workspace and the folder holding GIS_PLANNER_WORKSPACE (docs/security.md).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

LANGUAGES = ("ky", "ru", "en")
DEFAULT_LANG = os.environ.get("GIS_PLANNER_LANG", "ky")
if DEFAULT_LANG not in LANGUAGES:
    DEFAULT_LANG = "ky"


def layers_dir() -> Path:
    """Folder holding the rule and catalogue YAML files."""
    env = os.environ.get("GIS_PLANNER_LAYERS_DIR")
    return Path(env) if env else PROJECT_DIR / "layers"


def demo_workspace() -> Path:
    """The bundled demo municipality (built by ``data/cadastre/build_demo.py``)."""
    return PROJECT_DIR / "data" / "cadastre" / "demo"


def default_workspace() -> Path:
    env = os.environ.get("GIS_PLANNER_WORKSPACE")
    return Path(env) if env else demo_workspace()


def database_url() -> str | None:
    """URL of a PostgreSQL/PostGIS community store, or None for the embedded GeoPackage."""
    return os.environ.get("GIS_PLANNER_DATABASE_URL") or None


def workspace_roots() -> list[Path]:
    """Folders the app may open workspaces in (``GIS_PLANNER_WORKSPACE_ROOTS``, see the module docstring)."""
    env = os.environ.get("GIS_PLANNER_WORKSPACE_ROOTS")
    if env:
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        roots = [demo_workspace()]
        ws = os.environ.get("GIS_PLANNER_WORKSPACE")
        if ws:
            roots.append(Path(ws).expanduser().parent)
    out: list[Path] = []
    for r in roots:
        r = r.resolve()
        if r not in out:
            out.append(r)
    return out
