"""Answers from a GGUF model with llama.cpp, the same way the MLX side gives them: label
scoring for classification (one pass over the note, labels as continuations, the KV cache of
the part shared with the previous note reused) and grammar-constrained greedy decoding for
extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlxmed.llama_runtime import open_gguf
from mlxmed.prompting import ChatTokenizer, LlamaChatTokenizer, Messages
from mlxmed.scoring import Prediction, common_prefix, label_prediction
from mlxmed.tasks import TaskSpec


def last_logits(llm) -> np.ndarray:
    """Logits of the last evaluated token (llama.cpp computes no others)."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)


def _log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


class LlamaPredictor:
    """Predicts a task's answers with llama.cpp on a GGUF file (optionally + a LoRA GGUF)."""

    def __init__(self, task: TaskSpec, gguf_path: str | Path, chat: ChatTokenizer | None = None,
                 n_ctx: int = 2048, lora_path: str | Path | None = None,
                 max_tokens: int = 256, threads: int | None = None) -> None:
        self.task, self.max_tokens, self.n_ctx = task, max_tokens, n_ctx
        # logits only for the last evaluated token: computing the output layer over every
        # prompt position would cost more than the rest of the model
        self.llm = open_gguf(gguf_path, n_ctx=n_ctx, logits_all=False, threads=threads,
                             lora_path=str(lora_path) if lora_path else None)
        # without a model folder, render and tokenize from the GGUF file itself
        self.chat = chat or LlamaChatTokenizer(self.llm, gguf_path)
        self._label_ids: list[list[int]] | None = None
        self._grammar = None

    def answer_budget(self) -> int:
        """Tokens to keep free for the answer after the prompt."""
        if self.task.kind == "classification":
            return 8 + max(len(self.chat.encode(label)) for label in self.task.label_names)
        return self.max_tokens

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
        first = _log_softmax(last_logits(self.llm))
        scores = np.zeros(len(labels))
        for index, ids in enumerate(self._label_ids):
            total = first[ids[0]]
            self.llm.n_tokens = base
            for previous, token in zip(ids[:-1], ids[1:], strict=True):
                self.llm.eval([previous])  # one token: its logits score the next one
                total += _log_softmax(last_logits(self.llm))[token]
            scores[index] = total
        self.llm.n_tokens = base
        return label_prediction(labels, scores)

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
