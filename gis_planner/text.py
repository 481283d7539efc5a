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


# control characters (NUL, escape …) and the bidirectional overrides/isolates that make text display in
# another order than it is stored ("Trojan source" spoofing, U+202E); ordinary whitespace is collapsed below
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]")


def clean_text(value: object, max_len: int | None = None) -> str:
    """Trim, collapse whitespace, NFC-normalise and replace ``\u0473`` by ``\u04e9``; keep the user's letters.

    Control characters and bidirectional overrides (U+202E …) are removed.

    >>> clean_text("  Ак-Суу\\u202e  \\x00мектеп\\t")
    'Ак-Суу мектеп'
    """
    if value is None:
        return ""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", str(value)))
    text = text.replace("\u0473", "\u04e9").replace("\u0472", "\u04e8")
    text = re.sub(r"\s+", " ", text).strip()
    if max_len is not None and len(text) > max_len:
        text = text[:max_len]
    return text


# ------------------------------------------------------------------ spreadsheet cells (docs/security.md)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d[\d\s\u00a0]*)?([.,]\d+)?([eE][+-]?\d+)?$|^-+$")


def safe_cell(value):
    """A value safe to write into a CSV/XLSX cell (OWASP 'CSV injection' rule).

    Text starting with ``= + - @``, a tab or a line break (or their full-width forms) would be run as a
    formula by Excel/LibreOffice (``=HYPERLINK(…)``, ``-2+3+cmd|…``): it gets a leading ``'`` so the
    spreadsheet shows it as text. Numbers (and text that is just a number, or dashes) are kept as they are.

    >>> safe_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> safe_cell(-5), safe_cell("-5"), safe_cell("—"), safe_cell("@home"), safe_cell("Ак-Суу")
    (-5, '-5', '—', "'@home", 'Ак-Суу')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def safe_table(df):
    """A copy of a table with :func:`safe_cell` applied to every text cell and column name.

    Only text (object / string) columns change; numeric columns stay numbers.

    >>> import pandas as pd
    >>> safe_table(pd.DataFrame({"=t": ["=1+1", "ok"], "n": [-1, 2]})).to_dict("list")
    {"'=t": ["'=1+1", 'ok'], 'n': [-1, 2]}
    """
    import pandas as pd

    out = df.copy()
    for i, col in enumerate(out.columns):
        s = out.iloc[:, i]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out.isetitem(i, s.map(safe_cell, na_action="ignore"))
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def unsafe_cell(value):
    """Undo :func:`safe_cell` when reading back a file the project wrote (round trip keeps the title).

    >>> unsafe_cell(safe_cell("=1+1")), unsafe_cell("'quoted'")
    ('=1+1', "'quoted'")
    """
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_FORMULA_START) \
            and not _PLAIN_NUMBER.match(value[1:]):
        return value[1:]
    return value


# ------------------------------------------------------------------ text drawn in figures
def literal_figure_text(func):
    """Decorator: every text created while ``func`` runs is drawn literally (no matplotlib math-text).

    User text such as a village ``Ак-Суу $\\foo{$`` or ``Village $5 and $10`` would otherwise be parsed
    as TeX (a crash, or "Village 5and10"). The project draws no formulas, so math-text is simply off for
    every Text object the function makes (``text.parse_math`` is fixed per object when it is created).
    """
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return wrapper


def mpl_escape(value: object) -> str:
    """Text for a matplotlib label made outside :func:`literal_figure_text`: ``$`` escaped.

    >>> mpl_escape("Village $5 and $10")
    'Village \\\\$5 and \\\\$10'
    """
    return str(value).replace("$", r"\$")


# ------------------------------------------------------------------ secrets in messages (docs/security.md)
_SECRET_KEYS = r"(?:password|passwd|pwd|pgpassword|sslpassword|secret|token|api[_-]?key|access[_-]?key)"
_KEY_VALUE = re.compile(rf"(?i)((?:^|(?<=[?&;\s,(\"'])){_SECRET_KEYS}\s*=\s*)('[^']*'|\"[^\"]*\"|[^&\s;,)\"']+)")
_URL_TOKEN = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s\"'<>]+)")
_KNOWN_SECRETS: set[str] = set()


def split_userinfo(rest: str) -> tuple[str, str] | None:
    """(userinfo, host-and-rest) of what follows ``scheme://``; the userinfo ends at the last ``@``
    before the path, so a password holding an unencoded ``@``, ``:`` or ``/`` is still all of it."""
    q = len(rest)
    for ch in "?#":
        i = rest.find(ch)
        if 0 <= i < q:
            q = i
    at = rest.rfind("@", 0, q)
    if at < 0:
        return None
    return rest[:at], rest[at + 1:]


def _mask_url(m: re.Match) -> str:
    scheme, rest = m.group(1), m.group(2)
    split = split_userinfo(rest)
    if split is None:
        return scheme + rest
    info, host = split
    user = re.split(r"[:@]", info, maxsplit=1)[0]
    if info == user:  # a user name only: nothing secret
        return scheme + rest
    return f"{scheme}{user}:***@{host}"


def register_secret(url_or_dsn: str | None) -> None:
    """Remember the password of a configured URL/DSN, so pieces of it that a driver quotes in its own
    error text (e.g. the part after an unencoded ``@`` taken for the host name) are masked too."""
    if not url_or_dsn:
        return
    pw = None
    m = _URL_TOKEN.search(url_or_dsn)
    split = split_userinfo(m.group(2)) if m else None
    if split and ":" in split[0]:
        pw = split[0].split(":", 1)[1]
    kv = _KEY_VALUE.search(url_or_dsn)
    for candidate in filter(None, [pw, kv.group(2).strip("'\"") if kv else None]):
        if not re.search(r"[@:/]", candidate):
            continue  # only a password with a raw @ : / can be mis-parsed and quoted in pieces by a driver
        _KNOWN_SECRETS.add(candidate)
        from urllib.parse import unquote

        _KNOWN_SECRETS.add(unquote(candidate))
        _KNOWN_SECRETS.update(p for p in re.split(r"[@:/]", candidate) if len(p) >= 3)


def mask_secrets(text: object) -> str:
    """Text with every credential masked: ``user:pass@`` in URLs (also with unencoded ``@`` and ``:``
    in the password), ``?password=…``/``&token=…`` query values, libpq ``password=…`` key/value DSNs, and
    passwords registered with :func:`register_secret`.

    >>> mask_secrets("postgresql://gp:s3cr@t:x@db.local:5432/gp")
    'postgresql://gp:***@db.local:5432/gp'
    >>> mask_secrets("postgresql://gp@db/gp?sslmode=require&password=hunter2")
    'postgresql://gp@db/gp?sslmode=require&password=***'
    >>> mask_secrets("host=db user=gp password='a b c' dbname=gp")
    'host=db user=gp password=*** dbname=gp'
    """
    s = str(text)
    s = _URL_TOKEN.sub(_mask_url, s)
    s = _KEY_VALUE.sub(lambda m: m.group(1) + "***", s)
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if secret and secret != "***":
            s = s.replace(secret, "***")
    return s


# ------------------------------------------------------------------ dates
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")


def iso_date(value):
    """A real calendar date from ``YYYY-MM-DD`` (optionally followed by an ISO time) or a date object.

    Anything else raises ``ValueError`` — also text that only *starts* with a date.

    >>> iso_date("2026-05-12"), iso_date("2026-05-12T08:30:00Z")
    (datetime.date(2026, 5, 12), datetime.date(2026, 5, 12))
    >>> iso_date("2026-05-12; DROP")
    Traceback (most recent call last):
    ...
    ValueError: '2026-05-12; DROP' is not a date (YYYY-MM-DD)
    """
    import datetime as _dt

    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    m = _ISO_DATE.match(str(value)) if value is not None else None
    if not m:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
