"""Word notes (.docx) with python-docx: the body's paragraphs and tables in reading order, a
table row as one line of cells separated by `` | `` (headers, footers and comments are not
part of the note)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlxmed.inputs.documents import OLE2_MAGIC, DocumentError, short_reason

CELL_SEPARATOR = " | "


def read_docx(path: Path) -> str:
    """The text of a .docx file, one line per paragraph or table row."""
    import docx
    from docx.table import Table

    with path.open("rb") as handle:
        head = handle.read(len(OLE2_MAGIC))
    if head == OLE2_MAGIC:
        raise DocumentError(f"{path}: a password-protected or old-format (.doc) Word file, not "
                            "a .docx; remove the password in Word (File > Info > Protect "
                            "Document) and save it as .docx")
    try:
        document = docx.Document(str(path))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(table_lines(block))
            else:
                lines.append(block.text)
    except Exception as exc:  # noqa: BLE001 - zipfile, lxml and python-docx errors alike
        raise DocumentError(f"{path}: not a readable Word .docx file ({short_reason(exc)}); "
                            "save it again from Word as .docx, or move it out of the "
                            "folder") from exc
    return "\n".join(lines)


def table_lines(table: Any) -> list[str]:
    """One line per row; a cell merged across columns is written once."""
    lines = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # python-docx repeats a merged cell for each column
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(p.text for p in cell.paragraphs).strip())
        lines.append(CELL_SEPARATOR.join(cells))
    return lines
