"""Where things sit in a note's text: its sentences, the words that state an extracted value
(numbers written the German or the English way, enum values, list items), and the text cut
into segments at every mark, so a page can show the marks without parsing any HTML."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlxmed.tasks import Task
from mlxmed.tasks.focus import split_sentences
from mlxmed.tasks.values import format_number


@dataclass(frozen=True)
class Mark:
    """A stretch of the text, what it is (``tag``: a field name, "evidence") and a weight."""

    start: int
    end: int
    tag: str
    weight: float = 1.0


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Start and end of each sentence of :func:`split_sentences` in ``text``."""
    spans, position = [], 0
    for sentence in split_sentences(text):
        start = text.find(sentence, position)
        spans.append((start, start + len(sentence)))
        position = start + len(sentence)
    return spans


def number_pattern(value: float) -> re.Pattern[str]:
    """The ways a note writes ``value``: ``47.5`` / ``47,5``; ``1200`` / ``1.200`` /
    ``1,200`` / ``1 200``; ``55`` also as ``55,0``; never inside a longer number."""
    magnitude = abs(value)
    if float(magnitude).is_integer():
        digits = str(int(magnitude))
        forms = [digits]
        if len(digits) > 3:
            groups = f"{int(magnitude):,}".split(",")
            forms += [sep.join(groups) for sep in (".", ",", " ", "\u202f", "'")]
        body = "(?:" + "|".join(re.escape(f) for f in forms) + r")(?:[.,]0+)?"
    else:
        whole, fraction = format_number(magnitude).split(".")
        body = re.escape(whole) + "[.,]" + re.escape(fraction) + "0*"
    return re.compile(r"(?<![\d.,])" + body + r"(?![\d]|[.,]\d)")


def words_pattern(value: str) -> re.Pattern[str]:
    """``value`` as words, in any case, any white space between them, not inside a word."""
    words = [re.escape(word) for word in value.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def value_spans(text: str, value: Any) -> list[tuple[int, int]]:
    """Where ``text`` states ``value`` (a number or a text value; lists item by item)."""
    if isinstance(value, list):
        return sorted(span for item in value for span in value_spans(text, item))
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return []
        pattern = number_pattern(value)
    else:
        if not str(value).strip():
            return []
        pattern = words_pattern(str(value))
    return [match.span() for match in pattern.finditer(text)]


def answer_marks(task: Task, text: str, answer: Any) -> list[Mark]:
    """For an answer with fields: every place the note states a field's value."""
    form = task.answer_form()
    if form["type"] != "fields" or not isinstance(answer, dict):
        return []
    return [Mark(start, end, field["name"]) for field in form["fields"]
            for start, end in value_spans(text, answer.get(field["name"]))]


def segments(text: str, marks: Iterable[Mark]) -> list[dict[str, Any]]:
    """``text`` cut at every mark's start and end: ``{"text", "marks": [{"tag", "weight"}]}``
    per piece, in order (pieces without a mark have an empty list)."""
    marks = [m for m in marks if 0 <= m.start < m.end <= len(text)]
    cuts = sorted({0, len(text), *(m.start for m in marks), *(m.end for m in marks)})
    pieces = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        inside = [{"tag": m.tag, "weight": round(m.weight, 3)} for m in marks
                  if m.start <= start and end <= m.end]
        pieces.append({"text": text[start:end], "marks": inside})
    return pieces


def found_fields(marks: Sequence[Mark]) -> list[str]:
    """The fields whose value was found in the text at least once."""
    return list(dict.fromkeys(mark.tag for mark in marks))
