"""Training batches: tokenized chats, length-bucketed batches with the answer positions and
the prompt start all rows share, and (with the frozen trunk) the trunk states instead of the
lower layers' work."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from mlxmed.errors import MlxmedError
from mlxmed.models.chat_tokenizer import ChatTokenizer

PAD_TO = 32


class TokenizedDataset:
    """(ids, prompt length) per chat, in mlx-lm's dataset protocol."""

    def __init__(self, chats: list[list[dict[str, str]]], chat: ChatTokenizer,
                 max_seq_length: int) -> None:
        self.items = []
        self.tokens_drawn = 0  # tokens put into training batches (for an honest tokens/s)
        self.answers = [messages[-1]["content"] for messages in chats]
        for messages in chats:
            ids, offset = chat.example_ids(messages)
            if len(ids) > max_seq_length:
                raise MlxmedError(f"a training chat has {len(ids)} tokens, over max_seq_length "
                                  f"{max_seq_length}; prepare the data with the same "
                                  "--max-seq-length (`mlxmed data ... --max-seq-length`)")
            self.items.append((ids, offset))

    def __getitem__(self, index: int) -> tuple[list[int], int]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


def shared_prefix_length(rows: list[tuple[list[int], int]]) -> int:
    """Tokens every row of a batch starts with (the task's instruction), rounded down to a
    multiple of PAD_TO, and short of every answer."""
    first = rows[0][0]
    limit = min(offset for _, offset in rows) - 1
    length = 0
    while length < limit and all(ids[length] == first[length] for ids, _ in rows):
        length += 1
    return PAD_TO * (length // PAD_TO) if len(rows) > 1 else 0


def epoch_order(dataset, batch_size: int, rng: np.random.Generator,
                balance: bool) -> list[list[int]]:
    """One epoch's batches of dataset indices, similar lengths together, in random order.

    With ``balance``, the notes of the epoch are drawn (with replacement) so that each answer
    (label) gets a share proportional to the square root of its count ("square-root
    sampling"): rare labels are seen far more often than in the data, which a macro-averaged
    score needs, without repeating a label's handful of notes as often as full balancing
    would (a label with 3 of 100 notes would be drawn 7 times per epoch). Otherwise each note
    is used once.
    """
    answers = getattr(dataset, "answers", None)
    count = len(dataset) - len(dataset) % batch_size
    if balance and answers and len(set(answers)) > 1:
        frequency = {answer: answers.count(answer) for answer in set(answers)}
        weights = np.array([frequency[answer] ** -0.5 for answer in answers])
        chosen = rng.choice(len(dataset), size=count, p=weights / weights.sum())
    else:
        chosen = np.arange(len(dataset))
    order = sorted(chosen.tolist(), key=lambda i: (len(dataset[i][0]), i))
    batches = [order[i: i + batch_size] for i in range(0, count, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def iterate_batches(dataset, batch_size: int, max_seq_length: int, loop: bool = False,
                    seed: int | None = None, comm_group=None,
                    share_prefix: bool = True, trunk=None,
                    balance: bool = False, skip: int = 0) -> Iterator[tuple]:
    """Length-bucketed batches: (tokens, [prompt length, length], answer positions, answer
    weights, prefix), where ``prefix`` is an empty array whose length says how many leading
    tokens all rows share (computed once per batch by :func:`answer_loss`).

    With a ``trunk`` (:class:`mlxmed.accel.trunk.FrozenTrunk`), ``prefix`` is instead the trunk
    states of the prompt start every note shares, and a sixth item holds the trunk states of
    the rest of each row (zero-padded), so the loss runs only the trainable top layers.

    Similar lengths share a batch (little padding); the answer positions are the last W
    target positions of each row, W being the longest answer in the batch. The first ``skip``
    batches are drawn but not built (a resumed run continues the same sequence).

    With a ``comm_group`` of several processes (``mx.distributed``, passed by mlx-lm's loop),
    every process draws the same global batches and builds only its stride of each one
    (rows rank, rank + size, ...), so together they train exactly the one-process batches.
    """
    import mlx.core as mx

    if len(dataset) < batch_size:
        raise MlxmedError(f"need at least {batch_size} training notes for batch size "
                          f"{batch_size}; lower --batch-size")
    rank, size = (comm_group.rank(), comm_group.size()) if comm_group is not None else (0, 1)
    if batch_size % size:
        raise MlxmedError(f"batch size {batch_size} does not split over {size} processes; "
                          f"use a --batch-size that is a multiple of {size}")
    rng = np.random.default_rng(seed)
    everywhere = shared_prefix_length(dataset.items) if trunk is not None else 0
    while True:
        for batch in epoch_order(dataset, batch_size, rng, balance and loop):
            if skip > 0:
                skip -= 1
                continue
            rows = [dataset[i] for i in batch[rank::size]]
            # each answer token weighs 1 / (answer tokens of the whole global batch), times the
            # number of processes whose gradients mlx-lm averages: the processes together
            # train exactly the one-process loss, whatever each one's share of the tokens
            weight = size / sum(len(ids) - offset for ids, offset in map(dataset.__getitem__,
                                                                         batch))
            # round shapes up so the compiled step is reused instead of recompiled per batch
            longest = 1 + PAD_TO * math.ceil(max(len(ids) for ids, _ in rows) / PAD_TO)
            width = 4 * math.ceil(max(len(ids) - offset for ids, offset in rows) / 4)
            tokens = np.zeros((len(rows), longest), dtype=np.int32)
            positions = np.zeros((len(rows), width), dtype=np.int32)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            lengths = np.zeros((len(rows), 2), dtype=np.int32)
            for row, (ids, offset) in enumerate(rows):
                tokens[row, : len(ids)] = ids
                lengths[row] = (offset, len(ids))
                # target position t predicts token t + 1; answers are tokens offset..len-1
                wanted = np.arange(len(ids) - 1 - width, len(ids) - 1)
                positions[row] = np.clip(wanted, 0, None)
                if loop:  # training batches only: validation batches are not trained on
                    dataset.tokens_drawn += len(ids)
                mask[row] = (wanted >= offset - 1) * weight
            arrays = (mx.array(tokens), mx.array(lengths), mx.array(positions), mx.array(mask))
            if trunk is not None and everywhere > 0:
                yield *arrays, *trunk_inputs(trunk, rows, everywhere, longest - 1)
                continue
            prefix = shared_prefix_length(rows) if share_prefix else 0
            yield *arrays, mx.zeros((prefix,), dtype=mx.int32)
        if not loop:
            return


def trunk_inputs(trunk, rows: list[tuple[list[int], int]], shared: int, width: int) -> tuple:
    """(trunk states of the shared prompt start, zero-padded trunk states of each row's
    inputs after it) for a batch."""
    import mlx.core as mx

    notes = [trunk.note(ids[:-1], shared) for ids, _ in rows]
    padded = [mx.pad(note, [(0, 0), (0, width - shared - note.shape[1]), (0, 0)])
              for note in notes]
    return trunk.prefix(rows[0][0][:shared])[0], mx.concatenate(padded, axis=0)
