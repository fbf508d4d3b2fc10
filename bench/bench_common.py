"""What every benchmark shares: running a contender in a clean child process (its wall time
and peak memory), printing a result, and the warm-up rule."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WARMUP_STEPS = 2  # the first steps of every contender (compilation, allocations) are not timed
console = Console()


def emit(name: str, result: dict) -> dict:
    """Print one benchmark's JSON line and a table of it."""
    print(json.dumps({"bench": name, **result}, default=str))
    table = Table(title=name)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if not isinstance(value, dict | list):
            table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
    return result


def clean_env(extra: dict | None = None) -> dict[str, str]:
    """The environment of a contender: this one without anything mlxmed set at import (thread
    counts, offline switches, cache folders), so nothing of mlxmed leaks into the others.
    ``OPENBLAS_CORETYPE`` stays: the OpenBLAS kernels this CPU can run (see
    :func:`mlxmed.platform.openblas_coretype`), which MLX needs in any process here, mlx-lm's
    included (PyTorch's own BLAS ignores it)."""
    drop = ("OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM",
            "TMPDIR", "MPLCONFIGDIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["HF_HUB_OFFLINE"] = "1"  # no contender may download anything
    return {**env, **(extra or {})}


def run_child(command: list[str], env: dict | None = None, cwd: Path | None = None
              ) -> tuple[float, float, str]:
    """Run a command; (wall seconds, peak RSS in GB of that process, its stdout).

    The peak is the child's own ``VmHWM``, sampled while it runs."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env if env is not None else clean_env(), cwd=cwd)
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
        raise RuntimeError(f"{' '.join(command[:4])}... failed:\n{output[-3000:]}")
    return time.perf_counter() - started, peak[0] / 1024**2, output


def last_json(output: str, prefix: str = "") -> dict:
    """The last JSON line of a child's output (after ``prefix``)."""
    for line in reversed(output.splitlines()):
        if line.startswith(prefix):
            body = line[len(prefix):].strip()
            if body.startswith("{"):
                return json.loads(body)
    raise RuntimeError(f"no JSON result in the output:\n{output[-2000:]}")
