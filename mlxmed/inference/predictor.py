"""What every engine answers with, and the one way a task's notes are answered: a
:class:`Predictor` holds an engine (MLX or llama.cpp) and lets the task decide how to decode
(label scoring for classification, constrained generation for extraction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlxmed.errors import MlxmedError

if TYPE_CHECKING:
    from mlxmed.inference.schema_decoding import DecodedAnswer, Engine, SchemaDecoder
    from mlxmed.models.chat_tokenizer import ChatTokenizer, Messages
    from mlxmed.tasks import Task
    from mlxmed.tasks.pattern import AnswerPattern


@dataclass
class Prediction:
    """One note's answer: the parsed value (None if invalid), its text and a confidence."""

    value: Any
    text: str
    confidence: float | None
    error: str | None = None
    probabilities: dict[str, float] | None = None  # classification: every label's share
    # extraction: per field, the probability of the chosen value (None: no valid answer)
    field_confidence: dict[str, float | None] | None = None


class Predictor:
    """Answers notes of ``task``; engines implement :meth:`label_logprobs` and
    :meth:`generate`, the task chooses which of the two it needs."""

    task: Task
    chat: ChatTokenizer
    max_tokens: int = 256

    def __init__(self, task: Task) -> None:
        self.task = task
        self._label_ids: list[list[int]] | None = None
        self._decoder: SchemaDecoder | None = None

    def predict(self, messages: Messages) -> Prediction:
        """The task's answer for one prompt (system + user messages)."""
        return self.task.predict(self, messages)

    def answer_budget(self) -> int:
        """Tokens to keep free for the answer after the prompt."""
        return self.task.answer_budget(self.chat, self.max_tokens)

    def label_ids(self, messages: Messages, labels: list[str]) -> list[list[int]]:
        """Each label's answer token ids as the chat template closes it (computed once)."""
        if self._label_ids is None:
            self._label_ids = [self.chat.answer_ids(messages, label) for label in labels]
        return self._label_ids

    def label_logprobs(self, messages: Messages,
                       label_ids: list[list[int]]) -> list[np.ndarray]:
        """Per label, its token log-probabilities at the branch points after the prompt."""
        raise NotImplementedError

    def schema_answer(self, messages: Messages, pattern: AnswerPattern) -> DecodedAnswer:
        """The answer constrained greedy decoding writes under ``pattern`` (see
        :mod:`mlxmed.inference.schema_decoding`), with each field's confidence."""
        from mlxmed.inference.schema_decoding import SchemaDecoder

        if self._decoder is None or self._decoder.pattern is not pattern:
            end = self.chat.end_of_turn_id()
            if end is None:
                raise MlxmedError(f"{self.chat.model_dir}: the model names no end-of-turn "
                                  "token; it cannot answer an extraction task")
            self._decoder = SchemaDecoder(pattern, self.token_pieces(), end, self.chat.encode)
        return self._decoder.decode(self.engine(), self.chat.prompt_ids(messages),
                                    self.max_tokens)

    def token_pieces(self) -> list[bytes | None]:
        """The bytes each token id writes (None for special tokens)."""
        raise NotImplementedError

    def engine(self) -> Engine:
        """The model, as :class:`mlxmed.inference.schema_decoding.Engine`."""
        raise NotImplementedError


def predict_all(predictor: Predictor, chats: list[Messages],
                progress: Callable[[int, int], None] | None = None) -> list[Prediction]:
    """Predictions for many notes, reporting progress after each."""
    results = []
    for index, messages in enumerate(chats):
        results.append(predictor.predict(messages))
        if progress:
            progress(index + 1, len(chats))
    return results
