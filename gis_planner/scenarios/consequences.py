"""Spatial consequences of a scenario: what the allocation does to the territory and the budget.

* allocated land (the pieces, a GeoDataFrame to map);
* land transformations required: per parcel, current → target category (and land type), ha — and the
  transformation files the procedure needs (``gis_planner.zoning.transformation_list``: restrictions
  touched, use check, the five procedure steps);
* loss of arable land and pastures;
* new exposure to natural hazards (allocated land and house plots inside hazard zones);
* infrastructure needs: school/kindergarten places and new facilities, clinics, water supply, streets
  and access roads, with build and recurrent costs;
* the land balance before and after (by category and by land type), computed by
  ``gis_planner.balance.compute_balance`` on the parcels before and after :func:`apply_allocation`.

The change column of the balance is computed from the transformation list, and the tests check it
against a balance recomputed on the transformed cadastre.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..i18n import t
from .allocate import HA, Allocation, Context, load_context
from .demand import Demand
from .model import Norms, Scenario

ARABLE = ("arable", "irrigated", "rain_fed", "fallow")
PASTURE = ("pasture", "hayfield")


@dataclass
class Consequences:
    """Tables (pandas) and the allocated pieces of one scenario."""

    scenario_id: str
    allocated: gpd.GeoDataFrame
    transformations: pd.DataFrame
    land_loss: pd.DataFrame
    hazard_exposure: pd.DataFrame
    infrastructure: pd.DataFrame
    balance: pd.DataFrame             # rows (level, code): before_ha, change_ha, after_ha
    indicators: dict
    after_parcels: gpd.GeoDataFrame | None = None
    procedure: pd.DataFrame | None = None   # zoning transformation files (steps, restrictions touched)
    provenance: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- applying
def apply_allocation(parcels: gpd.GeoDataFrame, pieces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The cadastre after the allocation: allocated pieces become parcels of their target category.

    Each allocated piece is cut out of its parcel and becomes a new row (``cadastral_no`` =
    ``<parcel>/<piece_id>``) with the target category and land type, ``use_status`` ``used``; the rest of
    the parcel keeps its attributes.

    >>> from shapely.geometry import box
    >>> p = gpd.GeoDataFrame({"cadastral_no": ["A"], "category": ["reserve"]}, geometry=[box(0, 0, 100, 100)],
    ...                      crs=7695)
    >>> pc = gpd.GeoDataFrame({"cadastral_no": ["A"], "piece_id": ["housing-00001"], "use": ["housing"],
    ...                        "target_category": ["settlement"], "target_land_type": [None]},
    ...                       geometry=[box(0, 0, 25, 40)], crs=7695)
    >>> a = apply_allocation(p, pc)
    >>> a.groupby("category").geometry.apply(lambda g: g.area.sum()).to_dict()
    {'reserve': 9000.0, 'settlement': 1000.0}
    """
    if pieces is None or not len(pieces):
        return parcels.copy()
    parcels = parcels.reset_index(drop=True)
    gname = parcels.geometry.name
    ids = parcels["cadastral_no"].astype(str).to_numpy()
    pos = pd.Series(np.arange(len(parcels)), index=ids)
    pcad = pieces["cadastral_no"].astype(str).to_numpy()
    known = pd.Index(ids).get_indexer(pcad) >= 0
    pieces = pieces[known]
    pcad = pcad[known]
    pidx = pos.loc[pcad].to_numpy()
    geoms = np.asarray(parcels.geometry.values, dtype=object).copy()
    pg = np.asarray(pieces.geometry.values, dtype=object)
    order = np.argsort(pidx, kind="stable")
    bounds = np.flatnonzero(np.diff(pidx[order])) + 1
    for grp in np.split(order, bounds):
        if len(grp):
            i = pidx[grp[0]]
            geoms[i] = shapely.difference(geoms[i], shapely.union_all(pg[grp]))
    rest = parcels.copy()
    rest[gname] = geoms
    rest = rest[~shapely.is_empty(geoms)]
    add = parcels.iloc[pidx].reset_index(drop=True).copy()
    add["cadastral_no"] = [f"{c}/{p}" for c, p in zip(pcad, pieces["piece_id"].astype(str))]
    tc = pieces["target_category"].astype(object).to_numpy()
    add["category"] = np.where(pd.isna(tc), add["category"].astype(object).to_numpy(), tc)
    add["land_type"] = pieces["target_land_type"].astype(object).where(pieces["target_land_type"].notna(), None).to_numpy()
    if "use_status" in add.columns:
        add["use_status"] = "used"
    if "land_use" in add.columns:
        add["land_use"] = None
    add[gname] = pg
    out = pd.concat([rest, add[rest.columns]], ignore_index=True)
    for col in parcels.columns:
        if col != gname and out[col].dtype != parcels[col].dtype:
            try:
                out[col] = out[col].astype(parcels[col].dtype)
            except (TypeError, ValueError):
                out[col] = out[col].astype(object).where(out[col].notna(), None)
    return gpd.GeoDataFrame(out, geometry=gname, crs=parcels.crs)


# --------------------------------------------------------------------------- tables
def transformation_table(ws: Any, pieces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Parcels whose category (or land type) must change: cadastral number, current → target, ha.

    One row per parcel and target; ``use`` is the scenario use. Rows where category and land type stay
    the same are left out (no transformation procedure needed).
    """
    cols = ["cadastral_no", "use", "current_category", "target_category", "current_land_type",
            "target_land_type", "area_ha", "pieces", "legal_step"]
    if pieces is None or not len(pieces):
        return pd.DataFrame(columns=cols)
    step = pieces["legal_step"].astype(object) if "legal_step" in pieces.columns else pd.Series([None] * len(pieces))
    df = pd.DataFrame({"cadastral_no": pieces["cadastral_no"].astype(str), "use": pieces["use"],
                       "legal_step": step.where(step.notna(), "").to_numpy(),
                       "current_category": pieces["category"].astype(object),
                       "target_category": pieces["target_category"].astype(object),
                       "current_land_type": pieces["land_type"].astype(object),
                       "target_land_type": pieces["target_land_type"].astype(object),
                       "area_ha": pieces.geometry.area.to_numpy() / HA})
    df = df.fillna({"current_land_type": "", "target_land_type": ""})
    keys = ["cadastral_no", "use", "current_category", "target_category", "current_land_type", "target_land_type"]
    g = df.groupby(keys, sort=True, dropna=False).agg(area_ha=("area_ha", "sum"), pieces=("area_ha", "size"),
                                                      legal_step=("legal_step", "first"))
    g = g.reset_index()
    change = (g["current_category"] != g["target_category"]) | (g["current_land_type"] != g["target_land_type"])
    g = g[change].reset_index(drop=True)
    return g[cols]


def procedure_list(ws: Any, pieces: gpd.GeoDataFrame, tr: pd.DataFrame, reason: str = "") -> pd.DataFrame | None:
    """The transformation files of the zoning package (``gis_planner.zoning.transformation_list``):
    per parcel and target category, the allocated land (dissolved), restrictions it touches, the check
    of the target category's use and the five procedure steps with status fields.

    Returns None when the zoning package is not installed or nothing changes category.
    """
    try:
        z = importlib.import_module("gis_planner.zoning")
    except ImportError:
        return None
    fn = getattr(z, "transformation_list", None)
    if fn is None or ws is None or tr is None or not len(tr):
        return None
    moving = pieces[pieces["category"].astype(object) != pieces["target_category"].astype(object)]
    if not len(moving):
        return None
    out = []
    for target, grp in moving.groupby("target_category", sort=True):
        dis = grp.dissolve(by="cadastral_no", aggfunc={"category": "first", "use": "first"}).reset_index()
        dis = dis.sort_values("cadastral_no").reset_index(drop=True)
        res = fn(ws, dis[["cadastral_no", "category", "geometry"]], target, reason=reason)
        res["scenario_use"] = dis["use"].to_numpy()
        out.append(res)
    table = pd.concat(out, ignore_index=True)
    table.attrs.update(out[0].attrs)
    return table


def land_loss_table(pieces: gpd.GeoDataFrame) -> pd.DataFrame:
    """Agricultural land taken, by use, in ha: arable and perennial land that leaves farming (housing,
    industry, tourism, social facilities), and pasture or hayfield turned into anything else.

    Irrigating rain-fed land or planting berries on arable land is not a loss (it stays farmland);
    ploughing pasture for irrigation is.
    """
    cols = ["land_type", "group", "use", "area_ha", "legal_step"]
    if pieces is None or not len(pieces):
        return pd.DataFrame(columns=cols)
    lt = pieces["land_type"].astype(object).fillna("").astype(str).to_numpy()
    tgt_lt = pieces["target_land_type"].astype(object).fillna("").astype(str).to_numpy()
    tgt_cat = pieces["target_category"].astype(object).fillna("").astype(str).to_numpy()
    farm = np.isin(lt, list(ARABLE) + ["perennial"])
    grass = np.isin(lt, list(PASTURE))
    lost = (farm & (tgt_cat != "agricultural")) | (grass & (tgt_lt != lt))  # leaves farming / ploughed or built on
    if not lost.any():
        return pd.DataFrame(columns=cols)
    group = np.where(np.isin(lt, list(ARABLE)), "arable", np.where(lt == "perennial", "perennial", "pasture"))
    step = pieces["legal_step"].astype(object) if "legal_step" in pieces.columns else pd.Series([None] * len(pieces))
    rows = pd.DataFrame({"land_type": lt[lost], "group": group[lost], "use": pieces["use"].to_numpy()[lost],
                         "area_ha": pieces.geometry.area.to_numpy()[lost] / HA,
                         "legal_step": step.where(step.notna(), "").to_numpy()[lost]})
    df = rows.groupby(["group", "land_type", "use"], sort=True, as_index=False).agg(
        area_ha=("area_ha", "sum"), legal_step=("legal_step", "first"))
    return df[cols]


def hazard_exposure_table(pieces: gpd.GeoDataFrame, hazards: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Allocated land and house plots inside hazard zones, by hazard type, level and use."""
    cols = ["hazard_type", "level", "use", "area_ha", "plots"]
    if pieces is None or not len(pieces) or hazards is None or not len(hazards):
        return pd.DataFrame(columns=cols)
    rows = []
    g = np.asarray(pieces.geometry.values)
    ht = hazards.get("hazard_type", hazards.get("subtype", pd.Series(["hazard"] * len(hazards))))
    keyed = pd.DataFrame({"t": ht.astype(str).to_numpy(), "l": hazards["level"].astype(str).to_numpy()})
    for (htype, lv), grp in keyed.groupby(["t", "l"], sort=True):
        u = shapely.union_all(np.asarray(hazards.geometry.values)[grp.index.to_numpy()])
        inter = shapely.area(shapely.intersection(g, u))
        hit = inter > 1e-6
        if not hit.any():
            continue
        for use in sorted(set(pieces["use"][hit])):
            m = hit & (pieces["use"] == use).to_numpy()
            rows.append({"hazard_type": htype, "level": lv, "use": use, "area_ha": float(inter[m].sum() / HA),
                         "plots": int(pieces["plots"].to_numpy()[m].astype(int).sum())})
    return pd.DataFrame(rows, columns=cols)


def infrastructure_table(dem: Demand, alloc: Allocation, n: Norms) -> pd.DataFrame:
    """Infrastructure needs with quantities, build cost and recurrent cost (million som)."""
    rows = []
    soc = dem.social

    def add(item, qty, unit, build=0.0, run=0.0, source=""):
        rows.append({"item": item, "quantity": qty, "unit": unit, "build_mio_som": round(float(build), 4),
                     "run_mio_som_per_year": round(float(run), 4), "source": source})

    for kind, plural in (("school", "schools"), ("kindergarten", "kindergartens")):
        add(f"{kind}_places", soc.get(f"{kind}_places", 0), "places", source=n.source(f"social.{kind}_places_per_1000"))
        cnt = soc.get(f"{kind}s_new", 0)
        add(f"{kind}s_new", cnt, "facilities", cnt * float(n.value(f"costs.{kind}_build_mio_som")),
            cnt * float(n.value(f"costs.{kind}_run_mio_som_per_year")), n.source(f"costs.{kind}_build_mio_som"))
    cl = soc.get("clinics_new", 0)
    add("clinics_new", cl, "facilities", cl * float(n.value("costs.clinic_build_mio_som")),
        cl * float(n.value("costs.clinic_run_mio_som_per_year")), n.source("social.clinic_per_population"))
    # water for the new residents
    p0 = dem.population.get(dem.base_year, 0)
    ph = soc.get("population_horizon", p0)
    new_people = max(int(ph) - int(p0), 0)
    lpd = float(n.value("costs.water_l_per_person_day"))
    m3d = new_people * lpd / 1000.0
    add("water_supply", round(m3d, 3), "m3_per_day", m3d * float(n.value("costs.water_build_mio_som_per_m3_day")),
        m3d * 365 * float(n.value("costs.water_run_som_per_m3")) / 1e6, n.source("costs.water_l_per_person_day"))
    # streets of the house-plot layout and access roads to area pieces
    pcs = alloc.pieces
    sw = float(n.value("housing.street_width_m"))
    street_km = float(pcs.loc[pcs["kind"] == "street"].geometry.area.sum()) / sw / 1000.0 if len(pcs) else 0.0
    access_km = 0.0
    if len(pcs) and alloc.roads is not None:
        area_pcs = pcs[pcs["kind"] != "street"]
        if len(area_pcs):
            # one access road per cluster of adjacent allocated pieces, from its nearest point to a road
            clusters = shapely.get_parts(shapely.union_all(shapely.buffer(np.asarray(area_pcs.geometry.values), 1.0)))
            access_km = float(shapely.distance(clusters, alloc.roads).sum()) / 1000.0
    add("streets", round(street_km, 4), "km", street_km * float(n.value("costs.road_build_mio_som_per_km")),
        street_km * float(n.value("costs.road_run_mio_som_per_km_year")), n.source("housing.street_width_m"))
    add("access_roads", round(access_km, 4), "km", access_km * float(n.value("costs.road_build_mio_som_per_km")),
        access_km * float(n.value("costs.road_run_mio_som_per_km_year")), n.source("costs.road_build_mio_som_per_km"))
    df = pd.DataFrame(rows)
    total = {"item": "total", "quantity": None, "unit": "", "build_mio_som": round(float(df["build_mio_som"].sum()), 4),
             "run_mio_som_per_year": round(float(df["run_mio_som_per_year"].sum()), 4), "source": ""}
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def balance_tables(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(by_category, by_land_type)`` areas (ha) of a cadastre, via ``gis_planner.balance`` if present."""
    try:
        bal = importlib.import_module("gis_planner.balance")
        fn = bal.compute_balance
    except (ImportError, AttributeError):
        fn = None

    def one(p):
        if fn is not None:
            empty = gpd.GeoDataFrame({"kind": [], "subtype": [], "level": []}, geometry=[], crs=p.crs)
            b = fn(parcels=p, restrictions=empty, topology=False, detail=False)
            return (dict(zip(b.by_category["code"], b.by_category["area_ha"])),
                    dict(zip(b.by_land_type["code"], b.by_land_type["area_ha"])))
        a = p.geometry.area.to_numpy() / HA
        cat = pd.Series(a).groupby(p["category"].astype(str).to_numpy()).sum().to_dict()
        agri = (p["category"] == "agricultural").to_numpy()
        lt = pd.Series(a[agri]).groupby(p["land_type"].astype(object).fillna("unknown").to_numpy()[agri]).sum().to_dict()
        return cat, lt

    from . import shared

    # the cadastre before is the same in every scenario of a workspace: its balance once per parcels
    return shared.memo("balance", (shared.frame_fingerprint(before), shared.rules_stamp()),
                       lambda: one(before)), one(after)


def balance_change(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, tr: pd.DataFrame) -> pd.DataFrame:
    """Before/after table: ``before_ha`` and ``after_ha`` from the balance, ``change_ha`` from the
    transformation list (into a category/land type minus out of it)."""
    (cat0, lt0), (cat1, lt1) = balance_tables(before, after)
    ch_cat: dict = {}
    ch_lt: dict = {}
    for r in tr.itertuples(index=False):
        if r.current_category != r.target_category:
            ch_cat[r.current_category] = ch_cat.get(r.current_category, 0.0) - r.area_ha
            ch_cat[r.target_category] = ch_cat.get(r.target_category, 0.0) + r.area_ha
        cur_lt = r.current_land_type if r.current_category == "agricultural" and r.current_land_type else None
        if r.current_category == "agricultural" and not r.current_land_type:
            cur_lt = "unknown"
        tgt_lt = (r.target_land_type or "unknown") if r.target_category == "agricultural" else None
        if cur_lt != tgt_lt:
            if cur_lt is not None:
                ch_lt[cur_lt] = ch_lt.get(cur_lt, 0.0) - r.area_ha
            if tgt_lt is not None:
                ch_lt[tgt_lt] = ch_lt.get(tgt_lt, 0.0) + r.area_ha
    # the balance reports arable as the parent of irrigated / rain-fed: carry child changes up
    try:
        from ..catalog import catalogue

        ltc = catalogue("land_types")
        for code in list(ch_lt):
            par = ltc.parent(code)
            if par and (par in lt0 or par in lt1):
                ch_lt[par] = ch_lt.get(par, 0.0) + ch_lt[code]
    except Exception:  # noqa: BLE001
        pass
    rows = []
    for level, b0, b1, ch in (("category", cat0, cat1, ch_cat), ("land_type", lt0, lt1, ch_lt)):
        for code in list(dict.fromkeys([*b0, *b1, *ch])):
            rows.append({"level": level, "code": code, "before_ha": float(b0.get(code, 0.0)),
                         "change_ha": float(ch.get(code, 0.0)), "after_ha": float(b1.get(code, 0.0))})
    return pd.DataFrame(rows, columns=["level", "code", "before_ha", "change_ha", "after_ha"])


# --------------------------------------------------------------------------- all together
def consequences(ws: Any, scenario: Scenario, dem: Demand, alloc: Allocation, *,
                 parcels: gpd.GeoDataFrame | None = None, context: Context | None = None,
                 with_procedure: bool = True) -> Consequences:
    """All consequence tables of one scenario run (see module docstring).

    ``with_procedure`` also builds the zoning package's transformation files (restrictions touched and
    the five procedure steps per parcel); comparisons switch it off.
    """
    n = dem.norms
    if parcels is None:
        parcels = ws.read_layer("parcels")
    parcels = parcels.reset_index(drop=True)
    ctx = context or load_context(ws, parcels)
    pieces = alloc.pieces
    tr = transformation_table(ws, pieces)
    after = apply_allocation(parcels, pieces)
    bal = balance_change(parcels, after, tr)
    loss = land_loss_table(pieces)
    hz = hazard_exposure_table(pieces, ctx.hazards)
    infra = infrastructure_table(dem, alloc, n)
    summ = alloc.summary.set_index("use") if len(alloc.summary) else pd.DataFrame()

    def s(use, col):
        return float(summ.loc[use, col]) if use in summ.index else 0.0

    area_by_use = pieces.groupby("use").geometry.apply(lambda g: float(g.area.sum()) / HA).to_dict() if len(pieces) else {}
    tot = infra[infra["item"] == "total"].iloc[0]
    indicators = {
        "population_base": int(dem.population.get(dem.base_year, 0)),
        "population_horizon": int(dem.social.get("population_horizon", 0)),
        "households_new": int(dem.households["total"]),
        "plots_demand": int(dem.housing_plots),
        "plots_allocated": int(s("housing", "allocated")),
        "plots_unmet": int(s("housing", "unmet")),
        **{f"land_{u}_ha": round(v, 4) for u, v in sorted(area_by_use.items())},
        "land_allocated_ha": round(float(sum(area_by_use.values())), 4),
        "land_unmet_ha": round(float(alloc.summary.loc[alloc.summary["unit"] == "ha", "unmet"].sum()), 4)
        if len(alloc.summary) else 0.0,
        "transformations": int(len(tr)),
        "transformation_ha": round(float(tr["area_ha"].sum()), 4) if len(tr) else 0.0,
        "arable_loss_ha": round(float(loss.loc[loss["group"] == "arable", "area_ha"].sum()), 4) if len(loss) else 0.0,
        "pasture_loss_ha": round(float(loss.loc[loss["group"] == "pasture", "area_ha"].sum()), 4) if len(loss) else 0.0,
        # irrigated arable, perennial and pasture land the allocation had to take (each piece with its legal step)
        "protected_farmland_ha": round(float(pieces.loc[pieces["protected_farmland"].fillna(False).astype(bool)]
                                             .geometry.area.sum()) / HA, 4)
        if len(pieces) and "protected_farmland" in pieces.columns else 0.0,
        "hazard_exposed_ha": round(float(hz["area_ha"].sum()), 4) if len(hz) else 0.0,
        "schools_new": int(dem.social.get("schools_new", 0)),
        "kindergartens_new": int(dem.social.get("kindergartens_new", 0)),
        "clinics_new": int(dem.social.get("clinics_new", 0)),
        "build_mio_som": float(tot["build_mio_som"]),
        "run_mio_som_per_year": float(tot["run_mio_som_per_year"]),
    }
    prov = dict(alloc.provenance)
    prov["zoning"] = _zoning_provenance(ws)
    reason = t("scenarios.reason", "en", scenario=scenario.title("en"), year=scenario.horizon_year,
               households=dem.households["total"])
    proc = procedure_list(ws, pieces, tr, reason) if with_procedure else None
    return Consequences(scenario.id, pieces, tr, loss, hz, infra, bal, indicators, after_parcels=after,
                        procedure=proc, provenance=prov)


def _zoning_provenance(ws: Any) -> list:
    try:
        rules = importlib.import_module("gis_planner.zoning.rules")
        return rules.rules_provenance(ws)
    except (ImportError, AttributeError):
        return []


def label_table(df: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """A consequence table for people: codes turned into names and headers in ``lang``.

    Uses (``scenarios.use.*``), infrastructure items and units (``scenarios.item.*``, ``scenarios.unit.*``),
    land categories and land types (``layers/land_categories.yaml``, ``layers/land_types.yaml``).
    """
    from ..catalog import catalogue

    out = df.copy()
    cats = catalogue("land_categories")
    lts = catalogue("land_types")

    def msg(prefix):
        return lambda v: t(f"{prefix}.{v}", lang) if isinstance(v, str) and v else v

    for col, fn in (("use", msg("scenarios.use")), ("item", msg("scenarios.item")), ("unit", msg("scenarios.unit")),
                    ("current_category", lambda v: cats.label(v, lang) if v else v),
                    ("target_category", lambda v: cats.label(v, lang) if v else v),
                    ("current_land_type", lambda v: lts.label(v, lang) if v else v),
                    ("target_land_type", lambda v: lts.label(v, lang) if v else v),
                    ("land_type", lambda v: lts.label(v, lang) if v else v),
                    ("group", lambda v: lts.label(v, lang) if v else v)):
        if col in out.columns:
            out[col] = out[col].astype(object).map(fn)
    if "code" in out.columns and "level" in out.columns:
        out["code"] = [cats.label(c, lang) if lv == "category" else lts.label(c, lang)
                       for lv, c in zip(out["level"], out["code"])]
        out = out.drop(columns=["level"])
    out.columns = [t(f"scenarios.col.{c}", lang) for c in out.columns]
    return out

