"""mlxmed never deletes, truncates or overwrites a file it did not create.

Every command checks its outputs here before it does any work:

* an output that is one of the inputs (the same file, even under another name or through a
  link), or an output folder that holds an input, is refused;
* an existing output is replaced (or resumed) only when it carries mlxmed's own marks: a data
  folder's ``summary.json``, a converted model's ``mlxmed.json``, a run's ``run.json``, a GGUF
  file's ``mlxmed.*`` keys, an extraction output's marker file beside it (``.NAME.mlxmed.json``,
  naming the very file by its inode), a report's own files; and a folder is replaced only when
  it holds nothing mlxmed did not write.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from mlxmed.errors import MlxmedError

EXTRACTION_COLUMNS = ("id", "status", "error", "ms")  # every extraction output row has these
# what mlxmed writes into an output folder before the step that fills it (the studio's job)
JOB_FILE = "studio-job.json"


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (links and ``..`` included)."""
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies somewhere under it."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def refuse_input_as_output(out: str | Path, inputs: Iterable[str | Path | None],
                           option: str = "--out") -> None:
    """Refuse an output path that is an input, or an output folder that holds an input."""
    out = Path(out)
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        if same_file(out, source) or (source.exists() and inside(source, out)):
            raise MlxmedError(f"{option} {out}: that is (or holds) the input {source}; mlxmed "
                              "never overwrites its inputs: choose another output")


def folder_files(folder: Path) -> set[str]:
    """Every file under ``folder``, as paths relative to it (``/``-separated)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def foreign_files(folder: Path, ours: Iterable[str]) -> list[str]:
    """Files under ``folder`` that are not in the list mlxmed wrote there."""
    return sorted(folder_files(folder) - set(ours))


def is_extraction_output(path: Path) -> bool:
    """Whether ``path`` starts like a file `mlxmed extract` writes (read-only check)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            row = json.loads(first)
        except ValueError:
            return False
        return isinstance(row, dict) and all(c in row for c in EXTRACTION_COLUMNS)
    header = next(csv.reader(io.StringIO(first)), [])
    return header[:1] == ["id"] and all(c in header for c in EXTRACTION_COLUMNS)


def output_marker(path: Path) -> Path:
    """The marker file beside an extraction output that says mlxmed created it."""
    return path.with_name(f".{path.name}.mlxmed.json")


def mark_extraction_output(path: Path, inode: int) -> None:
    """Record that mlxmed created ``path``, the file with ``inode``. Called before the file
    is renamed into place (a renamed file keeps its inode), so a kill at any moment leaves
    either no output or a marked one."""
    from mlxmed.atomic import write_text

    write_text(output_marker(path), json.dumps({"written_by": "mlxmed extract",
                                                "file": path.name, "inode": inode}) + "\n")


def create_marked_output(path: Path, first_line: bytes) -> None:
    """Create the extraction output ``path`` holding ``first_line`` (its header), marked as
    mlxmed's before it appears under its name."""
    import os

    from mlxmed.atomic import atomic_file

    with atomic_file(path, "wb") as handle:
        handle.write(first_line)
        mark_extraction_output(path, os.fstat(handle.fileno()).st_ino)


def is_marked_extraction_output(path: Path) -> bool:
    """Whether ``path`` is the very file an extraction created (its marker names its inode: a
    file copied or written over it by something else does not match)."""
    try:
        marker = json.loads(output_marker(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    # the inode, not the device: a share or a USB disk may get another device number at
    # its next mount, and resuming after a restart is what resume is for
    return (isinstance(marker, dict) and marker.get("file") == path.name
            and marker.get("inode") == stat.st_ino)


def unmark_extraction_output(path: Path) -> None:
    """Remove the marker of an output mlxmed itself removes (a workbook's finished journal)."""
    output_marker(path).unlink(missing_ok=True)


def is_mlxmed_gguf(path: Path) -> bool:
    """Whether ``path`` is a GGUF file mlxmed wrote (it carries ``mlxmed.*`` metadata)."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                return False
        from mlxmed.models.gguf_import import read_gguf_metadata

        return any(key.startswith("mlxmed.") for key in read_gguf_metadata(path))
    except (OSError, MlxmedError, ValueError):
        return False


def check_file_replaceable(path: Path, is_ours, what: str, option: str = "--out") -> None:
    """Refuse an existing file at ``path`` unless ``is_ours(path)`` says mlxmed wrote it."""
    if path.exists() and (not path.is_file() or not is_ours(path)):
        raise MlxmedError(f"{option} {path}: exists and is not {what} written by mlxmed; "
                          "mlxmed never overwrites other files: choose another output")


def check_folder_replaceable(folder: Path, ours: Iterable[str] | None, what: str,
                             option: str = "--out") -> None:
    """Refuse to replace ``folder`` unless mlxmed wrote it (``ours``: the files it wrote there,
    None when it is not an mlxmed folder) and it holds nothing else."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise MlxmedError(f"{option} {folder}: exists and is not a folder; choose another "
                          "output")
    if not any(folder.iterdir()):
        return
    if ours is None:
        raise MlxmedError(f"{option} {folder}: the folder holds files mlxmed did not write "
                          f"(it is not {what}); --force only replaces mlxmed's own output: "
                          "choose another folder")
    extra = foreign_files(folder, ours)
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        raise MlxmedError(f"{option} {folder}: besides {what} it holds {len(extra)} file(s) "
                          f"mlxmed did not write ({shown}); --force would delete them: move "
                          "them or choose another folder")
