"""Token counts of rendered chats, and notes fitted to a token budget by the task's long-note
policy (never silently: the caller learns whether a note was shortened)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.errors import MlxmedError
from mlxmed.inputs.records import Record
from mlxmed.models.chat_template import CHATML_TEMPLATE, render_chat
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.tasks import Task

TRUNCATION_MARKER = " […] "


class TokenCounter:
    """Counts tokens of rendered chats: exactly with a model's tokenizer, or estimated."""

    def __init__(self, model_dir: ModelDir | str | Path | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else None
        self._chat: ChatTokenizer | None = None
        self.note = "estimated as characters / 4 (pass --model for exact counts)"
        if self.model_dir is None:
            return
        if not self.model_dir.is_dir():
            raise MlxmedError(f"{self.model_dir}: model folder not found; check --model")
        if not (self.model_dir / "tokenizer.json").is_file():
            self.note = (f"estimated as characters / 4: {self.model_dir} has no tokenizer.json "
                         "(convert the model with `mlxmed convert`)")
            return
        self._chat = ChatTokenizer(self.model_dir)
        self.note = f"counted with the tokenizer of {self.model_dir}"

    @property
    def exact(self) -> bool:
        return self._chat is not None

    def count(self, text: str) -> int:
        """Tokens of plain text (a note)."""
        if self._chat is None:
            return math.ceil(len(text) / 4)
        return len(self._chat.encode(text))

    def chat_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the rendered chat, as training and extraction tokenize it."""
        if self._chat is None:
            return math.ceil(len(render_chat(CHATML_TEMPLATE, messages)) / 4)
        return len(self._chat.chat_ids(messages))


def prompt_costs(task: Task, counter: TokenCounter) -> list[tuple[str, int]]:
    """Tokens of each part of the prompt before the note (see :meth:`Task.prompt_parts`)."""
    return [(name, counter.count(text)) for name, text in task.prompt_parts()]


def fit_note(text: str, budget: int, count_tokens: Callable[[str], int],
             policy: str = "truncate_middle", marker: str = TRUNCATION_MARKER) -> str:
    """Shorten ``text`` so that ``count_tokens`` of it is at most ``budget``.

    ``truncate_middle`` keeps the head and the tail with ``marker`` between them (a note's
    findings and its conclusion are usually at the ends); ``truncate_end`` keeps the head.
    Text that already fits is returned unchanged; a budget too small for even the marker
    raises ValueError.
    """
    if policy not in ("truncate_middle", "truncate_end"):
        raise ValueError(f"fit_note cannot apply policy {policy!r}")
    if count_tokens(text) <= budget:
        return text

    def cut(keep: int) -> str:
        if policy == "truncate_end":
            return text[:keep].rstrip() + marker.rstrip()
        head = (keep + 1) // 2
        tail = keep - head
        return text[:head].rstrip() + marker + (text[len(text) - tail:].lstrip() if tail else "")

    if count_tokens(cut(0)) > budget:
        raise ValueError(f"a budget of {budget} tokens leaves no room for the note")
    low, high = 0, len(text) - 1  # the most characters that still fit, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(cut(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return cut(low)


@dataclass
class Example:
    """A record with its training chat and token counts."""

    record: Record
    messages: list[dict[str, str]]
    tokens: int  # the full chat before any truncation
    truncated: bool


def fit_chat(task: Task, text: str, answer: str | None, counter: TokenCounter,
             max_tokens: int, where: str = "note") -> tuple[list[dict[str, str]], int, bool]:
    """The chat for ``text`` (with ``answer`` for training, without for inference), its note
    shortened per ``task.long_notes`` so the rendered chat has at most ``max_tokens`` tokens.

    Returns (messages, tokens of the full chat before shortening, whether it was shortened).
    For inference pass ``max_tokens`` = context size minus the tokens reserved for the answer.
    """
    text = task.note_text(text)
    messages = task.messages(text, answer)
    tokens = counter.chat_tokens(messages)
    if tokens <= max_tokens:
        return messages, tokens, False
    if task.long_notes == "error":
        raise MlxmedError(f"{where}: the note makes a {tokens}-token chat, over the limit of "
                          f"{max_tokens}; shorten it, raise max_seq_length or set long_notes: "
                          "truncate_middle in the task")
    overhead = tokens - counter.count(text)
    too_long = MlxmedError(f"{where}: the prompt without the note already needs {overhead} of "
                           f"{max_tokens} tokens; shorten the instruction/definitions or raise "
                           "max_seq_length")
    budget = max_tokens - overhead
    for _ in range(8):
        if budget < 8:
            raise too_long
        try:
            short = fit_note(text, budget, counter.count, task.long_notes)
        except ValueError as exc:
            raise too_long from exc
        messages = task.messages(short, answer)
        excess = counter.chat_tokens(messages) - max_tokens
        if excess <= 0:
            return messages, tokens, True
        budget -= excess
    raise MlxmedError(f"{where}: could not fit the note into {max_tokens} tokens; raise "
                      "max_seq_length")


def build_example(task: Task, record: Record, counter: TokenCounter,
                  max_seq_length: int) -> Example:
    """The training chat of one note, fitted to ``max_seq_length`` (see :func:`fit_chat`)."""
    messages, tokens, truncated = fit_chat(task, record.text, task.answer_for(record.gold),
                                           counter, max_seq_length, record.where)
    return Example(record, messages, tokens, truncated)
