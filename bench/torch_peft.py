"""PyTorch + PEFT LoRA on the bench's batches, in a process of its own that imports nothing of
mlxmed (no OpenBLAS loaded globally, no thread variables set): what a user would run instead.

    python bench/torch_peft.py BATCHES.json MODEL_DIR THREADS

BATCHES.json (written by bench/run.py) holds the token ids of every training step's rows and
their prompt lengths, the LoRA settings and how many first steps are warm-up. Prints one JSON
line: seconds per step (after warm-up), per epoch, tokens computed, wall seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    batches_file, model_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    started = time.perf_counter()
    import peft
    import torch
    import transformers

    torch.set_num_threads(threads)
    plan = json.loads(Path(batches_file).read_text(encoding="utf-8"))
    lora = plan["lora"]
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    layers = model.config.num_hidden_layers
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
        layers_to_transform=list(range(layers - lora["layers"], layers))))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                 lr=lora["learning_rate"])
    model.train()
    step_seconds, tokens = [], 0
    for rows in plan["steps"]:
        width = max(len(ids) for ids, _ in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for row, (seq, offset) in enumerate(rows):
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, offset: len(seq)] = torch.tensor(seq[offset:])
        tic = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step_seconds.append(time.perf_counter() - tic)
        tokens += sum(len(seq) for seq, _ in rows)
    warm = plan["warmup_steps"]
    per_epoch = plan["steps_per_epoch"]
    epochs = [step_seconds[i: i + per_epoch] for i in range(0, len(step_seconds), per_epoch)]
    timed = step_seconds[warm:]
    print(json.dumps({
        "seconds_per_step": sum(timed) / len(timed),
        "seconds_per_step_by_epoch": [sum(e[warm if i == 0 else 0:]) /
                                      max(1, len(e) - (warm if i == 0 else 0))
                                      for i, e in enumerate(epochs)],
        "tokens_computed": tokens, "train_seconds": sum(step_seconds),
        "wall_seconds": time.perf_counter() - started, "torch": torch.__version__,
        "threads": threads}))


if __name__ == "__main__":
    main()
