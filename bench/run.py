"""mlxmed benchmarks (`make bench`): training and extraction speed against what a user would
run instead, peak memory, export time and size, on the bundled SmolLM2-135M and the smoking
demo data. Every number that depends on the machine is reported next to a baseline measured in
the same run, as a ratio. Writes bench/results.json and bench/RESULTS.md.

    .venv/bin/python bench/run.py [--notes N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

import mlxmed
from mlxmed import demo
from mlxmed.tasks import load_task

HERE = Path(__file__).resolve().parent
TASK = demo.SMOKING_TASK
console = Console()
# the settings every training variant shares (fixed here, so each variant does the same work)
TRAIN = {"layers": 4, "rank": 16, "alpha": 32, "lr": 1e-3, "batch_size": 4}


def emit(name: str, result: dict) -> dict:
    """Print one benchmark's JSON line and a table of it."""
    print(json.dumps({"bench": name, **result}))
    table = Table(title=name)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, (dict, list)):
            table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
    return result


def run_child(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; (wall seconds, peak RSS in GB of that process, its stdout).

    The peak is the child's own ``VmHWM``, sampled while it runs: the kernel's ``ru_maxrss``
    would also count the pages the child inherited from this (larger) process at fork time.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, **(env or {})})
    peak = [0]

    def sample() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                lines = status.read_text().splitlines()
            except OSError:
                break
            for line in lines:
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read()
    process.wait()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed:\n{output[-2000:]}")
    return time.perf_counter() - started, peak[0] / 1024**2, output


# ----- 1. training --------------------------------------------------------------------------
def gemm_gflops() -> float:
    """numpy float32 matrix multiply speed on this machine (best of a few)."""
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 / best / 1e9


def lora_flops_per_token(model_dir: Path, layers: int) -> float:
    """Matrix FLOPs per trained token: a forward pass through every layer plus the backward
    pass (input gradients) through the LoRA layers; the output layer is counted once."""
    config = json.loads((model_dir / "config.json").read_text())
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    heads, kv = config["num_attention_heads"], config.get("num_key_value_heads")
    head_dim = hidden // heads
    per_layer = 2 * (hidden * hidden * 2 + hidden * (kv or heads) * head_dim * 2
                     + 3 * hidden * inter)
    n = config["num_hidden_layers"]
    return per_layer * n + 2 * per_layer * min(layers, n)


def mlxmed_train_speed(model_dir: Path, data_dir: Path, work: Path, name: str,
                       env: dict) -> dict:
    run_dir = work / name
    command = [sys.executable, "-m", "mlxmed", "train", str(TASK), "--model", str(model_dir),
               "--data", str(data_dir), "--train-file",
               str(data_dir / "subsets" / "train_25.jsonl"), "--epochs", "2",
               "--layers", str(TRAIN["layers"]), "--rank", str(TRAIN["rank"]),
               "--alpha", str(TRAIN["alpha"]), "--lr", str(TRAIN["lr"]),
               "--batch-size", str(TRAIN["batch_size"]), "--val-limit", "1",
               "--evals-per-epoch", "1", "--patience", "10", "--out", str(run_dir)]
    wall, rss, _ = run_child(command, env)
    entries = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    speeds = [e["tokens_per_second"] for e in entries if e["type"] == "train"]
    per_step = [e["seconds_per_step"] for e in entries if e.get("seconds_per_step")]
    record = json.loads((run_dir / "run.json").read_text())
    steps = record["hyperparameters"]["iters"]
    return {"tokens_per_second": float(np.mean(speeds)), "wall_seconds": wall,
            "seconds_per_step": float(np.mean(per_step)) if per_step else None,
            "seconds_per_epoch": record["train_seconds"] / record["hyperparameters"]["epochs"],
            "steps": steps, "peak_rss_gb": rss, "run_dir": str(run_dir)}


def mlx_lm_lora_speed(model_dir: Path, data_dir: Path, work: Path) -> dict:
    """Plain `mlx_lm.lora` on the same notes and settings (OpenBLAS loaded first, as mlxmed
    does: without it MLX's CPU matmuls are far slower still)."""
    folder = work / "mlx_lm_data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text((data_dir / "subsets" / "train_25.jsonl").read_text())
    (folder / "valid.jsonl").write_text(
        "".join((data_dir / "valid.jsonl").read_text().splitlines(keepends=True)[:4]))
    config = work / "mlx_lm.yaml"
    config.write_text(json.dumps({"lora_parameters": {
        "rank": TRAIN["rank"], "scale": TRAIN["alpha"] / TRAIN["rank"], "dropout": 0.0}}))
    # one epoch: its steps cost the same in every epoch (nothing is cached between them), and
    # the comparison is per step
    steps = 25 // TRAIN["batch_size"]
    args = ["--model", str(model_dir), "--train", "--data", str(folder), "--iters", str(steps),
            "--batch-size", str(TRAIN["batch_size"]), "--num-layers", str(TRAIN["layers"]),
            "--learning-rate", str(TRAIN["lr"]), "--mask-prompt", "--val-batches", "1",
            "--steps-per-eval", str(steps + 1), "--steps-per-report", "3",
            "--max-seq-length", "1024", "--adapter-path", str(work / "mlx_lm_adapter"),
            "-c", str(config)]
    wall, rss, output = run_child([sys.executable, str(HERE / "mlx_lm_lora.py"), *args])
    # mlx-lm counts only the unmasked (answer) tokens, so compare time per step instead
    rates = [json.loads(line.split(" ", 1)[1])["iterations_per_second"]
             for line in output.splitlines() if line.startswith("MLX_LM_REPORT ")]
    return {"seconds_per_step": float(np.mean([1 / r for r in rates])) if rates else None,
            "wall_seconds": wall, "steps": steps, "peak_rss_gb": rss}


def torch_peft_speed(model_dir: Path, data_dir: Path) -> dict:
    """PyTorch + PEFT LoRA on the same notes (CPU), if the `bench` extra is installed."""
    try:
        import peft
        import torch
        import transformers
    except ImportError:
        return {"skipped": "PyTorch/PEFT not installed (pip install '.[bench]')"}
    from mlxmed.artifacts import read_chats
    from mlxmed.models.chat_tokenizer import ChatTokenizer
    from mlxmed.training.batches import TokenizedDataset

    torch.set_num_threads(mlxmed.platform.physical_cores())
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir),
                                                              torch_dtype=torch.float32)
    layers = model.config.num_hidden_layers
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=TRAIN["rank"], lora_alpha=TRAIN["alpha"], lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
        layers_to_transform=list(range(layers - TRAIN["layers"], layers))))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                 lr=TRAIN["lr"])
    items = TokenizedDataset(read_chats(data_dir / "subsets" / "train_25.jsonl"),
                             ChatTokenizer(model_dir), 1024).items
    items.sort(key=lambda item: len(item[0]))
    tokens = 0
    start = time.perf_counter()
    # one epoch: every epoch costs the same here
    for i in range(0, len(items) - TRAIN["batch_size"] + 1, TRAIN["batch_size"]):
        batch = items[i: i + TRAIN["batch_size"]]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (seq, offset) in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, offset: len(seq)] = torch.tensor(seq[offset:])
            tokens += len(seq)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return {"tokens_per_second": tokens / seconds, "seconds_per_epoch": seconds,
            "torch": torch.__version__}


def add_ratios(levers: dict, plain: dict) -> None:
    """Speed of each variant against plain mlx_lm.lora: the ratio of seconds per training
    step when both are known, else of wall time for the same steps (loading and evaluations
    included on both sides)."""
    for lever in levers.values():
        if plain.get("seconds_per_step") and lever.get("seconds_per_step"):
            lever["ratio_vs_mlx_lm_lora"] = plain["seconds_per_step"] / lever["seconds_per_step"]
            lever["ratio_basis"] = "seconds per step"
        else:
            lever["ratio_vs_mlx_lm_lora"] = plain["wall_seconds"] / lever["wall_seconds"]
            lever["ratio_basis"] = "wall time"


def bench_training(model_dir: Path, data_dir: Path, work: Path) -> dict:
    plain = mlx_lm_lora_speed(model_dir, data_dir, work)
    variants = {
        "mlxmed, MLX kernels, whole model": {"MLXMED_BUFFER_CACHE": "0",
                                             "MLXMED_FAST_KERNELS": "0",
                                             "MLXMED_FROZEN_TRUNK": "0"},
        "+ freed buffers reused": {"MLXMED_FAST_KERNELS": "0", "MLXMED_FROZEN_TRUNK": "0"},
        "+ fused softmax/SwiGLU": {"MLXMED_FROZEN_TRUNK": "0"},
        "+ frozen trunk (default)": {},
    }
    levers = {}
    for index, (name, env) in enumerate(variants.items()):
        levers[name] = mlxmed_train_speed(model_dir, data_dir, work, f"train{index}", env)
    add_ratios(levers, plain)
    ours = levers["+ frozen trunk (default)"]
    gflops = gemm_gflops()
    ceiling = gflops * 1e9 / lora_flops_per_token(model_dir, TRAIN["layers"])
    result = {"notes": 25, "epochs": 2, **{f"setting_{k}": v for k, v in TRAIN.items()},
              "mlxmed_tokens_per_second": ours["tokens_per_second"],
              "ratio_mlxmed_vs_mlx_lm_lora": ours["ratio_vs_mlx_lm_lora"],
              "numpy_gemm_gflops": gflops, "matmul_ceiling_tokens_per_second": ceiling,
              "ratio_mlxmed_vs_matmul_ceiling": ours["tokens_per_second"] / ceiling,
              "levers": levers, "mlx_lm_lora": plain}
    torch_result = torch_peft_speed(model_dir, data_dir)
    result["torch_peft"] = torch_result
    if "tokens_per_second" in torch_result:
        result["ratio_mlxmed_vs_torch_peft"] = (ours["tokens_per_second"]
                                                / torch_result["tokens_per_second"])
    return emit("training", result)


# ----- 2. extraction ------------------------------------------------------------------------
def note_messages(task, text: str) -> list[dict[str, str]]:
    """The chat `extract` builds for a note (with the task's focus, its excerpt): every
    contender reads the same prompt."""
    return task.messages(task.note_text(text))


def naive_loop(task, gguf: Path, notes: list[dict]) -> tuple[float, list[str]]:
    """What a user would write: create_chat_completion per note, grammar-constrained."""
    from llama_cpp import LlamaGrammar

    from mlxmed.inference.llama_runtime import open_gguf

    llm = open_gguf(gguf, n_ctx=task.max_seq_length + 256)
    grammar = LlamaGrammar.from_string(task.grammar(), verbose=False)
    answers = []
    start = time.perf_counter()
    for note in notes:
        reply = llm.create_chat_completion(note_messages(task, note["text"]), grammar=grammar,
                                           temperature=0.0, max_tokens=16)
        answers.append(reply["choices"][0]["message"]["content"].strip())
    return time.perf_counter() - start, answers


def engine_ceiling(task, gguf: Path, notes: list[dict]) -> dict:
    """Seconds llama.cpp itself needs for the notes' own tokens (the shared instruction taken
    as free) plus the answers' tokens, from its raw prefill and decode speeds; in total and
    per note."""
    from mlxmed.inference.labels import common_prefix
    from mlxmed.inference.llama_runtime import open_gguf
    from mlxmed.models.chat_tokenizer import LlamaChatTokenizer

    llm = open_gguf(gguf, n_ctx=task.max_seq_length + 256)
    chat = LlamaChatTokenizer(llm, gguf)
    empty = chat.prompt_ids(task.messages(""))
    lengths, answers = [], []
    for note in notes:
        messages = note_messages(task, note["text"])
        prompt = chat.prompt_ids(messages)
        lengths.append(len(prompt) - common_prefix(empty, prompt))
        answers.append(len(chat.answer_ids(messages, note["label"])))
    sample = [(i * 7919) % 40000 + 100 for i in range(int(np.median(lengths)) + 32)]
    prefill = decode = float("inf")
    for _ in range(3):
        llm.reset()
        start = time.perf_counter()
        llm.eval(sample[:-32])
        middle = time.perf_counter()
        for token in sample[-32:]:
            llm.eval([token])
        prefill = min(prefill, middle - start)
        decode = min(decode, time.perf_counter() - middle)
    prefill_speed, decode_speed = (len(sample) - 32) / prefill, 32 / decode
    seconds = [n / prefill_speed + a / decode_speed for n, a in zip(lengths, answers, strict=True)]
    return {"prefill_tokens_per_second": prefill_speed, "decode_tokens_per_second": decode_speed,
            "note_tokens": sum(lengths), "answer_tokens": sum(answers), "seconds": sum(seconds),
            "seconds_per_note": seconds}


def bench_extraction(model_dir: Path, data_dir: Path, work: Path, count: int) -> dict:
    from mlxmed.artifacts import ModelDir
    from mlxmed.export import base_gguf
    from mlxmed.extract import iter_rows
    from mlxmed.inference.llama_runtime import quantize_gguf

    task = load_task(TASK)
    gguf = work / "base-q8_0.gguf"
    f16 = base_gguf(ModelDir(model_dir), work / "base-f16.gguf")
    quantize_gguf(f16, gguf, "Q8_0")
    records = [json.loads(line) for line in
               (data_dir / "records" / "test.jsonl").read_text().splitlines()][: count or None]
    notes = [{"id": r["id"], "text": r["text"], "label": r["gold"]} for r in records]
    notes_file = work / "test-notes.jsonl"
    notes_file.write_text("".join(json.dumps({task.id_field: n["id"], task.text_field: n["text"]})
                                  + "\n" for n in notes))
    out = work / "extract.csv"
    command = [sys.executable, "-m", "mlxmed", "extract", str(TASK), str(notes_file), "--model",
               str(gguf), "--out", str(out)]
    wall, rss, _ = run_child(command)
    rows = list(iter_rows(out))
    ours = [row["label"] for row in rows]
    note_seconds = [float(row["ms"]) / 1000 for row in rows]
    seconds = sum(note_seconds)
    naive_seconds, naive = naive_loop(task, gguf, notes)
    ceiling = engine_ceiling(task, gguf, notes)
    same = sum(a == b for a, b in zip(ours, naive, strict=True))
    # the first note also fills the cache of the shared instruction, once per run; the ceiling
    # takes that prefix as free, so the like-for-like comparison starts at the second note
    steady = sum(note_seconds[1:])
    return emit("extraction", {
        "notes": len(notes), "mlxmed_seconds": seconds, "mlxmed_wall_seconds": wall,
        "mlxmed_notes_per_second": len(notes) / seconds,
        "mlxmed_first_note_seconds": note_seconds[0],
        "naive_loop_seconds": naive_seconds, "ceiling_seconds": ceiling["seconds"],
        "ratio_mlxmed_vs_naive_speed": naive_seconds / seconds,
        "fraction_of_ceiling": sum(ceiling["seconds_per_note"][1:]) / steady,
        "fraction_of_ceiling_with_first_note": ceiling["seconds"] / seconds,
        "same_predictions_as_naive": same / len(notes), "peak_rss_gb": rss,
        "ceiling": ceiling})


# ----- 3 and 4. memory, export --------------------------------------------------------------
def bench_export(run_dir: Path, work: Path) -> dict:
    from mlxmed.artifacts import Run
    from mlxmed.export import export_run

    rows = {}
    for quant in ("F16", "Q8_0", "Q5_K_M", "Q4_K_M"):
        start = time.perf_counter()
        result = export_run(Run.open(run_dir), quant, out=work / f"model-{quant}.gguf",
                            verify=False)
        rows[quant] = {"seconds": time.perf_counter() - start,
                       "size_mb": result.path.stat().st_size / 1e6}
    f16 = rows["F16"]
    for row in rows.values():
        row["time_ratio_vs_f16"] = row["seconds"] / f16["seconds"]
        row["size_ratio_vs_f16"] = row["size_mb"] / f16["size_mb"]
    return emit("export", {"quantizations": rows, **{
        f"{q}_size_mb": r["size_mb"] for q, r in rows.items()}})


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": mlxmed.platform.physical_cores(),
            "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "mlxmed": mlxmed.__version__}


def write_markdown(results: dict, path: Path) -> None:
    m, t, e, x = (results["machine"], results["training"], results["extraction"],
                  results["export"])
    lines = [
        "# Benchmark results", "",
        f"Written by `make bench` on {results['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['ram_gb']} GB RAM, {m['system']}. Ratios compare runs made in the same session.",
        "", "## Training (bundled SmolLM2-135M, 25 smoking notes, LoRA on the last "
        f"{t['setting_layers']} layers)", "",
        "mlxmed runs 2 epochs (its frozen trunk pays off from the second); plain `mlx_lm.lora` "
        "and PyTorch run 1, since nothing carries over between their epochs. Speed ratios "
        "are per training step.", "",
        "| variant | tokens/s | speed × mlx_lm.lora | wall s | peak RSS GB |",
        "|---|---|---|---|---|",
        f"| plain `mlx_lm.lora` | – | 1.00 | {t['mlx_lm_lora']['wall_seconds']:.0f} | "
        f"{t['mlx_lm_lora']['peak_rss_gb']:.2f} |"]
    for name, lever in t["levers"].items():
        lines.append(f"| {name} | {lever['tokens_per_second']:.0f} | "
                     f"{lever['ratio_vs_mlx_lm_lora']:.2f} ({lever['ratio_basis']}) | "
                     f"{lever['wall_seconds']:.0f} | {lever['peak_rss_gb']:.2f} |")
    torch_line = (f"PyTorch + PEFT (transformers' standard loss, the same LoRA layers, "
                  f"{m['cores']} threads): {t['torch_peft']['tokens_per_second']:.0f} "
                  f"tokens/s; mlxmed at {t['ratio_mlxmed_vs_torch_peft']:.2f}× of it."
                  if "ratio_mlxmed_vs_torch_peft" in t else
                  f"PyTorch + PEFT: {t['torch_peft'].get('skipped', 'not measured')}.")
    lines += ["", torch_line,
              f"Matmul ceiling: numpy f32 GEMM {t['numpy_gemm_gflops']:.0f} GFLOP/s ÷ LoRA "
              f"FLOPs per token = {t['matmul_ceiling_tokens_per_second']:.0f} tokens/s; mlxmed "
              f"reaches {t['ratio_mlxmed_vs_matmul_ceiling']:.2f}× of it (above 1 is possible: "
              "the frozen trunk skips most of the per-token work after the first epoch).", "",
              f"## Extraction ({e['notes']} demo test notes, bundled model as Q8_0)", "",
              "| | seconds | notes/s |", "|---|---|---|",
              f"| `mlxmed extract` | {e['mlxmed_seconds']:.1f} | "
              f"{e['mlxmed_notes_per_second']:.2f} |",
              f"| naive `create_chat_completion` loop | {e['naive_loop_seconds']:.1f} | "
              f"{e['notes'] / e['naive_loop_seconds']:.2f} |",
              f"| engine ceiling (note + answer tokens only) | {e['ceiling_seconds']:.1f} | "
              f"{e['notes'] / e['ceiling_seconds']:.2f} |", "",
              f"mlxmed is {e['ratio_mlxmed_vs_naive_speed']:.2f}× the naive loop; "
              f"{e['same_predictions_as_naive']:.0%} of its labels equal the naive loop's. "
              f"From the second note on it reaches {e['fraction_of_ceiling']:.0%} of the "
              "ceiling. The first note also fills the cache of the shared instruction (once "
              f"per run, {e['mlxmed_first_note_seconds']:.1f} s here), which the ceiling takes "
              f"as free: counting it, {e['fraction_of_ceiling_with_first_note']:.0%} on these "
              f"{e['notes']} notes, approaching the first figure on longer runs. "
              f"Peak RSS of extract: {e['peak_rss_gb']:.2f} GB.", "",
              "## Export (from the trained run above)", "",
              "| quantization | seconds | × F16 time | MB | × F16 size |", "|---|---|---|---|---|"]
    for quant, row in x["quantizations"].items():
        lines.append(f"| {quant} | {row['seconds']:.1f} | {row['time_ratio_vs_f16']:.2f} | "
                     f"{row['size_mb']:.0f} | {row['size_ratio_vs_f16']:.2f} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=0,
                        help="test notes for extraction (default: the whole demo test split)")
    options = parser.parse_args()
    model = demo.ensure_bundled_model()
    model_dir, data_dir = model.path, demo.prepare_smoking_data(model).path
    with tempfile.TemporaryDirectory(prefix="mlxmed-bench-") as tmp:
        work = Path(tmp)
        results = {"date": time.strftime("%Y-%m-%d"), "machine": emit("machine", machine())}
        results["training"] = bench_training(model_dir, data_dir, work)
        run_dir = Path(results["training"]["levers"]["+ frozen trunk (default)"]["run_dir"])
        results["extraction"] = bench_extraction(model_dir, data_dir, work, options.notes)
        results["export"] = bench_export(run_dir, work)
    results["memory"] = emit("memory", {
        "train_peak_rss_gb": results["training"]["levers"]["+ frozen trunk (default)"][
            "peak_rss_gb"],
        "extract_peak_rss_gb": results["extraction"]["peak_rss_gb"]})
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, HERE / "RESULTS.md")
    console.print(f"Wrote {HERE / 'results.json'} and {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
