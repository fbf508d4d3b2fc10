"""The exported file proved against the trained MLX model: both answer the validation notes
(label scoring on both sides; constrained decoding in llama.cpp for extraction) and must agree;
for F16 the largest logit difference on one prompt is measured too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from mlxmed.accel import cpu_kernels
from mlxmed.errors import MlxmedError
from mlxmed.inference.llama_predictor import LlamaPredictor
from mlxmed.inference.llama_runtime import open_gguf
from mlxmed.inference.mlx_predictor import MlxPredictor

if TYPE_CHECKING:
    from mlxmed.artifacts.run import Run
    from mlxmed.export.run import ExportResult
    from mlxmed.tasks import Task

UNSURE = 0.5  # a label probability under this: the trained model's answer is close to a guess


def verify_export(result: ExportResult, run: Run, task: Task, fused_model, limit: int,
                  min_agreement: float, on_event: Callable[[dict], None]) -> None:
    """Compare the exported file's answers with MLX's on the validation notes; raise below
    ``min_agreement``. For F16 also record the largest logit difference on one prompt."""
    import mlx.core as mx

    chats = run.data().chats("valid")[:limit]
    chat = run.model_dir().chat_tokenizer()
    if result.quant == "F16":
        ids = chat.prompt_ids(chats[0])
        ours = np.array(fused_model(mx.array([ids]))[0].astype(mx.float32))
        llm = open_gguf(result.path, n_ctx=len(ids) + 16, logits_all=True, f32_kv_cache=True)
        llm.eval(ids)
        theirs = np.asarray(llm.scores[: len(ids)], dtype=np.float32)
        result.max_logit_diff = float(np.abs(ours - theirs).max())
        del llm
    n_ctx = max(len(chat.prompt_ids(m)) for m in chats) + 300
    gguf_side = LlamaPredictor(task, result.path, chat, n_ctx=n_ctx)
    same, disagreed, fields_same = 0, [], Counter()
    with cpu_kernels.enabled(fused_model):
        mlx_side = MlxPredictor(task, fused_model, chat)
        for index, messages in enumerate(chats):
            prompt = [m for m in messages if m["role"] != "assistant"]
            ours, theirs = mlx_side.predict(prompt), gguf_side.predict(prompt)
            if ours.value is not None and theirs.value is not None:
                mine, other = task.answer_cells(ours.value), task.answer_cells(theirs.value)
                fields_same.update(name for name, cell in mine.items() if other[name] == cell)
            if ours.value == theirs.value:
                same += 1
            elif ours.confidence is not None:
                disagreed.append(ours.confidence)
            on_event({"type": "verify_progress", "done": index + 1, "total": len(chats)})
    result.compared = len(chats)
    result.agreement = same / len(chats)
    result.field_agreement = {name: fields_same[name] / len(chats)
                              for name in task.answer_columns()}
    if disagreed and len(disagreed) == len(chats) - same:
        result.disagreement_confidence = max(disagreed)
    if result.agreement < min_agreement:
        coin_flips = (result.disagreement_confidence is not None
                      and result.disagreement_confidence < UNSURE)
        hint = ("try a larger --quant (Q8_0 or F16)" if not coin_flips
                else f"every disagreement is on a note where the trained model itself is "
                f"unsure (its label probability at most {result.disagreement_confidence:.2f}): "
                "train on more notes, or try a larger --quant (Q8_0 or F16)")
        raise MlxmedError(
            f"{result.path}: the exported model agrees with the trained model on only "
            f"{result.agreement:.0%} of {len(chats)} validation notes (minimum "
            f"{min_agreement:.0%}); {hint}")
