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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_GROUP = 256


@dataclass(slots=True)
class _Task:
    work: Callable[[Connection], Any]
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


class Writer:
    """Serialises writes to one engine; ``submit`` from async code, ``run`` from threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Task | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="wattwise-writer", daemon=True)
        self._thread.start()

    async def submit(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a committed transaction and return its result."""
        task = _Task(work)
        self._queue.put(task)
        return await asyncio.wrap_future(task.future)  # type: ignore[no-any-return]

    def run(self, work: Callable[[Connection], T]) -> T:
        """Blocking form of ``submit`` for threads and the command line."""
        task = _Task(work)
        self._queue.put(task)
        return task.future.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group: list[_Task] = [first]  # type: ignore[list-item]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)  # type: ignore[arg-type]
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Task]) -> None:
        try:
            with self._engine.begin() as conn:
                results = [task.work(conn) for task in group]
        except Exception as exc:
            if len(group) == 1:
                log.exception("write failed")
                group[0].future.set_exception(exc)
                return
            # One caller's bad work must not cost the others: retry each on its own.
            for task in group:
                self._commit([task])
            return
        for task, result in zip(group, results, strict=True):
            task.future.set_result(result)
