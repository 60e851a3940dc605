"""When each appliance of a household runs: programmes laid out as runs of steady power.

A *run* is one phase of one programme: [start, end) in UTC ms at a steady power. Runs are a
pure function of (seed, appliance, time slot): a day of the household's local calendar for
appliances people start, a thermostat period for cycling ones. Any window of time can be
planned on its own, so the stepping model and the vectorised generator plan the same runs.

Powers are integers in milliwatts so that energy sums (mW × ms) are exact whatever order
they are added in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from wattwise.devices.simulator.appliances import Always, Appliance, Cycling, Daily
from wattwise.devices.simulator.noise import IntArray, stream_id, uniform, uniform_pair

DAY_MS = 86_400_000
_FAR_MS = 10 * DAY_MS


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnedAppliance:
    """An appliance as one household has it: its own power rating and habits."""

    appliance: Appliance
    power_scale: float = 1.0
    usage_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Runs:
    """Runs of steady power, one entry per programme phase (parallel arrays)."""

    start: IntArray
    end: IntArray
    power_mw: IntArray
    reactive_mvar: IntArray
    kind: NDArray[np.int8]
    owner: NDArray[np.int16]  # index into the household's appliances
    phase: NDArray[np.int16]
    first: NDArray[np.bool_]  # first phase of its programme: switching on
    last: NDArray[np.bool_]  # last phase: switching off
    prev_power_mw: IntArray  # power of the phase before (0 for a first phase)

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplianceEvent:
    """Ground truth: an appliance switched at ``ts``; ``delta_w`` at nominal voltage.

    ``state`` is ``on``, ``off``, or ``change`` for a step between two phases of one
    programme (a washing machine going from heating to washing).
    """

    ts: int
    appliance: str
    state: str
    phase: str
    delta_w: float


def _empty_runs() -> Runs:
    zi = np.zeros(0, np.int64)
    return Runs(
        zi,
        zi,
        zi,
        zi,
        np.zeros(0, np.int8),
        np.zeros(0, np.int16),
        np.zeros(0, np.int16),
        np.zeros(0, bool),
        np.zeros(0, bool),
        zi,
    )


def _expand(
    owner: int, appliance: Appliance, starts: IntArray, durations: IntArray, scale: NDArray[np.float64]
) -> Runs:
    """Turn programme starts (n) and phase durations (n × phases) into runs."""
    n, k = durations.shape
    ends = starts[:, None] + np.cumsum(durations, axis=1)
    begins = np.concatenate([starts[:, None], ends[:, :-1]], axis=1)
    rated = np.array([p.power_w for p in appliance.phases])
    tan_phi = np.array([np.sqrt(max(1.0 / (p.pf * p.pf) - 1.0, 0.0)) for p in appliance.phases])
    power = np.rint(scale[:, None] * rated[None, :] * 1000.0).astype(np.int64)
    reactive = np.rint(power * tan_phi[None, :]).astype(np.int64)
    prev = np.concatenate([np.zeros((n, 1), np.int64), power[:, :-1]], axis=1)
    phase_idx = np.broadcast_to(np.arange(k, dtype=np.int16), (n, k))
    kinds = np.broadcast_to(np.array([int(p.kind) for p in appliance.phases], np.int8), (n, k))
    return Runs(
        start=begins.ravel(),
        end=ends.ravel(),
        power_mw=power.ravel(),
        reactive_mvar=reactive.ravel(),
        kind=kinds.ravel().copy(),
        owner=np.full(n * k, owner, np.int16),
        phase=phase_idx.ravel().copy(),
        first=(phase_idx == 0).ravel(),
        last=(phase_idx == k - 1).ravel(),
        prev_power_mw=prev.ravel(),
    )


def _concat(parts: list[Runs]) -> Runs:
    if not parts:
        return _empty_runs()
    fields = Runs.__slots__
    return Runs(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def _phase_bounds_ms(appliance: Appliance) -> tuple[IntArray, IntArray]:
    low = np.array([max(p.min_s, 1.0) * 1000 for p in appliance.phases], np.int64)
    high = np.array([max(p.max_s, p.min_s, 1.0) * 1000 for p in appliance.phases], np.int64)
    return low, high


def _cycling_runs(seed: int, owner: int, owned: OwnedAppliance, t0: int, t1: int) -> Runs:
    """Thermostat programmes: the k-th starts near k × period, each drawn from (seed, k)."""
    appliance = owned.appliance
    assert isinstance(appliance.schedule, Cycling)
    period = int(appliance.schedule.period_s * 1000)
    jitter = int(appliance.schedule.jitter_s * 1000)
    longest = int(appliance.max_duration_s * 1000)
    first_k = (t0 - jitter - longest) // period
    k = np.arange(first_k, t1 // period + 2, dtype=np.int64)
    stream = stream_id(f"cycling.{appliance.name}")
    u_jitter, u_power = uniform_pair(seed, stream, k)
    starts = k * period + np.rint((u_jitter * 2.0 - 1.0) * jitter).astype(np.int64)
    low, high = _phase_bounds_ms(appliance)
    u = np.stack([uniform(seed, stream + 1 + j, k) for j in range(len(low))], axis=1)
    durations = low[None, :] + np.rint(u * (high - low)[None, :]).astype(np.int64)
    scale = owned.power_scale * (0.97 + 0.06 * u_power)
    return _expand(owner, appliance, starts, durations, scale)


def _day_start_ms(day: date, timezone: str) -> int:
    local = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
    return int(local.astimezone(UTC).timestamp() * 1000)


def _drop_overlaps(starts: IntArray, ends: IntArray, busy_until: int) -> NDArray[np.bool_]:
    """Keep a programme only if the appliance is free: nobody starts a running kettle."""
    keep = np.zeros(len(starts), bool)
    for i in range(len(starts)):
        if starts[i] >= busy_until:
            keep[i] = True
            busy_until = int(ends[i])
    return keep


@lru_cache(maxsize=8192)
def _day_programmes(
    seed: int, owned: OwnedAppliance, timezone: str, ordinal: int
) -> tuple[IntArray, IntArray, NDArray[np.float64]]:
    """Programmes people start on one local day, before checking the day before."""
    appliance = owned.appliance
    schedule = appliance.schedule
    assert isinstance(schedule, Daily)
    day = date.fromordinal(ordinal)
    weekend = day.weekday() >= 5
    rng = np.random.default_rng([seed, stream_id(f"daily.{appliance.name}"), ordinal])
    mean = (schedule.uses_weekend if weekend else schedule.uses_weekday) * owned.usage_scale
    weights = np.array(schedule.hours_weekend if weekend else schedule.hours_weekday)
    n = int(rng.poisson(mean))
    hours = rng.choice(24, size=n, p=weights / weights.sum())
    offsets = np.sort(np.rint((hours + rng.random(n)) * 3_600_000).astype(np.int64))
    starts = _day_start_ms(day, timezone) + offsets
    low, high = _phase_bounds_ms(appliance)
    durations = low[None, :] + np.rint(rng.random((n, len(low))) * (high - low)).astype(np.int64)
    scale = owned.power_scale * rng.uniform(0.97, 1.03, n)
    keep = _drop_overlaps(starts, starts + durations.sum(axis=1), busy_until=-(1 << 62))
    return starts[keep], durations[keep], scale[keep]


def _daily_runs(seed: int, owner: int, owned: OwnedAppliance, timezone: str, t0: int, t1: int) -> Runs:
    zone = ZoneInfo(timezone)
    longest = int(owned.appliance.max_duration_s * 1000)
    first = datetime.fromtimestamp((t0 - longest) / 1000, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(t1 / 1000, zone).date()
    parts = []
    prev_end = -(1 << 62)
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        starts, durations, scale = _day_programmes(seed, owned, timezone, ordinal)
        ends = starts + durations.sum(axis=1)
        keep = starts >= prev_end
        if ordinal > first.toordinal():
            parts.append(_expand(owner, owned.appliance, starts[keep], durations[keep], scale[keep]))
        prev_end = int(ends.max()) if len(ends) else -(1 << 62)
    return _concat(parts)


def _always_runs(owner: int, owned: OwnedAppliance, t0: int, t1: int) -> Runs:
    """Standing load: one run around the window, never reported as switching."""
    start = np.array([t0 - _FAR_MS], np.int64)
    runs = _expand(owner, owned.appliance, start, np.array([[t1 - t0 + 2 * _FAR_MS]]), np.array([owned.power_scale]))
    return Runs(
        runs.start,
        runs.end,
        runs.power_mw,
        runs.reactive_mvar,
        runs.kind,
        runs.owner,
        runs.phase,
        np.zeros(1, bool),
        np.zeros(1, bool),
        runs.prev_power_mw,
    )


def runs_between(seed: int, appliances: tuple[OwnedAppliance, ...], timezone: str, t0: int, t1: int) -> Runs:
    """Every run that is on at some instant of [t0, t1]."""
    parts = []
    for owner, owned in enumerate(appliances):
        schedule = owned.appliance.schedule
        if isinstance(schedule, Always):
            parts.append(_always_runs(owner, owned, t0, t1))
        elif isinstance(schedule, Cycling):
            parts.append(_cycling_runs(seed, owner, owned, t0, t1))
        else:
            parts.append(_daily_runs(seed, owner, owned, timezone, t0, t1))
    runs = _concat(parts)
    on = (runs.end > t0) & (runs.start <= t1) & (runs.end > runs.start)
    return Runs(*(getattr(runs, f)[on] for f in Runs.__slots__))


def events_between(runs: Runs, appliances: tuple[OwnedAppliance, ...], t0: int, t1: int) -> list[ApplianceEvent]:
    """Switching events in (t0, t1], in time order (on before change before off at a tie)."""
    found: list[tuple[int, int, ApplianceEvent]] = []
    starting = np.nonzero((runs.start > t0) & (runs.start <= t1) & (runs.first | (runs.phase > 0)))[0]
    for i in starting:
        appliance = appliances[int(runs.owner[i])].appliance
        first = bool(runs.first[i])
        delta = int(runs.power_mw[i]) - (0 if first else int(runs.prev_power_mw[i]))
        event = ApplianceEvent(
            ts=int(runs.start[i]),
            appliance=appliance.name,
            state="on" if first else "change",
            phase=appliance.phases[int(runs.phase[i])].name,
            delta_w=delta / 1000.0,
        )
        found.append((event.ts, 0 if first else 1, event))
    for i in np.nonzero((runs.end > t0) & (runs.end <= t1) & runs.last)[0]:
        appliance = appliances[int(runs.owner[i])].appliance
        event = ApplianceEvent(
            ts=int(runs.end[i]),
            appliance=appliance.name,
            state="off",
            phase=appliance.phases[int(runs.phase[i])].name,
            delta_w=-int(runs.power_mw[i]) / 1000.0,
        )
        found.append((event.ts, 2, event))
    found.sort(key=lambda item: (item[0], item[1], item[2].appliance))
    return [event for _, _, event in found]
