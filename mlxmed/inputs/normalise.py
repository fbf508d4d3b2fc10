"""One normalisation for the text of every note read from a file in a notes folder, whatever
its format, so that a letter saved as .txt, .docx, .rtf, .html or printed to PDF gives the
model the same characters.

Rules, in order: CRLF and CR become LF; non-breaking and other Unicode spaces become a plain
space; invisible characters (soft hyphen, zero-width space, word joiner, a stray BOM) are
dropped; spaces and tabs at line ends are stripped; for PDFs, a word hyphenated at a line end
is joined again when a lower-case letter follows ("Herz-\\ninsuffizienz" -> "Herzinsuffizienz",
but "LV-\\nFunktion" stays); runs of blank lines become one blank line; blank lines at the start
and the end go.
"""

from __future__ import annotations

import re

# Unicode "space separator" characters other than the plain space (NBSP, en/em spaces, thin
# and narrow no-break spaces, ideographic space, ...)
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")
_SOFT_HYPHEN_BREAK = re.compile("\u00ad\n")
_TRAILING = re.compile("[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile("\n{3,}")
# a letter, a hyphen at the line end, then (after indentation) the next line's first letter
_LINE_END_HYPHEN = re.compile(r"([^\W\d_])-\n[ \t]*(?=([^\W\d_]))")


def _join_hyphenated(match: re.Match) -> str:
    return match.group(1) if match.group(2).islower() else match.group(0)


def normalise_text(text: str, *, join_hyphens: bool = False) -> str:
    """``text`` normalised as the module docstring says (``join_hyphens`` for PDFs)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = _INVISIBLE.sub("", text)
    text = _TRAILING.sub("", text)
    if join_hyphens:
        text = _SOFT_HYPHEN_BREAK.sub("", text)
        text = _LINE_END_HYPHEN.sub(_join_hyphenated, text)
    text = text.replace("\u00ad", "")
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")
