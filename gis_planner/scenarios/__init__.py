"""Growth scenarios: economic growth → land demand → where it can go → spatial consequences.

Public API::

    from gis_planner.scenarios import (Scenario, load_scenario, save_scenario, find_scenario,
                                       demand, allocate, consequences, run_scenario, run_many,
                                       compare_table, plot_maps)

* :func:`demand` – the causal chain (population, sectors, crops, social facilities) step by step;
* :func:`allocate` – candidate land minus prohibited land, suitability, parcel-by-parcel allocation;
* :func:`consequences` – transformations, arable/pasture loss, hazard exposure, infrastructure and
  costs, land balance before/after;
* :func:`run_scenario`, :func:`run_many`, :func:`compare_table`, :func:`plot_maps` – end to end and
  side by side.

See ``docs/scenarios.md``.
"""
from .allocate import Allocation, allocate, cut_area, households_fit, subdivide_plots
from .compare import (ScenarioResult, compare_table, plot_maps, run_many, run_scenario, save_to_workspace,
                      write_outputs)
from .consequences import Consequences, apply_allocation, consequences
from .demand import (Demand, Step, cohort_forecast, compound_forecast, crop_chain, demand, irrigation_chain,
                     q30_forecast, sector_chain, worked_examples)
from .model import Norms, Scenario, examples_dir, find_scenario, load_scenario, save_scenario

__all__ = ["Scenario", "Norms", "load_scenario", "save_scenario", "find_scenario", "examples_dir",
           "Demand", "Step", "demand", "q30_forecast", "compound_forecast", "cohort_forecast",
           "irrigation_chain", "sector_chain", "crop_chain", "worked_examples",
           "Allocation", "allocate", "subdivide_plots", "cut_area", "households_fit",
           "Consequences", "consequences", "apply_allocation",
           "ScenarioResult", "run_scenario", "run_many", "compare_table", "plot_maps", "write_outputs",
           "save_to_workspace"]
