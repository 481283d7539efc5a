"""People-facing text of the growth rules: unmet demand per village with its alternatives, the scenario
base (workspace or scenario) and plausibility notes. One place for the CLI, the app and the report."""
from __future__ import annotations

import pandas as pd

from ..i18n import t
from ..report.fmt import fmt_number


def village_table(alloc, lang: str = "en") -> pd.DataFrame:
    """Per village and growth use: demand, allocated, unmet (and the plots its land could hold)."""
    v = getattr(alloc, "villages", None)
    if v is None or not len(v):
        return pd.DataFrame()
    out = v.copy()
    for c in ("demand", "allocated", "unmet"):           # whole plots, hectares to 0.01
        out[c] = [fmt_number(x, lang, 0 if u == "plots" else 2) for x, u in zip(out[c], v["unit"])]
    out["capacity"] = ["" if x is None or x != x else fmt_number(x, lang, 0) for x in out["capacity"]]
    out["use"] = [t(f"scenarios.use.{u}", lang) for u in out["use"]]
    out["unit"] = [t(f"scenarios.unit.{u}", lang) for u in out["unit"]]
    out.columns = [t(f"scenarios.col.{c}", lang) for c in out.columns]
    return out


def unmet_lines(alloc, lang: str = "en") -> list[str]:
    """One paragraph per village with unmet housing demand: the four alternatives with their numbers."""
    lines = []
    for o in getattr(alloc, "unmet_options", None) or []:
        parts = [t("scenarios.unmet.village", lang, village=o["village"], plots=fmt_number(o["unmet_plots"], lang, 0),
                   distance=fmt_number(o["growth_distance_m"], lang, 0))]
        parts.append("• " + t("scenarios.unmet.densify", lang, plots=o["densification_plots"]))
        parts.append("• " + t("scenarios.unmet.multistorey", lang, ha=fmt_number(o["multistorey_ha"], lang, 2)))
        if o["other_villages"]:
            others = ", ".join(f"{x['village']} ({x['spare_plots']})" for x in o["other_villages"])
            parts.append("• " + t("scenarios.unmet.other", lang, villages=others))
        else:
            parts.append("• " + t("scenarios.unmet.other_none", lang))
        if o["council_land"]:
            parts.append("• " + t("scenarios.unmet.council", lang, land=""))
            for c in o["council_land"]:
                parts.append("   – " + t("scenarios.unmet.council_item", lang, cadastral_no=c["cadastral_no"],
                                          ha=fmt_number(c["area_ha"], lang, 2), plots=c["plots"],
                                          distance=fmt_number(c["distance_m"], lang, 0),
                                          tradeoff=t("scenarios.tradeoff." + c["tradeoff"], lang)))
        else:
            parts.append("• " + t("scenarios.unmet.council_none", lang))
        lines.append("\n".join(parts))
    return lines


def base_lines(dem, lang: str = "en") -> list[str]:
    """Where the base comes from, and the warnings / plausibility notes of the demand."""
    bf = getattr(dem, "base_from", None) or {}
    out = []
    if bf:
        def src(k):
            v = bf.get(k)
            return t(f"scenarios.base.{v}", lang) if v else t("scenarios.base.none", lang)
        wb = getattr(dem, "workspace_base", None) or {}
        out.append(t("scenarios.base.line", lang, population=src("population"), household_size=src("household_size"),
                     queue=src("queue"), villages=src("villages"),
                     ws_population=fmt_number(wb["population"], lang, 0) if wb.get("population") else "—"))
    for note in getattr(dem, "notes", None) or []:
        if note["code"] == "base_differs":
            out.append(t("scenarios.note.base_differs", lang, scenario=fmt_number(note["scenario"], lang, 0),
                         workspace=fmt_number(note["workspace"], lang, 0), diff=fmt_number(note["diff_pct"], lang, 1),
                         tol=fmt_number(note["tolerance_pct"], lang, 1)))
        elif note["code"] == "trend_beyond_range":
            out.append(t("scenarios.note.trend_beyond_range", lang, annual=fmt_number(note["annual_pct"], lang, 2),
                         total=fmt_number(note["total_pct"], lang, 1), years=note["years"],
                         max_annual=fmt_number(note["max_annual_pct"], lang, 1),
                         max_total=fmt_number(note["max_total_pct"], lang, 0)))
    return out


__all__ = ["village_table", "unmet_lines", "base_lines"]
