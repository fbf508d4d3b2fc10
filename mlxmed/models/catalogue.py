"""The catalogue of supported base models: one TOML file per model in ``models/``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlxmed import paths
from mlxmed.errors import MlxmedError
from mlxmed.models.architectures import architecture


@dataclass(frozen=True)
class CatalogueEntry:
    """One supported base model and the settings recommended for it."""

    name: str
    title: str
    hf_repo: str
    architecture: str
    license: str
    params_billion: float
    gguf_pre: str
    gguf_model: str
    ram_lora_gb: float
    ram_qlora_gb: float
    lora: dict = field(default_factory=dict)
    chat_template: str = ""
    gated: bool = False
    notes: str = ""
    bundled: dict | None = None


def load_catalogue(directory: Path | None = None) -> dict[str, CatalogueEntry]:
    """All catalogue entries by name, in file-name order."""
    directory = directory or paths.catalogue_dir()
    entries: dict[str, CatalogueEntry] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            entry = CatalogueEntry(
                name=data["name"], title=data["title"], hf_repo=data["hf_repo"],
                architecture=data["architecture"], license=data["license"],
                params_billion=float(data["params_billion"]),
                gguf_pre=data["tokenizer"]["gguf_pre"], gguf_model=data["tokenizer"]["gguf_model"],
                ram_lora_gb=float(data["memory_gb"]["lora"]),
                ram_qlora_gb=float(data["memory_gb"]["qlora"]),
                lora=dict(data.get("lora", {})), chat_template=data.get("chat_template", ""),
                gated=bool(data.get("gated", False)), notes=data.get("notes", ""),
                bundled=data.get("bundled"),
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MlxmedError(f"{path}: invalid catalogue entry ({type(exc).__name__}: {exc}); "
                              "fix or remove the file") from exc
        if architecture(entry.architecture) is None:
            raise MlxmedError(f"{path}: architecture '{entry.architecture}' is not in mlxmed's "
                              "registry (mlxmed/models/architectures.py); fix the entry")
        entries[entry.name] = entry
    return {name: _inherit_lora(entry, entries) for name, entry in entries.items()}


def _inherit_lora(entry: CatalogueEntry, entries: dict[str, CatalogueEntry]) -> CatalogueEntry:
    """An entry whose ``[lora]`` says ``from = "NAME"`` takes NAME's LoRA settings (its own keys
    win), so two entries of one model cannot drift apart."""
    source = entry.lora.get("from")
    if source is None:
        return entry
    parent = entries.get(source)
    if parent is None or "from" in parent.lora:
        raise MlxmedError(f"catalogue entry {entry.name}: [lora] from = '{source}' must name an "
                          "entry with its own [lora] settings; fix the entry")
    own = {k: v for k, v in entry.lora.items() if k != "from"}
    return replace(entry, lora={**parent.lora, **own})


def get_entry(name: str) -> CatalogueEntry | None:
    """The catalogue entry called ``name`` (case-insensitive), or None."""
    return load_catalogue().get(name.lower())
