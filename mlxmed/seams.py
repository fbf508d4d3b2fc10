"""The one place where mlxmed changes another library's module state, for the few things
those libraries offer no argument or hook for. Every change is scoped: made on entering a
``with`` block and undone on leaving it, even on error. The callers (and why they need it):

* :func:`mlxmed.accel.cpu_kernels.enabled`: mlx-lm's model modules call module-level
  ``swiglu``; the fast CPU kernel replaces that name.
* :func:`mlxmed.training.monitor.mlx_lm_display_silenced`: mlx-lm's ``train()`` builds its
  terminal display (``TrainUI``) from its own module; mlxmed's display replaces it.
* :func:`mlxmed.inference.llama_runtime.open_gguf`: llama-cpp-python has no argument for
  ``use_extra_bufts``; it is set on the default model parameters while a model loads.
* :func:`mlxmed.models.hub.download`: huggingface_hub reads its offline switch from its
  constants module; an explicit download lifts mlxmed's offline setting for its duration.
* :func:`mlxmed.inputs.pdf.read_pdf`: pypdf logs every repair of a damaged file as a warning
  on its logger (printed on stderr); mlxmed reports an unreadable PDF as one line instead.
* :func:`mlxmed.extract.ray_engine.connect`: Ray binds a Ray it starts to the machine's
  network address unless its cluster switch (off on macOS) is off while it starts; off, every
  Ray process listens on the loopback interface only.
* :class:`mlxmed.extract.ray_engine.RayEngine`: Ray Data logs a few info lines per run on
  the terminal; while mlxmed's progress bar runs, only its errors pass.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def patched(module: Any, name: str, value: Any) -> Iterator[None]:
    """``module.name`` is ``value`` inside the block and what it was before afterwards."""
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


@contextlib.contextmanager
def logger_silenced(name: str) -> Iterator[None]:
    """The logger ``name`` passes only errors inside the block, and what it did before after."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
