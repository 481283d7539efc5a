"""Moving the community store's schema to a given revision (``gis-planner community migrate``).

Upgrading is safe and also happens by itself when a store is opened. Downgrading drops columns or
tables; to ``base`` it drops everything (an empty store). A downgrade therefore needs ``yes=True``
(``--yes``): without it :func:`set_revision` refuses with code ``confirm_required`` and says how
many sessions and features would be lost.
"""
from __future__ import annotations

from ..errors import GisPlannerError
from . import store as store_mod


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(store_mod.MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def current_revision(store) -> str | None:
    from alembic.migration import MigrationContext

    with store._reader() as conn:
        return MigrationContext.configure(conn, opts={"version_table": store_mod.VERSION_TABLE}).get_current_revision()


def _order(cfg) -> list[str]:
    """Revision ids from the oldest to the newest."""
    from alembic.script import ScriptDirectory

    return [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()][::-1]


def set_revision(store, to: str = "head", *, yes: bool = False) -> dict:
    """Upgrade or downgrade the store's schema to revision ``to`` (``head``, ``base`` or a revision id).

    Returns ``{"from": …, "to": …, "direction": "up" | "down" | "none"}``.
    """
    from alembic import command

    cfg = _config()
    order = _order(cfg)
    current = current_revision(store)
    target = order[-1] if to == "head" else (None if to == "base" else to)
    if target is not None and target not in order:
        raise GisPlannerError(f"unknown schema revision '{to}'", file=store.label,
                              fix=f"use head, base or one of {', '.join(order)}", code="unknown_revision")
    pos = {None: -1, **{r: i for i, r in enumerate(order)}}
    if pos[target] == pos.get(current, -1):
        return {"from": current, "to": target, "direction": "none"}
    direction = "up" if pos[target] > pos.get(current, -1) else "down"
    if direction == "down" and not yes:
        counts = store.counts()
        what = "every table (an empty store)" if target is None else f"what revisions after {target} added"
        raise GisPlannerError(
            f"downgrading the community store to {to} removes {what}: {counts['sessions']} sessions and "
            f"{counts['features'] + counts['deleted']} features with their history may be lost",
            file=store.label, fix="make a copy of the store first, then confirm with --yes (yes=True)",
            code="confirm_required", details=counts)
    with store._writer() as conn:
        cfg.attributes["connection"] = conn
        if direction == "up":
            command.upgrade(cfg, target)
        else:
            command.downgrade(cfg, target or "base")
    store_mod._MIGRATED.clear()  # the next open checks (and upgrades) the schema again
    return {"from": current, "to": target, "direction": direction}
