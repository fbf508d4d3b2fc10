"""Training on a tiny random model: prompt masking, loss, best adapter, early stopping,
run record, memory refusal, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlxmed.artifacts import ModelDir, PreparedData, read_chats
from mlxmed.artifacts.run import DataRecord, ModelRecord, Run, RunRecord, TaskRecord
from mlxmed.errors import MlxmedError
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.tasks import load_task
from mlxmed.training import ResolvedSettings, TrainSettings, train
from mlxmed.training.batches import TokenizedDataset, iterate_batches
from mlxmed.training.loss import answer_loss
from mlxmed.training.monitor import EarlyStop, TrainingMonitor
from mlxmed.training.settings import learning_rate_schedule


def test_only_answer_tokens_are_trained(tiny_setup):
    root, model_dir = tiny_setup
    chat = ChatTokenizer(model_dir)
    chats = read_chats(root / "data" / "train.jsonl")
    dataset = TokenizedDataset(chats, chat, 512)
    tokens, lengths, positions, mask, _ = next(iterate_batches(dataset, 4, 512, seed=0))
    tokens, lengths = np.array(tokens), np.array(lengths)
    positions, mask = np.array(positions), np.array(mask)
    for row in range(tokens.shape[0]):
        offset, length = lengths[row]
        trained = [int(tokens[row, p + 1]) for p, m in zip(positions[row], mask[row],
                                                            strict=True) if m]
        # exactly the tokens after the prompt: the answer and the end of the turn
        assert trained == tokens[row, offset:length].tolist()
        text = chat.tokenizer.decode(trained, skip_special_tokens=False)
        assert text.startswith(("PAIN<|im_end|>", "NO PAIN<|im_end|>")), text
        prompt_positions = [p for p, m in zip(positions[row], mask[row], strict=True)
                            if m and p + 1 < offset]
        assert prompt_positions == []


@pytest.mark.parametrize("share_prefix", [False, True])
def test_answer_loss_equals_masked_loss_over_full_logits(tiny_setup, share_prefix):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm import load

    root, model_dir = tiny_setup
    model, _ = load(str(model_dir))
    dataset = TokenizedDataset(read_chats(root / "data" / "train.jsonl"),
                               ChatTokenizer(model_dir), 512)
    tokens, lengths, positions, mask, prefix = next(
        iterate_batches(dataset, 4, 512, seed=1, share_prefix=share_prefix))
    assert (prefix.shape[0] > 0) == share_prefix  # the instruction is shared by all notes
    ours, count = answer_loss(model, tokens, lengths, positions, mask, prefix)
    logits = model(tokens[:, :-1])
    steps = mx.arange(tokens.shape[1] - 1)[None, :]
    full_mask = (steps >= lengths[:, :1] - 1) & (steps < lengths[:, 1:] - 1)
    ce = nn.losses.cross_entropy(logits, tokens[:, 1:]) * full_mask
    expected = ce.sum() / full_mask.sum()
    assert int(count.item()) == int(full_mask.sum().item())
    assert abs(ours.item() - expected.item()) < 1e-4


def test_shared_prefix_gives_the_same_gradients(tiny_setup):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    root, model_dir = tiny_setup
    model, _ = load(str(model_dir))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    dataset = TokenizedDataset(read_chats(root / "data" / "train.jsonl"),
                               ChatTokenizer(model_dir), 512)
    grads = []
    for share in (False, True):
        batch = next(iterate_batches(dataset, 4, 512, seed=2, share_prefix=share))
        (_, _), grad = nn.value_and_grad(model, answer_loss)(model, *batch)
        grads.append(dict(tree_flatten(grad)))
    assert grads[0].keys() == grads[1].keys()
    largest = max(float(mx.abs(g).max()) for g in grads[0].values())
    assert largest > 0
    for key in grads[0]:
        assert float(mx.abs(grads[0][key] - grads[1][key]).max()) <= 1e-5 * max(1, largest)


def test_training_lowers_loss_and_writes_a_complete_run(tiny_setup, tmp_path):
    root, model_dir = tiny_setup
    run_dir = tmp_path / "run"
    result = train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                   PreparedData.open(root / "data"), run_dir,
                   TrainSettings(epochs=3, batch_size=4, learning_rate=3e-3, rank=8, alpha=16,
                                 evals_per_epoch=2, patience=10))
    evals = [h for h in result.history if h["type"] == "eval"]
    print("validation loss by evaluation:", [round(e["val_loss"], 3) for e in evals])
    assert evals[0]["step"] == 0 and evals[0].get("zero_shot")
    assert evals[-1]["val_loss"] < 0.5 * evals[0]["val_loss"]
    assert result.status == "finished"
    later = [e for e in evals if e["step"] > 0]
    best = max(later, key=lambda e: e["value"])
    assert result.best_metric == best["value"]
    assert result.best_step == best["step"]
    for name in ("best", "last"):
        adapter = run_dir / "adapters" / name
        assert (adapter / "adapters.safetensors").stat().st_size > 0
        assert json.loads((adapter / "adapter_config.json").read_text())["num_layers"] == 2
    record = json.loads((run_dir / "run.json").read_text())
    for key in ("run_id", "status", "task", "model", "data", "hyperparameters", "libraries",
                "platform", "history", "best_step", "best_metric", "zero_shot_metric",
                "train_seconds"):
        assert key in record, key
    assert record["task"]["spec_hash"] and len(record["data"]["train_sha256"]) == 64
    assert record["hyperparameters"]["learning_rate"] == 3e-3
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(record["history"])


def test_adapter_loads_in_plain_mlx_lm(tiny_setup, tmp_path):
    from mlx_lm import load
    from mlx_lm.tuner.lora import LoRALinear

    root, model_dir = tiny_setup
    run_dir = tmp_path / "run"
    train(load_task(root / "task.yaml"), ModelDir.open(model_dir), PreparedData.open(root / "data"),
          run_dir,
          TrainSettings(iters=4, batch_size=4, learning_rate=1e-2, dropout=0.25))
    adapter = run_dir / "adapters" / "best"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["lora_parameters"]["dropout"] == 0.25
    model, _ = load(str(model_dir), adapter_path=str(adapter))
    lora = [m for _, m in model.named_modules() if isinstance(m, LoRALinear)]
    assert lora and all(abs(m.dropout._p_1 - 0.75) < 1e-9 for m in lora)


class _FakeMonitor(TrainingMonitor):
    def __init__(self, values, run_dir, model, min_steps=0):
        self.values = iter(values)
        record = RunRecord("run", TaskRecord("task.yaml", "t", "classification", "h"),
                           ModelRecord("m"), DataRecord("d", "train.jsonl"), {})
        settings = ResolvedSettings(epochs=1, iters=100, rank=8, alpha=16,
                                    learning_rate=1e-3, batch_size=4, max_seq_length=512,
                                    layers=2, min_steps=min_steps, patience=2, seed=0,
                                    evals_per_epoch=1,
                                    val_limit=1, grad_checkpoint=False, balance=False,
                                    steps_per_epoch=10, steps_per_eval=10)

        class Counted:
            tokens_drawn = 0

        super().__init__(model, None, None, [], settings, Run.create(run_dir, record),
                         Counted(), lambda event: None)

    def evaluate_metric(self):
        value = next(self.values)
        return {"headline": value, "headline_name": "macro_f1", "invalid": 0}


def test_best_adapter_and_early_stopping(tiny_setup, tmp_path):
    import mlx.core as mx
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    _, model_dir = tiny_setup
    model, _ = load(str(model_dir))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 8, "scale": 2.0, "dropout": 0.0})
    monitor = _FakeMonitor([0.1, 0.5, 0.7, 0.6, 0.65], tmp_path, model)
    best_file = tmp_path / "adapters" / "best" / "adapters.safetensors"
    monitor.on_val_loss_report({"iteration": 0, "val_loss": 3.0})
    assert monitor.zero_shot == 0.1 and not best_file.exists()
    monitor.on_val_loss_report({"iteration": 10, "val_loss": 2.0})
    lora_b = next(k for k in mx.load(str(best_file)) if k.endswith("lora_b"))
    monitor.on_val_loss_report({"iteration": 20, "val_loss": 1.5})
    assert monitor.best == 0.7 and monitor.best_step == 20
    saved_at_best = mx.load(str(best_file))[lora_b]
    monitor.on_val_loss_report({"iteration": 30, "val_loss": 1.4})   # worse: 1 without gain
    assert monitor.best_step == 20
    with pytest.raises(EarlyStop):
        monitor.on_val_loss_report({"iteration": 40, "val_loss": 1.3})  # 2 without gain
    assert np.array_equal(np.array(mx.load(str(best_file))[lora_b]), np.array(saved_at_best))


def test_no_early_stop_before_min_steps(tiny_setup, tmp_path):
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    _, model_dir = tiny_setup
    model, _ = load(str(model_dir))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 8, "scale": 2.0, "dropout": 0.0})
    monitor = _FakeMonitor([0.1, 0.5, 0.4, 0.4, 0.4, 0.4], tmp_path, model, min_steps=50)
    for step in range(0, 50, 10):  # 3 evaluations without gain by step 40: patience is 2
        monitor.on_val_loss_report({"iteration": step, "val_loss": 1.0})
    with pytest.raises(EarlyStop):
        monitor.on_val_loss_report({"iteration": 50, "val_loss": 1.0})


def test_memory_refusal_gives_advice_and_writes_nothing(tiny_setup, tmp_path, monkeypatch):
    root, model_dir = tiny_setup
    monkeypatch.setenv("MLXMED_MEMORY_LIMIT_GB", "0.001")
    with pytest.raises(MlxmedError, match="only 0.0 GB is free; try a smaller --batch-size"):
        train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
              PreparedData.open(root / "data"), tmp_path / "run",
              TrainSettings(iters=2, batch_size=4))
    assert not (tmp_path / "run").exists()


def test_missing_data_folder_is_a_clear_error(tiny_setup, tmp_path):
    root, model_dir = tiny_setup
    with pytest.raises(MlxmedError, match="run `mlxmed data` first"):
        train(load_task(root / "task.yaml"), ModelDir.open(model_dir), PreparedData.open(tmp_path),
              tmp_path / "run")


def test_cli_train_prints_plain_progress_without_a_terminal(tiny_setup, tmp_path):
    root, model_dir = tiny_setup
    run_dir = tmp_path / "cli-run"
    result = subprocess.run(
        [sys.executable, "-m", "mlxmed", "train", str(root / "task.yaml"), "--model",
         str(model_dir), "--data", str(root / "data"), "--out", str(run_dir),
         "--train-file", str(root / "data" / "subsets" / "train_16.jsonl"), "--iters", "8",
         "--batch-size", "4", "--lr", "0.01", "--evals-per-epoch", "1", "--report-every", "2"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "zero-shot: val loss" in result.stdout
    for step in (2, 4, 6, 8):  # a report every 2 steps, as asked
        assert f"step {step}: train loss" in result.stdout
    assert "best validation metric" in result.stdout
    assert json.loads((run_dir / "run.json").read_text())["data"]["train_notes"] == 16


def test_curve_trains_each_size_scores_the_test_split_and_resumes(tiny_setup, tmp_path):
    from mlxmed.curve import run_curve

    root, model_dir = tiny_setup
    out = tmp_path / "curve"
    settings = TrainSettings(epochs=2, batch_size=4, learning_rate=3e-3)
    events: list[dict] = []
    curve = run_curve(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                      PreparedData.open(root / "data"), out, [0, 16], 1, settings,
                      events.append)
    assert [row["n"] for row in curve["rows"]] == [0, 16]
    test_notes = len(read_chats(root / "data" / "test.jsonl"))
    assert all(p["test_notes"] == test_notes for p in curve["points"])
    for name in ("curve.csv", "curve.json", "curve.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "curve.csv").read_text().splitlines()[0] == "n,mean,sd,runs,metric"
    # the classic baselines on the same 16 notes and test split ("pain" gives TF-IDF the answer)
    by_name = {b["name"]: b for b in curve["baselines"]}
    assert set(by_name) == {"majority", "tfidf_logreg"} and by_name["majority"]["n"] == 16
    assert by_name["tfidf_logreg"]["value"] > 0.9 > 0.5 > by_name["majority"]["value"]
    assert curve["rows"][1]["baselines"]["tfidf_logreg"] == by_name["tfidf_logreg"]["value"]
    # a second run reuses both finished points: nothing is trained or scored again
    again: list[dict] = []
    assert run_curve(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                     PreparedData.open(root / "data"), out, [0, 16], 1, settings,
                     again.append)["rows"] == curve["rows"]
    assert {e["type"] for e in again} == {"point_reused"}


@pytest.mark.parametrize("stop", ["raised", "lost"])
def test_an_interrupted_run_resumes_to_the_same_weights(tiny_setup, tmp_path, stop):
    """Ctrl-C raised at step 3, or asked for by a signal whose KeyboardInterrupt got lost (as
    in a finalizer): the run stops after step 3 either way."""
    import mlx.core as mx

    from mlxmed.stopping import clear_stop, request_stop

    root, model_dir = tiny_setup
    settings = TrainSettings(iters=8, batch_size=4, learning_rate=3e-3, evals_per_epoch=4,
                             patience=10)
    straight = train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                     PreparedData.open(root / "data"), tmp_path / "straight",
                     settings)
    assert straight.status == "finished"

    def stop_after_step_3(event):
        if event["type"] == "step" and event["step"] == 3:
            if stop == "raised":
                raise KeyboardInterrupt
            request_stop()  # the signal handler's record; its own KeyboardInterrupt lost

    run_dir = tmp_path / "interrupted"
    try:
        with pytest.raises(KeyboardInterrupt):
            train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                  PreparedData.open(root / "data"), run_dir, settings,
                  on_event=stop_after_step_3)
    finally:
        clear_stop()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and record["last_step"] == 3
    assert json.loads((run_dir / "adapters" / "last" / "state.json").read_text())["step"] == 3
    with pytest.raises(MlxmedError, match="--resume"):
        train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
              PreparedData.open(root / "data"), run_dir, settings)

    resumed = train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                    PreparedData.open(root / "data"), run_dir, resume=True)
    assert resumed.status == "finished"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["resumed_from_step"] == 3 and record["last_step"] == 8
    ours = mx.load(str(run_dir / "adapters" / "last" / "adapters.safetensors"))
    theirs = mx.load(str(tmp_path / "straight" / "adapters" / "last" / "adapters.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), atol=1e-5)
    with pytest.raises(MlxmedError, match="already finished"):
        train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
              PreparedData.open(root / "data"), run_dir, resume=True)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tiny_setup, tmp_path,
                                                                           monkeypatch):
    """A run killed after it wrote run.json but before any checkpoint (SIGKILL early in a
    run): --resume starts it over in the same folder and trains what a straight run does,
    from another working directory than the one the run was started in."""
    import mlx.core as mx

    root, model_dir = tiny_setup
    settings = TrainSettings(iters=4, batch_size=4, learning_rate=3e-3, evals_per_epoch=2,
                             patience=10)

    def run(out, **kwargs):
        return train(load_task(root / "task.yaml"), ModelDir.open(model_dir),
                     PreparedData.open(root / "data"), out, **kwargs)

    straight = run(tmp_path / "straight", settings=settings)

    def killed_at_start(event):
        if event["type"] == "start":
            raise KeyboardInterrupt  # leaves the folder as a kill there does: no checkpoint

    run_dir = tmp_path / "killed"
    monkeypatch.chdir(root)  # started with a relative training file
    with pytest.raises(KeyboardInterrupt):
        run(run_dir, settings=settings, on_event=killed_at_start,
            train_file=Path("data") / "train.jsonl")
    started = json.loads((run_dir / "run.json").read_text())
    assert started["status"] == "running"
    assert not (run_dir / "adapters" / "last" / "state.json").exists()
    for path in (started["data"]["train_file"], started["data"]["dir"], started["model"]["dir"],
                 started["task"]["file"]):
        assert Path(path).is_absolute() and Path(path).exists()

    monkeypatch.chdir(tmp_path)
    resumed = run(run_dir, resume=True)
    assert resumed.status == straight.status == "finished"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["last_step"] == 4 and not record.get("resumed_from_step")
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged == record["history"] and [e["step"] for e in logged] == \
        [e["step"] for e in straight.history]
    ours = mx.load(str(run_dir / "adapters" / "last" / "adapters.safetensors"))
    theirs = mx.load(str(tmp_path / "straight" / "adapters" / "last" / "adapters.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), atol=1e-5)


def test_balanced_epochs_give_each_label_a_square_root_share():
    from mlxmed.training.batches import epoch_order

    class Notes:
        answers = ["UNKNOWN"] * 90 + ["SMOKER"] * 10
        items = [([1] * (5 + i % 7), 3) for i in range(100)]

        def __len__(self):
            return 100

        def __getitem__(self, index):
            return self.items[index]

    rng = np.random.default_rng(0)
    plain = [i for batch in epoch_order(Notes(), 4, rng, balance=False) for i in batch]
    assert sorted(plain) == list(range(100))  # each note once
    drawn = [i for _ in range(20) for batch in epoch_order(Notes(), 4, rng, balance=True)
             for i in batch]
    share = sum(Notes.answers[i] == "SMOKER" for i in drawn) / len(drawn)
    print(f"share of the rare label: {share:.3f} balanced, 0.100 plain")
    expected = 10 ** 0.5 / (10 ** 0.5 + 90 ** 0.5)  # 0.25
    assert expected - 0.03 < share < expected + 0.03
    batches = epoch_order(Notes(), 4, rng, balance=True)
    assert len(batches) == 25 and all(len(b) == 4 for b in batches)


def test_learning_rate_warms_up_then_decays():
    import mlx.core as mx

    schedule = learning_rate_schedule(1e-3, 100)
    rates = [schedule(mx.array(step)).item() for step in range(101)]
    assert rates[0] == pytest.approx(1e-4)
    assert rates[10] == pytest.approx(1e-3)  # peak after a tenth of the steps
    assert all(a < b for a, b in zip(rates[:10], rates[1:11], strict=True))
    assert all(a >= b for a, b in zip(rates[10:-1], rates[11:], strict=True))
    assert rates[100] == pytest.approx(1e-4)  # a tenth of the peak at the end
    assert learning_rate_schedule(1e-3, 3)(mx.array(0)).item() > 0


def test_default_budget_never_shrinks_below_min_steps_and_a_chosen_one_is_kept(tiny_setup):
    from mlxmed.training.settings import EVALS_PER_RUN, resolve_settings

    root, model_dir = tiny_setup
    task, model = load_task(root / "task.yaml"), ModelDir.open(model_dir)
    small = resolve_settings(TrainSettings(), model, task, n_train=50)
    assert small.min_steps == 200 and small.iters == 200  # 3 epochs of 50 notes are 36 steps
    assert small.steps_per_eval == 200 // EVALS_PER_RUN
    large = resolve_settings(TrainSettings(), model, task, n_train=1000)
    assert large.iters == 3 * 250 and large.min_steps == 200  # the epochs are enough
    chosen = resolve_settings(TrainSettings(iters=30), model, task, n_train=50)
    assert chosen.iters == 30 and chosen.min_steps == 0  # the user's budget, early stop allowed
    by_epochs = resolve_settings(TrainSettings(epochs=1), model, task, n_train=50)
    assert by_epochs.iters == 12 and by_epochs.min_steps == 0
    floor = resolve_settings(TrainSettings(epochs=1, min_steps=40), model, task, n_train=50)
    assert floor.iters == 40 and floor.min_steps == 40  # a minimum given raises any budget
    raised = resolve_settings(TrainSettings(iters=30, min_steps=50), model, task, n_train=50)
    assert raised.iters == 50 and raised.min_steps == 50
    per_epoch = resolve_settings(TrainSettings(evals_per_epoch=2), model, task, n_train=50)
    assert per_epoch.steps_per_eval == 6
    assert small.dropout == 0.0  # mlx-lm's default, unless the catalogue or the user sets it
    assert resolve_settings(TrainSettings(dropout=0.1), model, task, n_train=50).dropout == 0.1


def test_validation_notes_default_by_task_kind_and_a_chosen_number_is_kept(tiny_setup):
    from mlxmed.training.settings import resolve_settings

    root, model_dir = tiny_setup
    model = ModelDir.open(model_dir)
    labels = load_task(root / "task.yaml")
    fields = load_task("examples/cardio_de/task.yaml")
    assert resolve_settings(TrainSettings(), model, labels, n_train=50).val_limit == 100
    # extraction reads each validation note with its gold answer fed in: one pass, like labels
    assert resolve_settings(TrainSettings(), model, fields, n_train=50).val_limit == 100
    assert resolve_settings(TrainSettings(val_limit=7), model, fields, n_train=50).val_limit == 7


class FakeGroup:
    """The two methods of an ``mx.distributed`` group that batching uses."""

    def __init__(self, rank: int, size: int) -> None:
        self._rank, self._size = rank, size

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size


def test_each_process_builds_its_stride_of_the_same_global_batches(tiny_setup):
    root, model_dir = tiny_setup
    chats = read_chats(root / "data" / "train.jsonl")
    dataset = TokenizedDataset(chats, ChatTokenizer(model_dir), 512)

    def rows(group, count=3):
        batches = iterate_batches(dataset, 4, 512, loop=True, seed=5, comm_group=group,
                                  balance=True)
        out = []
        for _ in range(count):
            tokens, lengths = (np.array(array) for array in next(batches)[:2])
            out.append(sorted(tuple(row[: int(length)])
                              for row, length in zip(tokens, lengths[:, 1], strict=True)))
        return out

    whole = rows(None)
    halves = [rows(FakeGroup(rank, 2)) for rank in (0, 1)]
    for step, batch in enumerate(whole):
        assert len(halves[0][step]) == len(halves[1][step]) == 2
        assert sorted(halves[0][step] + halves[1][step]) == batch
    with pytest.raises(MlxmedError, match="multiple of 3"):
        next(iterate_batches(dataset, 4, 512, comm_group=FakeGroup(0, 3)))
