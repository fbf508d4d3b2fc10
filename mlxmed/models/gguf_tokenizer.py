"""Rebuild a Hugging Face ``tokenizer.json`` from the vocabulary stored in a GGUF file, so that
the MLX model tokenizes exactly as llama.cpp does on the original file.

Two vocabulary kinds are covered: byte-level BPE (``tokenizer.ggml.model = gpt2``; the
pre-tokenizer is chosen by ``tokenizer.ggml.pre``) and SentencePiece (``llama``), whose merges
are recovered from the token scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

from mlxmed.errors import MlxmedError

# llama.cpp token types
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = (
    1, 2, 3, 4, 5, 6)

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_level_only() -> pre.PreTokenizer:
    return pre.ByteLevel(add_prefix_space=False, use_regex=True)


def _digits_then_byte_level() -> pre.PreTokenizer:
    return pre.Sequence([pre.Digits(individual_digits=True),
                         pre.ByteLevel(add_prefix_space=False, use_regex=True)])


def _split_then_bytes(pattern: str) -> pre.PreTokenizer:
    return pre.Sequence([pre.Split(Regex(pattern), behavior="isolated", invert=False),
                         pre.ByteLevel(add_prefix_space=False, use_regex=False)])


# tokenizer.ggml.pre -> pre-tokenizer (the families in models/*.toml)
BPE_PRE_TOKENIZERS = {
    "default": _byte_level_only,
    "gpt-2": _byte_level_only,
    "smollm": _digits_then_byte_level,
    "llama-bpe": lambda: _split_then_bytes(LLAMA3_PATTERN),
    "llama3": lambda: _split_then_bytes(LLAMA3_PATTERN),
    "qwen2": lambda: _split_then_bytes(QWEN2_PATTERN),
}


@dataclass
class GGUFVocab:
    """The tokenizer part of a GGUF file's metadata."""

    model: str                       # "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    tokens: list[str]
    token_types: list[int]
    pre: str = "default"
    merges: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    add_bos: bool = False
    add_space_prefix: bool = True
    chat_template: str | None = None


def build_tokenizer(vocab: GGUFVocab) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` whose ids equal llama.cpp's for this vocabulary."""
    if vocab.model == "gpt2":
        tokenizer = _build_bpe(vocab)
    elif vocab.model == "llama":
        tokenizer = _build_sentencepiece(vocab)
    else:
        raise MlxmedError(f"tokenizer type '{vocab.model}' is not supported for GGUF import "
                          "(supported: gpt2 byte-level BPE, llama SentencePiece); convert the "
                          "model from its Hugging Face repository instead")
    _add_special_tokens(tokenizer, vocab)
    if vocab.add_bos and vocab.bos_id is not None:
        bos = vocab.tokens[vocab.bos_id]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab.bos_id)])
    return tokenizer


def _build_bpe(vocab: GGUFVocab) -> Tokenizer:
    make_pre = BPE_PRE_TOKENIZERS.get(vocab.pre)
    if make_pre is None:
        raise MlxmedError(
            f"GGUF pre-tokenizer '{vocab.pre}' is not supported (supported: "
            f"{', '.join(sorted(BPE_PRE_TOKENIZERS))}); convert the model from its Hugging Face "
            "repository instead")
    merges = [tuple(m.split(" ", 1)) for m in vocab.merges]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(vocab.tokens)}, merges=merges,
                     ignore_merges=vocab.pre in ("llama-bpe", "llama3"), fuse_unk=False)
    tokenizer = Tokenizer(bpe)
    if vocab.pre == "qwen2":
        tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = make_pre()
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _build_sentencepiece(vocab: GGUFVocab) -> Tokenizer:
    """SentencePiece vocabularies carry scores, not merges: rank the merges by the score of the
    merged piece, which is the order llama.cpp's SPM tokenizer applies them in."""
    ids = {t: i for i, t in enumerate(vocab.tokens)}
    normal = [i for i, token_type in enumerate(vocab.token_types) if token_type in (TOKEN_NORMAL,
                                                                        TOKEN_USER_DEFINED)]
    ranked: list[tuple[float, int, tuple[str, str]]] = []
    for token_id in normal:
        piece = vocab.tokens[token_id]
        score = vocab.scores[token_id] if vocab.scores else 0.0
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in ids and right in ids:
                ranked.append((-score, token_id, (left, right)))
    ranked.sort()
    unk = vocab.tokens[vocab.unk_id] if vocab.unk_id is not None else None
    bpe = models.BPE(vocab=ids, merges=[m for _, _, m in ranked], unk_token=unk, fuse_unk=True,
                     byte_fallback=True)
    tokenizer = Tokenizer(bpe)
    steps = [normalizers.Replace(" ", "\u2581")]
    if vocab.add_space_prefix:
        steps.insert(0, normalizers.Prepend("\u2581"))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.decoder = decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
        *([decoders.Strip(" ", 1, 0)] if vocab.add_space_prefix else []),
    ])
    return tokenizer


def _add_special_tokens(tokenizer: Tokenizer, vocab: GGUFVocab) -> None:
    """Control tokens (and user-defined ones) are matched whole, as llama.cpp does."""
    special, user = [], []
    for token, token_type in zip(vocab.tokens, vocab.token_types, strict=True):
        if token_type == TOKEN_CONTROL:
            special.append(AddedToken(token, special=True, normalized=False))
        elif token_type == TOKEN_USER_DEFINED:
            user.append(AddedToken(token, special=False, normalized=False))
    if special:
        tokenizer.add_special_tokens(special)
    if user:
        tokenizer.add_tokens(user)


def tokenizer_config(vocab: GGUFVocab) -> dict:
    """The ``tokenizer_config.json`` that goes beside ``tokenizer.json``."""

    def text(token_id: int | None) -> str | None:
        return vocab.tokens[token_id] if token_id is not None else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": text(vocab.bos_id),
        "eos_token": text(vocab.eos_id),
        "pad_token": text(vocab.pad_id if vocab.pad_id is not None else vocab.eos_id),
        "unk_token": text(vocab.unk_id),
        "add_bos_token": vocab.add_bos,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1_000_000,
    }
    if vocab.chat_template:
        config["chat_template"] = vocab.chat_template
    return {k: v for k, v in config.items() if v is not None}
