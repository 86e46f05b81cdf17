"""Pausing Python's cyclic garbage collector around allocation-heavy work.

Validating many files and sweeping many deals each allocate hundreds of
thousands of short-lived objects while keeping a growing result (documents,
escalations). Every allocation burst triggers a collection, and the full
ones rescan everything kept so far: a quarter of a sweep's time went there.
That data makes next to no reference cycles, so nothing piles up while the
collector waits; reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the automatic cyclic collection; leave it as it was before afterwards.

    Nested use is fine: only the outermost pause turns it back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
