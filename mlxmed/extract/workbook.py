"""Extraction results as an Excel workbook (``--out results.xlsx``).

A workbook cannot grow one synced row at a time, so while the run goes the rows are appended
to a journal next to it, ``results.xlsx.rows.jsonl``, exactly as a ``.jsonl`` output would be
(a killed run loses at most the note in flight; ``--resume`` continues the journal). When the
run ends, the workbook is built from the journal into a temporary file and renamed over
``results.xlsx``, and the journal is removed. Resuming a finished workbook (say, after notes
were added to the input) first turns its rows back into a journal.

Sheet ``results`` has the columns and rows of the CSV output: numbers are numbers, rows with
a confidence under 0.6 are filled, text is always text (a note that starts with ``=`` is never
a formula). Excel cannot store control characters (a PDF's form feed, say): they are dropped,
and a text over Excel's 32,767 characters per cell is cut (counted in the settings sheet).
Sheet ``settings`` says how the results were made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mlxmed.artifacts.ownership import mark_extraction_output
from mlxmed.atomic import atomic_path
from mlxmed.errors import MlxmedError
from mlxmed.tasks import format_json

WORKBOOK_SUFFIXES = (".xlsx",)
LOW_CONFIDENCE = 0.6
LOW_FILL = "FFF2CC"  # a light amber
EXCEL_CELL_LIMIT = 32_767  # characters Excel keeps in one cell
CUT_MARK = " […]"
RESULTS_SHEET, SETTINGS_SHEET = "results", "settings"


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in WORKBOOK_SUFFIXES


def journal_path(out: Path) -> Path:
    """The row journal of a workbook output."""
    return out.with_name(out.name + ".rows.jsonl")


class _CellMaker:
    """Turns row values into write-only cells; counts the texts cut to Excel's limit."""

    def __init__(self, sheet: Any) -> None:
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        from openpyxl.styles import PatternFill

        self.sheet, self.illegal = sheet, ILLEGAL_CHARACTERS_RE
        self.fill = PatternFill("solid", start_color=LOW_FILL, end_color=LOW_FILL)
        self.cut = 0

    def cell(self, value: Any, low: bool) -> Any:
        """A write-only cell holding ``value`` (filled when ``low``)."""
        from openpyxl.cell import WriteOnlyCell

        if isinstance(value, list | dict):
            value = format_json(value)
        elif isinstance(value, bool):
            value = str(value)  # as the CSV output writes it
        if isinstance(value, str):
            value = self.illegal.sub("", value)  # control characters Excel cannot store
            if len(value) > EXCEL_CELL_LIMIT:
                value = value[: EXCEL_CELL_LIMIT - len(CUT_MARK)] + CUT_MARK
                self.cut += 1
        cell = WriteOnlyCell(self.sheet, value)
        if isinstance(value, str):
            cell.data_type = "s"  # text, even when it starts with "="
        if low:
            cell.fill = self.fill
        return cell


def _is_low(row: dict) -> bool:
    confidence = row.get("confidence")
    return isinstance(confidence, int | float) and confidence < LOW_CONFIDENCE


def write_workbook(out: Path, rows: Iterable[dict], columns: Sequence[str],
                   settings: Sequence[tuple[str, Any]]) -> dict[str, int]:
    """Write the results and settings sheets to ``out`` atomically; returns counts of the
    rows, the low-confidence rows and the cells cut to Excel's limit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(RESULTS_SHEET)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = 60 if column == "text" else 16
    maker = _CellMaker(sheet)
    bold = Font(bold=True)
    header = [maker.cell(name, False) for name in columns]
    for cell in header:
        cell.font = bold
    sheet.append(header)
    counts = {"rows": 0, "low_confidence": 0}
    for row in rows:
        low = _is_low(row)
        sheet.append([maker.cell(row.get(column), low) for column in columns])
        counts["rows"] += 1
        counts["low_confidence"] += low
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{counts['rows'] + 1}"
    counts["cut_cells"] = maker.cut
    about = book.create_sheet(SETTINGS_SHEET)
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 28, 80
    about.append([maker.cell("setting", False), maker.cell("value", False)])
    for key, value in [*settings, ("rows", counts["rows"]),
                       (f"rows with confidence < {LOW_CONFIDENCE} (filled)",
                        counts["low_confidence"]),
                       (f"cells cut to Excel's {EXCEL_CELL_LIMIT} characters", maker.cut)]:
        about.append([maker.cell(key, False), maker.cell(value, False)])
    with atomic_path(out) as tmp:
        book.save(tmp)
    return counts


def workbook_rows(path: Path) -> Iterator[dict]:
    """The rows of the results sheet of a workbook written by :func:`write_workbook` (empty
    cells are None, numbers are numbers)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
        raise MlxmedError(f"{path}: not a readable Excel workbook ({exc}); use another --out "
                          "or the .csv output") from exc
    try:
        if RESULTS_SHEET not in book.sheetnames:
            raise MlxmedError(f"{path}: no sheet '{RESULTS_SHEET}', so not an mlxmed results "
                              "workbook; use another --out")
        rows = book[RESULTS_SHEET].iter_rows(values_only=True)
        header = [str(v) for v in next(rows, ()) if v is not None]
        if header[:1] != ["id"]:
            raise MlxmedError(f"{path}: not an mlxmed results workbook (no 'id' column); use "
                              "another --out")
        for values in rows:
            if any(v is not None for v in values):
                yield dict(zip(header, values, strict=False))
    finally:
        book.close()


def journal_from_workbook(out: Path, journal: Path) -> None:
    """Turn a finished workbook's rows back into a journal, so a resumed run can add rows."""
    with atomic_path(journal) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row in workbook_rows(out):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        mark_extraction_output(journal, tmp.stat().st_ino)  # marked before it is in place
