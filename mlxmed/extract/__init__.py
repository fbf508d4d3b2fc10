"""The extraction stage (`mlxmed extract`): a GGUF model over many notes with llama.cpp, one
output row per note, resumable."""

from mlxmed.extract.outputs import done_ids, iter_rows
from mlxmed.extract.run import ExtractSummary, run_extract

__all__ = ["ExtractSummary", "done_ids", "iter_rows", "run_extract"]
