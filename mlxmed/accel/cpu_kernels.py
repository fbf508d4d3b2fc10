"""A faster SwiGLU for MLX on a CPU.

MLX's CPU ``exp`` and ``sigmoid`` work one value at a time: on the 2-core test machine they
run at about 40 M values/s, while a multiply runs at about 1.6 G values/s. In a small model
the softmax of attention and the SiLU of the MLP then take most of a forward pass (a batch of
four 700-token notes spent about two thirds of its time in ``exp``).

Here e^x is computed only from multiplies and adds, which MLX's compiler fuses into one
vectorised loop: e^x = (e^(x/64))^64, with e^(x/64) from seven terms of its Taylor series and
six squarings. The relative error is below 2e-5 for |x| <= 10 and below 1e-4 for |x| <= 30
(past that, e^x is under 1e-13 of e^0 anyway). The SwiGLU built on it gets its gradient
from a closed-form formula, not by differentiating the squarings. Used only on the CPU;
Metal has fused kernels of its own.

Only SwiGLU is switched into models. Attention is left to MLX's own
``scaled_dot_product_attention``: a softmax attention built on this ``exp`` made whole
training steps about 3x slower with MLX 0.32 on the 2-core VM (2026-12-06, same run, same
losses: the cardiology task 188 s a step against 62 s with MLX's kernels; a pneumonia step
91 s against 29 s), although the ``exp`` alone is 3.5x faster (143 against 41 M values/s).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from functools import cache

from mlxmed.seams import patched

EXP_RANGE = 80.0  # e^80 and e^-80 are both representable in float32 (and far beyond use)


@cache
def _kernels():
    """Build the compiled functions once (importing mlx only when they are needed)."""
    import mlx.core as mx

    @mx.compile
    def fast_exp(x):
        u = mx.clip(x, -EXP_RANGE, EXP_RANGE) * (1.0 / 64.0)
        p = 1.0 + u * (1.0 + u * (1 / 2 + u * (1 / 6 + u * (1 / 24 + u * (1 / 120
                                                                      + u * (1 / 720))))))
        for _ in range(6):
            p = p * p
        return p

    @mx.compile
    def _sigmoid(x):
        return 1.0 / (1.0 + fast_exp(-x))

    @mx.custom_function
    def swiglu(gate, x):
        return gate * _sigmoid(gate) * x

    @swiglu.vjp
    def swiglu_vjp(primals, cotangent, output):
        gate, x = primals
        s = _sigmoid(gate)
        silu = gate * s
        d_silu = s * (1.0 + gate * (1.0 - s))
        return cotangent * x * d_silu, cotangent * silu

    return fast_exp, swiglu


def fast_exp(x):
    """e^x from fused multiplies and adds (for x clipped to [-80, 80]; see the module)."""
    return _kernels()[0](x)


def swiglu(gate, x):
    """SiLU(gate) * x, with a closed-form gradient."""
    return _kernels()[1](gate, x)


BUFFER_CACHE_MAX_BYTES = 4 << 30


@contextlib.contextmanager
def kept_freed_buffers() -> Iterator[None]:
    """Let MLX reuse freed buffers instead of returning them to the system, while inside.

    On the CPU, MLX keeps at most 32 MB of freed buffers; larger temporaries are unmapped
    and page-faulted back in, zeroed, at the next step. A plain LoRA step with logits at every
    position ran 1.48x faster on a 2-core VM with the cache raised (mlxmed's own steps, with
    smaller temporaries, showed no difference). Keep up to a quarter of the available memory
    (at most 4 GiB); ``MLXMED_BUFFER_CACHE=0`` leaves MLX's default (for benchmarks). The
    previous limit is restored on leaving.
    """
    import mlx.core as mx

    from mlxmed.accel.memory import available_memory_bytes

    if os.environ.get("MLXMED_BUFFER_CACHE", "1") == "0":
        yield
        return
    previous = mx.set_cache_limit(min(BUFFER_CACHE_MAX_BYTES, available_memory_bytes() // 4))
    try:
        yield
    finally:
        mx.set_cache_limit(previous)


def _kernel_targets(model) -> list[tuple[object, str, object]]:
    """(module, name, kernel) for the functions of ``model``'s mlx-lm module to replace."""
    module = sys.modules.get(type(model).__module__)
    if module is None:
        return []
    return [(module, name, kernel)
            for name, kernel in (("swiglu", swiglu),) if hasattr(module, name)]


@contextlib.contextmanager
def enabled(model) -> Iterator[bool]:
    """Inside the block, ``model``'s layers use these kernels when MLX runs on the CPU (and
    freed buffers are kept for reuse, see :func:`kept_freed_buffers`); everything is put back
    on leaving. Yields whether a kernel was switched in (never on Metal, for architectures
    without these functions, or with ``MLXMED_FAST_KERNELS=0``, which benchmarks use to
    measure MLX's own kernels).

    mlx-lm has no seam for the MLP function of a model: its model modules call the
    module-level ``swiglu``, so that name is replaced (through :func:`mlxmed.seams.patched`)
    in the module that defines the model's class, for the duration of the block.
    """
    import mlx.core as mx

    if mx.default_device() != mx.cpu:
        yield False
        return
    targets = [] if os.environ.get("MLXMED_FAST_KERNELS", "1") == "0" \
        else _kernel_targets(model)
    with contextlib.ExitStack() as stack:
        stack.enter_context(kept_freed_buffers())
        for module, name, kernel in targets:
            stack.enter_context(patched(module, name, kernel))
        yield bool(targets)
