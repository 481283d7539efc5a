"""Normalisation: source field names → canonical fields, real-world values → catalogue codes, types.

Field names are matched against the canonical names and the ``aliases`` of
``layers/workspace_schema.yaml`` with :func:`gis_planner.text.normalize_key` (case, look-alike
Latin/Cyrillic letters, Old Cyrillic fita for the Kyrgyz o-bar, spaces/underscores/punctuation folded). DBF field names are cut
to 10 characters, so for Shapefiles a 10-character name that is the start of exactly one field's
alias also matches (``CADASTRAL_`` → ``cadastral_no``). An explicit ``field_map`` always wins.

Values of fields with a ``catalogue`` are looked up in that ``layers/`` catalogue (workspace
overrides apply), once per distinct value, so a 50 000-row file costs a few hundred lookups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..catalog import catalogue
from ..errors import GisPlannerError
from ..text import clean_text, normalize_key

GEOMETRY_KEYS = ("wkt", "lon", "lat")  # field_map keys naming CSV geometry columns
RESERVED = {"fid", "geom", "geometry", "ogc_fid", "src_fid"}
SHORT_NAME_MIN = 6   # a short source name (normalised) this long may be the start of one field's alias


@dataclass
class FieldMapping:
    mapping: dict = field(default_factory=dict)      # canonical -> source column
    how: dict = field(default_factory=dict)          # canonical -> explicit|name|alias|prefix
    unmapped: list = field(default_factory=list)     # source columns kept as extra fields
    ignored: list = field(default_factory=list)      # source columns matching an already mapped field
    missing: list = field(default_factory=list)      # canonical fields not found in the file


def parse_field_map(items) -> dict:
    """``["category=KATEG", "cadastral_no=Name"]`` (or a dict) → ``{"category": "KATEG", …}``.

    >>> parse_field_map(["category=KAT"])
    {'category': 'KAT'}
    """
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in items.items()}
    out = {}
    for item in items:
        if "=" not in str(item):
            raise GisPlannerError(f"--field-map '{item}' is not canonical=SOURCE",
                                  fix="write e.g. --field-map category=KATEG", code="bad_field_map")
        k, v = str(item).split("=", 1)
        if not k.strip() or not v.strip():
            raise GisPlannerError(f"--field-map '{item}' is not canonical=SOURCE",
                                  fix="write e.g. --field-map category=KATEG", code="bad_field_map")
        out[k.strip()] = v.strip()
    return out


def map_fields(columns, fields: Mapping[str, dict], field_map: Mapping[str, str] | None = None,
               dbf_name_length: int | None = None, file: str | None = None) -> FieldMapping:
    """Decide which source column feeds each canonical field.

    Parameters
    ----------
    columns : list of str
        Source attribute columns (geometry excluded).
    fields : dict
        ``layers/workspace_schema.yaml`` fields of the target layer.
    field_map : dict, optional
        Explicit ``canonical -> source`` choices (win over aliases).
    dbf_name_length : int, optional
        Set for Shapefiles: names of this length may be truncated aliases.

    Examples
    --------
    >>> fm = map_fields(["CATEGORY", "Area"], {"category": {"aliases": ["landcat"]},
    ...                                       "area_doc_ha": {"aliases": ["area"]}})
    >>> fm.mapping
    {'category': 'CATEGORY', 'area_doc_ha': 'Area'}
    """
    columns = [c for c in columns if c != "geometry"]
    field_map = dict(field_map or {})
    res = FieldMapping()
    taken: set[str] = set()
    for canon, src in field_map.items():
        if canon in GEOMETRY_KEYS:
            continue
        if canon not in fields:
            raise GisPlannerError(f"--field-map {canon}={src}: '{canon}' is not a field of this layer "
                                  f"(fields: {', '.join(fields)})", file=file,
                                  fix="use a canonical field name on the left of --field-map", code="bad_field_map")
        match = [c for c in columns if c == src] or [c for c in columns if normalize_key(c) == normalize_key(src)]
        if not match:
            raise GisPlannerError(f"--field-map {canon}={src}: no field '{src}' in the file "
                                  f"(fields: {', '.join(map(str, columns))})", file=file,
                                  fix="use a source field name on the right of --field-map", code="bad_field_map")
        res.mapping[canon] = match[0]
        res.how[canon] = "explicit"
        taken.add(match[0])

    keyed = {c: normalize_key(c) for c in columns}
    # pass 1: the canonical name itself; pass 2: aliases (in schema order); pass 3: DBF prefixes
    for canon, spec in fields.items():
        if canon in res.mapping:
            continue
        ck = normalize_key(canon)
        hit = next((c for c in columns if c not in taken and keyed[c] == ck), None)
        if hit is not None:
            res.mapping[canon], res.how[canon] = hit, "name"
            taken.add(hit)
    for canon, spec in fields.items():
        if canon in res.mapping:
            continue
        aliases = {normalize_key(a) for a in (spec or {}).get("aliases") or []}
        hit = next((c for c in columns if c not in taken and keyed[c] in aliases), None)
        if hit is not None:
            res.mapping[canon], res.how[canon] = hit, "alias"
            taken.add(hit)
    # pass 3: a source name that is the start of exactly one field's name or alias: a DBF name cut to
    # 10 characters (CADASTRAL_), or a short name of a register export (ИСПОЛЬЗ for использование)
    for c in columns:
        if c in taken:
            continue
        cut = bool(dbf_name_length) and len(str(c)) >= dbf_name_length - 1 and len(keyed[c]) >= 5
        if not (cut or len(keyed[c]) >= SHORT_NAME_MIN):
            continue
        owners = {canon for canon, spec in fields.items() if canon not in res.mapping
                  for a in [canon, *((spec or {}).get("aliases") or [])]
                  if normalize_key(a).startswith(keyed[c])}
        if len(owners) == 1:
            canon = owners.pop()
            res.mapping[canon], res.how[canon] = c, "prefix"
            taken.add(c)
    mapped_keys = {}
    for canon, src in res.mapping.items():
        mapped_keys[canon] = src
    for c in columns:
        if c in taken:
            continue
        # a second column that also matches a mapped field (e.g. two area columns) is kept as extra
        dup = [canon for canon, spec in fields.items()
               if keyed[c] in {normalize_key(a) for a in [canon, *((spec or {}).get("aliases") or [])]}]
        (res.ignored if dup else res.unmapped).append(c)
    res.missing = [canon for canon in fields if canon not in res.mapping]
    # keep the schema's field order
    res.mapping = {canon: res.mapping[canon] for canon in fields if canon in res.mapping}
    return res


# ------------------------------------------------------------------------------------------ values
def _is_blank(s: pd.Series) -> np.ndarray:
    obj = s.astype(object)
    na = pd.isna(obj).to_numpy()
    txt = obj.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    return na | txt


def _as_text(v) -> str | None:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10] if getattr(v, "hour", 0) == 0 and getattr(v, "minute", 0) == 0 else v.isoformat()
    text = clean_text(v)
    return text or None


def _map_unique(s: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` once per distinct value (vectorised over rows)."""
    obj = s.astype(object)
    uniq = pd.unique(obj[~pd.isna(obj)])
    table = {u: fn(u) for u in uniq}
    return obj.map(lambda v: table.get(v) if not _isna(v) else None)


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _to_float(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    txt = s.astype(object).map(lambda v: None if _isna(v) else str(v)).astype("string")
    txt = txt.str.replace(r"[\s\u00a0]", "", regex=True).str.replace(",", ".", regex=False)
    return pd.to_numeric(txt, errors="coerce").astype("float64")


@dataclass
class ValueFindings:
    unknown: dict = field(default_factory=dict)        # field -> {value: [fids]}
    missing_required: dict = field(default_factory=dict)  # field -> [fids]
    bad_values: dict = field(default_factory=dict)     # field -> {value: [fids]}


def _group_ids(values: pd.Series, mask: np.ndarray) -> dict:
    sub = values[mask]
    out: dict = {}
    for fid, v in zip(sub.index, sub.astype(object)):
        out.setdefault(str(v), []).append(_fid(fid))
    return out


def _fid(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return str(v)


def normalise_attributes(src: pd.DataFrame, fields: Mapping[str, dict], fm: FieldMapping, *,
                         workspace=None, bool_words: Mapping | None = None,
                         keep_extra: bool = True) -> tuple[pd.DataFrame, ValueFindings]:
    """Build the canonical attribute table (all schema fields, typed, codes for catalogue fields).

    Returns the table (index = source feature ids; schema fields first, then kept extra fields) and
    the findings: unknown catalogue values, empty required values and values of the wrong type,
    each with the feature ids.
    """
    out = pd.DataFrame(index=src.index)
    fnd = ValueFindings()
    bool_words = bool_words or {}
    src_text: dict = {}
    true_keys = {_word_key(w) for w in bool_words.get("yes_words", [])}
    false_keys = {_word_key(w) for w in bool_words.get("no_words", [])}
    for canon, spec in fields.items():
        spec = spec or {}
        ftype = spec.get("type", "str")
        col = fm.mapping.get(canon)
        if col is None:
            out[canon] = pd.Series([None] * len(src), index=src.index, dtype=_dtype(ftype))
            continue
        s = src[col]
        blank = _is_blank(s)
        if spec.get("catalogue"):
            cat = catalogue(spec["catalogue"], workspace)
            codes = _map_unique(s, cat.lookup)
            unknown = ~blank & pd.isna(codes).to_numpy()
            if unknown.any():
                fnd.unknown[canon] = _group_ids(s, unknown)
                # the code stays empty (never the label), the text as written is kept next to it
                src_text[f"{canon}_src"] = _map_unique(s, _as_text).where(unknown, None).astype("string")
            out[canon] = codes.astype("string")
        elif ftype == "float":
            num = _to_float(s)
            bad = ~blank & num.isna().to_numpy()
            if bad.any():
                fnd.bad_values[canon] = _group_ids(s, bad)
            out[canon] = num
        elif ftype == "int":
            num = _to_float(s)
            frac = num.notna().to_numpy() & (np.abs(num.to_numpy(dtype=float, na_value=np.nan) % 1) > 1e-9)
            bad = (~blank & num.isna().to_numpy()) | frac
            if bad.any():
                fnd.bad_values[canon] = _group_ids(s, bad)
            num = num.where(~frac)
            out[canon] = num.round().astype("Int64")
        elif ftype == "bool":
            def to_bool(v):
                if isinstance(v, (bool, np.bool_)):
                    return bool(v)
                k = _word_key(_as_text(v))
                return True if k in true_keys else False if k in false_keys else None
            vals = _map_unique(s, to_bool)
            bad = ~blank & pd.isna(vals).to_numpy()
            if bad.any():
                fnd.bad_values[canon] = _group_ids(s, bad)
            out[canon] = vals.astype("boolean")
        else:
            out[canon] = _map_unique(s, _as_text).astype("string")
        if spec.get("required"):
            empty = pd.isna(out[canon]).to_numpy() & blank
            if empty.any():
                fnd.missing_required[canon] = [_fid(i) for i in src.index[empty]]
    for name, col in src_text.items():
        out[name] = col
    if keep_extra:
        used_lower = {c.lower() for c in out.columns}
        for col in fm.unmapped + fm.ignored:
            s = src[col]
            if bool(_is_blank(s).all()):
                continue  # an all-empty column carries nothing
            name = str(col)
            if name.lower() in used_lower or name.lower() in RESERVED:
                name = f"{name}_src"
            while name.lower() in used_lower:
                name = f"{name}_"
            if s.dtype == object or pd.api.types.is_string_dtype(s):
                s = _map_unique(s, _as_text).astype("string")
            out[name] = s
            used_lower.add(name.lower())
    return out, fnd


def _word_key(word) -> str:
    """normalize_key, but punctuation-only words ('-', '+') keep themselves."""
    text = "" if word is None else str(word)
    return normalize_key(text) or text.strip().lower()


def _dtype(ftype: str):
    return {"float": "float64", "int": "Int64", "bool": "boolean"}.get(ftype, "string")
