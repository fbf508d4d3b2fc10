"""Atomic writes: a reader never sees a half-written file or directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temporary file next to ``path``; rename it over ``path`` on success."""
    kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def named(exc: BaseException, path: Path) -> BaseException:
    """``exc``, or for a file-system error without a file name (a failed write), the same
    error naming ``path``, so the message says which output could not be written."""
    if isinstance(exc, OSError) and not exc.filename and exc.errno:
        return type(exc)(exc.errno, exc.strerror, str(path))
    return exc


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path next to ``path`` for writers that need a file name (GGUF, safetensors);
    renamed over ``path`` only if the block succeeds, removed otherwise. The temporary name
    ends in ``suffix`` (default: ``.partial`` plus the suffix of ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent,
                               suffix=f".partial{path.suffix}" if suffix is None else suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        _apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise named(exc, path) from exc


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_file(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary sibling; move it to ``path`` only if the block succeeds.

    On any error (or Ctrl-C) the temporary directory is removed, so no partial output is left.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        _apply_umask(tmp)
        if path.exists():
            if not overwrite:
                raise FileExistsError(path)
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _apply_umask(path: Path) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give them the user's usual mode."""
    umask = os.umask(0)
    os.umask(umask)
    base = 0o777 if path.is_dir() else 0o666
    os.chmod(path, base & ~umask)
