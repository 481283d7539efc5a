"""Cadastral numbers as people type them.

A Kyrgyz cadastral number is written ``4-02-01-0050-0003`` (groups of digits joined by hyphens), but it is
copied from certificates and letters as ``4 02 01 0050 0003``, ``4.02.01.0050.0003``, ``4/02/01/0050/0003``,
``4020100500003`` or with the leading zeros of a group left out (``4-2-1-50-3``). :class:`CadastralIndex`
finds the parcel for any of these forms, and only when the answer is unambiguous:

1. the text as written (trimmed);
2. the same digit groups, whatever the separators (spaces, no-break spaces, dots, slashes, hyphens, dashes);
3. the same digits with no separators at all (``4020100500003``);
4. the same groups read as numbers (leading zeros of a group do not matter).

A form that fits two different parcels finds none (the caller says it was not found, rather than guess).
"""
from __future__ import annotations

import re
from typing import Hashable, Iterable

_GROUPS = re.compile(r"\d+")
_SEPARATORS = re.compile(r"^[\s\-‐-―./\\/_,:;]*$")


def groups(text) -> tuple[str, ...]:
    """The digit groups of ``text`` (``"4 02.01-0050/0003"`` -> ``('4', '02', '01', '0050', '0003')``);
    empty when ``text`` has anything but digits and separators (letters: not a cadastral number)."""
    s = "" if text is None else str(text).strip()
    parts = _GROUPS.findall(s)
    if not parts or not _SEPARATORS.match(_GROUPS.sub("", s)):
        return ()
    return tuple(parts)


def normalize(text, sep: str = "-") -> str:
    """``text`` with its digit groups joined by ``sep`` (``"4 02 01 0050 0003"`` -> ``"4-02-01-0050-0003"``);
    the trimmed text itself when it is not made of digit groups."""
    g = groups(text)
    return sep.join(g) if g else ("" if text is None else str(text).strip())


def _keys(text) -> list[tuple]:
    g = groups(text)
    if not g:
        return []
    return [("groups", g), ("digits", "".join(g)), ("numbers", tuple(int(x) for x in g))]


class CadastralIndex:
    """Look up parcels by cadastral number in any of the usual written forms (module docstring).

    >>> idx = CadastralIndex([("4-02-01-0050-0003", 7), ("4-02-01-0050-0004", 8)])
    >>> idx.find("4 02 01 0050 0003"), idx.find("4.02.01.0050.0004"), idx.find("4020100500003")
    (7, 8, 7)
    >>> idx.find("4-2-1-50-3"), idx.find("4-02-01-0050-0009") is None
    (7, True)
    """

    def __init__(self, items: Iterable[tuple[object, Hashable]]):
        self.exact: dict[str, Hashable] = {}
        self._forms: dict[tuple, set] = {}
        for number, ident in items:
            if number is None or (isinstance(number, float) and number != number):
                continue
            text = str(number).strip()
            self.exact.setdefault(text, ident)
            for key in _keys(text):
                self._forms.setdefault(key, set()).add(ident)

    def find(self, text) -> Hashable | None:
        """The parcel written as ``text``, or ``None`` (not found, or two parcels fit the same form)."""
        if text is None:
            return None
        s = str(text).strip()
        if s in self.exact:
            return self.exact[s]
        for key in _keys(s):
            hits = self._forms.get(key)
            if hits:
                return next(iter(hits)) if len(hits) == 1 else None
        return None
