"""How far the detectors' worker is behind ingest, and which readings wait in the store for it.

The worker takes batches in order from its queue. While it keeps up, every committed batch
is queued. When it cannot (1,000+ meters flat out, a slow disk), the queue would grow without
bound, and the process's memory with it. So :meth:`Progress.admit` queues a batch only while
the readings queued stay within ``limit``. Past it, a meter's readings are only *recorded*:
the range of timestamps they fall in, per meter (:class:`Spilled`). Nothing is lost, because
every reading on the bus is already committed. Once the worker has done the batches queued
before a record, it reads that range back from the store, in time order (``Detectors._reread``).
A meter with a record stays "spilled": its new readings extend the record rather than being
queued, so they never overtake the ones waiting in the store. It is queued again only when
the worker has read through everything recorded for it.

A worker that starts where another stopped (a restart, a standby taking the lead) first
*resumes*: until :meth:`Progress.resume` is called, every batch is only recorded, and then each
meter's record is widened down to the first reading after the one it was last saved at, so
the readings stored while no detector ran are read back, in order, before any newer one.

``backlog`` counts every reading not yet processed, the recorded ones included. ``queued`` is
the part held in memory, never more than ``limit`` (a meter's part of a batch that would pass
it is recorded, however large). ``lag_s`` is how
long the oldest of them has waited, and ``processed`` counts every reading the worker has
finished, for a rate. ``reread`` counts the readings read back from the store. /metrics
shows all of these.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wattwise.domain.readings import StoredReading


@dataclass(slots=True)
class Spilled:
    """One meter's readings recorded and not queued: each has ``lo <= ts <= hi``.

    The range may also hold readings the worker was handed before (a late reading recorded
    below them). Read back, those are at or before each detector's last reading, and the
    detectors skip such readings, as they do for a late reading that comes on the bus.
    """

    lo: int
    hi: int
    readings: int  # how many were recorded (the backlog they stand for)
    since: float  # when the first of them was recorded (clock seconds)
    after: int  # batches queued before it: it is read back once the worker has done them


@dataclass(frozen=True, slots=True)
class Admitted:
    """What :meth:`Progress.admit` decided for one committed batch."""

    queued: list[StoredReading]  # to put on the worker's queue (empty: nothing)
    nudge: bool  # put a "reread" item on the queue: records wait and none is on the queue
    started: bool  # the first meter of a spell is spilled (log it once)


class Progress:
    """Batches handed to the worker and not finished yet (oldest first), and the meters
    whose readings wait in the store.

    The bus's thread calls :meth:`admit`, the worker :meth:`done`, :meth:`take_spilled` and
    :meth:`reread_done`, /metrics reads from a request thread: one lock keeps them consistent.
    """

    def __init__(
        self, limit: int | None = None, clock: Callable[[], float] = time.monotonic, *, resuming: bool = False
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the detectors' backlog limit must be at least 1 reading, got {limit}")
        self.limit = limit  # None: every batch is queued (no bound)
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: deque[tuple[float, int]] = deque()  # (handed over at, readings), oldest first
        self._queued = 0
        self._processed = 0
        self._batches_in = 0
        self._batches_done = 0
        self._spilled: dict[int, Spilled] = {}  # by meter: recorded, not taken by the worker yet
        self._taken: dict[int, Spilled] = {}  # by meter: being read back now
        self._spilled_readings = 0
        self._reread = 0
        self._nudged = False
        self._resuming = resuming  # True: record every batch until :meth:`resume`

    # ------------------------------------------------------------------ the bus's side

    def _arrive(self, readings: int) -> None:
        self._waiting.append((self._clock(), readings))
        self._queued += readings
        self._batches_in += 1

    def admit(self, batch: Sequence[StoredReading]) -> Admitted:
        """Decide, for a committed batch, which readings are queued and which only recorded.

        A meter already spilled is recorded; another is queued while the queue stays within
        the limit, else recorded (and spilled from then on).
        """
        with self._lock:
            if self._resuming:
                for device_id, part in _by_meter(batch).items():
                    self._record(device_id, part)
                return Admitted([], False, False)
            spilling = bool(self._spilled or self._taken)
            if self.limit is None or (not spilling and self._queued + len(batch) <= self.limit):
                queued = list(batch)
                if queued:
                    self._arrive(len(queued))
                return Admitted(queued, False, False)
            queued, room = [], self.limit - self._queued
            for device_id, part in _by_meter(batch).items():
                if device_id not in self._spilled and device_id not in self._taken and len(part) <= room:
                    queued += part
                    room -= len(part)
                else:
                    self._record(device_id, part)
            if queued:
                self._arrive(len(queued))
            return Admitted(queued, self._take_nudge(), not spilling and bool(self._spilled))

    def _record(self, device_id: int, part: list[StoredReading]) -> None:
        lo = min(s.reading.ts for s in part)
        hi = max(s.reading.ts for s in part)
        record = self._spilled.get(device_id)
        if record is None:
            self._spilled[device_id] = Spilled(lo, hi, len(part), self._clock(), self._batches_in)
        else:
            record.lo, record.hi, record.readings = min(record.lo, lo), max(record.hi, hi), record.readings + len(part)
        self._spilled_readings += len(part)

    # ------------------------------------------------------------------ the worker's side

    def resume(self, unscanned: dict[int, tuple[int, int, int]]) -> None:
        """Widen each meter's record to the readings stored after its last scanned one:
        ``unscanned`` maps a meter to (first ts, last ts, readings) of those in the store.
        The store's count stands for the whole range, so a record the bus made meanwhile,
        inside it, is not counted twice. From now on batches are queued again."""
        with self._lock:
            for device_id, (lo, hi, readings) in unscanned.items():
                record = self._spilled.get(device_id)
                if record is None:
                    self._spilled[device_id] = Spilled(lo, hi, readings, self._clock(), 0)
                    self._spilled_readings += readings
                    continue
                counted = max(record.readings, readings)
                self._spilled_readings += counted - record.readings
                record.lo, record.hi, record.readings = min(record.lo, lo), max(record.hi, hi), counted
            self._resuming = False

    def done(self, batches: int) -> None:
        """The worker finished the ``batches`` oldest batches (also when one of them failed)."""
        with self._lock:
            for _ in range(min(batches, len(self._waiting))):
                _, readings = self._waiting.popleft()
                self._queued -= readings
                self._processed += readings
                self._batches_done += 1

    def take_spilled(self) -> list[tuple[int, Spilled]]:
        """The records whose meters' queued batches are all done, for the worker to read back
        now; a meter's later readings start a new record. Clears the nudge."""
        with self._lock:
            self._nudged = False
            ready = [(d, r) for d, r in self._spilled.items() if r.after <= self._batches_done and d not in self._taken]
            for device_id, record in ready:
                del self._spilled[device_id]
                self._taken[device_id] = record
            return ready

    def reread_done(self, device_id: int, rows: int) -> bool:
        """The worker has read ``device_id``'s taken record back (``rows`` rows from the store)
        and processed them (also when that failed). The meter is queued again unless more was
        recorded meanwhile. True when no meter is spilled any more (the spell has ended)."""
        with self._lock:
            record = self._taken.pop(device_id)
            self._spilled_readings -= record.readings
            self._processed += record.readings
            self._reread += rows
            return not self._spilled and not self._taken

    def wants_nudge(self) -> bool:
        """True (and counted as put) when records wait and no "reread" item is on the queue."""
        with self._lock:
            return self._take_nudge()

    def _take_nudge(self) -> bool:
        if self._spilled and not self._nudged:
            self._nudged = True
            return True
        return False

    # ------------------------------------------------------------------ figures

    @property
    def backlog(self) -> int:
        """Readings handed over or recorded, and not yet processed."""
        with self._lock:
            return self._queued + self._spilled_readings

    @property
    def queued(self) -> int:
        """Readings held on the worker's queue (in memory)."""
        with self._lock:
            return self._queued

    @property
    def spilled(self) -> int:
        """Readings recorded to be read back from the store, not yet processed."""
        with self._lock:
            return self._spilled_readings

    @property
    def processed(self) -> int:
        """Readings processed since the detectors started."""
        with self._lock:
            return self._processed

    @property
    def reread(self) -> int:
        """Readings read back from the store since the detectors started."""
        with self._lock:
            return self._reread

    def lag_s(self) -> float:
        """Seconds the oldest unfinished reading has waited since it was handed over or
        recorded; 0 when none waits."""
        with self._lock:
            since = [r.since for r in (*self._spilled.values(), *self._taken.values())]
            if self._waiting:
                since.append(self._waiting[0][0])
            return self._clock() - min(since) if since else 0.0


def _by_meter(batch: Sequence[StoredReading]) -> dict[int, list[StoredReading]]:
    by_meter: dict[int, list[StoredReading]] = defaultdict(list)
    for stored in batch:
        by_meter[stored.reading.device_id].append(stored)
    return by_meter
