"""The import report: what was read, what was changed, what the land specialist should look at.

It is stored as the layer's provenance ``notes`` (``ws.provenance("parcels")["notes"]``) so the app
can show the warnings later, and printed by ``gis-planner import`` (table or JSON). Warnings carry a
stable ``code`` and ``params``; their text comes from ``gis_planner/i18n/io.yaml`` in ky/ru/en via
:func:`warning_text`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from ..i18n import t


def _ids(ids, n: int = 10, total: bool = True) -> str:
    ids = list(ids)
    head = ", ".join(str(i) for i in ids[:n])
    if len(ids) <= n:
        return head
    return head + (f" … (+{len(ids) - n})" if total else " …")


def _values(groups: dict, n: int = 5, total: bool = True) -> str:
    items = list(groups.items())
    parts = [f"'{v}' ({_ids(ids, 5, total)})" for v, ids in items[:n]]
    if len(items) <= n:
        return "; ".join(parts)
    return "; ".join(parts) + (f"; … (+{len(items) - n})" if total else "; …")


def _short(v, n: int = 20):
    """Warning parameters keep only what the message shows (the full lists are in the report)."""
    if isinstance(v, dict):
        return {k: list(ids)[:n] for k, ids in list(v.items())[:n]}
    if isinstance(v, (list, tuple)):
        return list(v)[:n]
    return v


@dataclass
class ImportReport:
    """Outcome of :func:`gis_planner.io.import_layer` (all ids are *source* feature ids, see
    ``fid_meaning``)."""

    layer: str
    file: str
    driver: str = ""
    src_layers: list = field(default_factory=list)
    encoding: str | None = None
    encoding_source: str | None = None
    original_crs: str | None = None
    crs_source: str | None = None          # file | option | assumed
    workspace_crs: str | None = None
    swapped_axes: bool = False
    features_read: int = 0
    features_imported: int = 0
    area_ha_total: float = 0.0             # polygons only
    length_km_total: float = 0.0           # lines only
    geometry_counts: dict = field(default_factory=dict)   # polygon / line / point
    mode: str = "new"                      # new | replace | append
    existing_features: int = 0             # features the layer held before
    read_errors: list = field(default_factory=list)       # records the file could not deliver
    append_duplicates: dict = field(default_factory=dict)  # keys / geometries already in the layer
    field_mapping: dict = field(default_factory=dict)
    field_match: dict = field(default_factory=dict)
    extra_fields: list = field(default_factory=list)
    missing_fields: list = field(default_factory=list)
    repaired: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    duplicates: dict = field(default_factory=dict)
    overlaps: list = field(default_factory=list)
    unknown_values: dict = field(default_factory=dict)
    missing_required: dict = field(default_factory=dict)
    bad_values: dict = field(default_factory=dict)
    area_mismatch: list = field(default_factory=list)
    outside_boundary: list = field(default_factory=list)
    precision: dict = field(default_factory=dict)      # source scale/accuracy (gis_planner.io.precision)
    clipped: dict = field(default_factory=dict)        # cut to the municipal boundary: share, ids outside
    warnings: list = field(default_factory=list)
    source: str | None = None
    source_date: str | None = None
    fid_meaning: str | None = None
    dry_run: bool = False
    written: bool = False

    # ------------------------------------------------------------------ building
    def warn(self, code: str, count: int | None = None, **params: Any) -> None:
        """Add a warning (stable ``code``, ``params`` for the message template)."""
        params = {k: _short(v) for k, v in params.items()}
        self.warnings.append({"code": code, "count": count, "params": params,
                              "text": warning_text({"code": code, "params": params}, "en")})

    @property
    def ok(self) -> bool:
        return self.features_imported > 0

    # ------------------------------------------------------------------ output
    def to_dict(self, max_listed: int | None = None) -> dict:
        """A JSON-able dict; lists of ids longer than ``max_listed`` are cut (counts stay exact)."""
        d = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if max_listed and isinstance(v, list) and len(v) > max_listed and f.name != "warnings":
                d[f"{f.name}_truncated"] = len(v) - max_listed
                v = v[:max_listed]
            elif max_listed and isinstance(v, dict) and len(v) > max_listed:
                d[f"{f.name}_truncated"] = len(v) - max_listed
                v = dict(list(v.items())[:max_listed])
            d[f.name] = copy.deepcopy(v) if isinstance(v, (list, dict)) else v
        d["counts"] = {"read": self.features_read, "imported": self.features_imported,
                       "repaired": len(self.repaired), "dropped": len(self.dropped),
                       "duplicate_numbers": len(self.duplicates), "overlaps": len(self.overlaps),
                       "unknown_values": sum(len(i) for g in self.unknown_values.values() for i in g.values()),
                       "area_mismatch": len(self.area_mismatch),
                       "outside_boundary": len(self.outside_boundary)}
        return d

    def lines(self, lang: str | None = None) -> list[str]:
        """The report as text lines in ``lang`` (for the CLI and the app)."""
        out = []
        key = "io.summary_dry_run" if self.dry_run else "io.summary"
        from .precision import decimals_for

        dec = decimals_for((self.precision or {}).get("accuracy_m"))[0]
        out.append(t(key, lang, n=self.features_imported, read=self.features_read, layer=self.layer,
                     area=f"{self.area_ha_total:,.{dec}f}"))
        gc = self.geometry_counts or {}
        if gc.get("line") or gc.get("point"):
            # a line has a length and a point neither: say so instead of an "area 0" for rivers or wells
            out.append(t("importsafe.measure", lang, polygons=gc.get("polygon", 0), lines=gc.get("line", 0),
                         points=gc.get("point", 0), area=f"{self.area_ha_total:,.{dec}f}",
                         length=f"{self.length_km_total:,.3f}"))
        if self.mode == "append" and self.existing_features:
            out.append(t("importsafe.appended", lang, n=self.features_imported, old=self.existing_features))
        elif self.mode == "replace" and self.existing_features:
            out.append(t("importsafe.replaced", lang, old=self.existing_features))
        src = ", ".join(self.src_layers) if self.src_layers else ""
        out.append(f"{t('io.file', lang)}: {self.file} ({self.driver}{'; ' + src if src else ''}"
                   f"{'; ' + str(self.encoding) if self.encoding else ''})")
        out.append(f"{t('core.crs', lang)}: {self.original_crs} → {self.workspace_crs}")
        if self.field_mapping:
            out.append(f"{t('io.fields', lang)}: " + ", ".join(f"{k} ← {v}" for k, v in self.field_mapping.items()))
        if self.extra_fields:
            out.append(f"{t('io.extra_fields', lang)}: " + ", ".join(map(str, self.extra_fields)))
        if self.fid_meaning:
            out.append(f"{t('io.fid_meaning', lang)}: {t('io.fid.' + self.fid_meaning, lang)}")
        if self.warnings:
            out.append(f"{t('core.warning', lang)}:")
            out.extend(f"  - {warning_text(w, lang)}" for w in self.warnings)
        else:
            out.append(t("io.no_warnings", lang))
        return out


def warning_text(w: dict, lang: str | None = None) -> str:
    """Text of a stored warning ``{"code", "params"}`` in ``lang``.

    >>> warning_text({"code": "swapped_axes", "params": {}}, "en")[:22]
    'Longitude and latitude'
    """
    params = dict(w.get("params") or {})
    if "reasons" in params:
        params["reasons"] = ", ".join(t(f"io.reason.{r}", lang) for r in params["reasons"])
    for k, v in list(params.items()):
        # stored parameters are shortened lists: the counts are in the message itself
        if isinstance(v, dict):
            params[k] = _values(v, total=False)
        elif isinstance(v, (list, tuple)):
            params[k] = _ids(v, total=False)
    return t(f"io.warn.{w.get('code')}", lang, **params)
