"""mlxmed benchmarks (`make bench`): training and extraction speed against what a user would
run instead, measured fairly, on the bundled SmolLM2-135M and the smoking demo data.

Fair means: every contender (mlxmed, plain `mlx_lm.lora`, PyTorch + PEFT) runs in a fresh
process of its own that imports nothing of the others, on the same chats, for the same optimizer
steps, with the same batch size, LoRA rank, scale and layers (mlxmed's default recipe) and the
same sampling (each note once per epoch); the first steps are warm-up for everyone. Reported:
seconds per step per epoch, tokens per second counted as tokens really computed, the wall time to
a trained model with the default recipe (what a user waits for), and ratios between contenders
measured in this run. Two configurations: the smoking task as shipped (focus excerpts) and on
whole notes (~700-token chats). Writes bench/results.json and bench/RESULTS.md.

    .venv/bin/python bench/run.py [--notes N] [--only training|extraction] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from bench_common import HERE, WARMUP_STEPS, emit
from bench_extraction import bench_extraction, cardio_bench
from bench_training import bench_training

import mlxmed
from mlxmed import demo

FORMAT = 2  # the layout of results.json this bench writes


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": mlxmed.platform.physical_cores(),
            "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "mlxmed": mlxmed.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=0,
                        help="test notes for extraction (default: the whole demo test split)")
    parser.add_argument("--only", choices=["training", "extraction", "cardio"], default=None,
                        help="one part (cardio: the cardiology extraction alone); the other "
                        "parts' figures are kept from the last run")
    parser.add_argument("--steps", type=int, default=None,
                        help="a quick check that the bench runs: every training contender "
                        "runs this many steps, no default-recipe run; writes bench/smoke.json "
                        "and bench/SMOKE.md instead of the results")
    options = parser.parse_args()
    model = demo.ensure_bundled_model()
    results = {"format": FORMAT, "smoke_steps": options.steps, "date": time.strftime("%Y-%m-%d"),
               "machine": emit("machine", machine()),
               "warmup_steps": WARMUP_STEPS}
    previous = HERE / ("smoke.json" if options.steps else "results.json")
    report = HERE / ("SMOKE.md" if options.steps else "RESULTS.md")
    if options.only and previous.is_file():
        earlier = json.loads(previous.read_text())
        if earlier.get("format") == FORMAT:  # a run of an older bench is not mixed in
            results = {**earlier, **results,
                       "reruns": [*earlier.get("reruns", []), options.only]}
    with tempfile.TemporaryDirectory(prefix="mlxmed-bench-") as tmp:
        work = Path(tmp)
        if options.only in (None, "training"):
            results["training"] = bench_training(model, work, options.steps)
            previous.write_text(json.dumps(results, indent=2) + "\n")  # kept if a later part fails
        if options.only in (None, "extraction"):
            trained = results.get("training", {}).get("focus", {}).get("trained_run_dir")
            if trained and not Path(trained).is_dir():
                trained = None
            results["extraction"] = bench_extraction(model, work, options.notes, trained)
        if options.only == "cardio":
            results["extraction"] = {**results.get("extraction", {}),
                                     "cardio": cardio_bench(model, work)}
    previous.write_text(json.dumps(results, indent=2) + "\n")
    from bench_report import write_markdown

    write_markdown(results, report)
    print(f"Wrote {previous} and {report}")


if __name__ == "__main__":
    main()
