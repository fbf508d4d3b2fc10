"""The one exception type users see: a single line that says what is wrong and what to do,
and the one line for a failed file operation (shared by the CLI and the studio)."""

import errno


class MlxmedError(Exception):
    """A user-facing error. Its message is one line naming the file/row/field and the fix."""


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


def error_line(exc: BaseException) -> str:
    """What a user is shown for ``exc``: the message of an :class:`MlxmedError`, the one line
    for a file-system error, else the kind of failure (the details go to a log)."""
    if isinstance(exc, MlxmedError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error_line(exc)
    return f"unexpected {type(exc).__name__}: {exc} (the details are in the log; please report it)"
