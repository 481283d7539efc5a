"""The scenario's base from the workspace: population, households, household size, plot queue.

A scenario is tied to the workspace it runs on. Unless the scenario overrides them, the base comes from

* the ``settlements`` layer: population and households of each village (their sums are the base), the
  household size ``Σ population / Σ households``;
* the workspace metadata: ``household_size`` and ``plot_queue_households`` when set (they win over the
  layer's ratio).

:func:`base_checks` compares a scenario's own base with the workspace's (tolerance
``plausibility.base_tolerance_share``) and flags a trend beyond the observed range
(``plausibility.max_annual_growth_pct`` / ``max_total_growth_pct``), all in ``layers/scenario_norms.yaml``.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .model import Norms


def workspace_base(ws: Any) -> dict | None:
    """Population, households and villages of the workspace (None without a workspace or settlements).

    Returns ``{"population", "households", "household_size", "queue", "villages", "source"}``; values the
    workspace does not give are None.
    """
    if ws is None or not hasattr(ws, "read_layer"):
        return None
    st = ws.read_layer("settlements", missing_ok=True)
    meta = ws.meta() if hasattr(ws, "meta") else {}
    out: dict = {"population": None, "households": None, "household_size": None, "queue": None, "villages": [],
                 "source": None}
    if st is not None and len(st):
        pop = pd.to_numeric(st.get("population"), errors="coerce") if "population" in st else None
        hh = pd.to_numeric(st.get("households"), errors="coerce") if "households" in st else None
        if pop is not None and pop.notna().any():
            out["population"] = int(pop.sum())
        if hh is not None and hh.notna().any():
            out["households"] = int(hh.sum())
        if out["population"] and out["households"] and pop.notna().all() and hh.notna().all():
            out["household_size"] = round(out["population"] / out["households"], 2)
        names = st["name"] if "name" in st else pd.Series([f"#{i + 1}" for i in range(len(st))])
        out["villages"] = [{"village": str(n), "population": None if p is None or p != p else int(p),
                            "households": None if h is None or h != h else int(h)}
                           for n, p, h in zip(names, pop if pop is not None else [None] * len(st),
                                              hh if hh is not None else [None] * len(st))]
        prov = ws.provenance("settlements") if hasattr(ws, "provenance") else {}
        prov = prov if isinstance(prov, dict) else {}
        out["source"] = "workspace settlements layer" + (
            f" ({prov.get('source')}, {prov.get('source_date')})" if prov.get("source") else "")
    hs = meta.get("household_size")
    if isinstance(hs, (int, float)) and not isinstance(hs, bool) and hs > 0:
        out["household_size"] = float(hs)
        out["household_size_source"] = "workspace metadata household_size"
    q = meta.get("plot_queue_households")
    if isinstance(q, (int, float)) and not isinstance(q, bool) and q >= 0:
        out["queue"] = int(q)
    return out


def scaled_history(history: dict, base_year: int, population: int) -> tuple[dict, float]:
    """The history scaled so that its base year equals ``population`` (the year-on-year rates stay).

    >>> scaled_history({2023: 1000, 2024: 1100}, 2024, 2200)
    ({2023: 2000, 2024: 2200}, 2.0)
    """
    h = {int(k): v for k, v in history.items()}
    ref = h.get(int(base_year)) or h[max(h)]
    k = float(population) / float(ref)
    return {y: int(round(float(v) * k)) for y, v in h.items()}, k


def base_checks(n: Norms, scenario_base: float | None, ws_base: float | None, p0: float, ph: float,
                years: int) -> list[dict]:
    """Warnings on the base (scenario vs workspace) and plausibility notes on the trend."""
    notes: list[dict] = []
    tol = float(n.value("plausibility.base_tolerance_share"))
    if scenario_base and ws_base:
        diff = abs(float(scenario_base) - float(ws_base)) / float(ws_base)
        if diff > tol:
            notes.append({"code": "base_differs", "scenario": int(scenario_base), "workspace": int(ws_base),
                          "diff_pct": round(diff * 100, 1), "tolerance_pct": round(tol * 100, 1),
                          "source": n.source("plausibility.base_tolerance_share")})
    if p0 and ph and years > 0:
        annual = (math.pow(float(ph) / float(p0), 1.0 / years) - 1.0) * 100
        total = (float(ph) / float(p0) - 1.0) * 100
        amax = float(n.value("plausibility.max_annual_growth_pct"))
        tmax = float(n.value("plausibility.max_total_growth_pct"))
        if annual > amax or total > tmax:
            notes.append({"code": "trend_beyond_range", "annual_pct": round(annual, 2), "total_pct": round(total, 1),
                          "years": years, "max_annual_pct": amax, "max_total_pct": tmax,
                          "source": n.source("plausibility.max_annual_growth_pct")})
    return notes


__all__ = ["workspace_base", "scaled_history", "base_checks"]
