"""Live grid events of one meter: sags, swells, interruptions, frequency excursions, surges.

The engine finds episodes in a whole array; live, the readings arrive in chunks, so this
keeps the readings of an episode still going and reports each episode once, when the
meter is back inside the band. Steps between consecutive readings that the grid caused
(voltage up more than 5 V and power following only as a resistive load would) are
reported as ``grid_surge`` / ``grid_dip``; steps caused by a load switching are not
findings (NILM reports them as appliance events).

Nominal voltage and frequency are the standard values nearest to what the meter first
reports (230 V / 50 Hz in most of the world, 120 V / 60 Hz in North America …).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wattwise.analysis.grid_events import (
    FREQUENCY_TOLERANCE,
    HYSTERESIS,
    SAG_FRACTION,
    SWELL_FRACTION,
    GridEvent,
    classify_steps,
    frequency_events,
    voltage_events,
)
from wattwise.analysis.nilm.signatures import local_hour
from wattwise.detectors.report import Report
from wattwise.domain.readings import Reading

NOMINAL_VOLTS = (100.0, 110.0, 115.0, 120.0, 127.0, 220.0, 230.0, 240.0)
NOMINAL_HZ = (50.0, 60.0)
GRID_CAUSES = ("grid_surge", "grid_dip")


def nearest(value: float, choices: tuple[float, ...]) -> float:
    return min(choices, key=lambda c: abs(c - value))


@dataclass(slots=True)
class MeterGrid:
    utc_offset_s: int = 0
    nominal_v: float | None = None
    nominal_hz: float | None = None
    ts: list[int] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    f: list[float] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    reported: set[tuple[str, int]] = field(default_factory=set)  # episodes told, still in the tail

    def _learn_nominal(self, fresh: list[Reading]) -> None:
        volts = [r.voltage for r in fresh if r.voltage is not None and r.voltage > 50]
        if self.nominal_v is None and volts:
            self.nominal_v = nearest(float(np.median(volts)), NOMINAL_VOLTS)
        hz = [r.frequency for r in fresh if r.frequency is not None]
        if self.nominal_hz is None and hz:
            self.nominal_hz = nearest(float(np.median(hz)), NOMINAL_HZ)

    def feed(self, readings: list[Reading]) -> list[Report]:
        last = self.ts[-1] if self.ts else -1
        fresh = sorted((r for r in readings if r.ts > last), key=lambda r: r.ts)
        if not fresh:
            return []
        self._learn_nominal(fresh)
        nan = float("nan")
        self.ts.extend(r.ts for r in fresh)
        self.v.extend(nan if r.voltage is None else r.voltage for r in fresh)
        self.f.extend(nan if r.frequency is None else r.frequency for r in fresh)
        self.p.extend(nan if r.power is None else r.power for r in fresh)
        ts = np.asarray(self.ts, dtype="int64")
        v = np.asarray(self.v, dtype="float64")
        f = np.asarray(self.f, dtype="float64")
        p = np.asarray(self.p, dtype="float64")
        n_old = len(self.ts) - len(fresh)
        reports: list[Report] = []
        keep_from = len(ts) - 1
        for events, ongoing in (self._voltage(ts, v), self._frequency(ts, f)):
            for e in events:
                if (ongoing is not None and e.start_ts >= ongoing) or (e.kind, e.start_ts) in self.reported:
                    continue
                self.reported.add((e.kind, e.start_ts))
                reports.append(self._episode(e))
            if ongoing is not None:
                keep_from = min(keep_from, int(np.searchsorted(ts, ongoing)))
        reports.extend(self._steps(ts[max(0, n_old - 1) :], p[max(0, n_old - 1) :], v[max(0, n_old - 1) :]))
        del self.ts[:keep_from], self.v[:keep_from], self.f[:keep_from], self.p[:keep_from]
        self.reported = {k for k in self.reported if k[1] >= self.ts[0]}
        return sorted(reports, key=lambda r: r.start_ts)

    def _voltage(self, ts: np.ndarray, v: np.ndarray) -> tuple[list[GridEvent], int | None]:
        if self.nominal_v is None or not np.isfinite(v[-1]):
            return [], None
        ok = np.isfinite(v)
        events = voltage_events(ts[ok], v[ok], nominal=self.nominal_v)
        low, high = (SAG_FRACTION + HYSTERESIS) * self.nominal_v, (SWELL_FRACTION - HYSTERESIS) * self.nominal_v
        still_out = bool(v[-1] < low or v[-1] > high)
        ongoing = [e.start_ts for e in events if e.end_ts == int(ts[-1])] if still_out else []
        return events, (min(ongoing) if ongoing else None)

    def _frequency(self, ts: np.ndarray, f: np.ndarray) -> tuple[list[GridEvent], int | None]:
        if self.nominal_hz is None or not np.isfinite(f[-1]):
            return [], None
        ok = np.isfinite(f)
        events = frequency_events(ts[ok], f[ok], nominal=self.nominal_hz)
        still_out = bool(abs(f[-1] - self.nominal_hz) > FREQUENCY_TOLERANCE * self.nominal_hz)
        ongoing = [e.start_ts for e in events if e.end_ts == int(ts[-1])] if still_out else []
        return events, (min(ongoing) if ongoing else None)

    def _episode(self, e: GridEvent) -> Report:
        depth = abs(e.extreme - e.nominal) / e.nominal
        return Report(
            kind=e.kind,
            start_ts=e.start_ts,
            end_ts=e.end_ts,
            score=depth,
            reason=e.describe(),
            level=e.extreme,
            hour=local_hour(e.start_ts, self.utc_offset_s),
            detail={"extreme": e.extreme, "nominal": e.nominal, "duration_s": e.duration_s},
        )

    def _steps(self, ts: np.ndarray, p: np.ndarray, v: np.ndarray) -> list[Report]:
        ok = np.isfinite(p) & np.isfinite(v)
        if ok.sum() < 2:
            return []
        out = []
        for s in classify_steps(ts[ok], p[ok], v[ok]):
            if s.cause not in GRID_CAUSES:
                continue
            out.append(
                Report(
                    kind=s.cause,
                    start_ts=s.ts,
                    end_ts=s.ts,
                    score=abs(s.d_voltage),
                    reason=s.describe(),
                    level=s.d_voltage,
                    hour=local_hour(s.ts, self.utc_offset_s),
                    detail={"d_power_w": s.d_power, "d_voltage_v": s.d_voltage},
                )
            )
        return out
