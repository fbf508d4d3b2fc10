"""Plain `mlx_lm.lora` (its own command-line entry point, unchanged), in a process of its own
that imports nothing of mlxmed, printing each training report as a JSON line.

OpenBLAS is loaded into the process before MLX, as anyone running MLX on a Linux CPU must
(the `mlx[cpu]` wheel's reference BLAS is ~50x slower), with one thread per physical core
and the kernels the CPU supports (``OPENBLAS_CORETYPE``, passed on by the caller): the same
things mlxmed does, and nothing else.

    python bench/mlx_lm_lora.py --model M --train --data D ...   (mlx_lm.lora's arguments)
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time

OPENBLAS = ("libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/libopenblas.so.0")


def load_openblas() -> None:
    if not sys.platform.startswith("linux"):
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(os.cpu_count() or 1))
    for candidate in OPENBLAS:
        try:
            ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
            return
        except OSError:
            continue


def main() -> None:
    started = time.perf_counter()
    load_openblas()
    from mlx_lm import lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    class PrintReports(TrainingCallback):
        def on_train_loss_report(self, info: dict) -> None:
            print("MLX_LM_REPORT " + json.dumps({k: float(v) for k, v in info.items()}),
                  flush=True)

    lora.get_reporting_callbacks = lambda *args, **kwargs: PrintReports()
    sys.argv = ["mlx_lm.lora", *sys.argv[1:]]
    lora.main()
    print("MLX_LM_WALL " + json.dumps({"wall_seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
