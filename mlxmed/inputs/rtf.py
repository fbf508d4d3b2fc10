"""RTF notes (the export format of many record systems) with striprtf: control words and
groups dropped, ``\\par`` as a line break, escaped characters decoded in the file's code page
(``\\ansicpg``, else Windows-1252 or ``--encoding``)."""

from __future__ import annotations

from pathlib import Path

from mlxmed.inputs.documents import DocumentError, short_reason


def read_rtf(path: Path, encoding: str | None = None) -> str:
    """The plain text of an RTF file."""
    from striprtf.striprtf import rtf_to_text

    raw = path.read_bytes()
    if not raw.lstrip().startswith(b"{\\rtf"):
        raise DocumentError(f"{path}: not an RTF file (it does not start with {{\\rtf); save "
                            "it again as RTF, or give it the extension of its real format")
    try:
        # RTF is 7-bit text; the rare raw 8-bit byte passes through latin-1 unchanged
        return rtf_to_text(raw.decode("latin-1"), encoding=encoding or "cp1252")
    except Exception as exc:  # noqa: BLE001 - striprtf raises plain errors on damaged files
        raise DocumentError(f"{path}: not a readable RTF file ({short_reason(exc)}); save it "
                            "again as RTF (or try --encoding for its code page), or move it "
                            "out of the folder") from exc
