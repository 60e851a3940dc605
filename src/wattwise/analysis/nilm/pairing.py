"""Pair ON and OFF events into appliance runs.

An OFF event closes the open ON event it fits best: same label when both are
identified, and a step size within ``rel_tol`` (or ``abs_tol_w``) of the ON step, most
recent first. An ON event left open longer than ``max_duration_s`` is closed at the
appliance's typical run length when one is known, or dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.signatures import UNIDENTIFIED


@dataclass(frozen=True, slots=True)
class Run:
    """One appliance switching on at ``start`` and off at ``end`` (epoch ms).

    ``closed`` is False when no OFF event was found and the end was estimated.
    """

    start: int
    end: int
    power_w: float
    label: str
    on: Event
    off: Event | None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / 1000.0

    @property
    def energy_wh(self) -> float:
        return self.power_w * self.duration_s / 3600.0

    @property
    def closed(self) -> bool:
        return self.off is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["duration_s"] = self.duration_s
        out["energy_wh"] = self.energy_wh
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        """The run :meth:`to_dict` wrote (its derived duration and energy are recomputed)."""
        off = data["off"]
        return cls(
            int(data["start"]),
            int(data["end"]),
            float(data["power_w"]),
            str(data["label"]),
            Event.from_dict(data["on"]),
            None if off is None else Event.from_dict(off),
        )


@dataclass(frozen=True, slots=True)
class PairingConfig:
    rel_tol: float = 0.25
    abs_tol_w: float = 15.0
    max_duration_s: float = 6 * 3600.0


def _fits(on: Event, off: Event, cfg: PairingConfig) -> float | None:
    """How badly ``off`` undoes ``on`` (lower is better), or None if it does not."""
    mismatch = abs(on.delta_p + off.delta_p)
    allowed = max(cfg.abs_tol_w, cfg.rel_tol * max(on.delta_p, -off.delta_p))
    if mismatch > allowed:
        return None
    if on.label and off.label and UNIDENTIFIED not in (on.label, off.label):
        if on.label != off.label:
            return None
        return mismatch / allowed - 1.0  # same label: preferred over any unlabelled fit
    return mismatch / allowed


def pair_events(
    events: Sequence[Event],
    config: PairingConfig | None = None,
    typical_duration_s: Mapping[str, float] | None = None,
    max_duration_s: Mapping[str, float] | None = None,
    until_ts: int | None = None,
) -> list[Run]:
    """Runs from time-ordered events; labels come from the events (ON wins if unsure).

    ``until_ts`` is the end of the data: an ON event still open then, and younger than
    its appliance's longest run, is a run that is still going (``off`` is None).
    """
    cfg = config or PairingConfig()
    typical = typical_duration_s or {}
    longest = max_duration_s or {}
    open_on: list[Event] = []
    runs: list[Run] = []

    def limit(e: Event) -> float:
        return longest.get(e.label or "", cfg.max_duration_s)

    def expire(now: int) -> None:
        for on in [o for o in open_on if (now - o.ts) / 1000.0 > limit(o)]:
            open_on.remove(on)
            dur = typical.get(on.label or "")
            if dur is not None:
                runs.append(closed_at_typical(on, dur))

    for ev in sorted(events, key=lambda e: e.ts):
        expire(ev.ts)
        if ev.delta_p > 0:
            open_on.append(ev)
            continue
        best: tuple[float, int] | None = None
        for idx in range(len(open_on) - 1, -1, -1):
            score = _fits(open_on[idx], ev, cfg)
            if score is not None and (best is None or score < best[0] - 1e-9):
                best = (score, idx)
        if best is None:
            continue
        on = open_on.pop(best[1])
        power = 0.5 * (on.delta_p - ev.delta_p)
        label = _label(on) if on.confidence >= ev.confidence else _label(ev)
        runs.append(Run(on.ts, ev.ts, power, label, on, ev))
    if until_ts is not None:
        expire(until_ts)
        for on in open_on:
            runs.append(Run(on.ts, until_ts, on.delta_p, _label(on), on, None))
    else:
        expire(2**62)
    return sorted(runs, key=lambda r: r.start)


def closed_at_typical(on: Event, typical_s: float) -> Run:
    """An ON left open past its appliance's longest run: its OFF was missed, so the run
    is taken to have lasted the appliance's typical run (offline and live alike)."""
    return Run(on.ts, on.ts + int(typical_s * 1000), on.delta_p, _label(on), on, None)


def _label(e: Event) -> str:
    return e.label or UNIDENTIFIED


def one_at_a_time(runs: Sequence[Run], after: Mapping[str, int] | None = None) -> list[Run]:
    """An appliance runs once at a time: a run of the same appliance that overlaps an
    earlier one keeps only its part after the earlier one ends (unidentified runs are
    left alone). ``after``: where each appliance's runs decided before these ended (a
    live meter decides its runs a few at a time)."""
    last_end: dict[str, int] = dict(after or {})
    out: list[Run] = []
    for r in sorted(runs, key=lambda r: r.start):
        if r.label == UNIDENTIFIED:
            out.append(r)
            continue
        start = max(r.start, last_end.get(r.label, r.start))
        if start < r.end:
            out.append(Run(start, r.end, r.power_w, r.label, r.on, r.off))
            last_end[r.label] = r.end
    return out
