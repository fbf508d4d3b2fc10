"""How much do llama.cpp's repacked CPU kernels (its "extra buffer types") buy on this machine?

Turning them off is the runtime workaround for the AMX crash; mlxmed instead builds llama.cpp
without AMX and keeps them on. This measures prefill speed both ways on the bundled SmolLM2
re-encoded as Q4_0 (a type the repacked kernels cover) and prints the ratio.

    .venv/bin/python bench/llama_kernels.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlxmed  # noqa: F401
from mlxmed import platform
from mlxmed.inference.llama_runtime import default_threads, open_gguf, quantize_gguf
from mlxmed.models.catalogue import get_entry
from mlxmed.models.hub import bundled_gguf_path

PROMPT_TOKENS = 256
ROUNDS = 5


DECODE_TOKENS = 32


def tokens_per_second(path: Path, use_extra_bufts: bool) -> tuple[float, float]:
    """(prefill tokens/s, decode tokens/s), best of a few rounds."""
    llm = open_gguf(path, n_ctx=PROMPT_TOKENS + DECODE_TOKENS + 8,
                    use_extra_bufts=use_extra_bufts)
    tokens = [(i * 7919) % 40000 + 100 for i in range(PROMPT_TOKENS + DECODE_TOKENS)]
    best_prefill = best_decode = float("inf")
    for _ in range(ROUNDS):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens[:PROMPT_TOKENS])
        middle = time.perf_counter()
        for token in tokens[PROMPT_TOKENS:]:
            llm.eval([token])
        end = time.perf_counter()
        best_prefill = min(best_prefill, middle - start)
        best_decode = min(best_decode, end - middle)
    return PROMPT_TOKENS / best_prefill, DECODE_TOKENS / best_decode


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        q4 = Path(tmp) / "smollm2-q4_0.gguf"
        quantize_gguf(bundled_gguf_path(get_entry("smollm2-135m-bundled")), q4, "Q4_0")
        # interleave the two settings so machine noise hits both alike
        on, off = [], []
        for _ in range(2):
            on.append(tokens_per_second(q4, True))
            off.append(tokens_per_second(q4, False))
    prefill_on, decode_on = max(p for p, _ in on), max(d for _, d in on)
    prefill_off, decode_off = max(p for p, _ in off), max(d for _, d in off)
    result = {
        "benchmark": "llama_extra_buffer_types",
        "threads": default_threads(),
        "llama_system_info": platform.llama_system_info().strip(),
        "prefill_ratio_repacked_vs_plain": round(prefill_on / prefill_off, 2),
        "decode_ratio_repacked_vs_plain": round(decode_on / decode_off, 2),
        "prefill_tok_s": {"repacked": round(prefill_on, 1), "plain": round(prefill_off, 1)},
        "decode_tok_s": {"repacked": round(decode_on, 1), "plain": round(decode_off, 1)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
