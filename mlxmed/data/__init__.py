"""The data stage (`mlxmed data`): labelled notes checked against the task, split, fitted to
the model's context and written as a :class:`mlxmed.artifacts.PreparedData` folder."""

from mlxmed.data.fitting import TokenCounter, fit_chat, fit_note
from mlxmed.data.prepare import DEFAULT_SIZES, Prepared, parse_sizes, prepare, run_data

__all__ = ["DEFAULT_SIZES", "Prepared", "TokenCounter", "fit_chat", "fit_note", "parse_sizes",
           "prepare", "run_data"]
