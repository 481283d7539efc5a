"""Benchmark of the vectorised parcel check (issue 5): gis_planner.zoning.check_many vs geopandas.overlay.

For each size (synthetic municipalities of ``benchmarks/synthetic.py``), in the same run:

* ``ours``     ``gis_planner.zoning.check_many(ws, "housing", parcels, restrictions)``: verdict,
               prohibited and conditional share and the list of reasons for every parcel;
* ``overlay``  the obvious alternative for the shares alone: restrictions with their effect on housing
               ``dissolve(by="effect")`` → ``explode`` → ``geopandas.overlay(how="intersection")`` →
               area → ``groupby(parcel, effect)``.

The prohibited shares of both are compared parcel by parcel (max absolute difference printed; the
check ignores edge-contact pieces under 1 m² per rule, ~5e-4 of a 0.2 ha parcel). The
synthetic restriction frame is mapped to rule ids of ``layers/restrictions.yaml`` (protected areas by
regime, hazards by level, legal zones by zone code).

Usage::

    .venv/bin/python benchmarks/zoning_bench.py                  # 10k and 50k parcels
    .venv/bin/python benchmarks/zoning_bench.py --sizes 10000
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def rule_ids(r: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    r = r.copy()
    rid = r["kind"].astype(object).to_numpy().copy()
    pa = (r["kind"] == "protected_area").to_numpy()
    rid[pa] = np.where(r["subtype"].to_numpy()[pa] == "core", "protected_core", "protected_buffer")
    hz = (r["kind"] == "hazard").to_numpy()
    rid[hz] = "hazard_" + r["level"].astype(str).to_numpy()[hz]
    lz = (r["kind"] == "legal_zone").to_numpy()
    rid[lz] = r["subtype"].astype(str).to_numpy()[lz]
    r["rule_id"] = rid
    r["width_m"] = np.nan
    r["confirmed"] = True
    return r


def overlay_shares(parcels: gpd.GeoDataFrame, restr: gpd.GeoDataFrame) -> np.ndarray:
    d = restr[restr["effect"] == "prohibited"].dissolve(by="effect").explode(index_parts=False).reset_index()
    p = parcels[["geometry"]].assign(pid=np.arange(len(parcels)))
    o = gpd.overlay(p, d[["effect", "geometry"]], how="intersection", keep_geom_type=True)
    area = o.geometry.area.groupby(o["pid"]).sum()
    out = np.zeros(len(parcels))
    out[area.index.to_numpy()] = area.to_numpy()
    return out / parcels.geometry.area.to_numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 50_000])
    args = ap.parse_args(argv)
    from synthetic import make_municipality

    from gis_planner import Workspace
    from gis_planner.zoning import check_many, with_effects

    ws = Workspace.create(Path(tempfile.mkdtemp()) / "ws", name="bench", crs=7695)
    rows = []
    for n in args.sizes:
        parcels, r, _ = make_municipality(n, seed=0)
        r = rule_ids(r)
        t = time.perf_counter()
        ours = check_many(ws, "housing", parcels, r)
        t_ours = time.perf_counter() - t
        eff = with_effects(r, "housing", ws)
        t = time.perf_counter()
        ref = overlay_shares(parcels, eff)
        t_overlay = time.perf_counter() - t
        diff = float(np.abs(ours["prohibited_share"].to_numpy() - ref).max())
        rows.append({"parcels": n, "restrictions": len(r), "ours_s": round(t_ours, 2),
                     "overlay_s": round(t_overlay, 2), "speed-up": round(t_overlay / t_ours, 1),
                     "max |Δ prohibited share|": f"{diff:.1e}",
                     "prohibited": int((ours["verdict"] == "prohibited").sum())})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    print()
    print("| " + " | ".join(df.columns) + " |")
    print("|" + "---|" * len(df.columns))
    for rec in df.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in rec) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
