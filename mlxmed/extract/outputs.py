"""Extraction output files (CSV or JSONL, one row per note): rows appended and synced one by
one, the ids already written (for resuming), and the rows read back (an Excel workbook's too:
it is built from a JSONL journal, see :mod:`mlxmed.extract.workbook`)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

from mlxmed.artifacts.ownership import (
    create_marked_output,
    is_extraction_output,
    is_marked_extraction_output,
)
from mlxmed.errors import MlxmedError
from mlxmed.tasks import format_json


class RowWriter:
    """Appends rows to a CSV or JSONL file, flushing and syncing each one."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        self.jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
            raise MlxmedError(f"{path}: the output must be a .csv or .jsonl file")
        if path.exists() and path.stat().st_size > 0:
            self.check_columns(path, columns)
        else:
            header = b"" if self.jsonl else self._csv_line(columns).encode("utf-8")
            create_marked_output(path, header)
        self.handle = path.open("ab", buffering=0)  # unbuffered: a row is on disk or not

    @staticmethod
    def check_columns(path: Path, columns: list[str]) -> None:
        """A resumed file must have the same columns (e.g. the same --include-text)."""
        with path.open(encoding="utf-8", newline="") as handle:
            first = handle.readline()
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            try:
                found = list(json.loads(first))
            except ValueError:
                found = []
        else:
            found = next(csv.reader([first]), [])
        if found != columns:
            raise MlxmedError(f"{path}: its columns ({', '.join(found)}) differ from this run's "
                              f"({', '.join(columns)}); resume with the same options "
                              "(--include-text) or write to another --out")

    def _csv_line(self, values: list) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def _write_line(self, line: str) -> None:
        """Append one complete line; if the write fails (a full disk), cut the file back to
        where it was, so it never ends in half a row."""
        fd = self.handle.fileno()
        size = os.fstat(fd).st_size
        try:
            data = memoryview(line.encode("utf-8"))
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.truncate(self.path, size)
            raise

    def write(self, row: dict) -> None:
        if self.jsonl:
            self._write_line(json.dumps({c: row.get(c) for c in self.columns},
                                        ensure_ascii=False) + "\n")
        else:
            self._write_line(self._csv_line([_cell(row.get(c)) for c in self.columns]))

    def close(self) -> None:
        self.handle.close()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return format_json(value)
    return str(value)


def check_resumable(path: Path, columns: list[str]) -> None:
    """Refuse to resume into a file that is not an extraction output with these columns,
    before a byte of it is touched."""
    if not path.is_file():
        raise MlxmedError(f"--out {path}: not a regular file; choose another --out")
    if not is_extraction_output(path):
        raise MlxmedError(f"--out {path}: not an output of `mlxmed extract` (no id/status/"
                          "error/ms columns); --resume only continues mlxmed's own output, "
                          "and this file is left as it is: choose another --out")
    if not is_marked_extraction_output(path):
        raise MlxmedError(f"--out {path}: looks like an extraction output, but mlxmed's marker "
                          f"beside it (.{path.name}.mlxmed.json) is missing or names another "
                          "file (copied, replaced or written by an older mlxmed); it is left "
                          "as it is: extract into a new --out")
    RowWriter.check_columns(path, columns)


def done_ids(path: Path) -> set[str]:
    """Ids already in an output file (checked with :func:`check_resumable` first). A last
    line cut short by a kill is removed."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):  # the row in flight when the run was killed
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
        data = data[: data.rfind(b"\n") + 1]
    text = data.decode("utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        ids = set()
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    ids.add(str(json.loads(line)["id"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise MlxmedError(f"{path}: line {number} is not an extraction row; "
                                      "use another --out or remove the line") from exc
        return ids
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0][:1] != ["id"]:
        raise MlxmedError(f"{path}: not an mlxmed output file (no 'id' column); use another "
                          "--out")
    return {row[0] for row in rows[1:] if row}


def iter_rows(path: Path) -> Iterator[dict]:
    """Rows of an extraction output (CSV, JSONL or an Excel workbook) as dicts."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from mlxmed.extract.workbook import workbook_rows

        yield from workbook_rows(path)
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    else:
        with path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
