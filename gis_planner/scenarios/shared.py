"""What the scenarios of one workspace share (issue 20: compare four scenarios ≤ 8 s).

Scenarios of one workspace differ in their demand, not in their land: the same parcels, the same context
layers, the same restriction frame. Results that depend only on those inputs are computed once and
looked up by a **fingerprint of the inputs** (geometry WKB and every attribute), so a new data version,
an edited rule file or a hand-made frame never meets a stale result, and a result looked up is the one
that would have been computed (same function, same inputs: identical field by field).

* :func:`inputs` – the parcels and the context of a workspace data version (what
  :func:`gis_planner.scenarios.run_many` and the app share already), for callers that give neither;
* :func:`frame_fingerprint`, :func:`geoms_fingerprint` – the keys;
* :func:`memo` – a bounded store per kind of result, emptied when it grows too large.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
from typing import Any, Callable

import numpy as np
import pandas as pd
import shapely

_LOCK = threading.Lock()
_STORES: dict[str, dict] = {}
_LIMITS = {"score": 64, "council": 256, "balance": 8, "inputs": 2, "layout": 20_000}
_TOKENS = itertools.count(1)


def geoms_fingerprint(geoms) -> str:
    """SHA-1 of the WKB of every geometry, in order (None/empty included)."""
    h = hashlib.sha1()
    arr = np.asarray(geoms, dtype=object)
    h.update(str(len(arr)).encode())
    for w in shapely.to_wkb(arr):
        h.update(b"\x00" if w is None else w)
        h.update(b"|")
    return h.hexdigest()


def frame_fingerprint(df) -> str:
    """SHA-1 of a (Geo)DataFrame: its geometry WKB, column names and every attribute value."""
    h = hashlib.sha1()
    gname = getattr(df, "_geometry_column_name", None)
    if gname is not None and gname in df.columns:
        h.update(geoms_fingerprint(np.asarray(df.geometry.values)).encode())
        rest = df.drop(columns=gname)
    else:
        rest = df
    h.update(repr([(str(c), str(t)) for c, t in rest.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(rest.index).values.tobytes())
    for i in range(len(rest.columns)):
        col = rest.iloc[:, i]
        if col.dtype == object:          # mixed Python values: by their text (None and NaN stay apart)
            col = col.astype(str)
        h.update(pd.util.hash_pandas_object(col, index=False).values.tobytes())
    return h.hexdigest()


def value_key(value: Any) -> str:
    """A stable text key of a rule section (dicts sorted), for use in a memo key."""
    return json.dumps(value, sort_keys=True, default=str)


def token(obj: Any) -> int:
    """A number naming this very object (a context shared by several runs) for as long as it lives."""
    t = getattr(obj, "_shared_token", None)
    if t is None:
        t = next(_TOKENS)
        try:
            object.__setattr__(obj, "_shared_token", t)
        except (AttributeError, TypeError):
            return id(obj)
    return t


def memo(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in the store ``kind`` (emptied when it holds more than its limit)."""
    store = _STORES.setdefault(kind, {})
    if key in store:
        return store[key]
    value = compute()
    with _LOCK:
        if len(store) >= _LIMITS.get(kind, 256):
            store.clear()
        store[key] = value
    return value


def clear() -> None:
    """Forget every shared result (tests)."""
    with _LOCK:
        _STORES.clear()


def rules_stamp(folder=None) -> tuple:
    """Name, modification time and size of every rule file (``layers/*.yaml``, or those of ``folder``):
    part of the key of a result that depends on the rules."""
    from .. import settings

    folder = settings.layers_dir() if folder is None else folder
    return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.yaml"))) \
        if folder.is_dir() else ()


def inputs(ws: Any) -> tuple:
    """``(parcels, context)`` of a workspace, read once per data version, rule files and layers folder
    (what :func:`run_many` passes to each scenario). Read-only: the scenario functions copy what they change."""
    from .candidates import load_context

    key = (str(ws.gpkg), ws.version, rules_stamp(), rules_stamp(ws.root / "layers"))

    def read():
        parcels = ws.read_layer("parcels").reset_index(drop=True)
        return parcels, load_context(ws, parcels)

    return memo("inputs", key, read)
