"""The training callback mlx-lm's loop calls: the task metric on validation notes at each
evaluation, the best adapter kept, early stopping, the run record and progress events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from mlxmed.artifacts.run import Run
from mlxmed.inference.mlx_predictor import MlxPredictor
from mlxmed.inference.predictor import predict_all
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.seams import patched
from mlxmed.stopping import raise_if_stop_requested
from mlxmed.tasks import Task
from mlxmed.training.batches import TokenizedDataset
from mlxmed.training.checkpoint import save_adapter
from mlxmed.training.distributed import Processes, gather_json, merge_splits, split_for
from mlxmed.training.forced import ForcedReader, forced_metrics
from mlxmed.training.settings import ResolvedSettings

Event = Callable[[dict], None]


class EarlyStop(Exception):
    """Raised from the callback to leave mlx-lm's loop when the metric stopped improving."""


class TrainingDone(Exception):
    """Raised after the evaluation of the final weights (mlx-lm evaluates before a step, so
    the loop is given one extra iteration and left here, before that step runs)."""


class TrainingMonitor:
    """mlx-lm training callback: task metric on validation, best adapter, early stopping."""

    def __init__(self, model, task: Task, chat: ChatTokenizer, val_chats, settings:
                 ResolvedSettings, run: Run, train_set: TokenizedDataset, on_event: Event,
                 optimizer=None, step_offset: int = 0, trunk=None,
                 procs: Processes | None = None):
        self.model, self.task, self.chat, self.trunk = model, task, chat, trunk
        self.optimizer, self.step_offset = optimizer, step_offset
        self.current_step = step_offset
        self.procs = procs or Processes(None, 0, 1)
        self.val_chats = val_chats
        self.gold = [task.parse_answer(messages[-1]["content"]).value for messages in val_chats]
        self.settings, self.run, self.train_set = settings, run, train_set
        self.on_event = on_event
        self.best: float | None = None
        self.best_step: int | None = None
        self.zero_shot: float | None = None
        self.evals_without_gain = 0
        self._tokens_at_report = train_set.tokens_drawn
        self._time_at_report = time.perf_counter()
        self._step_at_report = 0
        self._eval_seconds = 0.0
        self._forced: ForcedReader | None = None  # prepared at the first forced evaluation

    def on_train_loss_report(self, info: dict) -> None:
        now = time.perf_counter()
        # every process's tokens (the callback runs on all of them at the same step)
        tokens = sum(gather_json(self.train_set.tokens_drawn - self._tokens_at_report,
                                 self.procs))
        seconds = now - self._time_at_report - self._eval_seconds
        steps = info["iteration"] - self._step_at_report
        self._tokens_at_report, self._time_at_report, self._eval_seconds = (
            self.train_set.tokens_drawn, now, 0.0)
        self._step_at_report = info["iteration"]
        entry = {"type": "train", "step": info["iteration"] + self.step_offset,
                 "loss": info["train_loss"],
                 "tokens_per_second": tokens / seconds if seconds > 0 else None,
                 "seconds_per_step": seconds / steps if steps > 0 else None,
                 "peak_memory_gb": info["peak_memory"]}
        self.run.log(entry)
        self.on_event(entry)

    def restore(self) -> None:
        """Continue the bookkeeping of an interrupted run from its record."""
        record = self.run.record
        self.best, self.best_step = record.best_metric, record.best_step
        self.zero_shot = record.zero_shot_metric
        self.evals_without_gain = record.evals_without_gain

    def evaluate_metric(self) -> dict:
        """The task metric on the validation notes; several processes each answer their
        share, and every process scores all the answers (so all take the same decisions)."""
        if self.task.forced_validation:
            return self.evaluate_forced()
        self.model.eval()
        predictor = MlxPredictor(self.task, self.model, self.chat, trunk=self.trunk)
        prompts = [m[:-1] for m in self.val_chats]
        predictions = predict_all(predictor, split_for(prompts, self.procs),
                                  lambda done, total: self.on_event(
                                      {"type": "metric_progress", "done": done,
                                       "total": total}))
        self.model.train()
        parts = gather_json([p.value for p in predictions], self.procs)
        return self.task.metrics(self.gold, merge_splits(parts, len(prompts)))

    def evaluate_forced(self) -> dict:
        """The share of validation fields read right with the gold answer fed in (see
        :mod:`mlxmed.training.forced`), each process reading its share of the notes."""
        if self._forced is None:
            self._forced = ForcedReader(self.task, self.chat,
                                        split_for(self.val_chats, self.procs),
                                        self.settings.batch_size, self.settings.max_seq_length)
        self.model.eval()
        hits = self._forced.hits(self.model, self.trunk)
        self.model.train()
        parts = gather_json(hits, self.procs)
        return forced_metrics(self.task, merge_splits(parts, len(self.val_chats)))

    def on_val_loss_report(self, info: dict) -> None:
        if info["iteration"] == 0 and self.step_offset > 0:
            return  # a resumed run: this point was evaluated before the interruption
        started = time.perf_counter()
        step = info["iteration"] + self.step_offset
        metrics = self.evaluate_metric()
        entry = {"type": "eval", "step": step, "val_loss": info["val_loss"],
                 "metric": metrics["headline_name"], "value": metrics["headline"],
                 "invalid": metrics["invalid"],
                 "metric_seconds": round(time.perf_counter() - started, 2)}
        if step == 0:
            self.zero_shot = metrics["headline"]
            entry["zero_shot"] = True
        improved = step > 0 and (self.best is None or metrics["headline"] > self.best)
        if improved:
            self.best, self.best_step = metrics["headline"], step
            self.evals_without_gain = 0
            if self.run.writable:
                save_adapter(self.model, self.run.best_adapter, self.settings, step)
        elif step > 0:
            self.evals_without_gain += 1
        if step > 0 and self.run.writable:
            save_adapter(self.model, self.run.last_adapter, self.settings, step, self.optimizer)
        entry["best"] = self.best
        record = self.run.record
        record.best_step, record.best_metric = self.best_step, self.best
        record.zero_shot_metric, record.last_step = self.zero_shot, step
        record.evals_without_gain = self.evals_without_gain
        self.run.log(entry)
        self.on_event(entry)
        self._eval_seconds += time.perf_counter() - started + info.get("val_time", 0.0)
        if step >= self.settings.iters:
            raise TrainingDone
        if (step >= self.settings.min_steps
                and self.evals_without_gain >= self.settings.patience):
            raise EarlyStop


@contextlib.contextmanager
def mlx_lm_display_silenced(on_event: Event, total: int, monitor: TrainingMonitor
                            ) -> Iterator[None]:
    """mlx-lm's training display, replaced for the duration of the block by one that sends
    progress events to ``on_event``.

    mlx-lm has no seam for its display: ``train()`` builds ``TrainUI`` from its own module
    namespace and prints to the terminal. The name is swapped (through
    :func:`mlxmed.seams.patched`) only while mlxmed's loop runs; the caller's display
    (``on_event``) shows the progress.
    """
    from mlx_lm.tuner import trainer

    class EventUI:
        def __init__(self, total_iters: int, rank: int = 0) -> None:
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def advance(self) -> None:
            monitor.current_step += 1
            on_event({"type": "step", "step": monitor.current_step, "total": total})
            raise_if_stop_requested()  # after the step is counted: nothing lost or redone

        def report_train(self, *args) -> None:
            pass

        @contextlib.contextmanager
        def val_task(self, total_batches: int):
            on_event({"type": "validating"})
            yield lambda: None

        def report_val(self, *args) -> None:
            pass

        def report_save(self, *args) -> None:
            pass

    with patched(trainer, "TrainUI", EventUI):
        yield
