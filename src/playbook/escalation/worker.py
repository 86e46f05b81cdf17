"""Sweeps on a schedule: ``playbook worker --every 5m``.

The worker runs a sweep, waits ``every``, and runs the next one, until it is
told to stop. SIGTERM and SIGINT set a flag: a sweep in progress finishes the
transaction it is in (every transaction of a sweep is complete on its own:
escalations together with their notifications) and returns, then the worker
exits. Nothing is lost: what the interrupted sweep did not reach, the next
sweep (of this worker or another) does.

Several workers, on several machines, may run against one database: they share
the work through the database itself. Each escalation is recorded by exactly
one of them (the unique constraint on deal, rule, level and episode decides)
and only that one creates its notifications; each notification is claimed with
a lease before it is sent, so no two workers send the same one. A database
that is briefly unreachable costs one sweep, not the worker.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

from playbook.errors import (
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DiskFullError,
    EscalationError,
    NotificationError,
    PlaybookError,
)
from playbook.i18n import Message

__all__ = ["WorkerStats", "parse_interval", "run_worker", "stop_on_signals"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")

Sweep = Callable[[Callable[[], bool]], object]
"""Runs one sweep; it is given the ``should_stop`` question to ask between transactions."""


@dataclass(slots=True)
class WorkerStats:
    """How the worker's run went: sweeps completed, sweeps that failed, whether it was stopped."""

    sweeps: int = 0
    failures: int = 0
    stopped: bool = False


MAXIMUM_INTERVAL = 366 * 86_400.0
"""The longest interval (a year): intervals are added to times, which must stay in range."""


def parse_interval(text: str, *, minimum: float = 1.0) -> timedelta:
    """``30s``, ``5m``, ``1.5h`` or ``1d`` as a timedelta from ``minimum`` seconds to a year.

    Raises :class:`~playbook.errors.EscalationError` for anything else.
    """
    match = _INTERVAL.match(text) if len(text) <= 32 else None
    seconds = float(match.group(1)) * _UNITS[match.group(2)] if match is not None else -1.0
    if not minimum <= seconds <= MAXIMUM_INTERVAL:
        raise EscalationError(
            Message("error.worker.not_interval_from_366", text=text[:40], minimum=minimum),
            hint=Message("error.worker.write_number_unit_30s"),
        )
    return timedelta(seconds=seconds)


TRANSIENT: tuple[type[PlaybookError], ...] = (
    DatabaseUnavailableError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DiskFullError,
    NotificationError,
)
"""Errors of one sweep that the next may not meet: the worker reports them and goes on."""


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set ``stop``; return a function that restores the old handlers.

    Call it from the main thread (Python delivers signals there).
    """

    def handle(_signum: int, _frame: FrameType | None) -> None:
        # Not stop.set() here: the handler runs in the main thread between two
        # bytecodes, possibly while that thread holds the event's lock inside
        # stop.wait(); set() would then wait for it forever. A thread takes it.
        threading.Thread(target=stop.set, name="playbook-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_worker(
    sweep: Sweep,
    *,
    every: timedelta,
    stop: threading.Event,
    on_error: Callable[[PlaybookError], None],
    max_sweeps: int | None = None,
) -> WorkerStats:
    """Run ``sweep`` every ``every`` until ``stop`` is set (or ``max_sweeps`` have run).

    A sweep that fails for a reason that may pass (the database unavailable,
    locked, read-only or full; a sink that cannot deliver) is reported through
    ``on_error`` and the worker carries on; any other error stops the worker
    (it would fail the same way on every sweep).
    """
    stats = WorkerStats()
    while not stop.is_set():
        try:
            sweep(stop.is_set)
            stats.sweeps += 1
        except TRANSIENT as error:
            stats.failures += 1
            on_error(error)
        if max_sweeps is not None and stats.sweeps + stats.failures >= max_sweeps:
            break
        stop.wait(every.total_seconds())
    stats.stopped = stop.is_set()
    return stats
