"""Extraction on a Ray cluster (`mlxmed extract --ray`): the notes go through a Ray Data
pipeline whose workers each hold one llama.cpp model and answer notes exactly as a local run
does (:meth:`mlxmed.extract.run.NoteJob.answerer`); the rows stream back to this process,
which writes them as they come (:func:`mlxmed.extract.run.run_extract`).

A worker that dies is restarted by Ray and its batch run again: rows already written come
back a second time and the writer drops them, so nothing is lost or written twice.

This is the only module that imports Ray, and only inside functions (Ray is the optional extra
``mlxmed[cluster]``). Privacy: Ray's usage statistics are switched off before Ray starts, and
a Ray that mlxmed starts itself listens on the loopback interface only, with no dashboard."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.extract.run import NoteJob, Rows
from mlxmed.inputs.records import Record
from mlxmed.platform import physical_cores
from mlxmed.seams import logger_silenced, patched

INSTALL_HINT = "--ray needs Ray: pip install 'mlxmed[cluster]'"
MAX_NOTES_PER_BLOCK = 64  # a retried block repeats at most this many notes
BLOCKS_PER_WORKER = 4  # enough blocks that no worker waits at the end for another's last one


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, after switching off Ray's usage statistics; a
    one-line error saying how to install it when it is missing."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # read when Ray starts, by every process
    try:
        import ray
        import ray.data  # noqa: F401 - the extra installs ray[data]; check it is all there
    except ImportError as exc:
        raise MlxmedError(INSTALL_HINT) from exc
    return ray


@dataclass(frozen=True)
class RayEngine:
    """Notes answered by ``workers`` Ray actors (default: as many as the CPUs allow), each
    with one llama.cpp model and ``job.threads`` threads (default 1). ``address`` is an
    existing cluster (``auto``, ``HOST:6379`` or ``ray://HOST:10001``); without one, a
    private Ray is started on this computer for the run and stopped after it."""

    address: str | None = None
    workers: int | None = None

    def describe(self, job: NoteJob) -> str:
        where = f"Ray cluster {self.address}" if self.address else "Ray on this computer"
        workers = self.workers or "all CPUs"
        return f"{where}: workers {workers}, threads per worker {job.threads or 1}"

    @contextlib.contextmanager
    def session(self, job: NoteJob) -> Iterator[Rows]:
        threads = job.threads or 1
        job = replace(job, threads=threads)
        ray = import_ray()
        _check_model_files(job)
        started = connect(self.address, self.workers, threads)
        try:
            workers = _check_room(ray, self.workers, threads, self.address)
            with logger_silenced("ray.data"):  # its per-run info lines, not for the terminal
                yield lambda todo: _rows(ray, job, workers, todo)
        finally:
            if started:
                ray.shutdown()


def _check_model_files(job: NoteJob) -> None:
    """The model (and adapter) checked here, before any worker starts: a bad file is one line
    now rather than a worker failing to start."""
    from mlxmed.models.gguf_check import check_lora_gguf, check_model_gguf

    check_model_gguf(job.model)
    if job.adapter:
        check_lora_gguf(job.adapter, job.model)


def connect(address: str | None = None, workers: int | None = None, threads: int = 1) -> bool:
    """Join the cluster at ``address``, or start a private Ray on the loopback interface with
    CPUs for ``workers`` x ``threads`` (default: the physical cores). Returns whether this
    call started Ray (and must stop it); a Ray this process already runs (a notebook, a
    test) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False,
             "runtime_env": {"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}}}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            from ray._private import ray_constants

            cpus = (workers or max(1, physical_cores() // threads)) * threads
            # Ray takes the machine's network address unless clusters are switched off, as it
            # does on macOS: then every Ray process listens on 127.0.0.1 only
            with patched(ray_constants, "ENABLE_RAY_CLUSTER", False):
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        target = f"the Ray cluster at {address}" if address else "a local Ray"
        raise MlxmedError(f"--ray: could not start or reach {target} ({_first_line(exc)}); "
                          "check the address (`ray status` on the cluster) or run without "
                          "--ray") from exc
    return True


def _check_room(ray: Any, workers: int | None, threads: int, address: str | None) -> int:
    """The number of workers to run: ``workers``, or as many as the cluster's CPUs hold;
    refused if a worker fits on no node or the cluster cannot run them all at once."""
    nodes = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    where = f"the Ray cluster at {address}" if address else "this Ray"
    if not nodes or max(nodes) < threads:
        raise MlxmedError(f"--threads {threads}: no node of {where} has {threads} CPUs for one "
                          f"worker (largest: {max(nodes, default=0):g}); lower --threads")
    fits = sum(int(cpus // threads) for cpus in nodes)
    if workers is None:
        return fits
    if workers > fits:
        raise MlxmedError(f"--workers {workers} x --threads {threads}: {where} has room for "
                          f"{fits} such workers at once; lower --workers or --threads")
    return workers


def notes_per_block(notes: int, workers: int) -> int:
    """Notes per Ray Data block: a few blocks per worker, so all stay busy to the end, and no
    more than :data:`MAX_NOTES_PER_BLOCK` (a worker that dies repeats at most one block)."""
    return max(1, min(MAX_NOTES_PER_BLOCK, math.ceil(notes / (workers * BLOCKS_PER_WORKER))))


def _rows(ray: Any, job: NoteJob, workers: int, todo: list[Record]) -> Iterator[dict]:
    """Each note's raw row as soon as a worker has answered it (in no fixed order)."""
    if not todo:
        return
    items = iter(_pipeline(ray, job, workers, todo).iter_rows())
    try:
        for item in items:
            row = json.loads(item["row"])
            if "_failure" in row:
                raise MlxmedError(row["_failure"])
            yield row
    except ray.exceptions.RayError as exc:
        raise MlxmedError(f"--ray: the Ray pipeline failed ({_ray_reason(exc)}); the rows "
                          "written so far are kept: fix the cause and rerun with --resume; "
                          "Ray's logs are in its session folder") from exc
    finally:
        if hasattr(items, "close"):  # stops the pipeline's workers now
            items.close()


def _pipeline(ray: Any, job: NoteJob, workers: int, todo: list[Record]) -> Any:
    """The Ray Data pipeline: the notes in blocks -> a pool of ``workers`` note answerers."""
    context = ray.data.DataContext.get_current()
    saved = (context.target_max_block_size, context.enable_progress_bars)
    # a dataset keeps the context it was made in: with blocks of one byte at most, each
    # answered note is a block of its own and reaches this process when it is done, not
    # when its whole block is; no progress bars of Ray's own beside mlxmed's
    context.target_max_block_size, context.enable_progress_bars = 1, False
    try:
        notes = [{"id": r.id, "row": r.row, "where": r.where, "text": r.text} for r in todo]
        blocks = math.ceil(len(notes) / notes_per_block(len(notes), workers))
        dataset = ray.data.from_items(notes, override_num_blocks=blocks)
        return dataset.map_batches(
            NoteWorker, fn_constructor_kwargs={"job": job}, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=job.threads)
    finally:
        context.target_max_block_size, context.enable_progress_bars = saved


class NoteWorker:
    """A Ray Data actor: one llama.cpp model, answering one note per call. Its rows travel
    as JSON text (strings, numbers, null: every cell arrives exactly as a local run makes it;
    nothing from the cluster is unpickled here). A model that does not load
    on its node is reported as a row the driver turns into mlxmed's one-line error (raised
    here, Ray would restart the worker again and again and bury the message)."""

    def __init__(self, job: NoteJob) -> None:
        self.answer: Callable[[Record], dict] | None = None
        self.failure = ""
        try:
            self.answer = job.answerer()
        except MlxmedError as exc:
            self.failure = f"a Ray worker on {socket.gethostname()}: {exc}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        notes = zip(batch["id"], batch["row"], batch["where"], batch["text"], strict=True)
        rows = [self._answer(Record(str(i), int(r), str(w), str(t), None, ""))
                for i, r, w, t in notes]
        return {"row": [json.dumps(row, ensure_ascii=False) for row in rows]}

    def _answer(self, note: Record) -> dict:
        if self.answer is None:
            return {"id": note.id, "_failure": self.failure}
        return self.answer(note)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ray_reason(exc: BaseException) -> str:
    """A Ray error in one line: a failed task's last traceback line ("Type: message"), else
    its first line, without terminal colours."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()
             if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if "Traceback" in str(exc) else lines[0]
