"""Opening GGUF models with llama.cpp (llama-cpp-python) using safe, fast parameters."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mlxmed import platform
from mlxmed.errors import MlxmedError
from mlxmed.models.gguf_check import check_lora_gguf, check_model_gguf
from mlxmed.seams import patched


def default_threads() -> int:
    """Threads for llama.cpp: ``$MLXMED_LLAMA_THREADS`` or the number of physical cores."""
    env = os.environ.get("MLXMED_LLAMA_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else platform.physical_cores()


@contextlib.contextmanager
def _model_params_patch(use_extra_bufts: bool) -> Iterator[None]:
    """llama-cpp-python has no argument for ``use_extra_bufts``; while a model loads, the
    default model parameters carry it (see :mod:`mlxmed.seams`)."""
    import llama_cpp

    if use_extra_bufts:
        yield
        return
    original = llama_cpp.llama_cpp.llama_model_default_params

    def without_extra_bufts():
        params = original()
        params.use_extra_bufts = False
        return params

    with patched(llama_cpp.llama_cpp, "llama_model_default_params", without_extra_bufts):
        yield


def open_gguf(path: str | Path, n_ctx: int = 2048, logits_all: bool = False,
              threads: int | None = None, lora_path: str | None = None,
              n_batch: int = 512, use_extra_bufts: bool | None = None,
              f32_kv_cache: bool = False):
    """A ``llama_cpp.Llama`` for ``path``; never takes the AMX path that crashes in some VMs.

    ``f32_kv_cache`` keeps the attention cache in float32 instead of llama.cpp's default
    float16 (for parity checks against MLX).
    """
    import llama_cpp
    from llama_cpp import Llama

    path = Path(path)
    check_model_gguf(path)  # llama.cpp only ever sees a file that parses and fits
    if lora_path:
        check_lora_gguf(lora_path, path)
    threads = threads or default_threads()
    kv = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} \
        if f32_kv_cache else {}
    extra = platform.llama_use_extra_bufts() if use_extra_bufts is None else use_extra_bufts
    try:
        with _model_params_patch(extra):
            return Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(n_batch, n_ctx),
                         n_threads=threads, n_threads_batch=threads, logits_all=logits_all,
                         lora_path=lora_path, n_gpu_layers=-1, verbose=False, **kv)
    except (ValueError, RuntimeError, OSError) as exc:
        raise MlxmedError(f"{path}: llama.cpp could not load this model ({exc}); check that it "
                          "is a complete GGUF model file") from exc


FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q4_K_M": 15, "Q5_K_M": 17}


def quantize_gguf(source: str | Path, target: str | Path, kind: str,
                  threads: int | None = None) -> None:
    """Re-encode a GGUF file with llama.cpp's own quantizer (``kind`` is a key of FTYPES)."""
    import ctypes

    import llama_cpp

    if kind not in FTYPES:
        raise MlxmedError(f"quantization '{kind}' is not supported; choose one of "
                          f"{', '.join(FTYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[kind]
    params.allow_requantize = True
    params.nthread = threads or default_threads()
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=os.environ.get("MLXMED_DEBUG") == "1"):
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                                ctypes.byref(params))
    if status != 0:
        raise MlxmedError(f"{source}: llama.cpp could not quantize this file to {kind}")
