"""How far the detectors' worker is behind ingest: the figures /metrics gives an operator.

The worker takes batches in order from an unbounded queue, so when it cannot keep up nothing
is dropped: readings wait, and findings come later and later. ``backlog`` (readings handed
over and not yet processed) and ``lag_s`` (how long the oldest of them has waited) make that
visible; ``processed`` counts every reading the worker has finished, for a rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Progress:
    """Batches handed to the worker and not finished yet, oldest first.

    The bus's thread calls :meth:`arrived`, the worker :meth:`done`, /metrics reads from a
    request thread: a lock keeps the three consistent.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[tuple[float, int]] = deque()  # (handed over at, readings), oldest first
        self._backlog = 0
        self._processed = 0

    def arrived(self, readings: int) -> None:
        """A batch of ``readings`` was handed to the worker (before it is put on its queue)."""
        with self._lock:
            self._waiting.append((self._clock(), readings))
            self._backlog += readings

    def done(self, batches: int) -> None:
        """The worker finished the ``batches`` oldest batches (also when one of them failed)."""
        with self._lock:
            for _ in range(min(batches, len(self._waiting))):
                _, readings = self._waiting.popleft()
                self._backlog -= readings
                self._processed += readings

    @property
    def backlog(self) -> int:
        """Readings handed over and not yet processed."""
        with self._lock:
            return self._backlog

    @property
    def processed(self) -> int:
        """Readings processed since the detectors started."""
        with self._lock:
            return self._processed

    def lag_s(self) -> float:
        """Seconds the oldest unfinished batch has waited since it was handed over; 0 when none waits."""
        with self._lock:
            return self._clock() - self._waiting[0][0] if self._waiting else 0.0
