"""Bytes to text for every reader: UTF-8 unless told otherwise, undecodable bytes kept visible
so that the record or file holding them can be named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError

NOT_UTF8 = re.compile("[\udc80-\udcff]")


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
        match = NOT_UTF8.search(value)
        return f"0x{ord(match.group()) - 0xDC00:02X}" if match else None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = not_utf8(item)
            if found:
                return found
    return None


def not_utf8_line(text: str) -> int | None:
    """The line number of the first undecodable byte in ``text``, or None."""
    match = NOT_UTF8.search(text)
    return text[:match.start()].count("\n") + 1 if match else None
