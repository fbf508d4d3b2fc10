"""The order in which notes are shown for labelling: the file's order, or the model's least
certain notes first (uncertainty sampling: the labels that teach the model most); which note
comes next after an answer or a skip."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

INPUT_ORDER = "input"
LEAST_CERTAIN = "least_certain"
ORDERS = (INPUT_ORDER, LEAST_CERTAIN)


def least_certain_order(ids: Sequence[str], confidence: Mapping[str, float | None]) -> list[str]:
    """``ids`` by the model's confidence, lowest first; notes without an answer (an invalid
    one) before all others, notes not scored yet after them, ties in file order."""
    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        index, note_id = item
        if note_id not in confidence:
            return (2, 0.0, index)
        value = confidence[note_id]
        return (0, 0.0, index) if value is None else (1, value, index)

    return [note_id for _, note_id in sorted(enumerate(ids), key=key)]


class LabelQueue:
    """Positions in an ordering of the note ids, and the next note that needs an answer."""

    def __init__(self, ids: Sequence[str], is_labelled: Callable[[str], bool]) -> None:
        self.ids = list(ids)
        self.order = INPUT_ORDER
        self.is_labelled = is_labelled
        self.skipped: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def reorder(self, ids: Sequence[str], order: str) -> None:
        if sorted(ids) != sorted(self.ids):
            raise ValueError("a new order must hold the same notes")
        self.ids, self.order = list(ids), order

    def position(self, note_id: str) -> int:
        return self.ids.index(note_id)

    def clamp(self, position: int) -> int:
        return max(0, min(len(self.ids) - 1, position))

    def skip(self, position: int) -> int | None:
        """Put the note at ``position`` aside for now; the next note to label."""
        self.skipped.add(self.ids[self.clamp(position)])
        return self.next_to_label(position)

    def next_to_label(self, after: int = -1) -> int | None:
        """The first unlabelled note after ``after`` (wrapping round), notes skipped in this
        session last; None when every note has an answer."""
        count = len(self.ids)
        rotated = [(after + 1 + step) % count for step in range(count)]
        waiting = [p for p in rotated if not self.is_labelled(self.ids[p])]
        fresh = [p for p in waiting if self.ids[p] not in self.skipped]
        if fresh:
            return fresh[0]
        return waiting[0] if waiting else None
