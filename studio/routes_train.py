"""The train page: start `train` or `curve` on the labelled notes in a child process, follow
its progress as server-sent events, stop it safely, resume it later."""

from __future__ import annotations

import asyncio
import json
import time

from mlxmed.studio.api import Args, endpoint
from mlxmed.studio.state import Studio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mlxmed.errors import MlxmedError
from mlxmed.jobs import Job, default_settings, plan_job, resume_spec
from mlxmed.jobs.worker import finite
from mlxmed.workspace import CURVES, DATA, RUNS

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


def defaults(studio: Studio, args: Args) -> dict:
    return {"settings": default_settings(studio.model_dir(args.text("model")))}


def start(studio: Studio, args: Args) -> dict:
    kind = args.text("kind")
    task_file, task = studio.task(args.text("task"))
    labels = studio.workspace.resolve(args.text("labels"))
    model = studio.model_dir(args.text("model"))
    spec = plan_job(kind, task_file, labels, model, studio.workspace.new_folder(DATA, task),
                    studio.workspace.new_folder(RUNS if kind == "train" else CURVES, task),
                    args.raw("settings") or {}, args.raw("sizes"))
    return _launch(studio, Job(spec, studio.job_dir))


def resume(studio: Studio, args: Args) -> dict:
    out_dir = studio.workspace.resolve(args.text("path"))
    with studio.lock:
        if any(job.running and job.spec.out_dir == str(out_dir) for job in studio.jobs.values()):
            raise MlxmedError(f"{args.text('path')}: this job is running already")
    return _launch(studio, Job(resume_spec(out_dir), studio.job_dir))


def _launch(studio: Studio, job: Job) -> dict:
    with studio.lock:
        if any(other.running for other in studio.jobs.values()):
            raise MlxmedError("a training job is running already; wait for it or stop it "
                              "first (one at a time keeps this computer responsive)")
        studio.jobs[job.id] = job.start()
    return job.summary()


def jobs(studio: Studio, args: Args) -> dict:
    return {"jobs": [job.summary() for job in studio.jobs.values()]}


def cancel(studio: Studio, args: Args) -> dict:
    job = _job(studio, args.text("id"))
    job.cancel()
    return job.summary()


def _job(studio: Studio, job_id: str) -> Job:
    job = studio.jobs.get(job_id)
    if job is None:
        raise MlxmedError(f"no job {job_id!r} (the server was restarted?); see the workspace")
    return job


async def events(request: Request) -> Response:
    """The job's progress as server-sent events: after each batch of new events, the job's
    state (step, loss, metric, time left, curve points); a reconnecting page resumes from
    the last event id it saw."""
    job = _job(request.app.state.studio, request.path_params["job_id"])
    try:
        seen = int(request.headers.get("last-event-id") or 0)
    except ValueError:
        seen = 0

    async def stream():
        nonlocal seen
        yield "retry: 1500\n\n"
        quiet_since = time.monotonic()
        while True:
            new, state = job.snapshot(seen)
            if new:
                seen += len(new)
                message = {"events": [e["type"] for e in new], "last": new[-1], "state": state}
                yield f"id: {seen}\ndata: {json.dumps(finite(message), default=str)}\n\n"
                quiet_since = time.monotonic()
            if job.finished and seen >= job.event_count():
                yield "event: end\ndata: {}\n\n"
                return
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                yield ": still here\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream")


ROUTES = [
    Route("/api/train/defaults", endpoint(defaults)),
    Route("/api/jobs", endpoint(jobs)),
    Route("/api/jobs/start", endpoint(start), methods=["POST"]),
    Route("/api/jobs/resume", endpoint(resume), methods=["POST"]),
    Route("/api/jobs/cancel", endpoint(cancel), methods=["POST"]),
    Route("/api/jobs/{job_id}/events", events),
]
