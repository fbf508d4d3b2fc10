"""The notes of a folder, one document per file: plain text, PDF, Word (.docx), RTF or HTML.

:func:`read_document` picks the reader by the file's extension and returns the document's
text normalised the same way for every format (:mod:`mlxmed.inputs.normalise`). A file that
cannot be read raises :class:`DocumentError` (one line naming the file and the fix); a PDF
without a text layer raises :class:`NoText`, and its file is left out and listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlxmed.errors import MlxmedError
from mlxmed.inputs.encoding import decode, not_utf8, not_utf8_line
from mlxmed.inputs.normalise import normalise_text

# extension -> format name (as counted in `mlxmed data`'s summary)
DOCUMENT_FORMATS = {".txt": "txt", ".pdf": "pdf", ".docx": "docx", ".rtf": "rtf",
                    ".html": "html", ".htm": "html"}
# extensions people will try, and what to do instead
CONVERT_HINTS = {".doc": "save it as .docx", ".odt": "save it as .docx",
                 ".xls": "save it as .xlsx", ".pages": "export it as .docx or PDF",
                 ".tif": "OCR it into a PDF with a text layer",
                 ".tiff": "OCR it into a PDF with a text layer",
                 ".png": "OCR it into a PDF with a text layer",
                 ".jpg": "OCR it into a PDF with a text layer",
                 ".csv": "a table of notes is an INPUT of its own, not a note in a folder",
                 ".xlsx": "a table of notes is an INPUT of its own, not a note in a folder",
                 ".jsonl": "a table of notes is an INPUT of its own, not a note in a folder"}
# the first bytes of an OLE2 container: old .doc/.xls files and every password-encrypted
# Office file (Office encrypts a .docx or .xlsx into one of these)
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class DocumentError(MlxmedError):
    """A note file that cannot be read; the message names the file and the fix."""


class NoText(Exception):  # noqa: N818 - a reason to leave a file out, not a failure
    """A document with no text to read (a scanned PDF); ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Document:
    """The normalised text of one note file, its format, and whether OCR produced it."""

    text: str
    format: str
    ocr: bool = False


def document_format(path: Path) -> str | None:
    """The format name of a note file, or None if mlxmed does not read that extension."""
    return DOCUMENT_FORMATS.get(path.suffix.lower())


def unsupported_reason(path: Path) -> str:
    """Why a file of a folder is not read as a note, and what to do about it."""
    suffix = path.suffix.lower() or "(none)"
    hint = CONVERT_HINTS.get(suffix, "convert it to .txt, .pdf, .docx, .rtf or .html")
    return f"unsupported file type {suffix}; {hint}"


def read_document(path: Path, *, encoding: str | None = None,
                  ocr: str | None = None) -> Document:
    """The text of one note file. ``encoding`` applies to .txt/.html/.rtf; ``ocr`` (tesseract
    languages such as ``"deu+eng"``) reads PDFs without a text layer by OCR."""
    kind = document_format(path)
    if kind == "txt":
        return Document(read_txt(path, encoding), kind)
    if kind == "pdf":
        from mlxmed.inputs.pdf import read_pdf

        text, used_ocr = read_pdf(path, ocr)
        return Document(text, kind, used_ocr)
    if kind == "docx":
        from mlxmed.inputs.word import read_docx

        return Document(normalise_text(read_docx(path)), kind)
    if kind == "rtf":
        from mlxmed.inputs.rtf import read_rtf

        return Document(normalise_text(read_rtf(path, encoding)), kind)
    if kind == "html":
        from mlxmed.inputs.html_page import read_html

        return Document(normalise_text(read_html(path, encoding)), kind)
    raise DocumentError(f"{path}: {unsupported_reason(path)}")


def read_txt(path: Path, encoding: str | None) -> str:
    """A plain-text note; a binary file or bytes that are not UTF-8 are named."""
    raw = path.read_bytes()
    if b"\0" in raw:
        raise DocumentError(f"{path}: looks like a binary file (it contains NUL bytes), not a "
                            "text note; convert it to plain text or move it out of the folder")
    return normalise_text(checked_text(raw, path, encoding))


def checked_text(raw: bytes, path: Path, encoding: str | None) -> str:
    """Decoded text of a whole file, or :class:`DocumentError` naming the first bad byte."""
    text = decode(raw, path, encoding)
    byte = not_utf8(text)
    if byte:
        raise DocumentError(f"{path} line {not_utf8_line(text)}: byte {byte} is not UTF-8; save "
                            "it as UTF-8 or rerun with --encoding cp1252 (or latin-1)")
    return text


def short_reason(exc: BaseException) -> str:
    """An exception as a short phrase for an error line (first line, at most 120 chars)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 120 else text[:117] + "..."
