"""OCR for scanned PDFs (``--ocr``): each page rendered at 300 dpi with pypdfium2 and read by
the local tesseract program through pytesseract, one page in memory at a time. OCR is slow
and makes mistakes, so the notes it read are listed in the summaries. Nothing leaves the
machine: tesseract runs here, on temporary files that pytesseract deletes."""

from __future__ import annotations

from pathlib import Path

from mlxmed.errors import MlxmedError
from mlxmed.inputs.documents import DocumentError, short_reason
from mlxmed.inputs.normalise import normalise_text

DPI = 300
# tesseract language packs for a task's language (English words are common in German notes)
LANGUAGES = {"en": "eng", "de": "deu+eng"}
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-deu; pip install pytesseract pypdfium2"


def ocr_languages(task_language: str) -> str:
    """The tesseract languages for a task's language (English when mlxmed knows no better)."""
    return LANGUAGES.get(task_language, "eng")


def check_ocr(languages: str) -> None:
    """Fail with one line saying what to install when OCR cannot run here."""
    try:
        import pypdfium2  # noqa: F401
        import pytesseract
    except ImportError as exc:
        raise MlxmedError(f"--ocr needs the Python packages pytesseract and pypdfium2 ({exc}); "
                          f"install them: {INSTALL}") from exc
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise MlxmedError(f"--ocr needs the tesseract program, which was not found; install "
                          f"it: {INSTALL}") from exc
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in missing)
        raise MlxmedError(f"--ocr: tesseract has no language data for {', '.join(missing)}; "
                          f"install it: apt-get install {packages}")


def ocr_pdf(path: Path, languages: str) -> str:
    """The normalised OCR text of every page of a PDF."""
    import pypdfium2
    import pytesseract

    check_ocr(languages)
    texts = []
    try:
        document = pypdfium2.PdfDocument(str(path))
    except Exception as exc:  # noqa: BLE001 - pdfium reports damage with its own errors
        raise DocumentError(f"{path}: cannot render the PDF for OCR ({short_reason(exc)}); "
                            "export or scan it to PDF again") from exc
    try:
        for index in range(len(document)):
            page = document[index]
            image = page.render(scale=DPI / 72, grayscale=True).to_pil()
            page.close()
            texts.append(pytesseract.image_to_string(image, lang=languages))
    except pytesseract.TesseractError as exc:
        raise DocumentError(f"{path}: tesseract failed ({short_reason(exc)}); check the scan "
                            "or rerun without --ocr") from exc
    finally:
        document.close()
    return normalise_text("\n".join(texts), join_hyphens=True)
