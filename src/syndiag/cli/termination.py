"""SIGTERM and SIGHUP as an exception in the command-line process, so every ``with`` block and ``finally`` runs.

A job scheduler's kill or a closed terminal would otherwise end the process where it stands, leaving an atomic
write's staging (a checkpoint, a prepared-data cache) on disk. Raised as :class:`Interrupted`, the signal unwinds
the command like any failure: stagings are removed, the old files stay, and the command exits with
``128 + signal`` (143 for SIGTERM, 129 for SIGHUP), as a shell reports a process the signal ended.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.markup import escape

from syndiag.cli.common import err

T = TypeVar("T")
SIGNALS = ("SIGTERM", "SIGHUP")


class Interrupted(BaseException):
    """A termination signal arrived; not an ``Exception``, so no ``except Exception`` on the way out swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted ({self.signal_name})")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once, cleanup or not
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread; a signal already ignored (nohup) stays so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [getattr(signal, name) for name in SIGNALS if hasattr(signal, name)]
    previous = {number: signal.getsignal(number) for number in numbers}
    for number, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(number, _raise_interrupted)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_interruptible(command: Callable[[], T]) -> T:
    """``command()``; a SIGTERM or SIGHUP ends it cleanly with one ``error:`` line and exit status 128 + signal."""
    try:
        with signals_raise():
            return command()
    except Interrupted as exc:
        try:
            err.print(f"[bold red]error:[/] {escape(str(exc))}; nothing half-written was kept")
        except OSError:  # the terminal that hung up
            pass
        raise SystemExit(exc.exit_code) from None
