"""A converted model folder: an mlx-lm model directory plus mlxmed's marker file saying where
the model came from. The only code that knows the marker's name and content."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from mlxmed.artifacts.ownership import folder_files
from mlxmed.atomic import write_text
from mlxmed.errors import MlxmedError

MARKER = "mlxmed.json"
CONFIG = "config.json"
# the files a conversion writes besides the weights (for folders whose marker has no list)
CONVERSION_FILES = (MARKER, CONFIG, "model.safetensors.index.json", "tokenizer.json",
                    "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                    "generation_config.json", "chat_template.jinja", "chat_template.json",
                    "gguf_vocab.json", "added_tokens.json", "vocab.json", "merges.txt")


@dataclass(frozen=True)
class ModelMarker:
    """Where a converted model came from (written by `mlxmed convert`)."""

    source_kind: str              # 'gguf', 'hf_dir' or 'hub'
    source: str                   # the file, folder or repo id
    catalogue_name: str | None
    quantization_bits: int | None
    dtype: str
    converted_at: str = ""
    files: tuple[str, ...] = ()   # what the conversion wrote into the folder

    @classmethod
    def now(cls, source_kind: str, source: str, catalogue_name: str | None,
            quantization_bits: int | None, dtype: str, files: tuple[str, ...] = ()
            ) -> ModelMarker:
        return cls(source_kind, source, catalogue_name, quantization_bits, dtype,
                   datetime.now(UTC).isoformat(timespec="seconds"), files)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMarker:
        known = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**{**known, "source_kind": str(known["source_kind"] or ""),
                      "source": str(known["source"] or ""), "dtype": str(known["dtype"] or ""),
                      "converted_at": str(known["converted_at"] or ""),
                      "files": tuple(known["files"] or ())})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelDir:
    """A model folder mlx-lm can load (``config.json`` + weights + tokenizer)."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> ModelDir:
        """The model folder at ``path``; a one-line error when it is not one."""
        path = Path(path).expanduser()
        if not path.is_dir():
            raise MlxmedError(f"{path}: model folder not found; convert a model with "
                              "`mlxmed convert` first")
        if not (path / CONFIG).is_file():
            raise MlxmedError(f"{path}: not a converted model (no {CONFIG}); run `mlxmed "
                              "convert` first")
        return cls(path)

    @staticmethod
    def is_converted(path: str | Path) -> bool:
        """Whether ``path`` holds a model converted by mlxmed (marker and config present)."""
        path = Path(path)
        return (path / MARKER).is_file() and (path / CONFIG).is_file()

    @staticmethod
    def written_files(folder: str | Path) -> list[str] | None:
        """What mlxmed wrote into a converted model folder, or None when it did not convert
        it. Folders converted before the marker listed its files count the files a
        conversion writes (config, weights, tokenizer, template)."""
        folder = Path(folder)
        if not ModelDir.is_converted(folder):
            return None
        marker = ModelDir(folder).marker
        if marker is not None and marker.files:
            return [*marker.files, MARKER]
        return [name for name in folder_files(folder)
                if fnmatch.fnmatch(name, "*.safetensors") or name in CONVERSION_FILES]

    @staticmethod
    def write_marker(folder: Path, marker: ModelMarker) -> None:
        """Record where the model in ``folder`` (being converted) came from."""
        write_text(folder / MARKER, json.dumps(marker.to_dict(), indent=2) + "\n")

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def marker(self) -> ModelMarker | None:
        """mlxmed's marker, or None for a plain mlx-lm folder (or an unreadable marker)."""
        try:
            return ModelMarker.from_dict(json.loads((self.path / MARKER).read_text("utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @cached_property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MlxmedError(f"{self.path / CONFIG}: unreadable ({exc}); convert the model "
                              "again") from exc

    @property
    def model_type(self) -> str | None:
        return self.config.get("model_type")

    def catalogue_entry(self):
        """The catalogue entry the model was converted from, if any."""
        from mlxmed.models.catalogue import get_entry

        name = self.marker.catalogue_name if self.marker else None
        return get_entry(name) if name else None

    def chat_tokenizer(self):
        """The chat template and tokenizer of this model (see ``ChatTokenizer``)."""
        from mlxmed.models.chat_tokenizer import ChatTokenizer

        return ChatTokenizer(self.path)

    def load(self, adapter: str | Path | None = None):
        """The mlx-lm model (with a LoRA adapter folder applied); a one-line error if it fails."""
        from mlx_lm import load

        try:
            model, _ = load(str(self.path), adapter_path=str(adapter) if adapter else None)
        except Exception as exc:  # mlx-lm raises many kinds here
            raise MlxmedError(f"{self.path}: cannot load the model ({type(exc).__name__}: "
                              f"{exc}); convert it with `mlxmed convert`") from exc
        return model

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)
