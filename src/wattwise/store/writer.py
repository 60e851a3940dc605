"""One writer thread per database, fed by a queue, committing several callers' work at once.

SQLite allows one writer at a time; funnelling every write through one thread avoids lock
contention, and draining the queue into a single transaction (group commit) pays one fsync
for many concurrent uploads. A caller's future resolves only after its transaction has
committed — that is the moment a reading may be acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from wattwise.store.errors import Conflict, NotFound

log = logging.getLogger(__name__)

#: What a write raises to refuse its work (no such row, a clash, a bad value): the caller
#: answers it (a 404, 409 or 422), so the writer passes it on without logging it as a failure.
REFUSALS = (NotFound, Conflict, ValueError)
T = TypeVar("T")
MAX_GROUP = 256
#: How often a transaction PostgreSQL aborted to break a deadlock (or a serialization
#: conflict) is run again before its callers get the error.
ATTEMPTS = 3
_TRANSIENT = {"40P01", "40001"}  # deadlock_detected, serialization_failure


@dataclass(slots=True)
class _Task:
    work: Callable[[Connection], Any]
    future: Future[Any] = field(default_factory=Future)
    meter: int | None = None  # the meter whose readings ``work`` stores, if it does
    alone: bool = False  # in a transaction of its own, never grouped with others' work


def in_meter_order(group: list[_Task]) -> list[_Task]:
    """``group`` with the tasks that store a meter's readings in meter order (each meter's in
    arrival order), the others where they were.

    Storing takes a lock per meter on PostgreSQL (``readings.write_readings``). Two processes'
    writers that took the same meters in opposite orders would deadlock, and PostgreSQL would
    abort one group after a second; in one order, one simply waits for the other.
    """
    slots = [i for i, task in enumerate(group) if task.meter is not None]
    ordered = list(group)
    for slot, task in zip(slots, sorted((group[i] for i in slots), key=lambda t: t.meter or 0), strict=True):
        ordered[slot] = task
    return ordered


def _parts(group: list[_Task]) -> Iterator[list[_Task]]:
    """``group`` cut into transactions: each ``alone`` task on its own, the others together."""
    together: list[_Task] = []
    for task in group:
        if not task.alone:
            together.append(task)
            continue
        if together:
            yield together
            together = []
        yield [task]
    if together:
        yield together


def _transient(exc: Exception) -> str | None:
    """PostgreSQL's reason when it aborted the transaction for a deadlock or a serialization conflict."""
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT:
        return str(exc.orig).splitlines()[0]
    return None


_STOP = object()


class Writer:
    """Serialises writes to one engine; ``submit`` from async code, ``run`` from threads.

    ``maintenance`` (refreshing rollups) runs in its own transaction at start, at stop and
    every ``interval`` seconds: often enough to keep views fresh, rarely enough that its
    commit does not double the cost of small uploads.

    The thread keeps one connection for its transactions instead of taking one from the pool
    for each: checkout, reset and checkin were a fifth of its time at batches of 100. After
    a failed transaction it takes a fresh one (a broken connection is not used again).
    """

    def __init__(
        self,
        engine: Engine,
        maintenance: Callable[[Connection], Any] | None = None,
        interval: float = 1.0,
    ) -> None:
        self._engine = engine
        self._maintenance = maintenance
        self._interval = interval
        self._last_maintenance = 0.0
        self._queue: queue.SimpleQueue[_Task | object] = queue.SimpleQueue()
        self._conn: Connection | None = None  # the writer thread's own, opened on first use
        self.retries = 0  # transactions run again after PostgreSQL aborted them (a deadlock)
        self._thread = threading.Thread(target=self._loop, name="wattwise-writer", daemon=True)
        self._thread.start()

    async def submit(self, work: Callable[[Connection], T], *, meter: int | None = None) -> T:
        """Run ``work`` in a committed transaction and return its result; ``meter``: the meter
        whose readings it stores (see ``in_meter_order``)."""
        return await asyncio.wrap_future(self.post(work, meter=meter))

    def run(self, work: Callable[[Connection], T], *, meter: int | None = None) -> T:
        """Blocking form of ``submit`` for threads and the command line."""
        return self.post(work, meter=meter).result()

    def post(self, work: Callable[[Connection], T], *, meter: int | None = None) -> Future[T]:
        """Queue ``work`` without waiting (bookkeeping whose outcome nobody awaits)."""
        return self._queued(_Task(work, meter=meter))

    def _queued(self, task: _Task) -> Future[Any]:
        self._queue.put(task)
        return task.future

    def flush(self) -> None:
        """Wait until everything submitted so far, and its maintenance, is committed.

        The maintenance runs in a transaction of its own, as it does every ``interval``. Grouped
        with stored readings it held their meters' locks and the marks' table lock at once, in
        no set order: with another process storing the same meters, PostgreSQL found a
        deadlock and aborted one of them (docs/scale.md).
        """
        if self._maintenance is not None:
            self._queued(_Task(self._maintenance, alone=True)).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        self._maintain()
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._interval)
            except queue.Empty:
                self._maintain()
                continue
            group: list[_Task] = []
            item: object = first
            while True:
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)  # type: ignore[arg-type]
                if len(group) >= MAX_GROUP:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            for part in _parts(group):
                self._commit(part)
            if stopping or time.monotonic() - self._last_maintenance > self._interval:
                self._maintain()
        self._drop_connection()

    def _maintain(self) -> None:
        if self._maintenance is None:
            return
        self._last_maintenance = time.monotonic()
        try:
            self._transaction(self._maintenance)
        except Exception:
            log.exception("writer maintenance failed; it runs again shortly")

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one committed transaction on the thread's connection (a fresh one after a failure).

        A transaction PostgreSQL aborted to break a deadlock is run again, up to ``ATTEMPTS``
        times: nobody did anything wrong, and its callers (a meter waiting for its answer, an
        MQTT message acknowledged only once stored) would otherwise get an error.
        """
        for attempt in range(1, ATTEMPTS + 1):
            if self._conn is None:
                self._conn = self._engine.connect()
            try:
                with self._conn.begin():
                    return work(self._conn)
            except Exception as exc:
                self._drop_connection()
                reason = _transient(exc)
                if attempt == ATTEMPTS or reason is None:
                    raise
                self.retries += 1
                log.warning("writer: transaction aborted (%s); running it again", reason)
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.exception("closing the writer's connection failed")
            self._conn = None

    def _commit(self, group: list[_Task]) -> None:
        group = in_meter_order(group)
        try:
            results = self._transaction(lambda conn: [task.work(conn) for task in group])
        except Exception as exc:
            if len(group) == 1:
                if not isinstance(exc, REFUSALS):  # a refusal is the caller's to answer, not a failure
                    log.exception("write failed")
                group[0].future.set_exception(exc)
                return
            # One caller's bad work must not cost the others: retry each on its own.
            for task in group:
                self._commit([task])
            return
        for task, result in zip(group, results, strict=True):
            task.future.set_result(result)
