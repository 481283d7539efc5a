"""Normalising what people type and what real files contain.

Real Kyrgyz/Russian data mixes look-alike letters: Kyrgyz barred o (U+04E9) typed as the Old Cyrillic
fita (U+0473), en with descender (U+04A3) as the hard sign, straight u (U+04AF) as Latin y, and Latin
``o a e c p x`` inside Cyrillic words.
:func:`normalize_key` folds all of that to one comparable key; :func:`clean_text` only tidies
whitespace and the unambiguous look-alikes so displayed text stays the user's own.
"""
from __future__ import annotations

import re
import unicodedata

# Letters that are visually identical or are common substitutes, mapped to the Cyrillic letter.
_LOOKALIKE_TO_CYRILLIC = {
    "a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "k": "к", "m": "м",
    "t": "т", "h": "н", "b": "в",  # (upper-case look-alikes: A E O C P X Y K M T H B)
    "\u0473": "\u04e9", "\u04eb": "\u04e9", "θ": "\u04e9", "ɵ": "\u04e9",
    "\u04b1": "\u04af", "\u045e": "\u04af",
    "\u04ca": "\u04a3", "\u04a5": "\u04a3",
    "ё": "е",
}

_CYR = re.compile(r"[\u0400-\u04FF]")
_SPACE = re.compile(r"[\s_\-./,;:()\"'«»]+")


def _fold_word(word: str) -> str:
    """Replace Latin look-alikes by Cyrillic only in words that contain Cyrillic letters."""
    if not _CYR.search(word):
        return word
    return "".join(_LOOKALIKE_TO_CYRILLIC.get(ch, ch) for ch in word)


def normalize_key(value: object) -> str:
    """A comparison key: lower case, NFC, look-alikes folded, punctuation/spaces collapsed.

    >>> normalize_key("Айыл  чарба") == normalize_key("aйыл-чaрбa")
    True
    >>> normalize_key("Жайыт") == normalize_key("жaйыт")
    True
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value)).strip().lower()
    # \u0473 and friends are folded even in otherwise-Latin words (they are never Latin)
    text = text.replace("\u0473", "\u04e9").replace("\u04eb", "\u04e9")
    words = _SPACE.split(text)
    words = [_fold_word(w) for w in words if w]
    key = " ".join(words)
    # hard sign used for \u04a3 in some keyboard layouts: "жаъы" -> "жа\u04a3ы" only between vowels
    key = re.sub(r"(?<=[аеёиоуыэюя\u04e9\u04af])ъ(?=[аеиоуыэюя\u04e9\u04af])", "\u04a3", key)
    return key


def clean_text(value: object, max_len: int | None = None) -> str:
    """Trim, collapse whitespace, NFC-normalise and replace ``\u0473`` by ``\u04e9``; keep the user's letters."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = text.replace("\u0473", "\u04e9").replace("\u0472", "\u04e8")
    text = re.sub(r"\s+", " ", text).strip()
    if max_len is not None and len(text) > max_len:
        text = text[:max_len]
    return text
