"""Ctrl-C during a search: held while something must not be cut in half (a record, a journal
write), and remembered where Python would drop it."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["interrupt_deferred", "interrupt_remembered", "raise_if_interrupted"]

# Set by Ctrl-C inside ``interrupt_remembered``; cleared when such a block starts and ends.
_REQUESTED = threading.Event()


def _ours() -> bool:
    """Whether Ctrl-C is this process's to handle here: in the main thread (signal handlers belong
    to it), with Python's own handler or ``interrupt_remembered``'s. One that ignores it (a shell's
    background job) or an application's own handler is left as it is."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _remember))


@contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise ``KeyboardInterrupt`` if it came.

    Where Ctrl-C is not this process's to handle (``_ours``), the block runs as it is.
    """
    if not _ours():
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
    ignored in ...", with a traceback), and a library may catch it: a Ctrl-C that lands there
    would be lost, and a long search would go on. A loop that calls ``raise_if_interrupted``
    between its steps stops at the next one instead, and Python's report of the dropped
    ``KeyboardInterrupt`` is not printed. Where Ctrl-C is not this process's to handle
    (``_ours``), the block runs as it is.
    """
    _REQUESTED.clear()  # a Ctrl-C remembered by an earlier block was raised there
    if not _ours():
        yield
        return
    previous = signal.signal(signal.SIGINT, _remember)
    hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:  # the dropped Ctrl-C is remembered: no "Exception ignored" report
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook
        _REQUESTED.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a remembered Ctrl-C came (see ``interrupt_remembered``)."""
    if _REQUESTED.is_set():
        raise KeyboardInterrupt
