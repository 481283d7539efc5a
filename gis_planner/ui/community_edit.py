"""Edit forms of the community page that never lose an edit (features and sessions).

A form remembers the version it was opened with (``st.session_state["community_base_<kind>_<id>"]``, not in
a widget key), saves and deletes with that version, and when the store answers :class:`ConflictError` shows
the conflict: who changed it and when, the fields where the stored value ("theirs") differs from what this
editor would save ("mine"), and three ways on — keep mine (saved over the new version), take theirs (mine
discarded, the form reloads with the stored values), merge (a choice per field). Only the fields this editor
changed are written, so a field somebody else changed and this editor did not touch is never reverted.

The form's widgets have keys with a *generation* number; a new generation (after a save, after "take
theirs") gives a fresh form with the stored values. While the widgets of a generation exist, the user's
entries stay as typed, whatever happens in the store meanwhile.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd
import streamlit as st

from gis_planner.community import ConflictError
from gis_planner.ui import state
from gis_planner.ui.safe import md_escape

FEATURE_FIELDS = ("category", "title", "description", "condition", "sufficiency", "votes", "geometry")
SESSION_FIELDS = ("village", "date", "participant_group", "age_band", "participants_female", "participants_male",
                  "facilitators", "notes")


def _norm(v: Any) -> Any:
    """Comparable form of a field value ('' and None and NaN are the same: not set)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if hasattr(v, "wkt"):
        return v.wkt
    if hasattr(v, "item"):
        return v.item()
    return v


def changed_fields(before: dict, after: dict, fields) -> list[str]:
    """Fields whose value differs between two snapshots."""
    return [f for f in fields if _norm(before.get(f)) != _norm(after.get(f))]


# ------------------------------------------------------------------ form state
def _base_key(kind: str, oid) -> str:
    return f"community_base_{kind}_{oid}"


def _conflict_key(kind: str, oid) -> str:
    return f"community_conflict_{kind}_{oid}"


def generation(kind: str, oid) -> int:
    return int(st.session_state.get(f"community_gen_{kind}_{oid}", 0))


def new_generation(kind: str, oid) -> None:
    """Make the next run show a fresh form (stored values, the then current version)."""
    st.session_state[f"community_gen_{kind}_{oid}"] = generation(kind, oid) + 1
    st.session_state.pop(_base_key(kind, oid), None)


def widget_key(kind: str, oid, field: str) -> str:
    return f"community_{kind}_{oid}_g{generation(kind, oid)}_{field}"


def opened(kind: str, oid, version: int, values: dict, probe: str) -> dict:
    """The version and values the form was opened with: taken now when the form's widget ``probe`` does not
    exist (first display, another feature picked meanwhile, a new generation — Streamlit forgets the state of
    widgets not shown on a run), else the remembered ones."""
    key = _base_key(kind, oid)
    base = st.session_state.get(key)
    fresh = widget_key(kind, oid, probe) not in st.session_state
    if base is None or fresh or base.get("gen") != generation(kind, oid):
        base = {"gen": generation(kind, oid), "version": int(version), "values": dict(values)}
        st.session_state[key] = base
    return base


def pending_conflict(kind: str, oid) -> dict | None:
    return st.session_state.get(_conflict_key(kind, oid))


def clear_conflict(kind: str, oid) -> None:
    st.session_state.pop(_conflict_key(kind, oid), None)


# ------------------------------------------------------------------ save / delete through the version check
def save(kind: str, oid, write: Callable[[int, dict], Any], base: dict, mine: dict, action: str = "update") -> bool:
    """Write the fields this editor changed (``mine`` vs the opened values) with the opened version.

    ``write(version, changes)`` calls the store. Returns True when written; on ConflictError the conflict is
    remembered (shown by :func:`conflict_panel`) and False returned; other errors propagate."""
    fields = FEATURE_FIELDS if kind == "feature" else SESSION_FIELDS
    changes = {f: mine[f] for f in changed_fields(base["values"], mine, fields) if f in mine} \
        if action == "update" else {}
    try:
        write(base["version"], changes)
    except ConflictError as err:
        st.session_state[_conflict_key(kind, oid)] = {"action": action, "mine": changes, "base": base,
                                                      "details": dict(err.details or {})}
        return False
    clear_conflict(kind, oid)
    new_generation(kind, oid)
    return True


def conflict_panel(kind: str, oid, current: dict, *, fmt: Callable[[str, Any], str],
                   field_name: Callable[[str], str], write: Callable[[int, dict], Any],
                   delete: Callable[[int], Any] | None = None, restore: Callable[[int], Any] | None = None,
                   current_version: int, current_deleted: bool = False) -> str | None:
    """Show a remembered conflict and its three ways on; returns the message key of what was done (the caller
    flashes it and reruns), or None while the conflict is open."""
    c = pending_conflict(kind, oid)
    if c is None:
        return None
    tr = state.tr
    d = c["details"]
    when = _local(d.get("changed_at"))
    what = tr(f"community.conflict.what_{kind}")
    title = tr("community.conflict.title", what=what, who=d.get("changed_by") or tr("community.conflict.someone"),
               when=when, theirs=current_version, mine=c["base"]["version"])
    box = st.container(border=True, key=f"community_conflict_box_{kind}_{oid}")
    with box:
        st.warning(md_escape(title), icon=":material/sync_problem:")
        mine = c["mine"]
        theirs_changed = changed_fields(c["base"]["values"], current,
                                        FEATURE_FIELDS if kind == "feature" else SESSION_FIELDS)
        if c["action"] == "delete":
            st.markdown(md_escape(tr("community.conflict.stale_delete" if kind == "feature"
                                     else "community.conflict.stale_delete_session")))
            rows = [(field_name(f), fmt(f, c["base"]["values"].get(f)), fmt(f, current.get(f))) for f in theirs_changed]
            if current_deleted:
                rows.append((tr("community.conflict.state"), "", tr("community.conflict.deleted")))
            if rows:
                st.table(pd.DataFrame(rows, columns=[tr("community.conflict.field"), tr("community.conflict.seen"),
                                                     tr("community.conflict.theirs")]).set_index(
                    tr("community.conflict.field")))
            a, b = st.columns(2)
            if a.button(tr("community.conflict.delete_anyway"), key=f"community_cf_del_{kind}_{oid}", type="primary",
                        disabled=current_deleted or delete is None):
                return _resolve(kind, oid, lambda: delete(current_version), "app.community.deleted_ok")
            if b.button(tr("community.conflict.keep_feature"), key=f"community_cf_keep_{kind}_{oid}"):
                clear_conflict(kind, oid)
                new_generation(kind, oid)
                return "community.conflict.discarded"
            return None
        differ = [f for f in mine if _norm(mine[f]) != _norm(current.get(f))]
        if current_deleted:
            st.markdown(md_escape(tr("community.conflict.was_deleted" if kind == "feature"
                                     else "community.conflict.was_deleted_session")))
        if not differ:
            st.info(md_escape(tr("community.conflict.same")))
        else:
            rows = [(field_name(f), fmt(f, current.get(f)), fmt(f, mine[f])) for f in differ]
            st.table(pd.DataFrame(rows, columns=[tr("community.conflict.field"), tr("community.conflict.theirs"),
                                                 tr("community.conflict.mine")]).set_index(
                tr("community.conflict.field")))
        others = [f for f in theirs_changed if f not in mine]
        if others:
            st.caption(md_escape(tr("community.conflict.also_theirs", fields=", ".join(field_name(f) for f in others))))
        choice = {}
        if len(differ) > 1:
            st.caption(md_escape(tr("community.conflict.merge_help")))
            cols = st.columns(min(len(differ), 3))
            names = {v: tr(f"community.conflict.{v}") for v in ("theirs", "mine")}   # texts fixed now, not at format time
            for i, f in enumerate(differ):
                choice[f] = cols[i % len(cols)].radio(
                    field_name(f), ["theirs", "mine"], horizontal=True, key=f"community_cf_pick_{kind}_{oid}_{f}",
                    format_func=names.__getitem__, index=1)
        a, b, m = st.columns(3)

        def _write(changes):
            version = current_version
            if current_deleted and restore is not None:
                version = restore(version).version
            write(version, changes)

        if a.button(tr("community.conflict.keep_mine"), key=f"community_cf_mine_{kind}_{oid}", type="primary"):
            return _resolve(kind, oid, lambda: _write(dict(mine)), "community.conflict.saved_mine")
        if b.button(tr("community.conflict.take_theirs"), key=f"community_cf_theirs_{kind}_{oid}"):
            clear_conflict(kind, oid)
            new_generation(kind, oid)
            return "community.conflict.discarded"
        if len(differ) > 1 and m.button(tr("community.conflict.merge"), key=f"community_cf_merge_{kind}_{oid}"):
            merged = {f: mine[f] for f in mine if f not in choice or choice[f] == "mine"}
            return _resolve(kind, oid, lambda: _write(merged), "community.conflict.saved_merge")
    return None


def _resolve(kind, oid, fn, ok_key) -> str | None:
    try:
        fn()
    except ConflictError as err:   # changed yet again meanwhile: the conflict is shown anew, still nothing lost
        c = pending_conflict(kind, oid) or {}
        c["details"] = dict(err.details or {})
        st.session_state[_conflict_key(kind, oid)] = c
        st.rerun()
    clear_conflict(kind, oid)
    new_generation(kind, oid)
    return ok_key


def _local(at) -> str:
    if not at:
        return "?"
    ts = pd.Timestamp(at)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    try:
        ts = ts.tz_convert("Asia/Bishkek")
    except Exception:  # no time-zone database: Kyrgyzstan is UTC+6 all year
        import datetime as dt

        ts = ts.tz_convert(dt.timezone(dt.timedelta(hours=6)))
    return ts.strftime("%d.%m.%Y %H:%M")
