"""The one error type a user can cause.

Every problem that comes from input (a bad file, a missing CRS, a broken geometry, an unknown
category, a rule file that does not validate) raises :class:`GisPlannerError`. Its message names
*the file*, *the feature* and *the fix*, so the CLI can print one line, the app can show it as a
message, and nobody sees a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GisPlannerError(Exception):
    """A problem the user can fix.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    file : str, optional
        The file (or layer / workspace) the problem is in.
    feature : str or int, optional
        The feature id / row / cadastral number concerned.
    fix : str, optional
        What the user can do about it.
    code : str, optional
        A stable machine code (``"missing_crs"``, ``"unknown_category"`` …) for tests and i18n.
    details : dict, optional
        Extra structured data (e.g. lists of feature ids) for reports.

    Examples
    --------
    >>> str(GisPlannerError("no CRS", file="a.shp", fix="pass --crs EPSG:4326"))
    'a.shp: no CRS. Fix: pass --crs EPSG:4326'
    """

    problem: str
    file: str | None = None
    feature: Any = None
    fix: str | None = None
    code: str = "error"
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .text import mask_secrets

        # a database URL or DSN quoted in a message never shows its password (docs/security.md)
        for name in ("problem", "file", "fix"):
            value = getattr(self, name)
            if isinstance(value, str) and value:
                setattr(self, name, mask_secrets(value))
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}"
        if self.feature is not None and self.feature != "":
            where = f"{where} [feature {self.feature}]" if where else f"feature {self.feature}"
        msg = f"{where}: {self.problem}" if where else self.problem
        if self.fix:
            msg = f"{msg}. Fix: {self.fix}"
        return msg
