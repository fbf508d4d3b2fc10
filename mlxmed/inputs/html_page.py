"""HTML notes (.html/.htm) with the standard library's parser: the text a browser shows, with
scripts, styles and the page head dropped. Block elements start new lines, paragraphs,
headings and lists are separated by a blank line, ``<br>`` breaks a line, and the cells of a
table row are joined by `` | `` as for Word tables."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from mlxmed.inputs.documents import checked_text

HIDDEN = {"script", "style", "head", "template", "noscript"}
PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl",
              "blockquote", "pre", "hr"}
LINES = {"div", "table", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "main",
         "nav", "aside", "form", "fieldset", "address", "figure", "figcaption", "caption"}
CELLS = {"td", "th"}
CELL_SEPARATOR = " | "
_WHITESPACE = re.compile(r"\s+")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


class _TextOfPage(HTMLParser):
    """Collects the visible text of a page as lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # depth inside elements whose content is not shown
        self.pre = 0
        self.cells_in_row = 0

    def text(self) -> str:
        return "".join(self.parts)

    def _trailing_newlines(self) -> int:
        count = 0
        for part in reversed(self.parts):
            kept = part.rstrip("\n")
            count += len(part) - len(kept)
            if kept:
                break
        return count

    def _trim_spaces(self) -> None:
        """Drop the spaces at the end of the text so far (before a line end or a cell)."""
        while self.parts and self.parts[-1].endswith(" "):
            self.parts[-1] = self.parts[-1].rstrip(" ")
            if not self.parts[-1]:
                self.parts.pop()

    def _break(self, newlines: int) -> None:
        """End the current line so that ``newlines`` line breaks precede the next text."""
        self._trim_spaces()
        missing = newlines - self._trailing_newlines()
        if missing > 0 and self.parts:
            self.parts.append("\n" * missing)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        elif self.hidden:
            return
        elif tag == "br":
            self.parts.append("\n")
        elif tag in PARAGRAPHS:
            self._break(2)
            self.pre += tag == "pre"
        elif tag in LINES:
            self._break(1)
            if tag == "tr":
                self.cells_in_row = 0
        elif tag in CELLS:
            if self.cells_in_row:
                self._trim_spaces()
                self.parts.append(CELL_SEPARATOR)
            self.cells_in_row += 1

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN:
            self.hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif self.hidden:
            return
        elif tag in PARAGRAPHS:
            self.pre -= tag == "pre" and self.pre > 0
            self._break(2)
        elif tag in LINES:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if not self.pre:
            data = _WHITESPACE.sub(" ", data)
            if not self.parts or self.parts[-1].endswith(("\n", " ")):
                data = data.lstrip(" ")
            if not data:
                return
        self.parts.append(data)


def read_html(path: Path, encoding: str | None = None) -> str:
    """The visible text of an HTML file (its ``<meta charset>`` is used unless ``encoding``
    is given; UTF-8 otherwise)."""
    raw = path.read_bytes()
    if encoding is None:
        declared = _CHARSET.search(raw[:4096])
        if declared and declared.group(1).decode("ascii").lower() not in ("utf-8", "utf8"):
            encoding = _known_codec(declared.group(1).decode("ascii"))
    parser = _TextOfPage()
    parser.feed(checked_text(raw, path, encoding))
    parser.close()
    return parser.text()


def _known_codec(name: str) -> str | None:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return None
