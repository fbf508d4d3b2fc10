"""Readers for labelled notes: CSV/TSV, JSONL, an Excel sheet, or a folder of note files
(.txt, .pdf, .docx, .rtf, .html; see :mod:`mlxmed.inputs.documents`) plus a labels CSV.

Every reader returns the records with a human-readable location ("notes.csv row 3 (line 5)")
and a list of problems found while reading (ragged rows, bad JSON, bytes that are not UTF-8,
unreadable documents). Problems that make the rest of the file unreadable (a missing column,
broken quoting) raise :class:`MlxmedError` at once.

Row numbers: CSV rows count the records after the header (1 = first data row, the physical
line is added when it differs); JSONL rows are line numbers; an Excel sheet's rows are the
sheet's own row numbers (with the cell: "notes.xlsx sheet 'Notes' row 17 (cell B17)"); notes
in a folder are named by file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

from mlxmed.errors import MlxmedError
from mlxmed.inputs.documents import (
    DocumentError,
    NoText,
    document_format,
    read_document,
    unsupported_reason,
)
from mlxmed.inputs.encoding import decode, not_utf8
from mlxmed.inputs.raw import LeftOut, RawRecord, ReadResult

__all__ = ["LeftOut", "RawRecord", "ReadResult", "decode", "find_labels_csv", "not_utf8",
           "read_csv", "read_folder", "read_jsonl", "read_notes", "sniff_delimiter"]

_DELIMITERS = (",", ";", "\t")
INPUT_KINDS = ("give a CSV, TSV, JSONL or Excel (.xlsx) file, or a folder of notes (.txt, "
               ".pdf, .docx, .rtf, .html)")


def read_notes(path: str | Path, required: Sequence[str], *, labels_csv: str | Path | None = None,
               encoding: str | None = None, text_field: str = "text",
               id_field: str | None = None, sheet: str | None = None,
               ocr: str | None = None) -> ReadResult:
    """Read an input file or folder; ``required`` lists the columns/keys every record needs.

    ``sheet`` chooses the worksheet of an Excel file (default: the first); ``ocr`` (tesseract
    languages, e.g. ``"deu+eng"``) reads scanned PDFs of a folder by OCR."""
    path = Path(path)
    if not path.exists():
        raise MlxmedError(f"{path}: input not found; {INPUT_KINDS}")
    if sheet is not None and (path.is_dir() or path.suffix.lower() not in (".xlsx", ".xlsm")):
        raise MlxmedError(f"--sheet {sheet}: only an Excel (.xlsx) input has sheets; leave "
                          "--sheet out")
    if ocr is not None:
        if not path.is_dir():
            raise MlxmedError("--ocr reads scanned PDFs in a folder of notes; leave it out for "
                              f"{path.name}")
        from mlxmed.inputs.ocr import check_ocr

        check_ocr(ocr)
    if path.is_dir():
        return read_folder(path, required, labels_csv=labels_csv, encoding=encoding,
                           text_field=text_field, id_field=id_field, ocr=ocr)
    if not path.is_file():
        raise MlxmedError(f"{path}: not a regular file (a pipe, socket or device); save the "
                          "notes to a file and give its path")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, encoding=encoding)
    if suffix in (".csv", ".tsv", ".tab"):
        return read_csv(path, required, encoding=encoding,
                        delimiter="\t" if suffix in (".tsv", ".tab") else None)
    if suffix in (".xlsx", ".xlsm"):
        from mlxmed.inputs.spreadsheet import read_xlsx

        return read_xlsx(path, required, sheet=sheet)
    hint = "; save it as .xlsx" if suffix in (".xls", ".ods") else ""
    raise MlxmedError(f"{path}: unsupported file type {suffix!r}{hint}; {INPUT_KINDS}")


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


def read_folder(folder: Path, required: Sequence[str], *, labels_csv: str | Path | None = None,
                encoding: str | None = None, text_field: str = "text",
                id_field: str | None = None, ocr: str | None = None) -> ReadResult:
    """Notes from the files of ``folder`` (id = file stem), labels from a CSV with an id column.

    Without labels to read (extraction), every note file is a note and no CSV is needed. Files
    mlxmed does not read as notes, and scanned PDFs (unless ``ocr``), are left out and listed.
    """
    id_column = id_field or "id"
    needed = [c for c in required if c not in (text_field, id_column)]
    # notes to extract from need no labels: a labels.csv near the folder is not read then
    labels_path = (find_labels_csv(folder, labels_csv, optional=not needed)
                   if needed or labels_csv is not None else None)
    result = ReadResult([], folder, "", "folder")
    files = note_files(folder, labels_path, result)
    if not files:
        left = f" ({len(result.left_out)} other file(s) left out)" if result.left_out else ""
        raise MlxmedError(f"{folder}: no notes found{left}; put one note per file there "
                          "(.txt, .pdf, .docx, .rtf, .html)")
    digest = hashlib.sha256()
    if labels_path is None:
        for row, (stem, note_path) in enumerate(files.items(), start=1):
            text = _read_note(note_path, encoding, ocr, result, digest)
            if text is not None:
                result.records.append(RawRecord(row, note_path.name,
                                                {id_column: stem, text_field: text}, id=stem))
        result.sha256 = digest.hexdigest()
        return result
    labels = read_csv(labels_path, [id_column, *needed], encoding=encoding)
    digest.update(labels_path.read_bytes())
    result.problems[:0] = labels.problems
    labelled = set()
    for record in labels.records:
        note_id = str(record.data.get(id_column, "")).strip()
        if not note_id:
            result.problems.append(f"{record.where}, field '{id_column}': empty id; give the "
                                   "file name of the note without its extension")
            continue
        note_path = files.get(note_id)
        if note_path is None:
            result.problems.append(f"{record.where}, field '{id_column}': no file {note_id}.txt "
                                   f"(or .pdf, .docx, .rtf, .html) in {folder}; add the note or "
                                   "remove the row")
            continue
        labelled.add(note_id)
        text = _read_note(note_path, encoding, ocr, result, digest)
        if text is None:
            continue
        data = dict(record.data)
        data[text_field] = text
        result.records.append(RawRecord(record.row, f"{record.where} ({note_path.name})", data,
                                        id=note_id))
    for stem, note_path in files.items():
        if stem in labelled:
            continue
        reason = None if ocr else _no_text_reason(note_path)
        if reason:  # a scan nobody could label: left out, not a problem
            result.left_out.append(LeftOut(note_path.name, reason))
        else:
            result.problems.append(f"{note_path}: no row with id '{stem}' in {labels_path.name}; "
                                   "label the note or move the file out of the folder")
    result.left_out.sort(key=lambda item: item.file)
    result.sha256 = digest.hexdigest()
    return result


def note_files(folder: Path, labels_path: Path | None, result: ReadResult) -> dict[str, Path]:
    """The note files of ``folder`` by id; other files are added to ``result.left_out``, two
    files with one id to ``result.problems``. Hidden files and sub-folders are ignored."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path == labels_path or path.is_dir():
            continue
        if not path.is_file():  # a FIFO, socket or device would block or never end
            result.left_out.append(LeftOut(path.name, "not a regular file (a pipe, socket or "
                                                      "device); never read"))
            continue
        if path.name.startswith("~$"):
            result.left_out.append(LeftOut(path.name, "an Office lock file (kept while the "
                                                      "document is open), not a note"))
        elif document_format(path) is None:
            result.left_out.append(LeftOut(path.name, unsupported_reason(path)))
        elif path.stem in files:
            result.problems.append(f"{files[path.stem]} and {path.name}: two notes with the id "
                                   f"'{path.stem}'; keep one of them in the folder")
        else:
            files[path.stem] = path
    return files


def _no_text_reason(path: Path) -> str | None:
    """Why a PDF has no note to read (a scan without a text layer), or None."""
    if document_format(path) != "pdf":
        return None
    try:
        read_document(path)
    except NoText as exc:
        return exc.reason
    except DocumentError:
        return None
    return None


def _read_note(path: Path, encoding: str | None, ocr: str | None, result: ReadResult,
               digest) -> str | None:
    """The text of one note file, or None with the reason in ``result`` (a problem, or a file
    left out); the file's bytes go into ``digest``."""
    digest.update(path.name.encode("utf-8") + b"\0")
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    try:
        document = read_document(path, encoding=encoding, ocr=ocr)
    except DocumentError as exc:
        result.problems.append(str(exc))
        return None
    except NoText as exc:
        result.left_out.append(LeftOut(path.name, exc.reason))
        return None
    result.formats[document.format] = result.formats.get(document.format, 0) + 1
    if document.ocr:
        result.ocr.append(path.name)
    return document.text
