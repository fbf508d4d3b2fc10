"""Tiny random models for fast tests: a real byte-level BPE tokenizer trained on a few clinical
sentences, random weights in Hugging Face layout, written as an HF directory and/or a GGUF file
exactly as llama.cpp's converter lays them out (including the Q/K row permutation)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# chat families (special tokens, template, bos, eos) as the real model families lay them out,
# to test that note text containing their control tokens stays text
CHAT_FAMILIES = {
    "chatml": (SPECIAL_TOKENS, CHATML, "<|endoftext|>", "<|im_end|>"),
    "llama3": (["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
               "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
               "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>"
               "\n\n' }}{% endif %}", "<|begin_of_text|>", "<|eot_id|>"),
    "gemma": (["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
              "{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' + ('model' if "
              "m['role'] == 'assistant' else 'user') + '\n' + m['content'] | trim + "
              "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
              "{{ '<start_of_turn>model\n' }}{% endif %}", "<bos>", "<end_of_turn>"),
    "mistral": (["<s>", "</s>", "[INST]", "[/INST]"],
                "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}"
                "{{ m['content'] + eos_token }}{% else %}{{ '[INST] ' + m['content'] + "
                "' [/INST]' }}{% endif %}{% endfor %}", "<s>", "</s>"),
}

CORPUS = [
    "The patient is a 67-year-old man admitted with chest pain and shortness of breath.",
    "He quit smoking in 2015 after a 40 pack-year history; denies alcohol or drug use.",
    "Echocardiography: LV-EF 55 %, no regional wall motion abnormality, mild mitral "
    "regurgitation. Blood pressure 142/88 mmHg, heart rate 76/min, SpO2 97 %.",
    "Discharge medications: aspirin 100 mg daily, atorvastatin 40 mg at night, metoprolol "
    "47.5 mg twice daily. Follow-up in 3 months with repeat troponin and creatinine 1.2 mg/dL.",
    "Befund: Hochgradig eingeschränkte LV-Funktion, EF ca. 30%. Vorhofflimmern. Z.n. "
    "Myokardinfarkt 2019. Mittelgradige Mitralklappeninsuffizienz (MI II°).",
    "Beurteilung: Dilatative Kardiomyopathie mit LVEDV 210 ml; RV-EF 45 %; TAPSE 17 mm.",
    "Current smoker, 1 pack per day since age 16; counselled on cessation; nicotine patch.",
    "Never smoked. Father was a heavy smoker and died of lung cancer at 71.",
    "Social history: lives with wife, retired teacher, walks daily, occasional wine.",
    "Überweisung wegen Belastungsdyspnoe NYHA III, Ödeme der Unterschenkel, Gewicht 92 kg.",
]


@dataclass(frozen=True)
class TinyConfig:
    """Shape of a tiny model: every matrix dimension is a multiple of 32 (GGUF block size)."""

    arch: str = "llama"          # "llama", "qwen2" or "qwen3"
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    context: int = 512
    rope_theta: float = 10000.0
    eps: float = 1e-5
    tie_embeddings: bool = False
    vocab_size: int = 512
    seed: int = 0

    @property
    def head_dim(self) -> int:
        """Qwen3 heads are wider than hidden / heads (as in the real models)."""
        return 2 * self.hidden // self.heads if self.arch == "qwen3" else self.hidden // self.heads


def train_tokenizer(vocab_size: int = 512, special_tokens: list[str] = SPECIAL_TOKENS
                    ) -> Tokenizer:
    """A byte-level BPE tokenizer (SmolLM2-style: single digits, then byte-level)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 3, trainer=trainer)
    return tokenizer


def train_sentencepiece(vocab_size: int = 420) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece BPE vocabulary with byte fallback: (pieces, scores, llama.cpp types)."""
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 3), model_writer=buffer, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, split_digits=True,
        add_dummy_prefix=True, normalization_rule_name="identity", minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    pieces, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        pieces.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        types.append(gguf.TokenType.UNKNOWN if sp.is_unknown(i) else gguf.TokenType.CONTROL
                     if sp.is_control(i) else gguf.TokenType.BYTE if sp.is_byte(i)
                     else gguf.TokenType.NORMAL)
    return pieces, scores, types


def random_weights(cfg: TinyConfig, n_vocab: int) -> dict[str, np.ndarray]:
    """Random float32 weights in Hugging Face naming, scaled so logits have a clear spread."""
    rng = np.random.default_rng(cfg.seed)
    head_dim = cfg.head_dim

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm(size: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((n_vocab, cfg.hidden)).astype(
        np.float32), "model.norm.weight": norm(cfg.hidden)}
    if not cfg.tie_embeddings:
        w["lm_head.weight"] = mat(n_vocab, cfg.hidden) * 4
    for i in range(cfg.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(cfg.hidden)
        w[p + "post_attention_layernorm.weight"] = norm(cfg.hidden)
        w[p + "self_attn.q_proj.weight"] = mat(cfg.heads * head_dim, cfg.hidden)
        w[p + "self_attn.k_proj.weight"] = mat(cfg.kv_heads * head_dim, cfg.hidden)
        w[p + "self_attn.v_proj.weight"] = mat(cfg.kv_heads * head_dim, cfg.hidden)
        w[p + "self_attn.o_proj.weight"] = mat(cfg.hidden, cfg.heads * head_dim)
        w[p + "mlp.gate_proj.weight"] = mat(cfg.intermediate, cfg.hidden)
        w[p + "mlp.up_proj.weight"] = mat(cfg.intermediate, cfg.hidden)
        w[p + "mlp.down_proj.weight"] = mat(cfg.hidden, cfg.intermediate)
        if cfg.arch == "qwen2":
            for proj, size in (("q", cfg.heads), ("k", cfg.kv_heads), ("v", cfg.kv_heads)):
                w[p + f"self_attn.{proj}_proj.bias"] = (
                    0.1 * rng.standard_normal(size * head_dim)).astype(np.float32)
        if cfg.arch == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(head_dim)
            w[p + "self_attn.k_norm.weight"] = norm(head_dim)
    return w


def hf_config(cfg: TinyConfig, n_vocab: int) -> dict:
    model_type = cfg.arch
    return {
        "model_type": model_type,
        "architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                           "qwen3": "Qwen3ForCausalLM"}[cfg.arch]],
        "head_dim": cfg.head_dim,
        "hidden_size": cfg.hidden, "intermediate_size": cfg.intermediate,
        "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads, "rms_norm_eps": cfg.eps,
        "rope_theta": cfg.rope_theta, "max_position_embeddings": cfg.context,
        "vocab_size": n_vocab, "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": 0, "eos_token_id": 2, "torch_dtype": "float32",
    }


def write_hf_dir(path: Path, cfg: TinyConfig | None = None, chat: str = "chatml") -> Path:
    """A Hugging Face style model directory (config, safetensors, tokenizer)."""
    cfg = cfg or TinyConfig()
    specials, template, bos, eos = CHAT_FAMILIES[chat]
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(cfg.vocab_size, specials)
    n_vocab = tokenizer.get_vocab_size()
    weights = random_weights(cfg, n_vocab)
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(hf_config(cfg, n_vocab), indent=2))
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos,
        "eos_token": eos, "pad_token": eos, "chat_template": template,
        "add_bos_token": False, "clean_up_tokenization_spaces": False}))
    return path


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row interleaving (as in convert_hf_to_gguf.py)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_gguf(path: Path, cfg: TinyConfig | None = None, qtype: str = "F32",
               vocab: str = "bpe", chat: str = "chatml") -> Path:
    """The same tiny model as a GGUF file; matrices stored as ``qtype`` (F32/F16/Q8_0/Q4_0/Q4_1).

    ``vocab`` is "bpe" (byte-level BPE, SmolLM2 style) or "spm" (SentencePiece, Llama-2 style).
    """
    cfg = cfg or TinyConfig()
    tokenizer = train_tokenizer(cfg.vocab_size, CHAT_FAMILIES[chat][0])
    spm_vocab = train_sentencepiece() if vocab == "spm" else None
    n_vocab = len(spm_vocab[0]) if spm_vocab else tokenizer.get_vocab_size()
    weights = random_weights(cfg, n_vocab)
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2,
            "qwen3": gguf.MODEL_ARCH.QWEN3}[cfg.arch]
    writer = gguf.GGUFWriter(str(path), cfg.arch)
    writer.add_name(f"tiny-{cfg.arch}")
    writer.add_context_length(cfg.context)
    writer.add_embedding_length(cfg.hidden)
    writer.add_block_count(cfg.layers)
    writer.add_feed_forward_length(cfg.intermediate)
    writer.add_head_count(cfg.heads)
    writer.add_head_count_kv(cfg.kv_heads)
    writer.add_layer_norm_rms_eps(cfg.eps)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_rope_dimension_count(cfg.head_dim)
    if cfg.head_dim != cfg.hidden // cfg.heads:
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)
    writer.add_vocab_size(n_vocab)
    if spm_vocab:
        _write_spm_vocab(writer, *spm_vocab)
    else:
        _write_bpe_vocab(writer, tokenizer, chat)
    name_map = gguf.TensorNameMap(arch, cfg.layers)
    for hf_name, tensor in weights.items():
        base, suffix = hf_name.rsplit(".", 1)
        gguf_name = f"{name_map.get_name(base)}.{suffix}"
        if cfg.arch == "llama" and base.endswith("q_proj"):
            tensor = _permute(tensor, cfg.heads)
        elif cfg.arch == "llama" and base.endswith("k_proj"):
            tensor = _permute(tensor, cfg.kv_heads)
        if tensor.ndim == 2 and qtype != "F32":
            if qtype == "F16":
                writer.add_tensor(gguf_name, tensor.astype(np.float16))
            else:
                kind = gguf.GGMLQuantizationType[qtype]
                writer.add_tensor(gguf_name, gguf.quants.quantize(tensor, kind), raw_dtype=kind)
        else:
            writer.add_tensor(gguf_name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _write_bpe_vocab(writer: gguf.GGUFWriter, tokenizer: Tokenizer, chat: str = "chatml"
                     ) -> None:
    specials, template, bos, eos = CHAT_FAMILIES[chat]
    data = json.loads(tokenizer.to_str())
    vocab = data["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in specials
                            else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(bos))
    writer.add_eos_token_id(tokens.index(eos))
    writer.add_add_bos_token(False)
    writer.add_chat_template(template)


def _write_spm_vocab(writer: gguf.GGUFWriter, pieces: list[str], scores: list[float],
                     types: list[int]) -> None:
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(pieces.index("<unk>"))
    writer.add_bos_token_id(pieces.index("<s>"))
    writer.add_eos_token_id(pieces.index("</s>"))
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(True)
    writer.add_chat_template("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n"
                             "{% endfor %}{% if add_generation_prompt %}[assistant] "
                             "{% endif %}")
