"""A small GBNF recogniser for tests: parse a grammar, then decide whether it matches a string.

Supports rules, alternation, grouping, string literals, character classes (ranges, negation,
escapes), ``.``, rule references and the ``*``, ``+``, ``?``, ``{m}``, ``{m,}``, ``{m,n}``
repetitions. Matching computes, for a node and a start position, the set of all end positions
(memoised), which is exact for grammars without left recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class GrammarError(ValueError):
    """The grammar text is not valid GBNF (as far as this recogniser understands it)."""


@dataclass(eq=False)
class Node:
    kind: str  # alt | seq | lit | cls | any | ref | rep
    children: list[Node] = field(default_factory=list)
    text: str = ""
    ranges: list[tuple[int, int]] = field(default_factory=list)
    negated: bool = False
    low: int = 0
    high: int | None = None


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]",
            "-": "-", "/": "/", "^": "^"}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self, newlines: bool = True) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "#":
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            elif char in " \t\r" or (newlines and char == "\n"):
                self.pos += 1
            else:
                break

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum()
                                             or self.text[self.pos] in "-_"):
            self.pos += 1
        if start == self.pos:
            raise GrammarError(f"expected a rule name at offset {start}")
        return self.text[start:self.pos]

    def at_rule_start(self) -> bool:
        saved = self.pos
        try:
            self.name()
            self.skip()
            return self.text.startswith("::=", self.pos)
        except GrammarError:
            return False
        finally:
            self.pos = saved

    def char(self) -> str:
        """One (possibly escaped) character inside a literal or class."""
        char = self.peek()
        if not char:
            raise GrammarError("unexpected end of grammar")
        self.pos += 1
        if char != "\\":
            return char
        esc = self.peek()
        self.pos += 1
        if esc in _HEX_LEN:
            digits = self.text[self.pos:self.pos + _HEX_LEN[esc]]
            if len(digits) != _HEX_LEN[esc]:
                raise GrammarError(f"bad \\{esc} escape at offset {self.pos}")
            self.pos += _HEX_LEN[esc]
            return chr(int(digits, 16))
        if esc not in _ESCAPES:
            raise GrammarError(f"unknown escape \\{esc} at offset {self.pos}")
        return _ESCAPES[esc]

    def grammar(self) -> dict[str, Node]:
        rules: dict[str, Node] = {}
        self.skip()
        while self.pos < len(self.text):
            name = self.name()
            self.skip()
            if not self.text.startswith("::=", self.pos):
                raise GrammarError(f"expected '::=' after {name}")
            self.pos += 3
            if name in rules:
                raise GrammarError(f"rule {name} defined twice")
            rules[name] = self.alternatives()
            self.skip()
        return rules

    def alternatives(self) -> Node:
        options = [self.sequence()]
        while True:
            self.skip()
            if self.peek() != "|":
                break
            self.pos += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else Node("alt", options)

    def sequence(self) -> Node:
        items: list[Node] = []
        while True:
            self.skip()
            char = self.peek()
            if not char or char in "|)" or (char.isalnum() and self.at_rule_start()):
                break
            items.append(self.postfix(self.atom()))
        return items[0] if len(items) == 1 else Node("seq", items)

    def atom(self) -> Node:
        char = self.peek()
        if char == '"':
            self.pos += 1
            out = []
            while self.peek() != '"':
                out.append(self.char())
            self.pos += 1
            return Node("lit", text="".join(out))
        if char == "[":
            self.pos += 1
            negated = self.peek() == "^"
            if negated:
                self.pos += 1
            ranges = []
            while self.peek() != "]":
                low = self.char()
                high = low
                if self.peek() == "-" and self.text[self.pos + 1:self.pos + 2] != "]":
                    self.pos += 1
                    high = self.char()
                ranges.append((ord(low), ord(high)))
            self.pos += 1
            return Node("cls", ranges=ranges, negated=negated)
        if char == "(":
            self.pos += 1
            inner = self.alternatives()
            self.skip()
            if self.peek() != ")":
                raise GrammarError(f"missing ')' at offset {self.pos}")
            self.pos += 1
            return inner
        if char == ".":
            self.pos += 1
            return Node("any")
        if char.isalnum():
            return Node("ref", text=self.name())
        raise GrammarError(f"unexpected {char!r} at offset {self.pos}")

    def postfix(self, node: Node) -> Node:
        while True:
            char = self.peek()
            if char in ("*", "+", "?"):
                self.pos += 1
                low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
            elif char == "{":
                end = self.text.index("}", self.pos)
                body = self.text[self.pos + 1:end].replace(" ", "")
                self.pos = end + 1
                if "," in body:
                    low_text, high_text = body.split(",")
                    low, high = int(low_text), (int(high_text) if high_text else None)
                else:
                    low = high = int(body)
            else:
                return node
            node = Node("rep", [node], low=low, high=high)


class Grammar:
    """A parsed GBNF grammar; ``matches(text)`` says whether ``root`` derives ``text``."""

    def __init__(self, text: str) -> None:
        self.rules = _Parser(text).grammar()
        if "root" not in self.rules:
            raise GrammarError("no root rule")
        for node in self.rules.values():
            self._check_refs(node)

    def _check_refs(self, node: Node) -> None:
        if node.kind == "ref" and node.text not in self.rules:
            raise GrammarError(f"undefined rule {node.text}")
        for child in node.children:
            self._check_refs(child)

    def matches(self, text: str, rule: str = "root") -> bool:
        memo: dict[tuple[int, int], frozenset[int]] = {}
        return len(text) in self._ends(self.rules[rule], 0, text, memo)

    def _ends(self, node: Node, pos: int, text: str,
              memo: dict[tuple[int, int], frozenset[int]]) -> frozenset[int]:
        key = (id(node), pos)
        if key in memo:
            return memo[key]
        memo[key] = frozenset()  # guards against (unsupported) left recursion
        result = frozenset(self._compute(node, pos, text, memo))
        memo[key] = result
        return result

    def _compute(self, node: Node, pos: int, text: str,
                 memo: dict[tuple[int, int], frozenset[int]]) -> set[int]:
        kind = node.kind
        if kind == "lit":
            return {pos + len(node.text)} if text.startswith(node.text, pos) else set()
        if kind in ("cls", "any"):
            if pos >= len(text):
                return set()
            if kind == "any":
                return {pos + 1}
            code = ord(text[pos])
            inside = any(low <= code <= high for low, high in node.ranges)
            return {pos + 1} if inside != node.negated else set()
        if kind == "ref":
            return set(self._ends(self.rules[node.text], pos, text, memo))
        if kind == "alt":
            out: set[int] = set()
            for child in node.children:
                out |= self._ends(child, pos, text, memo)
            return out
        if kind == "seq":
            current = {pos}
            for child in node.children:
                current = {end for start in current
                           for end in self._ends(child, start, text, memo)}
                if not current:
                    break
            return current
        # repetition
        child = node.children[0]
        results = {pos} if node.low == 0 else set()
        frontier, seen, count = {pos}, set(), 0
        while frontier and (node.high is None or count < node.high):
            frontier = {end for start in frontier for end in self._ends(child, start, text, memo)}
            count += 1
            if count >= node.low:
                results |= frontier
                if node.high is None:  # unbounded: only new positions can lead further
                    frontier -= seen
                    seen |= frontier
        return results


def matches(grammar_text: str, text: str) -> bool:
    """Parse ``grammar_text`` and test ``text`` against its root rule."""
    return Grammar(grammar_text).matches(text)
