"""Scenario results of two checkouts compared field by field (issue 20: sharing work between the
scenarios of a workspace must not change any result).

Runs, in a fresh process per checkout (``PYTHONPATH`` = the checkout, so an older commit runs its own
code), what the app does — one scenario, then the comparison of the four examples one by one, then
``run_many`` of the four — and writes every field of every result: allocation pieces (geometry WKB and
every attribute), summary, candidate table, villages, densification, unmet-demand options, warnings,
demand steps, indicators, transformations, land loss, hazard exposure, infrastructure, balance, the
cadastre after the allocation (WKB) and the procedure list. Then compares the two dumps exactly
(floats bit for bit; NaN equals NaN).

    git worktree add --detach /tmp/gp-prev 1b19dd6
    .venv/bin/python benchmarks/scenario_identity.py --compare /tmp/gp-prev

Exit code 1 and the differences printed when a field differs.
"""
from __future__ import annotations

import argparse
import math
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def plain(v):
    """A value as comparable plain Python (NaN → "NaN", numpy scalars → Python, geometries → WKB hex)."""
    import numpy as np

    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, np.generic):
        return plain(v.item())
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if hasattr(v, "wkb_hex") and hasattr(v, "geom_type"):
        return "WKB:" + v.wkb_hex
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return "NaN"
    except ImportError:
        pass
    return v


def table(df):
    """A (Geo)DataFrame as ``{"columns": …, "rows": …}`` (geometry as WKB hex)."""
    if df is None:
        return None
    return {"columns": [str(c) for c in df.columns],
            "rows": [[plain(x) for x in row] for row in df.astype(object).itertuples(index=False, name=None)]}


def fields(res) -> dict:
    """Every field of a :class:`gis_planner.scenarios.ScenarioResult` as plain, comparable values."""
    a, c = res.allocation, res.consequences
    return {
        "id": res.id,
        "steps": [[s.key, s.chain, s.formula, plain(s.result), s.unit, s.source] for s in res.demand.steps],
        "demand": plain(res.demand.summary()),
        "pieces": table(a.pieces), "summary": table(a.summary), "candidates": table(a.candidates),
        "villages": table(a.villages), "densification": plain(a.densification),
        "unmet_options": plain(a.unmet_options), "warnings": plain(a.warnings),
        "allocated": table(c.allocated), "transformations": table(c.transformations),
        "land_loss": table(c.land_loss), "hazard_exposure": table(c.hazard_exposure),
        "infrastructure": table(c.infrastructure), "balance": table(c.balance),
        "indicators": plain(c.indicators), "after_parcels": table(c.after_parcels),
        "procedure": table(c.procedure),
    }


def diff(a, b, where: str = "", out: list | None = None, limit: int = 20) -> list[str]:
    """The places where two plain structures differ (at most ``limit``)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if type(a) is not type(b):
        out.append(f"{where}: {type(a).__name__} {str(a)[:80]} != {type(b).__name__} {str(b)[:80]}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'new' if k not in a else 'old'}")
            else:
                diff(a[k], b[k], f"{where}.{k}", out, limit)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} != {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{where}[{i}]", out, limit)
    elif a != b:
        out.append(f"{where}: {str(a)[:80]} != {str(b)[:80]}")
    return out


def run(ws_path: str) -> dict:
    """The app's sequence: one scenario, the four one by one, ``run_many`` of the four."""
    import logging

    logging.disable(logging.WARNING)
    from gis_planner import Workspace
    from gis_planner.scenarios import examples_dir, load_scenario, run_many, run_scenario

    ws = Workspace(ws_path)
    scs = [load_scenario(p) for p in sorted(examples_dir().glob("*.yaml"))]
    out = {"one": fields(run_scenario(ws, scs[0]))}
    for s in scs:
        out[f"four:{s.id}"] = fields(run_scenario(ws, s))
    for r in run_many(ws, scs):
        out[f"many:{r.id}"] = fields(r)
    return out


def dump(checkout: Path, ws: Path, path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    subprocess.run([sys.executable, __file__, "--dump", str(path), "--workspace", str(ws)], cwd=checkout, env=env,
                   check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compare", metavar="CHECKOUT", help="the other checkout (e.g. /tmp/gp-prev at 1b19dd6)")
    ap.add_argument("--workspace", default=str(ROOT / "data" / "cadastre" / "demo"))
    ap.add_argument("--dump", metavar="FILE", help=argparse.SUPPRESS)   # (inside the checkout's process)
    args = ap.parse_args()
    if args.dump:
        Path(args.dump).write_bytes(pickle.dumps(run(args.workspace)))
        return
    if not args.compare:
        sys.exit("give --compare CHECKOUT")
    ws = Path(args.workspace).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        new, old = Path(tmp) / "new.pkl", Path(tmp) / "old.pkl"
        dump(ROOT, ws, new)
        dump(Path(args.compare).resolve(), ws, old)
        a, b = pickle.loads(old.read_bytes()), pickle.loads(new.read_bytes())
    problems = diff(a, b, "result")
    n_pieces = sum(len(v["pieces"]["rows"]) for v in b.values())
    print(f"{len(b)} results ({', '.join(b)}), {n_pieces} allocation pieces compared")
    if problems:
        print("DIFFERENT:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("identical: every field of every result")


if __name__ == "__main__":
    main()
