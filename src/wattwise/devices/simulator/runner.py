"""Drive many simulated meters through one transport: history first, then live readings.

Each meter is its own household, drawn from ``seed + index``; with ``main_meter`` the
meters form one site instead, meter 0 reading the others plus common loads. A backfill sends the span
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

import numpy as np

from wattwise.devices.simulator.delivery import (
    DeliveryUnavailable,
    MeterIdentity,
    Row,
    Sender,
    SendResult,
)
from wattwise.devices.simulator.events_file import EventWriter
from wattwise.devices.simulator.household import (
    Household,
    HouseholdState,
    Samples,
    initial_state,
    make_household,
    simulate,
)
from wattwise.devices.simulator.noise import IntArray
from wattwise.devices.simulator.schedule import ApplianceEvent
from wattwise.devices.simulator.site import Site, make_site, simulate_site, site_states

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
    main_meter: bool = False  # meter 0 measures the whole site: the others plus common loads
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
    backlog: list[Row] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    """Meters simulated together: one independent household, or a whole site."""

    meters: list[_Meter]
    states: tuple[HouseholdState, ...]
    household: Household | None = None
    site: Site | None = None

    def advance(self, ts: IntArray) -> list[tuple[Samples, list[ApplianceEvent]]]:
        """Readings and events of each meter of the group at ``ts``."""
        if self.site is not None:
            out = simulate_site(self.site, self.states, ts)
        else:
            assert self.household is not None
            out = [simulate(self.household, self.states[0], ts)]
        self.states = tuple(state for state, _, _ in out)
        return [(samples, events) for _, samples, events in out]


def households(plan: RunPlan) -> list[Household]:
    """The household of each independent meter of the plan (seed + index)."""
    return [make_household(plan.seed + m.index, timezone=plan.timezone) for m in plan.meters]


def _groups(plan: RunPlan) -> list[_Group]:
    begin = plan.start_ms - plan.backfill_ms
    if plan.main_meter:
        if len(plan.meters) < 2:
            raise ValueError("a main meter needs at least one sub-meter beside it")
        site = make_site(plan.seed, len(plan.meters) - 1, timezone=plan.timezone)
        meters = [_Meter(m) for m in plan.meters]
        return [_Group(meters, site_states(site, begin), site=site)]
    return [
        _Group([_Meter(m)], (initial_state(h, begin),), household=h)
        for m, h in zip(plan.meters, households(plan), strict=True)
    ]


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
    groups = _groups(plan)
    if plan.backfill_ms > 0:
        await asyncio.gather(*(_backfill(plan, g, sender, events, summary, gate) for g in groups))
        log.info("backfill done: %d readings", summary.backfilled)
    ticks = plan.live_ticks()
    real_start = clock()
    tick = 0
    meters = [m for g in groups for m in g.meters]
    while ticks is None or tick < ticks:
        tick += 1
        wait = real_start + tick * plan.interval_ms / 1000.0 / plan.speed - clock()
        if wait > 0:
            await sleep(wait)
        for group in groups:
            now = np.array([group.states[0].ts + plan.interval_ms], np.int64)
            for meter, (samples, happened) in zip(group.meters, group.advance(now), strict=True):
                meter.backlog.extend(samples.rows())
                _record(meter, happened, events, summary)
        summary.live += len(meters)
        await asyncio.gather(*(_flush(plan, m, sender, summary, gate) for m in meters))
        if tick % max(1, 60_000 // plan.interval_ms) == 0:
            log.info("%d live readings sent, %d appliance events", summary.live, summary.events)
    summary.pending = sum(len(m.backlog) for m in meters)
    return summary


def _record(meter: _Meter, happened: list[ApplianceEvent], events: EventWriter | None, summary: RunSummary) -> None:
    if events is not None and happened:
        events.write(meter.identity.label, happened)
    summary.events += len(happened)


async def _backfill(
    plan: RunPlan,
    group: _Group,
    sender: Sender,
    events: EventWriter | None,
    summary: RunSummary,
    gate: asyncio.Semaphore,
) -> None:
    """Send the history of a group's meters, one batch at a time, in time order."""
    while group.states[0].ts + plan.interval_ms <= plan.start_ms:
        count = min(plan.batch, (plan.start_ms - group.states[0].ts) // plan.interval_ms)
        ts = group.states[0].ts + plan.interval_ms * np.arange(1, count + 1, dtype=np.int64)
        for meter, (samples, happened) in zip(group.meters, group.advance(ts), strict=True):
            async with gate:
                summary.result.add(await sender.send(meter.identity, samples.rows()))
            summary.backfilled += len(samples)
            _record(meter, happened, events, summary)


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
