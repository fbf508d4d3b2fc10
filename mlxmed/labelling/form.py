"""An answer as a person gives it in a form (the task's :meth:`~mlxmed.tasks.Task.answer_form`)
into the task's value: numbers typed the German or the English way, empty = not stated, list
items one per line. The task then validates it (:func:`mlxmed.labelling.store.validated`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlxmed.errors import MlxmedError
from mlxmed.tasks import Task
from mlxmed.tasks.values import coerce_cell


def answer_from_form(task: Task, raw: Any) -> Any:
    """The value of a submitted form: a choice as it is, or each field coerced by its widget."""
    form = task.answer_form()
    if form["type"] != "fields":
        if not isinstance(raw, str) or not raw:
            raise MlxmedError("pick one of the answers first")
        return raw
    if not isinstance(raw, Mapping):
        raise MlxmedError("the answer must give every field (an object of field values)")
    return {field["name"]: field_value(field, raw.get(field["name"])) for field in form["fields"]}


def field_value(field: Mapping[str, Any], raw: Any) -> Any:
    """One field's value from what the form sent (text for typed inputs)."""
    name, widget = field["name"], field["widget"]
    if widget == "multi":
        return list(raw or [])
    if widget == "list":
        if isinstance(raw, list):
            return raw
        lines = [line.strip() for line in str(raw or "").splitlines() if line.strip()]
        item = {"type": field["items_type"]}
        return [coerce_cell(line, item, name) for line in lines]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None if field["nullable"] else ("" if field["type"] == "string" else None)
    if widget == "number" and isinstance(raw, str):
        return coerce_cell(_plain_number(raw), {"type": field["type"]}, name)
    return raw


def _plain_number(text: str) -> str:
    """``"47,5"`` -> ``"47.5"``; ``"1.200"`` or ``"1 200"`` stay as typed except spaces."""
    return text.strip().replace("\u202f", "").replace(" ", "")
