"""llama.cpp's own time for the work `mlxmed extract` cannot avoid, measured directly, in a
process of its own that imports nothing of mlxmed: per note, the prefill of the note's own
tokens after the cached shared instruction (the same positions mlxmed's notes take), then the
answer's passes in mlxmed's order: one decode step per token it decodes one at a time, one
batch per run of forced tokens it keeps (a value has to be decoded before the text after it).

    python bench/llama_ceiling.py PLAN.json

PLAN.json: {"gguf", "n_ctx", "threads", "prefix": [ids], "notes": [{"suffix": [ids],
"passes": [[ids], ...]}]}. Prints one JSON line with the seconds per note.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    from llama_cpp import Llama

    llm = Llama(model_path=plan["gguf"], n_ctx=plan["n_ctx"], n_batch=min(512, plan["n_ctx"]),
                n_threads=plan["threads"], n_threads_batch=plan["threads"], logits_all=False,
                n_gpu_layers=-1, verbose=False)
    prefix = plan["prefix"]
    llm.eval(prefix)
    seconds = []
    for note in plan["notes"]:
        llm.n_tokens = len(prefix)
        start = time.perf_counter()
        llm.eval(note["suffix"])
        for tokens in note["passes"]:
            llm.eval(tokens)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds_per_note": seconds, "prefix_tokens": len(prefix)}))


if __name__ == "__main__":
    main()
