"""Focus: narrow a note to the sentences that mention the task's terms, with their neighbours.

A task that asks about one topic (smoking, an ejection fraction) usually finds its answer in one
or two sentences of a long note. With ``focus`` in the task spec, the model sees only those
sentences: training needs far fewer steps to learn where to look, notes longer than the context
lose nothing that matters, and extraction reads a fraction of the tokens. The price: a mention
that uses none of the terms is not seen, so the term list should be generous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# a sentence ends at a line break, or at . ! ? followed by white space
_SENTENCE_END = re.compile(r"\n+|(?<=[.!?])[ \t]+")
GAP = "[…]"  # a line of its own where sentences were left out


@dataclass(frozen=True)
class Focus:
    """Terms matched case-insensitively at the start of a word ("smok" matches "Smoker"); the
    number of sentences kept on either side of a sentence that has one; and the number of
    sentences always kept from the start of the note (its header: note type, dates)."""

    terms: tuple[str, ...]
    context: int = 1
    head: int = 0

    def pattern(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(term) for term in sorted(self.terms, key=len,
                                                                        reverse=True))
        return re.compile(rf"(?<!\w)(?:{alternatives})", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """The note's sentences and lines, stripped, in order (empty pieces dropped)."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


def matching_sentences(sentences: Sequence[str], focus: Focus) -> list[int]:
    """Indices of the sentences that contain one of the focus terms."""
    pattern = focus.pattern()
    return [index for index, sentence in enumerate(sentences) if pattern.search(sentence)]


def focus_finds(text: str, focus: Focus) -> bool:
    """Whether any sentence of ``text`` contains one of the focus terms."""
    return bool(matching_sentences(split_sentences(text), focus))


def focus_text(text: str, focus: Focus, nothing_found: str) -> str:
    """The first ``focus.head`` sentences of ``text`` and those within ``focus.context`` of a
    match, in note order, one per line, with a ``GAP`` line where sentences were left out;
    when no sentence matches, the head followed by the line ``nothing_found``."""
    sentences = split_sentences(text)
    kept: set[int] = set()
    for index in matching_sentences(sentences, focus):
        kept.update(range(max(0, index - focus.context),
                          min(len(sentences), index + focus.context + 1)))
    head = sentences[: focus.head]
    if not kept:
        return "\n".join([*head, nothing_found])
    kept.update(range(len(head)))
    parts: list[str] = []
    previous = None
    for index in sorted(kept):
        if previous is not None and index != previous + 1:
            parts.append(GAP)
        parts.append(sentences[index])
        previous = index
    return "\n".join(parts)
