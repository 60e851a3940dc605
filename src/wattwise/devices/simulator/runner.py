"""Drive many simulated meters through one transport: history first, then live readings.

Each meter is its own household, drawn from ``seed + index``. A backfill sends the span
before ``start_ms`` as fast as the receiver takes it, in batches; live readings then follow
on the same household state, so the series and its energy counter run on without a seam.
Live ticks are paced on an absolute schedule (``interval / speed`` apart in real time), so
slow sends do not make the clock drift. Readings the receiver cannot take for now are kept
and sent with the next tick (store-and-forward, up to ``max_backlog`` per meter).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wattwise.devices.simulator.delivery import (
    DeliveryUnavailable,
    MeterIdentity,
    Row,
    Sender,
    SendResult,
)
from wattwise.devices.simulator.events_file import EventWriter
from wattwise.devices.simulator.frame import simulate_span
from wattwise.devices.simulator.household import (
    Household,
    HouseholdState,
    initial_state,
    make_household,
    step,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """What to simulate: which meters, how often, from when, for how long."""

    meters: tuple[MeterIdentity, ...]
    seed: int = 0
    interval_ms: int = 2000
    start_ms: int  # simulated time of the first live tick's predecessor
    count: int | None = None  # live readings per meter; None with duration None: forever
    duration_ms: int | None = None
    backfill_ms: int = 0
    speed: float = 1.0
    timezone: str = "UTC"
    batch: int = 5000
    concurrency: int = 64
    max_backlog: int = 100_000

    def live_ticks(self) -> int | None:
        """How many live readings each meter sends (None: until stopped)."""
        ticks = [
            t
            for t in (self.count, None if self.duration_ms is None else self.duration_ms // self.interval_ms)
            if t is not None
        ]
        return min(ticks) if ticks else None


@dataclass(slots=True)
class RunSummary:
    """What was sent and what the receiver made of it."""

    result: SendResult = field(default_factory=SendResult)
    events: int = 0
    backfilled: int = 0
    live: int = 0
    pending: int = 0  # readings still kept for a receiver that did not take them


@dataclass(slots=True)
class _Meter:
    identity: MeterIdentity
    household: Household
    state: HouseholdState
    backlog: list[Row] = field(default_factory=list)


def households(plan: RunPlan) -> list[Household]:
    """The household of each meter of the plan (seed + index)."""
    return [make_household(plan.seed + m.index, timezone=plan.timezone) for m in plan.meters]


async def run(
    plan: RunPlan,
    sender: Sender,
    events: EventWriter | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunSummary:
    """Backfill then send live readings as the plan says; return what happened."""
    if plan.interval_ms <= 0:
        raise ValueError(f"interval must be positive, got {plan.interval_ms} ms")
    if plan.speed <= 0:
        raise ValueError(f"speed must be positive, got {plan.speed}")
    summary = RunSummary()
    gate = asyncio.Semaphore(plan.concurrency)
    meters = [
        _Meter(m, h, initial_state(h, plan.start_ms - plan.backfill_ms))
        for m, h in zip(plan.meters, households(plan), strict=True)
    ]
    if plan.backfill_ms > 0:
        await asyncio.gather(*(_backfill(plan, m, sender, events, summary, gate) for m in meters))
        log.info("backfill done: %d readings", summary.backfilled)
    ticks = plan.live_ticks()
    real_start = clock()
    tick = 0
    while ticks is None or tick < ticks:
        tick += 1
        wait = real_start + tick * plan.interval_ms / 1000.0 / plan.speed - clock()
        if wait > 0:
            await sleep(wait)
        for meter in meters:
            meter.state, row, happened = step(meter.household, meter.state, plan.interval_ms)
            meter.backlog.append(row)
            if events is not None and happened:
                events.write(meter.identity.label, happened)
            summary.events += len(happened)
        summary.live += len(meters)
        await asyncio.gather(*(_flush(plan, m, sender, summary, gate) for m in meters))
        if tick % max(1, 60_000 // plan.interval_ms) == 0:
            log.info("%d live readings sent, %d appliance events", summary.live, summary.events)
    summary.pending = sum(len(m.backlog) for m in meters)
    return summary


async def _backfill(
    plan: RunPlan,
    meter: _Meter,
    sender: Sender,
    events: EventWriter | None,
    summary: RunSummary,
    gate: asyncio.Semaphore,
) -> None:
    """Send the history of one meter, one batch at a time, in time order."""
    for state, samples, happened in simulate_span(
        meter.household, meter.state, plan.start_ms, plan.interval_ms, chunk=plan.batch
    ):
        async with gate:
            summary.result.add(await sender.send(meter.identity, samples.rows()))
        meter.state = state
        summary.backfilled += len(samples)
        if events is not None:
            events.write(meter.identity.label, happened)
        summary.events += len(happened)


async def _flush(plan: RunPlan, meter: _Meter, sender: Sender, summary: RunSummary, gate: asyncio.Semaphore) -> None:
    """Send what the meter holds; keep it for the next tick if the receiver is away."""
    rows, meter.backlog = meter.backlog, []
    try:
        async with gate:
            summary.result.add(await sender.send(meter.identity, rows))
    except DeliveryUnavailable as exc:
        kept = rows[-plan.max_backlog :]
        if len(kept) < len(rows):
            log.warning(
                "meter %s: backlog full, dropped %d oldest readings", meter.identity.label, len(rows) - len(kept)
            )
        meter.backlog = kept
        log.warning("meter %s: %s; keeping %d reading(s) for later", meter.identity.label, exc, len(kept))
