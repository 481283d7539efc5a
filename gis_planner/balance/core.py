"""The land-use balance ("zher balansy") and the restriction cross-tab of a workspace.

See :func:`compute_balance`. Every area is measured on the polygons in the Kyrg-06 zone of the data
(the workspace CRS), in hectares. Rules: ``layers/balance.yaml``.

How the totals are counted
--------------------------
* Each parcel's **full area** counts in its row (category, land type, owner, …), exactly once per
  table, so ``total_ha`` is the sum of the parcel areas.
* Parcels that **overlap** are not clipped: the shared area is counted in both parcels' rows and is
  reported in ``topology`` as ``overlap_ha`` (the double-counted area, sum of areas minus the area of
  their union) with the pairs and their cadastral numbers.
* **Gaps** (boundary not covered by parcels) and parts of parcels **outside** the boundary are
  reported in ``topology``; nothing is added to or removed from the rows for them.
* Hence, exactly::

      total_ha = boundary_ha - gap_ha + outside_ha + overlap_ha

* Restricted areas are parcel ∩ union-of-restriction-kind areas summed by row; overlapping
  restriction polygons of one kind are unioned first and never counted twice. ``any`` is the union
  over all kinds; ``unrestricted = total - any`` per row.
"""
from __future__ import annotations

import datetime as _dt
import importlib
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from pyproj import CRS

from .. import yamlio
from ..catalog import catalogue, load_rules, rules_version
from ..crs import to_metric
from ..errors import GisPlannerError
from .atoms import build_atoms, group_areas, group_areas_sparse
from .engine import Background, ParcelIndex, balance_threads, default_workers, polygon_parts, union_polygons
from .segments import use_compiled
from .topology import _pairing, cadastre_topology

HA = 10_000.0
KINDS = ("protected_area", "water_protection_zone", "coastal_strip", "forest_fund", "hazard", "legal_zone")
UNKNOWN = "unknown"
ANY = "any"
RESTRICTION_COLUMNS = ("kind", "subtype", "level", "rule_id", "legal_source", "source_layer", "source_fid")


# ---------------------------------------------------------------------- inputs
def restriction_frame(ws) -> gpd.GeoDataFrame:
    """The restriction frame of a workspace.

    Uses ``gis_planner.zoning.build_restrictions(ws)`` when that module exists; otherwise builds a
    frame from the workspace's ``protected_areas`` (kind ``protected_area``, subtype = regime) and
    ``hazard_zones`` (kind ``hazard``, subtype = hazard type, level) only. Water-protection zones are
    never invented here: without the zoning module they are absent (and the provenance says so).
    """
    try:
        zoning = importlib.import_module("gis_planner.zoning")
    except ModuleNotFoundError as exc:
        if exc.name not in ("gis_planner.zoning",):
            raise
        zoning = None
    if zoning is not None and hasattr(zoning, "build_restrictions"):
        frame = zoning.build_restrictions(ws)
        frame.attrs["built_by"] = "gis_planner.zoning.build_restrictions"
        return frame
    return layer_restriction_frame(ws)


def layer_restriction_frame(ws) -> gpd.GeoDataFrame:
    """Restriction frame straight from the ``protected_areas`` and ``hazard_zones`` layers.

    The fallback of :func:`restriction_frame` when ``gis_planner.zoning`` is not available: protected
    areas (kind ``protected_area``, subtype = regime) and hazard zones (kind ``hazard``, subtype =
    hazard type, level). No water-protection zones: their widths are rules of the zoning module.
    """
    parts = []
    pa = ws.read_layer("protected_areas", missing_ok=True)
    if pa is not None and len(pa):
        parts.append(gpd.GeoDataFrame({
            "kind": "protected_area",
            "subtype": pa["regime"] if "regime" in pa else None,
            "level": None, "rule_id": None, "legal_source": None,
            "source_layer": "protected_areas", "source_fid": np.arange(len(pa))},
            geometry=pa.geometry.values, crs=pa.crs))
    hz = ws.read_layer("hazard_zones", missing_ok=True)
    if hz is not None and len(hz):
        parts.append(gpd.GeoDataFrame({
            "kind": "hazard",
            "subtype": hz["hazard_type"] if "hazard_type" in hz else None,
            "level": hz["level"] if "level" in hz else None,
            "rule_id": None, "legal_source": None,
            "source_layer": "hazard_zones", "source_fid": np.arange(len(hz))},
            geometry=hz.geometry.values, crs=hz.crs))
    if parts:
        frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    else:
        frame = gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in RESTRICTION_COLUMNS},
                                 geometry=gpd.GeoSeries([], crs=ws.crs), crs=ws.crs)
    frame.attrs["built_by"] = "gis_planner.balance (protected_areas, hazard_zones only: zoning module absent)"
    return frame


def load_reported(source) -> dict[str, float]:
    """Official cadastre totals (category -> ha) from a YAML or CSV file, or a mapping.

    YAML: ``{agricultural: 1234.5, settlement: 210.0, …}`` or the same under a ``categories:`` key
    (a ``meta:`` block is ignored). CSV: columns ``category`` and ``ha`` (or ``area_ha``). Category
    names may be codes or any alias of ``layers/land_categories.yaml``.
    """
    if source is None:
        return {}
    file = None
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        file = Path(source)
        if not file.exists():
            raise GisPlannerError("reported balance file not found", file=str(file),
                                  fix="give a YAML or CSV table of category -> ha", code="missing_file")
        if file.suffix.lower() == ".csv":
            df = pd.read_csv(file)
            cols = {c.lower().strip(): c for c in df.columns}
            cat = cols.get("category") or cols.get("code")
            ha = cols.get("ha") or cols.get("area_ha") or cols.get("reported_ha")
            if cat is None or ha is None:
                raise GisPlannerError("the CSV needs columns 'category' and 'ha'", file=str(file),
                                      fix="rename the columns to category, ha", code="bad_reported")
            data = dict(zip(df[cat].astype(str), df[ha]))
        else:
            try:
                data = yamlio.safe_load(file.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise GisPlannerError(f"not valid YAML ({exc})", file=str(file),
                                      fix="write one line per category: `agricultural: 1234.5`",
                                      code="bad_yaml") from None
    if isinstance(data, dict):
        for key in ("categories", "by_category", "balance"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict):
        raise GisPlannerError("the reported balance must map categories to hectares", file=str(file),
                              fix="write one line per category: `agricultural: 1234.5`", code="bad_reported")
    cats = catalogue("land_categories")
    out: dict[str, float] = {}
    for key, val in data.items():
        if str(key).lower() in ("meta", "source", "date", "total", "total_ha", "unit", "notes"):
            continue
        code = cats.lookup(key)
        if code is None:
            raise GisPlannerError(f"unknown land category '{key}' in the reported balance",
                                  file=str(file) if file else None, feature=str(key),
                                  fix=f"use one of {', '.join(cats.codes)}", code="unknown_category")
        try:
            out[code] = out.get(code, 0.0) + float(val)
        except (TypeError, ValueError):
            raise GisPlannerError(f"'{val}' is not a number of hectares", file=str(file) if file else None,
                                  feature=str(key), fix="write the area in ha as a number",
                                  code="bad_reported") from None
    return out


def _codes(values: pd.Series, catalogue_name: str) -> np.ndarray:
    """Map raw values to catalogue codes (codes, names, aliases); unknown values kept, nulls -> unknown.

    Each distinct value is looked up once (``pd.factorize``), whatever the number of parcels.
    """
    return _coded(values, catalogue_name)[0]


def _coded(values: pd.Series, catalogue_name: str) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`_codes`, with the position of each value's code in a list of the distinct codes:
    ``(codes, pos, distinct)``, ``codes == np.array(distinct, dtype=object)[pos]`` (the tables count by
    ``pos`` without factorizing the codes again)."""
    cat = catalogue(catalogue_name)
    if not len(values):
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64), []
    pos, uniq = pd.factorize(pd.Series(values), use_na_sentinel=True)
    mapped = [UNKNOWN if (v is None or str(v).strip() == "") else (cat.lookup(v) or str(v)) for v in uniq]
    # two raw values may map to one code: number the distinct codes (a short list)
    code_of, distinct = pd.factorize(np.array(mapped + [UNKNOWN], dtype=object))
    code_pos = code_of[pos]                      # position -1 (null) -> the last: unknown
    return np.asarray(distinct, dtype=object)[code_pos], code_pos, list(distinct)


def _group_sums(keys: np.ndarray, *weights: np.ndarray, coded: tuple | None = None) -> tuple[list, np.ndarray, list]:
    """Distinct ``keys`` (first-seen order), the count of each and the sum of each weight array per key.

    ``coded`` = ``(pos, distinct)`` of the keys (:func:`_coded`): no factorizing; keys that do not occur
    are left out, as if factorized."""
    pos, uniq = pd.factorize(keys) if coded is None else coded
    k = len(uniq)
    counts = np.bincount(pos, minlength=k)
    sums = [np.bincount(pos, weights=w, minlength=k).astype(float) for w in weights]
    if coded is not None:
        seen = np.flatnonzero(counts > 0)
        return [uniq[i] for i in seen], counts[seen], [x[seen] for x in sums]
    return list(uniq), counts, sums


def _metric(gdf: gpd.GeoDataFrame, crs: CRS | None, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise GisPlannerError(f"the {what} have no CRS", fix="set the CRS of the layer before the balance",
                              code="missing_crs")
    if crs is not None:
        return gdf if CRS.from_user_input(gdf.crs) == crs else gdf.to_crs(crs)
    return to_metric(gdf)


def _is_valid(geoms: np.ndarray, types: np.ndarray, compiled: bool | None = None,
              coords: dict | None = None) -> np.ndarray:
    """``shapely.is_valid`` of polygons: a polygon without holes whose ring is certainly simple
    (:func:`gis_planner.balance.kernels.simple_rings`, compiled, a fraction of GEOS' cost) is valid;
    GEOS decides every other one. ``compiled=False`` (or None and too few polygons for the kernel to pay,
    :func:`~gis_planner.balance.segments.use_compiled`): GEOS for all. ``coords`` (a dict, optional): when
    every polygon was read by the kernel, receives ``xy`` and ``ring`` (``shapely.get_coordinates(geoms,
    return_index=True)``) for the topology, which needs the same arrays."""
    if compiled is None:
        compiled = use_compiled(len(geoms))
    if not compiled:
        return shapely.is_valid(geoms)
    from .kernels import simple_rings   # numba: imported only when it pays

    valid = np.zeros(len(geoms), dtype=bool)
    simple = np.flatnonzero((types == shapely.GeometryType.POLYGON) & (shapely.get_num_interior_rings(geoms) == 0))
    if simple.size:
        xy, ring = shapely.get_coordinates(geoms[simple], return_index=True)
        offsets = np.searchsorted(ring, np.arange(simple.size + 1))
        valid[simple] = simple_rings(np.ascontiguousarray(xy), offsets)
        if coords is not None and simple.size == len(geoms):
            xy = np.ascontiguousarray(xy, dtype=np.float64)
            np.add(xy, 0.0, out=xy)     # -0.0 -> 0.0 (the topology's segments need it): once, before threads share xy
            coords.update(xy=xy, ring=ring, offsets=offsets, normalized=True)
    rest = np.flatnonzero(~valid)
    if rest.size:
        valid[rest] = shapely.is_valid(geoms[rest])
    return valid


def _clean_polygons(gdf: gpd.GeoDataFrame, what: str, compiled: bool | None = None,
                    coords: dict | None = None) -> tuple[np.ndarray, list[int]]:
    """Polygon geometries, invalid ones repaired (their positions returned), non-polygons refused.

    ``coords`` (a dict, optional): receives the coordinate arrays read by the validity check when nothing
    was repaired (see :func:`_is_valid`)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise GisPlannerError(f"{int(missing.sum())} {what} have no geometry", feature=pos,
                              fix="delete or redraw these features", code="empty_geometry")
    types = shapely.get_type_id(geoms)
    bad_type = ~np.isin(types, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    if bad_type.any():
        pos = int(np.flatnonzero(bad_type)[0])
        raise GisPlannerError(f"{what} must be polygons ({int(bad_type.sum())} are not)", feature=pos,
                              fix="import the layer as polygons", code="bad_geometry_type")
    invalid = np.flatnonzero(~_is_valid(geoms, types, compiled, coords))
    if invalid.size:
        if coords is not None:
            coords.clear()     # repaired parcels: the arrays no longer describe them
        fixed = shapely.make_valid(geoms[invalid])
        geoms = geoms.copy()
        for i, g in zip(invalid, fixed):
            parts = polygon_parts([g])
            geoms[i] = shapely.multipolygons(parts) if len(parts) != 1 else parts[0]
    return geoms, invalid.tolist()


def group_key(kind: str, *parts) -> str:
    """Key of a restriction group: ``kind`` or ``kind:subtype[:level]``."""
    vals = [str(p) for p in parts if p is not None and str(p) != "" and str(p) != "nan"]
    return ":".join([kind, *vals])


def restriction_groups(restrictions: gpd.GeoDataFrame, detail: Mapping[str, list] | None = None
                       ) -> tuple[dict, dict]:
    """Split a restriction frame into groups of polygons.

    Returns ``(by_kind, by_detail)``: ``{kind: polygons}`` and ``{"kind:subtype[:level]": polygons}``
    (only for kinds listed in ``detail``).
    """
    if "kind" not in restrictions.columns:
        raise GisPlannerError("the restriction frame has no 'kind' column",
                              fix="build it with gis_planner.zoning.build_restrictions", code="bad_restrictions")
    geoms = np.asarray(restrictions.geometry.values, dtype=object)
    kinds = restrictions["kind"].astype(object).to_numpy()
    by_kind: dict[str, np.ndarray] = {}
    by_detail: dict[str, np.ndarray] = {}
    order = {k: i for i, k in enumerate(KINDS)}
    for kind in sorted(pd.unique(kinds), key=lambda k: (order.get(k, 99), str(k))):
        sel = kinds == kind
        by_kind[str(kind)] = geoms[sel]
        cols = list((detail or {}).get(kind, []) or [])
        cols = [c for c in cols if c in restrictions.columns]
        if cols:
            sub = restrictions.loc[sel, cols].astype(object)
            keys = np.array([group_key(str(kind), *row) for row in sub.itertuples(index=False)], dtype=object)
            for key in sorted(pd.unique(keys)):
                if key != str(kind):
                    by_detail[key] = geoms[sel][keys == key]
    return by_kind, by_detail


def _banning_legal_zones(frame: gpd.GeoDataFrame, ws) -> gpd.GeoDataFrame:
    """Keep only legal zones whose zoning rules prohibit at least one use ("legal zones with a ban")."""
    if "kind" not in frame.columns or "subtype" not in frame.columns or not (frame["kind"] == "legal_zone").any():
        return frame
    try:
        zones = (load_rules("zoning_rules", ws).get("zones") or {})
    except GisPlannerError:
        return frame
    no_ban = {code for code, z in zones.items() if isinstance(z, dict) and not (z.get("prohibited") or [])}
    drop = (frame["kind"] == "legal_zone") & frame["subtype"].astype(object).isin(list(no_ban))
    return frame[~drop.to_numpy()] if drop.any() else frame


def reconcile(computed: Mapping[str, float], reported: Mapping[str, float], abs_tolerance_ha: float,
              rel_tolerance_pct: float) -> pd.DataFrame:
    """Computed vs reported ha per category (and the total), flagged beyond either tolerance.

    A category missing from the report is flagged when its computed area exceeds the absolute
    tolerance. Empty when nothing is reported.

    >>> reconcile({"agricultural": 100.0, "reserve": 2.0}, {"agricultural": 99.0, "reserve": 2.0}, 0.5, 1.0
    ...           )[["code", "diff_ha", "flag"]].values.tolist()
    [['agricultural', 1.0, True], ['reserve', 0.0, False], ['total', 1.0, True]]
    """
    cols = ["code", "computed_ha", "reported_ha", "diff_ha", "diff_pct", "flag"]
    if not reported:
        return pd.DataFrame(columns=cols)
    order = catalogue("land_categories").codes
    codes = [c for c in order if c in reported or c in computed] + \
        sorted(c for c in set(reported) | set(computed) if c not in order)

    def row(code, c_ha, r_ha):
        if r_ha is None:
            return {"code": code, "computed_ha": c_ha, "reported_ha": None, "diff_ha": None, "diff_pct": None,
                    "flag": bool(c_ha > abs_tolerance_ha)}
        diff = c_ha - r_ha
        pct = diff / r_ha * 100.0 if r_ha else None
        flag = abs(diff) > abs_tolerance_ha or (pct is not None and abs(pct) > rel_tolerance_pct)
        return {"code": code, "computed_ha": c_ha, "reported_ha": r_ha, "diff_ha": diff, "diff_pct": pct,
                "flag": bool(flag)}

    rows = [row(c, float(computed.get(c, 0.0)), reported.get(c)) for c in codes]
    rows.append(row("total", float(sum(computed.values())), float(sum(reported.values()))))
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------- result
@dataclass
class Balance:
    """The balance of a workspace: pandas tables (areas in ha) plus topology and provenance."""

    total_ha: float
    by_category: pd.DataFrame
    by_land_type: pd.DataFrame       # with parent rows (arable includes irrigated and rain-fed)
    state_fund: pd.DataFrame
    use_status: pd.DataFrame
    use_ratio: dict
    by_owner: pd.DataFrame
    by_zone: pd.DataFrame
    restricted: pd.DataFrame          # rows category; columns kinds, any, unrestricted, total (ha)
    restricted_land_type: pd.DataFrame
    restricted_detail: pd.DataFrame   # rows category; columns kind:subtype[:level] (ha)
    parcels: pd.DataFrame             # per parcel: area, restricted share, list of restrictions
    parcel_restrictions: pd.DataFrame  # long: cadastral_no, group, kind, area_ha, share
    topology: dict
    overlaps: pd.DataFrame
    gaps: gpd.GeoDataFrame
    outside: pd.DataFrame
    reconciliation: pd.DataFrame
    provenance: dict
    groups: dict = field(default_factory=dict)  # group key -> {kind, subtype, level}
    land_type_parcels: pd.DataFrame | None = None  # land types as recorded (a partition, no parent rows)

    @property
    def unrestricted_ha(self) -> float:
        return float(self.restricted["unrestricted"].sum()) if len(self.restricted) else self.total_ha

    def to_json(self) -> dict:
        """The JSON document of ``gis-planner balance --format json`` (keys fixed by issue 3).

        ``by_land_type`` is a partition of agricultural land by the land type recorded on each parcel
        (it sums to ``by_category["agricultural"]``); ``land_type_groups`` gives the parent totals
        (``arable`` = arable + irrigated + rain-fed) that the tables show as an extra row.
        """
        def col(df, key="code", val="area_ha"):
            return {str(k): float(v) for k, v in zip(df[key], df[val])}

        lt = catalogue("land_types")
        parents = {lt.parent(k) for k in lt.codes if lt.parent(k)}

        kinds = [c for c in self.restricted.columns if c not in (ANY, "unrestricted", "total")]
        restricted = {k: {str(cat): float(v) for cat, v in self.restricted[k].items()} for k in kinds}
        return {
            "total_ha": float(self.total_ha),
            "by_category": col(self.by_category),
            "by_land_type": col(self.land_type_parcels),
            "use_status": col(self.use_status),
            "restricted": restricted,
            "unrestricted_ha": self.unrestricted_ha,
            "topology": self.topology,
            "provenance": self.provenance,
            # additional detail (not required by the issue, same units)
            "restricted_any": {str(c): float(v) for c, v in self.restricted[ANY].items()}
            if ANY in self.restricted else {},
            "restricted_detail": {k: {str(c): float(v) for c, v in self.restricted_detail[k].items()}
                                  for k in self.restricted_detail.columns},
            "land_type_groups": col(self.by_land_type[self.by_land_type["code"].isin(list(parents))]),
            "use_ratio": self.use_ratio,
            "state_fund": col(self.state_fund),
            "by_owner": col(self.by_owner),
            "by_zone": col(self.by_zone, key="zone"),
            "parcel_counts": {"by_category": {str(k): int(v) for k, v in
                                              zip(self.by_category["code"], self.by_category["parcels"])}},
            "reconciliation": self.reconciliation.to_dict(orient="records"),
        }


def _sum_table(keys: np.ndarray, areas_m2: np.ndarray, order: list[str], total_m2: float,
               parents_of=None, coded: tuple | None = None) -> pd.DataFrame:
    """code, area_ha, parcels, share_pct; with ``parents_of`` (a catalogue) parent rows are added.
    ``coded``: ``(pos, distinct)`` of ``keys`` (see :func:`_group_sums`)."""
    uniq, counts, (sums,) = _group_sums(None if coded is not None else np.asarray(keys, dtype=object),
                                        np.asarray(areas_m2, dtype=float), coded=coded)
    g = pd.DataFrame({"sum": sums, "count": counts}, index=pd.Index(uniq, dtype=object))
    codes = [c for c in order if c in g.index] + sorted(c for c in g.index if c not in order)
    g = g.reindex(codes)
    if parents_of is not None:
        g = _with_parents(g, parents_of)
    out = pd.DataFrame({"code": pd.Series(list(g.index), dtype=object), "area_ha": g["sum"].to_numpy() / HA,
                        "parcels": g["count"].to_numpy().astype(int)})
    out["share_pct"] = out["area_ha"] / (total_m2 / HA) * 100.0 if total_m2 > 0 else 0.0
    return out


def _with_parents(g: pd.DataFrame, cat) -> pd.DataFrame:
    """Insert a row per parent code (``arable``) summing the parent and its children (numeric columns).

    The row goes where the first of them stands (catalogue order puts the parent first).
    """
    for parent in cat.codes:
        kids = [k for k in cat.codes if cat.parent(k) == parent]
        present = [k for k in [parent, *kids] if k in g.index]
        if not kids or not present:
            continue
        row = g.loc[present].sum(numeric_only=True).to_frame(parent).T
        pos = min(g.index.get_loc(k) for k in present)
        rest = g.drop(index=parent, errors="ignore")
        g = pd.concat([rest.iloc[:pos], row, rest.iloc[pos:]])
    return g


def _read_boundary(ws, crs) -> Any:
    b = ws.read_layer("boundary", missing_ok=True) if ws is not None else None
    if b is None or not len(b):
        return None
    b = _metric(b, crs, "boundary")
    geoms, _ = _clean_polygons(b, "boundary features")
    return union_polygons(geoms)


_TENTHS = np.arange(1001) / 10.0                        # 0.0, 0.1, … 100.0 (k / 10, as np.round gives)
_TENTHS_TEXT = np.array([f"{v!r}%" for v in _TENTHS.tolist()], dtype=object)


def _pct_text(pct: np.ndarray) -> np.ndarray:
    """``np.char.add(np.round(pct, 1).astype(str), "%")`` as objects, by table lookup for 0-100 %.

    The text of a float depends on its value only, so a rounded value equal to a table entry gets that
    entry's text; any other (outside 0-100) is converted as before.

    >>> _pct_text(np.array([25.0, 33.349, 100.0, 0.04, 250.0, np.nan, -0.04])).tolist()
    ['25.0%', '33.3%', '100.0%', '0.0%', '250.0%', 'nan%', '-0.0%']
    """
    r = np.round(pct, 1)
    k = np.clip(np.rint(np.where(np.isfinite(r), r, 0.0) * 10.0), 0, 1000).astype(np.int64)
    out = _TENTHS_TEXT[k]
    odd = (_TENTHS[k] != r) | np.signbit(r)          # -0.0 equals 0.0 but reads "-0.0"
    if odd.any():
        out[odd] = np.char.add(r[odd].astype(str), "%").astype(object)
    return out


def _joined_ids(id_of, lists: list) -> list[str]:
    """``", ".join`` of the cadastral numbers of each list of parcel positions (one lookup for all)."""
    if not lists:
        return []
    ids = id_of(np.concatenate([np.asarray(nb, dtype=np.int64) for nb in lists])).tolist()
    out, at = [], 0
    for nb in lists:
        out.append(", ".join(ids[at:at + len(nb)]))
        at += len(nb)
    return out


def _group_areas_one_by_one(index: ParcelIndex, unions: dict, dunions: dict, max_v: int
                            ) -> tuple[dict, dict, np.ndarray]:
    """Per-parcel areas in each kind, each subtype/level group and their union, group by group (the
    fallback of the atoms of :mod:`gis_planner.balance.atoms`)."""
    n = len(index)
    kind_cols, kind_hits, detail_cols = {}, {}, {}
    for k, u in unions.items():
        kind_cols[k], kind_hits[k] = index.areas_and_hits(u, max_v)
    for key, u in dunions.items():
        # a subtype/level lies inside its kind: only the parcels touching the kind are tested
        detail_cols[key] = index.areas_in(u, max_v, within=kind_hits.get(key.split(":")[0]))
    if len(unions) > 1:
        # a parcel wholly inside one kind is wholly inside their union, and a parcel touched by one
        # kind only is in the union as much as in that kind: only the others are clipped again
        whole = np.logical_or.reduce([c >= index.area for c in kind_cols.values()])
        touched = np.sum(list(kind_hits.values()), axis=0)
        one = (touched == 1) & ~whole
        any_col = index.areas_in(shapely.union_all(list(unions.values())), max_v, within=(touched > 1) & ~whole)
        any_col[whole] = index.area[whole]
        any_col[one] = np.sum([np.where(one, c, 0.0) for c in kind_cols.values()], axis=0)[one]
    elif unions:
        any_col = next(iter(kind_cols.values())).copy()
    else:
        any_col = np.zeros(n)
    return kind_cols, detail_cols, any_col


def compute_balance(ws=None, *, parcels: gpd.GeoDataFrame | None = None,
                    restrictions: gpd.GeoDataFrame | None = None, boundary=None,
                    zones: gpd.GeoDataFrame | str | None = None, zone_field: str | None = None,
                    reported=None, abs_tolerance_ha: float | None = None,
                    rel_tolerance_pct: float | None = None, detail: bool = True,
                    topology: bool = True) -> Balance:
    """Land-use balance, restriction cross-tab, topology and reconciliation of a municipality.

    Parameters
    ----------
    ws : Workspace, optional
        Source of every input not given explicitly (``parcels``, ``boundary``, ``settlements``,
        ``reported_balance.yaml``, rule overrides) and of the provenance.
    parcels : GeoDataFrame, optional
        Parcels with ``cadastral_no``, ``category`` and optionally ``land_type``, ``use_status``,
        ``owner_type``. Any CRS: a non-metric one is reprojected to its Kyrg-06 zone.
    restrictions : GeoDataFrame, optional
        The restriction frame (``kind``, ``subtype``, ``level`` …, see docs/data-model.md). Default:
        ``gis_planner.zoning.build_restrictions(ws)`` (see :func:`restriction_frame`).
    boundary : polygon or GeoDataFrame, optional
        Municipality boundary (default: the workspace ``boundary`` layer). Without it there are no
        gaps or outside parts.
    zones : GeoDataFrame or layer name, optional
        Zones of the "by settlement/zone" table (default ``layers/balance.yaml`` ``zones``).
    reported : path or mapping, optional
        Official totals category -> ha (default ``<workspace>/reported_balance.yaml`` if present).
    abs_tolerance_ha, rel_tolerance_pct : float, optional
        Reconciliation tolerances (defaults from ``layers/balance.yaml``); a category is flagged
        when the difference exceeds either.
    detail : bool
        Also break restriction kinds down by subtype/level (``layers/balance.yaml`` ``detail``).
    topology : bool
        Measure overlaps/gaps/outside (on by default).

    Returns
    -------
    Balance

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> p = gpd.GeoDataFrame({"cadastral_no": ["1", "2"], "category": ["agricultural", "settlement"]},
    ...                      geometry=[box(4300000, 4720000, 4300100, 4720100),
    ...                                box(4300100, 4720000, 4300200, 4720100)], crs=7695)
    >>> r = gpd.GeoDataFrame({"kind": ["hazard"], "subtype": ["flood"], "level": ["high"]},
    ...                      geometry=[box(4300050, 4720000, 4300150, 4720100)], crs=7695)
    >>> b = compute_balance(parcels=p, restrictions=r)
    >>> b.total_ha, b.to_json()["restricted"]["hazard"]
    (2.0, {'agricultural': 0.5, 'settlement': 0.5})
    """
    rules = load_rules("balance", ws)
    # independent phases (the attributes' codes, the restriction groups and their atoms, the segment pairing,
    # the topology) run beside the parcels' own work in engine.threads threads (layers/balance.yaml); with one
    # thread, each where its result is first used, in the calling thread
    with Background(balance_threads(rules.get("engine"))) as bg:
        return _balance(bg, rules, ws, parcels, restrictions, boundary, zones, zone_field, reported,
                        abs_tolerance_ha, rel_tolerance_pct, detail, topology)


def _restriction_atoms(ws, restrictions, crs, rules: dict, detail: bool) -> dict:
    """The restriction side of the balance, which needs nothing of the parcels but their CRS: the frame
    (given, or the workspace's), the kinds left out, the unions per kind and per subtype/level and their
    atoms (:func:`~gis_planner.balance.atoms.build_atoms`). Mostly GEOS (unions, noding, polygonize), which
    releases the GIL: :func:`compute_balance` runs it in a thread beside the parcels' validation."""
    rframe = restrictions if restrictions is not None else (restriction_frame(ws) if ws is not None else None)
    skip = set(rules.get("exclude_kinds") or [])
    if rframe is not None and skip and "kind" in rframe and rframe["kind"].isin(skip).any():
        # planning limits of new settlement (terrain) and the infrastructure land itself are not restrictions
        # on the use of land: they stay out of the balance's restriction table (layers/balance.yaml)
        attrs = dict(rframe.attrs)
        rframe = rframe[~rframe["kind"].isin(skip)]
        rframe.attrs.update(attrs)
    restr_source = (rframe.attrs.get("built_by", "given frame") if rframe is not None else "none")
    if restrictions is not None:
        restr_source = "given frame"
    if rframe is not None and len(rframe):
        rframe = _banning_legal_zones(rframe, ws)
    out = {"rframe": rframe, "source": restr_source, "group_meta": {}, "unions": None}
    if rframe is not None and len(rframe):
        rframe = _metric(rframe, crs, "restrictions")
        rgeoms, _ = _clean_polygons(rframe, "restriction polygons")
        rframe = rframe.set_geometry(gpd.GeoSeries(rgeoms, crs=crs, index=rframe.index))
        by_kind, by_detail = restriction_groups(rframe, rules.get("detail") if detail else None)
        unions = {k: union_polygons(g) for k, g in by_kind.items()}
        dunions = {key: union_polygons(g) for key, g in by_detail.items()}
        group_meta = out["group_meta"]
        for k in unions:
            group_meta[k] = {"kind": k}
        for key in dunions:
            parts = key.split(":")
            group_meta[key] = {"kind": parts[0], "subtype": parts[1] if len(parts) > 1 else None,
                               "level": parts[2] if len(parts) > 2 else None}
        # every group at once: parcels clipped against the disjoint atoms of all groups (atoms.py)
        atoms = build_atoms({**unions, **dunions})
        if not set(atoms.failed) & set(unions):
            atoms.cut(int((rules.get("engine") or {}).get("max_vertices", 256)))   # the pieces of the clip pass, here
        out.update(rframe=rframe, unions=unions, dunions=dunions, atoms=atoms)
    return out


def _balance(bg: Background, rules: dict, ws, parcels, restrictions, boundary, zones, zone_field, reported,
             abs_tolerance_ha, rel_tolerance_pct, detail, topology) -> Balance:
    """:func:`compute_balance` with its ``rules`` read and the tasks ``bg`` to run beside the caller."""
    ws_crs = ws.crs if ws is not None else None
    if parcels is None:
        if ws is None:
            raise GisPlannerError("no parcels: give a workspace or a parcels frame",
                                  fix="pass --workspace", code="missing_layer")
        parcels = ws.read_layer("parcels")
    parcels = _metric(parcels, ws_crs, "parcels")
    crs = CRS.from_user_input(parcels.crs)
    n = len(parcels)
    if "category" not in parcels.columns:
        raise GisPlannerError("the parcels have no 'category' field", file="parcels",
                              fix="import the cadastre with its land category column", code="missing_field")
    ecfg = rules.get("engine") or {}
    compiled = use_compiled(n, ecfg.get("compiled_min_parcels"))
    # the attributes' codes need only the attribute columns (pyarrow's factorize releases the GIL), the
    # restriction unions and atoms only the CRS: they start now, beside numba's start and the validity check;
    # errors are raised where the results are used below
    attr_names = {"category": "land_categories", "land_type": "land_types", "use_status": "use_status",
                  "owner_type": "owner_types"}
    codes_task = bg.submit(lambda: {name: _coded(parcels[name], cat_name) for name, cat_name in attr_names.items()
                                    if name in parcels.columns})
    restr_task = bg.submit(_restriction_atoms, ws, restrictions, crs, rules, detail)
    coords: dict = {}     # the parcels' coordinates, read once for the validity check and the topology
    geoms, invalid = _clean_polygons(parcels, "parcels", compiled, coords)
    # cadastral numbers stay a pandas text column (no conversion of a million strings to objects and back)
    ids_s = (parcels["cadastral_no"].astype(str).reset_index(drop=True) if "cadastral_no" in parcels.columns
             else pd.Series([str(i) for i in range(n)], dtype=str))

    def id_of(pos) -> np.ndarray:
        """Cadastral numbers of the parcels at positions ``pos`` (a few: overlaps, gaps, outside)."""
        return ids_s.take(np.asarray(pos, dtype=np.int64)).to_numpy(dtype=object)

    def pair(tree):
        # the topology's segment pairing, on the coordinates the validity check has just read; the dict (and
        # with it the per-vertex ring numbers) is cleared once paired, before the restriction pass (at 1M parcels
        # ~0.1 GB less at the peak); ``xy`` lives on in ``index.coords`` until the clip pass is done
        try:
            return _pairing(geoms, tree, default_workers(), compiled=compiled, coords=coords or None)
        finally:
            coords.clear()

    # the coordinates for the compiled clipper (freed after it), taken before the pairing clears the dict
    pcoords = (coords["xy"], coords["offsets"]) if "offsets" in coords else None
    # compiled, the pairing needs no tree: it runs (nogil kernels) while the tree is built
    pair_task = bg.submit(pair, None) if topology and n and compiled else None
    index = ParcelIndex(geoms)
    index.coords = pcoords
    del pcoords
    if n:
        index.tree.query(geoms[:1])   # GEOS builds the tree at its first query: here, before any thread uses it
    if topology and n and not compiled:
        pair_task = bg.submit(pair, index.tree)
    if pair_task is None:
        coords.clear()
    elif bg.threads == 1:
        pair_task.result()
    area = index.area
    total_m2 = float(area.sum())

    def resolve_boundary():
        if boundary is None and ws is not None:
            return _read_boundary(ws, crs)
        if isinstance(boundary, gpd.GeoDataFrame):
            b = _metric(boundary, crs, "boundary")
            return union_polygons(_clean_polygons(b, "boundary features")[0])
        return boundary

    boundary_task = bg.submit(resolve_boundary)

    def topology_of():
        return cadastre_topology(geoms, boundary_task.result(), tree=index.tree, compiled=compiled,
                                 pairing=pair_task.result() if pair_task is not None else None, areas=area)

    # the topology (GEOS, nogil kernels) runs beside the tables and the restriction pass
    topo_task = bg.submit(topology_of) if topology else None

    codes_pos: dict[str, tuple] = {}    # attribute -> (pos, distinct codes): tables count by position

    def attr(name, cat_name):
        if name in parcels.columns:
            codes, pos, distinct = codes_task.result()[name]
        else:
            codes, pos, distinct = np.full(n, UNKNOWN, dtype=object), np.zeros(n, dtype=np.int64), [UNKNOWN]
        codes_pos[name] = (pos, distinct)
        return codes

    def coded(name, mask=None):
        pos, distinct = codes_pos[name]
        return (pos if mask is None else pos[mask]), distinct

    def equals(name, code) -> np.ndarray:
        pos, distinct = codes_pos[name]
        return pos == distinct.index(code) if code in distinct else np.zeros(n, dtype=bool)

    category = attr("category", "land_categories")
    land_type = attr("land_type", "land_types")
    use = attr("use_status", "use_status")
    owner = attr("owner_type", "owner_types")
    cats = catalogue("land_categories")
    lt_cat = catalogue("land_types")

    by_category = _sum_table(category, area, cats.codes, total_m2, coded=coded("category"))
    # land types within agricultural land; a parent (arable) row includes its children
    agri = equals("category", "agricultural")
    lt_keys = land_type[agri]
    lt_area = area[agri]
    lt_coded = coded("land_type", agri)
    by_land_type = _sum_table(lt_keys, lt_area, lt_cat.codes, float(lt_area.sum()), parents_of=lt_cat,
                              coded=lt_coded)
    land_type_parcels = _sum_table(lt_keys, lt_area, lt_cat.codes, float(lt_area.sum()), coded=lt_coded)
    sf = agri & equals("owner_type", "state_fund")
    state_fund = _sum_table(land_type[sf], area[sf], lt_cat.codes, float(area[sf].sum()),
                            coded=coded("land_type", sf))
    use_status = _sum_table(use, area, catalogue("use_status").codes, total_m2, coded=coded("use_status"))
    used = float(area[equals("use_status", "used")].sum()) / HA
    unused = float(area[equals("use_status", "unused")].sum()) / HA
    use_ratio = {"used_ha": used, "unused_ha": unused,
                 "used_pct": used / (total_m2 / HA) * 100 if total_m2 else 0.0,
                 "unused_pct": unused / (total_m2 / HA) * 100 if total_m2 else 0.0,
                 "used_to_unused": used / unused if unused > 0 else None,
                 "unknown_ha": total_m2 / HA - used - unused}
    by_owner = _sum_table(owner, area, catalogue("owner_types").codes, total_m2, coded=coded("owner_type"))

    # ---- zones (settlements by default): exact parcel ∩ zone areas
    zcfg = rules.get("zones") or {}
    zone_layer_name = None
    if zones is None or isinstance(zones, str):
        zone_layer_name = zones or zcfg.get("layer")
        zones = ws.read_layer(zone_layer_name, missing_ok=True) if (ws is not None and zone_layer_name) else None
    zone_field = zone_field or zcfg.get("field", "name")
    zone_rows = []
    if zones is not None and len(zones):
        zones = _metric(zones, crs, "zones")
        zgeoms, _ = _clean_polygons(zones, "zones")
        names = (zones[zone_field].astype(object).to_numpy() if zone_field in zones.columns
                 else np.arange(len(zones)).astype(str))
        in_any = np.zeros(n)
        for name in pd.unique(names):
            a = index.areas_in(union_polygons(zgeoms[names == name]))
            in_any += a
            zone_rows.append({"zone": str(name), "area_ha": a.sum() / HA, "parcels": int((a > 0).sum())})
        rest = np.maximum(area - in_any, 0.0)
        zone_rows.append({"zone": "__outside__", "area_ha": rest.sum() / HA, "parcels": int((rest > 1e-6).sum())})
    elif "settlement" in parcels.columns:
        s = parcels["settlement"].astype(object).where(parcels["settlement"].notna(), "__outside__").to_numpy()
        t = _sum_table(s, area, [], total_m2)
        zone_rows = [{"zone": r.code, "area_ha": r.area_ha, "parcels": r.parcels} for r in t.itertuples()]
        zone_layer_name = "parcels.settlement"
    by_zone = pd.DataFrame(zone_rows, columns=["zone", "area_ha", "parcels"])

    # ---- restrictions (the frame, unions and atoms: restr_task, above)
    rs = restr_task.result()
    rframe, restr_source, group_meta = rs["rframe"], rs["source"], rs["group_meta"]
    max_v = int(ecfg.get("max_vertices", 256))
    # a group's column: (rows, areas), the areas of the parcels at the sorted positions ``rows`` (0 for every
    # other parcel), or (None, areas) of every parcel. The compiled path keeps the parcels the atoms touch
    # only: no million-row column per group (sums over them equal the sums over all: the others add zeros)
    kind_cols: dict[str, tuple] = {}
    detail_cols: dict[str, tuple] = {}
    any_col = np.zeros(n)
    atoms_info = None
    if rs["unions"] is not None:
        unions, dunions, atoms = rs["unions"], rs["dunions"], rs["atoms"]
        if set(atoms.failed) & set(unions):
            # a kind's atoms do not add up to its union: every group measured on its own
            kc, dc, any_col = _group_areas_one_by_one(index, unions, dunions, max_v)
            kind_cols = {k: (None, v) for k, v in kc.items()}
            detail_cols = {k: (None, v) for k, v in dc.items()}
        else:
            kw = dict(geos_below_share=float(ecfg.get("clip_geos_below_share", 0.01)), threads=bg.threads,
                      chunk_min_pairs=ecfg.get("clip_chunk_min_pairs"))
            if compiled and bool(ecfg.get("clip_compiled", True)):
                if isinstance(pair_task, Future):
                    # the clip pass starts once the segment pairing is done (on a quiet machine it is by then):
                    # their transient arrays (~0.3 GB each at 1M parcels) never add up at the peak of memory
                    futures_wait([pair_task])
                touched, sums, any_t = group_areas_sparse(index, atoms, max_v, **kw)
                cols = {k: (touched, v) for k, v in sums.items()}
                any_col[touched] = any_t
            else:
                dense, any_col = group_areas(index, atoms, max_v, compiled=False, **kw)
                cols = {k: (None, v) for k, v in dense.items()}
            kind_cols = {k: cols[k] for k in unions}
            detail_cols = {k: cols[k] if k in cols else (None, index.areas_in(u, max_v)) for k, u in dunions.items()}
        atoms_info = {"atoms": int(len(atoms.geoms)), "groups_measured_apart": list(atoms.failed)}
    index.coords = None
    unrestricted = np.maximum(area - any_col, 0.0)

    def crosstab(mask, name, cols: dict[str, tuple], order_codes, with_totals=True) -> pd.DataFrame:
        data = dict(cols)
        if with_totals:
            data.update({ANY: (None, any_col), "unrestricted": (None, unrestricted), "total": (None, area)})
        whole = mask is everything
        pos_all, distinct = coded(name)          # the attribute's codes, not factorized again
        pos = pos_all if whole else pos_all[mask]
        k = len(distinct)
        seen = np.flatnonzero(np.bincount(pos, minlength=k) > 0)

        at_rows: dict[int, tuple] = {}         # the groups share their rows (the touched parcels): looked up once

        def total(col) -> np.ndarray:
            rows, v = col
            if rows is None:
                return np.bincount(pos, weights=v if whole else v[mask], minlength=k)
            if id(rows) not in at_rows:
                keep = None if whole else np.flatnonzero(mask[rows])
                at_rows[id(rows)] = (rows, keep, pos_all[rows] if whole else pos_all[rows[keep]])
            _, keep, pos_r = at_rows[id(rows)]
            # the same non-zero terms in the same (parcel) order as over all parcels
            return np.bincount(pos_r, weights=v if whole else v[keep], minlength=k)

        sums = {key: (total(col) / HA)[seen] for key, col in data.items()}
        g = pd.DataFrame(sums, index=pd.Index([distinct[i] for i in seen], dtype=object, name="category"))
        rows = [c for c in order_codes if c in g.index] + sorted(c for c in g.index if c not in order_codes)
        return g.reindex(rows)

    everything = np.ones(n, dtype=bool)
    restricted = crosstab(everything, "category", kind_cols, cats.codes)
    restricted_land_type = _with_parents(crosstab(agri, "land_type", kind_cols, lt_cat.codes), lt_cat)
    restricted_land_type.index.name = "land_type"
    restricted_detail = crosstab(everything, "category", detail_cols, cats.codes, with_totals=False)

    # ---- per parcel
    all_cols = {**kind_cols, **detail_cols}
    nzs, nz_areas = {}, {}                  # per group: the parcels with area > 0 in it (in order) and their areas
    for key, (rows, v) in all_cols.items():
        keep = np.flatnonzero(v > 0)
        nzs[key], nz_areas[key] = (keep if rows is None else rows[keep]), v[keep]
    keys = [k for k in all_cols if nzs[k].size]
    sizes = [nzs[k].size for k in keys]
    pos = np.concatenate([nzs[k] for k in keys]) if keys else np.empty(0, dtype=np.int64)
    a_long = np.concatenate([nz_areas[k] for k in keys]) if keys else np.empty(0)

    def per_group(values) -> pd.Series:
        return pd.Series(np.repeat(np.array(values + [None], dtype=object)[:-1], sizes), dtype=object)

    parcel_restrictions = pd.DataFrame({
        "cadastral_no": ids_s.take(pos).reset_index(drop=True), "group": per_group(keys),
        "kind": per_group([group_meta[k]["kind"] for k in keys]),
        "subtype": per_group([group_meta[k].get("subtype") for k in keys]),
        "level": per_group([group_meta[k].get("level") for k in keys]),
        "area_ha": a_long / HA, "share": a_long / area[pos]})
    # "kind:subtype:level 25.0%; …" per parcel: a kind's own column only when it has no detail
    labels = np.full(n, "", dtype=object)
    detailed_kinds = {group_meta[k]["kind"] for k in detail_cols}
    label_cols = [k for k in kind_cols if k not in detailed_kinds] + list(detail_cols)
    label_cols.sort(key=lambda k: (list(kind_cols).index(group_meta[k]["kind"]), k))
    for key in label_cols:
        nz = nzs[key]
        if nz.size:
            pct = _pct_text(nz_areas[key] / area[nz] * 100.0)
            sep = np.where(labels[nz] == "", "", "; ").astype(object)
            labels[nz] = labels[nz] + sep + (key + " ") + pct
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, any_col / area, 0.0)
    # text columns as objects: pandas would otherwise convert each one to its string type (~0.2 s per
    # column at a million parcels)
    per_parcel = pd.DataFrame({"cadastral_no": ids_s, "category": pd.Series(category, dtype=object),
                               "land_type": pd.Series(land_type, dtype=object),
                               "use_status": pd.Series(use, dtype=object), "owner_type": pd.Series(owner, dtype=object),
                               "area_ha": area / HA, "restricted_ha": any_col / HA, "restricted_share": share,
                               "restrictions": pd.Series(labels, dtype=object)})

    # ---- topology (topo_task, above)
    boundary = boundary_task.result()
    tcfg = rules.get("topology") or {}
    list_min = float(tcfg.get("list_min_m2", 0.0))
    topo = topo_task.result() if topo_task is not None else None
    overlaps = pd.DataFrame(columns=["cadastral_no_a", "cadastral_no_b", "area_ha"])
    gaps = gpd.GeoDataFrame({"area_ha": pd.Series([], dtype=float), "neighbours": pd.Series([], dtype=object)},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    outside = pd.DataFrame(columns=["cadastral_no", "area_ha"])
    topo_json: dict[str, Any] = {"checked": topo is not None}
    if topo is not None:
        ov = topo.overlaps[topo.overlaps["area_m2"] >= list_min]
        overlaps = pd.DataFrame({"cadastral_no_a": id_of(ov["a"].to_numpy()),
                                 "cadastral_no_b": id_of(ov["b"].to_numpy()),
                                 "area_ha": ov["area_m2"].to_numpy() / HA})
        gkeep = shapely.area(topo.gaps) >= list_min if len(topo.gaps) else np.zeros(0, dtype=bool)
        gaps = gpd.GeoDataFrame({
            "area_ha": shapely.area(topo.gaps[gkeep]) / HA,
            "neighbours": _joined_ids(id_of, [nb for nb, k in zip(topo.gap_neighbours, gkeep) if k])},
            geometry=gpd.GeoSeries(topo.gaps[gkeep], crs=crs), crs=crs)
        out_keep = topo.outside["area_m2"].to_numpy() >= list_min
        outside = pd.DataFrame({"cadastral_no": id_of(topo.outside["parcel"].to_numpy()[out_keep]),
                                "area_ha": topo.outside["area_m2"].to_numpy()[out_keep] / HA})
        b_ha = topo.boundary_area / HA if topo.boundary_area is not None else None
        identity = None
        if b_ha is not None:
            expected = b_ha - topo.gap_area / HA + topo.outside_area / HA + topo.double_counted / HA
            identity = {"boundary_ha": b_ha, "minus_gap_ha": topo.gap_area / HA,
                        "plus_outside_ha": topo.outside_area / HA, "plus_overlap_ha": topo.double_counted / HA,
                        "expected_total_ha": expected, "total_ha": total_m2 / HA,
                        "residual_ha": total_m2 / HA - expected}
        topo_json.update({
            "boundary_ha": b_ha,
            "parcels_union_ha": topo.union_area / HA,
            "overlap_ha": topo.double_counted / HA,
            "overlap_pairs": [{"a": r.cadastral_no_a, "b": r.cadastral_no_b, "ha": float(r.area_ha)}
                              for r in overlaps.itertuples()],
            "gap_ha": topo.gap_area / HA,
            "gaps": [{"ha": float(a), "neighbours": nb} for a, nb in zip(gaps["area_ha"], gaps["neighbours"])],
            "outside_ha": topo.outside_area / HA,
            "outside": [{"cadastral_no": r.cadastral_no, "ha": float(r.area_ha)} for r in outside.itertuples()],
            "invalid_repaired": [str(x) for x in id_of(invalid)],
            "identity": identity,
            "counting": "each parcel's full area counts in its row; overlaps are counted in every "
                        "overlapping parcel and reported as overlap_ha; gaps and parts outside the "
                        "boundary are reported, not added: total_ha = boundary_ha - gap_ha + outside_ha + overlap_ha",
        })

    # ---- reconciliation
    if reported is None and ws is not None:
        for name in ("reported_balance.yaml", "reported_balance.yml", "reported_balance.csv"):
            if (ws.root / name).exists():
                reported = ws.root / name
                break
    rep = load_reported(reported)
    rcfg = rules.get("reconciliation") or {}
    abs_tol = float(abs_tolerance_ha if abs_tolerance_ha is not None else rcfg.get("abs_tolerance_ha", 0.5))
    rel_tol = float(rel_tolerance_pct if rel_tolerance_pct is not None else rcfg.get("rel_tolerance_pct", 1.0))
    reconciliation = reconcile(dict(zip(by_category["code"], by_category["area_ha"])), rep, abs_tol, rel_tol)

    # ---- what the computation could not use: said in the output (CLI, JSON, XLSX), never only logged
    warnings = [str(w) for w in (rframe.attrs.get("warnings") or [])] if rframe is not None else []
    for fname, cat_name in (("category", "land_categories"), ("land_type", "land_types"),
                            ("use_status", "use_status"), ("owner_type", "owner_types")):
        known = set(catalogue(cat_name).codes) | {UNKNOWN}
        pos, distinct = codes_pos[fname]          # the distinct codes of the attribute (no pass over parcels)
        odd_pos = [i for i, v in enumerate(distinct) if v not in known]
        odd = sorted({str(distinct[i]) for i in odd_pos})
        if odd:
            ha = float(area[np.isin(pos, odd_pos)].sum()) / HA
            warnings.append(f"parcels.{fname}: values not in layers/{cat_name}.yaml, counted apart "
                            f"({ha:,.2f} ha): {', '.join(odd[:10])}")
    # ---- provenance
    layers_used = ["parcels"] + (["boundary"] if boundary is not None else []) + \
        ([zone_layer_name] if zone_layer_name and not by_zone.empty else [])
    if rframe is not None and "source_layer" in getattr(rframe, "columns", []):
        layers_used += sorted({str(s) for s in rframe["source_layer"].dropna().unique()})
    prov_layers = []
    for name in dict.fromkeys(layers_used):
        p = ws.provenance(name) if ws is not None and "." not in name else {"layer": name}
        prov_layers.append({"layer": name, "source": p.get("source"), "source_date": p.get("source_date")})
    rule_files = [rules_version(nm, ws) for nm in ("balance", "land_categories", "land_types",
                                                     "use_status", "owner_types")]
    for extra in ("restrictions", "zoning_rules"):
        try:
            rule_files.append(rules_version(extra, ws))
        except GisPlannerError:
            pass
    provenance = {
        "workspace": (ws.name if ws is not None else None),
        "workspace_version": (ws.version if ws is not None else None),
        "crs": crs.to_string(),
        "area_method": "planar polygon areas in the workspace CRS (Kyrg-06 zone); restriction "
                       "polygons unioned per kind before intersection",
        "restrictions_from": restr_source,
        "restriction_kinds": sorted(kind_cols),
        "layers": prov_layers,
        "rules": rule_files,
        "reported_balance": str(reported) if reported is not None and not isinstance(reported, Mapping)
        else ("given" if reported else None),
        "tolerance": {"abs_ha": abs_tol, "rel_pct": rel_tol},
        "parcels": n,
        "warnings": warnings,
        "restriction_atoms": atoms_info,
        "computed_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    return Balance(total_ha=total_m2 / HA, by_category=by_category, by_land_type=by_land_type,
                   state_fund=state_fund, use_status=use_status, use_ratio=use_ratio, by_owner=by_owner,
                   by_zone=by_zone, restricted=restricted, restricted_land_type=restricted_land_type,
                   restricted_detail=restricted_detail, parcels=per_parcel,
                   parcel_restrictions=parcel_restrictions, topology=topo_json, overlaps=overlaps,
                   gaps=gaps, outside=outside, reconciliation=reconciliation, provenance=provenance,
                   groups=group_meta, land_type_parcels=land_type_parcels)


def restriction_crosstab(parcels: gpd.GeoDataFrame, restrictions: gpd.GeoDataFrame,
                         by: str = "category") -> pd.DataFrame:
    """Only the cross-tab: ha of ``parcels`` inside each restriction kind (union per kind), by ``by``.

    The lean entry point the benchmark compares with ``geopandas.overlay`` + ``groupby``.

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> p = gpd.GeoDataFrame({"category": ["a", "b"]}, geometry=[box(0, 0, 100, 100),
    ...                      box(100, 0, 200, 100)], crs=7695)
    >>> r = gpd.GeoDataFrame({"kind": ["hazard", "hazard"]}, geometry=[box(50, 0, 150, 100),
    ...                      box(60, 0, 150, 100)], crs=7695)
    >>> restriction_crosstab(p, r)["hazard"].tolist()
    [0.5, 0.5]
    """
    crs = CRS.from_user_input(parcels.crs) if parcels.crs is not None else None
    if crs is None or not crs.is_projected:
        parcels = to_metric(parcels)
        crs = CRS.from_user_input(parcels.crs)
    restrictions = _metric(restrictions, crs, "restrictions")
    index = ParcelIndex(np.asarray(parcels.geometry.values, dtype=object))
    by_kind, _ = restriction_groups(restrictions)
    cols = {k: index.areas_in(union_polygons(g)) / HA for k, g in by_kind.items()}
    df = pd.DataFrame(cols)
    df.index = pd.Index(parcels[by].astype(object).to_numpy(), name=by)
    return df.groupby(level=0, sort=True).sum()
