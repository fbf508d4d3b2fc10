"""The llama.cpp engine: answers from a GGUF model, the same way the MLX side gives them. Label
scoring is one pass over the note (the KV cache of the part shared with the previous note
reused; labels that share their first tokens need a few more tokens); generation is greedy
under the task's GBNF grammar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.inference.labels import Branches, branch_points, common_prefix, fill_branch_logprobs
from mlxmed.inference.llama_runtime import open_gguf
from mlxmed.inference.predictor import Predictor
from mlxmed.models.chat_tokenizer import ChatTokenizer, LlamaChatTokenizer, Messages

if TYPE_CHECKING:
    from mlxmed.tasks import Task


def last_logits(llm) -> np.ndarray:
    """Logits of the last evaluated token (llama.cpp computes no others)."""
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)


def _log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


class LlamaPredictor(Predictor):
    """Answers a task's notes with llama.cpp on a GGUF file (optionally + a LoRA GGUF)."""

    def __init__(self, task: Task, gguf_path: str | Path, chat: ChatTokenizer | None = None,
                 n_ctx: int = 2048, lora_path: str | Path | None = None,
                 max_tokens: int = 256, threads: int | None = None) -> None:
        super().__init__(task)
        self.max_tokens, self.n_ctx = max_tokens, n_ctx
        # logits only for the last evaluated token: computing the output layer over every
        # prompt position would cost more than the rest of the model
        self.llm = open_gguf(gguf_path, n_ctx=n_ctx, logits_all=False, threads=threads,
                             lora_path=str(lora_path) if lora_path else None)
        # without a model folder, render and tokenize from the GGUF file itself
        self.chat = chat or LlamaChatTokenizer(self.llm, gguf_path)
        self._branches: Branches | None = None
        self._grammar = None

    def _prefill(self, prompt: list[int]) -> int:
        """Evaluate ``prompt``, keeping what the cache already holds of it; returns its length."""
        llm = self.llm
        kept = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt)
        llm.n_tokens = min(kept, len(prompt) - 1)
        llm.eval(prompt[llm.n_tokens:])
        return len(prompt)

    def label_logprobs(self, messages: Messages,
                       label_ids: list[list[int]]) -> list[np.ndarray]:
        if self._branches is None:
            self._branches = sorted(branch_points(label_ids).items())
        base = self._prefill(self.chat.prompt_ids(messages))
        return fill_branch_logprobs(label_ids, self._branches, self._branch_rows(base))

    def _branch_rows(self, base: int) -> list[np.ndarray]:
        """Vocabulary log-probabilities at each branch point, in ``self._branches`` order. The
        first point (before the first answer token) is scored by the prompt's own last logits;
        each later point's answer prefix is evaluated after the prompt (in prefix order, so a
        point reuses the tokens of the one before), then the cache is cut back to the prompt."""
        llm, rows = self.llm, []
        try:
            for prefix, _ in self._branches or []:
                if prefix:
                    cached = llm.input_ids[base: llm.n_tokens].tolist()
                    llm.n_tokens = base + common_prefix(cached, list(prefix[:-1]))
                    llm.eval(list(prefix[llm.n_tokens - base:]))
                rows.append(_log_softmax(last_logits(llm)))
        finally:
            llm.n_tokens = base
        return rows

    def grammar_generate(self, messages: Messages, grammar: str) -> str:
        """Plain token-by-token greedy decoding under a GBNF grammar with llama.cpp's own
        sampler (what :meth:`schema_answer` must equal; used to check it)."""
        from llama_cpp import LlamaGrammar

        if self._grammar is None:
            self._grammar = LlamaGrammar.from_string(grammar, verbose=False)
        prompt = self.chat.prompt_ids(messages)
        result = self.llm.create_completion(prompt, max_tokens=self.max_tokens, temperature=0.0,
                                            grammar=self._grammar)
        return result["choices"][0]["text"]

    def token_pieces(self) -> list[bytes | None]:
        import ctypes

        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        buffer = ctypes.create_string_buffer(256)
        pieces: list[bytes | None] = []
        for token in range(self.llm.n_vocab()):
            size = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
            pieces.append(buffer.raw[:size] if size > 0 else None)
        return pieces

    def engine(self) -> LlamaEngine:
        return LlamaEngine(self)


class LlamaEngine:
    """llama.cpp as a decoding engine: the prompt prefilled (keeping what the cache already
    holds of it), then tokens decoded in batches with logits at every position."""

    def __init__(self, predictor: LlamaPredictor) -> None:
        self.llm = predictor.llm
        self.predictor = predictor

    def start(self, prompt: list[int]) -> np.ndarray:
        self.predictor._prefill(prompt)
        return last_logits(self.llm)

    def feed(self, tokens: list[int]) -> np.ndarray:
        import llama_cpp

        llm, count = self.llm, len(tokens)
        self._forget_after(llm.n_tokens)
        batch = llama_cpp.llama_batch_init(count, 0, 1)
        try:
            batch.n_tokens = count
            for index, token in enumerate(tokens):
                batch.token[index] = token
                batch.pos[index] = llm.n_tokens + index
                batch.seq_id[index][0] = 0
                batch.n_seq_id[index] = 1
                batch.logits[index] = True
            if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                raise MlxmedError("llama.cpp could not decode the answer (the context is "
                                  "full?); raise --ctx")
            rows = np.stack([np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i),
                                                   shape=(llm.n_vocab(),)).copy()
                             for i in range(count)])
        finally:
            llama_cpp.llama_batch_free(batch)
        llm.input_ids[llm.n_tokens: llm.n_tokens + count] = tokens
        llm.n_tokens += count
        return rows

    def rewind(self, count: int) -> None:
        self.llm.n_tokens -= count
        self._forget_after(self.llm.n_tokens)

    def _forget_after(self, position: int) -> None:
        import llama_cpp

        memory = llama_cpp.llama_get_memory(self.llm.ctx)
        llama_cpp.llama_memory_seq_rm(memory, 0, position, -1)
