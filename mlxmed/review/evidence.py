"""Which sentences an answer depends on: each sentence is left out in turn and the model's
probability of the chosen answer measured again; the sentences whose absence lowers it most
are the evidence. Works for tasks whose model gives every answer a probability
(classification); prompts that come out the same without a sentence (it is outside the
task's focus excerpt) are not scored twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.inference.notes import NotePredictor
from mlxmed.review.spans import Mark, sentence_spans

MIN_DROP = 0.05         # a sentence is evidence when leaving it out costs at least this much
SHARE_OF_LARGEST = 0.5  # ... and at least this share of the largest drop


@dataclass(frozen=True)
class SentenceEffect:
    start: int
    end: int
    probability_without: float
    drop: float
    evidence: bool


@dataclass
class Evidence:
    """The answer's probability on the whole note, and each sentence's effect on it."""

    answer: Any
    probability: float
    sentences: list[SentenceEffect] = field(default_factory=list)

    def marks(self) -> list[Mark]:
        """The evidence sentences, weighted by their drop relative to the largest."""
        largest = max((s.drop for s in self.sentences), default=0.0)
        return [Mark(s.start, s.end, "evidence", s.drop / largest if largest > 0 else 1.0)
                for s in self.sentences if s.evidence]

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "probability": self.probability,
                "sentences": [vars(s) for s in self.sentences]}


def leave_one_out(text: str, answer: Any, probability_of: Callable[[str], float]) -> Evidence:
    """Score ``text`` whole and without each of its sentences (``probability_of`` gives the
    probability of ``answer`` for a text)."""
    full = probability_of(text)
    effects = []
    for start, end in sentence_spans(text):
        without = probability_of(text[:start] + text[end:])
        effects.append((start, end, without, full - without))
    largest = max((drop for *_, drop in effects), default=0.0)
    sentences = [SentenceEffect(start, end, round(without, 4), round(drop, 4),
                                drop >= MIN_DROP and drop >= SHARE_OF_LARGEST * largest)
                 for start, end, without, drop in effects]
    return Evidence(answer, round(full, 4), sentences)


def answer_probability(predictor: NotePredictor, answer: Any) -> Callable[[str], float]:
    """The model's probability of ``answer`` for a text (each distinct prompt scored once)."""
    if predictor.task.answer_form()["type"] != "choice":
        raise MlxmedError(f"{predictor.task.source}: evidence by leaving sentences out needs "
                          "a probability for every answer (a classification task); for "
                          "extraction, the page marks where each value is written")
    scored: dict[str, float] = {}

    def probability_of(text: str) -> float:
        messages = predictor.messages(text)
        key = json.dumps(messages, ensure_ascii=False)
        if key not in scored:
            prediction = predictor.predict_messages(messages)
            scored[key] = float((prediction.probabilities or {}).get(answer, 0.0))
        return scored[key]

    return probability_of


def note_evidence(predictor: NotePredictor, text: str, answer: Any) -> Evidence:
    """The evidence for ``answer`` in one note, by the model in ``predictor``."""
    return leave_one_out(text, answer, answer_probability(predictor, answer))
