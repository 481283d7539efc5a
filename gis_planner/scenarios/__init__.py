"""Growth scenarios: economic growth → land demand → where it can go → spatial consequences.

Public API::

    from gis_planner.scenarios import (Scenario, load_scenario, save_scenario, find_scenario,
                                       demand, allocate, consequences, run_scenario, compare)

``run_scenario(ws, scenario)`` runs the whole chain (demand → allocation → consequences); see
``docs/scenarios.md``.
"""
from .demand import (Demand, Step, cohort_forecast, compound_forecast, crop_chain, demand, irrigation_chain,
                     q30_forecast, sector_chain, worked_examples)
from .model import Norms, Scenario, examples_dir, find_scenario, load_scenario, save_scenario

__all__ = ["Scenario", "Norms", "load_scenario", "save_scenario", "find_scenario", "examples_dir",
           "Demand", "Step", "demand", "q30_forecast", "compound_forecast", "cohort_forecast",
           "irrigation_chain", "sector_chain", "crop_chain", "worked_examples"]
