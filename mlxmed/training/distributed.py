"""Data-parallel training over ``mx.distributed`` (MLX's ring, MPI or RDMA backends).

MLX's launcher (``mlx.launch``) starts one process per host; mlx-lm's loop averages the
gradients. This module holds what mlxmed adds on top: which process writes, sharing small
Python values (settings, predictions) between the processes, giving every process rank 0's
weights, and re-running a command under the launcher (``--hosts HOSTFILE``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlxmed.errors import MlxmedError

# set by MLX's launcher in every process it starts
LAUNCHED_VARIABLES = ("MLX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")


@dataclass(frozen=True)
class Processes:
    """This process's place among the processes of one training run."""

    group: Any  # mx.distributed.Group
    rank: int
    size: int

    @property
    def primary(self) -> bool:
        """Rank 0 writes the run folder, the checkpoints and the progress."""
        return self.rank == 0


def launched() -> bool:
    """True inside a process started by MLX's launcher (or mpirun)."""
    return any(name in os.environ for name in LAUNCHED_VARIABLES)


def secondary() -> bool:
    """True in a launched process other than rank 0 (it prints and writes nothing)."""
    for name in LAUNCHED_VARIABLES:
        if os.environ.get(name, "").strip().isdigit():
            return int(os.environ[name]) > 0
    return False


def processes() -> Processes:
    """The group of training processes (size 1 when not launched)."""
    import mlx.core as mx

    if not launched():
        group = mx.distributed.init()
        return Processes(group, 0, 1)
    try:
        group = mx.distributed.init(strict=True)
    except RuntimeError as exc:
        raise MlxmedError(f"could not join the other training processes ({exc}); check the "
                          "hostfile's addresses and that every host can reach the others") from exc
    return Processes(group, group.rank(), group.size())


def _bytes_of(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def gather_json(value: Any, procs: Processes) -> list[Any]:
    """Every process's ``value`` (JSON-serialisable), in rank order, on every process."""
    if procs.size == 1:
        return [value]
    import mlx.core as mx
    import numpy as np

    data = _bytes_of(value)
    lengths = mx.distributed.all_gather(mx.array([len(data)], dtype=mx.int32),
                                        group=procs.group, stream=mx.cpu)
    lengths = [int(n) for n in np.array(lengths)]
    padded = np.zeros(max(lengths), dtype=np.uint8)
    padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    gathered = np.array(mx.distributed.all_gather(mx.array(padded), group=procs.group,
                                                  stream=mx.cpu))
    width = max(lengths)
    return [json.loads(gathered[i * width: i * width + n].tobytes().decode("utf-8"))
            for i, n in enumerate(lengths)]


def broadcast_json(value: Any, procs: Processes) -> Any:
    """Rank 0's ``value`` on every process (the others pass anything, e.g. None)."""
    return gather_json(value if procs.primary else None, procs)[0]


def broadcast_parameters(model, optimizer, procs: Processes) -> None:
    """Give every process rank 0's trainable weights and, with an ``optimizer`` (a resumed
    run), its state: a new run starts from one initialisation, a resumed one from the
    checkpoint that only rank 0 has read."""
    if procs.size == 1:
        return
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    def from_rank0(tree) -> list[tuple[str, Any]]:
        flat = sorted(tree_flatten(tree), key=lambda item: item[0])
        if broadcast_json([k for k, _ in flat], procs) != [k for k, _ in flat]:
            raise MlxmedError("the training processes built different models; run the same "
                              "mlxmed version with the same model folder on every host")
        return [(k, mx.distributed.all_sum(v if procs.primary else mx.zeros_like(v),
                                           group=procs.group, stream=mx.cpu)) for k, v in flat]

    model.update(tree_unflatten(from_rank0(model.trainable_parameters())))
    if optimizer is not None:
        if not procs.primary:
            optimizer.init(model.trainable_parameters())  # the shape of rank 0's state
        optimizer.state = tree_unflatten(from_rank0(optimizer.state))
    mx.eval(model.trainable_parameters(), optimizer.state if optimizer else [])


def split_for(items: list, procs: Processes) -> list:
    """This process's share of ``items`` (every size-th one, from its rank)."""
    return items[procs.rank::procs.size]


def merge_splits(parts: list[list], total: int) -> list:
    """Undo :func:`split_for`: the parts of every rank, back in the original order."""
    merged: list = [None] * total
    for rank, part in enumerate(parts):
        merged[rank::len(parts)] = part
    return merged


# --- `--hosts HOSTFILE`: re-run the command under MLX's launcher ---------------------------

def read_hostfile(path: str | Path) -> list[dict]:
    """The hosts of an MLX hostfile (JSON: a list of hosts, or {"hosts": [...], "backend":
    ..., "envs": [...]}, each host {"ssh": NAME, "ips": [ADDRESS, ...]}), checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MlxmedError(f"{path}: not a readable JSON hostfile ({exc}); see `mlx.launch "
                          "--help` and the README's 'More than one machine'") from exc
    hosts = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(hosts, list) or not hosts:
        raise MlxmedError(f"{path}: no hosts; write a list like "
                          '[{"ssh": "mac1.local", "ips": ["10.0.0.1"]}, ...]')
    for index, host in enumerate(hosts, 1):
        if not isinstance(host, dict) or not isinstance(host.get("ssh"), str):
            raise MlxmedError(f'{path}: host {index} has no "ssh" name; each host is '
                              '{"ssh": NAME, "ips": [ADDRESS]}')
        ips = host.get("ips")
        if not (isinstance(ips, list) and ips and all(isinstance(ip, str) for ip in ips)):
            raise MlxmedError(f'{path}: host {index} ({host["ssh"]}) has no "ips"; the ring '
                              'backend needs the address the others reach it at, e.g. '
                              '"ips": ["10.0.0.1"]')
    return hosts


def launcher_command(hostfile: str | Path, command: list[str],
                     starting_port: int | None = None) -> list[str]:
    """The command that runs ``command`` (an mlxmed command line without ``--hosts``) once
    per host of ``hostfile`` with MLX's launcher (run by :mod:`mlxmed.training.launch`, which
    keeps it from busy-waiting)."""
    read_hostfile(hostfile)
    port = starting_port or free_port()
    return [sys.executable, "-m", "mlxmed.training.launch", "--hostfile", str(hostfile),
            "--starting-port", str(port), "--", sys.executable, "-m", "mlxmed", *command]


def run_launcher(command: list[str]) -> int:
    """Run a :func:`launcher_command` and wait; the launcher's exit code (which is 0 even when
    a process failed: check the result)."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(command, env=environment).returncode


def free_port() -> int:
    """A TCP port free on this machine now (the ring backend's first port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
