"""Ctrl-C during a search: held while something must not be cut in half (a record, a journal
write), and remembered where Python would drop it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["interrupt_deferred", "interrupt_remembered", "raise_if_interrupted"]

# Set by Ctrl-C inside ``interrupt_remembered``; cleared when such a block starts.
_REQUESTED = threading.Event()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt`` if it came.

    Signal handlers belong to the main thread: elsewhere the block runs as it is.
    """
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        _REQUESTED.set()
        raise KeyboardInterrupt


def _remember(signum: int, frame: object) -> None:
    _REQUESTED.set()
    raise KeyboardInterrupt


@contextmanager
def interrupt_remembered() -> Iterator[None]:
    """Inside the block, Ctrl-C raises ``KeyboardInterrupt`` as usual and is also remembered.

    Python prints and drops an exception raised in a finalizer or a weakref callback ("Exception
    ignored in ..."), and a library may catch it: a Ctrl-C that lands there would be lost, and a
    long search would go on. A loop that calls ``raise_if_interrupted`` between its steps stops
    at the next one instead. Elsewhere than in the main thread the block runs as it is.
    """
    if not _main_thread():
        yield
        return
    _REQUESTED.clear()
    previous = signal.signal(signal.SIGINT, _remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a remembered Ctrl-C came (see ``interrupt_remembered``)."""
    if _REQUESTED.is_set():
        raise KeyboardInterrupt
