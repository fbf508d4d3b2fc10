"""A stop asked for from outside (the job worker's SIGINT handler), remembered so that long
loops can honour it at their next step even if the KeyboardInterrupt raised at the moment of
the signal was lost (Python drops an exception raised inside a finalizer or a callback
whose errors it ignores)."""

from __future__ import annotations

import threading

_requested = threading.Event()


def request_stop() -> None:
    """Remember that the process was asked to stop."""
    _requested.set()


def clear_stop() -> None:
    """Forget an earlier request (a process that goes on to new work)."""
    _requested.clear()


def raise_if_stop_requested() -> None:
    """KeyboardInterrupt if a stop was asked for: the same safe stop as Ctrl-C."""
    if _requested.is_set():
        raise KeyboardInterrupt
