"""Extraction notes per second, local against Ray workers, and 1 million notes on paper.

Local extraction with 2 threads against Ray with 1 and 2 workers (1 thread each) on this
machine, and from the measured cost per note a paper estimate of 1 million notes on N
machines.

Each contender is `run_extract` in its own fresh process on the same notes (by default the
first notes of the smoking demo's test split, with the bundled model's GGUF); a Ray contender
starts its own private Ray. Two rates are reported for each: over the whole run (from the
first note given out to the last row written, so Ray's worker start and model loading count)
and steady (from the first row to the last, the rate a long run approaches). Ratios are
against the local run measured in the same invocation.

    python bench/scaling_extract.py [--notes 100] [--task TASK --input NOTES --model GGUF]

Writes bench/scaling_extract.json and prints a table. Run it on an otherwise idle machine.
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

from bench_common import HERE, ROOT, clean_env

CONTENDERS = {  # name: (engine, workers, threads per worker)
    "local, 2 threads": ("local", None, 2),
    "ray, 1 worker x 1 thread": ("ray", 1, 1),
    "ray, 2 workers x 1 thread": ("ray", 2, 1),
}
TARGET_NOTES = 1_000_000
MACHINES = (1, 10, 50, 100)
SMOKING_TASK = ROOT / "examples" / "smoking" / "task.yaml"


def demo_test_notes(count: int, folder: Path) -> Path:
    """The first ``count`` notes of the smoking demo's test split, as `mlxmed data` splits
    them (with their gold label, which extraction does not read)."""
    from mlxmed import demo
    from mlxmed.artifacts import PreparedData
    from mlxmed.data import run_data
    from mlxmed.tasks import load_task

    run_data(load_task(SMOKING_TASK), demo.SMOKING_NOTES, folder / "data", sizes=())
    return demo.write_test_notes(PreparedData.open(folder / "data"), folder / "notes.jsonl",
                                 count)


def bundled_model() -> str:
    from mlxmed.models.catalogue import get_entry
    from mlxmed.models.hub import bundled_gguf_path

    return str(bundled_gguf_path(get_entry("smollm2-135m-bundled")))


def child(args: argparse.Namespace) -> None:
    """One contender, in this (fresh) process: prints one JSON line of its timings."""
    begun = time.perf_counter()
    from mlxmed.extract import run_extract
    from mlxmed.tasks import load_task

    kind, workers, threads = CONTENDERS[args.child]
    engine = None
    if kind == "ray":
        from mlxmed.extract.ray_engine import RayEngine

        engine = RayEngine(workers=workers)
    times: dict[str, list[float]] = {"start": [], "row": []}

    def on_event(event: dict) -> None:
        times[event["type"]].append(time.perf_counter())

    summary = run_extract(load_task(args.task), args.model, args.input, args.out,
                          threads=threads, engine=engine, on_event=on_event)
    rows = times["row"]
    steady = (len(rows) - 1) / (rows[-1] - rows[0]) if len(rows) > 1 else None
    print(json.dumps({"notes": summary.written, "errors": summary.errors,
                      "run_seconds": rows[-1] - times["start"][0],
                      "first_row_seconds": rows[0] - times["start"][0],
                      "setup_seconds": times["start"][0] - begun,
                      "notes_per_s": summary.written / (rows[-1] - times["start"][0]),
                      "steady_notes_per_s": steady}))


def contender(args: argparse.Namespace, name: str, work: Path) -> dict:
    out = work / f"{name.replace(' ', '_').replace(',', '')}.csv"
    command = [sys.executable, __file__, "--child", name, "--task", args.task, "--input",
               args.input, "--model", args.model, "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    _, workers, threads = CONTENDERS[name]
    return {"name": name, "workers": workers or 1, "threads_per_worker": threads,
            "process_wall_seconds": round(time.perf_counter() - started, 1), **result,
            "rows": _rows_without_timing(out)}


def _rows_without_timing(path: Path) -> list[dict]:
    from mlxmed.extract import iter_rows

    return sorted(({k: v for k, v in row.items() if k != "ms"} for row in iter_rows(path)),
                  key=lambda row: row["id"])


def paper_estimate(best: dict, cores: int) -> dict:
    """1 million notes on N machines like this one, from the best Ray contender's steady
    cost per note: core-seconds per note, machines each running cores / threads workers, plus
    its start-up (workers started, models loaded: its first row) once; no other limit (the
    driver writes a row in well under a millisecond)."""
    core_seconds = best["workers"] * best["threads_per_worker"] / best["steady_notes_per_s"]
    per_machine = cores / core_seconds  # notes per second of one machine of this size
    return {"from": best["name"], "core_seconds_per_note": core_seconds,
            "machine_cores": cores, "notes_per_s_per_machine": per_machine,
            "startup_seconds": best["first_row_seconds"],
            "hours_for_1M_notes": {
                n: (best["first_row_seconds"] + TARGET_NOTES / (n * per_machine)) / 3600
                for n in MACHINES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=100,
                        help="notes of the demo's test split (when --input is not given)")
    parser.add_argument("--task", default=str(SMOKING_TASK))
    parser.add_argument("--input", help="notes file (default: the demo's test split)")
    parser.add_argument("--model", help="GGUF (default: the bundled SmolLM2-135M)")
    parser.add_argument("--out", default=str(HERE / "scaling_extract.json"))
    parser.add_argument("--child", choices=list(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cores = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        args.input = args.input or str(demo_test_notes(args.notes, work))
        args.model = args.model or bundled_model()
        results = [contender(args, name, work) for name in CONTENDERS]
    baseline, local_rows = results[0], results[0]["rows"]
    for result in results:
        result["same_rows_as_local"] = result.pop("rows") == local_rows
        result["ratio_to_local"] = result["notes_per_s"] / baseline["notes_per_s"]
        result["steady_ratio_to_local"] = \
            result["steady_notes_per_s"] / baseline["steady_notes_per_s"]
    best = max(results[1:], key=lambda r: r["steady_notes_per_s"])
    report = {"task": args.task, "input": args.input, "model": args.model, "cores": cores,
              "contenders": results, "estimate": paper_estimate(best, cores)}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    _print(report)


def _print(report: dict) -> None:
    print("| contender | notes/s (run) | x local | notes/s (steady) | x local | first row, s | "
          "same rows |\n|---|---|---|---|---|---|---|")
    for c in report["contenders"]:
        print(f"| {c['name']} | {c['notes_per_s']:.2f} | {c['ratio_to_local']:.2f} | "
              f"{c['steady_notes_per_s']:.2f} | {c['steady_ratio_to_local']:.2f} | "
              f"{c['first_row_seconds']:.1f} | {c['same_rows_as_local']} |")
    estimate = report["estimate"]
    print(f"\n1 million notes at {estimate['core_seconds_per_note']:.2f} core-seconds per note "
          f"({estimate['from']}), machines of {estimate['machine_cores']} cores:")
    for machines, hours in estimate["hours_for_1M_notes"].items():
        print(f"  {machines:>4} machines: {hours:8.1f} hours")


if __name__ == "__main__":
    main()
