"""One note's text answered by a GGUF model exactly as `mlxmed extract` answers it (the task's
excerpt, the long-note policy, the same context size), safe to share between threads; and a
small cache of such models, so a page that asks about many notes loads each model once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from mlxmed.data.fitting import fit_chat

if TYPE_CHECKING:
    from mlxmed.inference.predictor import Prediction
    from mlxmed.models.chat_tokenizer import Messages
    from mlxmed.tasks import Task

CONTEXT_MARGIN = 256  # tokens beyond the task's max_seq_length, as `mlxmed extract` uses


class NotePredictor:
    """A llama.cpp model answering a task's notes one at a time (one caller at a time)."""

    def __init__(self, task: Task, gguf_path: str | Path, n_ctx: int | None = None,
                 threads: int | None = None) -> None:
        from mlxmed.inference.llama_predictor import LlamaPredictor

        self.task, self.path = task, Path(gguf_path)
        self.n_ctx = n_ctx or task.max_seq_length + CONTEXT_MARGIN
        self.engine = LlamaPredictor(task, self.path, n_ctx=self.n_ctx, threads=threads)
        self.budget = self.n_ctx - self.engine.answer_budget()
        self._lock = threading.Lock()

    def messages(self, text: str, where: str = "note") -> Messages:
        """The chat the model reads for ``text`` (excerpt and long-note policy applied)."""
        with self._lock:
            return fit_chat(self.task, text, None, self.engine.chat, self.budget, where)[0]

    def predict_messages(self, messages: Messages) -> Prediction:
        with self._lock:
            return self.engine.predict(messages)

    def predict(self, text: str, where: str = "note") -> Prediction:
        """The model's answer for one note's text."""
        return self.predict_messages(self.messages(text, where))


class NotePredictors:
    """The last few models opened, by task and file (older ones are closed)."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._open: OrderedDict[tuple[str, str], NotePredictor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, task: Task, gguf_path: str | Path) -> NotePredictor:
        key = (task.spec_hash(), str(Path(gguf_path).resolve()))
        with self._lock:
            if key in self._open:
                self._open.move_to_end(key)
                return self._open[key]
            predictor = NotePredictor(task, gguf_path)
            self._open[key] = predictor
            while len(self._open) > self.keep:
                self._open.popitem(last=False)
            return predictor
