"""Answers from a GGUF model with llama.cpp, the same way the MLX side gives them: label
scoring for classification (one pass over the note, labels as continuations, the KV cache of
the part shared with the previous note reused) and grammar-constrained greedy decoding for
extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlxmed.llama_runtime import open_gguf
from mlxmed.prompting import ChatTokenizer, Messages
from mlxmed.scoring import Prediction, common_prefix
from mlxmed.tasks import TaskSpec


def _log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


class LlamaPredictor:
    """Predicts a task's answers with llama.cpp on a GGUF file (optionally + a LoRA GGUF)."""

    def __init__(self, task: TaskSpec, gguf_path: str | Path, chat: ChatTokenizer,
                 n_ctx: int = 2048, lora_path: str | Path | None = None,
                 max_tokens: int = 256) -> None:
        self.task, self.chat, self.max_tokens = task, chat, max_tokens
        self.llm = open_gguf(gguf_path, n_ctx=n_ctx, logits_all=True,
                             lora_path=str(lora_path) if lora_path else None)
        self._label_ids: list[list[int]] | None = None
        self._grammar = None

    def predict(self, messages: Messages) -> Prediction:
        if self.task.kind == "classification":
            return self._classify(messages)
        return self._generate(messages)

    def _prefill(self, prompt: list[int]) -> int:
        """Evaluate ``prompt``, keeping what the cache already holds of it; returns its length."""
        llm = self.llm
        kept = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt)
        llm.n_tokens = min(kept, len(prompt) - 1)
        llm.eval(prompt[llm.n_tokens:])
        return len(prompt)

    def _classify(self, messages: Messages) -> Prediction:
        labels = self.task.label_names
        if self._label_ids is None:
            self._label_ids = [self.chat.answer_ids(messages, label) for label in labels]
        prompt = self.chat.prompt_ids(messages)
        base = self._prefill(prompt)
        first = _log_softmax(np.asarray(self.llm.scores[base - 1], dtype=np.float64))
        scores = np.zeros(len(labels))
        for index, ids in enumerate(self._label_ids):
            total = first[ids[0]]
            if len(ids) > 1:
                self.llm.n_tokens = base
                self.llm.eval(ids[:-1])
                for offset, token in enumerate(ids[1:]):
                    row = np.asarray(self.llm.scores[base + offset], dtype=np.float64)
                    total += _log_softmax(row)[token]
            scores[index] = total
        self.llm.n_tokens = base
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        best = int(np.argmax(scores))
        return Prediction(labels[best], labels[best], float(probabilities[best]))

    def _generate(self, messages: Messages) -> Prediction:
        from llama_cpp import LlamaGrammar

        if self._grammar is None:
            self._grammar = LlamaGrammar.from_string(self.task.grammar(), verbose=False)
        prompt = self.chat.prompt_ids(messages)
        result = self.llm.create_completion(prompt, max_tokens=self.max_tokens, temperature=0.0,
                                            grammar=self._grammar)
        text = result["choices"][0]["text"]
        parsed = self.task.parse_answer(text)
        return Prediction(parsed.value if parsed.ok else None, text, None, parsed.error)
