"""Is the DEM fit for each hazard model? Resolution, vertical error and coverage against the rules.

A hazard model is only as good as the terrain it reads: HAND flood classes of 1-3 m mean nothing on a
grid whose elevations are off by 30 m, and a 460 m grid has no 30° avalanche slopes. What each model
needs is data (``dem_fitness`` in ``layers/hazards.yaml``, each with its source); what a DEM offers
comes from

- the file: its cell size in metres (for a geographic grid, the metric size of a cell at its centre,
  the larger of the two axes);
- the product it is a copy of (``dem_products``, matched in the DEM's source text): a resampled copy
  is no finer than its product's ``native_resolution_m``;
- what the user said (``gis-planner dem set --native-resolution-m … --vertical-error-m …``), which
  overrides the product table.

A model the DEM cannot support is computed as **screening** (column ``screening`` of the computed
zones): shown and counted as such, never a reason for "prohibited" or for relocation on its own.

Example
-------
>>> from gis_planner.hazards.fitness import model_fitness
>>> prof = {"cell_m": 40.0, "native_resolution_m": 460.0, "vertical_error_m": 30.0}
>>> rules = {"dem_fitness": {"models": {"flood": {"max_cell_m": 30, "max_vertical_error_m": 1.0}}}}
>>> f = model_fitness(prof, rules)["flood"]
>>> f["fit"], [r["code"] for r in f["reasons"]]
(False, ['too_coarse', 'vertical_error'])
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from ..catalog import load_rules
from ..errors import GisPlannerError
from ..i18n import t

MODELS = ("flood", "mudflow", "landslide", "avalanche")


def _product(source: str | None, rules: dict) -> dict | None:
    """The first ``dem_products`` entry whose match text occurs in ``source`` (case-insensitive)."""
    text = (source or "").casefold()
    for p in rules.get("dem_products") or []:
        if any(str(m).casefold() in text for m in p.get("match") or []):
            return p
    return None


def raster_profile(path) -> dict:
    """Cell size (m), CRS, bounds and centre of a DEM file; geographic cells measured at the centre."""
    import rasterio
    from pyproj import CRS

    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise GisPlannerError(f"cannot read the DEM ({exc})", file=str(path),
                              fix="give a GeoTIFF elevation raster", code="bad_dem") from None
    with ds:
        if ds.crs is None:
            raise GisPlannerError("the DEM has no CRS", file=str(path),
                                  fix="assign one (e.g. gdal_edit.py -a_srs EPSG:4326 FILE)", code="missing_crs")
        crs = CRS.from_user_input(ds.crs)
        rx, ry = abs(ds.res[0]), abs(ds.res[1])
        b = ds.bounds
        if crs.is_geographic:
            lat = math.radians((b.bottom + b.top) / 2)
            # metres per degree on the WGS 84 ellipsoid at that latitude
            mx = 111412.84 * math.cos(lat) - 93.5 * math.cos(3 * lat)
            my = 111132.92 - 559.82 * math.cos(2 * lat) + 1.175 * math.cos(4 * lat)
            cell_x, cell_y = rx * mx, ry * my
        else:
            unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
            cell_x, cell_y = rx * unit, ry * unit
        return {"crs": crs, "bounds": tuple(b), "cell_x_m": float(cell_x), "cell_y_m": float(cell_y),
                "cell_m": float(max(cell_x, cell_y)), "width": ds.width, "height": ds.height}


def dem_profile(ws, path=None, source: str | None = None, notes: dict | None = None,
                rules: dict | None = None) -> dict:
    """What the workspace DEM (or ``path`` with its ``source``/``notes``) offers the hazard models.

    Returns ``cell_m`` (file cell), ``native_resolution_m`` and ``vertical_error_m`` (None when
    unknown), ``effective_cell_m`` (the coarser of file and product), ``product`` (name and source of
    the matched product, if any) and ``coverage`` of the municipality boundary (0..1, None without one).
    """
    rules = rules if rules is not None else load_rules("hazards", ws)
    if path is None:
        path = ws.dem_path
        if path is None:
            raise GisPlannerError("the workspace has no DEM (dem.tif)", file=str(ws.root),
                                  fix="add one with `gis-planner dem set FILE --source SOURCE`", code="missing_dem")
        prov = ws.provenance("dem") or {}
        source = prov.get("source") if source is None else source
        notes = prov.get("notes") if notes is None else notes
    notes = notes if isinstance(notes, dict) else {}
    prof = raster_profile(path)
    product = _product(source, rules)
    native = notes.get("native_resolution_m")
    if native is None and product is not None:
        native = product.get("native_resolution_m")
    verr = notes.get("vertical_error_m")
    if verr is None and product is not None:
        verr = product.get("vertical_error_m")
    native = float(native) if native is not None else None
    verr = float(verr) if verr is not None else None
    out = {k: prof[k] for k in ("cell_m", "cell_x_m", "cell_y_m", "bounds")}
    out.update({
        "crs": prof["crs"].to_string(),
        "source": source,
        "native_resolution_m": native,
        "vertical_error_m": verr,
        "effective_cell_m": max(prof["cell_m"], native or 0.0),
        "product": ({"name": product.get("name"), "source": product.get("source")} if product else None),
        "given_by_user": sorted(k for k in ("native_resolution_m", "vertical_error_m") if notes.get(k) is not None),
        "coverage": boundary_coverage(ws, path) if ws is not None else None,
    })
    return out


def boundary_coverage(ws, path) -> float | None:
    """Share (0..1) of the municipality boundary's area on valid DEM cells; None without a boundary."""
    import rasterio
    from rasterio.features import geometry_mask

    if ws is None or not ws.has_layer("boundary"):
        return None
    b = ws.read_layer("boundary")
    if not len(b):
        return None
    with rasterio.open(path) as ds:
        geom = shapely.union_all(b.to_crs(ds.crs).geometry.values) if b.crs is not None else None
        if geom is None or geom.is_empty:
            return None
        # read at most ~1000 x 1000 cells: coverage to a fraction of a percent is plenty
        step = max(1, int(math.ceil(max(ds.width, ds.height) / 1000)))
        h, w = int(math.ceil(ds.height / step)), int(math.ceil(ds.width / step))
        data = ds.read(1, out_shape=(h, w), masked=True)
        transform = ds.transform @ ds.transform.scale(ds.width / w, ds.height / h)
        valid = ~np.ma.getmaskarray(data)
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data.filled(np.nan))
        cell = abs(transform.a * transform.e)
        inside = ~geometry_mask([shapely.geometry.mapping(geom)], out_shape=(h, w), transform=transform,
                                all_touched=False)
        covered = float((inside & valid).sum()) * cell
        return float(min(1.0, covered / geom.area)) if geom.area > 0 else None


def model_fitness(profile: dict, rules: dict, models=MODELS) -> dict:
    """Per model: ``fit`` and the ``reasons`` (codes with their figures) it is not, from ``dem_fitness``."""
    need = (rules.get("dem_fitness") or {}).get("models") or {}
    out = {}
    for m in models:
        req = need.get(m) or {}
        reasons = []
        max_cell = req.get("max_cell_m")
        cell = profile.get("effective_cell_m") or profile.get("cell_m")
        if max_cell is not None and cell is not None and cell > float(max_cell) + 1e-9:
            reasons.append({"code": "too_coarse", "cell_m": cell, "max_cell_m": float(max_cell)})
        max_v = req.get("max_vertical_error_m")
        verr = profile.get("vertical_error_m")
        if max_v is not None:
            if verr is None:
                reasons.append({"code": "vertical_unknown", "max_vertical_error_m": float(max_v)})
            elif verr > float(max_v) + 1e-9:
                reasons.append({"code": "vertical_error", "vertical_error_m": verr,
                                "max_vertical_error_m": float(max_v)})
        out[m] = {"fit": not reasons, "reasons": reasons, "source": req.get("source"),
                  "max_cell_m": max_cell, "max_vertical_error_m": max_v}
    return out


def check_coverage(profile: dict, rules: dict, ws=None, file: str | None = None) -> None:
    """Refuse a DEM that does not cover the municipality boundary (naming both extents)."""
    cov = profile.get("coverage")
    need = float((rules.get("dem_fitness") or {}).get("min_boundary_coverage", 0.99))
    if cov is None or cov >= need:
        return
    bext = "?"
    if ws is not None and ws.has_layer("boundary"):
        b = ws.read_layer("boundary")
        if len(b):
            bext = _extent(b.to_crs(4326).total_bounds)
    dext = _extent(_lonlat_bounds(profile))
    raise GisPlannerError(
        f"the DEM covers {cov:.1%} of the municipality boundary (needs {need:.0%}): DEM extent {dext}, "
        f"boundary extent {bext} (lon/lat)",
        file=file or profile.get("source"),
        fix="use a DEM that covers the whole municipality (e.g. a larger window of the same product)",
        code="dem_not_covering")


def _lonlat_bounds(profile: dict):
    from pyproj import Transformer

    x0, y0, x1, y1 = profile["bounds"]
    tr = Transformer.from_crs(profile["crs"], 4326, always_xy=True)
    xs, ys = tr.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return min(xs), min(ys), max(xs), max(ys)


def _extent(b) -> str:
    return f"{b[0]:.4f}, {b[1]:.4f} – {b[2]:.4f}, {b[3]:.4f}"


def screening_models(ws, rules: dict | None = None, profile: dict | None = None) -> dict[str, dict]:
    """``{model: fitness}`` for the models the workspace DEM cannot support (empty when all are fit)."""
    rules = rules if rules is not None else load_rules("hazards", ws)
    profile = profile if profile is not None else dem_profile(ws, rules=rules)
    return {m: f for m, f in model_fitness(profile, rules).items() if not f["fit"]}


def fitness_report(ws, lang: str | None = None, check: bool = False, **profile_kw) -> tuple[dict, dict, list[str]]:
    """``(profile, fitness per model, lines for a person)`` of the workspace DEM (or of ``path=`` with its
    ``source=``/``notes=``); with ``check`` a DEM that does not cover the municipality is refused."""
    rules = load_rules("hazards", ws)
    prof = dem_profile(ws, rules=rules, **profile_kw)
    if check:
        check_coverage(prof, rules, ws, file=str(profile_kw.get("path") or ws.dem_path))
    fit = model_fitness(prof, rules)
    return prof, fit, describe(prof, fit, lang)


def _num(x: float, lang: str | None) -> str:
    from ..report.fmt import fmt_number

    return fmt_number(x, lang or "ky", 1 if abs(x) < 10 else 0)


def describe(profile: dict, fitness: dict, lang: str | None = None) -> list[str]:
    """Lines a person reads: what the DEM is, and for each model fit or screening, and why."""
    from ..i18n import label

    lines = [t("hazards.fit.dem", lang, cell=_num(profile["cell_m"], lang),
               native=(_num(profile["native_resolution_m"], lang) if profile.get("native_resolution_m")
                       else t("hazards.fit.unknown", lang)),
               vertical=(_num(profile["vertical_error_m"], lang) if profile.get("vertical_error_m") is not None
                         else t("hazards.fit.unknown", lang)),
               product=(profile.get("product") or {}).get("name") or t("hazards.fit.unknown_product", lang))]
    if profile.get("coverage") is not None:
        lines.append(t("hazards.fit.coverage", lang, share=_num(100 * profile["coverage"], lang)))
    for m, f in fitness.items():
        name = label("hazards", m, lang)
        if f["fit"]:
            lines.append(t("hazards.fit.model_fit", lang, hazard=name))
            continue
        why = "; ".join(reason_text(r, lang) for r in f["reasons"])
        lines.append(t("hazards.fit.model_screening", lang, hazard=name, why=why))
    return lines


def reason_text(r: dict, lang: str | None = None) -> str:
    """One reason of :func:`model_fitness` as text."""
    args = {k: _num(v, lang) for k, v in r.items() if isinstance(v, (int, float))}
    return t(f"hazards.fit.reason.{r['code']}", lang, **args)


def notes_for(native_resolution_m: float | None, vertical_error_m: float | None) -> dict[str, Any]:
    """The DEM provenance notes that carry what the user said about the DEM (only the given values)."""
    out: dict[str, Any] = {}
    if native_resolution_m is not None:
        out["native_resolution_m"] = float(native_resolution_m)
    if vertical_error_m is not None:
        out["vertical_error_m"] = float(vertical_error_m)
    return out
