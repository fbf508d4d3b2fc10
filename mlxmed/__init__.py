"""mlxmed: fine-tune small open LLMs on clinical notes, offline, and extract structured data."""

__version__ = "0.1.0"

from mlxmed import platform as _platform

# Privacy and speed, before anything imports huggingface_hub or mlx:
# keep the hub offline (only `mlxmed convert` with a repo id lifts this) and give MLX OpenBLAS.
_platform.prepare()
