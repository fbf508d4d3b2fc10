"""Excel workbooks (.xlsx/.xlsm) read like a CSV file with openpyxl in read-only mode: the
first non-empty row of the sheet is the header, every later non-empty row a record. Cells
become the text a CSV export would hold (whole numbers without ``.0``, dates as ISO dates),
and messages name the sheet, the row and the cell: ``notes.xlsx sheet 'Notes' row 17 (cell
B17)``."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.inputs.documents import OLE2_MAGIC, short_reason
from mlxmed.inputs.raw import RawRecord, ReadResult


def cell_text(value: Any) -> str:
    """A cell's value as the text a CSV export of the sheet would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_workbook(path: Path):
    """The workbook in read-only mode, or one error line naming the file and the fix."""
    from openpyxl import load_workbook

    with path.open("rb") as handle:
        if handle.read(len(OLE2_MAGIC)) == OLE2_MAGIC:
            raise MlxmedError(f"{path}: a password-protected or old-format (.xls) workbook; "
                              "remove the password in Excel (File > Info > Protect Workbook) "
                              "and save it as .xlsx")
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
        raise MlxmedError(f"{path}: not a readable Excel workbook ({short_reason(exc)}); save "
                          "it again from Excel as .xlsx, or export the sheet as CSV") from exc


def pick_sheet(workbook, path: Path, sheet: str | None):
    """The sheet named ``sheet``, else the first one."""
    names = workbook.sheetnames
    if sheet is None:
        return workbook[names[0]]
    if sheet not in names:
        raise MlxmedError(f"{path}: no sheet {sheet!r}; the sheets are "
                          f"{', '.join(map(repr, names))}; pass one of them to --sheet")
    return workbook[sheet]


def read_xlsx(path: Path, required: Sequence[str] = (), *,
              sheet: str | None = None) -> ReadResult:
    """Read one sheet of a workbook like a CSV file (see the module docstring)."""
    from openpyxl.utils import get_column_letter

    workbook = open_workbook(path)
    try:
        worksheet = pick_sheet(workbook, path, sheet)
        title = worksheet.title
        where_sheet = f"{path.name} sheet '{title}'"
        worksheet.reset_dimensions()  # do not trust the stored size: read every row
        rows = enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1)
        header, header_row = _header(rows, path, title, required)
        result = ReadResult([], path, file_sha256(path), "xlsx", sheet=title)
        count = 0
        for sheet_row, values in rows:
            cells = [cell_text(v) for v in values]
            if not any(c.strip() for c in cells):
                continue  # an empty row
            count += 1
            where = f"{where_sheet} row {sheet_row}"
            extra = [i for i, c in enumerate(cells) if c.strip() and
                     (i >= len(header) or not header[i])]
            if extra:
                cell = f"{get_column_letter(extra[0] + 1)}{sheet_row}"
                result.problems.append(
                    f"{where} (cell {cell}): a value in a column without a header (header row "
                    f"{header_row}); give the column a name or clear the cell")
                continue
            data = {name: (cells[i] if i < len(cells) else "")
                    for i, name in enumerate(header) if name}
            letters = {name: f"{get_column_letter(i + 1)}{sheet_row}"
                       for i, name in enumerate(header) if name}
            result.records.append(RawRecord(count, where, data, cells=letters))
        return result
    finally:
        workbook.close()


def _header(rows, path: Path, title: str, required: Sequence[str]) -> tuple[list[str], int]:
    """The column names of the first non-empty row, checked like a CSV header."""
    sheet_row, names = 0, []
    for number, values in rows:
        names = [cell_text(v).strip() for v in values]
        if any(names):
            sheet_row = number
            break
    else:
        raise MlxmedError(f"{path} sheet '{title}': the sheet is empty; add a header row and "
                          "the notes, or choose another sheet with --sheet")
    while names and not names[-1]:
        names.pop()
    where = f"{path} sheet '{title}' header (row {sheet_row})"
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise MlxmedError(f"{where}: column(s) {', '.join(map(repr, dupes))} appear twice; "
                          "rename them")
    missing = [name for name in required if name not in names]
    if missing:
        found = ", ".join(repr(n) for n in names if n)
        raise MlxmedError(f"{where}: missing column(s) {', '.join(map(repr, missing))} (found: "
                          f"{found}); rename the column, change the task file, or choose "
                          "another sheet with --sheet")
    return names, sheet_row
