"""Numbers and dates the local way.

Kyrgyz and Russian documents write thousands with a space and decimals with a comma (``12 130,5``);
English uses ``12,130.5``. A no-break space (U+00A0) keeps numbers whole across line breaks.

>>> fmt_number(12130.456, "ky", 1)
'12\\xa0130,5'
>>> fmt_number(12130.456, "en", 1)
'12,130.5'
>>> fmt_number(-0.04, "ru", 1)
'0,0'
"""
from __future__ import annotations

import math
import re

NBSP = "\u00a0"


def fmt_number(value, lang: str = "ky", decimals: int = 1) -> str:
    """Format a number with local thousands and decimal separators ('' for None/NaN)."""
    if value is None:
        return ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return ""
    text = f"{x:,.{decimals}f}"
    if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
        text = text[1:]
    if lang in ("ky", "ru"):
        text = text.replace(",", NBSP).replace(".", ",")
    return text


def fmt_int(value, lang: str = "ky") -> str:
    return fmt_number(value, lang, 0)


def fmt_percent(value, lang: str = "ky", decimals: int = 1) -> str:
    """``value`` is a fraction (0.25 -> '25,0 %' in ky/ru, '25.0%' in en)."""
    if value is None:
        return ""
    s = fmt_number(float(value) * 100.0, lang, decimals)
    return f"{s}{NBSP}%" if lang in ("ky", "ru") else f"{s}%"


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def fmt_date(value, lang: str = "ky") -> str:
    """A date as people in ``lang`` write it: ``24.11.2026`` in ky/ru, ISO ``2026-11-24`` in en. Anything
    that is not an ISO date (a year alone, free text) is returned as it is.

    >>> fmt_date("2026-11-24", "ru"), fmt_date("2003-12-08T00:00:00", "ky"), fmt_date("2023", "ky")
    ('24.11.2026', '08.12.2003', '2023')
    """
    import datetime as _dt

    if isinstance(value, (_dt.date, _dt.datetime)):
        value = value.isoformat()
    text = "" if value is None else str(value)
    m = _ISO_DATE.fullmatch(text.strip())
    if not m or lang not in ("ky", "ru"):
        return text[:10] if m else text
    return f"{m.group(3)}.{m.group(2)}.{m.group(1)}"


def plural_form(n: int, lang: str) -> int:
    """Which form of a counted noun follows the whole number ``n``: an index into the forms of
    ``report.noun.*`` (``one|few|many`` in Russian, ``one|many`` in English, one form in Kyrgyz, which
    has no plural after a numeral).

    >>> [plural_form(n, "ru") for n in (1, 2, 5, 11, 12, 21, 22, 25, 111, 1021)]
    [0, 1, 2, 2, 2, 0, 1, 2, 2, 0]
    >>> [plural_form(n, "en") for n in (0, 1, 2)], plural_form(5, "ky")
    ([1, 0, 1], 0)
    """
    n = abs(int(n))
    if lang == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    if lang == "en":
        return 0 if n == 1 else 1
    return 0


def count_noun(n, noun: str, lang: str = "ky") -> str:
    """A count as a whole number in the local format with its noun in the agreeing form:
    ``count_noun(21, "parcel", "ru") == "21 участок"``, ``"5 участков"``, ``"5 участок"`` (ky),
    ``"1 parcel"`` (en). ``noun`` names ``report.noun.<noun>`` in the catalogue, whose forms are
    separated by ``|``."""
    from ..i18n import t

    forms = t(f"report.noun.{noun}", lang).split("|")
    k = int(round(float(n)))
    return f"{fmt_number(k, lang, 0)}{NBSP}{forms[min(plural_form(k, lang), len(forms) - 1)]}"
