"""A job's progress folded from its events: phase, step of total, loss, the task metric, an
estimate of the time left, and the learning curve's points as they finish."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

RECENT_STEPS = 12  # step intervals the time estimate looks at
FINAL = {"done": "finished", "interrupted": "interrupted", "error": "failed"}


@dataclass
class JobState:
    """What a page shows about a running (or finished) job."""

    kind: str = "train"
    status: str = "starting"  # starting, running, finished, interrupted, failed
    phase: str = "starting"   # preparing data, training, validating, testing, ...
    step: int = 0
    total: int | None = None
    loss: float | None = None
    metric_name: str | None = None
    metric: float | None = None
    best: float | None = None
    tokens_per_second: float | None = None
    eta_seconds: float | None = None
    progress: dict[str, int] | None = None  # validation / test scoring: done of total
    message: str | None = None
    out_dir: str | None = None
    point: dict[str, int] | None = None     # the curve point being computed
    losses: list[list[float]] = field(default_factory=list)   # [step, loss]
    evals: list[dict[str, Any]] = field(default_factory=list)  # step, value, val_loss
    points: list[dict[str, Any]] = field(default_factory=list)  # curve: n, value
    _step_times: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def update(self, event: dict[str, Any]) -> None:
        """Fold one event (with the ``time`` it arrived) into the state."""
        kind = event.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        if kind in FINAL:
            self.status, self.phase, self.eta_seconds = FINAL[kind], FINAL[kind], None
            self.message = event.get("message")

    def _on_job(self, event: dict) -> None:
        self.kind, self.out_dir, self.status = event["kind"], event["out_dir"], "running"

    def _on_data_start(self, event: dict) -> None:
        self.phase = "preparing data"

    def _on_data_done(self, event: dict) -> None:
        counts = event.get("counts") or {}
        self.phase = "data ready: " + ", ".join(f"{k} {v}" for k, v in counts.items())

    def _on_start(self, event: dict) -> None:
        self.phase, self.total = "training", event["resolved"]["iters"]
        self.step = event.get("resumed_from") or 0
        self._step_times = []

    def _on_step(self, event: dict) -> None:
        self.phase, self.step, self.total = "training", event["step"], event["total"]
        self.progress = None
        self._step_times.append((event.get("time", 0.0), event["step"]))
        self._step_times = self._step_times[-(RECENT_STEPS + 1):]
        self.eta_seconds = self._eta()

    def _eta(self) -> float | None:
        """Seconds left: the median of recent step times (a validation pause is an outlier
        the median ignores) times the steps to go."""
        times = self._step_times
        intervals = [(t2 - t1) / (s2 - s1) for (t1, s1), (t2, s2) in zip(times, times[1:],
                                                                          strict=False)
                     if s2 > s1]
        if not intervals or self.total is None:
            return None
        return round(statistics.median(intervals) * max(0, self.total - self.step), 1)

    def _on_train(self, event: dict) -> None:
        self.loss, self.tokens_per_second = event.get("loss"), event.get("tokens_per_second")
        if self.loss is not None:
            self.losses.append([event["step"], self.loss])

    def _on_validating(self, event: dict) -> None:
        self.phase = "validating"

    def _on_metric_progress(self, event: dict) -> None:
        self.phase = "scoring validation notes"
        self.progress = {"done": event["done"], "total": event["total"]}

    def _on_eval(self, event: dict) -> None:
        self.metric_name, self.metric, self.best = event["metric"], event["value"], event["best"]
        self.progress = None
        self.evals.append({"step": event["step"], "value": event["value"],
                           "val_loss": event.get("val_loss"),
                           "zero_shot": bool(event.get("zero_shot"))})

    def _on_point_start(self, event: dict) -> None:
        self.point = {"n": event["n"], "seed": event["seed"]}
        self.phase = "zero-shot" if event["n"] == 0 else f"training on {event['n']} notes"
        self.step, self.total, self.eta_seconds = 0, None, None
        self.losses, self.evals = [], []

    def _on_testing(self, event: dict) -> None:
        self.phase = f"scoring {event['notes']} test notes"

    def _on_test_progress(self, event: dict) -> None:
        self.progress = {"done": event["done"], "total": event["total"]}

    def _on_point_done(self, event: dict) -> None:
        self.points.append({"n": event["n"], "seed": event["seed"], "value": event["value"],
                            "metric": event["metric"]})
        self.metric_name = event["metric"]
        self.progress = None

    _on_point_reused = _on_point_done

    def _on_exit(self, event: dict) -> None:
        if self.status in ("starting", "running"):  # the child died without a last word
            self.status, self.phase = "failed", "failed"
            self.message = (f"the training process ended unexpectedly (exit code "
                            f"{event.get('code')}); see the job log {event.get('log', '')}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_step_times")
        return data
