"""The child process of a training job: ``python -m mlxmed.jobs.worker JOB.json``.

It runs the data step, then `train` or `curve`, through the library, and writes one JSON
event per line to its standard output: the library's progress events (``start``, ``step``,
``train``, ``validating``, ``metric_progress``, ``eval``; a curve adds ``point_start``,
``testing``, ``point_done``, ...) between its own ``data_start``/``data_done`` and a last
``done``, ``interrupted`` or ``error`` event. Anything else a library prints goes to standard
error. SIGINT is the same safe stop as Ctrl-C in the CLI: the run keeps its last checkpoint
and the job can be resumed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mlxmed.errors import error_line
from mlxmed.jobs.spec import SPEC_FILE, JobSpec
from mlxmed.stopping import request_stop

Emit = Callable[[dict], None]


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class EventWriter:
    """Writes events as JSON lines; if the reader is gone (the server was killed), the job
    carries on without reporting, so the run still finishes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream: IO[str] | None = stream

    def __call__(self, event: dict) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(json.dumps(finite(event), default=str) + "\n")
            self.stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.stream = None


def run_job(spec: JobSpec, emit: Emit) -> dict[str, Any]:
    """Prepare the data (unless it is there already), then train or compute the curve."""
    from mlxmed.artifacts import ModelDir, PreparedData, Run
    from mlxmed.curve import run_curve
    from mlxmed.data import run_data
    from mlxmed.tasks import load_task
    from mlxmed.training import train

    task = load_task(spec.task)
    model = ModelDir.open(spec.model)
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / SPEC_FILE).is_file():
        spec.save(out / SPEC_FILE)
    data_dir = Path(spec.data_dir)
    if not (data_dir / "summary.json").is_file():
        emit({"type": "data_start", "labels": spec.labels, "data_dir": str(data_dir)})
        prepared = run_data(task, spec.labels, data_dir, sizes=spec.data_sizes(),
                            model_dir=model)
        emit({"type": "data_done", "data_dir": str(data_dir),
              "counts": {s: len(e) for s, e in prepared.splits.items()},
              "notes": prepared.summary.get("notes", [])})
    data = PreparedData.open(data_dir)
    if spec.command == "curve":
        curve = run_curve(task, model, data, out, spec.sizes, 1, spec.train_settings(), emit)
        return {"out_dir": str(out), "rows": curve["rows"]}
    resume = spec.resume and Run.exists(out)
    result = train(task, model, data, out, spec.train_settings(), on_event=emit,
                   resume=resume)
    return {"out_dir": str(out), "status": result.status, "best_step": result.best_step,
            "best_metric": result.best_metric, "zero_shot_metric": result.zero_shot_metric}


def on_sigint(signum: int, frame: object) -> None:
    """Stop now (KeyboardInterrupt), and remember it: training checks again at every step."""
    request_stop()
    raise KeyboardInterrupt


def hear_sigint() -> None:
    """Make SIGINT stop the job here, whatever the parent did: a child inherits an ignored
    SIGINT and a blocked one, and would then train on to the end after Stop."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, on_sigint)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    hear_sigint()
    # events keep the real standard output; whatever else is printed goes to standard error
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    emit = EventWriter(events)
    if len(argv) != 1:
        emit({"type": "error", "message": "usage: python -m mlxmed.jobs.worker JOB.json"})
        return 2
    try:
        spec = JobSpec.load(argv[0])
        emit({"type": "job", "kind": spec.command, "out_dir": spec.out_dir, "pid": os.getpid()})
        result = run_job(spec, emit)
    except KeyboardInterrupt:
        emit({"type": "interrupted", "message": "stopped; the run keeps its last checkpoint "
              "and can be resumed"})
        return 130
    except Exception as exc:  # the page shows one line; the details go to the job's log
        traceback.print_exc()
        emit({"type": "error", "message": error_line(exc)})
        return 1
    emit({"type": "done", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
