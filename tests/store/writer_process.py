"""One server process for ``test_concurrent_writers.py``: run as a script, never imported by pytest.

``python writer_process.py write URL INDEX PROCESSES SECONDS METER …`` stores readings as a
server process does (its own ``start_services``: its own writer thread, pipeline and
rollup maintenance) and prints, as JSON, what was acknowledged. Its lanes upload at once, so
the writer groups several meters' batches in one transaction, as it does under load; a lane
flushes the writer as the history page and the metrics do. Every reading (meter, k) has
one value wherever it is sent from, and each is sent by two processes: the second copy must
count as a duplicate, as a reading the broker delivers to two processes does.

``python writer_process.py refresh URL INDEX PROCESSES SECONDS`` refreshes the marked
rollups in a loop, as another process's writer maintenance does, and counts its failures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store import rollups
from wattwise.store.engine import open_engine

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000  # one reading a minute: a minute whose mark was lost is never rolled up
LANES = 8


def reading_value(meter: int, k: int) -> float:
    """The power of meter's k-th reading: the same in every process that sends it."""
    return float(100 + (meter * 37 + k * 11) % 900)


class Counted(logging.Handler):
    """Counts the warnings and errors each logger wrote (the writer's retries and failures)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.name}: {record.msg}"
        self.counts[key] = self.counts.get(key, 0) + 1


def uploads(index: int, processes: int, meters: list[int]) -> Iterator[tuple[int, list[int]]]:
    """(meter, ks) to upload, endlessly: this process's meters in its own order, each batch
    holding its own k and the next process's (so every reading is sent twice)."""
    order = meters[index % len(meters) :] + meters[: index % len(meters)]
    if index % 2:
        order.reverse()
    for j in itertools.count():
        for meter in order:
            yield meter, [j * processes + index, j * processes + (index + 1) % processes]


async def write(url: str, index: int, processes: int, seconds: float, meters: list[int]) -> dict[str, Any]:
    services = start_services(Settings(database=url, data_dir=Path(tempfile.mkdtemp())))
    acknowledged: dict[int, list[int]] = {m: [] for m in meters}
    tally = {"uploads": 0, "accepted": 0, "duplicates": 0, "failed": 0, "flushes": 0, "flush_failed": 0}
    errors: list[str] = []
    todo = uploads(index, processes, meters)
    deadline = time.monotonic() + seconds

    async def lane() -> None:
        while time.monotonic() < deadline:
            meter, ks = next(todo)
            items = [{"ts": T0 + k * STEP_MS, "power": reading_value(meter, k)} for k in ks]
            try:
                result = await services.pipeline.ingest(meter, items)
            except Exception as exc:  # the meter would get an error and send them again
                tally["failed"] += 1
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            tally["uploads"] += 1
            tally["accepted"] += result.accepted
            tally["duplicates"] += result.duplicates
            assert not result.rejected, result.rejected
            acknowledged[meter] += ks

    async def flusher() -> None:  # the history page and /metrics flush the writer before they read
        while time.monotonic() < deadline:
            try:
                await asyncio.to_thread(services.writer.flush)
                tally["flushes"] += 1
            except Exception as exc:
                tally["flush_failed"] += 1
                errors.append(f"flush: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            await asyncio.sleep(0.05)

    await asyncio.gather(*(lane() for _ in range(LANES)), flusher())
    services.writer.flush()
    services.close()
    return {"acknowledged": acknowledged, **tally, "errors": errors[:5]}


def refresh(url: str, seconds: float) -> dict[str, Any]:
    engine = open_engine(url)
    tally = {"refreshes": 0, "failed": 0}
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with engine.begin() as conn:
                rollups.refresh_marked(conn)
            tally["refreshes"] += 1
        except Exception as exc:
            tally["failed"] += 1
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        time.sleep(0.01)
    engine.dispose()
    return {**tally, "errors": errors[:5]}


def main(argv: list[str]) -> None:
    mode, url, index, processes, seconds = argv[:5]
    counted = Counted()
    logging.getLogger().addHandler(counted)
    if mode == "write":
        meters = [int(m) for m in argv[5:]]
        report = asyncio.run(write(url, int(index), int(processes), float(seconds), meters))
    else:
        report = refresh(url, float(seconds))
    sys.stdout.write(json.dumps({"mode": mode, "index": int(index), **report, "logged": counted.counts}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
