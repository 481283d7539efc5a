"""``gis-planner`` command line: a thin click layer over the library.

Every sub-command lives in its own module of this package and exposes a list ``commands`` of click
commands; they are discovered automatically, so adding a module adds its commands. A user error
(:class:`~gis_planner.errors.GisPlannerError`) is printed as one line ``error: …`` with exit code 2,
never as a traceback (set ``GIS_PLANNER_DEBUG=1`` to see tracebacks).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from ..errors import GisPlannerError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gis_planner")
def cli() -> None:
    """gis_planner: land balance, zoning, hazards, scenarios and community maps for a municipality."""


def _register() -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for command in getattr(module, "commands", []):
            cli.add_command(command)


_register()


def _one_line(text: str) -> str:
    """A message on one line: YAML/GDAL messages carry newlines and ``^`` caret lines."""
    lines = [ln.strip().lstrip("^").strip() for ln in str(text).splitlines()]
    return " ".join(ln for ln in lines if ln).replace(": )", ")")


def _usage_line(exc: click.UsageError) -> str:
    """A click usage error (unknown option, bad choice, missing file) as one ``error: … Fix: …`` line."""
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "gis-planner"
    return f"error: {_one_line(exc.format_message()).rstrip('.')}. Fix: see `{path} --help`"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    debug = os.environ.get("GIS_PLANNER_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name="gis-planner", standalone_mode=False)
        return 0
    except GisPlannerError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        if debug:
            raise
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.UsageError as exc:
        click.echo(_usage_line(exc), err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message()).rstrip('.')}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except OSError as exc:  # a file the user named cannot be read or written (folder missing, no permission)
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        reason = _one_line(exc.strerror or str(exc)).rstrip(".")
        click.echo(f"error: {where}{reason}. Fix: check that the file and its folder exist "
                   f"and that you may write there", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        if debug:
            raise
        from ..text import mask_secrets

        click.echo(f"error: internal error ({type(exc).__name__}: {mask_secrets(exc)}). "
                   f"Fix: re-run with GIS_PLANNER_DEBUG=1 and report the traceback", err=True)
        return 3


def _console() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
