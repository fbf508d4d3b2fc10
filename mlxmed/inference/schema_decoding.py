"""Extraction answers decoded under the task's answer pattern, the same way on every engine.

This is greedy decoding restricted to the answers the task's grammar admits, with two
differences that change the speed, not the answer:

* where the pattern leaves no choice (``{"lv_ef": ``, ``, "rhythm": ``, the rest of an enum
  value once it is unique) the forced bytes are tokenized and fed in one batch, and every fed
  token is then checked: it must be the token greedy decoding would have chosen there. The
  first one that is not is taken back and decoding goes on token by token, so the answer is
  exactly what token-by-token constrained greedy decoding writes;
* at every choice inside a field's value, the chosen token's probability among the tokens the
  pattern allows there is kept: a field's confidence is the product of these over its value
  (1.0 for a value the pattern forced; the probability the model gives its own answer).

An engine provides ``start(prompt_ids)`` (the next-token logits after the prompt), ``feed(ids)``
(the logits after each of the fed tokens) and ``rewind(count)`` (forget the last fed tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from mlxmed.inference.vocab import TokenTrie
from mlxmed.tasks.pattern import AnswerPattern

# trie nodes visited to find every token allowed at a choice; beyond it (free text fields)
# the probability is taken among the allowed tokens found so far
ALLOWED_SEARCH_LIMIT = 20_000


class Engine(Protocol):
    def start(self, prompt: list[int]) -> np.ndarray: ...

    def feed(self, tokens: list[int]) -> np.ndarray: ...

    def rewind(self, count: int) -> None: ...


@dataclass
class Choice:
    """One token chosen where the pattern allowed more than one continuation."""

    start: int        # byte offset of the token in the answer
    end: int
    logprob: float    # log-probability among the allowed tokens


@dataclass
class DecodedAnswer:
    text: str
    complete: bool
    field_confidence: dict[str, float | None] = field(default_factory=dict)
    generated: int = 0     # tokens written
    checked: int = 0       # of them fed in batches of forced bytes and checked
    tokens: list[int] = field(default_factory=list)  # the answer's token ids


class SchemaDecoder:
    """Greedy decoding under an :class:`AnswerPattern` for one vocabulary."""

    def __init__(self, pattern: AnswerPattern, pieces: list[bytes | None], end_id: int,
                 encode: Callable[[str], list[int]]) -> None:
        self.pattern, self.pieces, self.end_id, self.encode = pattern, pieces, end_id, encode
        self.trie = TokenTrie(pieces)

    # ----- one token ---------------------------------------------------------------------
    def _allowed(self, answer: bytes, token: int) -> bool:
        if token == self.end_id:
            return self.pattern.complete(answer)
        piece = self.pieces[token] if token < len(self.pieces) else None
        return bool(piece) and self.pattern.viable(answer + piece)

    def greedy(self, logits: np.ndarray, answer: bytes) -> int:
        """The most likely token the pattern allows after ``answer``."""
        for width in (64, len(logits)):
            top = np.argpartition(-logits, min(width, len(logits)) - 1)[:width]
            for token in top[np.argsort(-logits[top])]:
                if self._allowed(answer, int(token)):
                    return int(token)
        raise ValueError("no token continues the answer")  # the pattern is never stuck

    def choice_logprob(self, logits: np.ndarray, answer: bytes, token: int) -> float:
        """log p(token) among every token the pattern allows after ``answer``."""
        allowed = list(self.trie.allowed(lambda piece: self.pattern.viable(answer + piece),
                                         ALLOWED_SEARCH_LIMIT))
        if self.pattern.complete(answer):
            allowed.append(self.end_id)
        if token not in allowed:
            allowed.append(token)
        values = logits[np.array(allowed)].astype(np.float64)
        top = values.max()
        return float(logits[token] - top - np.log(np.exp(values - top).sum()))

    # ----- a whole answer ----------------------------------------------------------------
    def decode(self, engine: Engine, prompt: list[int], max_tokens: int) -> DecodedAnswer:
        answer, choices, tokens = b"", [], []
        logits = engine.start(prompt)
        generated = checked = 0
        while generated < max_tokens:
            must_follow = self.pattern.forced(answer)
            forced = _whole_characters(must_follow)
            if forced:
                proposal = self.encode(forced.decode("utf-8"))[: max_tokens - generated]
                rows = engine.feed(proposal)
                accepted = 0
                for index, token in enumerate(proposal):
                    row = logits if index == 0 else rows[index - 1]
                    if self.greedy(row, answer) != token:
                        break
                    answer += self.pieces[token] or b""
                    tokens.append(token)
                    accepted += 1
                generated, checked = generated + accepted, checked + accepted
                if accepted:
                    logits = rows[accepted - 1]
                if accepted < len(proposal):
                    engine.rewind(len(proposal) - accepted)
                    if accepted:  # the answer grew: what it forces now
                        must_follow = self.pattern.forced(answer)
                else:
                    continue
                if generated >= max_tokens:
                    break
            token = self.greedy(logits, answer)
            if token == self.end_id:
                return self._finish(answer, choices, tokens, generated, checked, True)
            piece = self.pieces[token] or b""
            if not must_follow:  # a real choice (nothing is forced after ``answer``)
                choices.append(Choice(len(answer), len(answer) + len(piece),
                                      self.choice_logprob(logits, answer, token)))
            answer += piece
            tokens.append(token)
            logits = engine.feed([token])[0]
            generated += 1
        return self._finish(answer, choices, tokens, generated, checked,
                            self.pattern.complete(answer))

    def _finish(self, answer: bytes, choices: list[Choice], tokens: list[int], generated: int,
                checked: int, complete: bool) -> DecodedAnswer:
        spans = self.pattern.value_spans(answer) if complete else {}
        confidence: dict[str, float | None] = {}
        for name in self.pattern.names:
            if name not in spans:
                confidence[name] = None
                continue
            start, end = spans[name]
            logprob = sum(c.logprob for c in choices if c.start < end and c.end > start)
            confidence[name] = float(np.exp(logprob))
        return DecodedAnswer(answer.decode("utf-8", errors="replace"), complete, confidence,
                             generated, checked, tokens)


def _whole_characters(data: bytes) -> bytes:
    """``data`` cut back to whole UTF-8 characters (forced bytes can end inside one)."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            data[:cut].decode("utf-8")
            return data[:cut]
        except UnicodeDecodeError:
            continue
    return b""
