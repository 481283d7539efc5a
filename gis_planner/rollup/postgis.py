"""PostGIS mode: the balance by category and the restriction cross-tab by SQL push-down.

For a shared server: parcels, restrictions and municipalities are loaded once into PostgreSQL/PostGIS
(:func:`load_national`, GiST indexes), and :func:`postgis_rollup` computes, inside the database,

* the balance by land category per municipality (``SUM(ST_Area)``, ``COUNT``), and
* the cross-tab: ha of each category inside each restriction kind and inside ``any`` restriction.

The SQL follows the Python engine (:mod:`gis_planner.balance.engine`) step by step, so the numbers are
the same (relative difference < 1e-9):

1. **union within kind**, per cell of a square grid (``ST_SquareGrid``) so the union stays local on a
   national layer: ``ST_Union(ST_Intersection(geom, cell))`` per kind and cell, then
   ``ST_Subdivide(…, 256)`` into small non-overlapping pieces (GiST-indexed);
2. a parcel **covered** by a piece (``ST_Covers``) counts its full ``ST_Area``;
3. only parcels crossing a piece boundary are clipped (``ST_Intersection``);
4. sums per municipality, category and kind; ``unrestricted = total − any``.

Categories (and land types, use status, owner types) are normalised to catalogue codes on loading,
exactly as :func:`gis_planner.balance.compute_balance` does; invalid polygons are repaired the same way.

Example
-------
>>> from gis_planner.devtools.pgserver import PgServer          # doctest: +SKIP
>>> with PgServer() as pg:                                       # doctest: +SKIP
...     load_national(pg.url, "benchmarks/out/national")
...     res = postgis_rollup(pg.url)
"""
from __future__ import annotations

import re
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..balance.core import ANY, _clean_polygons, _codes
from ..errors import GisPlannerError
from .compute import LONG_COLUMNS, roll_up
from .store import HAZARDS, PARCELS_DIR, RESTRICTIONS, NationalSet

PARCEL_ATTRS = (("category", "land_categories"), ("land_type", "land_types"),
                ("use_status", "use_status"), ("owner_type", "owner_types"))
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _dsn(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def connect(url: str):
    import psycopg

    from ..text import register_secret

    register_secret(url)
    try:
        return psycopg.connect(_dsn(url), autocommit=True)
    except psycopg.OperationalError as exc:
        raise GisPlannerError(f"cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]})", file=url,
                              fix="check the URL, or start a server (python -m gis_planner.devtools.pgserver)",
                              code="db_unreachable") from None


def _schema(schema: str) -> str:
    if not _IDENT.match(schema):
        raise GisPlannerError(f"'{schema}' is not a plain schema name", fix="use lower-case letters, digits, _",
                              code="bad_option")
    return schema


def _srid(cur, crs) -> int:
    epsg = crs.to_epsg() if crs is not None else None
    if epsg:
        cur.execute("SELECT 1 FROM spatial_ref_sys WHERE srid = %s", (epsg,))
        if cur.fetchone():
            return int(epsg)
    return 0


def _copy(cur, table: str, columns: list[str], df: pd.DataFrame, geoms: np.ndarray, srid: int) -> None:
    geoms = shapely.set_srid(np.asarray(geoms, dtype=object), srid) if srid else geoms
    wkb = shapely.to_wkb(geoms, hex=True, include_srid=bool(srid))
    cols = ", ".join([*columns, "geom"])
    data = [df[c].astype(object).where(df[c].notna(), None).to_numpy() for c in columns]
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for i in range(len(wkb)):
            cp.write_row([*(None if d[i] is None else str(d[i]) for d in data), wkb[i]])


def create_schema(cur, schema: str, srid: int) -> None:
    s = _schema(schema)
    cur.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    cur.execute(f"CREATE SCHEMA {s}")
    cur.execute(f"CREATE TABLE {s}.municipalities (code text PRIMARY KEY, name text, district text, oblast text,"
                f" geom geometry(Geometry, {srid}))")
    cur.execute(f"CREATE TABLE {s}.parcels (id bigserial PRIMARY KEY, municipality text NOT NULL, cadastral_no text,"
                f" category text, land_type text, use_status text, owner_type text, geom geometry(Geometry, {srid}))")
    cur.execute(f"CREATE TABLE {s}.restrictions (id bigserial PRIMARY KEY, kind text NOT NULL, subtype text,"
                f" level text, geom geometry(Geometry, {srid}))")


def load_frames(cur, schema: str, srid: int, *, parcels: gpd.GeoDataFrame | None = None,
                restrictions: gpd.GeoDataFrame | None = None,
                municipalities: gpd.GeoDataFrame | None = None) -> None:
    """Append frames to the tables of ``schema`` (parcels need a ``municipality`` column)."""
    s = _schema(schema)
    if municipalities is not None and len(municipalities):
        g, _ = _clean_polygons(municipalities, "municipality polygons")
        _copy(cur, f"{s}.municipalities", ["code", "name", "district", "oblast"], municipalities, g, srid)
    if parcels is not None and len(parcels):
        if "municipality" not in parcels.columns:
            raise GisPlannerError("the parcels have no 'municipality' field", file="parcels",
                                  fix="assign parcels with gis_planner.rollup.assign_municipality", code="missing_field")
        g, _ = _clean_polygons(parcels, "parcels")
        df = pd.DataFrame({"municipality": parcels["municipality"].astype(str).to_numpy(),
                           "cadastral_no": parcels["cadastral_no"].astype(str).to_numpy()
                           if "cadastral_no" in parcels else np.arange(len(parcels)).astype(str)})
        for col, cat in PARCEL_ATTRS:
            df[col] = _codes(parcels[col], cat) if col in parcels.columns else "unknown"
        _copy(cur, f"{s}.parcels", ["municipality", "cadastral_no", *(c for c, _ in PARCEL_ATTRS)], df, g, srid)
    if restrictions is not None and len(restrictions):
        g, _ = _clean_polygons(restrictions, "restriction polygons")
        df = pd.DataFrame({c: (restrictions[c].astype(object).to_numpy() if c in restrictions else None)
                           for c in ("kind", "subtype", "level")})
        _copy(cur, f"{s}.restrictions", ["kind", "subtype", "level"], df, g, srid)


def index_schema(cur, schema: str) -> None:
    s = _schema(schema)
    for t in ("municipalities", "parcels", "restrictions"):
        cur.execute(f"CREATE INDEX ON {s}.{t} USING gist (geom)")
        cur.execute(f"ANALYZE {s}.{t}")
    cur.execute(f"CREATE INDEX ON {s}.parcels (municipality)")


def load_national(url: str, root, schema: str = "rollup", *, hazards_as_restrictions: bool = True,
                  codes: list[str] | None = None, storage_options: dict | None = None) -> dict:
    """Load a national set into PostGIS, one municipality partition at a time (bounded memory).

    Hazard zones become restriction rows of kind ``hazard`` (as in the Python path).
    Returns timings and row counts.
    """
    from .compute import hazard_restrictions

    s = NationalSet(root, storage_options)
    st = s.store
    t0 = time.perf_counter()
    munis = s.municipalities()
    counts = {"parcels": 0, "restrictions": 0}
    with connect(url) as conn, conn.cursor() as cur:
        srid = _srid(cur, munis.crs)
        create_schema(cur, schema, srid)
        load_frames(cur, schema, srid, municipalities=munis)
        for code in (codes if codes is not None else s.codes()):
            p = st.read_parquet(PARCELS_DIR, f"{code}.parquet")
            p["municipality"] = str(code)
            load_frames(cur, schema, srid, parcels=p)
            counts["parcels"] += len(p)
        restr = st.read_parquet(RESTRICTIONS) if st.exists(RESTRICTIONS) else None
        frames = [restr]
        # as in the Python path: hazard zones enter as kind 'hazard' unless the frame already has that kind
        if hazards_as_restrictions and st.exists(HAZARDS) and \
                (restr is None or not (restr["kind"] == "hazard").any()):
            frames.append(hazard_restrictions(st.read_parquet(HAZARDS)))
        for f in frames:
            if f is not None and len(f):
                if f.crs != munis.crs:
                    f = f.to_crs(munis.crs)
                load_frames(cur, schema, srid, restrictions=f)
                counts["restrictions"] += len(f)
        index_schema(cur, schema)
    counts["load_s"] = time.perf_counter() - t0
    return counts


def load_workspace_frames(url: str, schema: str, parcels: gpd.GeoDataFrame, restrictions: gpd.GeoDataFrame | None,
                          municipalities: gpd.GeoDataFrame) -> None:
    """Load in-memory frames (tests, small collections) into a fresh schema."""
    with connect(url) as conn, conn.cursor() as cur:
        srid = _srid(cur, parcels.crs)
        create_schema(cur, schema, srid)
        load_frames(cur, schema, srid, parcels=parcels, restrictions=restrictions, municipalities=municipalities)
        index_schema(cur, schema)


def crosstab_sql(schema: str, cell_m: float = 20_000.0, max_vertices: int = 256, *, oblast: bool = False) -> list[str]:
    """The SQL statements of the push-down (last one returns the rows).

    With ``oblast`` the statements take the parameter ``%(oblast)s``: only the restriction polygons whose
    box meets that oblast's parcels are unioned, and only its parcels are summed (one session per oblast).
    """
    s = _schema(schema)
    cell = float(cell_m)
    mv = int(max_vertices)
    restr = f"{s}.restrictions"
    where_p = ""
    pre = ["DROP TABLE IF EXISTS pg_temp.rollup_pieces"]
    if oblast:
        mine = f"SELECT code FROM {s}.municipalities WHERE oblast = %(oblast)s"
        pre += ["DROP TABLE IF EXISTS pg_temp.rollup_restr",
                f"""CREATE TEMP TABLE rollup_restr AS
                    SELECT r.* FROM {s}.restrictions r,
                         (SELECT ST_Extent(geom)::geometry AS e FROM {s}.parcels WHERE municipality IN ({mine})) x
                    WHERE r.geom && ST_SetSRID(x.e, ST_SRID(r.geom))"""]
        restr = "pg_temp.rollup_restr"
        where_p = f"WHERE p.municipality IN ({mine})"
    return [
        *pre,
        # 1. union within kind (and over all kinds: 'any') per grid cell, cut into small pieces
        f"""CREATE TEMP TABLE rollup_pieces AS
            WITH ext AS (SELECT ST_Expand(ST_Extent(geom)::geometry, 1) AS e, ST_SRID(min(geom)) AS srid
                         FROM {restr}),
                 cells AS (SELECT ST_SetSRID(g.geom, ext.srid) AS geom
                           FROM ext, ST_SquareGrid({cell}, ST_SetSRID(ext.e, ext.srid)) AS g),
                 clipped AS (
                     SELECT k.kind, c.geom AS cell,
                            ST_CollectionExtract(ST_Intersection(r.geom, c.geom), 3) AS geom
                     FROM {restr} r
                     JOIN cells c ON r.geom && c.geom AND ST_Intersects(r.geom, c.geom)
                     CROSS JOIN LATERAL (VALUES (r.kind), ('{ANY}')) AS k(kind)),
                 unions AS (SELECT kind, ST_Union(geom) AS geom FROM clipped
                            WHERE NOT ST_IsEmpty(geom) GROUP BY kind, cell)
            SELECT kind, ST_Subdivide(geom, {mv}) AS geom FROM unions""",
        "CREATE INDEX ON rollup_pieces USING gist (geom)",
        "ANALYZE rollup_pieces",
        # 2-4. covered parcels count whole, crossing ones are clipped; sums per municipality/category/kind.
        # The area is taken in a subquery the planner may not flatten (OFFSET 0): grouped directly, a
        # sort-based aggregate sorted every (parcel, piece) pair with both geometries as its input rows —
        # at 30.4 M parcels > 60 GB of temporary files (benchmarks/results_rollup.md, 2026-12-06)
        f"""SELECT municipality, category, kind, SUM(a) / 10000.0 AS ha
            FROM (SELECT p.municipality, p.category, k.kind,
                         CASE WHEN ST_Covers(k.geom, p.geom) THEN ST_Area(p.geom)
                              ELSE ST_Area(ST_Intersection(p.geom, k.geom)) END AS a
                  FROM {s}.parcels p JOIN rollup_pieces k ON p.geom && k.geom AND ST_Intersects(p.geom, k.geom)
                  {where_p}
                  OFFSET 0) pairs
            GROUP BY 1, 2, 3""",
    ]


def _session(url: str, schema: str, cell_m: float, oblast: str | None) -> tuple[list, list, float]:
    """One database session: the balance and cross-tab rows of one oblast (or of all, ``oblast=None``)."""
    s = _schema(schema)
    t0 = time.perf_counter()
    params = {"oblast": oblast} if oblast is not None else None
    where = (f" WHERE municipality IN (SELECT code FROM {s}.municipalities WHERE oblast = %(oblast)s)"
             if oblast is not None else "")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT municipality, category, SUM(ST_Area(geom)) / 10000.0, COUNT(*) "
                    f"FROM {s}.parcels{where} GROUP BY 1, 2", params)
        bal = cur.fetchall()
        stmts = crosstab_sql(s, cell_m, oblast=oblast is not None)
        for q in stmts[:-1]:
            cur.execute(q, params if "%(oblast)s" in q else None)
        cur.execute(stmts[-1], params if "%(oblast)s" in stmts[-1] else None)
        xt = cur.fetchall()
    return bal, xt, time.perf_counter() - t0


def postgis_rollup(url: str, schema: str = "rollup", cell_m: float = 20_000.0, sessions: int = 1) -> "RollupResult":
    """Balance by category and restriction cross-tab per municipality, computed inside PostGIS, rolled up.

    ``sessions`` > 1 runs one database session per oblast, that many at a time (each unions only the
    restriction polygons near its oblast's parcels and sums only its parcels; a parcel is in exactly one
    municipality, so in exactly one oblast: the oblast results add up to the one-session result).

    Returns a :class:`~gis_planner.rollup.driver.RollupResult` with the tables ``balance``
    (``area_ha``, ``parcels``) and ``restricted`` (kinds, ``any``, ``unrestricted``, ``total``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from .driver import RollupResult

    s = _schema(schema)
    t0 = time.perf_counter()
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{s}.parcels",))
        if cur.fetchone()[0] is None:
            raise GisPlannerError(f"no parcels table in schema '{s}'", file=url,
                                  fix="load the data first: gis-planner rollup pg-load", code="missing_layer")
        cur.execute(f"SELECT code, name, district, oblast FROM {s}.municipalities")
        hierarchy = pd.DataFrame(cur.fetchall(), columns=["code", "name", "district", "oblast"])
    if sessions > 1:
        oblasts = sorted(hierarchy["oblast"].dropna().astype(str).unique())
        with ThreadPoolExecutor(max_workers=int(sessions)) as pool:
            runs = list(pool.map(lambda o: _session(url, s, cell_m, o), oblasts))
    else:
        runs = [_session(url, s, cell_m, None)]
    bal = pd.DataFrame([r for b, _, _ in runs for r in b], columns=["municipality", "category", "area_ha", "parcels"])
    xt = pd.DataFrame([r for _, x, _ in runs for r in x], columns=["municipality", "category", "kind", "ha"])
    bal["area_ha"] = bal["area_ha"].astype(float)
    bal["parcels"] = bal["parcels"].astype(float)
    xt["ha"] = xt["ha"].astype(float)
    rows = []
    b = bal.melt(id_vars=["municipality", "category"], value_vars=["area_ha", "parcels"], var_name="col")
    rows.append(pd.DataFrame({"municipality": b["municipality"], "table": "balance", "row": b["category"],
                              "col": b["col"], "value": b["value"].astype(float)}))
    rows.append(pd.DataFrame({"municipality": xt["municipality"], "table": "restricted", "row": xt["category"],
                              "col": xt["kind"], "value": xt["ha"]}))
    tot = bal.set_index(["municipality", "category"])["area_ha"]
    anyv = xt[xt["kind"] == ANY].set_index(["municipality", "category"])["ha"].reindex(tot.index, fill_value=0.0)
    for col, v in (("total", tot), ("unrestricted", np.maximum(tot - anyv, 0.0))):
        rows.append(pd.DataFrame({"municipality": tot.index.get_level_values(0), "table": "restricted",
                                  "row": tot.index.get_level_values(1), "col": col, "value": v.to_numpy()}))
    # kinds absent in a municipality/category are zeros in the Python tables: add them so cells line up
    long = pd.concat(rows, ignore_index=True)[LONG_COLUMNS]
    kinds = sorted(set(xt["kind"]))
    have = set(zip(long["municipality"], long["row"], long["col"]))
    extra = [(m, "restricted", c, k, 0.0) for (m, c) in tot.index for k in kinds if (m, c, k) not in have]
    if extra:
        long = pd.concat([long, pd.DataFrame(extra, columns=LONG_COLUMNS)], ignore_index=True)
    stats = {"engine": "postgis", "wall_s": time.perf_counter() - t0, "municipalities": int(hierarchy.shape[0]),
             "parcels": int(bal["parcels"].sum()), "sessions": int(max(1, sessions)),
             "largest_session_s": round(max(r[2] for r in runs), 1), "session_s_total": round(sum(r[2] for r in runs), 1)}
    return RollupResult(long, roll_up(long, hierarchy), hierarchy, stats)


def python_subset(levels: dict, tables=("balance", "restricted")) -> dict:
    """Only the tables PostGIS computes (for comparing the two paths)."""
    return {k: v[v["table"].isin(tables)].reset_index(drop=True) for k, v in levels.items()}


__all__ = ["load_national", "load_workspace_frames", "postgis_rollup", "crosstab_sql", "python_subset", "connect"]
