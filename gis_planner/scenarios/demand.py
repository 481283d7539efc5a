"""Demand model: a growth scenario → land demand by use, as a causal chain shown step by step.

Every number is computed in exact decimal arithmetic with the rounding convention of the SEDP
methodology (rates in % to 2 decimals, people to whole persons, school rounding), so the
methodology's worked examples reproduce to the digit:

>>> from gis_planner.scenarios.demand import q30_forecast
>>> fc, steps = q30_forecast({2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500}, [2025])
>>> [str(s.result) for s in steps]
['7.14', '4.76', '4.55', '5.48', '12130']
>>> from gis_planner.scenarios.demand import irrigation_chain
>>> [str(s.result) for s in irrigation_chain(20)[1]]
['350', '30', '10', '40', '7', '20']

Each :class:`Step` carries its inputs, the formula with the numbers put in, the result, the unit and
the source of every coefficient; :meth:`Demand.steps_table` renders them in ky/ru/en.
"""
from __future__ import annotations


from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from ..errors import GisPlannerError
from ..i18n import messages, t
from .baseline import base_checks, scaled_history, workspace_base
from .model import Norms, Scenario

D = Decimal
HUNDRED = D(100)


# --------------------------------------------------------------------------- steps
@dataclass
class Step:
    """One link of the causal chain.

    ``key`` names the step (its label is ``t("scenarios.step." + key)``), ``formula`` shows the
    arithmetic with the numbers put in, ``result`` is the value carried forward.
    """

    key: str
    result: Any
    unit: str
    formula: str
    inputs: dict = field(default_factory=dict)
    source: str = ""
    chain: str = ""
    label_args: dict = field(default_factory=dict)

    def label(self, lang: str = "en") -> str:
        return t(f"scenarios.step.{self.key}", lang, **self.label_args)

    def as_row(self, lang: str = "en") -> dict:
        return {"chain": chain_label(self.chain, lang),
                "step": self.label(lang), "formula": self.formula, "result": _plain(self.result),
                "unit": t(f"scenarios.unit.{self.unit}", lang), "source": self.source}


def chain_label(chain: str, lang: str = "en") -> str:
    """Name of a chain (population, irrigation, a crop …) in ``lang``; unknown crops keep their code."""
    if not chain:
        return ""
    key = f"scenarios.chain.{chain}"
    return t(key, lang) if key in messages() else chain


def steps_frame(steps: list[Step], lang: str = "en") -> pd.DataFrame:
    """Steps as a table with headers in ``lang``: chain, step, formula, result, unit, source."""
    df = pd.DataFrame([s.as_row(lang) for s in steps], columns=["chain", "step", "formula", "result", "unit",
                                                                 "source"])
    df.columns = [t(f"scenarios.col.{c}", lang) for c in df.columns]
    return df


def _plain(x: Any) -> Any:
    if isinstance(x, Decimal):
        return int(x) if x == x.to_integral_value() else float(x)
    return x


def rnd(x: Decimal, decimals: int = 0, mode: str = "half_up") -> Decimal:
    """Round a decimal like the methodology (school rounding); ``decimals=0`` gives whole numbers."""
    q = D(1).scaleb(-int(decimals))
    rounding = ROUND_CEILING if mode == "ceil" else ROUND_HALF_UP
    out = x.quantize(q, rounding=rounding)
    return out.normalize() if decimals else out.quantize(D(1))


def f(x: Any) -> str:
    """A number as written in a formula: plain digits, no trailing zeros (12130.2, 7.14, 350)."""
    if isinstance(x, Decimal):
        if x == x.to_integral_value():
            return str(int(x))
        return format(x.normalize(), "f")
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _d(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else D(str(v))


def _norms(norms: Norms | None) -> Norms:
    return norms if norms is not None else Norms.load()


# --------------------------------------------------------------------------- population
def history_points(history: Any, file: str | None = None, feature: str = "population.history"
                   ) -> list[tuple[int, Decimal]]:
    """The ``(year, value)`` points of a population history, checked, in year order.

    ``history`` is a mapping ``{year: value}`` or a list of ``[year, value]`` pairs (or ``{year, value}``
    mappings) given in increasing years. Raises :class:`GisPlannerError` naming ``file`` (the scenario
    file) and the fix for fewer than two points, a year that is not a whole number, the same year twice
    (``2021`` and ``"2021"``), years that do not increase (a list), and values that are not positive
    numbers: a history the method cannot use never gives a rate.

    >>> history_points({2027: 11132, 2021: 9367})
    [(2021, Decimal('9367')), (2027, Decimal('11132'))]
    """
    example = "e.g. `history: {2021: 9367, 2027: 11132}` (years may have gaps)"
    if isinstance(history, dict):
        raw = list(history.items())
        ordered = False
    elif isinstance(history, (list, tuple)):
        raw = []
        for item in history:
            if isinstance(item, dict) and set(item) >= {"year", "value"}:
                raw.append((item["year"], item["value"]))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                raw.append((item[0], item[1]))
            else:
                raise GisPlannerError(f"history entry {item!r} is not a year and a value", file=file,
                                      feature=feature, fix=example, code="bad_scenario")
        ordered = True
    else:
        raise GisPlannerError(f"the population history must be years with values, not {history!r}", file=file,
                              feature=feature, fix=example, code="bad_scenario")
    points: list[tuple[int, Decimal]] = []
    seen: set[int] = set()
    for y, v in raw:
        try:
            year = int(str(y).strip())
        except (TypeError, ValueError):
            raise GisPlannerError(f"'{y}' is not a year", file=file, feature=feature,
                                  fix="give the years as whole numbers, " + example, code="bad_scenario") from None
        if year in seen:
            raise GisPlannerError(f"the year {year} is given twice", file=file, feature=feature,
                                  fix="keep one figure per year", code="bad_scenario")
        if points and ordered and year < points[-1][0]:
            raise GisPlannerError(f"the years do not increase ({points[-1][0]} is followed by {year})", file=file,
                                  feature=feature, fix="list the years from the oldest to the newest",
                                  code="bad_scenario")
        seen.add(year)
        if isinstance(v, bool) or not isinstance(v, (int, float, Decimal, str)):
            raise GisPlannerError(f"the population of {year} must be a positive number, not {v!r}", file=file,
                                  feature=feature, fix="give whole people", code="bad_scenario")
        try:
            value = _d(v)
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite() or value <= 0:
            raise GisPlannerError(f"the population of {year} must be a positive number, not {v!r}", file=file,
                                  feature=feature, fix="give whole people (a zero or negative figure gives no "
                                  "growth rate)", code="bad_scenario")
        points.append((year, value))
    if len(points) < 2:
        raise GisPlannerError(f"a growth rate needs the population of at least two years (got {len(points)})",
                              file=file, feature=feature, fix=example, code="bad_scenario")
    return sorted(points)


def annual_rate(v0: Any, v1: Any, y0: int, y1: int, decimals: int = 2) -> tuple[Decimal, Decimal, str]:
    """Compound annual growth rate between two years, in %: ``((v1 / v0)^(1 / (y1 − y0)) − 1) × 100``.

    Returns the rate rounded half up to ``decimals``, the unrounded rate and the formula with the numbers
    put in. For consecutive years it is the year-on-year rate ``(v1 − v0) / v0 × 100`` of the methodology.

    >>> r, raw, formula = annual_rate(9367, 11132, 2021, 2027)
    >>> r, formula
    (Decimal('2.92'), '((11132 / 9367) ^ (1/6) − 1) × 100 = 2.9190 → 2.92')
    >>> annual_rate(9800, 10500, 2021, 2022)[2]
    '(10500 − 9800) / 9800 × 100 = 7.1429 → 7.14'
    """
    v0, v1, k = _d(v0), _d(v1), int(y1) - int(y0)
    if k <= 0 or v0 <= 0 or v1 <= 0:
        raise GisPlannerError(f"no annual rate from {y0} ({v0}) to {y1} ({v1})", feature="population.history",
                              fix="give positive figures for increasing years", code="bad_scenario")
    if k == 1:
        raw = (v1 - v0) / v0 * HUNDRED
        text = f"({f(v1)} − {f(v0)}) / {f(v0)} × 100"
    else:
        raw = ((v1 / v0) ** (D(1) / D(k)) - D(1)) * HUNDRED
        text = f"(({f(v1)} / {f(v0)}) ^ (1/{k}) − 1) × 100"
    r = rnd(raw, decimals)
    return r, raw, f"{text} = {raw:.4f} → {f(r)}"


def annual_rates(history: Any, norms: Norms | None = None, chain: str = "population",
                 file: str | None = None) -> tuple[Decimal, list[Step]]:
    """The annual growth rate of a history, step by step (the rate a forecast carries forward).

    One step per pair of consecutive given points: the year-on-year rate where the years follow each
    other, the compound annual rate ``((v_end / v_start)^(1/(y_end − y_start)) − 1) × 100`` over a gap.
    The rate carried forward is the methodology's mean of the yearly rates when every year is given,
    and the compound annual rate between the first and the last point when years are missing (a gap is
    never taken as one year). Rates are in % rounded half up to the norms' decimals.

    >>> rate, steps = annual_rates({2021: 9367, 2027: 11132})
    >>> rate, [s.key for s in steps]
    (Decimal('2.92'), ['pop_cagr', 'pop_cagr_total'])
    >>> annual_rates({2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500})[0]
    Decimal('5.48')
    """
    n = _norms(norms)
    rd = int(n.value("rounding.rate_pct_decimals"))
    src_r = n.source("rounding.rate_pct_decimals")
    items = history_points(history, file)
    steps: list[Step] = []
    rates = []
    gaps = any(y1 - y0 > 1 for (y0, _), (y1, _) in zip(items, items[1:]))
    for (y0, p0), (y1, p1) in zip(items, items[1:]):
        r, _, formula = annual_rate(p0, p1, y0, y1, rd)
        rates.append(r)
        key = "pop_rate" if y1 - y0 == 1 else "pop_cagr"
        steps.append(Step(key, r, "pct", formula, {"year": y1, "p_prev": _plain(p0), "p": _plain(p1),
                                                   "years": y1 - y0}, src_r, chain,
                          {"y0": y0, "y1": y1, "k": y1 - y0}))
    if not gaps:
        mean_raw = sum(rates, D(0)) / D(len(rates))
        mean = rnd(mean_raw, rd)
        steps.append(Step("pop_mean_rate", mean, "pct",
                          f"({' + '.join(f(r) for r in rates)}) / {len(rates)} = {mean_raw:.4f} → {f(mean)}",
                          {"rates_pct": [_plain(r) for r in rates]}, src_r, chain))
        return mean, steps
    (ya, pa), (yb, pb) = items[0], items[-1]
    if len(items) == 2:
        total = rates[0]
        formula = steps[0].formula
    else:
        total, _, formula = annual_rate(pa, pb, ya, yb, rd)
    steps.append(Step("pop_cagr_total", total, "pct", formula,
                      {"y0": ya, "y1": yb, "p0": _plain(pa), "p1": _plain(pb), "years": yb - ya,
                       "rates_pct": [_plain(r) for r in rates]}, src_r, chain, {"y0": ya, "y1": yb, "k": yb - ya}))
    return total, steps


def q30_forecast(history: dict, years: list[int], norms: Norms | None = None,
                 chain: str = "population", file: str | None = None) -> tuple[dict[int, int], list[Step]]:
    """Population forecast by the methodology's manual method (mean of year-on-year rates).

    Rates are rounded to 2 decimals in %, their mean again to 2 decimals, and the forecast
    ``P_base × (1 + mean/100)^k`` to whole people. A history with missing years uses the compound
    annual rate between its first and last year instead of the mean (see :func:`annual_rates`); a
    history the method cannot use (one year, a year twice, a zero) raises :class:`GisPlannerError`
    naming ``file``.

    >>> fc, _ = q30_forecast({2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500}, [2025])
    >>> fc
    {2024: 11500, 2025: 12130}
    >>> q30_forecast({2021: 9367, 2027: 11132}, [2028])[0]
    {2027: 11132, 2028: 11457}
    """
    n = _norms(norms)
    pd_ = int(n.value("rounding.population"))
    src_p = n.source("rounding.population")
    mean, steps = annual_rates(history, n, chain, file)
    base_year, base = history_points(history, file)[-1]
    out = {base_year: int(base)}
    factor = D(1) + mean / HUNDRED
    for y in sorted(set(int(y) for y in years)):
        k = y - base_year
        if k <= 0:
            continue
        raw = base * factor ** k
        p = rnd(raw, pd_)
        out[y] = int(p)
        power = f" ^ {k}" if k > 1 else ""
        steps.append(Step("pop_forecast", p, "people", f"{f(base)} × {f(factor)}{power} = {f(raw.normalize()) if k == 1 else f'{raw:.1f}'} → {f(p)}",
                          {"base": int(base), "rate_pct": _plain(mean), "years": k}, src_p, chain, {"year": y}))
    return out, steps


def compound_forecast(base: Any, rate_pct: Any, base_year: int, years: list[int], norms: Norms | None = None,
                      chain: str = "population") -> tuple[dict[int, int], list[Step]]:
    """Compound growth ``P × (1 + r/100)^k``, rounded to whole people.

    >>> compound_forecast(1000, 2, 2024, [2026])[0]
    {2024: 1000, 2026: 1040}
    """
    n = _norms(norms)
    pd_ = int(n.value("rounding.population"))
    base, rate = _d(base), _d(rate_pct)
    factor = D(1) + rate / HUNDRED
    out = {int(base_year): int(rnd(base, 0))}
    steps = []
    for y in sorted(set(int(y) for y in years)):
        k = y - int(base_year)
        if k <= 0:
            continue
        raw = base * factor ** k
        p = rnd(raw, pd_)
        out[y] = int(p)
        steps.append(Step("pop_forecast", p, "people", f"{f(base)} × {f(factor)} ^ {k} = {raw:.1f} → {f(p)}",
                          {"base": _plain(base), "rate_pct": _plain(rate), "years": k}, "scenario", chain,
                          {"year": y}))
    return out, steps


def cohort_forecast(groups: list[dict], births_per_1000: Any, base_year: int, years: list[int],
                    net_migration: Any = 0, norms: Norms | None = None,
                    chain: str = "population") -> tuple[dict[int, int], list[Step], dict]:
    """A simple cohort-component projection, one year at a time.

    Each age group ``[a, b]`` (contiguous from 0) loses ``deaths_per_1000`` per year and passes
    ``1/(b − a + 1)`` of its people to the next group (uniform ages inside a group); births
    ``births_per_1000 × total / 1000`` enter the first group; net migration is spread in proportion
    to the current structure. Returns the totals, the steps and the age structure at each year
    (``{year: [people per group]}``) from which school and pre-school ages are read.

    >>> fc, _, _ = cohort_forecast([{"age": [0, 0], "people": 100}, {"age": [1, 1], "people": 100}],
    ...                            births_per_1000=0, base_year=2024, years=[2025])
    >>> fc  # the age-1 group keeps its people, the newborn group is empty: no births
    {2024: 200, 2025: 200}
    """
    n = _norms(norms)
    pd_ = int(n.value("rounding.population"))
    widths = [D(int(g["age"][1]) - int(g["age"][0]) + 1) for g in groups]
    people = [_d(g["people"]) for g in groups]
    deaths = [_d(g.get("deaths_per_1000", 0)) / D(1000) for g in groups]
    b = _d(births_per_1000) / D(1000)
    mig = _d(net_migration or 0)
    last = max(int(y) for y in years) if years else int(base_year)
    structure = {int(base_year): [float(p) for p in people]}
    totals = {int(base_year): int(rnd(sum(people, D(0)), pd_))}
    steps = []
    for year in range(int(base_year) + 1, last + 1):
        total = sum(people, D(0))
        births = b * total
        survivors = [p * (D(1) - d) for p, d in zip(people, deaths)]
        moving = [s / w for s, w in zip(survivors, widths)]
        new = []
        for i, s in enumerate(survivors):
            stay = s - (moving[i] if i < len(survivors) - 1 else D(0))
            inflow = moving[i - 1] if i > 0 else births
            new.append(stay + inflow)
        tot_new = sum(new, D(0))
        if mig and tot_new > 0:
            new = [p + mig * p / tot_new for p in new]
        people = new
        structure[year] = [float(p) for p in people]
        totals[year] = int(rnd(sum(people, D(0)), pd_))
        if year in set(int(y) for y in years):
            steps.append(Step("pop_cohort", D(totals[year]), "people",
                              f"Σ groups ({len(groups)}) after {year - int(base_year)} yr; births "
                              f"{f(_d(births_per_1000))}‰, net migration {f(mig)}/yr",
                              {"births_per_1000": _plain(_d(births_per_1000)), "net_migration": _plain(mig)},
                              "scenario (cohort-component projection)", chain, {"year": year}))
    return {y: v for y, v in totals.items() if y == int(base_year) or y in set(int(x) for x in years)}, steps, {
        "structure": structure, "ages": [tuple(int(a) for a in g["age"]) for g in groups]}


def people_in_ages(structure: list[float], ages: list[tuple[int, int]], lo: int, hi: int) -> float:
    """People aged ``lo``–``hi`` from a group structure (uniform ages inside a group)."""
    total = 0.0
    for p, (a, b) in zip(structure, ages):
        overlap = min(b, hi) - max(a, lo) + 1
        if overlap > 0:
            total += p * overlap / (b - a + 1)
    return total


# --------------------------------------------------------------------------- sector chains
def irrigation_chain(amount_mio_som: Any, norms: Norms | None = None, chain: str = "irrigation"
                     ) -> tuple[dict, list[Step]]:
    """Investment in irrigation → new irrigated land → jobs → income → houses.

    >>> out, _ = irrigation_chain(20)
    >>> out["irrigated_ha"], out["jobs"], out["income_mio_som"], out["households"]
    (Decimal('350'), Decimal('40'), Decimal('7'), 20)
    """
    n = _norms(norms)
    p = "sectors.irrigation."
    amt = _d(amount_mio_som)
    ha_c, fj_c, pj_c = n.exact(p + "ha_per_mio_som"), n.exact(p + "farm_jobs_per_mio_som"), n.exact(
        p + "processing_jobs_per_mio_som")
    inc_c, hh_c = n.exact(p + "income_per_job_mio_som"), n.exact(p + "households_per_job")
    lag = n.value(p + "house_lag_years")
    ha = amt * ha_c
    farm = rnd(amt * fj_c, 0)
    proc = rnd(amt * pj_c, 0)
    jobs = farm + proc
    income = jobs * inc_c
    hh_raw = jobs * hh_c
    hh = int(rnd(hh_raw, 0, "ceil"))
    steps = [
        Step("irr_land", _norm_d(ha), "ha", f"{f(amt)} × {f(ha_c)} = {f(_norm_d(ha))}",
             {"amount_mio_som": _plain(amt)}, n.source(p + "ha_per_mio_som"), chain),
        Step("irr_farm_jobs", farm, "jobs", f"{f(amt)} × {f(fj_c)} = {f(_norm_d(amt * fj_c))} → {f(farm)}",
             {}, n.source(p + "farm_jobs_per_mio_som"), chain),
        Step("irr_processing_jobs", proc, "jobs", f"{f(amt)} × {f(pj_c)} = {f(_norm_d(amt * pj_c))} → {f(proc)}",
             {}, n.source(p + "processing_jobs_per_mio_som"), chain),
        Step("jobs_total", jobs, "jobs", f"{f(farm)} + {f(proc)} = {f(jobs)}", {}, "", chain),
        Step("income", _norm_d(income), "mio_som_year", f"{f(jobs)} × {f(inc_c)} = {f(_norm_d(income))}",
             {}, n.source(p + "income_per_job_mio_som"), chain),
        Step("households_jobs", D(hh), "houses", f"{f(jobs)} × {f(hh_c)} = {f(_norm_d(hh_raw))} → ≥ {hh}",
             {"lag_years": lag}, n.source(p + "households_per_job"), chain,
             {"lag0": lag[0], "lag1": lag[1]}),
    ]
    out = {"irrigated_ha": _norm_d(ha), "farm_jobs": farm, "processing_jobs": proc, "jobs": jobs,
           "income_mio_som": _norm_d(income), "households": hh, "lag_years": tuple(lag)}
    return out, steps


def _norm_d(x: Decimal) -> Decimal:
    """Drop trailing zeros but keep an integral value integral (Decimal('350.0') → Decimal('350'))."""
    x = x.normalize()
    return x.quantize(D(1)) if x == x.to_integral_value() else x


def sector_chain(sector: str, amount_mio_som: Any, norms: Norms | None = None) -> tuple[dict, list[Step]]:
    """Industry or tourism investment → jobs → income → land (per job or per object) → households.

    >>> out, _ = sector_chain("industry", 10)
    >>> out["jobs"], out["land_ha"]
    (Decimal('10'), Decimal('0.5'))
    """
    if sector == "irrigation":
        return irrigation_chain(amount_mio_som, norms)
    n = _norms(norms)
    p = f"sectors.{sector}."
    amt = _d(amount_mio_som)
    jobs_c, inc_c, hh_c = n.exact(p + "jobs_per_mio_som"), n.exact(p + "income_per_job_mio_som"), n.exact(
        p + "households_per_job")
    jobs = rnd(amt * jobs_c, 0)
    income = jobs * inc_c
    steps = [Step("sector_jobs", jobs, "jobs", f"{f(amt)} × {f(jobs_c)} = {f(_norm_d(amt * jobs_c))} → {f(jobs)}",
                  {"amount_mio_som": _plain(amt)}, n.source(p + "jobs_per_mio_som"), sector),
             Step("income", _norm_d(income), "mio_som_year", f"{f(jobs)} × {f(inc_c)} = {f(_norm_d(income))}",
                  {}, n.source(p + "income_per_job_mio_som"), sector)]
    if sector == "industry":
        c = n.exact(p + "land_ha_per_job")
        land = _norm_d(jobs * c)
        steps.append(Step("industry_land", land, "ha", f"{f(jobs)} × {f(c)} = {f(land)}", {},
                          n.source(p + "land_ha_per_job"), sector))
        use = "industry"
    else:
        oc, lc = n.exact(p + "objects_per_mio_som"), n.exact(p + "land_ha_per_object")
        objects = rnd(amt * oc, 0)
        land = _norm_d(objects * lc)
        steps.append(Step("tourism_objects", objects, "objects",
                          f"{f(amt)} × {f(oc)} = {f(_norm_d(amt * oc))} → {f(objects)}", {},
                          n.source(p + "objects_per_mio_som"), sector))
        steps.append(Step("tourism_land", land, "ha", f"{f(objects)} × {f(lc)} = {f(land)}", {},
                          n.source(p + "land_ha_per_object"), sector))
        use = "tourism_facility"
    hh_raw = jobs * hh_c
    hh = int(rnd(hh_raw, 0, "ceil"))
    lag = n.value(p + "house_lag_years")
    steps.append(Step("households_jobs", D(hh), "houses", f"{f(jobs)} × {f(hh_c)} = {f(_norm_d(hh_raw))} → ≥ {hh}",
                      {"lag_years": lag}, n.source(p + "households_per_job"), sector,
                      {"lag0": lag[0], "lag1": lag[1]}))
    return {"use": use, "land_ha": land, "jobs": jobs, "income_mio_som": _norm_d(income), "households": hh,
            "lag_years": tuple(lag)}, steps


def crop_chain(crop: str, output_t: Any, base_year: int, target_year: int, *, no_new_land_output_t: Any = None,
               target_growth_pct: Any = None, target_output_t: Any = None, yield_gain_pct: Any = 0,
               yield_t_per_ha: Any = None, norms: Norms | None = None) -> tuple[dict, list[Step]]:
    """Specialisation crop (space → economy): output, yield and the land a growth target implies.

    >>> out, _ = crop_chain("raspberry", 2200, 2024, 2027, no_new_land_output_t=2900,
    ...                     target_growth_pct=74, yield_gain_pct=5)
    >>> out["base_area_ha"], out["target_output_t"], out["target_yield_t_per_ha"], out["area_needed_ha"], \
out["new_land_ha"]
    (Decimal('550'), Decimal('3828'), Decimal('4.2'), Decimal('911.4'), Decimal('361.4'))
    """
    n = _norms(norms)
    p = f"crops.{crop}."
    try:
        n.node(f"crops.{crop}")
    except GisPlannerError:
        raise GisPlannerError(f"no norms for crop '{crop}'", file="layers/scenario_norms.yaml",
                              feature=crop, fix=f"add crops.{crop}.yield_t_per_ha etc.", code="unknown_crop") from None
    ad = int(n.value("rounding.area_ha_decimals"))
    rd = int(n.value("rounding.rate_pct_decimals"))
    y0 = _d(yield_t_per_ha) if yield_t_per_ha is not None else n.exact(p + "yield_t_per_ha")
    y_src = "scenario" if yield_t_per_ha is not None else n.source(p + "yield_t_per_ha")
    out0 = _d(output_t)
    area0 = _norm_d(rnd(out0 / y0, ad))
    ch = crop
    steps = [Step("crop_area", area0, "ha", f"{f(out0)} t / {f(y0)} t/ha = {f(area0)}",
                  {"output_t": _plain(out0), "year": base_year}, y_src, ch, {"year": base_year})]
    res: dict = {"crop": crop, "base_output_t": out0, "base_yield_t_per_ha": y0, "base_area_ha": area0}
    if no_new_land_output_t is not None:
        o1 = _d(no_new_land_output_t)
        g_raw = (o1 - out0) / out0 * HUNDRED
        g = rnd(g_raw, rd)
        y1 = rnd(o1 / area0, 2)
        steps.append(Step("crop_growth_no_land", g, "pct",
                          f"({f(o1)} − {f(out0)}) / {f(out0)} × 100 = {g_raw:.4f} → {f(g)} (≈ +{int(rnd(g / 10, 0) * 10)}%)",
                          {"output_t": _plain(o1), "year": target_year}, "scenario", ch, {"year": target_year}))
        steps.append(Step("crop_yield_implied", y1, "t_per_ha", f"{f(o1)} t / {f(area0)} ha = {f(y1)}", {},
                          "", ch))
        res.update({"no_land_output_t": o1, "no_land_growth_pct": g, "no_land_yield_t_per_ha": y1})
    if target_growth_pct is not None or target_output_t is not None:
        if target_output_t is not None:
            o2 = _d(target_output_t)
            gp = rnd((o2 - out0) / out0 * HUNDRED, rd)
            steps.append(Step("crop_target_output", o2, "t", f"{f(o2)} (scenario)", {}, "scenario", ch,
                              {"year": target_year}))
        else:
            gp = _d(target_growth_pct)
            o2 = _norm_d(out0 * (D(1) + gp / HUNDRED))
            steps.append(Step("crop_target_output", o2, "t", f"{f(out0)} × (1 + {f(gp)}/100) = {f(o2)}",
                              {"growth_pct": _plain(gp)}, "scenario", ch, {"year": target_year}))
        yg = _d(yield_gain_pct or 0)
        y2 = _norm_d(y0 * (D(1) + yg / HUNDRED))
        steps.append(Step("crop_target_yield", y2, "t_per_ha", f"{f(y0)} × (1 + {f(yg)}/100) = {f(y2)}",
                          {"yield_gain_pct": _plain(yg)}, "scenario", ch))
        a_raw = o2 / y2
        a2 = _norm_d(rnd(a_raw, ad))
        steps.append(Step("crop_area_needed", a2, "ha", f"{f(o2)} t / {f(y2)} t/ha = {a_raw:.4f} → {f(a2)}", {},
                          n.source("rounding.area_ha_decimals"), ch))
        new = _norm_d(max(a2 - area0, D(0)))
        steps.append(Step("crop_new_land", new, "ha", f"{f(a2)} − {f(area0)} = {f(new)}", {}, "", ch))
        jobs_c = n.exact(p + "jobs_per_ha")
        jobs = rnd(new * jobs_c, 0)
        price = n.exact(p + "price_som_per_t")
        extra_t = o2 - out0
        income = _norm_d(rnd(extra_t * price / D(1_000_000), 3))
        hh_c = n.exact(p + "households_per_job")
        hh = int(rnd(jobs * hh_c, 0, "ceil"))
        steps.append(Step("crop_jobs", jobs, "jobs", f"{f(new)} × {f(jobs_c)} = {f(_norm_d(new * jobs_c))} → {f(jobs)}",
                          {}, n.source(p + "jobs_per_ha"), ch))
        steps.append(Step("crop_income", income, "mio_som_year",
                          f"({f(o2)} − {f(out0)}) t × {f(price)} som/t = {f(income)} million", {},
                          n.source(p + "price_som_per_t"), ch))
        steps.append(Step("households_jobs", D(hh), "houses", f"{f(jobs)} × {f(hh_c)} → ≥ {hh}", {},
                          n.source(p + "households_per_job"), ch, {"lag0": 0, "lag1": int(target_year) - int(base_year)}))
        res.update({"target_output_t": o2, "target_growth_pct": gp, "target_yield_t_per_ha": y2,
                    "area_needed_ha": a2, "new_land_ha": new, "jobs": jobs, "income_mio_som": income,
                    "households": hh, "use": str(n.value(p + "land_use"))})
    return res, steps


# --------------------------------------------------------------------------- demand
@dataclass
class Demand:
    """Land demand of a scenario with the chain that produced it."""

    scenario_id: str
    base_year: int
    horizon_year: int
    steps: list[Step]
    population: dict                     # year -> people (trend forecast)
    households: dict                     # component -> households (trend, sectors, queue, total…)
    housing_plots: int                   # individual house plots to allocate
    multistorey_households: int
    land_ha: dict                        # use -> ha to allocate (area-based uses)
    social: dict                         # places, facilities, costs
    sectors: list[dict]
    norms: Norms
    base_from: dict = field(default_factory=dict)    # population / household_size / queue: workspace|scenario|norms
    notes: list = field(default_factory=list)        # base differs from the workspace, trend beyond range
    workspace_base: dict = field(default_factory=dict)

    def steps_table(self, lang: str = "en") -> pd.DataFrame:
        """The causal chain as a table (chain, step, formula, result, unit, source)."""
        return steps_frame(self.steps, lang)

    def summary(self) -> dict:
        return {"scenario": self.scenario_id, "base_year": self.base_year, "horizon_year": self.horizon_year,
                "population": self.population, "households": self.households,
                "housing_plots": self.housing_plots, "multistorey_households": self.multistorey_households,
                "land_ha": {k: float(v) for k, v in self.land_ha.items()},
                "social": {k: _plain(v) for k, v in self.social.items()},
                "base_from": self.base_from, "notes": self.notes,
                "workspace_base": {k: v for k, v in self.workspace_base.items() if k != "villages"}}


def demand(scenario: Scenario, workspace: Any = None, norms: Norms | None = None) -> Demand:
    """Turn a scenario into land demand by use, step by step.

    Housing: trend households ``ceil(ΔP / household size)`` + households the new jobs keep in the
    village (when the horizon reaches the lag) + the plot queue; a share goes to multi-storey housing.
    Sector and crop chains add irrigated, industrial, tourism and perennial land; social norms turn the
    population growth into school/kindergarten places, clinics and their land and costs.
    """
    n = norms or scenario.norms_for(workspace)
    base, hor = scenario.base_year, scenario.horizon_year
    steps: list[Step] = []
    years = sorted({base + 1, hor})
    pop = scenario.population or {}
    method = pop.get("method")
    cohort = None
    # the base from the workspace (settlements layer, metadata) unless the scenario overrides it
    wb = workspace_base(workspace)
    base_from: dict = {}
    scn_base = None
    hist = pop.get("history")
    if method == "q30" and hist:
        scn_base = _d({int(k): v for k, v in hist.items()}.get(base) or list(hist.values())[-1])
    elif method == "compound":
        scn_base = _d(pop["base"]) if pop.get("base") is not None else None
    if pop.get("base_from") == "workspace" and wb and wb.get("population"):
        if method == "q30":
            hist, k = scaled_history(hist, base, wb["population"])
            steps.append(Step("population_base_workspace", D(wb["population"]), "people",
                              f"{f(scn_base)} × {k:.4f} = {wb['population']}", {"history": hist}, wb["source"],
                              "population"))
        elif method == "compound":
            pop = {**pop, "base": wb["population"]}
        base_from["population"] = "workspace"
        scn_base = None
    elif method:
        base_from["population"] = "scenario"
    if method == "q30":
        fc, st = q30_forecast(hist, years, n, file=scenario.source_file)
    elif method == "compound":
        fc, st = compound_forecast(pop["base"], pop["rate_pct"], base, years, n)
    elif method == "cohort":
        fc, st, cohort = cohort_forecast(pop["groups"], pop.get("births_per_1000", 0), base, years,
                                         pop.get("net_migration", 0), n)
    else:
        fc, st = {base: 0, hor: 0}, []
    steps += st
    p0, ph = D(fc.get(base, 0)), D(fc.get(hor, fc.get(base, 0)))
    dp = ph - p0
    hs = n.exact("population.household_size")
    hs_source = n.source("population.household_size")
    base_from["household_size"] = "scenario" if "population.household_size" in n.overridden else "norms"
    if base_from["household_size"] == "norms" and wb and wb.get("household_size"):
        hs = _d(wb["household_size"])
        hs_source = wb.get("household_size_source") or (
            f"{wb['source']}: {wb['population']} people / {wb['households']} households")
        base_from["household_size"] = "workspace"
    steps.append(Step("pop_growth", dp, "people", f"{f(ph)} − {f(p0)} = {f(dp)}", {}, "", "housing",
                      {"y0": base, "y1": hor}))
    trend_hh = int(rnd(max(dp, D(0)) / hs, 0, "ceil"))
    steps.append(Step("households_trend", D(trend_hh), "households",
                      f"{f(max(dp, D(0)))} / {f(hs)} = {f(_norm_d(rnd(max(dp, D(0)) / hs, 2)))} → {trend_hh}", {},
                      hs_source, "housing"))

    # sector and crop chains
    sector_rows = []
    land: dict[str, Decimal] = {}
    sector_hh = 0
    for inv in scenario.investments:
        out, st = sector_chain(inv["sector"], inv["amount_mio_som"], n)
        for s in st:
            s.chain = inv["sector"]
        steps += st
        if inv["sector"] == "irrigation":
            land["irrigated_agriculture"] = land.get("irrigated_agriculture", D(0)) + out["irrigated_ha"]
        else:
            land[out["use"]] = land.get(out["use"], D(0)) + out["land_ha"]
        lag0 = int(out["lag_years"][0])
        counted = hor - base >= lag0
        if counted:
            sector_hh += out["households"]
        sector_rows.append({"chain": inv["sector"], "amount_mio_som": _plain(_d(inv["amount_mio_som"])),
                            "jobs": int(out["jobs"]), "income_mio_som": _plain(out["income_mio_som"]),
                            "households": out["households"], "households_counted": counted})
    for crop in scenario.crops:
        out, st = crop_chain(crop["crop"], crop["output_t"], int(crop["base_year"]), int(crop["target_year"]),
                             no_new_land_output_t=crop.get("no_new_land_output_t"),
                             target_growth_pct=crop.get("target_growth_pct"),
                             target_output_t=crop.get("target_output_t"),
                             yield_gain_pct=crop.get("yield_gain_pct", 0),
                             yield_t_per_ha=crop.get("yield_t_per_ha"), norms=n)
        steps += st
        if "new_land_ha" in out:
            land[out["use"]] = land.get(out["use"], D(0)) + out["new_land_ha"]
            counted = hor >= int(crop["target_year"])
            if counted:
                sector_hh += out["households"]
            sector_rows.append({"chain": crop["crop"], "amount_mio_som": None, "jobs": int(out["jobs"]),
                                "income_mio_som": _plain(out["income_mio_som"]), "households": out["households"],
                                "households_counted": counted})
    queue = int(scenario.housing.get("queue_households", 0) or 0)
    base_from["queue"] = "scenario" if "queue_households" in scenario.housing else None
    if "queue_households" not in scenario.housing and wb and wb.get("queue") is not None:
        queue = int(wb["queue"])
        base_from["queue"] = "workspace"
        steps.append(Step("households_queue", D(queue), "households", f"{queue}", {},
                          "workspace metadata plot_queue_households", "housing"))
    qpath = scenario.queue_path()
    if qpath is not None:
        from .model import read_queue

        ql = read_queue(qpath)
        dates = pd.to_datetime(ql["date"], errors="coerce") if "date" in ql.columns else pd.Series([], dtype="datetime64[ns]")
        span = f" ({dates.min():%Y-%m-%d} … {dates.max():%Y-%m-%d})" if dates.notna().any() else ""
        queue += len(ql)
        steps.append(Step("households_queue", D(queue), "households",
                          f"{len(ql)} rows in {qpath.name}{span}" + (f" + {queue - len(ql)}" if queue > len(ql) else ""),
                          {"file": str(qpath)}, f"plot queue list {qpath.name}", "housing"))
    total_hh = trend_hh + sector_hh + queue
    steps.append(Step("households_total", D(total_hh), "households",
                      f"{trend_hh} + {sector_hh} + {queue} = {total_hh}",
                      {"trend": trend_hh, "sectors": sector_hh, "queue": queue}, "", "housing"))
    share = _d(scenario.housing["multistorey_share"]) if "multistorey_share" in scenario.housing else n.exact(
        "housing.multistorey_share")
    ms = int(rnd(D(total_hh) * share, 0))
    plots = total_hh - ms
    psize = n.exact("housing.plot_size_ha")
    steps.append(Step("housing_plots", D(plots), "plots", f"{total_hh} − {total_hh} × {f(share)} = {plots}",
                      {}, n.source("housing.multistorey_share"), "housing"))
    steps.append(Step("housing_land", _norm_d(plots * psize), "ha", f"{plots} × {f(psize)} = {f(_norm_d(plots * psize))}",
                      {}, n.source("housing.plot_size_ha"), "housing"))
    if ms:
        dens = n.exact("housing.multistorey_households_per_ha")
        ms_ha = _norm_d(rnd(D(ms) / dens, 2))
        land["multistorey_housing"] = ms_ha
        steps.append(Step("multistorey_land", ms_ha, "ha", f"{ms} / {f(dens)} = {f(ms_ha)}", {},
                          n.source("housing.multistorey_households_per_ha"), "housing"))

    # social facilities
    extra_people = D(sector_hh) * hs
    social, st = _social(scenario, n, p0, ph + extra_people, cohort, base, hor)
    steps += st
    if social["land_ha"] > 0:
        land["social_facility"] = social["land_ha"]
    households = {"trend": trend_hh, "sectors": sector_hh, "queue": queue, "total": total_hh,
                  "multistorey": ms, "plots": plots}
    notes = base_checks(n, float(scn_base) if scn_base is not None else None,
                        wb.get("population") if wb else None, float(p0), float(ph), hor - base) if method else []
    base_from["villages"] = "workspace" if wb and wb.get("villages") else None
    return Demand(scenario.id, base, hor, steps, fc, households, plots, ms,
                  {k: v for k, v in land.items() if v > 0}, social, sector_rows, n, base_from, notes,
                  wb or {})


def _social(scn: Scenario, n: Norms, p0: Decimal, ph: Decimal, cohort: dict | None, base: int, hor: int):
    steps = []
    s = scn.social or {}
    out: dict = {}
    cost_build = D(0)
    cost_run = D(0)
    land = D(0)
    for kind, cap_key, site_key, age_key in (
            ("school", "social.school_capacity_places", "social.school_site_ha_per_place",
             "population.cohort_school_age"),
            ("kindergarten", "social.kindergarten_capacity_places", "social.kindergarten_site_ha_per_place",
             "population.cohort_preschool_age")):
        if cohort is not None:
            lo, hi = n.value(age_key)
            need0 = D(str(round(people_in_ages(cohort["structure"][base], cohort["ages"], lo, hi), 6)))
            needh = D(str(round(people_in_ages(cohort["structure"][hor], cohort["ages"], lo, hi), 6)))
            src = n.source(age_key)
            formula_h = f"ages {lo}–{hi} in {hor}: {needh:.1f}"
        else:
            rate = n.exact(f"social.{kind}_places_per_1000")
            need0 = p0 * rate / D(1000)
            needh = ph * rate / D(1000)
            src = n.source(f"social.{kind}_places_per_1000")
            formula_h = f"{f(ph)} × {f(rate)} / 1000 = {f(_norm_d(needh))}"
        needh_r = int(rnd(needh, 0, "ceil"))
        existing = s.get(f"{kind}_places_existing")
        ref = D(str(existing)) if existing is not None else rnd(need0, 0, "ceil")
        new_places = max(int(needh_r - ref), 0)
        cap = n.exact(cap_key)
        count = int(rnd(D(new_places) / cap, 0, "ceil")) if new_places else 0
        site = _norm_d(D(count) * cap * n.exact(site_key))
        steps.append(Step(f"{kind}_places", D(new_places), "places",
                          f"{formula_h} → {needh_r}; − {f(ref)} = {new_places}", {}, src, "social"))
        steps.append(Step(f"{kind}_new", D(count), "facilities",
                          f"{new_places} / {f(cap)} → {count}", {}, n.source(cap_key), "social"))
        if count:
            build, run = _costs(kind, n)
            cost_build += D(count) * build
            cost_run += D(count) * run
            steps.append(Step(f"{kind}_costs", _norm_d(D(count) * build), "mio_som",
                              f"{count} × {f(build)} = {f(_norm_d(D(count) * build))}; "
                              f"+{f(_norm_d(D(count) * run))}/yr", {},
                              n.source(f"costs.{kind}_build_mio_som"), "social"))
        land += site
        out[f"{kind}_places"] = new_places
        out[f"{kind}s_new"] = count
    cpop = n.exact("social.clinic_per_population")
    existing = s.get("clinics_existing")
    ref = D(existing) if existing is not None else rnd(p0 / cpop, 0, "ceil")
    clinics = max(int(rnd(ph / cpop, 0, "ceil") - ref), 0)
    steps.append(Step("clinic_new", D(clinics), "facilities",
                      f"⌈{f(ph)} / {f(cpop)}⌉ − {f(ref)} = {clinics}", {}, n.source("social.clinic_per_population"),
                      "social"))
    if clinics:
        build, run = _costs("clinic", n)
        cost_build += D(clinics) * build
        cost_run += D(clinics) * run
        land += D(clinics) * n.exact("social.clinic_site_ha")
    out.update({"clinics_new": clinics, "land_ha": _norm_d(land), "build_mio_som": _norm_d(cost_build),
                "run_mio_som_per_year": _norm_d(cost_run), "population_horizon": int(ph)})
    return out, steps


def _costs(kind: str, n: Norms) -> tuple[Decimal, Decimal]:
    return n.exact(f"costs.{kind}_build_mio_som"), n.exact(f"costs.{kind}_run_mio_som_per_year")


def worked_examples(norms: Norms | None = None) -> dict[str, list[Step]]:
    """The three worked examples of the SEDP methodology, computed by this model.

    >>> ex = worked_examples()
    >>> ex["population"][-1].result, ex["irrigation"][-1].result, ex["raspberry"][-1].result
    (Decimal('12130'), Decimal('20'), Decimal('361.4'))
    """
    n = _norms(norms)
    _, pop = q30_forecast({2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500}, [2025], n)
    _, irr = irrigation_chain(20, n)
    _, rasp = crop_chain("raspberry", 2200, 2024, 2027, no_new_land_output_t=2900, target_growth_pct=74,
                         yield_gain_pct=5, norms=n)
    rasp = [s for s in rasp if s.key not in ("crop_jobs", "crop_income", "households_jobs")]
    return {"population": pop, "irrigation": irr, "raspberry": rasp}


__all__ = ["Step", "Demand", "demand", "steps_frame", "q30_forecast", "annual_rate", "annual_rates",
           "history_points", "compound_forecast", "cohort_forecast", "irrigation_chain",
           "sector_chain", "crop_chain", "worked_examples", "people_in_ages", "rnd"]

