"""Running a job in a child process (:mod:`mlxmed.jobs.worker`): its events read line by line
as they come, kept for whoever watches (a page that reconnects gets them all again), folded
into a :class:`JobState`; cancelling sends SIGINT, the same safe stop as Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mlxmed.jobs.progress import JobState
from mlxmed.jobs.spec import JobSpec


class Job:
    """One training job and the events it has sent so far."""

    def __init__(self, spec: JobSpec, log_dir: str | Path, job_id: str | None = None) -> None:
        self.spec = spec
        self.id = job_id or secrets.token_hex(6)
        self.log_dir = Path(log_dir)
        self.spec_path = self.log_dir / f"{self.id}.json"
        self.log_path = self.log_dir / f"{self.id}.log"
        self.state = JobState(kind=spec.command, out_dir=spec.out_dir)
        self.events: list[dict[str, Any]] = []
        self.process: subprocess.Popen | None = None
        self._changed = threading.Condition()
        self.cancelled = False

    def start(self) -> Job:
        """Start the child process and the thread that reads its events."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.spec.save(self.spec_path)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            # a session of its own: a Ctrl-C in the server's terminal does not reach the
            # child directly; the server stops it with SIGINT, and waits
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlxmed.jobs.worker", str(self.spec_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True)
        threading.Thread(target=self._read, name=f"job-{self.id}", daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = {"type": "log", "line": line}
            self._add(event)
        code = self.process.wait()
        self._add({"type": "exit", "code": code, "log": str(self.log_path)})

    def _add(self, event: dict[str, Any]) -> None:
        event.setdefault("time", time.time())
        with self._changed:
            self.state.update(event)
            self.events.append(event)
            self._changed.notify_all()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1]["type"] == "exit"

    def cancel(self) -> None:
        """Ask the child to stop safely (SIGINT: it saves its checkpoint, then exits)."""
        if self.running:
            self.cancelled = True
            os.kill(self.process.pid, signal.SIGINT)

    def snapshot(self, seen: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The events after the first ``seen``, and the state after them, taken together."""
        with self._changed:
            return self.events[seen:], self.state.to_dict()

    def event_count(self) -> int:
        return len(self.events)

    def wait_for_events(self, seen: int, timeout: float) -> list[dict[str, Any]]:
        """The events after the first ``seen``, waiting up to ``timeout`` seconds for one."""
        with self._changed:
            if len(self.events) <= seen and not self.finished:
                self._changed.wait(timeout)
            return self.events[seen:]

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to end; its exit code (None if still running)."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.spec.command, "task": self.spec.task,
                "out_dir": self.spec.out_dir, "running": self.running,
                "state": self.state.to_dict()}


def stop_all(jobs: list[Job], timeout: float = 30.0) -> None:
    """Stop every running job safely and wait for them (at most ``timeout`` seconds)."""
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
