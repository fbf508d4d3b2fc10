"""Reading a task file: YAML (or JSON) into a validated task of its kind, every mistake one
line that names the key and the fix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlxmed.errors import MlxmedError
from mlxmed.tasks.base import DEFAULT_MAX_SEQ_LENGTH, LONG_NOTE_POLICIES, Task
from mlxmed.tasks.classification import ClassificationTask
from mlxmed.tasks.extraction import ExtractionTask
from mlxmed.tasks.focus import Focus

# one class per task kind: adding a kind means adding its class here
TASK_KINDS: dict[str, type[Task]] = {cls.kind: cls for cls in (ClassificationTask,
                                                               ExtractionTask)}
KINDS = tuple(TASK_KINDS)
COMMON_KEYS = ("name", "kind", "language", "system", "instruction", "text_field", "id_field",
               "long_notes", "max_seq_length", "focus")
_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
MAX_TASK_FILE_BYTES = 1_000_000  # a task file is a page of text; a huge one is a mistake


class _TaskFileLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases (``*name``): a task file never needs them, and a
    kilobyte of nested aliases can expand into gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in "
                                              "a task file; write the value out",
                                              event.start_mark)
        return super().compose_node(parent, index)


@dataclass
class SpecReader:
    """The raw mapping of a task file, with one-line errors that name the file."""

    data: dict[str, Any]
    source: str

    def fail(self, message: str) -> MlxmedError:
        return MlxmedError(f"{self.source}: {message}")

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        """A text value; ``default`` when absent or blank (an error when ``required``)."""
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(f"key '{key}' is required; add it")
            return default
        if not isinstance(value, str):
            raise self.fail(f"key '{key}' must be text, got {type(value).__name__}")
        return value


def task_file(task: Task) -> Path | None:
    """The file a task was read from, if it was read from one that still exists."""
    path = Path(task.source)
    return path if path.is_file() else None


def load_task(path: str | Path) -> Task:
    """Read and validate a task spec (YAML, or JSON for a ``.json`` file)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_TASK_FILE_BYTES:
        raise MlxmedError(f"{path}: {path.stat().st_size:,} bytes is far too large for a task "
                          "file; check that this is the task file")
    if path.exists() and not path.is_file():
        raise MlxmedError(f"{path}: not a regular file; give the path of the task file")
    try:
        raw_text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise MlxmedError(f"{path}: task file not found; check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MlxmedError(f"{path}: cannot read the task file ({exc}); save it as UTF-8") from exc
    try:
        data = (json.loads(raw_text) if path.suffix.lower() == ".json"
                else yaml.load(raw_text, Loader=_TaskFileLoader))  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MlxmedError(f"{path}:{where} not valid YAML ({problem}); fix the syntax") from exc
    except ValueError as exc:
        raise MlxmedError(f"{path}: not valid JSON ({exc}); fix the syntax") from exc
    return task_from_dict(data, source=str(path))


def task_from_dict(data: Any, source: str = "task spec") -> Task:
    """Validate plain data (as read from a task file, or :meth:`Task.to_dict`) into a task."""
    if not isinstance(data, dict):
        raise MlxmedError(f"{source}: the task file must be a mapping of keys (name, kind, "
                          "instruction, ...)")
    spec = SpecReader(data, source)
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in TASK_KINDS:
        raise spec.fail(f"key 'kind': {kind!r} is not a task kind; use one of: "
                        f"{', '.join(KINDS)}")
    cls = TASK_KINDS[kind]
    allowed = COMMON_KEYS + cls.kind_keys
    for key in data:
        if key not in allowed:
            raise spec.fail(f"unknown key {key!r} for a {kind} task; allowed keys: "
                            f"{', '.join(allowed)}")
    name = spec.text("name", required=True)
    if not _NAME_RE.match(name or ""):
        raise spec.fail(f"key 'name': {name!r} may only use a-z, 0-9, '_' and '-'; rename it")
    language = (spec.text("language", default="en") or "en").strip()
    long_notes = spec.text("long_notes", default="truncate_middle")
    if long_notes not in LONG_NOTE_POLICIES:
        raise spec.fail(f"key 'long_notes': {long_notes!r} is not a policy; use one of: "
                        f"{', '.join(LONG_NOTE_POLICIES)}")
    max_len = data.get("max_seq_length", DEFAULT_MAX_SEQ_LENGTH)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 32:
        raise spec.fail(f"key 'max_seq_length': {max_len!r} must be a whole number of tokens "
                        ">= 32")
    return cls(name=name, language=language, system=spec.text("system", default="") or "",
               instruction=spec.text("instruction", required=True),
               text_field=spec.text("text_field", required=True),
               id_field=spec.text("id_field"), long_notes=long_notes, max_seq_length=max_len,
               focus=_parse_focus(data.get("focus"), spec), source=source,
               **cls.parse_keys(spec))


def _parse_focus(raw: Any, spec: SpecReader) -> Focus | None:
    if raw is None:
        return None
    example = "focus: {terms: [smok, tobacco], context: 1, head: 1}"
    if not isinstance(raw, dict) or set(raw) - {"terms", "context", "head"}:
        raise spec.fail(f"key 'focus' must be a mapping with 'terms' and optional 'context' "
                        f"and 'head', like {example}")
    terms = raw.get("terms")
    if (not isinstance(terms, list) or not terms
            or not all(isinstance(t, str) and t.strip() for t in terms)):
        raise spec.fail(f"key 'focus.terms' must be a non-empty list of words, like {example}")
    counts = {}
    for key, default in (("context", 1), ("head", 0)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise spec.fail(f"key 'focus.{key}': {value!r} must be a whole number of sentences "
                            "from 0 to 10")
        counts[key] = value
    return Focus(tuple(t.strip() for t in terms), **counts)
