"""CPU seconds of the library work behind the app's interactions (issue 20, item 2), per checkout.

Run by ``benchmarks/app_bench.py --cpu`` in a fresh process per checkout (``cwd`` and ``PYTHONPATH`` = the
checkout), so an older commit is measured with its own code. Prints one JSON line:
``{measure: cpu_seconds}``. CPU seconds (``time.process_time``), not wall: they hold on a loaded machine.
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main(ws_path: str) -> None:
    logging.disable(logging.WARNING)
    out: dict = {}
    t0 = time.process_time()
    from gis_planner import Workspace
    from gis_planner.i18n import messages

    messages()
    from gis_planner.catalog import catalogue

    catalogue("activities")
    out["imports_and_catalogues"] = time.process_time() - t0
    ws = Workspace(ws_path)
    from gis_planner.zoning import build_restrictions, check, restriction_map

    out["restrictions"] = cpu(lambda: build_restrictions(ws))
    r = build_restrictions(ws)
    parcels = ws.read_layer("parcels")
    pts = [parcels.geometry.iloc[i].representative_point() for i in range(100, len(parcels), len(parcels) // 6)]
    out["first_click_check"] = cpu(lambda: check(ws, "housing", point=(pts[0].x, pts[0].y), restrictions=r, lang="ru"))
    clicks = [cpu(lambda p=p: check(ws, "housing", point=(p.x, p.y), restrictions=r, lang="ru")) for p in pts[1:]]
    out["click_check_median"] = sorted(clicks)[len(clicks) // 2]
    out["restriction_map_one_use"] = cpu(lambda: restriction_map(ws, "industry", restrictions=r, write=False,
                                                                 lang="en"))
    try:   # the restrictions page's map of a use without the union (issue 20; absent in older checkouts)
        import streamlit.logger

        streamlit.logger.get_logger("streamlit").setLevel(logging.ERROR)
        from gis_planner.ui import analyses as an
        from gis_planner.ui import maps
    except ImportError:
        an = None
    if an is not None and hasattr(an, "_regime_verdicts"):
        an.restrictions(ws)   # (the frame above, cached as the app does)
        out["regime_display_per_data_version"] = cpu(lambda: an._regime_display(ws))
        pieces = an._regime_display(ws)

        def display_one_use(use="industry"):
            v = an._regime_verdicts(ws, use)
            rm = pieces.assign(**{"class": v.reindex(pieces["_pos"]).to_numpy()})
            rm = rm[rm["class"].notna()]
            maps.frame_display(rm, rm["class"].map(maps.styles()["restriction_classes"]), [("class", "class")])
        out["restriction_map_display_one_use"] = cpu(display_one_use)
    from gis_planner.scenarios import examples_dir, load_scenario, run_scenario

    scs = [load_scenario(p) for p in sorted(examples_dir().glob("*.yaml"))]
    out["run_one_scenario"] = cpu(lambda: run_scenario(ws, scs[0]))
    out["compare_four"] = cpu(lambda: [run_scenario(ws, s) for s in scs])
    from gis_planner.balance import compute_balance, tables, write_xlsx

    out["balance"] = cpu(lambda: compute_balance(ws))
    b = compute_balance(ws)
    with tempfile.TemporaryDirectory() as tmp:
        out["balance_xlsx"] = cpu(lambda: write_xlsx(b, Path(tmp) / "b.xlsx", "ru"))
    out["total"] = time.process_time() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
