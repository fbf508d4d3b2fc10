"""The label page: one note at a time, answers saved at once to the workspace's labels file."""

from __future__ import annotations

from pathlib import Path

from mlxmed.studio.api import Args, endpoint
from mlxmed.studio.state import Studio
from starlette.routing import Route

from mlxmed.errors import MlxmedError
from mlxmed.labelling import INPUT_ORDER, ORDERS, LabelSession
from mlxmed.tasks import Task
from mlxmed.workspace import gguf_provenance


def _session(studio: Studio, args: Args) -> LabelSession:
    return studio.session(studio.labelling, args.text("session"))


def open_labelling(studio: Studio, args: Args) -> dict:
    task_file, task = studio.task(args.text("task"))
    notes = studio.workspace.resolve(args.text("notes"))
    model = studio.gguf(args.optional("model"))
    session_id, session = studio.open_labelling(task_file, task, notes, model)
    return {"session": session_id, "form": task.answer_form(), "task": task.name,
            "labels_file": studio.workspace.relative(session.store.path),
            "has_model": model is not None, "model_note": model_mismatch(task, model),
            **session.view(session.first_position())}


def model_mismatch(task: Task, model: Path | None) -> str | None:
    """A warning when the GGUF says it was trained for another task (or another version)."""
    if model is None:
        return None
    trained = gguf_provenance(model)
    if "task_spec_hash" in trained and trained["task_spec_hash"] != task.spec_hash():
        return (f"{model.name} was trained for task '{trained.get('task_name')}' as it was "
                "then; its answers may not fit this task file")
    return None


def note(studio: Studio, args: Args) -> dict:
    """The note at ``position``; without one, the next note that needs an answer."""
    session = _session(studio, args)
    if args.optional("position") is None:
        return session.view(session.first_position())
    return session.view(args.integer("position"))


def answer(studio: Studio, args: Args) -> dict:
    return _session(studio, args).answer(args.text("id"), args.raw("value"))


def skip(studio: Studio, args: Args) -> dict:
    return _session(studio, args).skip(args.integer("position", 0))


def undo(studio: Studio, args: Args) -> dict:
    return _session(studio, args).undo()


def order(studio: Studio, args: Args) -> dict:
    """Change the queue's order; least certain first answers every note in the background."""
    session, chosen = _session(studio, args), args.text("order")
    if chosen not in ORDERS:
        raise MlxmedError(f"order {chosen!r}: use one of {', '.join(ORDERS)}")
    if chosen == INPUT_ORDER:
        session.input_order()
    else:
        session.rank_in_background()
    return session.progress()


def progress(studio: Studio, args: Args) -> dict:
    return _session(studio, args).progress()


ROUTES = [
    Route("/api/label/open", endpoint(open_labelling), methods=["POST"]),
    Route("/api/label/note", endpoint(note)),
    Route("/api/label/answer", endpoint(answer), methods=["POST"]),
    Route("/api/label/skip", endpoint(skip), methods=["POST"]),
    Route("/api/label/undo", endpoint(undo), methods=["POST"]),
    Route("/api/label/order", endpoint(order), methods=["POST"]),
    Route("/api/label/progress", endpoint(progress)),
]
