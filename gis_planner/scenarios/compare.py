"""Running scenarios end to end and comparing them side by side (one table, small-multiple maps).

>>> from gis_planner.scenarios import run_scenario, compare_table       # doctest: +SKIP
>>> results = run_many(ws, ["baseline", "irrigation", "tourism", "high_growth"])  # doctest: +SKIP
>>> compare_table(results, "ru")                                       # doctest: +SKIP
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import GisPlannerError
from ..i18n import t
from ..outputs import all_or_nothing
from ..text import literal_figure_text, safe_table
from . import shared
from .allocate import Allocation, allocate, load_context
from .consequences import Consequences, consequences, label_table
from .demand import Demand, demand
from .model import Scenario, find_scenario

USE_COLORS = {"housing": "#e41a1c", "multistorey_housing": "#a50f15", "social_facility": "#984ea3",
              "industry": "#636363", "tourism_facility": "#ff7f00", "irrigated_agriculture": "#1f78b4",
              "perennial_crop": "#33a02c"}


@dataclass
class ScenarioResult:
    """Demand, allocation and consequences of one scenario on one workspace."""

    scenario: Scenario
    demand: Demand
    allocation: Allocation
    consequences: Consequences

    @property
    def id(self) -> str:
        return self.scenario.id

    def to_json(self, lang: str = "en") -> dict:
        c = self.consequences
        return {
            "scenario": self.scenario.to_dict(),
            "steps": [{"key": s.key, "chain": s.chain, "label": s.label(lang), "formula": s.formula,
                       "result": s.as_row(lang)["result"], "unit": s.unit, "source": s.source}
                      for s in self.demand.steps],
            "demand": self.demand.summary(),
            "allocation": self.allocation.summary.to_dict(orient="records"),
            "densification": self.allocation.densification,
            "villages": ([] if self.allocation.villages is None
                         else self.allocation.villages.astype(object).where(self.allocation.villages.notna(), None)
                         .to_dict(orient="records")),
            "unmet_options": self.allocation.unmet_options,
            "transformations": c.transformations.to_dict(orient="records"),
            "land_loss": c.land_loss.to_dict(orient="records"),
            "hazard_exposure": c.hazard_exposure.to_dict(orient="records"),
            "infrastructure": c.infrastructure.to_dict(orient="records"),
            "balance": c.balance.to_dict(orient="records"),
            "indicators": c.indicators,
            "warnings": self.allocation.warnings,
            "provenance": c.provenance,
        }


def run_scenario(ws: Any, scenario: Scenario | str, *, parcels: gpd.GeoDataFrame | None = None,
                 context=None, uses: list[str] | None = None, with_procedure: bool = True) -> ScenarioResult:
    """Demand → allocation → consequences for one scenario (a :class:`Scenario`, a path or a name)."""
    scn = scenario if isinstance(scenario, Scenario) else find_scenario(scenario, ws)
    dem = demand(scn, ws)
    if parcels is None and context is None and hasattr(ws, "gpkg"):
        parcels, context = shared.inputs(ws)      # read once per data version (as run_many and the app)
    if parcels is None:
        parcels = ws.read_layer("parcels")
    parcels = parcels.reset_index(drop=True)
    ctx = context or load_context(ws, parcels)
    alloc = allocate(ws, dem, parcels=parcels, context=ctx,
                     uses=uses or scn.allocation.get("uses"))
    cons = consequences(ws, scn, dem, alloc, parcels=parcels, context=ctx, with_procedure=with_procedure)
    return ScenarioResult(scn, dem, alloc, cons)


def run_many(ws: Any, scenarios: list[Scenario | str]) -> list[ScenarioResult]:
    """Run several scenarios on one workspace, reading its layers once."""
    if not scenarios:
        raise GisPlannerError("no scenarios to compare", fix="name at least one scenario", code="bad_scenario")
    parcels, ctx = shared.inputs(ws)
    return [run_scenario(ws, s, parcels=parcels, context=ctx, with_procedure=False) for s in scenarios]


def compare_table(results: list[ScenarioResult], lang: str = "en") -> pd.DataFrame:
    """One table: an indicator per row, a scenario per column (labels in ``lang``)."""
    from .model import USES

    seen: list[str] = []
    for r in results:
        for k in r.consequences.indicators:
            if k not in seen:
                seen.append(k)
    # land by use right after the house plots, in the fixed order of uses, for every scenario
    land = [f"land_{u}_ha" for u in USES if f"land_{u}_ha" in seen]
    others = [k for k in seen if k not in land]
    at = others.index("plots_unmet") + 1 if "plots_unmet" in others else len(others)
    keys = others[:at] + land + others[at:]
    data = {r.scenario.title(lang): [_round(r.consequences.indicators.get(k, 0)) for k in keys] for r in results}
    labels = []
    for k in keys:
        if k.startswith("land_") and k.endswith("_ha") and k not in ("land_allocated_ha", "land_unmet_ha"):
            use = k[len("land_"):-len("_ha")]
            labels.append(t("scenarios.ind.land_use_ha", lang, use=t(f"scenarios.use.{use}", lang)))
        else:
            labels.append(t(f"scenarios.ind.{k}", lang))
    df = pd.DataFrame(data)
    df.insert(0, t("scenarios.col.indicator", lang), labels)
    df.attrs["keys"] = list(keys)   # the indicator of each row (the app formats counts, areas and money by it)
    df.attrs["units"] = [indicator_unit(k) for k in keys]   # and shows its unit (scenarios.unit.*)
    return df


# the unit of each count indicator of compare_table (areas end in _ha, money in mio_som)
_COUNT_UNITS = {"population_base": "people", "population_horizon": "people", "households_new": "households",
                "plots_demand": "plots", "plots_allocated": "plots", "plots_unmet": "plots",
                "transformations": "parcels", "schools_new": "facilities", "kindergartens_new": "facilities",
                "clinics_new": "facilities"}


def indicator_unit(key: str) -> str:
    """The unit code (``scenarios.unit.<code>``) of an indicator of :func:`compare_table`.

    >>> [indicator_unit(k) for k in ("land_housing_ha", "run_mio_som_per_year", "build_mio_som", "plots_unmet")]
    ['ha', 'mio_som_year', 'mio_som', 'plots']
    """
    if key.endswith("_ha"):
        return "ha"
    if key.endswith("mio_som_per_year"):
        return "mio_som_year"
    if key.endswith("mio_som"):
        return "mio_som"
    return _COUNT_UNITS.get(key, "")


def _round(v: Any) -> Any:
    return round(v, 2) if isinstance(v, float) else v


@literal_figure_text
def plot_maps(results: list[ScenarioResult], parcels: gpd.GeoDataFrame, path: str | Path, lang: str = "en",
              hazards: gpd.GeoDataFrame | None = None, settlements: gpd.GeoDataFrame | None = None,
              ncols: int | None = None, exclusions: gpd.GeoDataFrame | None = None,
              zoom_m: float | None = None) -> Path:
    """Small-multiple maps (one panel per scenario) of the allocated land, as a PNG.

    ``exclusions`` (restriction frame rows of the kinds sanitary_zone / infrastructure / terrain) are
    outlined; ``zoom_m`` frames the settlements and the allocated land with that margin instead of
    the whole municipality.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    k = max(len(results), 1)
    ncols = ncols or min(k, 2 if k == 4 else 3)
    nrows = int(np.ceil(k / ncols))
    minx, miny, maxx, maxy = parcels.total_bounds
    if zoom_m is not None:
        frames = [r.allocation.pieces for r in results if len(r.allocation.pieces)]
        frames += [settlements] if settlements is not None and len(settlements) else []
        if frames:
            b = np.array([f.total_bounds for f in frames])
            minx, miny = b[:, 0].min() - zoom_m, b[:, 1].min() - zoom_m
            maxx, maxy = b[:, 2].max() + zoom_m, b[:, 3].max() + zoom_m
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    width = 5.2 if k > 1 else 9.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, max(width * aspect + 1.3, 2.8) * nrows + 1.0),
                             squeeze=False)
    used = set()
    for ax, r in zip(axes.ravel(), results):
        parcels.plot(ax=ax, facecolor="#f4f1e8", edgecolor="#bdbdbd", linewidth=0.2)
        if exclusions is not None and len(exclusions):
            for kind, color in (("sanitary_zone", "#7b3294"), ("infrastructure", "#525252"), ("terrain", "#8c510a")):
                sel = exclusions[exclusions["kind"] == kind]
                if len(sel):
                    sel.plot(ax=ax, facecolor=color, edgecolor=color, alpha=0.18, linewidth=0.6)
        if settlements is not None and len(settlements):
            settlements.plot(ax=ax, facecolor="#fcbba1", edgecolor="#cb181d", linewidth=0.4, alpha=0.6)
        if hazards is not None and len(hazards):
            hazards.plot(ax=ax, facecolor="none", edgecolor="#b2182b", hatch="///", linewidth=0.3)
        pcs = r.allocation.pieces
        for use, grp in pcs.groupby("use", sort=True) if len(pcs) else []:
            grp.plot(ax=ax, color=USE_COLORS.get(use, "#000000"), linewidth=0)
            used.add(use)
        if len(pcs) and "protected_farmland" in pcs.columns:      # farmland the Land Code protects: hatched
            prot = pcs[pcs["protected_farmland"].fillna(False).astype(bool)]
            if len(prot):
                import shapely

                outline = shapely.union_all(shapely.buffer(np.asarray(prot.geometry.values), 1.0))
                gpd.GeoSeries([outline], crs=prot.crs).plot(ax=ax, facecolor="none", edgecolor="#000000",
                                                           linewidth=0.9)
                used.add("_protected")
        ind = r.consequences.indicators
        sub = t("scenarios.map.subtitle", lang, ha=f"{ind['land_allocated_ha']:.1f}", plots=ind["plots_allocated"],
                unmet=ind["plots_unmet"])
        ax.set_title(f"{r.scenario.title(lang)}\n{sub}",
                     fontsize=9)
        ax.set_xlim(minx, maxx)
        ax.set_ylim(miny, maxy)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_yticks([])
    for ax in axes.ravel()[len(results):]:
        ax.axis("off")
    handles = [Patch(color=USE_COLORS[u], label=t(f"scenarios.use.{u}", lang)) for u in USE_COLORS if u in used]
    if "_protected" in used:
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=0.9,
                             label=t("scenarios.col.protected_farmland", lang)))
    if exclusions is not None and len(exclusions):
        handles += [Patch(color=c, alpha=0.35, label=t(f"zoning.kind.{k}", lang))
                    for k, c in (("sanitary_zone", "#7b3294"), ("infrastructure", "#525252"), ("terrain", "#8c510a"))
                    if (exclusions["kind"] == k).any()]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
    fig.suptitle(t("scenarios.map.title", lang), fontsize=11)
    rows_legend = int(np.ceil(len(handles) / 3)) if handles else 0
    fig.tight_layout(rect=(0, min(0.04 + 0.035 * rows_legend * 6 / fig.get_figheight(), 0.3), 1, 0.95))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@all_or_nothing("out_dir")
def write_outputs(result: ScenarioResult, out_dir: str | Path, lang: str = "en", ws: Any = None) -> dict:
    """Write one scenario's outputs: steps and consequence tables (CSV), the transformation files (XLSX,
    when the zoning package made them), pieces (GeoJSON, WGS 84) and everything as JSON."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    sid = result.id
    files["steps"] = out / f"{sid}_steps.csv"
    safe_table(result.demand.steps_table(lang)).to_csv(files["steps"], index=False)
    c = result.consequences
    for name, df in (("allocation", result.allocation.summary), ("transformations", c.transformations),
                     ("land_loss", c.land_loss), ("hazard_exposure", c.hazard_exposure),
                     ("infrastructure", c.infrastructure), ("balance", c.balance)):
        files[name] = out / f"{sid}_{name}.csv"
        safe_table(label_table(df, lang)).to_csv(files[name], index=False)
    pcs = c.allocated
    if c.procedure is not None and len(c.procedure):
        try:
            from ..zoning import write_transformation

            files["transformation_files"] = write_transformation(c.procedure, out / f"{sid}_transformation_files.xlsx",
                                                                 lang, ws)
        except ImportError:
            pass
    files["pieces"] = out / f"{sid}_allocated.geojson"
    if len(pcs):
        pcs.to_crs(4326).to_file(files["pieces"], driver="GeoJSON")
    else:
        files["pieces"].write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    files["json"] = out / f"{sid}.json"
    from ..cli.common import _jsonable

    files["json"].write_text(json.dumps(_jsonable(result.to_json(lang)), ensure_ascii=False, indent=2, default=str),
                             encoding="utf-8")
    return {k: str(v) for k, v in files.items()}


def save_to_workspace(ws: Any, result: ScenarioResult) -> str:
    """Store the allocated pieces as the workspace layer ``scenario_<id>`` (atomic write)."""
    name = "scenario_" + "".join(ch if ch.isalnum() else "_" for ch in result.id)
    pcs = result.consequences.allocated.copy()
    for col in pcs.columns:
        if col != "geometry" and pcs[col].dtype == object:
            pcs[col] = pcs[col].map(lambda v: None if v is None else str(v))
    ws.write_layer(name, pcs, source=f"gis_planner scenario {result.id}",
                   notes={"indicators": result.consequences.indicators})
    return name


__all__ = ["ScenarioResult", "run_scenario", "run_many", "compare_table", "indicator_unit", "plot_maps", "write_outputs",
           "save_to_workspace", "USE_COLORS"]
