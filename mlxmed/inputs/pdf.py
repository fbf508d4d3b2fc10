"""PDF notes: the text layer, read page by page with pypdf so that a 500-page printout needs
memory for its text and one page, not for the whole file.

A PDF whose pages carry no text (a scan) has no note to read: it is left out and listed, or,
with OCR switched on, read by :mod:`mlxmed.inputs.ocr`. A damaged or password-protected PDF is
one error line naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from mlxmed.inputs.documents import DocumentError, NoText, short_reason
from mlxmed.inputs.normalise import normalise_text
from mlxmed.seams import logger_silenced

NO_TEXT_REASON = ("scanned PDF without a text layer; rerun with --ocr (needs tesseract), or "
                  "OCR it into a searchable PDF first")


def read_pdf(path: Path, ocr: str | None = None) -> tuple[str, bool]:
    """(normalised text, whether OCR made it) of a PDF; raises :class:`NoText` for a scan
    when ``ocr`` (tesseract languages) is None."""
    # a page break is a line break: a word hyphenated across pages is joined too
    text = normalise_text("\n".join(page_texts(path)), join_hyphens=True)
    if text.strip():
        return text, False
    if ocr is None:
        raise NoText(NO_TEXT_REASON)
    from mlxmed.inputs.ocr import ocr_pdf

    text = ocr_pdf(path, ocr)
    if not text.strip():
        raise NoText("scanned PDF in which OCR found no text; check the scan")
    return text, True


def page_texts(path: Path) -> list[str]:
    """The text of every page, in order. The reader forgets each page's parsed objects once
    its text is out (pypdf would otherwise keep every page it has parsed)."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    texts: list[str] = []
    with path.open("rb") as handle, logger_silenced("pypdf"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = PdfReader(handle)
            if reader.is_encrypted:
                unlock(reader, path)
            for page in reader.pages:
                texts.append(page.extract_text() or "")
                reader.resolved_objects.clear()
        except DocumentError:
            raise
        except FileNotDecryptedError as exc:
            raise locked(path) from exc
        except DependencyError as exc:
            raise DocumentError(f"{path}: decrypting this PDF needs the 'cryptography' package "
                                f"({short_reason(exc)}); reinstall mlxmed with its "
                                "dependencies") from exc
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files
            raise DocumentError(f"{path}: not a readable PDF ({short_reason(exc)}); export or "
                                "print it to PDF again, or move it out of the folder") from exc
    return texts


def unlock(reader: Any, path: Path) -> None:
    """Open an encrypted PDF that needs no password to read (only an owner password that
    restricts printing or copying, as record systems often set); refuse any other."""
    from pypdf import PasswordType

    if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise locked(path)


def locked(path: Path) -> DocumentError:
    return DocumentError(f"{path}: the PDF is password-protected; open it with its password, "
                         "save or print an unprotected copy, and put that in the folder")
