"""Tasks: one task file says what to extract; one class per kind turns it into prompts,
answers, gold values, grammars, decoding and metrics.

    task = load_task("examples/smoking/task.yaml")   # a ClassificationTask
    task.messages(note_text)                         # the chat the model sees
    task.grammar()                                   # GBNF for constrained decoding
"""

from mlxmed.tasks.base import LONG_NOTE_POLICIES, ParsedAnswer, Task
from mlxmed.tasks.classification import ClassificationTask, Label
from mlxmed.tasks.extraction import ExtractionTask
from mlxmed.tasks.spec import KINDS, TASK_KINDS, load_task, task_file, task_from_dict
from mlxmed.tasks.values import canonical, format_json, schema_problem

__all__ = ["KINDS", "LONG_NOTE_POLICIES", "TASK_KINDS", "ClassificationTask", "ExtractionTask",
           "Label", "ParsedAnswer", "Task", "canonical", "format_json", "load_task",
           "schema_problem", "task_file", "task_from_dict"]
