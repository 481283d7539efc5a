"""Interface text in Kyrgyz (default), Russian and English.

Messages live in ``gis_planner/i18n/*.yaml``, one file per area of the product (``core.yaml``,
``balance.yaml``, ``app.yaml`` …), each a mapping ``key: {ky: …, ru: …, en: …}``. Keys are unique
across files. Names of codes (land categories, land types …) come from the ``layers/*.yaml``
catalogues through :func:`label`.

>>> t("core.workspace", "ru")
'Рабочая область'
>>> t("core.n_features", "en", n=3)
'3 features'
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .. import yamlio
from ..errors import GisPlannerError
from ..settings import DEFAULT_LANG, LANGUAGES

_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    """All message catalogues merged: key -> {lang: text}."""
    merged: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for path in sorted(_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            data = yamlio.safe_load(fh) or {}
        for key, texts in data.items():
            if key in merged:
                raise GisPlannerError(f"message key '{key}' is defined twice (also in {origin[key]})",
                                      file=str(path), fix="rename one of the keys", code="bad_i18n")
            if not isinstance(texts, dict):
                raise GisPlannerError(f"message '{key}' must map languages to text", file=str(path),
                                      code="bad_i18n")
            merged[key] = {k: str(v) for k, v in texts.items()}
            origin[key] = path.name
    return merged


def check_lang(lang: str | None) -> str:
    if lang is None:
        return DEFAULT_LANG
    if lang not in LANGUAGES:
        raise GisPlannerError(f"unknown language '{lang}'", fix=f"use one of {', '.join(LANGUAGES)}",
                              code="bad_lang")
    return lang


def t(key: str, lang: str | None = None, **fmt) -> str:
    """The text of message ``key`` in ``lang``, formatted with ``fmt``.

    A missing translation falls back to English and then to the key itself (tests check that no key
    lacks a language, so the fallback is only a safety net).
    """
    lang = check_lang(lang)
    texts = messages().get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts.get("en") or key
    if fmt:
        try:
            text = text.format(**fmt)
        except (KeyError, IndexError, ValueError):
            pass
    return text


def label(catalogue_name: str, code: str | None, lang: str | None = None, short: bool = False,
          workspace=None) -> str:
    """Name of a code from a ``layers/`` catalogue, e.g. ``label("land_categories", "reserve", "ru")``."""
    from ..catalog import catalogue

    return catalogue(catalogue_name, workspace).label(code, check_lang(lang), short=short)


def missing_translations() -> list[str]:
    """Keys that lack a text in some language (used by the tests)."""
    out = []
    for key, texts in messages().items():
        for lang in LANGUAGES:
            if not texts.get(lang):
                out.append(f"{key}:{lang}")
    return out
