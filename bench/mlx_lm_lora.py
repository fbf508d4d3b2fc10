"""Plain `mlx_lm.lora` (its own command-line entry point, unchanged), printing each training
report as a JSON line for bench/run.py. OpenBLAS is loaded first (`import mlxmed`), as mlxmed
does: without it MLX's CPU matmuls are far slower still.

    python bench/mlx_lm_lora.py --model M --train --data D ...   (mlx_lm.lora's arguments)
"""

from __future__ import annotations

import json
import sys

import mlxmed  # noqa: F401  (OpenBLAS before mlx)


def main() -> None:
    from mlx_lm import lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    class PrintReports(TrainingCallback):
        def on_train_loss_report(self, info: dict) -> None:
            print("MLX_LM_REPORT " + json.dumps({k: float(v) for k, v in info.items()}),
                  flush=True)

    lora.get_reporting_callbacks = lambda *args, **kwargs: PrintReports()
    sys.argv = ["mlx_lm.lora", *sys.argv[1:]]
    lora.main()


if __name__ == "__main__":
    main()
