"""Readers for labelled notes: CSV/TSV, JSONL, or a folder of ``.txt`` files plus a labels CSV.

Every reader returns the records with a human-readable location ("notes.csv row 3 (line 5)")
and a list of problems found while reading (ragged rows, bad JSON, bytes that are not UTF-8).
Problems that make the rest of the file unreadable (a missing column, broken quoting) raise
:class:`MlxmedError` at once.

Row numbers: CSV rows count the records after the header (1 = first data row, the physical
line is added when it differs); JSONL rows are line numbers; ``.txt`` notes are named by file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError

_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_DELIMITERS = (",", ";", "\t")


@dataclass
class RawRecord:
    """One input record before validation."""

    row: int
    where: str
    data: dict[str, Any]
    id: str | None = None  # set when the id comes from outside the data (file stem)


@dataclass
class ReadResult:
    """What a reader found in one input."""

    records: list[RawRecord]
    source: Path
    sha256: str
    format: str
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files of a folder that are not notes


def read_notes(path: str | Path, required: Sequence[str], *, labels_csv: str | Path | None = None,
               encoding: str | None = None, text_field: str = "text",
               id_field: str | None = None) -> ReadResult:
    """Read an input file or folder; ``required`` lists the columns/keys every record needs."""
    path = Path(path)
    if not path.exists():
        raise MlxmedError(f"{path}: input not found; give a CSV, TSV or JSONL file, or a folder "
                          "of .txt notes")
    if path.is_dir():
        return read_folder(path, required, labels_csv=labels_csv, encoding=encoding,
                           text_field=text_field, id_field=id_field)
    if not path.is_file():
        raise MlxmedError(f"{path}: not a regular file (a pipe, socket or device); save the "
                          "notes to a file and give its path")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, encoding=encoding)
    if suffix in (".csv", ".tsv", ".tab"):
        return read_csv(path, required, encoding=encoding,
                        delimiter="\t" if suffix in (".tsv", ".tab") else None)
    raise MlxmedError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv or .jsonl, or "
                      "a folder of .txt notes")


def decode(data: bytes, path: Path, encoding: str | None) -> str:
    """Bytes to text. Without ``encoding`` UTF-8 is assumed and undecodable bytes are kept
    as surrogates so the record holding them can be reported (see :func:`not_utf8`)."""
    if encoding is None:
        text = data.decode("utf-8", errors="surrogateescape")
    else:
        try:
            text = data.decode(encoding)
        except LookupError as exc:
            raise MlxmedError(f"--encoding {encoding}: unknown encoding; use e.g. utf-8, cp1252 "
                              "or latin-1") from exc
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise MlxmedError(f"{path} line {line}: byte 0x{data[exc.start]:02X} is not valid "
                              f"{encoding}; try another --encoding (e.g. cp1252, latin-1)") from exc
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def not_utf8(value: Any) -> str | None:
    """The first undecodable byte in a decoded value as ``0xNN``, or None."""
    if isinstance(value, str):
        match = _NOT_UTF8.search(value)
        return f"0x{ord(match.group()) - 0xDC00:02X}" if match else None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = not_utf8(item)
            if found:
                return found
    return None


def _encoding_problem(where: str, key: str, byte: str) -> str:
    return (f"{where}, field '{key}': byte {byte} is not UTF-8; save the file as UTF-8 or rerun "
            "with --encoding cp1252 (or latin-1)")


def _check_bytes(record: RawRecord, problems: list[str]) -> None:
    for key, value in record.data.items():
        byte = not_utf8(value)
        if byte:
            problems.append(_encoding_problem(record.where, key, byte))
            return


def sniff_delimiter(text: str) -> str:
    """The most frequent of ``,`` ``;`` tab in the header line (``,`` if none occurs)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, required: Sequence[str] = (), *, encoding: str | None = None,
             delimiter: str | None = None) -> ReadResult:
    """Read a delimited file with a header row (delimiter sniffed unless given)."""
    raw = path.read_bytes()
    text = decode(raw, path, encoding)
    delimiter = delimiter or sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    shown = {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration as exc:
        raise MlxmedError(f"{path}: the file is empty; add a header row and the notes") from exc
    except csv.Error as exc:
        raise MlxmedError(f"{path} line 1: cannot read the header ({exc}); check the quotes") \
            from exc
    dupes = sorted({name for name in header if header.count(name) > 1})
    if dupes:
        raise MlxmedError(f"{path} header: column(s) {', '.join(map(repr, dupes))} appear twice; "
                          "rename them")
    missing = [name for name in required if name not in header]
    if missing:
        raise MlxmedError(f"{path} header: missing column(s) {', '.join(map(repr, missing))} "
                          f"({shown}-separated, found: {', '.join(map(repr, header))}); rename "
                          "the column or change the task file")
    result = ReadResult([], path, hashlib.sha256(raw).hexdigest(), "csv")
    row, previous_end = 0, reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise MlxmedError(f"{path} line {reader.line_num}: cannot parse the CSV ({exc}); "
                              "check the quoting of that note") from exc
        start, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank line or an empty spreadsheet row
        row += 1
        where = f"{path.name} row {row}" + (f" (line {start})" if start != row + 1 else "")
        while len(cells) > len(header) and not cells[-1].strip():
            cells.pop()  # trailing empty cells, as spreadsheets like to add
        if len(cells) != len(header):
            result.problems.append(
                f"{where}: has {len(cells)} cells but the header has {len(header)}; quote text "
                f"that contains the {shown} or line breaks")
            continue
        record = RawRecord(row, where, dict(zip(header, cells, strict=True)))
        _check_bytes(record, result.problems)
        result.records.append(record)
    return result


def read_jsonl(path: Path, *, encoding: str | None = None) -> ReadResult:
    """Read one JSON object per line (blank lines are skipped)."""
    raw = path.read_bytes()
    text = decode(raw, path, encoding)
    result = ReadResult([], path, hashlib.sha256(raw).hexdigest(), "jsonl")
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path.name} row {line_no}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            byte = not_utf8(line)
            result.problems.append(
                _encoding_problem(where, "?", byte) if byte
                else f"{where}: not valid JSON ({exc}); write one JSON object per line")
            continue
        if not isinstance(data, dict):
            result.problems.append(f"{where}: expected a JSON object {{...}}, got "
                                   f"{type(data).__name__}; write one object per line")
            continue
        record = RawRecord(line_no, where, data)
        _check_bytes(record, result.problems)
        result.records.append(record)
    return result


def find_labels_csv(folder: Path, labels_csv: str | Path | None,
                    optional: bool = False) -> Path | None:
    """The labels file for a folder of notes: given, else labels.csv in or next to it (None
    when ``optional`` and there is none)."""
    if labels_csv is not None:
        path = Path(labels_csv)
        if not path.is_file():
            raise MlxmedError(f"{path}: labels file not found; check --labels-csv")
        return path
    for candidate in (folder / "labels.csv", folder.parent / "labels.csv"):
        if candidate.is_file():
            return candidate
    if optional:
        return None
    raise MlxmedError(f"{folder}: no labels.csv in or next to the folder; pass --labels-csv "
                      "with columns id and the label")


def note_text(raw: bytes, note_path: Path, encoding: str | None,
              problems: list[str]) -> str | None:
    """The text of one ``.txt`` note (its bytes ``raw``), or None with the reason added to
    ``problems``."""
    if b"\0" in raw:
        problems.append(f"{note_path}: looks like a binary file (it contains NUL bytes), not a "
                        "text note; convert it to plain text or move it out of the folder")
        return None
    text = decode(raw, note_path, encoding)
    byte = not_utf8(text)
    if byte:
        line = text[:_NOT_UTF8.search(text).start()].count("\n") + 1
        problems.append(f"{note_path} line {line}: byte {byte} is not UTF-8; save it as UTF-8 "
                        "or rerun with --encoding cp1252 (or latin-1)")
        return None
    return text


def read_folder(folder: Path, required: Sequence[str], *, labels_csv: str | Path | None = None,
                encoding: str | None = None, text_field: str = "text",
                id_field: str | None = None) -> ReadResult:
    """Notes from ``folder/*.txt`` (id = file stem), labels from a CSV with an id column.

    Without labels to read (extraction), every ``.txt`` file is a note and no CSV is needed.
    Files with other extensions are not notes and are left alone.
    """
    id_column = id_field or "id"
    needed = [c for c in required if c not in (text_field, id_column)]
    labels_path = find_labels_csv(folder, labels_csv, optional=not needed)
    candidates = sorted(folder.glob("*.txt"))
    files = {p.stem: p for p in candidates if p.is_file()}
    # a FIFO, socket or device named *.txt would block or never end: listed, never read
    special = [f"{p.name} (not a regular file)" for p in candidates if not p.is_file()]
    if not files:
        raise MlxmedError(f"{folder}: no .txt notes found; put one note per .txt file there")
    others = special + sorted(p.name for p in folder.iterdir() if p.is_file()
                              and p.suffix != ".txt" and p != labels_path
                              and not p.name.startswith("."))
    if labels_path is None:
        result = _unlabelled_folder(folder, files, encoding, text_field, id_column)
        result.skipped = others
        return result
    labels = read_csv(labels_path, [id_column, *needed], encoding=encoding)
    digest = hashlib.sha256(labels_path.read_bytes())
    result = ReadResult([], folder, "", "txt-folder", list(labels.problems), others)
    labelled = set()
    for record in labels.records:
        note_id = str(record.data.get(id_column, "")).strip()
        if not note_id:
            result.problems.append(f"{record.where}, field '{id_column}': empty id; give the "
                                   "file name of the note without .txt")
            continue
        note_path = files.get(note_id)
        if note_path is None:
            result.problems.append(f"{record.where}, field '{id_column}': no file {note_id}.txt "
                                   f"in {folder}; add the note or remove the row")
            continue
        labelled.add(note_id)
        raw = note_path.read_bytes()
        digest.update(note_path.name.encode("utf-8") + b"\0" + raw)
        text = note_text(raw, note_path, encoding, result.problems)
        if text is None:
            continue
        data = dict(record.data)
        data[text_field] = text
        result.records.append(RawRecord(record.row, f"{record.where} ({note_path.name})", data,
                                        id=note_id))
    for stem, note_path in files.items():
        if stem not in labelled:
            result.problems.append(f"{note_path}: no row with id '{stem}' in {labels_path.name}; "
                                   "label the note or move the file out of the folder")
    result.sha256 = digest.hexdigest()
    return result


def _unlabelled_folder(folder: Path, files: dict[str, Path], encoding: str | None,
                       text_field: str, id_column: str) -> ReadResult:
    digest = hashlib.sha256()
    result = ReadResult([], folder, "", "txt-folder")
    for row, (stem, note_path) in enumerate(files.items(), start=1):
        raw = note_path.read_bytes()
        digest.update(note_path.name.encode("utf-8") + b"\0" + raw)
        text = note_text(raw, note_path, encoding, result.problems)
        if text is not None:
            result.records.append(RawRecord(row, str(note_path.name),
                                            {id_column: stem, text_field: text}, id=stem))
    result.sha256 = digest.hexdigest()
    return result
