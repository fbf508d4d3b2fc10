"""LoRA / QLoRA fine-tuning on mlx-lm's tuner, with the task metric, the best adapter kept,
early stopping, a run record, and a safe stop on Ctrl-C.

The mlx-lm training loop is reused as it is; mlxmed plugs in through its documented seams:
the loss function (logits are computed only where the answer is, since the prompt is masked
from the loss anyway), the batch iterator, the training callback (task metric, best adapter,
early stopping) and the progress display.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlxmed import __version__, cpu_kernels
from mlxmed.atomic import atomic_path, write_text
from mlxmed.data import check_prepared_for
from mlxmed.errors import MlxmedError
from mlxmed.memory import check_memory
from mlxmed.metrics import task_metrics
from mlxmed.prompting import ChatTokenizer
from mlxmed.scoring import Predictor, hidden_states, predict_all, project
from mlxmed.tasks import TaskSpec, load_task

PAD_TO = 32
VAL_LOSS_NOTES = 32  # validation notes used for the validation loss at each evaluation
FALLBACK_LORA = {"rank": 8, "alpha": 16, "learning_rate": 1e-4, "layers": 16, "epochs": 3,
                 "batch_size": 4}


@dataclass
class TrainSettings:
    """Hyper-parameters; None means the model's catalogue default."""

    epochs: float | None = None
    iters: int | None = None
    rank: int | None = None
    alpha: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    max_seq_length: int | None = None
    layers: int | None = None
    patience: int = 3
    seed: int = 0
    evals_per_epoch: int = 1
    val_limit: int = 100
    grad_checkpoint: bool = False
    balance: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    best_step: int | None
    best_metric: float | None
    zero_shot_metric: float | None
    history: list[dict] = field(default_factory=list)


TOKEN_COUNTER = [0]  # tokens put into training batches (for an honest tokens/s)


class EarlyStop(Exception):
    """Raised from the callback to leave mlx-lm's loop when the metric stopped improving."""


class TrainingDone(Exception):
    """Raised after the evaluation of the final weights (mlx-lm evaluates before a step, so
    the loop is given one extra iteration and left here, before that step runs)."""


def catalogue_defaults(model_dir: Path) -> dict[str, Any]:
    """LoRA defaults recommended for the converted model's catalogue entry, if it has one."""
    from mlxmed.catalogue import get_entry

    defaults = dict(FALLBACK_LORA)
    try:
        marker = json.loads((model_dir / "mlxmed.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return defaults
    entry = get_entry(marker.get("catalogue_name") or "")
    if entry:
        defaults.update({k: v for k, v in entry.lora.items() if k in defaults})
    return defaults


def resolve_settings(settings: TrainSettings, model_dir: Path, task: TaskSpec,
                     n_train: int) -> dict[str, Any]:
    """Fill unset hyper-parameters from the catalogue and the task; derive iterations."""
    defaults = catalogue_defaults(model_dir)
    resolved = asdict(settings)
    for key in ("rank", "alpha", "learning_rate", "layers", "batch_size"):
        if resolved[key] is None:
            resolved[key] = defaults[key]
    resolved["batch_size"] = max(1, min(resolved["batch_size"], n_train))
    resolved["max_seq_length"] = resolved["max_seq_length"] or task.max_seq_length
    steps_per_epoch = max(1, n_train // resolved["batch_size"])
    if resolved["iters"] is None:
        epochs = resolved["epochs"] if resolved["epochs"] is not None else defaults["epochs"]
        resolved["epochs"] = epochs
        resolved["iters"] = max(1, math.ceil(epochs * steps_per_epoch))
    else:
        resolved["epochs"] = resolved["iters"] / steps_per_epoch
    resolved["steps_per_epoch"] = steps_per_epoch
    resolved["steps_per_eval"] = max(1, steps_per_epoch // max(1, resolved["evals_per_epoch"]))
    return resolved


# ----- data -----------------------------------------------------------------------------------
def read_chats(path: Path) -> list[list[dict[str, str]]]:
    """The chats of a chat-format JSONL file written by `mlxmed data`."""
    if not path.is_file():
        raise MlxmedError(f"{path}: not found; run `mlxmed data` first and pass its --out "
                          "folder as --data")
    chats = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError) as exc:
                raise MlxmedError(f"{path}: line {number} is not a chat record ({exc}); "
                                  "recreate the folder with `mlxmed data`") from exc
            if not messages or messages[-1].get("role") != "assistant":
                raise MlxmedError(f"{path}: line {number} has no assistant answer; recreate "
                                  "the folder with `mlxmed data`")
            chats.append(messages)
    if not chats:
        raise MlxmedError(f"{path}: no notes; check the data folder")
    return chats


class TokenizedDataset:
    """(ids, prompt length) per chat, in mlx-lm's dataset protocol."""

    def __init__(self, chats: list[list[dict[str, str]]], chat: ChatTokenizer,
                 max_seq_length: int) -> None:
        self.items = []
        self.answers = [messages[-1]["content"] for messages in chats]
        for messages in chats:
            ids, offset = chat.example_ids(messages)
            if len(ids) > max_seq_length:
                raise MlxmedError(f"a training chat has {len(ids)} tokens, over max_seq_length "
                                  f"{max_seq_length}; prepare the data with the same "
                                  "--max-seq-length (`mlxmed data ... --max-seq-length`)")
            self.items.append((ids, offset))

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


def shared_prefix_length(rows: list[tuple[list[int], int]]) -> int:
    """Tokens every row of a batch starts with (the task's instruction), rounded down to a
    multiple of PAD_TO, and short of every answer."""
    first = rows[0][0]
    limit = min(offset for _, offset in rows) - 1
    length = 0
    while length < limit and all(ids[length] == first[length] for ids, _ in rows):
        length += 1
    return PAD_TO * (length // PAD_TO) if len(rows) > 1 else 0


def learning_rate_schedule(peak: float, iters: int):
    """Linear warm-up over the first tenth of the steps, then cosine decay to a tenth of
    ``peak``: the usual fine-tuning schedule, which keeps the first noisy updates small and
    lets the last ones settle instead of bouncing at the peak rate."""
    import mlx.optimizers as optim

    warmup = max(1, iters // 10)
    if iters <= warmup:
        return optim.linear_schedule(peak / warmup, peak, max(1, iters))
    return optim.join_schedules(
        [optim.linear_schedule(peak / warmup, peak, warmup),
         optim.cosine_decay(peak, iters - warmup, end=peak / 10)], [warmup])


def epoch_order(dataset, batch_size: int, rng: np.random.Generator,
                balance: bool) -> list[list[int]]:
    """One epoch's batches of dataset indices, similar lengths together, in random order.

    With ``balance``, the notes of the epoch are drawn (with replacement) so that each answer
    (label) gets a share proportional to the square root of its count ("square-root
    sampling"): rare labels are seen far more often than in the data, which a macro-averaged
    score needs, without repeating a label's handful of notes as often as full balancing
    would (a label with 3 of 100 notes would be drawn 7 times per epoch). Otherwise each note
    is used once.
    """
    answers = getattr(dataset, "answers", None)
    count = len(dataset) - len(dataset) % batch_size
    if balance and answers and len(set(answers)) > 1:
        frequency = {answer: answers.count(answer) for answer in set(answers)}
        weights = np.array([frequency[answer] ** -0.5 for answer in answers])
        chosen = rng.choice(len(dataset), size=count, p=weights / weights.sum())
    else:
        chosen = np.arange(len(dataset))
    order = sorted(chosen.tolist(), key=lambda i: (len(dataset[i][0]), i))
    batches = [order[i: i + batch_size] for i in range(0, count, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def iterate_batches(dataset, batch_size: int, max_seq_length: int, loop: bool = False,
                    seed: int | None = None, comm_group=None,
                    share_prefix: bool = True, trunk=None,
                    balance: bool = False, skip: int = 0) -> Iterator[tuple]:
    """Length-bucketed batches: (tokens, [prompt length, length], answer positions, mask,
    prefix), where ``prefix`` is an empty array whose length says how many leading tokens all
    rows share (computed once per batch by :func:`answer_loss`).

    With a ``trunk`` (:class:`mlxmed.trunk.FrozenTrunk`), ``prefix`` is instead the trunk
    states of the prompt start every note shares, and a sixth item holds the trunk states of
    the rest of each row (zero-padded), so the loss runs only the trainable top layers.

    Similar lengths share a batch (little padding); the answer positions are the last W
    target positions of each row, W being the longest answer in the batch. The first ``skip``
    batches are drawn but not built (a resumed run continues the same sequence).
    """
    import mlx.core as mx

    if len(dataset) < batch_size:
        raise MlxmedError(f"need at least {batch_size} training notes for batch size "
                          f"{batch_size}; lower --batch-size")
    rng = np.random.default_rng(seed)
    everywhere = shared_prefix_length(dataset.items) if trunk is not None else 0
    while True:
        for batch in epoch_order(dataset, batch_size, rng, balance and loop):
            if skip > 0:
                skip -= 1
                continue
            rows = [dataset[i] for i in batch]
            # round shapes up so the compiled step is reused instead of recompiled per batch
            longest = 1 + PAD_TO * math.ceil(max(len(ids) for ids, _ in rows) / PAD_TO)
            width = 4 * math.ceil(max(len(ids) - offset for ids, offset in rows) / 4)
            tokens = np.zeros((len(rows), longest), dtype=np.int32)
            positions = np.zeros((len(rows), width), dtype=np.int32)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            lengths = np.zeros((len(rows), 2), dtype=np.int32)
            for row, (ids, offset) in enumerate(rows):
                tokens[row, : len(ids)] = ids
                lengths[row] = (offset, len(ids))
                # target position t predicts token t + 1; answers are tokens offset..len-1
                wanted = np.arange(len(ids) - 1 - width, len(ids) - 1)
                positions[row] = np.clip(wanted, 0, None)
                if loop:  # training batches only: validation batches are not trained on
                    TOKEN_COUNTER[0] += len(ids)
                mask[row] = wanted >= offset - 1
            arrays = (mx.array(tokens), mx.array(lengths), mx.array(positions), mx.array(mask))
            if trunk is not None and everywhere > 0:
                yield *arrays, *trunk_inputs(trunk, rows, everywhere, longest - 1)
                continue
            prefix = shared_prefix_length(rows) if share_prefix else 0
            yield *arrays, mx.zeros((prefix,), dtype=mx.int32)
        if not loop:
            return


def trunk_inputs(trunk, rows: list[tuple[list[int], int]], shared: int, width: int) -> tuple:
    """(trunk states of the shared prompt start, zero-padded trunk states of each row's
    inputs after it) for a batch."""
    import mlx.core as mx

    notes = [trunk.note(ids[:-1], shared) for ids, _ in rows]
    padded = [mx.pad(note, [(0, 0), (0, width - shared - note.shape[1]), (0, 0)])
              for note in notes]
    return trunk.prefix(rows[0][0][:shared])[0], mx.concatenate(padded, axis=0)


def answer_loss(model, tokens, lengths, positions, mask, prefix=None, trunk_states=None,
                split: int = 0):
    """Cross-entropy on the answer tokens only, projecting only those positions to logits.

    The first ``len(prefix)`` tokens, the same in every row, go through the model once and
    their keys/values are shared by the rows (the same result, less work). With
    ``trunk_states`` (see :func:`iterate_batches`), only layers ``split`` and up are run.
    """
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.models.cache import make_prompt_cache

    from mlxmed.trunk import top_caches, top_pass

    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    shared = 0 if prefix is None else prefix.shape[-2 if trunk_states is not None else 0]
    if trunk_states is not None:
        caches = top_caches(model, split, prefix, tokens.shape[0])
        hidden = top_pass(model, split, trunk_states, caches)
        positions = mx.maximum(positions - shared, 0)
    elif shared:
        cache = make_prompt_cache(model)
        hidden_states(model, inputs[:1, :shared], cache=cache)
        for layer in cache:
            layer.keys = mx.repeat(layer.keys[:, :, :shared], inputs.shape[0], axis=0)
            layer.values = mx.repeat(layer.values[:, :, :shared], inputs.shape[0], axis=0)
        hidden = hidden_states(model, inputs[:, shared:], cache=cache)
        positions = mx.maximum(positions - shared, 0)  # clipped ones are masked out anyway
    else:
        hidden = hidden_states(model, inputs)
    picked = mx.take_along_axis(hidden, positions[..., None], axis=1)
    logits = project(model, picked)
    wanted = mx.take_along_axis(targets[:, shared:], positions, axis=1)
    losses = nn.losses.cross_entropy(logits, wanted) * mask
    count = mask.sum()
    return losses.astype(mx.float32).sum() / count, count


# ----- the run ----------------------------------------------------------------------------------
def _adapter_config(resolved: dict[str, Any]) -> dict[str, Any]:
    """mlx-lm's adapter_config.json, so `mlx_lm.load(model, adapter_path=...)` works too."""
    return {"fine_tune_type": "lora", "num_layers": resolved["layers"],
            "lora_parameters": {"rank": resolved["rank"],
                                "scale": resolved["alpha"] / resolved["rank"],
                                "dropout": 0.0}}


def _save_safetensors(path: Path, arrays: dict) -> None:
    import mlx.core as mx

    with atomic_path(path) as tmp:  # mlx writes by file name
        mx.save_safetensors(str(tmp), arrays)


def save_adapter(model, directory: Path, resolved: dict[str, Any], step: int,
                 optimizer=None) -> None:
    """Write the trainable (LoRA) weights, their config and, for resuming, the optimizer
    state; ``state.json`` (the step) is written last, so it marks a complete checkpoint."""
    from mlx.utils import tree_flatten

    directory.mkdir(parents=True, exist_ok=True)
    _save_safetensors(directory / "adapters.safetensors",
                      dict(tree_flatten(model.trainable_parameters())))
    write_text(directory / "adapter_config.json",
               json.dumps(_adapter_config(resolved), indent=2) + "\n")
    if optimizer is not None:
        _save_safetensors(directory / "optimizer.safetensors",
                          dict(tree_flatten(optimizer.state)))
    write_text(directory / "state.json", json.dumps({"step": step}) + "\n")


def load_checkpoint(model, optimizer, directory: Path) -> int:
    """Restore adapter weights and optimizer state saved by :func:`save_adapter`."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    try:
        step = json.loads((directory / "state.json").read_text(encoding="utf-8"))["step"]
        model.load_weights(str(directory / "adapters.safetensors"), strict=False)
        state = mx.load(str(directory / "optimizer.safetensors"))
    except (OSError, ValueError, KeyError) as exc:
        raise MlxmedError(f"{directory}: no usable checkpoint to resume from ({exc}); start "
                          "a new run with another --out") from exc
    optimizer.state = tree_unflatten(list(state.items()))
    return int(step)


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"mlxmed": __version__}
    for name in ("mlx", "mlx-lm", "numpy", "llama-cpp-python"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


class RunRecorder:
    """Keeps run.json and metrics.jsonl of a run directory up to date, atomically."""

    def __init__(self, run_dir: Path, record: dict[str, Any]) -> None:
        self.run_dir, self.record = run_dir, record
        run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = run_dir / "metrics.jsonl"
        write_text(self.metrics_path, "".join(json.dumps(entry) + "\n"
                                              for entry in record.get("history", [])))
        self.save()

    def log(self, entry: dict[str, Any]) -> None:
        self.record.setdefault("history", []).append(entry)
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
        self.save()

    def save(self) -> None:
        self.record["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_text(self.run_dir / "run.json", json.dumps(self.record, indent=2) + "\n")


class TrainingMonitor:
    """mlx-lm training callback: task metric on validation, best adapter, early stopping."""

    def __init__(self, model, task: TaskSpec, chat: ChatTokenizer, val_chats, resolved,
                 recorder: RunRecorder, run_dir: Path, on_event: Callable[[dict], None],
                 optimizer=None, step_offset: int = 0, trunk=None):
        self.model, self.task, self.chat, self.trunk = model, task, chat, trunk
        self.optimizer, self.step_offset = optimizer, step_offset
        self.current_step = step_offset
        self.val_chats = val_chats
        self.gold = [self._gold(messages) for messages in val_chats]
        self.resolved, self.recorder, self.run_dir = resolved, recorder, run_dir
        self.on_event = on_event
        self.best: float | None = None
        self.best_step: int | None = None
        self.zero_shot: float | None = None
        self.evals_without_gain = 0
        self._tokens_at_report = TOKEN_COUNTER[0]
        self._time_at_report = time.perf_counter()
        self._step_at_report = 0
        self._eval_seconds = 0.0

    def _gold(self, messages):
        parsed = self.task.parse_answer(messages[-1]["content"])
        return parsed.value

    def on_train_loss_report(self, info: dict) -> None:
        now = time.perf_counter()
        tokens = TOKEN_COUNTER[0] - self._tokens_at_report
        seconds = now - self._time_at_report - self._eval_seconds
        steps = info["iteration"] - self._step_at_report
        self._tokens_at_report, self._time_at_report, self._eval_seconds = (
            TOKEN_COUNTER[0], now, 0.0)
        self._step_at_report = info["iteration"]
        entry = {"type": "train", "step": info["iteration"] + self.step_offset,
                 "loss": info["train_loss"],
                 "tokens_per_second": tokens / seconds if seconds > 0 else None,
                 "seconds_per_step": seconds / steps if steps > 0 else None,
                 "peak_memory_gb": info["peak_memory"]}
        self.recorder.log(entry)
        self.on_event(entry)

    def restore(self, record: dict) -> None:
        """Continue the bookkeeping of an interrupted run."""
        self.best, self.best_step = record.get("best_metric"), record.get("best_step")
        self.zero_shot = record.get("zero_shot_metric")
        self.evals_without_gain = record.get("evals_without_gain", 0)

    def evaluate_metric(self) -> dict:
        self.model.eval()
        predictor = Predictor(self.task, self.model, self.chat, trunk=self.trunk)
        predictions = predict_all(predictor, [m[:-1] for m in self.val_chats],
                                  lambda done, total: self.on_event(
                                      {"type": "metric_progress", "done": done,
                                       "total": total}))
        self.model.train()
        return task_metrics(self.task, self.gold, [p.value for p in predictions])

    def on_val_loss_report(self, info: dict) -> None:
        if info["iteration"] == 0 and self.step_offset > 0:
            return  # a resumed run: this point was evaluated before the interruption
        started = time.perf_counter()
        step = info["iteration"] + self.step_offset
        metrics = self.evaluate_metric()
        entry = {"type": "eval", "step": step, "val_loss": info["val_loss"],
                 "metric": metrics["headline_name"], "value": metrics["headline"],
                 "invalid": metrics["invalid"]}
        if step == 0:
            self.zero_shot = metrics["headline"]
            entry["zero_shot"] = True
        improved = step > 0 and (self.best is None or metrics["headline"] > self.best)
        if improved:
            self.best, self.best_step = metrics["headline"], step
            self.evals_without_gain = 0
            save_adapter(self.model, self.run_dir / "adapters" / "best", self.resolved, step)
        elif step > 0:
            self.evals_without_gain += 1
        if step > 0:
            save_adapter(self.model, self.run_dir / "adapters" / "last", self.resolved, step,
                         self.optimizer)
        entry["best"] = self.best
        self.recorder.record.update(best_step=self.best_step, best_metric=self.best,
                                    zero_shot_metric=self.zero_shot, last_step=step,
                                    evals_without_gain=self.evals_without_gain)
        self.recorder.log(entry)
        self.on_event(entry)
        self._eval_seconds += time.perf_counter() - started + info.get("val_time", 0.0)
        if step >= self.resolved["iters"]:
            raise TrainingDone
        if step > 0 and self.evals_without_gain >= self.resolved["patience"]:
            raise EarlyStop


@contextlib.contextmanager
def _quiet_mlx_ui(on_event: Callable[[dict], None], total: int,
                  monitor: TrainingMonitor) -> Iterator[None]:
    """Replace mlx-lm's own training display with mlxmed's (events go to ``on_event``)."""
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

    original = trainer.TrainUI
    trainer.TrainUI = EventUI
    try:
        yield
    finally:
        trainer.TrainUI = original


def train(task_path: str | Path, model_dir: str | Path, data_dir: str | Path,
          out_dir: str | Path, settings: TrainSettings | None = None,
          train_file: str | Path | None = None,
          on_event: Callable[[dict], None] | None = None, resume: bool = False) -> TrainResult:
    """Fine-tune ``model_dir`` on the prepared ``data_dir`` for the task; write ``out_dir``.

    ``train_file`` trains on another chat file (a learning-curve subset) instead of
    ``data_dir/train.jsonl``. ``on_event`` receives progress events (dicts with a ``type``).
    ``resume`` continues an interrupted run in ``out_dir`` from its last checkpoint, with the
    same settings and the same batch order as an uninterrupted run.
    """
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.trainer import TrainingArgs
    from mlx_lm.tuner.trainer import train as mlx_train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    on_event = on_event or (lambda event: None)
    task = load_task(task_path)
    model_dir, data_dir, run_dir = Path(model_dir), Path(data_dir), Path(out_dir)
    check_prepared_for(task, data_dir)
    previous = _previous_run(run_dir, resume)
    if previous:
        settings = TrainSettings(**{k: v for k, v in previous["hyperparameters"].items()
                                    if k in TrainSettings.__dataclass_fields__})
        train_file = previous["data"]["train_file"]
    settings = settings or TrainSettings()
    train_path = Path(train_file) if train_file else data_dir / "train.jsonl"
    train_chats = read_chats(train_path)
    val_chats = read_chats(data_dir / "valid.jsonl")
    resolved = resolve_settings(settings, model_dir, task, len(train_chats))
    val_metric_chats = val_chats[: resolved["val_limit"]]

    mx.random.seed(resolved["seed"])
    np.random.seed(resolved["seed"])
    try:
        model, _ = load(str(model_dir))
    except Exception as exc:  # mlx-lm raises many kinds here
        raise MlxmedError(f"{model_dir}: cannot load the model ({type(exc).__name__}: {exc}); "
                          "convert it with `mlxmed convert`") from exc
    cpu_kernels.install(model)
    chat = ChatTokenizer(model_dir)
    train_set = TokenizedDataset(train_chats, chat, resolved["max_seq_length"])
    val_set = TokenizedDataset(val_chats, chat, resolved["max_seq_length"])
    longest = max(len(ids) for ids, _ in train_set.items)
    check_memory(model, resolved["batch_size"], longest, resolved["layers"],
                 resolved["grad_checkpoint"])

    model.freeze()
    resolved["layers"] = min(resolved["layers"], len(model.layers))
    linear_to_lora_layers(model, resolved["layers"],
                          {"rank": resolved["rank"], "scale": resolved["alpha"] /
                           resolved["rank"], "dropout": 0.0})
    trunk = frozen_trunk(model, model_dir, resolved)
    loss = functools.partial(answer_loss, split=trunk.split if trunk else 0)
    optimizer = optim.Adam(learning_rate=learning_rate_schedule(resolved["learning_rate"],
                                                                resolved["iters"]))
    step_offset = 0
    if previous and not (run_dir / "adapters" / "last" / "state.json").is_file():
        previous = None  # stopped before its first checkpoint: start over, same settings
    if previous:
        step_offset = load_checkpoint(model, optimizer, run_dir / "adapters" / "last")
        record = previous
        # a run killed after its checkpoint may have logged later steps: they are redone
        record["history"] = [e for e in record.get("history", []) if e["step"] <= step_offset]
        record.update(status="running", resumed_from_step=step_offset)
    else:
        record = _new_record(run_dir, task_path, task, model_dir, data_dir, train_path,
                             train_chats, val_chats, val_metric_chats, resolved)
        record["trainable_parameters"] = int(sum(
            v.size for _, v in tree_flatten(model.trainable_parameters())))
    recorder = RunRecorder(run_dir, record)
    monitor = TrainingMonitor(model, task, chat, val_metric_chats, resolved, recorder, run_dir,
                              on_event, optimizer, step_offset, trunk)
    if previous:
        monitor.restore(previous)
    remaining = resolved["iters"] - step_offset
    args = TrainingArgs(batch_size=resolved["batch_size"], iters=remaining + 1,
                        # the loss is a side metric (the task metric selects): keep it cheap
                        val_batches=max(1, min(resolved["val_limit"], VAL_LOSS_NOTES)
                                        // resolved["batch_size"]),
                        steps_per_report=max(1, min(10, resolved["iters"])),
                        steps_per_eval=resolved["steps_per_eval"],
                        steps_per_save=resolved["iters"] + 1,
                        max_seq_length=resolved["max_seq_length"],
                        adapter_file=str(run_dir / "adapters" / "mlx_lm_last.safetensors"),
                        grad_checkpoint=resolved["grad_checkpoint"])
    (run_dir / "adapters").mkdir(exist_ok=True)
    on_event({"type": "start", "resolved": resolved, "train_notes": len(train_chats),
              "resumed_from": step_offset})

    def batches(**kwargs):
        """The same batch sequence as an uninterrupted run, skipping what was trained."""
        kwargs.pop("seed", None)
        return iterate_batches(seed=resolved["seed"], trunk=trunk,
                               balance=resolved["balance"] and task.kind == "classification",
                               skip=step_offset if kwargs.get("loop") else 0, **kwargs)

    started = time.perf_counter()
    status = "failed"
    try:
        if remaining > 0:
            with _quiet_mlx_ui(on_event, resolved["iters"], monitor):
                mlx_train(model, optimizer, train_set, val_set, args=args, loss=loss,
                          iterate_batches=batches, training_callback=monitor)
        status = "finished"
    except TrainingDone:
        status = "finished"
    except EarlyStop:
        status = "early_stopped"
    except KeyboardInterrupt:
        status = "interrupted"
        # Ctrl-C can land after an update reached the weights but before the loop counted
        # it; the optimizer's own step count always matches the weights it updated
        monitor.current_step = int(optimizer.step.item())
        save_adapter(model, run_dir / "adapters" / "last", resolved, monitor.current_step,
                     optimizer)
    finally:
        (run_dir / "adapters" / "mlx_lm_last.safetensors").unlink(missing_ok=True)
        record.update(status=status, last_step=monitor.current_step,
                      train_seconds=round(record.get("train_seconds", 0.0)
                                          + time.perf_counter() - started, 1))
        recorder.save()
    if status == "interrupted":
        raise KeyboardInterrupt
    if monitor.best_step is None:  # no evaluation after step 0: keep the final weights
        save_adapter(model, run_dir / "adapters" / "best", resolved, monitor.current_step)
    return TrainResult(run_dir, status, monitor.best_step, monitor.best, monitor.zero_shot,
                       record["history"])


def frozen_trunk(model, model_dir: Path, resolved: dict[str, Any]):
    """The frozen trunk below the LoRA layers, shared with other runs on the same model in
    this process; None when the model can't be split or ``MLXMED_FROZEN_TRUNK=0``."""
    from mlxmed.trunk import FrozenTrunk, shared_store, supports_split

    if os.environ.get("MLXMED_FROZEN_TRUNK", "1") == "0" or not supports_split(model):
        return None
    split = len(model.model.layers) - resolved["layers"]
    return FrozenTrunk(model, resolved["layers"], shared_store(model_dir, split))


def _previous_run(run_dir: Path, resume: bool) -> dict | None:
    """The record of the run to resume, or None for a new run (refusing to overwrite one)."""
    record_path = run_dir / "run.json"
    if not resume:
        if record_path.exists():
            raise MlxmedError(f"{run_dir} already holds a run; choose another --out, or pass "
                              "--resume to continue it")
        return None
    record = _read_json(record_path)
    if record is None:
        raise MlxmedError(f"{run_dir}: no run to resume (no readable run.json)")
    if record.get("status") in ("finished", "early_stopped"):
        raise MlxmedError(f"{run_dir}: this run already {record['status'].replace('_', ' ')}; "
                          "nothing to resume")
    return record


def _new_record(run_dir: Path, task_path, task: TaskSpec, model_dir: Path, data_dir: Path,
                train_path: Path, train_chats, val_chats, val_metric_chats,
                resolved: dict) -> dict:
    return {
        "run_id": run_dir.name, "status": "running", "mlxmed_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": {"file": str(task_path), "name": task.name, "kind": task.kind,
                 "spec_hash": task.spec_hash()},
        "model": {"dir": str(model_dir), "marker": _read_json(model_dir / "mlxmed.json")},
        "data": {"dir": str(data_dir), "train_file": str(train_path),
                 "train_sha256": file_sha256(train_path),
                 "valid_sha256": file_sha256(data_dir / "valid.jsonl"),
                 "train_notes": len(train_chats), "valid_notes": len(val_chats),
                 "metric_notes": len(val_metric_chats)},
        "hyperparameters": resolved, "libraries": library_versions(),
        "platform": _platform_summary(), "history": [],
    }


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _platform_summary() -> dict[str, str]:
    from mlxmed.platform import platform_summary

    return platform_summary()
