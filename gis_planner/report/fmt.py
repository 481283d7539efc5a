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
