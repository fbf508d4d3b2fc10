"""What a reader hands on: the records of one input before validation, where each came from,
and what the reader found wrong or left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RawRecord:
    """One input record before validation."""

    row: int
    where: str
    data: dict[str, Any]
    id: str | None = None  # set when the id comes from outside the data (file stem)
    cells: dict[str, str] | None = None  # column -> spreadsheet cell ("B17"), for messages

    def at(self, column: str) -> str:
        """Where the value of ``column`` is, e.g. ``notes.xlsx sheet 'Notes' row 17 (cell
        B17)``; just :attr:`where` when the input has no cells."""
        cell = (self.cells or {}).get(column)
        return f"{self.where} (cell {cell})" if cell else self.where


@dataclass(frozen=True)
class LeftOut:
    """A file of a notes folder that is not read as a note, and why."""

    file: str
    reason: str


@dataclass
class ReadResult:
    """What a reader found in one input."""

    records: list[RawRecord]
    source: Path
    sha256: str
    format: str
    problems: list[str] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)  # notes read per file format
    ocr: list[str] = field(default_factory=list)  # files whose text OCR produced
    sheet: str | None = None  # the worksheet a workbook was read from

    @property
    def skipped(self) -> list[str]:
        """The names of the files left out."""
        return [item.file for item in self.left_out]
