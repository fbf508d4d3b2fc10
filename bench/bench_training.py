"""Training speed: mlxmed against plain `mlx_lm.lora` and PyTorch + PEFT on the same chats and
steps with mlxmed's default recipe, each in a clean process; plus the matmul ceiling of the
work mlxmed's steps really do."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from bench_common import HERE, WARMUP_STEPS, clean_env, emit, last_json, run_child

from mlxmed import demo
from mlxmed.artifacts import ModelDir, read_chats
from mlxmed.data import run_data
from mlxmed.models.chat_tokenizer import ChatTokenizer
from mlxmed.platform import physical_cores
from mlxmed.training import TrainSettings, resolve_settings
from mlxmed.training.batches import TokenizedDataset, shared_prefix_length

NOTES = 50  # the learning-curve subset the recipe is timed on
TIMED_EPOCHS = 2  # every contender runs this many epochs: mlxmed's frozen trunk is cached after
# the first, so the second shows the speed of all later ones; the rest of the default recipe's
# steps are projected from the last epoch's seconds per step


def configurations():
    """(name, task): the smoking task as shipped (focus excerpts) and on whole notes."""
    task = demo.smoking_task()
    whole = replace(task, focus=None,
                    instruction=task.instruction.replace("the excerpt of a discharge summary",
                                                         "the discharge summary"))
    return [("focus", task), ("whole", whole)]


def gemm_gflops() -> float:
    """numpy float32 matrix multiply speed on this machine (best of a few)."""
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    best = float("inf")
    import time

    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 / best / 1e9


def step_plan(items: list[tuple[list[int], int]], batch: int, steps: int, seed: int = 0
              ) -> list[list[tuple[list[int], int]]]:
    """Every step's rows: notes sorted by length into fixed batches, the batches in a seeded
    random order each epoch, each note once per epoch (mlx-lm's own sampling)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    batches = [order[i: i + batch] for i in range(0, len(order) - batch + 1, batch)]
    rng = np.random.default_rng(seed)
    plan: list[list[tuple[list[int], int]]] = []
    while len(plan) < steps:
        for index in rng.permutation(len(batches)):
            plan.append([items[i] for i in batches[index]])
    return plan[:steps]


def step_flops(config: dict, rows: list[tuple[list[int], int]], shared: int, lora_layers: int,
               trunk_cached: bool) -> float:
    """Matmul FLOPs of one mlxmed step: the shared prompt start once, each row's own tokens,
    attention over everything before each query, backward through the LoRA layers (input
    gradients of the frozen weights; the adapters' own matmuls are negligible), and the
    output layer only at the answer positions. With the trunk cached, the layers below the
    adapters are not run at all."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    layers, vocab = config["num_hidden_layers"], config["vocab_size"]
    dense = 2 * (hidden * head_dim * (heads + 2 * kv_heads) + heads * head_dim * hidden
                 + 3 * hidden * inter)
    queries = shared + sum(len(ids) - shared for ids, _ in rows)
    attention = 4 * heads * head_dim * (shared * shared / 2 + sum(
        (len(ids) - shared) * (shared + (len(ids) - shared) / 2) for ids, _ in rows))
    per_layer = dense * queries + attention
    run_layers = lora_layers if trunk_cached else layers
    answers = sum(len(ids) - offset for ids, offset in rows)
    return per_layer * run_layers + 2 * per_layer * lora_layers + 4 * hidden * vocab * answers


def mlxmed_run(task_file: Path, model: ModelDir, data: Path, work: Path, name: str,
               options: list[str]) -> dict:
    run_dir = work / name
    command = [sys.executable, "-m", "mlxmed", "train", str(task_file), "--model",
               str(model.path), "--data", str(data), "--train-file",
               str(data / "subsets" / f"train_{NOTES}.jsonl"), "--out", str(run_dir), *options]
    wall, rss, _ = run_child(command)
    record = json.loads((run_dir / "run.json").read_text())
    reports = [e for e in record["history"] if e["type"] == "train"]
    return {"wall_seconds": wall, "peak_rss_gb": rss, "record": record, "reports": reports,
            "run_dir": str(run_dir)}


def by_epoch(step_seconds: list[tuple[int, float]], per_epoch: int, epochs: int
             ) -> list[float | None]:
    """Mean seconds per step in each epoch from (last step of a report, seconds per step)."""
    out: list[float | None] = []
    for epoch in range(epochs):
        values = [s for step, s in step_seconds if epoch * per_epoch < step <= (epoch + 1) *
                  per_epoch and step > WARMUP_STEPS]
        out.append(float(np.mean(values)) if values else None)
    return out


def mlx_lm_run(model: ModelDir, chats_file: Path, valid_file: Path, work: Path, recipe,
               steps: int) -> dict:
    folder = work / "mlx_lm_data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(chats_file.read_text())
    (folder / "valid.jsonl").write_text(
        "".join(valid_file.read_text().splitlines(keepends=True)[:4]))
    config = work / "mlx_lm.yaml"
    config.write_text(json.dumps({"lora_parameters": {
        "rank": recipe.rank, "scale": recipe.scale, "dropout": 0.0}}))
    args = ["--model", str(model.path), "--train", "--data", str(folder), "--iters",
            str(steps), "--batch-size", str(recipe.batch_size), "--num-layers",
            str(recipe.layers), "--learning-rate", str(recipe.learning_rate), "--mask-prompt",
            "--val-batches", "1", "--steps-per-eval", str(steps + 1), "--steps-per-report", "1",
            "--save-every", str(steps + 1), "--max-seq-length", "2048",
            "--adapter-path", str(work / "mlx_lm_adapter"), "-c", str(config)]
    # the threads every contender gets: one per physical core
    wall, rss, output = run_child([sys.executable, str(HERE / "mlx_lm_lora.py"), *args],
                                  env=clean_env({"OPENBLAS_NUM_THREADS":
                                                 str(physical_cores())}))
    reports = [json.loads(line.split(" ", 1)[1]) for line in output.splitlines()
               if line.startswith("MLX_LM_REPORT ")]
    seconds = [(int(r["iteration"]), 1 / r["iterations_per_second"]) for r in reports]
    return {"wall_seconds": wall, "peak_rss_gb": rss, "step_seconds": seconds}


def torch_run(model: ModelDir, plan: list, recipe, per_epoch: int, work: Path) -> dict:
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("peft") is None:
            return {"skipped": "PyTorch/PEFT not installed (pip install '.[bench]')"}
    except ValueError:
        return {"skipped": "PyTorch/PEFT not importable"}
    plan_file = work / "torch_plan.json"
    plan_file.write_text(json.dumps({
        "lora": {"rank": recipe.rank, "alpha": recipe.alpha, "layers": recipe.layers,
                 "learning_rate": recipe.learning_rate},
        "steps": plan, "warmup_steps": WARMUP_STEPS, "steps_per_epoch": per_epoch}))
    wall, rss, output = run_child([sys.executable, str(HERE / "torch_peft.py"), str(plan_file),
                                   str(model.path), str(physical_cores())],
                                  env=clean_env({"TOKENIZERS_PARALLELISM": "false"}))
    return {**last_json(output), "wall_seconds": wall, "peak_rss_gb": rss}


def projected_wall(wall: float, by_epoch: list[float | None], steps: int, total: int
                   ) -> float | None:
    """Wall seconds of ``total`` steps from a run of ``steps``: the measured wall plus the
    missing steps at the last measured epoch's seconds per step."""
    last = next((s for s in reversed(by_epoch or []) if s), None)
    return None if last is None else wall + max(0, total - steps) * last


def bench_configuration(name: str, task, model: ModelDir, work: Path,
                        smoke_steps: int | None = None, default_run: bool = True) -> dict:
    """One configuration. Every contender runs :data:`TIMED_EPOCHS` epochs of the same steps;
    with ``default_run`` mlxmed also trains with every default, timed from start to finish.
    With ``smoke_steps`` every contender runs only that many steps and the default-recipe run
    is left out (a check that the bench works, not a measurement)."""
    folder = work / name
    folder.mkdir(parents=True)
    task_file = folder / "task.yaml"
    task_file.write_text(json.dumps(task.to_dict(), ensure_ascii=False))
    task = replace(task, source=str(task_file))
    data = folder / "data"
    run_data(task, demo.SMOKING_NOTES, data, sizes=(NOTES,), model_dir=model)
    chats_file = data / "subsets" / f"train_{NOTES}.jsonl"
    recipe = resolve_settings(TrainSettings(), model, task, NOTES)
    per_epoch = recipe.steps_per_epoch
    steps = min(recipe.iters, TIMED_EPOCHS * per_epoch)
    if smoke_steps:
        steps = min(steps, max(smoke_steps, WARMUP_STEPS + 1))
    epochs = math.ceil(steps / per_epoch)
    chat = ChatTokenizer(model.path)
    items = TokenizedDataset(read_chats(chats_file), chat, 4096).items
    plan = step_plan(items, recipe.batch_size, steps)
    shared = [shared_prefix_length(rows) for rows in plan]
    all_tokens = sum(len(ids) for rows in plan for ids, _ in rows)
    computed = sum(s + sum(len(ids) - s for ids, _ in rows) for rows, s in zip(plan, shared,
                                                                                strict=True))

    # the same steps and sampling for all three: mlxmed with each note once per epoch
    fixed = mlxmed_run(task_file, model, data, folder, "mlxmed_fixed",
                       ["--iters", str(steps), "--no-balance", "--val-limit", "1",
                        "--patience", "1000", "--report-every", "1"])
    ours = [(r["step"], r["seconds_per_step"]) for r in fixed["reports"]
            if r.get("seconds_per_step")]
    plain = mlx_lm_run(model, chats_file, data / "valid.jsonl", folder, recipe, steps)
    torch = torch_run(model, plan, recipe, per_epoch, folder)
    # what a user waits for: the default recipe as `mlxmed train` runs it, validation included
    default = None if smoke_steps or not default_run else mlxmed_run(
        task_file, model, data, folder, "mlxmed_default", [])

    config = json.loads((model.path / "config.json").read_text())
    flops = [step_flops(config, rows, s, recipe.layers, trunk_cached=i >= per_epoch)
             for i, (rows, s) in enumerate(zip(plan, shared, strict=True))]
    gflops = gemm_gflops()
    ceiling = sum(flops[WARMUP_STEPS:]) / (gflops * 1e9) / (steps - WARMUP_STEPS)

    def mean_after_warmup(pairs):
        values = [s for step, s in pairs if step > WARMUP_STEPS]
        return float(np.mean(values)) if values else None

    ours_step, plain_step = mean_after_warmup(ours), mean_after_warmup(plain["step_seconds"])
    ours_epochs = by_epoch(ours, per_epoch, epochs)
    plain_epochs = by_epoch(plain["step_seconds"], per_epoch, epochs)
    # each contender's wall time to the default recipe's steps, projected from this run
    projected = {
        "mlxmed_no_validation": projected_wall(fixed["wall_seconds"], ours_epochs, steps,
                                               recipe.iters),
        "mlx_lm_lora": projected_wall(plain["wall_seconds"], plain_epochs, steps, recipe.iters),
    }
    if "seconds_per_step" in torch:
        projected["torch_peft"] = projected_wall(torch["wall_seconds"],
                                                 torch.get("seconds_per_step_by_epoch"), steps,
                                                 recipe.iters)
    result = {
        "notes": NOTES, "steps": steps, "steps_per_epoch": per_epoch, "smoke": bool(smoke_steps),
        "default_steps": recipe.iters, "projected_default_wall_seconds": projected,
        "recipe": {k: getattr(recipe, k) for k in ("rank", "alpha", "learning_rate", "layers",
                                                    "batch_size", "iters", "epochs")},
        "mean_chat_tokens": all_tokens / sum(len(rows) for rows in plan),
        "tokens_per_step_all": all_tokens / steps, "tokens_per_step_computed": computed / steps,
        "mlxmed": {"seconds_per_step": ours_step,
                   "seconds_per_step_by_epoch": ours_epochs,
                   "tokens_computed_per_second": computed / steps / ours_step,
                   "wall_seconds": fixed["wall_seconds"], "peak_rss_gb": fixed["peak_rss_gb"]},
        "mlx_lm_lora": {"seconds_per_step": plain_step,
                        "seconds_per_step_by_epoch": plain_epochs,
                        "tokens_computed_per_second": all_tokens / steps / plain_step,
                        "wall_seconds": plain["wall_seconds"],
                        "peak_rss_gb": plain["peak_rss_gb"]},
        "torch_peft": torch,
        "default_recipe_wall_seconds": default and default["wall_seconds"],
        "default_recipe_status": default and default["record"]["status"],
        "default_recipe_steps": default and default["record"]["last_step"],
        "default_run_dir": default and default["run_dir"],
        # the adapter extraction is measured with (the smoke run has only the fixed-step one)
        "trained_run_dir": (default or fixed)["run_dir"],
        "numpy_gemm_gflops": gflops, "matmul_ceiling_seconds_per_step": ceiling,
        "ratio_mlxmed_step_vs_ceiling": ours_step / ceiling,
    }
    # the default recipe's wall time: mlxmed's measured run (validation included) when there
    # is one, else its projection without validation; the others' projections
    ours_wall = default["wall_seconds"] if default else projected["mlxmed_no_validation"]
    result["default_wall_basis"] = "measured" if default else "projected"
    if "seconds_per_step" in torch:
        torch["tokens_computed_per_second"] = all_tokens / steps / torch["seconds_per_step"]
        result["ratio_step_mlxmed_vs_torch"] = ours_step / torch["seconds_per_step"]
        if ours_wall and projected["torch_peft"]:
            result["ratio_wall_default_vs_torch"] = ours_wall / projected["torch_peft"]
    result["ratio_step_mlxmed_vs_mlx_lm"] = ours_step / plain_step
    if ours_wall and projected["mlx_lm_lora"]:
        result["ratio_wall_default_vs_mlx_lm"] = ours_wall / projected["mlx_lm_lora"]
    return result


def bench_training(model: ModelDir, work: Path, smoke_steps: int | None = None) -> dict:
    results = {}
    for name, task in configurations():
        # the default recipe is run to the end on the task as shipped; on whole notes its
        # wall time is projected (a run of the full budget there takes most of an hour)
        results[name] = emit(f"training ({name})",
                             bench_configuration(name, task, model, work, smoke_steps,
                                                 default_run=name == "focus"))
    return results

