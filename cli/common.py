"""Shared CLI helpers: the rich consoles and the error boundary."""

from __future__ import annotations

import errno

import click
from rich.console import Console
from rich.markup import escape

from mlxmed.errors import MlxmedError

console = Console()

__all__ = ["POSITIVE", "console", "err_console", "esc", "fail", "run_safely"]

# a number that must be above zero (learning rate, epochs, alpha)
POSITIVE = click.FloatRange(min=0, min_open=True)


def esc(value: object) -> str:
    """``value`` as text that rich prints literally (paths, labels and notes may hold ``[``)."""
    return escape(str(value))
err_console = Console(stderr=True)


OS_ERROR_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space and rerun (use --resume where offered)",
    errno.EFBIG: "the disk is full or the file is over this system's size limit; free "
                 "some space or write elsewhere",
    errno.EDQUOT: "your disk quota is used up; free some space and rerun",
    errno.EACCES: "no permission; choose a folder you can write to (--out) or fix its rights",
    errno.EPERM: "not permitted; choose a folder you can write to (--out) or fix its rights",
    errno.EROFS: "the file system is read-only; choose another folder (--out)",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENOTDIR: "part of the path is a file, not a folder; check the path",
    errno.EISDIR: "that is a folder; give a file name",
}


WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EPERM,
                errno.EROFS}


def os_error_line(exc: OSError) -> str:
    """One line for a failed file operation: where, what, and what to do."""
    where = f"{exc.filename}: " if exc.filename else ""
    advice = OS_ERROR_ADVICE.get(exc.errno, "check the path and the disk")
    line = f"{where}{exc.strerror or exc} ({advice})"
    if exc.errno in WRITE_ERRORS:  # outputs are written atomically or row by row
        line += "; nothing half-written was left behind"
    return line


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
