"""Shared CLI helpers: the rich consoles and the error boundary."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from mlxmed.errors import MlxmedError, os_error_line
from mlxmed.tasks import Task
from mlxmed.training.distributed import launcher_command, run_launcher

console = Console()

__all__ = ["POSITIVE", "argv_without", "console", "err_console", "esc", "fail", "run_safely",
           "start_on_hosts"]

class _Positive(click.FloatRange):
    """A finite number above zero (learning rate, epochs, alpha): ``nan``/``inf`` refused."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE = _Positive(min=0, min_open=True)
# the per-kind default of --val-limit, as the task classes set it
VAL_LIMIT_DEFAULTS = f"default: {Task.validation_notes}"


def argv_without(option: str, argv: list[str]) -> list[str]:
    """``argv`` without ``option`` and its value (``--hosts H`` or ``--hosts=H``)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def start_on_hosts(hostfile: Path, what: str) -> None:
    """Run this very command, without ``--hosts``, once per host of ``hostfile`` with MLX's
    launcher, and wait (a broken hostfile is one error line before anything starts)."""
    command = launcher_command(hostfile, argv_without("--hosts", sys.argv[1:]))
    console.print(f"Starting one {what} per host of {esc(hostfile)} (MLX's launcher)",
                  highlight=False)
    run_launcher(command)


def esc(value: object) -> str:
    """``value`` as text that rich prints literally (paths, labels and notes may hold ``[``)."""
    return escape(str(value))
err_console = Console(stderr=True)


def fail(message: str) -> None:
    """Print one red error line on stderr (used at the CLI boundary only)."""
    err_console.print(f"[bold red]error:[/] {esc(message)}", highlight=False, soft_wrap=True)


def run_safely(command: click.Command, debug: bool = False) -> int:
    """Run a Click command; turn every failure into one line and a non-zero exit code."""
    try:
        command.main(standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # a mistyped option or value: one line, like any bad input
        if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2: the help, as asked for
            exc.show()
            return 0
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        fail(" ".join(exc.format_message().split()) + where)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        fail("interrupted")
        return 130
    except KeyboardInterrupt:
        fail("interrupted; nothing half-written was left behind")
        return 130
    except MlxmedError as exc:
        if debug:
            raise
        fail(str(exc))
        return 1
    except OSError as exc:
        if debug:
            raise
        fail(os_error_line(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set MLXMED_DEBUG=1 to see the details, "
             "and please report it)")
        return 1
