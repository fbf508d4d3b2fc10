"""bench/RESULTS.md from bench/results.json: every figure and ratio of one `make bench` run,
each ratio next to the configuration it was measured on."""

from __future__ import annotations

from pathlib import Path


def _f(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _epochs(values: list | None) -> str:
    return " / ".join(_f(v, 1) for v in values or []) or "–"


def training_section(name: str, result: dict) -> list[str]:
    recipe = result["recipe"]
    ours, plain, torch = result["mlxmed"], result["mlx_lm_lora"], result["torch_peft"]
    projected = result.get("projected_default_wall_seconds") or {}
    lines = [
        f"### {name}: {result['notes']} smoking notes, "
        f"{'focus excerpts' if name == 'focus' else 'whole notes'}, "
        f"~{result['mean_chat_tokens']:.0f}-token chats",
        "",
        f"Recipe (mlxmed's default for this model): LoRA rank {recipe['rank']}, alpha "
        f"{recipe['alpha']:g}, lr {recipe['learning_rate']:g}, {recipe['layers']} layers, batch "
        f"{recipe['batch_size']}; {result.get('default_steps', result['steps'])} optimizer "
        f"steps by default ({result['steps_per_epoch']} per epoch). Every contender runs the "
        f"first {result['steps']} of them on the same notes, each note once per epoch; the "
        "first steps are warm-up for all and not timed.",
        "",
        "| contender | s/step (mean) | s/step by epoch | tokens computed/s | wall s | "
        "peak RSS GB | projected wall s, default steps |",
        "|---|---|---|---|---|---|---|",
        f"| `mlxmed train` (fixed steps, no balancing) | {_f(ours['seconds_per_step'])} | "
        f"{_epochs(ours['seconds_per_step_by_epoch'])} | "
        f"{_f(ours['tokens_computed_per_second'], 0)} | {_f(ours['wall_seconds'], 0)} | "
        f"{_f(ours['peak_rss_gb'])} | {_f(projected.get('mlxmed_no_validation'), 0)} |",
        f"| plain `mlx_lm.lora` | {_f(plain['seconds_per_step'])} | "
        f"{_epochs(plain['seconds_per_step_by_epoch'])} | "
        f"{_f(plain['tokens_computed_per_second'], 0)} | {_f(plain['wall_seconds'], 0)} | "
        f"{_f(plain['peak_rss_gb'])} | {_f(projected.get('mlx_lm_lora'), 0)} |",
    ]
    if "seconds_per_step" in torch:
        lines.append(
            f"| PyTorch + PEFT ({torch.get('threads', '?')} threads) | "
            f"{_f(torch['seconds_per_step'])} | {_epochs(torch.get('seconds_per_step_by_epoch'))}"
            f" | {_f(torch.get('tokens_computed_per_second'), 0)} | "
            f"{_f(torch['wall_seconds'], 0)} | {_f(torch['peak_rss_gb'])} | "
            f"{_f(projected.get('torch_peft'), 0)} |")
    else:
        lines.append(f"| PyTorch + PEFT | {torch.get('skipped', 'not run')} | | | | | |")
    if result.get("default_recipe_wall_seconds") is not None:
        waited = (f"**{_f(result['default_recipe_wall_seconds'], 0)} s**, measured (validation "
                  f"included, {result['default_recipe_steps']} steps, "
                  f"{result['default_recipe_status']})")
    elif result.get("smoke"):
        waited = "not run in a smoke run"
    else:
        waited = (f"not run here; projected without validation: "
                  f"{_f(projected.get('mlxmed_no_validation'), 0)} s")
    basis = result.get("default_wall_basis", "measured")
    lines += [
        "",
        f"What a user waits for, `mlxmed train` with every default: {waited}. The projected "
        "walls are each contender's measured wall plus the default recipe's remaining steps at "
        "its last epoch's seconds per step.",
        "",
        "| ratio (this configuration, this run) | value |",
        "|---|---|",
        f"| mlxmed ÷ mlx_lm.lora, seconds per step | {_f(result['ratio_step_mlxmed_vs_mlx_lm'])} |",
        f"| mlxmed default wall ({basis}) ÷ mlx_lm.lora wall (projected, same steps) | "
        f"{_f(result.get('ratio_wall_default_vs_mlx_lm'))} |",
    ]
    if "ratio_step_mlxmed_vs_torch" in result:
        lines += [
            f"| mlxmed ÷ PyTorch + PEFT, seconds per step | "
            f"{_f(result['ratio_step_mlxmed_vs_torch'])} |",
            f"| mlxmed default wall ({basis}) ÷ PyTorch + PEFT wall (projected, same steps) | "
            f"{_f(result.get('ratio_wall_default_vs_torch'))} |",
        ]
    ours_bare, torch_bare = projected.get("mlxmed_no_validation"), projected.get("torch_peft")
    if basis == "measured" and ours_bare and torch_bare:
        lines.append(f"| mlxmed wall without validation (projected) ÷ PyTorch + PEFT wall "
                     f"(projected), same steps | {_f(ours_bare / torch_bare)} |")
    lines += [
        f"| mlxmed seconds per step ÷ matmul ceiling | "
        f"{_f(result['ratio_mlxmed_step_vs_ceiling'])} |",
        "",
        f"Matmul ceiling: every matmul an mlxmed step runs (the shared prompt start once, each "
        f"note's own tokens, attention, the backward through the LoRA layers, the output layer "
        f"at the answer positions; the layers below the adapters skipped once cached) at numpy's "
        f"float32 GEMM speed on this machine ({_f(result['numpy_gemm_gflops'], 0)} GFLOP/s): "
        f"{_f(result['matmul_ceiling_seconds_per_step'])} s per step.",
        "",
    ]
    return lines


def extraction_section(result: dict) -> list[str]:
    lines = ["## Extraction", "",
             "| task | model | notes | mlxmed s | notes/s | naive loop s | ceiling s | "
             "× naive speed | share of ceiling | same answers as naive |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result.items():
        same = r.get("same_labels_as_naive", r.get("same_answers_as_naive"))
        lines.append(
            f"| {name} | {r['model']} | {r['notes']} | {_f(r['mlxmed_seconds'], 1)} | "
            f"{_f(r['mlxmed_notes_per_second'])} | {_f(r['naive_seconds'], 1)} | "
            f"{_f(r['ceiling_seconds'], 1)} | {_f(r['ratio_mlxmed_vs_naive_speed'])} | "
            f"{_f(100 * r['fraction_of_ceiling'], 0, '%')} | {_f(100 * same, 0, '%')} |")
    lines += [
        "",
        "The ceiling is llama.cpp itself, in a clean process, doing only the work that cannot be "
        "avoided: each note's prefill after the cached shared instruction (at the same "
        "positions), then the answer's passes in mlxmed's order: one decode step per token "
        "mlxmed decodes one at a time (label tokens past a shared start; JSON values), one "
        "batch per run of the JSON skeleton it feeds and keeps (the text after a value can "
        "only be fed once the value is decoded; tokens fed and taken back are not counted). "
        "The share "
        "of the ceiling counts from the second note on, since the first also fills the "
        "instruction cache, which the ceiling takes as free.",
        "",
    ]
    smoking = result.get("smoking")
    if smoking:
        lines.append(
            f"Smoking: {smoking['distinct_labels']} distinct labels among mlxmed's answers; "
            f"first note {_f(smoking['mlxmed_first_note_seconds'])} s; peak RSS "
            f"{_f(smoking['peak_rss_gb'])} GB.")
    cardio = result.get("cardio")
    if cardio:
        lines.append(
            f"Cardiology: {_f(100 * cardio['answer_tokens_fed_as_forced_text'], 0, '%')} of the "
            "answer tokens are the schema's fixed text, fed as checked batches instead of one "
            "decode step each"
            + (f" ({_f(cardio['answer_tokens_per_note'], 0)} answer tokens in "
               f"{_f(cardio['answer_passes_per_note'], 0)} passes per note)."
               if "answer_passes_per_note" in cardio else "."))
    lines.append("")
    return lines


GOALS = (  # (what, result key, at most / at least, target)
    ("default-recipe wall time ÷ PyTorch + PEFT", "ratio_wall_default_vs_torch", "≤", 0.5),
    ("default-recipe wall time ÷ plain mlx_lm.lora", "ratio_wall_default_vs_mlx_lm", "≤", 0.33),
)
EXTRACTION_GOAL = 0.9  # share of the engine's ceiling


def goals_section(results: dict) -> list[str]:
    """Each goal of the speed work against this run's figure: met, or how far."""
    lines = ["## Against the goals", "", "| configuration | measure | goal | this run | met |",
             "|---|---|---|---|---|"]
    for name, result in (results.get("training") or {}).items():
        for what, key, sign, target in GOALS:
            value = result.get(key)
            met = "–" if value is None else ("yes" if value <= target else
                                            f"no ({value / target:.1f}× the goal)")
            lines.append(f"| training, {name} | {what} | {sign} {target:g} | {_f(value)} | "
                         f"{met} |")
    for name, result in (results.get("extraction") or {}).items():
        share = result.get("fraction_of_ceiling")
        met = "–" if share is None else ("yes" if share >= EXTRACTION_GOAL else "no")
        shown = _f(None if share is None else 100 * share, 0, "%")
        lines.append(f"| extraction, {name} | share of the engine's ceiling | ≥ "
                     f"{100 * EXTRACTION_GOAL:.0f}% | {shown} | {met} |")
    return [*lines, ""]


def write_markdown(results: dict, path: Path) -> None:
    """Write RESULTS.md for one bench run."""
    machine = results["machine"]
    smoke = results.get("smoke_steps")
    lines = ["# Benchmark results" + (f" — smoke run ({smoke} steps): a check that the bench "
                                      "works, not a measurement" if smoke else ""), "",
             f"Written by `make bench` on {results['date']}: {machine['cpu']}, "
             f"{machine['cores']} cores, {machine['ram_gb']} GB RAM, {machine['system']}, "
             f"Python {machine['python']}, mlxmed {machine['mlxmed']}. Each contender ran in "
             "a clean process of its own; ratios compare runs of this one session. The first "
             f"{results['warmup_steps']} steps of every training contender are warm-up and not "
             "timed.", ""]
    if results.get("reruns"):
        lines += [f"Parts measured again on their own after the full run (same day, same "
                  f"machine): {', '.join(results['reruns'])}.", ""]
    training = results.get("training")
    if training:
        lines += ["## Training (bundled SmolLM2-135M-Instruct)", ""]
        for name, result in training.items():
            lines += training_section(name, result)
    if results.get("extraction"):
        lines += extraction_section(results["extraction"])
    lines += goals_section(results)
    path.write_text("\n".join(lines))
