"""The one way in: parse and validate, store durably, then publish.

Every adapter (HTTP, MQTT, serial gateway, CSV import) hands raw items for an authenticated
meter to ``Pipeline.ingest``; none of them touches the store. The answer is given only after
the readings are committed, and the bus hears of them only then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from wattwise.bus import Bus
from wattwise.domain.energy import EnergyRules
from wattwise.domain.readings import Reading
from wattwise.ingest.parse import parse_reading, plain_body
from wattwise.store.devices import device_id_for_key
from wattwise.store.plugs import Plug, held_state, hold_state, remember
from wattwise.store.readings import WriteResult, lock_meter, write_readings
from wattwise.store.retention import Retention
from wattwise.store.writer import Writer

KEY_CACHE_S = 5.0  # a revoked key stops working within this many seconds, in every process


@dataclass(slots=True)
class Rejection:
    index: int
    errors: list[str]


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """False when the caller sent nothing we could store or recognise as already stored."""
        return self.accepted + self.duplicates > 0 or not self.rejected


def validate(
    items: Sequence[Any], device_id: int, now_ms: int, oldest_ms: int | None = None
) -> tuple[list[Reading], list[Rejection]]:
    """Split items into readings and rejections; ``oldest_ms`` is the raw retention horizon."""
    good: list[Reading] = []
    bad: list[Rejection] = []
    for index, item in enumerate(items):
        parsed = parse_reading(item, device_id, now_ms)
        if not isinstance(parsed, Reading):
            bad.append(Rejection(index=index, errors=parsed))
        elif oldest_ms is not None and parsed.ts < oldest_ms:
            bad.append(Rejection(index=index, errors=[f"ts: {parsed.ts} ms is older than the raw retention horizon"]))
        else:
            good.append(parsed)
    return good, bad


def _now(now_ms: int | None) -> int:
    return now_ms if now_ms is not None else time.time_ns() // 1_000_000


class Pipeline:
    """Holds what ingest needs across requests: the writer, the bus and a short key cache."""

    def __init__(
        self, engine: Engine, writer: Writer, bus: Bus, rules: EnergyRules, retention: Retention | None = None
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.bus = bus
        self.rules = rules
        self.retention = retention or Retention()
        self._keys: dict[str, tuple[int | None, float]] = {}

    def authenticate(self, key: str) -> int | None:
        """The meter this key belongs to, or None (unknown or revoked)."""
        cached = self._keys.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < KEY_CACHE_S:
            return cached[0]
        with self.engine.connect() as conn:
            device_id = device_id_for_key(conn, key)
        if len(self._keys) > 100_000:
            self._keys.clear()
        self._keys[key] = (device_id, now)
        return device_id

    def forget_keys(self) -> None:
        """Drop cached keys at once (after a rotation or revocation in this process)."""
        self._keys.clear()

    def _prepare(self, items: Sequence[Any], device_id: int, now_ms: int | None) -> tuple[list[Reading], IngestResult]:
        now = _now(now_ms)
        good, bad = validate(items, device_id, now, self.retention.horizons(now).get("raw"))
        return good, IngestResult(rejected=bad)

    def _write(self, device_id: int, good: list[Reading]) -> Callable[[Connection], WriteResult]:
        rules = self.rules
        return lambda conn: write_readings(conn, device_id, good, rules)

    async def ingest(self, device_id: int, items: Sequence[Any], *, now_ms: int | None = None) -> IngestResult:
        """Validate, store and publish; the answer counts what was stored and why the rest was not."""
        good, result = self._prepare(items, device_id, now_ms)
        return await self._store(device_id, good, result)

    async def ingest_json(
        self,
        device_id: int,
        body: bytes,
        decode: Callable[[bytes], Sequence[Any]],
        *,
        now_ms: int | None = None,
    ) -> IngestResult:
        """``ingest`` of a JSON body, parsed and judged in one call when every reading is plain.

        Otherwise (a bad or unusual reading, a reading past the retention horizon, a body that
        is not JSON) ``decode`` — the adapter's own reading of the body, with its own answer
        to a broken one — turns it into items for ``ingest``, which names what is wrong.
        """
        now = _now(now_ms)
        written = await self.writer.submit(self._write_plain(device_id, body, now), meter=device_id)
        if written is None:
            return await self.ingest(device_id, decode(body), now_ms=now)
        return self._counted(written, IngestResult())

    def _write_plain(self, device_id: int, body: bytes, now: int) -> Callable[[Connection], WriteResult | None]:
        """Parse a plain body and write it, both on the writer thread; None: not plain, nothing written.

        The parse is one pydantic-core call that holds the GIL for about a millisecond per
        thousand readings. Run on the event loop, it landed while the writer was inserting the
        previous upload, and the writer waited for the GIL after each of its statements: with a
        second upload in flight a 1,000-reading write took 6.3 ms instead of 4.2 (one small
        statement, 0.2 ms alone, took 1.8). In the writer's own turn the two never overlap.
        """
        oldest = self.retention.horizons(now).get("raw")
        rules = self.rules

        def work(conn: Connection) -> WriteResult | None:
            readings = plain_body(body, device_id, now)
            if readings is None or (oldest is not None and any(r.ts < oldest for r in readings)):
                return None
            return write_readings(conn, device_id, readings, rules)

        return work

    async def ingest_held(
        self, device_id: int, translate: Callable[[Any], tuple[Sequence[Any], Any]], *, now_ms: int | None = None
    ) -> IngestResult | None:
        """``ingest`` of readings that are made from what the meter sent before (a smart plug's
        held status): ``translate(held)`` gives the items and what to hold next. The held state
        is read and replaced in the transaction that stores the readings, after taking the
        meter's lock, so every server process reads what the others held and a message is
        acknowledged only once both are stored. None: it made no reading.
        """
        now = _now(now_ms)
        oldest = self.retention.horizons(now).get("raw")
        rules = self.rules

        def work(conn: Connection) -> tuple[WriteResult | None, list[Rejection]]:
            lock_meter(conn, device_id)
            held = held_state(conn, device_id)
            items, now_held = translate(held)
            if now_held != held:
                hold_state(conn, device_id, now_held)
            if not items:
                return None, []
            good, bad = validate(items, device_id, now, oldest)
            return (write_readings(conn, device_id, good, rules) if good else WriteResult([], 0)), bad

        written, bad = await self.writer.submit(work, meter=device_id)
        return None if written is None else self._counted(written, IngestResult(rejected=bad))

    async def remember_plug(self, device_id: int, plug: Plug) -> Plug:
        """Store the plug kind a meter's message showed (``store.plugs.remember``); returns what
        is stored now."""
        return await self.writer.submit(lambda conn: remember(conn, device_id, plug))

    async def _store(self, device_id: int, good: list[Reading], result: IngestResult) -> IngestResult:
        """Write ``good`` (answering after the commit), count it into ``result``, then publish."""
        if good:
            self._counted(await self.writer.submit(self._write(device_id, good), meter=device_id), result)
        return result

    def _counted(self, written: WriteResult, result: IngestResult) -> IngestResult:
        """``result`` with what ``written`` stored counted in; the stored readings go on the bus."""
        result.accepted, result.duplicates = len(written.stored), written.duplicates
        if written.stored:
            self.bus.publish("readings", written.stored)
        return result

    def ingest_blocking(self, device_id: int, items: Sequence[Any], *, now_ms: int | None = None) -> IngestResult:
        """``ingest`` for code without an event loop (CSV import); it publishes nothing."""
        good, result = self._prepare(items, device_id, now_ms)
        if good:
            written = self.writer.run(self._write(device_id, good), meter=device_id)
            result.accepted, result.duplicates = len(written.stored), written.duplicates
        return result
