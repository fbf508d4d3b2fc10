"""The bytes each token of a vocabulary writes, in a trie, for decoding under a byte-level
pattern: which tokens may come next is a walk down the trie that stops where the pattern
stops."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet back to bytes (the inverse of its bytes_to_unicode)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def model_token_bytes(model_dir) -> list[bytes | None]:
    """:func:`token_bytes_from_tokenizer_json` of a converted model folder's tokenizer."""
    import json
    from pathlib import Path

    text = (Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8")
    return token_bytes_from_tokenizer_json(json.loads(text))


def token_bytes_from_tokenizer_json(data: dict) -> list[bytes | None]:
    """Per token id, the bytes it writes (None for special/added tokens), for byte-level BPE
    and SentencePiece-style vocabularies as a ``tokenizer.json`` describes them."""
    vocab: dict[str, int] = data["model"]["vocab"]
    size = max([*vocab.values(), *(t["id"] for t in data.get("added_tokens", []))]) + 1
    out: list[bytes | None] = [None] * size
    decoder = _byte_decoder()
    byte_level = "ByteLevel" in str(data.get("decoder")) or \
        "ByteLevel" in str(data.get("pre_tokenizer"))
    for token, index in vocab.items():
        if byte_level:
            try:
                out[index] = bytes(decoder[char] for char in token)
            except KeyError:
                out[index] = token.encode("utf-8")
        elif len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            out[index] = bytes([int(token[3:5], 16)])
        else:
            out[index] = token.replace("\u2581", " ").encode("utf-8")
    for added in data.get("added_tokens", []):
        out[added["id"]] = None if added.get("special", True) else \
            added["content"].encode("utf-8")
    return out


class TokenTrie:
    """Token ids by the bytes they write, as a trie (one node per distinct prefix)."""

    def __init__(self, pieces: Sequence[bytes | None]) -> None:
        self.pieces = list(pieces)
        self.children: list[dict[int, int]] = [{}]
        self.ending: list[list[int]] = [[]]
        for token, piece in enumerate(self.pieces):
            if not piece:
                continue
            node = 0
            for byte in piece:
                child = self.children[node].get(byte)
                if child is None:
                    child = len(self.children)
                    self.children[node][byte] = child
                    self.children.append({})
                    self.ending.append([])
                node = child
            self.ending[node].append(token)

    def allowed(self, viable: Callable[[bytes], bool], limit: int = 50_000
                ) -> Iterator[int]:
        """Token ids whose bytes ``viable`` accepts as a continuation (``viable`` is asked
        for each prefix on the way down, so a subtree it rejects is never visited); stops
        after ``limit`` trie nodes."""
        stack: list[tuple[int, bytes]] = [(0, b"")]
        visited = 0
        while stack and visited < limit:
            node, prefix = stack.pop()
            visited += 1
            yield from self.ending[node]
            for byte, child in self.children[node].items():
                extended = prefix + bytes([byte])
                if viable(extended):
                    stack.append((child, extended))
