"""A prepared data folder (what `mlxmed data` writes): the only code that knows its layout.

    train.jsonl valid.jsonl test.jsonl          mlx-lm chat format, one line per note
    records/{train,valid,test}.jsonl            {"id", "text", "gold"} (text untruncated)
    subsets/train_<n>.jsonl + train_<n>_ids.txt  nested learning-curve subsets of train
    summary.json                                counts, token lengths, long notes, hashes
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlxmed.artifacts.ownership import check_folder_replaceable
from mlxmed.atomic import atomic_dir, write_text
from mlxmed.errors import MlxmedError

if TYPE_CHECKING:
    from mlxmed.models.chat_tokenizer import Messages
    from mlxmed.tasks import Task

SPLITS = ("train", "valid", "test")
SUMMARY = "summary.json"


def chats_name(split: str) -> str:
    return f"{split}.jsonl"


def records_name(split: str) -> str:
    return f"records/{split}.jsonl"


def subset_name(size: int) -> str:
    return f"subsets/train_{size}.jsonl"


def subset_ids_name(size: int) -> str:
    return f"subsets/train_{size}_ids.txt"


def read_chats(path: str | Path) -> list[Messages]:
    """The chats of a chat-format JSONL file written by `mlxmed data`."""
    path = Path(path)
    if not path.is_file():
        raise MlxmedError(f"{path}: not found; run `mlxmed data` first and pass its --out "
                          "folder as --data")
    chats = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError) as exc:
                raise MlxmedError(f"{path}: line {number} is not a chat record ({exc}); "
                                  "recreate the folder with `mlxmed data`") from exc
            if not messages or messages[-1].get("role") != "assistant":
                raise MlxmedError(f"{path}: line {number} has no assistant answer; recreate "
                                  "the folder with `mlxmed data`")
            chats.append(messages)
    if not chats:
        raise MlxmedError(f"{path}: no notes; check the data folder")
    return chats


class PreparedData:
    """A data folder: chats to train and score on, the records behind them, subsets, summary.

    A folder in mlx-lm's own format (``train.jsonl`` and ``valid.jsonl`` only) is accepted
    for training, but without ``summary.json`` nothing is known about the task it was made for.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path) -> PreparedData:
        """The data folder at ``path``; a one-line error when it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise MlxmedError(f"{path}: data folder not found; run `mlxmed data` and pass its "
                              "--out folder")
        if not any((path / chats_name(split)).is_file() for split in SPLITS):
            raise MlxmedError(f"{path}: not a data folder written by `mlxmed data` (no "
                              "train.jsonl); run `mlxmed data` first and pass its --out "
                              "folder as --data")
        return cls(path)

    # ----- reading -------------------------------------------------------------------------
    def chats_path(self, split: str) -> Path:
        return self.path / chats_name(split)

    def chats(self, split: str) -> list[Messages]:
        return read_chats(self.chats_path(split))

    def subset_path(self, size: int) -> Path:
        return self.path / subset_name(size)

    def subset(self, size: int) -> list[Messages]:
        """The chats of the learning-curve subset of ``size`` notes."""
        path = self.subset_path(size)
        if not path.is_file():
            raise MlxmedError(f"{path}: no subset of {size} notes; run `mlxmed data` with "
                              f"--sizes including {size}")
        return read_chats(path)

    def subset_ids(self, size: int) -> list[str]:
        """The ids of the subset's notes, one per line (ids may hold spaces)."""
        text = (self.path / subset_ids_name(size)).read_text(encoding="utf-8")
        return [line for line in text.split("\n") if line]

    def records(self, split: str) -> list[dict[str, Any]]:
        """``{"id", "text", "gold"}`` of each note of ``split``, in file order."""
        path = self.path / records_name(split)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        except (OSError, ValueError) as exc:
            raise MlxmedError(f"{path}: unreadable ({exc}); recreate the folder with "
                              "`mlxmed data`") from exc

    def records_path(self, split: str) -> Path:
        return self.path / records_name(split)

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        """``summary.json``, or None when the folder has none (or it is unreadable)."""
        try:
            return json.loads((self.path / SUMMARY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def task_hash(self) -> str | None:
        """The spec hash of the task the folder was prepared for (None if it does not say)."""
        try:
            return self.summary["task"]["hash"]  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    def check_for(self, task: Task) -> None:
        """Refuse a folder prepared from another version of the task: its chats hold the old
        prompt, so training or scoring on them would not match what `extract` asks."""
        prepared = self.task_hash
        if prepared is not None and prepared != task.spec_hash():
            raise MlxmedError(f"{self.path}: prepared for a different version of {task.source} "
                              "(the prompt, labels or focus changed since); run `mlxmed data` "
                              "again")

    # ----- writing -------------------------------------------------------------------------
    @staticmethod
    def layout(splits: Mapping[str, list], subsets: Mapping[int, list],
               summary: dict[str, Any]) -> dict[str, str]:
        """Relative path -> content of every file of a data folder.

        ``splits`` and ``subsets`` hold ``(messages, record)`` pairs, record being
        ``{"id", "text", "gold"}``; the summary gets the list of files."""
        def jsonl(rows) -> str:
            return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

        files: dict[str, str] = {}
        for split, pairs in splits.items():
            files[chats_name(split)] = jsonl({"messages": m} for m, _ in pairs)
            files[records_name(split)] = jsonl(record for _, record in pairs)
        for size, pairs in sorted(subsets.items()):
            files[subset_name(size)] = jsonl({"messages": m} for m, _ in pairs)
            files[subset_ids_name(size)] = "".join(f"{r['id']}\n" for _, r in pairs)
        summary["files"] = sorted([*files, SUMMARY])
        files[SUMMARY] = json.dumps(summary, ensure_ascii=False, indent=2) + "\n"
        return files

    @staticmethod
    def written_files(folder: str | Path) -> list[str] | None:
        """The files mlxmed wrote into a data folder (from its summary), or None when the
        folder is not one mlxmed wrote."""
        try:
            summary = json.loads((Path(folder) / SUMMARY).read_text(encoding="utf-8"))
            files = summary["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if "mlxmed_version" not in summary or not isinstance(files, list):
            return None
        return [str(name) for name in files]

    @classmethod
    def check_writable(cls, out: str | Path, force: bool) -> None:
        """Refuse an output folder that may not be (re)written: a non-empty one without
        ``force``, and with ``force`` one mlxmed did not write or that holds other files."""
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise MlxmedError(f"{out}: exists and is not a folder; choose another --out")
        if out.is_dir() and any(out.iterdir()):
            if not force:
                raise MlxmedError(f"{out}: folder is not empty; choose another --out or pass "
                                  "--force to replace a data folder mlxmed wrote")
            check_folder_replaceable(out, cls.written_files(out), "a data folder")

    @classmethod
    def write(cls, files: Mapping[str, str], out: str | Path, force: bool = False
              ) -> PreparedData:
        """Write a whole data folder at once (a non-empty ``out`` needs ``force`` and must be a
        data folder mlxmed wrote, holding nothing else)."""
        out = Path(out)
        cls.check_writable(out, force)
        with atomic_dir(out, overwrite=True) as tmp:
            for relative, content in files.items():
                write_text(tmp / relative, content)
        return cls(out)
