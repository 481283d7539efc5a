"""Options and output helpers shared by the CLI commands (consistent flags across commands)."""
from __future__ import annotations

import json
import math

import click
import pandas as pd

from .. import settings
from ..workspace import Workspace

workspace_option = click.option(
    "--workspace", "-w", "workspace", type=click.Path(), default=None,
    help="Workspace folder or its .gpkg (default: $GIS_PLANNER_WORKSPACE or the demo).")
format_option = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                             default="table", show_default=True, help="Output format.")
lang_option = click.option("--lang", type=click.Choice(list(settings.LANGUAGES)),
                           default=settings.DEFAULT_LANG, show_default=True,
                           help="Language of labels and headers.")


def open_ws(path: str | None) -> Workspace:
    return Workspace(path if path else settings.default_workspace())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return _jsonable(obj.item())
        except (ValueError, AttributeError):
            pass
    return obj


def echo_json(data) -> None:
    click.echo(json.dumps(_jsonable(data), ensure_ascii=False, indent=2, default=str))


def echo_table(df: pd.DataFrame, title: str | None = None, floatfmt: str = "{:,.4f}",
               lang: str | None = None) -> None:
    """Print a DataFrame as an aligned plain-text table (an empty one as «(empty)» in ``lang``)."""
    from ..i18n import t

    if title:
        click.echo(title)
    if df.empty:
        click.echo(f"  {t('core.empty', lang)}")
        return
    cols = [str(c) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False):
        row = []
        for v in rec:
            if isinstance(v, float):
                row.append("" if not math.isfinite(v) else floatfmt.format(v))
            else:
                row.append("" if v is None else str(v))
        rows.append(row)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    numeric = [all(_isnum(r[i]) for r in rows) for i in range(len(cols))]
    fmt_cell = lambda s, i: s.rjust(widths[i]) if numeric[i] else s.ljust(widths[i])  # noqa: E731
    click.echo("  ".join(fmt_cell(c, i) for i, c in enumerate(cols)))
    click.echo("  ".join("-" * w for w in widths))
    for r in rows:
        click.echo("  ".join(fmt_cell(s, i) for i, s in enumerate(r)))


def _isnum(s: str) -> bool:
    try:
        float(s.replace(",", ""))
        return True
    except ValueError:
        return s == ""
