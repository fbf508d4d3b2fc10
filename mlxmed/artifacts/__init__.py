"""The artifacts that pass between the stages, each the only code that knows its folder:
a converted model (:class:`ModelDir`), a prepared data folder (:class:`PreparedData`) and a
training run (:class:`Run`)."""

from mlxmed.artifacts.model_dir import ModelDir, ModelMarker
from mlxmed.artifacts.prepared import PreparedData, read_chats
from mlxmed.artifacts.run import Run, RunRecord

__all__ = ["ModelDir", "ModelMarker", "PreparedData", "Run", "RunRecord", "read_chats"]
