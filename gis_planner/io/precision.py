"""Precision that matches the data: each layer's source scale / positional accuracy, and the rounding of
areas and distances that the coarsest input supports.

A layer's accuracy comes, in this order, from the user (``import --scale 1:10000`` or ``--accuracy-m``),
from the file's metadata (a scale denominator GDAL exposes), or is *estimated* from the spacing of its
vertices (and said so). It is stored in the layer provenance (``notes.precision``).

The rule (``layers/import.yaml`` ``precision``, with its rationale there): a map at scale 1:N is accurate
to ``map_accuracy_mm`` at that scale; a curve drawn with vertices ``s`` metres apart, turning by θ at
each, departs from the real curve by up to its sagitta s·θ/8 (:func:`vertex_spacing`). An outline known to ±a metres gives an area uncertain by at least a²
(by a × perimeter for a whole figure), so digits of a hectare below a² — and of a metre below a — are
noise. Reports and CLI tables print areas and distances with at most the decimals the coarsest input
supports, with a note naming that input.
"""
from __future__ import annotations

import math
import re

import numpy as np
import shapely

from ..catalog import load_rules
from ..errors import GisPlannerError


def _rules(ws=None) -> dict:
    return load_rules("import", ws).get("precision") or {}


def parse_scale(scale) -> int:
    """``"1:10000"``, ``"1:10 000"``, ``"10000"`` → 10000.

    >>> parse_scale("1:10 000"), parse_scale(2000)
    (10000, 2000)
    """
    text = re.sub(r"[\s\u00a0_,.]", "", str(scale))
    m = re.fullmatch(r"(?:1:)?(\d+)", text)
    if not m or int(m.group(1)) < 1:
        raise GisPlannerError(f"--scale '{scale}' is not a map scale", fix="write it as 1:10000", code="bad_scale")
    return int(m.group(1))


def accuracy_from_scale(denominator: int, ws=None) -> float:
    """Positional accuracy (m) of a map at 1:``denominator``.

    >>> accuracy_from_scale(10000)
    5.0
    """
    return float(_rules(ws).get("map_accuracy_mm", 0.5)) * denominator / 1000.0


def vertex_spacing(geoms, max_turn_deg: float = 60.0) -> tuple[float | None, float | None]:
    """``(median vertex spacing, sagitta estimate)`` in metres for lines/polygon rings (None for points).

    Where a line turns gently at a vertex (less than ``max_turn_deg``: a sampled curve, not a corner),
    the true curve between vertices ``s`` apart turning by θ lies up to its sagitta s·θ/8 away from the
    straight segment. The median of that over such vertices estimates how far the drawn line may be from
    the real one; corners (a parcel's right angles) and straight runs (θ ≈ 0) carry no such error.
    """
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return None, None
    dims = shapely.get_dimensions(geoms)
    lines = np.concatenate([shapely.boundary(geoms[dims == 2]), geoms[dims == 1]])
    if not len(lines):
        return None, None
    parts = shapely.get_parts(shapely.get_parts(lines))
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    if len(coords) < 3:
        return None, None
    seg = np.diff(coords, axis=0)
    same = idx[1:] == idx[:-1]
    length = np.hypot(*seg.T)
    good = same & (length > 0)
    spacing = float(np.median(length[good])) if good.any() else None
    # turning angle at vertex i between segments i-1 and i (same part, both non-degenerate)
    a, b = seg[:-1], seg[1:]
    ok = good[:-1] & good[1:]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    dot = (a * b).sum(axis=1)
    turn = np.abs(np.arctan2(cross, dot))
    curve = ok & (turn > 1e-3) & (turn < np.radians(max_turn_deg))
    if not curve.any():
        return spacing, None
    s = (length[:-1] + length[1:]) / 2.0
    return spacing, float(np.median(s[curve] * turn[curve] / 8.0))


def metadata_scale(info: dict, ws=None) -> int | None:
    """A scale denominator in GDAL metadata (``SCALE=1:10000``, ``denominator`` …), or None."""
    words = [str(w) for w in _rules(ws).get("metadata_keys") or ["scale", "denominator"]]
    pattern = "|".join(re.escape(w) for w in words)
    for key in ("dataset_metadata", "layer_metadata"):
        md = info.get(key) or {}
        for k, v in md.items():
            if re.search(pattern, str(k), re.IGNORECASE):
                m = re.search(r"(?:1\s*:\s*)?(\d[\d\s]{2,})", str(v))
                if m:
                    return int(re.sub(r"\s", "", m.group(1)))
    return None


def layer_precision(geoms, *, scale=None, accuracy_m: float | None = None, metadata: dict | None = None,
                    ws=None) -> dict:
    """The ``precision`` record of a layer's provenance (see module docstring).

    >>> from shapely.geometry import Point, box
    >>> layer_precision([box(0, 0, 100, 100)], scale="1:2000")["accuracy_m"]
    1.0
    >>> layer_precision([box(0, 0, 100, 100)])["how"]      # right angles only: nothing to estimate from
    'unknown'
    >>> circle = Point(0, 0).buffer(10_000, quad_segs=8)  # a 10 km lake drawn with 32 vertices ~1.96 km apart
    >>> p = layer_precision([circle]); (p["how"], p["accuracy_m"], p["spacing_m"])
    ('estimated', 48.0, 1960.34)
    """
    spacing, sagitta = vertex_spacing(geoms, float(_rules(ws).get("max_turn_deg", 60.0)))
    if accuracy_m is not None:
        if not (accuracy_m > 0 and math.isfinite(accuracy_m)):
            raise GisPlannerError(f"--accuracy-m {accuracy_m} is not a positive number of metres",
                                  fix="write e.g. --accuracy-m 2.5", code="bad_accuracy")
        out = {"accuracy_m": float(accuracy_m), "how": "user_accuracy"}
    elif scale is not None:
        n = parse_scale(scale)
        out = {"accuracy_m": accuracy_from_scale(n, ws), "how": "user_scale", "scale": f"1:{n}"}
    else:
        n = metadata_scale(metadata or {}, ws)
        if n:
            out = {"accuracy_m": accuracy_from_scale(n, ws), "how": "metadata", "scale": f"1:{n}"}
        elif sagitta is not None:
            out = {"accuracy_m": _nice(sagitta), "how": "estimated"}
        else:
            return {"accuracy_m": None, "how": "unknown", "spacing_m": None if spacing is None else round(spacing, 2)}
    out["spacing_m"] = None if spacing is None else round(spacing, 2)
    return out


def _nice(x: float) -> float:
    """Two significant digits (an estimate is not known better)."""
    if x <= 0:
        return 0.0
    return float(f"{x:.2g}")


def decimals_for(accuracy_m: float | None, ws=None) -> tuple[int, int]:
    """(area decimals in ha, length decimals in m) that an accuracy of ``accuracy_m`` supports.

    >>> decimals_for(5.0), decimals_for(1.0), decimals_for(700.0), decimals_for(None)
    ((2, 0), (4, 0), (0, 0), (4, 1))
    """
    r = _rules(ws)
    max_a, max_l = int(r.get("max_area_decimals", 4)), int(r.get("max_length_decimals", 1))
    if not accuracy_m:
        return max_a, max_l
    a_ha = accuracy_m * accuracy_m / 10_000.0
    # the rounding step is the smallest power of ten not below a² (areas) or a (lengths)
    area = min(max_a, max(0, -math.ceil(math.log10(a_ha) - 1e-9)))
    length = min(max_l, max(0, -math.ceil(math.log10(accuracy_m) - 1e-9)))
    return area, length


def workspace_precision(ws, layers=None) -> dict | None:
    """The coarsest stored accuracy among ``layers`` (default: every layer with one), with the decimals
    it supports; None when no layer records an accuracy (e.g. the demo)."""
    worst = None
    for p in ws.provenance():
        if layers is not None and p["layer"] not in layers:
            continue
        notes = p.get("notes") if isinstance(p.get("notes"), dict) else {}
        prec = notes.get("precision") or {}
        acc = prec.get("accuracy_m")
        if acc and (worst is None or acc > worst["accuracy_m"]):
            worst = {"layer": p["layer"], **prec}
    if worst is None:
        return None
    area, length = decimals_for(worst["accuracy_m"], ws)
    worst.update(area_decimals=area, length_decimals=length,
                 area_step_ha=10.0 ** -area, length_step_m=10.0 ** -length)
    return worst


def precision_note(prec: dict | None, lang: str | None = None) -> str | None:
    """The sentence under a table saying how it is rounded and why (None when nothing is known)."""
    from ..i18n import t

    if not prec:
        return None
    step_a = f"{prec['area_step_ha']:g}"
    step_l = f"{prec['length_step_m']:g}"
    return t("io.precision.note", lang, area_step=step_a, length_step=step_l, layer=prec["layer"],
             accuracy=f"{prec['accuracy_m']:g}")


def area_format(ws, decimals: int = 4, lang: str | None = None, layers=None) -> tuple[str, str | None]:
    """``(float format, note)`` for a table of areas: at most ``decimals`` and no more than the coarsest
    input supports; the note is None when no layer records an accuracy."""
    prec = workspace_precision(ws, layers)
    dec = min(int(decimals), int(prec["area_decimals"])) if prec else int(decimals)
    return f"{{:,.{dec}f}}", precision_note(prec, lang)
