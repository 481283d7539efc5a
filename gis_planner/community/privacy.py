"""Personal data in the free text of community maps: find person names and phone numbers, warn, redact.

Participants write names and numbers into titles, descriptions and notes ("the well of Асанов Бакыт",
"call 0555 12 34 56"). Published outputs show groups, not people, so every public output (the hearing list,
the report's community tables, public exports) passes its text through :func:`redact`, and the entry points
(CLI, app) show :func:`scan_values` findings as warnings. The patterns are data (``layers/privacy.yaml``):

* **names** — runs of capitalised Cyrillic words (and initials ``А.К.``) of which one ends like a surname
  (``-ов/-ова/-ев/-ева/-ин/-бек/-беков`` …) or a patronymic (``-ович/-овна/-евич/-евна``), or that are followed
  by the Kyrgyz ``уулу``/``кызы``; initials next to a capitalised word (``А.К. Асанов``, ``Асанов А.К.``).
  Place names are never names: the workspace's settlements, the sessions' villages, road names and the list
  ``names.places``;
* **phones** — digit runs (spaces, dashes, brackets allowed) that form a KR number: ``+996 555 12 34 56``,
  ``996555123456``, ``0555 12 34 56``, ``0700-123-456``, ``(0312) 62-14-91``, a bare ``555123456`` starting
  with a number range in use, or ``+`` and 10–13 digits of another country.

>>> [f.kind for f in find("Асанов Бакыт, тел. 0555 12 34 56")]
['name', 'phone']
>>> redact("Кудук Асан уулу Бакыттын үйүнүн жанында", lang="ky")
'Кудук [аты жашырылды] үйүнүн жанында'
>>> redact("Ак-Өрүк айылынын булагы", lang="ru", places=["Ак-Өрүк"])
'Ак-Өрүк айылынын булагы'
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pandas as pd

from ..catalog import load_rules
from ..i18n import check_lang, t

_UP = "А-ЯЁӨҮҢІ"
_LO = "а-яёөүңі"
# a capitalised Cyrillic word, possibly hyphenated (Ак-Өрүк, Кара-Суу)
_CAP = rf"[{_UP}][{_LO}]+(?:-[{_UP}{_LO}][{_LO}]+)*"
_TOKEN = re.compile(rf"(?P<init>(?:[{_UP}]\.\s?){{1,2}})(?![{_LO}])|(?P<cap>{_CAP})|(?P<word>[{_LO}]+)")
_DIGITS = re.compile(r"\+?\d(?:[\s\-()]{0,3}\d)*")


@dataclass(frozen=True)
class Finding:
    """One piece of personal data in a text: ``kind`` ('name' or 'phone'), span and the matched text."""

    kind: str
    start: int
    end: int
    text: str


def rules(ws: Any = None) -> dict:
    """``layers/privacy.yaml`` (with the workspace's override)."""
    return load_rules("privacy", ws)


def _fold(word: str) -> str:
    return word.casefold().replace("ё", "е")


def place_names(ws: Any = None, store: Any = None) -> set[str]:
    """Names that are places, not people: ``names.places``, the workspace's settlements and roads, the villages
    of the store's sessions (folded to lower case)."""
    out = {_fold(p) for p in (rules(ws).get("names") or {}).get("places") or []}
    if ws is not None:
        for layer in ("settlements", "roads"):
            try:
                gdf = ws.read_layer(layer, columns=["name"], missing_ok=True)
            except Exception:  # noqa: BLE001 - a workspace without the layer/column has no such places
                gdf = None
            if gdf is not None and "name" in gdf.columns:
                out |= {_fold(str(n)) for n in gdf["name"].dropna() if str(n).strip()}
    if store is not None:
        try:
            out |= {_fold(str(v)) for v in store.list_sessions()["village"].dropna()}
        except Exception:  # noqa: BLE001 - an empty or unreadable store adds no places
            pass
    # multi-word places count word by word too (a settlement 'Кызыл Суу' breaks a run at either word)
    out |= {w for p in list(out) for w in p.split()}
    return out


class _Patterns:
    def __init__(self, ws: Any = None):
        r = rules(ws)
        n = r.get("names") or {}
        self.surname = tuple(sorted((_fold(e) for e in n.get("surname_endings") or []), key=len, reverse=True))
        self.patronymic = tuple(_fold(e) for e in n.get("patronymic_endings") or [])
        self.patronymic_words = {_fold(w) for w in n.get("patronymic_words") or []}
        self.not_names = {_fold(w) for w in n.get("not_names") or []}
        self.initials = bool(n.get("initials", True))
        self.min_words = int(n.get("min_words", 2))
        self.places = {_fold(p) for p in n.get("places") or []}
        p = r.get("phones") or {}
        self.cc = str(p.get("country_code", "996"))
        self.trunk = str(p.get("trunk_prefix", "0"))
        self.nat = int(p.get("national_digits", 9))
        self.starts = tuple(str(s) for s in p.get("national_starts") or [])
        self.intl = {int(d) for d in p.get("international_digits") or []}
        self.min_digits = int(p.get("min_digits", 9))

    def featured(self, word: str) -> bool:
        """Does a capitalised word end like a surname or a patronymic (and is longer than the ending)?"""
        w = _fold(word.split("-")[-1])
        return any(w.endswith(e) and len(w) > len(e) + 1 for e in self.surname + self.patronymic)

    def national(self, digits: str) -> bool:
        return len(digits) == self.nat and (not self.starts or digits.startswith(self.starts))

    def phone(self, digits: str, plus: bool) -> bool:
        if len(digits) < self.min_digits:
            return False
        if digits.startswith(self.cc) and self.national(digits[len(self.cc):]):
            return True
        if not plus and digits.startswith(self.trunk) and self.national(digits[len(self.trunk):]):
            return True
        if not plus and self.national(digits):
            return True
        return plus and len(digits) in self.intl


def _names(text: str, pat: _Patterns, places: set[str]) -> list[Finding]:
    # runs of name-like tokens separated by whitespace only
    tokens = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        word = m.group(0).rstrip()
        if kind == "cap" and (_fold(word) in places or _fold(word) in pat.not_names):
            kind = "stop"
        elif kind == "word":
            kind = "patr" if _fold(word) in pat.patronymic_words else "stop"
        elif kind == "init" and not pat.initials:
            kind = "stop"
        tokens.append((kind, m.start(), m.start() + len(word), word))
    runs, cur = [], []
    for tok in tokens:
        gap_ok = cur and text[cur[-1][2]:tok[1]].strip() == "" and "\n" not in text[cur[-1][2]:tok[1]]
        if tok[0] == "stop":
            if cur:
                runs.append(cur)
            cur = []
            continue
        if cur and not gap_ok:
            runs.append(cur)
            cur = []
        cur.append(tok)
    if cur:
        runs.append(cur)
    out = []
    for run in runs:
        caps = [tk for tk in run if tk[0] == "cap"]
        inits = [tk for tk in run if tk[0] == "init"]
        patr = [i for i, tk in enumerate(run) if tk[0] == "patr" and i > 0 and run[i - 1][0] == "cap"]
        feat = [tk for tk in caps if pat.featured(tk[3])]
        is_name = bool(patr) or (inits and caps) or (len(caps) >= pat.min_words and feat) or \
            any(_fold(tk[3]).endswith(pat.patronymic) and len(tk[3]) > 6 for tk in caps)
        if not is_name:
            continue
        run = [tk for tk in run if tk[0] != "patr" or run.index(tk) in patr]
        # a sentence-initial common word before a full name ('Родник Асанова Бакыта'): keep it when the rest
        # is a name on its own
        if len(run) >= 3 and run[0][0] == "cap" and not pat.featured(run[0][3]) and \
                sum(1 for tk in run[1:] if tk[0] == "cap") >= pat.min_words and any(pat.featured(tk[3]) for tk in run[1:]):
            run = run[1:]
        start, end = run[0][1], run[-1][2]
        out.append(Finding("name", start, end, text[start:end]))
    return out


def _phones(text: str, pat: _Patterns) -> list[Finding]:
    out = []
    for m in _DIGITS.finditer(text):
        s = m.group(0)
        if m.start() > 0 and (text[m.start() - 1].isalnum()):
            continue
        groups = [(g.start() + m.start(), g.end() + m.start(), g.group(0)) for g in re.finditer(r"\d+", s)]
        plus = s.startswith("+")
        i = 0
        while i < len(groups):
            found = None
            for j in range(len(groups), i, -1):  # the longest run of groups from i that is a phone
                digits = "".join(g[2] for g in groups[i:j])
                if pat.phone(digits, plus and i == 0):
                    found = j
                    break
            if found:
                start = groups[i][0] - (1 if plus and i == 0 else 0)
                if start > 0 and text[start - 1] == "(":
                    start -= 1
                end = groups[found - 1][1]
                out.append(Finding("phone", start, end, text[start:end]))
                i = found
            else:
                i += 1
    return out


def find(text: Any, *, ws: Any = None, places: Iterable[str] | None = None) -> list[Finding]:
    """Names and phone numbers in ``text`` (sorted by position, not overlapping)."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return []
    text = str(text)
    pat = _patterns(ws)
    pl = {_fold(p) for p in places} if places is not None else set()
    pl |= {w for p in list(pl) for w in p.split()}
    pl |= pat.places
    found = sorted(_phones(text, pat) + _names(text, pat, pl), key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            continue
        out.append(f)
    return out


_CACHE: dict = {}


def _patterns(ws: Any = None) -> _Patterns:
    from ..catalog import rule_paths

    stamps = []
    for p in rule_paths("privacy", ws):
        try:
            stamps.append((str(p), p.stat().st_mtime_ns) if p is not None else None)
        except OSError:
            stamps.append((str(p), None))
    key = tuple(stamps)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _Patterns(ws)
    return _CACHE[key]


def redact(text: Any, *, lang: str | None = None, ws: Any = None, places: Iterable[str] | None = None):
    """``text`` with every name and phone replaced by «[аты жашырылды]» / «[телефон жашырылды]» (in ``lang``).

    ``None``/NaN stay as they are."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return text
    text = str(text)
    lang = check_lang(lang)
    out, pos = [], 0
    for f in find(text, ws=ws, places=places):
        out.append(text[pos:f.start])
        out.append(t(f"privacy.redacted.{f.kind}", lang))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def redact_frame(df: pd.DataFrame, columns: Iterable[str], *, lang: str | None = None, ws: Any = None,
                 places: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with the text of ``columns`` (those present) redacted."""
    out = df.copy()
    places = list(places) if places is not None else None
    for c in columns:
        if c in out.columns:
            out[c] = [redact(v, lang=lang, ws=ws, places=places) if isinstance(v, str) else v for v in out[c]]
    return out


def scan_values(values: Mapping[str, Any], *, ws: Any = None, places: Iterable[str] | None = None,
                fields: Iterable[str] | None = None) -> list[tuple[str, Finding]]:
    """``(field, finding)`` for every name/phone in the free-text ``fields`` of a feature or session record
    (default: the feature and session fields of ``layers/privacy.yaml``)."""
    if fields is None:
        f = rules(ws).get("fields") or {}
        fields = list(dict.fromkeys((f.get("feature") or []) + (f.get("session") or [])))
    places = list(places) if places is not None else None
    out = []
    for field in fields:
        v = values.get(field) if hasattr(values, "get") else getattr(values, field, None)
        if isinstance(v, str):
            out.extend((field, x) for x in find(v, ws=ws, places=places))
    return out


def warnings(values: Mapping[str, Any], *, lang: str | None = None, ws: Any = None,
             places: Iterable[str] | None = None, fields: Iterable[str] | None = None) -> list[str]:
    """Warnings to show at entry (one per finding, in ``lang``): «The description contains what looks like a
    phone number (0555 12 34 56): it will be hidden in public outputs…»."""
    lang = check_lang(lang)
    return [t(f"privacy.warning.{f.kind}", lang, field=_field_label(field, lang), text=f.text)
            for field, f in scan_values(values, ws=ws, places=places, fields=fields)]


def store_warnings(store, *, session_id=None, lang: str | None = None) -> list[str]:
    """Warnings for every live feature (and the session) of ``session_id`` that contains personal data."""
    lang = check_lang(lang)
    places = place_names(store.ws, store)
    out = []
    if session_id is not None:
        for w in warnings(store.get_session(session_id), lang=lang, ws=store.ws, places=places,
                          fields=(rules(store.ws).get("fields") or {}).get("session")):
            out.append(w)
    gdf = store.features(session_id=session_id)
    ffields = (rules(store.ws).get("fields") or {}).get("feature")
    for rec in gdf.drop(columns=gdf.geometry.name).to_dict("records"):
        for w in warnings(rec, lang=lang, ws=store.ws, places=places, fields=ffields):
            out.append(f"№{rec['id']}: {w}")
    return out


def _field_label(field: str, lang: str) -> str:
    key = f"privacy.field.{field}"
    text = t(key, lang)
    return field if text == key else text


__all__ = ["Finding", "find", "redact", "redact_frame", "scan_values", "warnings", "store_warnings", "place_names",
           "rules"]
