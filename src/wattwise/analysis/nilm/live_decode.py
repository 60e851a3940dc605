"""The joint decoding live: a fixed-lag Viterbi over the steady segments a meter sees.

Offline (:func:`.decode.decode`) the whole recording's segments are decoded at once. A
live meter cannot wait for the end, so it decides each sample once it is
``StateModel.live_lag_s`` old (and no later event can still begin before it,
:meth:`.events.StreamingDetector.settled_before`): the Viterbi pass runs over the
segments not decided yet — from the last decided segment's combination, through the
closed segments, to the open one scored at its level so far — and the best path's
combination for that sample's segment becomes final, as do those of the segments before
it. A decided segment is never revisited: the next pass starts from it. Where the best
path through a segment no longer depends on what comes ``live_lag_s`` later, the live
answer is the offline one; the lag is chosen on the training part as the smallest at
which the live replay gives the offline states (:func:`.evaluate.choose_live_lag`).

Each decided sample's combination becomes watts as offline (:mod:`.apportion`: "none",
"share", "edges", "gain"; "runs" needs a run's whole length and is applied as "edges"),
an event at which an appliance turns on or off becomes its switching event (as
:func:`.decode.switch_events`), and each stretch an appliance is on becomes a run,
closed at the event that turns it off. The levels are used as learnt: the offline
re-fit to the decoded recording (``StateModel.adapt``) needs the whole recording.
Everything is plain data (:meth:`LiveDecoder.to_dict`), so a restart resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.apportion import edge_samples, share_residual
from wattwise.analysis.nilm.decode import StateModel, Tables, step_label
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.pairing import Run

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: the site's confidence map (``NilmModel.calibrated``)
Calibrate = Callable[[float], float]


@dataclass(slots=True)
class Segment:
    """A steady stretch between two events: the event that began it (None: the
    stream's first), its samples not output yet (all of them while it is undecided: its
    level is their median), how many it had in all, and its decided combination (-1:
    not decided)."""

    event: Event | None
    ts: list[int] = field(default_factory=list)
    power: list[float] = field(default_factory=list)
    reactive: list[float] = field(default_factory=list)
    size: int = 0
    state: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": None if self.event is None else self.event.to_dict(),
            "ts": list(self.ts),
            "power": list(self.power),
            "reactive": [None if np.isnan(v) else v for v in self.reactive],
            "size": self.size,
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        event = None if data["event"] is None else Event.from_dict(data["event"])
        q = [float("nan") if v is None else float(v) for v in data["reactive"]]
        return cls(
            event,
            [int(v) for v in data["ts"]],
            [float(v) for v in data["power"]],
            q,
            int(data["size"]),
            int(data["state"]),
        )


@dataclass(slots=True)
class OpenRun:
    """An appliance's run going at the last decided sample: its switching-on event and
    its decided watts so far."""

    on: Event
    total_w: float = 0.0
    samples: int = 0


@dataclass(slots=True)
class Decided:
    """What one step of the live decoding made final: per appliance its watts at the
    decided samples, the switching events (or, without ``switches_only``, the events the
    decoding labelled) and the runs those samples closed."""

    ts: IntArray
    watts: dict[str, FloatArray]
    events: list[Event]
    runs: list[Run]


@dataclass(slots=True)
class LiveDecoder:
    """One meter's fixed-lag joint decoding (see the module's docstring)."""

    #: the segments not wholly output, oldest first (the last one is open)
    segments: list[Segment] = field(default_factory=list)
    #: the combination of the last segment dropped from ``segments`` (-1: none yet)
    prior: int = -1
    #: the last output sample's power and decided watts (before apportioning), for the
    #: "edges" split of the sample after it
    last_power: float | None = None
    last_watts: list[float] | None = None
    going: dict[str, OpenRun] = field(default_factory=dict)
    #: the appliances the decided combinations are numbered over
    names: list[str] = field(default_factory=list)
    #: the scoring tables of the model last fed (rebuilt when the model changes)
    _tables: tuple[StateModel, Tables] | None = field(default=None, repr=False, compare=False)

    def feed(
        self,
        states: StateModel,
        ts: npt.ArrayLike,
        power: npt.ArrayLike,
        reactive: npt.ArrayLike | None,
        events: list[Event],
        settled_before: int | None,
        switches_only: bool,
        calibrated: Calibrate,
        final: bool = False,
    ) -> Decided:
        """Add readings (``reactive``: Q in var, or None) and the events the detector
        made final with them; decide what is old enough (``final``: everything, as
        offline at the end of its data)."""
        t = np.asarray(ts, dtype=np.int64)
        p = np.asarray(power, dtype=np.float64)
        q = np.full(t.size, np.nan) if reactive is None else np.asarray(reactive, dtype=np.float64)
        if t.size and not self.segments:
            self.segments.append(Segment(None))
        if t.size:
            seg = self.segments[-1]
            seg.ts += t.tolist()
            seg.power += p.tolist()
            seg.reactive += q.tolist()
            seg.size += t.size
        for e in sorted(events, key=lambda e: e.ts):
            self._split(e)
        before = None if self._tables is None else self._tables[1]
        if self._tables is None or self._tables[0] is not states:
            self._tables = (states, Tables.of(states))
        tables = self._tables[1]
        if tables.names != self.names:
            if before is not None and _same_numbering(before, tables):
                self._rename(tables.names)
            else:
                self._forget_states(tables.names)
        if not self.segments or not self.segments[-1].ts:
            return Decided(np.zeros(0, dtype=np.int64), {n: np.zeros(0) for n in tables.names}, [], [])
        now = self.segments[-1].ts[-1]
        frontier = now + 1 if final else now - int(states.live_lag_s * 1000)
        if settled_before is not None and not final:
            frontier = min(frontier, settled_before)
        return self._decide(states, tables, frontier, calibrated, switches_only)

    def _forget_states(self, names: list[str]) -> None:
        """A model over other appliances: what was decided is numbered over the old ones,
        so the segments not output are decided afresh and the runs going are dropped."""
        for seg in self.segments:
            seg.state = -1
        self.prior, self.last_power, self.last_watts, self.going = -1, None, None, {}
        self.names = list(names)

    def _rename(self, names: list[str]) -> None:
        """The same combinations under other names (an appliance renamed): what was
        decided stands, and the runs going carry on under the new names."""
        by_place = dict(zip(self.names, names, strict=True))
        self.going = {by_place[k]: g for k, g in self.going.items()}
        self.names = list(names)

    def rename(self, old: str, new: str) -> None:
        """An appliance renamed (``renamed_states``: the same place, so the same
        combinations): what was decided stands and its run going carries on, also for a
        decoder just restored, which has no model yet to compare names with
        (:meth:`feed` would otherwise decide its undecided samples afresh)."""
        if old in self.names and new not in self.names:
            self.names = [new if n == old else n for n in self.names]
            if old in self.going:
                self.going[new] = self.going.pop(old)

    def _split(self, event: Event) -> None:
        """A new event cuts the open segment where its change began."""
        seg = self.segments[-1]
        k = int(np.searchsorted(np.asarray(seg.ts, dtype=np.int64), event.ts))
        new = Segment(event, seg.ts[k:], seg.power[k:], seg.reactive[k:], len(seg.ts) - k)
        del seg.ts[k:], seg.power[k:], seg.reactive[k:]
        seg.size -= new.size
        self.segments.append(new)

    def _decide(
        self, states: StateModel, tables: Tables, frontier: int, calibrated: Calibrate, switches_only: bool
    ) -> Decided:
        """Output every sample before ``frontier``; the segment of the sample after the
        last one output is decided too (an "edges" split needs both sides of an event)."""
        counts = [int(np.searchsorted(np.asarray(s.ts, dtype=np.int64), frontier)) for s in self.segments]
        if not any(counts):
            return Decided(np.zeros(0, dtype=np.int64), {n: np.zeros(0) for n in tables.names}, [], [])
        last = max(i for i, c in enumerate(counts) if c)
        upto = last + 1 if counts[last] == len(self.segments[last].ts) and last + 1 < len(self.segments) else last
        if self.segments[upto].state < 0:
            self._viterbi(states, tables, upto)
        return self._output(states, tables, counts, calibrated, switches_only)

    def _viterbi(self, states: StateModel, tables: Tables, upto: int) -> None:
        """Decide the segments up to index ``upto`` from everything seen so far."""
        first = next(i for i, s in enumerate(self.segments) if s.state < 0)
        before = self.segments[first - 1].state if first > 0 else self.prior
        back = []
        cost: FloatArray | None = None
        for i in range(first, len(self.segments)):
            emit = self._emission(states, tables, self.segments[i])
            if cost is None:
                cost = emit if before < 0 else tables.step_cost[before] + emit
                continue
            total = cost[:, None] + tables.step_cost
            arg = np.argmin(total, axis=0)
            back.append(arg)
            cost = total[arg, np.arange(cost.size)] + emit
        assert cost is not None
        path = [int(np.argmin(cost))]
        for arg in reversed(back):
            path.append(int(arg[path[-1]]))
        path.reverse()
        for k in range(first, upto + 1):
            self.segments[k].state = path[k - first]

    @staticmethod
    def _emission(states: StateModel, tables: Tables, seg: Segment) -> FloatArray:
        if seg.size < states.min_segment or not seg.power:
            return tables.emission(float("nan"), float("nan"), states)
        q = np.asarray(seg.reactive, dtype=np.float64)
        q_level = float(np.nanmedian(q)) if np.isfinite(q).any() else float("nan")
        return tables.emission(float(np.nanmedian(seg.power)), q_level, states)

    def _output(
        self, states: StateModel, tables: Tables, counts: list[int], calibrated: Calibrate, switches_only: bool
    ) -> Decided:
        """The first ``counts[i]`` samples of each segment turned into watts, switchings
        and runs; the segments wholly output are dropped."""
        names, combos = tables.names, tables.combos
        ts: list[int] = []
        pw: list[float] = []
        states_of: list[int] = []
        cuts: list[int] = []
        events: list[Event] = []
        for i, (s, c) in enumerate(zip(self.segments, counts, strict=True)):
            if not c:
                continue
            if s.size == len(s.ts) and s.event is not None:  # its first sample: its event is decided
                cuts.append(len(ts))
                before = self.segments[i - 1].state if i > 0 else self.prior
                events += self._switch(s.event, before, s.state, tables, calibrated, switches_only)
            ts += s.ts[:c]
            pw += s.power[:c]
            states_of += [s.state] * c
            del s.ts[:c], s.power[:c], s.reactive[:c]
        watts = combos[np.asarray(states_of, dtype=np.int64)]
        p = np.asarray(pw, dtype=np.float64)
        t = np.asarray(ts, dtype=np.int64)
        out_w = self._apportion(states, tables, p, watts, np.asarray(cuts, dtype=np.int64))
        runs = self._runs(names, t, watts, out_w, events)
        self.last_power, self.last_watts = float(p[-1]), watts[-1].tolist()
        while len(self.segments) > 1 and not self.segments[0].ts and self.segments[0].state >= 0:
            self.prior = self.segments.pop(0).state
        return Decided(t, {n: out_w[:, k] for k, n in enumerate(names)}, events, runs)

    @staticmethod
    def _switch(
        event: Event, before: int, after: int, tables: Tables, calibrated: Calibrate, switches_only: bool
    ) -> list[Event]:
        """The event's switchings (``switches_only``) or the event itself, labelled by the
        decoding where its signature could not tell (as offline)."""
        names, combos = tables.names, tables.combos
        b = combos[before] if before >= 0 else np.zeros(len(names))
        a = combos[after]
        if event.label == "unidentified":
            event.label = step_label(event, b, a, names)
            event.confidence = calibrated(event.scores.get(event.label, 0.0))
        if not switches_only:
            return [event]
        return [
            replace(
                event,
                delta_p=float(a[j] - b[j]),
                label=n,
                scores=dict(event.scores),
                confidence=calibrated(event.scores.get(n, 0.0)),
            )
            for j, n in enumerate(names)
            if (b[j] > 0) != (a[j] > 0)
        ]

    def _apportion(
        self, states: StateModel, tables: Tables, p: FloatArray, watts: FloatArray, cuts: IntArray
    ) -> FloatArray:
        """As :func:`.apportion.apportion` on the decided samples, with the sample
        before them (and the segment after them, decided) for the "edges" split."""
        mode = states.apportion
        if mode == "none":
            return watts
        if mode != "share":
            ctx_p, ctx_w, ctx_cuts, lead = p, watts, cuts, 0
            if self.last_watts is not None and self.last_power is not None:
                ctx_p = np.r_[self.last_power, p]
                ctx_w = np.vstack([np.asarray(self.last_watts), watts])
                ctx_cuts, lead = cuts + 1, 1
            nxt = self._next_sample(tables)
            if nxt is not None:
                ctx_p = np.r_[ctx_p, nxt[0]]
                ctx_w = np.vstack([ctx_w, nxt[1]])
                if nxt[2]:
                    ctx_cuts = np.r_[ctx_cuts, ctx_p.size - 1]
            split = edge_samples(ctx_p, ctx_w, ctx_cuts, states.base_w, states.noise_w, states.rel_noise)
            watts = split[lead : lead + p.size]
        if mode == "gain" and states.gains:
            gains = np.array([states.gains.get(n, 1.0) for n in tables.names])
            return share_residual(p, watts, states.gain_base_w, gains)
        return share_residual(p, watts, states.base_w)

    def _next_sample(self, tables: Tables) -> tuple[float, FloatArray, bool] | None:
        """The first sample not output (its power, decided watts, whether an event
        begins at it), if its segment is decided."""
        for s in self.segments:
            if s.ts:
                if s.state < 0:
                    return None
                return s.power[0], tables.combos[s.state], s.size == len(s.ts) and s.event is not None
        return None

    def _runs(
        self, names: list[str], ts: IntArray, levels: FloatArray, watts: FloatArray, events: list[Event]
    ) -> list[Run]:
        """The runs the decided samples close: an appliance's run starts where the
        decoding turns it on and ends at the first sample it is off, its power its
        samples' mean watts; its events are its switchings there."""
        runs: list[Run] = []
        at: dict[int, list[Event]] = {}
        for e in events:
            at.setdefault(e.ts, []).append(e)

        def event_at(t: int, name: str) -> Event | None:
            """The switching (or the event) at the sample at ``t``, this appliance's first."""
            mine = at.get(t_event(events, t), [])
            return next((e for e in mine if e.label == name), mine[0] if mine else None)

        for k, name in enumerate(names):
            for t, lev, w in zip(ts.tolist(), levels[:, k].tolist(), watts[:, k].tolist(), strict=True):
                going = self.going.get(name)
                if lev > 0 and going is None:
                    on = event_at(t, name) or Event.own(t, w, name)
                    going = self.going[name] = OpenRun(on)
                if lev > 0 and going is not None:
                    going.total_w += w
                    going.samples += 1
                elif going is not None:
                    power = going.total_w / max(going.samples, 1)
                    off = event_at(t, name) or Event.own(t, -power, name)
                    runs.append(Run(going.on.ts, t, power, name, going.on, off))
                    del self.going[name]
        return sorted(runs, key=lambda r: r.start)

    def events_in_use(self) -> list[Event]:
        """The events a run decided later may still name: those that begin a segment not
        wholly output (decided a lag after they were detected, and, without
        ``switches_only``, the very events stored then) and the switchings that began the
        runs going."""
        waiting = [s.event for s in self.segments if s.event is not None]
        return [*waiting, *(g.on for g in self.going.values())]

    def open_runs(self, now_ts: int) -> list[Run]:
        """The decoded runs going at the last decided sample, up to ``now_ts``."""
        return [Run(g.on.ts, now_ts, g.total_w / max(g.samples, 1), name, g.on, None) for name, g in self.going.items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": [s.to_dict() for s in self.segments],
            "prior": self.prior,
            "last_power": self.last_power,
            "last_watts": self.last_watts,
            "names": list(self.names),
            "going": {
                k: {"on": g.on.to_dict(), "total_w": g.total_w, "samples": g.samples} for k, g in self.going.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiveDecoder:
        return cls(
            [Segment.from_dict(s) for s in data.get("segments", [])],
            int(data.get("prior", -1)),
            None if data.get("last_power") is None else float(data["last_power"]),
            None if data.get("last_watts") is None else [float(v) for v in data["last_watts"]],
            {
                k: OpenRun(Event.from_dict(g["on"]), float(g["total_w"]), int(g["samples"]))
                for k, g in data.get("going", {}).items()
            },
            [str(n) for n in data.get("names", [])],
        )


def _same_numbering(a: Tables, b: Tables) -> bool:
    """Whether two models number the same combinations the same way (only names differ)."""
    return len(a.names) == len(b.names) and a.combos.shape == b.combos.shape and bool(np.all(a.combos == b.combos))


def t_event(events: list[Event], t: int) -> int:
    """The time of the event that begins at the sample at ``t`` (the latest at or before
    it), or ``t`` when there is none."""
    before = [e.ts for e in events if e.ts <= t]
    return max(before) if before else t
