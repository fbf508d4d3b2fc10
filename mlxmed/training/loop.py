"""`mlxmed train`: LoRA / QLoRA fine-tuning on mlx-lm's tuner, with the task metric, the best
adapter kept, early stopping, a run record, and a safe stop on Ctrl-C.

mlx-lm's training loop is reused as it is; mlxmed plugs in through its documented seams: the
loss function (logits only where the answer is), the batch iterator (length buckets, the
shared prompt start computed once, the frozen trunk), and the training callback (task
metric, best adapter, early stopping, progress).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mlxmed import __version__
from mlxmed.accel import cpu_kernels
from mlxmed.accel.memory import check_memory
from mlxmed.accel.trunk import FrozenTrunk, TrunkStore, supports_split
from mlxmed.artifacts.model_dir import ModelDir
from mlxmed.artifacts.ownership import refuse_input_as_output
from mlxmed.artifacts.prepared import PreparedData, read_chats
from mlxmed.artifacts.run import (
    DataRecord,
    ModelRecord,
    Run,
    RunRecord,
    TaskRecord,
    file_sha256,
)
from mlxmed.errors import MlxmedError
from mlxmed.tasks import Task, task_file
from mlxmed.training.batches import TokenizedDataset, iterate_batches, shared_prefix_length
from mlxmed.training.checkpoint import load_checkpoint, save_adapter
from mlxmed.training.distributed import broadcast_json, broadcast_parameters, processes
from mlxmed.training.loss import answer_loss
from mlxmed.training.monitor import (
    EarlyStop,
    TrainingDone,
    TrainingMonitor,
    mlx_lm_display_silenced,
)
from mlxmed.training.settings import (
    ResolvedSettings,
    TrainSettings,
    learning_rate_schedule,
    resolve_settings,
)

VAL_LOSS_NOTES = 32  # validation notes used for the validation loss at each evaluation


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    best_step: int | None
    best_metric: float | None
    zero_shot_metric: float | None
    history: list[dict] = field(default_factory=list)


def train(task: Task, model_dir: ModelDir, data: PreparedData, out_dir: str | Path,
          settings: TrainSettings | None = None, train_file: str | Path | None = None,
          on_event: Callable[[dict], None] | None = None, resume: bool = False,
          trunk_store: TrunkStore | None = None) -> TrainResult:
    """Fine-tune ``model_dir`` on the prepared ``data`` for ``task``; write the run to
    ``out_dir``.

    ``train_file`` trains on another chat file (a learning-curve subset) instead of the
    folder's train split. ``on_event`` receives progress events (dicts with a ``type``).
    ``resume`` continues an interrupted run in ``out_dir`` from its last checkpoint, with the
    same settings and the same batch order as an uninterrupted run. ``trunk_store`` keeps the
    frozen layers' outputs for later runs on the same notes (a learning curve); without one,
    the run keeps its own and frees it at the end.

    Started by MLX's launcher on several processes (``mx.distributed``), the processes share
    each batch and only rank 0 writes the run folder; the data and the model must be at the
    same paths on every host.
    """
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.trainer import TrainingArgs
    from mlx_lm.tuner.trainer import train as mlx_train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    on_event = on_event or (lambda event: None)
    run_dir = Path(out_dir)
    procs = processes()
    refuse_input_as_output(run_dir, [data.path, train_file, task_file(task), model_dir.path])
    data.check_for(task)
    # only rank 0 reads (and writes) the run folder; the others get what they need from it
    previous = _previous_run(run_dir, resume, task) if procs.primary else None
    start = broadcast_json({"settings": previous.record.hyperparameters,
                            "train_file": str(previous.record.data.train_file)}
                           if previous else None, procs)
    if start:
        settings = TrainSettings.from_resolved(start["settings"])
        train_file = start["train_file"]
    settings = settings or TrainSettings()
    train_path = Path(train_file) if train_file else data.chats_path("train")
    train_chats = read_chats(train_path)
    val_chats = data.chats("valid")
    resolved = resolve_settings(settings, model_dir, task, len(train_chats))
    val_metric_chats = val_chats[: resolved.val_limit]

    mx.random.seed(resolved.seed)
    np.random.seed(resolved.seed)
    model = model_dir.load()
    chat = model_dir.chat_tokenizer()
    train_set = TokenizedDataset(train_chats, chat, resolved.max_seq_length)
    val_set = TokenizedDataset(val_chats, chat, resolved.max_seq_length)
    longest = max(len(ids) for ids, _ in train_set.items)
    check_memory(model, resolved.batch_size, longest, resolved.layers, resolved.grad_checkpoint,
                 shared_prefix_length(train_set.items))

    model.freeze()
    resolved.layers = min(resolved.layers, len(model.layers))
    linear_to_lora_layers(model, resolved.layers,
                          {"rank": resolved.rank, "scale": resolved.scale,
                           "dropout": resolved.dropout})
    own_store = trunk_store is None
    store = trunk_store if trunk_store is not None else TrunkStore()
    trunk = frozen_trunk(model, resolved, store)
    loss = functools.partial(answer_loss, split=trunk.split if trunk else 0)
    optimizer = optim.Adam(learning_rate=learning_rate_schedule(resolved.learning_rate,
                                                                resolved.iters))
    step_offset = 0
    unstarted = None
    if previous and not (previous.last_adapter / "state.json").is_file():
        # stopped before its first checkpoint: start over in its folder, same settings
        unstarted, previous = previous, None
    if previous:
        step_offset = load_checkpoint(model, optimizer, previous.last_adapter)
        run = previous
        # a run killed after its checkpoint may have logged later steps: they are redone
        run.record.history = [e for e in run.record.history if e["step"] <= step_offset]
        run.record.status, run.record.resumed_from_step = "running", step_offset
        run.rewrite_metrics()
    elif procs.primary:
        record = _new_record(run_dir, task, model_dir, data, train_path, train_chats,
                             val_chats, val_metric_chats, resolved)
        record.trainable_parameters = int(sum(
            v.size for _, v in tree_flatten(model.trainable_parameters())))
        run = unstarted.restart(record) if unstarted else Run.create(run_dir, record)
    if procs.size > 1:
        shared = broadcast_json({"record": run.record.to_dict(), "step": step_offset}
                                if procs.primary else None, procs)
        if not procs.primary:
            run = Run.detached(run_dir, RunRecord.from_dict(shared["record"]))
            step_offset = shared["step"]
        broadcast_parameters(model, optimizer if step_offset else None, procs)
    monitor = TrainingMonitor(model, task, chat, val_metric_chats, resolved, run, train_set,
                              on_event, optimizer, step_offset, trunk, procs)
    if step_offset:
        monitor.restore()
    remaining = resolved.iters - step_offset
    args = TrainingArgs(batch_size=resolved.batch_size, iters=remaining + 1,
                        # the loss is a side metric (the task metric selects): keep it cheap
                        val_batches=max(1, min(resolved.val_limit, VAL_LOSS_NOTES)
                                        // resolved.batch_size),
                        steps_per_report=max(1, min(resolved.report_every, resolved.iters)),
                        steps_per_eval=resolved.steps_per_eval,
                        steps_per_save=resolved.iters + 1,
                        max_seq_length=resolved.max_seq_length,
                        adapter_file=str(run_dir / "adapters" / "mlx_lm_last.safetensors"),
                        grad_checkpoint=resolved.grad_checkpoint)
    if procs.primary:
        (run_dir / "adapters").mkdir(exist_ok=True)
    on_event({"type": "start", "resolved": resolved.to_dict(), "train_notes": len(train_chats),
              "resumed_from": step_offset})

    def batches(**kwargs):
        """The same batch sequence as an uninterrupted run, skipping what was trained."""
        kwargs.pop("seed", None)
        return iterate_batches(seed=resolved.seed, trunk=trunk,
                               balance=resolved.balance and task.balanced_sampling,
                               skip=step_offset if kwargs.get("loop") else 0, **kwargs)

    started = time.perf_counter()
    status = "failed"
    try:
        if remaining > 0:
            with cpu_kernels.enabled(model), \
                    mlx_lm_display_silenced(on_event, resolved.iters, monitor):
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
        if procs.primary:
            save_adapter(model, run.last_adapter, resolved, monitor.current_step, optimizer)
    finally:
        if procs.primary:
            (run_dir / "adapters" / "mlx_lm_last.safetensors").unlink(missing_ok=True)
        run.record.status, run.record.last_step = status, monitor.current_step
        run.record.train_seconds = round(run.record.train_seconds
                                         + time.perf_counter() - started, 1)
        run.save()
        if own_store:
            store.clear()
    if status == "interrupted":
        raise KeyboardInterrupt
    if monitor.best_step is None and procs.primary:  # no evaluation after step 0: keep
        save_adapter(model, run.best_adapter, resolved, monitor.current_step)  # the last
    return TrainResult(run_dir, status, monitor.best_step, monitor.best, monitor.zero_shot,
                       run.record.history)


def frozen_trunk(model, settings: ResolvedSettings, store: TrunkStore) -> FrozenTrunk | None:
    """The frozen trunk below the LoRA layers, its outputs kept in ``store``; None when the
    model can't be split or ``MLXMED_FROZEN_TRUNK=0``."""
    import os

    if os.environ.get("MLXMED_FROZEN_TRUNK", "1") == "0" or not supports_split(model):
        return None
    return FrozenTrunk(model, settings.layers, store)


def _previous_run(run_dir: Path, resume: bool, task: Task) -> Run | None:
    """The run to resume, or None for a new run (refusing to overwrite one)."""
    if not resume:
        Run.check_new(run_dir)
        return None
    if not Run.exists(run_dir):
        raise MlxmedError(f"{run_dir}: no run to resume (no readable run.json)")
    run = Run.open(run_dir)
    if run.finished:
        raise MlxmedError(f"{run_dir}: this run already "
                          f"{run.record.status.replace('_', ' ')}; nothing to resume")
    if run.record.task.spec_hash != task.spec_hash():
        raise MlxmedError(f"{run_dir}: this run was started with another version of "
                          f"{task.source}; resume it with the task it was started with, or "
                          "start a new run")
    return run


def _new_record(run_dir: Path, task: Task, model_dir: ModelDir, data: PreparedData,
                train_path: Path, train_chats, val_chats, val_metric_chats,
                resolved: ResolvedSettings) -> RunRecord:
    from mlxmed.platform import platform_summary

    marker = model_dir.marker
    return RunRecord(
        run_id=run_dir.name, status="running", mlxmed_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        task=TaskRecord(file=_absolute(task.source), name=task.name, kind=task.kind,
                        spec_hash=task.spec_hash(), spec=task.to_dict()),
        model=ModelRecord(dir=_absolute(model_dir.path),
                          marker=marker.to_dict() if marker else None),
        data=DataRecord(dir=_absolute(data.path), train_file=_absolute(train_path),
                        train_sha256=file_sha256(train_path),
                        valid_sha256=file_sha256(data.chats_path("valid")),
                        train_notes=len(train_chats), valid_notes=len(val_chats),
                        metric_notes=len(val_metric_chats)),
        hyperparameters=resolved.to_dict(), libraries=library_versions(),
        platform=platform_summary())


def _absolute(path: str | Path) -> str:
    """``path`` made absolute when it names a file or folder, so a run resumes, exports and
    evaluates from any working directory; other sources (an in-memory task) as they are."""
    return str(Path(path).resolve()) if Path(path).exists() else str(path)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"mlxmed": __version__}
    for name in ("mlx", "mlx-lm", "numpy", "llama-cpp-python"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions
