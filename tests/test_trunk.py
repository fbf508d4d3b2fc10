"""The frozen trunk and the CPU kernels change the speed, not the numbers: losses, gradients
and label scores equal those of the whole model run with MLX's own kernels."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mlxmed.artifacts import read_chats
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.training.batches import TokenizedDataset, iterate_batches
from mlxmed.training.loss import answer_loss


def lora_model(model_dir, layers: int):
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(model_dir))
    model.freeze()
    linear_to_lora_layers(model, layers, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    return model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_trunk_loss_and_gradients_equal_the_whole_model(tiny_models, tiny_setup, arch):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from mlxmed.accel.trunk import FrozenTrunk

    root, _ = tiny_setup
    model_dir = tiny_models(arch, kind="hf")
    model = lora_model(model_dir, 1)
    trunk = FrozenTrunk(model, 1)
    assert trunk.split == len(model.model.layers) - 1 > 0
    dataset = TokenizedDataset(read_chats(root / "data" / "train.jsonl"),
                               ChatTokenizer(model_dir), 512)
    results = []
    for use_trunk in (False, True):
        batch = next(iterate_batches(dataset, 4, 512, seed=3,
                                     trunk=trunk if use_trunk else None))
        assert len(batch) == (6 if use_trunk else 5)
        loss = functools.partial(answer_loss, split=trunk.split if use_trunk else 0)
        (value, count), grad = nn.value_and_grad(model, loss)(model, *batch)
        results.append((value.item(), int(count.item()), dict(tree_flatten(grad))))
    (whole, count_whole, grads_whole), (split, count_split, grads_split) = results
    print(f"{arch}: loss whole model {whole:.6f}, top layers on the trunk {split:.6f}")
    assert count_whole == count_split
    assert abs(whole - split) < 1e-4
    largest = max(float(mx.abs(g).max()) for g in grads_whole.values())
    assert largest > 0
    for key, grad in grads_whole.items():
        assert float(mx.abs(grad - grads_split[key]).max()) <= 1e-4 * max(1.0, largest), key


def test_trunk_outputs_are_computed_once(tiny_setup):
    from mlxmed.accel.trunk import FrozenTrunk

    root, model_dir = tiny_setup
    model = lora_model(model_dir, 1)
    trunk = FrozenTrunk(model, 1)
    dataset = TokenizedDataset(read_chats(root / "data" / "train.jsonl"),
                               ChatTokenizer(model_dir), 512)
    batches = list(iterate_batches(dataset, 4, 512, seed=0, trunk=trunk))
    notes = {tuple(ids) for ids, _ in dataset.items}  # (the little data set repeats notes)
    stored, size = len(trunk.store.items), trunk.store.stored_bytes
    assert 4 * len(batches) >= len(notes) - 3
    assert stored == 1 + len(notes) - (len(dataset) - 4 * len(batches))  # prefix + each note
    list(iterate_batches(dataset, 4, 512, seed=1, trunk=trunk))
    assert (len(trunk.store.items), trunk.store.stored_bytes) == (stored, size)


def test_trunk_store_respects_its_budget(tiny_setup):
    from mlxmed.accel.trunk import FrozenTrunk, TrunkStore

    root, model_dir = tiny_setup
    model = lora_model(model_dir, 1)
    trunk = FrozenTrunk(model, 1, TrunkStore(budget_bytes=50_000))
    dataset = TokenizedDataset(read_chats(root / "data" / "train.jsonl"),
                               ChatTokenizer(model_dir), 512)
    batches = list(iterate_batches(dataset, 4, 512, seed=0, trunk=trunk))
    assert 0 < trunk.store.stored_bytes <= 50_000
    assert len(trunk.store.items) < 1 + 4 * len(batches)  # the rest is recomputed


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3"])
def test_trunk_label_scores_equal_the_whole_model(tiny_models, tiny_setup, arch):
    from mlxmed.accel.trunk import FrozenTrunk
    from mlxmed.inference.mlx_predictor import MlxPredictor
    from mlxmed.tasks import load_task

    root, _ = tiny_setup
    model_dir = tiny_models(arch, kind="hf")
    task = load_task(root / "task.yaml")
    model = lora_model(model_dir, 1)
    chat = ChatTokenizer(model_dir)
    chats = [m[:-1] for m in read_chats(root / "data" / "valid.jsonl")][:4]
    whole = MlxPredictor(task, model, chat)
    split = MlxPredictor(task, model, chat, trunk=FrozenTrunk(model, 1))
    for messages in chats:
        a, b = whole.predict(messages), split.predict(messages)
        assert a.value == b.value
        for label in task.label_names:
            assert abs(a.probabilities[label] - b.probabilities[label]) < 1e-4


def test_cpu_kernels_match_mlx():
    import mlx.core as mx
    import mlx.nn as nn

    from mlxmed.accel import cpu_kernels

    grid = mx.linspace(-30, 30, 2001)
    relative = mx.abs(cpu_kernels.fast_exp(grid) - mx.exp(grid)) / mx.exp(grid)
    assert float(relative.max()) < 1e-4
    near = mx.abs(grid) <= 10  # where the SiLU's sigmoid is not saturated
    assert float(mx.where(near, relative, 0).max()) < 2e-5
    gate = mx.random.normal((50, 64), key=mx.random.key(2)) * 4
    up = mx.random.normal((50, 64), key=mx.random.key(3))
    assert float(mx.abs(cpu_kernels.swiglu(gate, up) - nn.silu(gate) * up).max()) < 1e-5
    ours = mx.grad(lambda g, u: (cpu_kernels.swiglu(g, u) * u).sum(), argnums=[0, 1])(gate, up)
    theirs = mx.grad(lambda g, u: (nn.silu(g) * u * u).sum(), argnums=[0, 1])(gate, up)
    for a, b in zip(ours, theirs, strict=True):
        assert float(mx.abs(a - b).max()) < 1e-4


def test_training_end_to_end_is_the_same_with_and_without_the_speedups(tiny_setup, tmp_path,
                                                                       monkeypatch):
    """A 6-layer model with LoRA on the top 2: four frozen layers in the trunk, the fused CPU
    kernels on; the same run with both switched off ends with the same adapter."""
    import mlx.core as mx
    from factory import TinyConfig, write_hf_dir

    from mlxmed.accel import cpu_kernels
    from mlxmed.accel.trunk import TrunkStore
    from mlxmed.artifacts import PreparedData
    from mlxmed.models import hub
    from mlxmed.tasks import load_task
    from mlxmed.training import TrainSettings, train
    from mlxmed.training.loop import frozen_trunk
    from mlxmed.training.settings import resolve_settings

    root, _ = tiny_setup
    model_dir = hub.convert(str(write_hf_dir(tmp_path / "hf6", TinyConfig(layers=6))),
                            out=tmp_path / "six", dtype="float32")
    task, data = load_task(root / "task.yaml"), PreparedData.open(root / "data")
    settings = TrainSettings(iters=6, batch_size=4, layers=2, rank=4, alpha=8,
                             learning_rate=3e-3, evals_per_epoch=4, patience=10, val_limit=4)
    model = lora_model(model_dir.path, 2)
    trunk = frozen_trunk(model, resolve_settings(settings, model_dir, task, 64), TrunkStore())
    assert trunk is not None and trunk.split == 4
    with cpu_kernels.enabled(model) as switched_in:
        assert switched_in
    adapters, losses = [], []
    for speedups in ("1", "0"):
        monkeypatch.setenv("MLXMED_FROZEN_TRUNK", speedups)
        monkeypatch.setenv("MLXMED_FAST_KERNELS", speedups)
        result = train(task, model_dir, data, tmp_path / f"run{speedups}", settings)
        adapters.append(mx.load(str(result.run_dir / "adapters" / "last" /
                                    "adapters.safetensors")))
        losses.append([e["loss"] for e in result.history if e["type"] == "train"])
    print(f"train losses with the speed-ups {losses[0]}, without {losses[1]}")
    assert np.allclose(losses[0], losses[1], atol=1e-4)
    assert adapters[0].keys() == adapters[1].keys()
    for name in adapters[0]:
        assert float(mx.abs(adapters[0][name] - adapters[1][name]).max()) < 1e-4, name
