"""Restrictions and legal zoning: "may this plot be used for X, and if not, why?".

Public API (see docs/zoning.md):

* :func:`build_restrictions` — the restriction frame (docs/data-model.md) from the workspace layers
  and ``layers/restrictions.yaml`` / ``layers/zoning_rules.yaml``;
* :func:`check` — one plot (parcel id, drawn polygon or point) for one intended use → :class:`CheckResult`;
* :func:`check_many` — thousands of parcels at once (vectorised, R-tree) → DataFrame;
* :func:`restriction_map` — prohibited / conditional / free map for a use, with areas;
* :func:`conflicts` — current land use against the regimes;
* :func:`transformation_list` / :func:`write_transformation` — land transformation files;
* tables of the rules for the report and the app: :func:`regime_table`, :func:`width_table`,
  :func:`zoning_table`;
* the land-category step (``layers/category_uses.yaml``): :func:`category_step`, :func:`category_table`,
  :func:`validate_category_rules`;
* rule helpers: :func:`zoning_rules`, :func:`restriction_rules`, :func:`validate_zoning_rules`,
  :func:`save_zoning_rules`, :func:`validate_rules`.
"""
from __future__ import annotations

from .check import CheckResult, check, check_many, check_pieces, overlay_effects, restriction_map, with_effects
from .category import category_rules, category_step, category_table, validate_category_rules
from .conflicts import conflicts, conflicts_summary
from .restrictions import build_restrictions, write_restrictions
from .transformation import transformation_list, write_transformation
from .rules import (effect_of, regime_table, restriction_rules, rule_effects, save_restriction_rules,
                    save_zoning_rules, validate_restriction_rules, validate_rules, validate_rules_file,
                    validate_zoning_rules, width_table, zone_effect, zoning_rules, zoning_table)

__all__ = [
    "CheckResult", "build_restrictions", "check", "check_many", "check_pieces", "conflicts", "conflicts_summary",
    "transformation_list", "write_transformation", "effect_of", "overlay_effects",
    "restriction_map", "restriction_rules", "rule_effects", "save_restriction_rules", "save_zoning_rules",
    "validate_restriction_rules", "validate_rules", "validate_rules_file", "validate_zoning_rules", "with_effects",
    "write_restrictions", "zone_effect", "zoning_rules", "regime_table", "width_table", "zoning_table",
    "category_rules", "category_step", "category_table", "validate_category_rules",
]
