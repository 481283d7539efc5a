"""Scenario definition: what a growth scenario says, how it is stored (YAML/JSON) and validated.

A scenario is a small, human-editable document::

    id: irrigation
    name: {ky: "...", ru: "...", en: "Irrigation investment"}
    base_year: 2024
    horizon_year: 2034
    population:
      method: q30                    # q30 (mean of year-on-year rates) | compound | cohort
      history: {2021: 9800, 2022: 10500, 2023: 11000, 2024: 11500}
    housing: {queue_households: 60}
    investments:
      - {sector: irrigation, amount_mio_som: 20}
    crops:
      - {crop: raspberry, base_year: 2024, output_t: 2200, target_year: 2027,
         target_growth_pct: 74, yield_gain_pct: 5}
    norms: {housing: {plot_size_ha: 0.08}}   # any coefficient of layers/scenario_norms.yaml

Coefficients come from ``layers/scenario_norms.yaml`` (with the workspace override) and every one can be
overridden per scenario under ``norms:`` — :class:`Norms` resolves them and remembers their source.

Examples
--------
>>> s = Scenario.from_dict({"id": "base", "base_year": 2024, "horizon_year": 2029,
...                         "population": {"method": "compound", "base": 1000, "rate_pct": 2}})
>>> s.horizon_years
5
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .. import yamlio
from ..catalog import load_rules, rules_version
from ..errors import GisPlannerError

POP_METHODS = ("q30", "compound", "cohort")
SECTORS = ("irrigation", "industry", "tourism")
USES = ("housing", "multistorey_housing", "social_facility", "industry", "tourism_facility",
        "irrigated_agriculture", "perennial_crop")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --------------------------------------------------------------------------- norms
class Norms:
    """Resolved coefficients: ``layers/scenario_norms.yaml`` (+ workspace override) + scenario overrides.

    ``value(path)`` returns the number (as :class:`~decimal.Decimal` when ``exact``) and ``source(path)``
    where it comes from; a scenario override is reported as ``"scenario <id>"``.

    >>> n = Norms.load(overrides={"housing": {"plot_size_ha": 0.08}}, scenario_id="x")
    >>> n.value("housing.plot_size_ha"), n.source("housing.plot_size_ha")
    (0.08, 'scenario x (overrides layers/scenario_norms.yaml)')
    >>> n.exact("sectors.irrigation.ha_per_mio_som")
    Decimal('17.5')
    """

    def __init__(self, data: dict, overridden: set[str] | None = None, scenario_id: str | None = None,
                 workspace: Any = None):
        self.data = data
        self.overridden = overridden or set()
        self.scenario_id = scenario_id
        self.workspace = workspace

    @classmethod
    def load(cls, workspace: Any = None, overrides: dict | None = None,
             scenario_id: str | None = None) -> "Norms":
        data = load_rules("scenario_norms", workspace)
        overridden: set[str] = set()
        if overrides:
            data = _apply_overrides(data, overrides, overridden, prefix="")
        return cls(data, overridden, scenario_id, workspace)

    def node(self, path: str) -> Any:
        cur: Any = self.data
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise GisPlannerError(f"coefficient '{path}' is not defined", file="layers/scenario_norms.yaml",
                                      fix=f"add `{path}` with a value and a source", code="missing_norm")
            cur = cur[part]
        return cur

    def value(self, path: str) -> Any:
        node = self.node(path)
        return node.get("value") if isinstance(node, dict) and "value" in node else node

    def exact(self, path: str) -> Decimal:
        """The value as an exact decimal (``Decimal(str(value))``), for the demand arithmetic."""
        v = self.value(path)
        if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
            raise GisPlannerError(f"coefficient '{path}' must be a number, not {v!r}",
                                  file="layers/scenario_norms.yaml", fix="give a number", code="bad_norm")
        try:
            return Decimal(str(v))
        except Exception:  # noqa: BLE001
            raise GisPlannerError(f"coefficient '{path}' must be a number, not {v!r}",
                                  file="layers/scenario_norms.yaml", fix="give a number",
                                  code="bad_norm") from None

    def source(self, path: str) -> str:
        if path in self.overridden:
            return f"scenario {self.scenario_id} (overrides layers/scenario_norms.yaml)"
        node = self.node(path)
        src = node.get("source") if isinstance(node, dict) else None
        return f"layers/scenario_norms.yaml {path}: {src}" if src else f"layers/scenario_norms.yaml {path}"

    def confirm(self, path: str) -> bool:
        node = self.node(path)
        return bool(isinstance(node, dict) and node.get("confirm")) and path not in self.overridden

    def section(self, path: str, key: str | None = None) -> dict:
        """A rule section (e.g. ``suitability``), with ``key`` falling back to ``default``."""
        sec = self.node(path)
        if key is None:
            return copy.deepcopy(sec)
        if key in sec:
            return copy.deepcopy(sec[key])
        return copy.deepcopy(sec.get("default", {}))

    def provenance(self) -> dict:
        out = rules_version("scenario_norms", self.workspace)
        out["scenario_overrides"] = sorted(self.overridden)
        return out


# Short names of the kinds of source behind the norms (``layers/scenario_norms.yaml`` ``source:`` texts, in
# English with the file path): the app shows ``scenarios.src.<kind>`` in Kyrgyz and Russian. First match wins.
SOURCE_KINDS = (
    ("snip", r"\bSNiP\s+([0-9][0-9.\-]*\*?)"),
    ("sedp", r"\bSEDP\b|methodology|worked example"),
    ("statcom", r"National Statistical Committee"),
    ("law_education", r"Law of the KR"),
    ("land_code", r"\bLand Code\b"),
    ("land_types", r"^Land types\b"),
    ("plot_norm", r"house plots? norm|individual[- ]housing plot"),
    ("brief", r"^BRIEF\b"),
    ("default", r"gis_planner|default|from the layout|^as irrigated|^a subdivided|^berry plantations|"
                r"^gravity irrigation|^new irrigated land"),
)


def source_label(source: str, lang: str = "en") -> str:
    """A norm's source (:meth:`Norms.source`) as people read it: in English the full text with the file and
    the rule's path; in Kyrgyz and Russian the short name of its kind (``scenarios.src.*``: SNiP with its
    number, the SEDP methodology, the Statistics Committee, a law, the Land Code, a gis_planner default…),
    or the scenario that overrides it. A text of no known kind (a workspace's own rule) is shown as it is."""
    from ..i18n import t

    text = str(source or "").strip()
    if not text or lang == "en":
        return text
    m = re.match(r"scenario (\S+) \(overrides", text)
    if m:
        return t("scenarios.src.scenario", lang, id=m.group(1))
    m = re.match(r"layers/scenario_norms\.yaml\s+\S+(?::\s*(.*))?$", text, re.S)
    if m and not m.group(1):
        return t("scenarios.src.norms", lang)
    body = m.group(1) if m else text
    for kind, pattern in SOURCE_KINDS:
        hit = re.search(pattern, body, re.I)
        if hit:
            return t(f"scenarios.src.{kind}", lang, **({"code": hit.group(1)} if kind == "snip" else {}))
    return body


def _apply_overrides(data: dict, overrides: dict, overridden: set, prefix: str) -> dict:
    out = copy.deepcopy(data)
    for key, val in overrides.items():
        path = f"{prefix}{key}"
        if "." in str(key):  # dotted form: {"housing.plot_size_ha": 0.08}
            head, rest = str(key).split(".", 1)
            out = _apply_overrides(out, {head: {rest: val}}, overridden, prefix)
            continue
        cur = out.get(key)
        if isinstance(cur, dict) and "value" in cur and not (isinstance(val, dict) and "value" in val):
            cur = dict(cur)
            cur["value"] = val
            out[key] = cur
            overridden.add(path)
        elif isinstance(cur, dict) and isinstance(val, dict):
            out[key] = _apply_overrides(cur, val, overridden, prefix=f"{path}.")
        elif cur is None and key not in out:
            raise GisPlannerError(f"unknown coefficient '{path}' in the scenario's norms",
                                  file="scenario", feature=path,
                                  fix="use a name from layers/scenario_norms.yaml", code="unknown_norm")
        else:
            out[key] = copy.deepcopy(val)
            overridden.add(path)
    return out


# --------------------------------------------------------------------------- scenario
@dataclass
class Scenario:
    """A growth scenario (see module docstring for the file format)."""

    id: str
    base_year: int
    horizon_year: int
    name: Any = None
    description: Any = None
    population: dict = field(default_factory=dict)
    housing: dict = field(default_factory=dict)
    investments: list = field(default_factory=list)
    crops: list = field(default_factory=list)
    social: dict = field(default_factory=dict)
    norms: dict = field(default_factory=dict)
    allocation: dict = field(default_factory=dict)
    source_file: str | None = None

    @property
    def horizon_years(self) -> int:
        return int(self.horizon_year) - int(self.base_year)

    def title(self, lang: str = "en") -> str:
        if isinstance(self.name, dict):
            return str(self.name.get(lang) or self.name.get("en") or next(iter(self.name.values()), self.id))
        return str(self.name or self.id)

    def queue_path(self) -> Path | None:
        """The plot-queue list (``housing.queue_file``), relative to the scenario file's folder."""
        qf = self.housing.get("queue_file")
        if not qf:
            return None
        p = Path(qf)
        if not p.is_absolute() and self.source_file:
            p = Path(self.source_file).parent / p
        return p

    def norms_for(self, workspace: Any = None) -> Norms:
        return Norms.load(workspace, self.norms, self.id)

    # ------------------------------------------------------------------ io
    @classmethod
    def from_dict(cls, data: dict, source_file: str | None = None) -> "Scenario":
        if not isinstance(data, dict):
            raise GisPlannerError("a scenario must be a mapping (id, base_year, horizon_year, …)",
                                  file=source_file, fix="see data/scenarios/baseline.yaml", code="bad_scenario")
        known = {f for f in cls.__dataclass_fields__ if f != "source_file"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GisPlannerError(f"unknown scenario keys {unknown}", file=source_file,
                                  fix=f"use only {sorted(known)}", code="bad_scenario")
        for req in ("id", "base_year", "horizon_year"):
            if data.get(req) is None:
                raise GisPlannerError(f"the scenario has no `{req}`", file=source_file, fix=f"add `{req}:`",
                                      code="bad_scenario")
        kw = {k: copy.deepcopy(v) for k, v in data.items()}
        kw["base_year"] = _int(kw["base_year"], "base_year", source_file)
        kw["horizon_year"] = _int(kw["horizon_year"], "horizon_year", source_file)
        kw["id"] = str(kw["id"])
        for key in ("population", "housing", "social", "norms", "allocation"):
            kw[key] = kw.get(key) or {}
        for key in ("investments", "crops"):
            kw[key] = kw.get(key) or []
        scn = cls(source_file=source_file, **kw)
        scn.validate()
        return scn

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source_file", None)
        return {k: v for k, v in d.items() if v not in (None, {}, [])}

    def validate(self) -> None:
        """Raise :class:`GisPlannerError` naming the key and the fix for the first problem found."""
        f = self.source_file
        if not _ID_RE.match(self.id):
            raise GisPlannerError(f"scenario id '{self.id}' must be letters, digits, _ or -", file=f,
                                  feature="id", fix="e.g. `id: high_growth`", code="bad_scenario")
        if not 1900 < self.base_year < 2200:
            raise GisPlannerError(f"base_year {self.base_year} is not a plausible year", file=f,
                                  feature="base_year", fix="e.g. `base_year: 2024`", code="bad_scenario")
        if not 1 <= self.horizon_years <= 30:
            raise GisPlannerError(f"horizon_year must be 1–30 years after base_year (got {self.horizon_years})",
                                  file=f, feature="horizon_year",
                                  fix="programme horizons are 3–5 years, strategic 10–20", code="bad_scenario")
        pop = self.population
        method = pop.get("method", "q30" if pop.get("history") else None)
        if pop and method not in POP_METHODS:
            raise GisPlannerError(f"population method '{method}' is unknown", file=f, feature="population.method",
                                  fix=f"use one of {', '.join(POP_METHODS)}", code="bad_scenario")
        if pop:
            pop["method"] = method
        if method == "q30":
            from .demand import history_points  # the rate functions own the rules of a usable history

            points = history_points(pop.get("history") or {}, f)
            years = [y for y, _ in points]
            for y, v in points:
                if v != v.to_integral_value():
                    raise GisPlannerError(f"population of {y} must be whole people, not {v}", file=f,
                                          feature="population.history", fix="give whole people",
                                          code="bad_scenario")
            pop["history"] = {y: int(v) for y, v in points}
            if years[-1] != self.base_year:
                raise GisPlannerError(f"the population history ends in {years[-1]}, not the base year "
                                      f"{self.base_year}", file=f, feature="population.history",
                                      fix="make base_year the last year with a figure", code="bad_scenario")
        elif method == "compound":
            for key in ("base", "rate_pct"):
                if not _is_number(pop.get(key)):
                    raise GisPlannerError(f"the compound method needs `{key}`", file=f,
                                          feature=f"population.{key}", fix="e.g. `base: 11500, rate_pct: 1.8`",
                                          code="bad_scenario")
        elif method == "cohort":
            groups = pop.get("groups")
            if not isinstance(groups, list) or not groups:
                raise GisPlannerError("the cohort method needs `groups` (age from/to, people, death rate)",
                                      file=f, feature="population.groups",
                                      fix="e.g. `groups: [{age: [0, 4], people: 1200, deaths_per_1000: 2}, …]`",
                                      code="bad_scenario")
            prev_to = -1
            for i, g in enumerate(groups):
                age = g.get("age")
                if (not isinstance(age, (list, tuple)) or len(age) != 2 or int(age[0]) != prev_to + 1
                        or int(age[1]) < int(age[0])):
                    raise GisPlannerError(f"cohort group {i + 1} has age {age!r}; groups must be contiguous "
                                          f"from age 0", file=f, feature=f"population.groups[{i}]",
                                          fix="e.g. [0, 4], [5, 9], …, [70, 100]", code="bad_scenario")
                prev_to = int(age[1])
                if not _is_number(g.get("people")) or float(g["people"]) < 0:
                    raise GisPlannerError(f"cohort group {i + 1} needs `people` ≥ 0", file=f,
                                          feature=f"population.groups[{i}]", fix="give the number of people",
                                          code="bad_scenario")
            if not _is_number(pop.get("births_per_1000", 0)):
                raise GisPlannerError("births_per_1000 must be a number", file=f,
                                      feature="population.births_per_1000", fix="e.g. 24", code="bad_scenario")
        for i, inv in enumerate(self.investments):
            if not isinstance(inv, dict) or inv.get("sector") not in SECTORS:
                raise GisPlannerError(f"investment {i + 1} has an unknown sector "
                                      f"{(inv or {}).get('sector')!r}", file=f, feature=f"investments[{i}]",
                                      fix=f"use one of {', '.join(SECTORS)}", code="bad_scenario")
            if not _is_number(inv.get("amount_mio_som")) or float(inv["amount_mio_som"]) < 0:
                raise GisPlannerError(f"investment {i + 1} needs `amount_mio_som` ≥ 0", file=f,
                                      feature=f"investments[{i}]", fix="e.g. `amount_mio_som: 20`",
                                      code="bad_scenario")
        for i, crop in enumerate(self.crops):
            if not isinstance(crop, dict) or not crop.get("crop"):
                raise GisPlannerError(f"crop {i + 1} has no `crop` name", file=f, feature=f"crops[{i}]",
                                      fix="e.g. `crop: raspberry`", code="bad_scenario")
            for key in ("output_t", "base_year", "target_year"):
                if not _is_number(crop.get(key)):
                    raise GisPlannerError(f"crop {crop['crop']} needs `{key}`", file=f, feature=f"crops[{i}]",
                                          fix="e.g. `output_t: 2200, base_year: 2024, target_year: 2027`",
                                          code="bad_scenario")
            if not any(_is_number(crop.get(k)) for k in ("target_growth_pct", "target_output_t")):
                raise GisPlannerError(f"crop {crop['crop']} needs `target_growth_pct` or `target_output_t`",
                                      file=f, feature=f"crops[{i}]", fix="e.g. `target_growth_pct: 74`",
                                      code="bad_scenario")
        q = self.housing.get("queue_households", 0)
        if not _is_number(q) or float(q) < 0:
            raise GisPlannerError(f"housing.queue_households must be ≥ 0, not {q!r}", file=f,
                                  feature="housing.queue_households", fix="the number of families in the queue",
                                  code="bad_scenario")
        qf = self.housing.get("queue_file")
        if qf is not None:
            read_queue(self.queue_path())
        uses = self.allocation.get("uses")
        if uses is not None:
            bad = [u for u in uses if u not in USES]
            if bad:
                raise GisPlannerError(f"unknown uses {bad} in allocation.uses", file=f, feature="allocation.uses",
                                      fix=f"use {', '.join(USES)}", code="bad_scenario")
        # norms overrides must name existing coefficients (raises with the path otherwise)
        try:
            Norms.load(None, self.norms, self.id)
        except GisPlannerError as exc:
            exc.file = f
            raise


def read_queue(path: Path | None):
    r"""The municipality's queue of applicants for house plots (CSV or XLSX, one row per family).

    Recognised columns (any other is kept): ``household_size`` (persons), ``date`` (of application).
    Personal data (names) is not needed and is never copied into results.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.csv"
    >>> _ = p.write_text("applicant,household_size,date\nA,5,2019-03-01\nB,3,2021-07-15\n")
    >>> q = read_queue(p)
    >>> len(q), int(q["household_size"].sum())
    (2, 8)
    """
    import pandas as pd

    if path is None:
        return None
    if not path.exists():
        raise GisPlannerError("the plot-queue list does not exist", file=str(path), feature="housing.queue_file",
                              fix="give a CSV/XLSX path relative to the scenario file", code="bad_scenario")
    try:
        df = pd.read_excel(path) if path.suffix.lower() in (".xlsx", ".xls") else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise GisPlannerError(f"cannot read the plot-queue list ({exc.__class__.__name__})", file=str(path),
                              feature="housing.queue_file", fix="save it as CSV (UTF-8) with a header row",
                              code="bad_scenario") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.dropna(how="all")
    if "household_size" in df.columns:
        df["household_size"] = pd.to_numeric(df["household_size"], errors="coerce")
    return df


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float, Decimal)):
        return v == v
    try:
        Decimal(str(v))
        return True
    except Exception:  # noqa: BLE001
        return False


def _int(v: Any, key: str, f: str | None) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise GisPlannerError(f"`{key}` must be a year, not {v!r}", file=f, feature=key, fix="e.g. 2024",
                              code="bad_scenario") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a YAML or JSON file (validated)."""
    path = Path(path)
    if not path.exists():
        raise GisPlannerError("scenario file not found", file=str(path),
                              fix="give a path, a name from data/scenarios/ or the workspace's scenarios/",
                              code="missing_scenario")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yamlio.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise GisPlannerError(f"cannot parse the scenario ({exc.__class__.__name__}: {exc})", file=str(path),
                              fix="check the indentation and quotes", code="bad_scenario") from None
    return Scenario.from_dict(data, source_file=str(path))


def save_scenario(scn: Scenario, path: str | Path) -> Path:
    """Write a scenario as YAML (``.yaml``/``.yml``) or JSON (``.json``), atomically."""
    scn.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = scn.to_dict()
    if path.suffix.lower() == ".json":
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    else:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def examples_dir() -> Path:
    from ..settings import PROJECT_DIR

    return PROJECT_DIR / "data" / "scenarios"


def find_scenario(name_or_path: str | Path, workspace: Any = None) -> Scenario:
    """A scenario by path, or by name in ``<workspace>/scenarios/`` then ``data/scenarios/``."""
    p = Path(name_or_path)
    if p.exists():
        return load_scenario(p)
    dirs = []
    if workspace is not None:
        dirs.append(Path(getattr(workspace, "root", workspace)) / "scenarios")
    dirs.append(examples_dir())
    for d in dirs:
        for ext in (".yaml", ".yml", ".json"):
            cand = d / f"{name_or_path}{ext}"
            if cand.exists():
                return load_scenario(cand)
    known = sorted({q.stem for d in dirs if d.exists() for q in d.iterdir() if q.suffix in (".yaml", ".yml", ".json")})
    raise GisPlannerError(f"scenario '{name_or_path}' not found", file=str(name_or_path),
                          fix=f"give a file path or one of: {', '.join(known) or '(none)'}", code="missing_scenario")


__all__ = ["Norms", "Scenario", "source_label", "read_queue", "load_scenario", "save_scenario", "find_scenario", "examples_dir",
           "POP_METHODS", "SECTORS", "USES"]
