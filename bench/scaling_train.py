"""Training step time with 1 and 2 processes (mx.distributed, MLX's launcher) on one machine.

Each contender is `mlxmed train` in its own fresh process tree on the same chat file, the same
global batch, steps and LoRA settings: one process with all the machine's BLAS threads, then
two ranks of the `ring` backend on 127.0.0.1 with the threads split between them. Seconds per
optimizer step are read from each run's own reports (evaluation time excluded) after the first
report, which holds the compilation; the seconds of each validation-metric evaluation (40
notes, split over the processes) come from the same reports. A third run, one process with
one rank's share of the threads, gives what the metric would cost computed on rank 0 alone
(the other choice for a distributed run), so the split is measured against it.

    python bench/scaling_train.py TASK DATA --model MODEL_DIR \\
        --train-file DATA/subsets/train_200.jsonl

Writes bench/scaling_train.json and prints a table; the ratio is two processes' seconds per
step over one process's, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import HERE, clean_env

STEPS = 30


def train_command(args, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "mlxmed", "train", args.task, "--model", args.model,
            "--data", args.data, "--train-file", args.train_file, "--out", str(out),
            "--iters", str(STEPS), "--layers", str(args.layers), "--val-limit", "40",
            "--evals-per-epoch", "1", "--patience", "100", *extra]


def reports(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def contender(args, name: str, work: Path, extra: list[str], env: dict[str, str]) -> dict:
    out = work / name
    started = time.perf_counter()
    done = subprocess.run(train_command(args, out, extra), env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    logged = reports(out)
    per_step = [r["seconds_per_step"] for r in logged if r["type"] == "train"][1:]
    metric = [r["metric_seconds"] for r in logged if r["type"] == "eval"]
    return {"name": name, "seconds_per_step": sum(per_step) / len(per_step),
            "reports": per_step, "metric_seconds": metric, "wall_seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--train-file", required=True)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--out", default=str(HERE / "scaling_train.json"))
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hosts = work / "hosts.json"
        per_rank = max(1, cores // 2)
        hosts.write_text(json.dumps({"backend": "ring",
                                     "envs": [f"OPENBLAS_NUM_THREADS={per_rank}"],
                                     "hosts": [{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]}] * 2}))
        one = contender(args, "1 process", work, [],
                        clean_env({"OPENBLAS_NUM_THREADS": str(cores)}))
        # what rank 0 alone would spend on the validation metric with one rank's threads
        alone = contender(args, f"1 process, {per_rank} thread(s)", work, [],
                          clean_env({"OPENBLAS_NUM_THREADS": str(per_rank)}))
        two = contender(args, "2 processes", work, ["--hosts", str(hosts)], clean_env())
    result = {"task": args.task, "train_file": args.train_file, "layers": args.layers,
              "steps": STEPS, "batch_size": "catalogue default", "cores": cores,
              "contenders": [one, alone, two],
              "ratio_two_over_one": two["seconds_per_step"] / one["seconds_per_step"],
              "metric_split_over_rank0_alone": two["metric_seconds"][-1]
              / alone["metric_seconds"][-1]}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| contender | s/step | validation metric, s (40 notes) | wall s |\n|---|---|---|---|")
    for c in (one, alone, two):
        print(f"| {c['name']} | {c['seconds_per_step']:.2f} | "
              f"{', '.join(f'{s:.1f}' for s in c['metric_seconds'])} | {c['wall_seconds']} |")
    print(f"two processes / one: {result['ratio_two_over_one']:.2f}x the seconds per step")
    print("validation metric split over the 2 processes / on one of them alone: "
          f"{result['metric_split_over_rank0_alone']:.2f}x the seconds")


if __name__ == "__main__":
    main()
