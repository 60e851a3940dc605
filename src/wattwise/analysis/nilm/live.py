"""One meter's live appliance detection: what a bus subscriber holds per meter.

    meter = LiveNilm(model)                      # model: the site's NilmModel
    for reading in stream:
        update = meter.feed(reading.ts, reading.power, reading.pf)
        store(update.events); store(update.runs)  # push both on the live channel
    meter.label(event, "kettle")                  # the user's click: learnt at once

Events come out identified (label, confidence; "unidentified" below the threshold) the
moment they are final; a run comes out when its OFF event arrives (or, left open past
its appliance's longest run, at its typical length), a multi-phase appliance's pause
when the run after it closes, and a short, strong appliance's watts per sample once
its burst window has passed (``update.bursts``) — each as the offline chain gives it.
Those watts also come out as the appliance's runs (one per stretch of decided samples
it draws in, closed at the first sample it does not), so the service stores and shows a
microwave's uses like any other appliance's; the runs pairing gives such an appliance
are dropped, as offline its bursts stand for them.
A rhythm appliance's (a fridge's) runs come from its chain over a sliding window, final
a few typical cycles late (:mod:`.live_rhythm`). Where the model decodes all loads
jointly (``model.states``), a fixed-lag Viterbi does it live (:mod:`.live_decode`): each
sample's appliance watts are final ``states.live_lag_s`` late (``update.states``), its
runs and switchings come out as they are decided (docs/evaluation/nilm.md, "Live versus
offline").
Everything the meter needs to resume
after a restart is in :meth:`to_dict` (the library lives in the model, which the caller
persists per site).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.bursts import BurstModel, burst_series
from wattwise.analysis.nilm.energy import power_series
from wattwise.analysis.nilm.events import Event, StreamingDetector, reactive_from_pf
from wattwise.analysis.nilm.live_decode import Decided, LiveDecoder
from wattwise.analysis.nilm.live_rhythm import LiveRhythm, Pending
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run, closed_at_typical, pair_events
from wattwise.analysis.nilm.signatures import UNIDENTIFIED

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class LiveUpdate:
    events: list[Event]
    runs: list[Run]
    #: per short, strong appliance (a microwave): the samples decided with this update,
    #: (times in epoch ms, its watts at each)
    bursts: dict[str, tuple[IntArray, FloatArray]] = field(default_factory=dict)
    #: with the joint decoding (``model.states``): per appliance, the samples decided
    #: with this update, (times in epoch ms, its watts at each)
    states: dict[str, tuple[IntArray, FloatArray]] = field(default_factory=dict)


@dataclass(slots=True)
class BurstBuffer:
    """The readings a burst decision still needs: a sample is decided once the longest
    burst window (plus two samples) has passed after it, from the same window before
    it, so it gets the value :func:`burst_series` gives it on the whole recording
    (where the meter's interval is steady: the window in samples comes from the
    buffer's median interval)."""

    ts: list[int] = field(default_factory=list)
    power: list[float] = field(default_factory=list)
    decided: int = 0  # buffer samples already reported

    def feed(
        self, bursts: dict[str, BurstModel], ts: Any, power: Any, final: bool = False
    ) -> dict[str, tuple[IntArray, FloatArray]]:
        if not bursts:
            # nothing to decide: hold nothing, so the saved state stays small and a burst
            # model a later label gives starts from that label, not from readings whose
            # runs are already stored and named
            self.ts, self.power, self.decided = [], [], 0
            return {}
        self.ts += np.asarray(ts, dtype=np.int64).tolist()
        self.power += np.asarray(power, dtype=np.float64).tolist()
        t = np.asarray(self.ts, dtype=np.int64)
        if t.size < 3:
            return {}
        step_s = max(float(np.median(np.diff(t))) / 1000.0, 1e-9)
        context = max(max(2, round(m.max_s / step_s) + 1) for m in bursts.values()) + 1
        end = t.size if final else t.size - context
        if end <= self.decided:
            return {}
        p = np.asarray(self.power, dtype=np.float64)
        out = {name: (t[self.decided : end], burst_series(t, p, m)[self.decided : end]) for name, m in bursts.items()}
        keep_from = max(0, end - context)
        del self.ts[:keep_from], self.power[:keep_from]
        self.decided = end - keep_from
        return out


@dataclass(slots=True)
class OpenBurst:
    """A burst appliance's run still going at the last decided sample: where it began,
    its decided watts so far."""

    start: int
    total_w: float = 0.0
    samples: int = 0


def burst_runs(
    name: str, ts: IntArray, watts: FloatArray, going: OpenBurst | None
) -> tuple[list[Run], OpenBurst | None]:
    """The runs that decided samples close (a stretch of samples the appliance draws in,
    ending at the first one it does not) and the one still going. A run's power is its
    samples' mean, its end the first sample without it, so power × duration is the
    energy its samples are credited with (at a steady interval). Its ON and OFF events
    are the run's own (:meth:`Event.own`: a burst is decided from the level around it,
    not from a step)."""
    runs: list[Run] = []
    for t, w in zip(ts.tolist(), watts.tolist(), strict=True):
        if w > 0:
            going = OpenBurst(t) if going is None else going
            going.total_w += w
            going.samples += 1
        elif going is not None:
            power = going.total_w / going.samples
            on, off = Event.own(going.start, power, name), Event.own(t, -power, name)
            runs.append(Run(going.start, t, power, name, on, off))
            going = None
    return runs, going


@dataclass(slots=True)
class LiveNilm:
    """Streaming detector + identification + pairing for one meter."""

    model: NilmModel
    detector: StreamingDetector = field(init=False)
    open_on: list[Event] = field(default_factory=list)
    #: per multi-phase appliance, where its last closed run ended (epoch ms)
    last_end: dict[str, int] = field(default_factory=dict)
    burst_buffer: BurstBuffer = field(default_factory=BurstBuffer)
    #: per burst appliance, its run going at the last decided sample
    burst_going: dict[str, OpenBurst] = field(default_factory=dict)
    #: the rhythm chains' window: their runs come out final a bounded delay late
    rhythm: LiveRhythm = field(default_factory=LiveRhythm)
    #: the joint decoding's fixed-lag window (used when the model has ``states``)
    decoder: LiveDecoder = field(default_factory=LiveDecoder)

    def __post_init__(self) -> None:
        self.detector = StreamingDetector(self.model.detector)

    def feed(self, ts_ms: int, power: float, reactive_or_pf: float | None = None) -> LiveUpdate:
        """One reading; the meter's second channel (Q or PF) as the model's detector expects."""
        events = self.detector.feed(ts_ms, power, reactive_or_pf)
        if self.model.states is not None:
            return self._decoded(events, [ts_ms], [power], None if reactive_or_pf is None else [reactive_or_pf])
        update = self._handle(events, ts_ms)
        update.runs = self.rhythm.step(self.model, update.events, update.runs, ts_ms)
        return self._with_bursts(update, self.burst_buffer.feed(self.model.bursts, [ts_ms], [power]))

    def feed_many(self, ts: Any, power: Any, second: Any = None) -> LiveUpdate:
        if self.model.states is not None:
            return self._decoded_each(ts, power, second)
        events = self.detector.feed_many(ts, power, second)
        update = self._handle(events, int(events[-1].ts) if events else 0)
        if np.size(ts):
            update.runs = self.rhythm.step(self.model, update.events, update.runs, int(np.asarray(ts)[-1]))
        return self._with_bursts(update, self.burst_buffer.feed(self.model.bursts, ts, power))

    def _decoded_each(self, ts: Any, power: Any, second: Any) -> LiveUpdate:
        """A chunk fed to the joint decoding one reading at a time, so that each sample is
        decided from the readings up to its lag and no further, however the readings
        are batched (a chunk's later readings would otherwise lengthen the lag of its
        earlier ones)."""
        t = np.asarray(ts, dtype=np.int64)
        p = np.asarray(power, dtype=np.float64)
        q = None if second is None else np.asarray(second, dtype=np.float64)
        out = LiveUpdate([], [])
        parts = []
        for i in range(t.size):
            s = None if q is None else float(q[i])
            update = self._decoded(
                self.detector.feed(int(t[i]), float(p[i]), s), [t[i]], [p[i]], None if s is None else [s]
            )
            out.events += update.events
            out.runs += update.runs
            parts.append(update.states)
        out.states = _joined(parts)
        return out

    def _decoded(self, events: list[Event], ts: Any, power: Any, second: Any, final: bool = False) -> LiveUpdate:
        """With the joint decoding, as offline (:meth:`NilmModel.disaggregate`): the
        events identified from their own features, every appliance's watts, runs and
        (with ``switches_only``) events from the decided states."""
        assert self.model.states is not None
        self.model.identify(events)
        q = None
        if second is not None:  # as offline: Q, or PF turned into Q
            q = np.asarray(second, dtype=np.float64)
            if self.model.detector.second == "pf":
                q = reactive_from_pf(np.asarray(power, dtype=np.float64), q)
        decided = self.decoder.feed(
            self.model.states,
            ts,
            power,
            q,
            events,
            self.detector.settled_before(),
            self.model.switches_only,
            self.model.calibrated,
            final,
        )
        return decoded_update(events, decided, self.model.switches_only)

    def pending_states(self) -> LiveUpdate:
        """The samples the joint decoding has not decided yet, decided with what is known
        now (as offline at the end of its data); the meter then goes on from them."""
        if self.model.states is None:
            return LiveUpdate([], [])
        return self._decoded([], [], [], None, final=True)

    def _with_bursts(self, update: LiveUpdate, decided: dict[str, tuple[IntArray, FloatArray]]) -> LiveUpdate:
        """The update with the decided burst samples and the burst runs they close."""
        update.bursts = decided
        for name, (at, watts) in decided.items():
            runs, going = burst_runs(name, at, watts, self.burst_going.pop(name, None))
            update.runs += runs
            if going is not None:
                self.burst_going[name] = going
        return update

    def pending_bursts(self) -> dict[str, tuple[IntArray, FloatArray]]:
        """The samples not yet decided, decided with what is known now (as offline at
        the end of its data)."""
        return self.burst_buffer.feed(self.model.bursts, [], [], final=True)

    def _handle(self, events: list[Event], now: int) -> LiveUpdate:
        if not events:
            return LiveUpdate([], [])
        self.model.identify(events)
        typical, longest = self.model.durations()
        runs = pair_events([*self.open_on, *events], self.model.pairing, typical, longest, until_ts=None)
        closed = [r for r in runs if r.off is not None and r.off in events]
        paired = {id(r.on) for r in runs if r.off is not None}
        default = self.model.pairing.max_duration_s
        unpaired = [e for e in [*self.open_on, *events] if e.delta_p > 0 and id(e) not in paired]
        self.open_on = [e for e in unpaired if (now - e.ts) / 1000.0 <= longest.get(e.label or "", default)]
        # an ON left open past its appliance's longest run: offline closes it at the
        # appliance's typical run length (:func:`pair_events`), and so does the meter
        expired = [
            closed_at_typical(e, typical[e.label]) for e in unpaired if e not in self.open_on and e.label in typical
        ]
        identified = self.model.identify_runs(closed)
        # a burst appliance's runs are its bursts' (:meth:`_with_bursts`), as offline
        done = sorted((r for r in identified + expired if r.label not in self.model.bursts), key=lambda r: r.start)
        return LiveUpdate(events, done + self._fill(done))

    def _fill(self, closed: list[Run]) -> list[Run]:
        """The low-power phase between a multi-phase appliance's (a dishwasher's) last
        run and this one, as offline (:meth:`NilmModel.cycle_fill`): decided when this
        run closes, at most its longest in-cycle gap plus its longest run after the gap
        began. The fill carries this run's ON event (the one still known to the store)."""
        out: list[Run] = []
        for r in closed:
            if r.label not in self.model.cycles:
                continue
            gap_s, power_w = self.model.cycles[r.label]
            last = self.last_end.get(r.label)
            if last is not None and 0 < (r.start - last) / 1000.0 <= gap_s:
                out.append(Run(last, r.start, power_w, r.label, r.on, None))
            self.last_end[r.label] = max(r.end, last or r.end)
        return out

    def running(self, now_ts: int) -> list[Run]:
        """The runs as they stand at ``now_ts`` (as offline at the end of its data): each
        open ON event as a run up to now, or, when open longer than its appliance's
        longest run, closed at its typical length (a burst appliance's runs are its
        bursts', :meth:`_with_bursts`); the rhythm chains' undecided runs and the paired
        runs waiting on them; the joint decoding's runs going. A question: the meter is
        left as it was, so asking at every update changes no later decision."""
        return self._pending(now_ts).runs + self.decoder.open_runs(now_ts)

    def end(self, now_ts: int) -> list[Run]:
        """The data ends at ``now_ts`` (a replay of a recording): the runs as they stand
        (:meth:`running`), and the events the rhythm chains take now carry their labels,
        as offline's do at the end of its data. A live service never ends a meter."""
        pending = self._pending(now_ts)
        for e, label in pending.labels:
            e.label = label
        return pending.runs + self.decoder.open_runs(now_ts)

    def _pending(self, now_ts: int) -> Pending:
        typical, longest = self.model.durations()
        out = []
        for e in self.open_on:
            label = e.label or UNIDENTIFIED
            if label in self.model.bursts:  # its runs are its bursts'
                continue
            if (now_ts - e.ts) / 1000.0 <= longest.get(label, self.model.pairing.max_duration_s):
                out.append(Run(e.ts, now_ts, e.delta_p, label, e, None))
            elif label in typical:
                out.append(closed_at_typical(e, typical[label]))
        return self.rhythm.pending(self.model, out, now_ts)

    def held_events(self) -> list[Event]:
        """The events a later run may still carry beyond the open ON events: those a
        rhythm chain's window or waiting runs hold, and those the joint decoding has not
        decided yet or that began its runs still going."""
        return [*self.rhythm.events_in_use(), *self.decoder.events_in_use()]

    def rename(self, old: str, new: str) -> None:
        """An appliance renamed, or merged into another (the model is renamed already):
        everything the meter holds under the old name goes to the new one — the open ON
        events, the events and waiting runs of the rhythm chains and of the joint
        decoding, a multi-phase appliance's last run, a burst run going — so a run it
        reports later carries the new name, as a meter that never had the old name; the
        joint decoding goes on under the new name (:meth:`LiveDecoder.rename`)."""
        for e in {id(e): e for e in [*self.open_on, *self.held_events()]}.values():
            e.rename(old, new)
        self.rhythm.rename(old, new)
        self.decoder.rename(old, new)
        if old in self.last_end and old != new:
            at = self.last_end.pop(old)
            self.last_end[new] = max(at, self.last_end.get(new, at))
        going = self.burst_going.pop(old, None)
        if going is not None:  # merged into a burst going too: the one going longer stays
            kept = self.burst_going.get(new)
            self.burst_going[new] = going if kept is None or going.start < kept.start else kept

    def label(self, event: Event, name: str) -> Event:
        """The user names an event: the site's library learns it before the next event."""
        return self.model.teach(event, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector.to_dict(),
            "open_on": [e.to_dict() for e in self.open_on],
            "last_end": dict(self.last_end),
            "burst_buffer": asdict(self.burst_buffer),
            "burst_going": {k: asdict(v) for k, v in self.burst_going.items()},
            "rhythm": self.rhythm.to_dict(),
            "decoder": self.decoder.to_dict(),
        }

    @classmethod
    def from_dict(cls, model: NilmModel, data: dict[str, Any]) -> LiveNilm:
        live = cls(model)
        live.detector = StreamingDetector.from_dict(data["detector"])
        live.open_on = [Event.from_dict(e) for e in data["open_on"]]
        # all four absent from a state saved before 2026-11-24
        live.last_end = {k: int(v) for k, v in data.get("last_end", {}).items()}
        live.burst_buffer = BurstBuffer(**data.get("burst_buffer", {}))
        live.burst_going = {k: OpenBurst(**v) for k, v in data.get("burst_going", {}).items()}
        live.rhythm = LiveRhythm.from_dict(data.get("rhythm", {}), live.open_on)
        live.decoder = LiveDecoder.from_dict(data.get("decoder", {}))  # absent before the livedecode round
        return live


def decoded_update(events: list[Event], decided: Decided, switches_only: bool) -> LiveUpdate:
    """A live update from the joint decoding: its switchings (``switches_only``, as
    offline) or the detector's events, the decoded runs, and the decided watts."""
    out = LiveUpdate(decided.events if switches_only else events, decided.runs)
    if decided.ts.size:
        out.states = {name: (decided.ts, watts) for name, watts in decided.watts.items()}
    return out


def replay(
    model: NilmModel, ts: npt.ArrayLike, power: npt.ArrayLike, second: npt.ArrayLike | None = None, chunk: int = 60
) -> LiveUpdate:
    """Everything a live meter reports for a recording fed ``chunk`` readings at a time,
    and at its last reading the runs still going (what the service shows then; events
    carry the labels their runs gave them)."""
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(power, dtype=np.float64)
    q = None if second is None else np.asarray(second, dtype=np.float64)
    meter = LiveNilm(model)
    out = LiveUpdate([], [])
    bursts: list[dict[str, tuple[IntArray, FloatArray]]] = []
    states: list[dict[str, tuple[IntArray, FloatArray]]] = []
    for i in range(0, t.size, chunk):
        update = meter.feed_many(t[i : i + chunk], p[i : i + chunk], None if q is None else q[i : i + chunk])
        out.events += update.events
        out.runs += update.runs
        bursts.append(update.bursts)
        states.append(update.states)
    last = meter.pending_states()
    out.events += last.events
    out.runs += last.runs
    states.append(last.states)
    out.states = _joined(states)
    if t.size:
        out.runs += meter.end(int(t[-1]))
    bursts.append(meter.pending_bursts())
    out.bursts = _joined(bursts)
    return out


def _joined(parts: list[dict[str, tuple[IntArray, FloatArray]]]) -> dict[str, tuple[IntArray, FloatArray]]:
    """Per appliance, its decided samples of successive updates as one (times, watts)."""
    names = list(dict.fromkeys(n for part in parts for n in part))
    return {
        n: (np.concatenate([p[n][0] for p in parts if n in p]), np.concatenate([p[n][1] for p in parts if n in p]))
        for n in names
    }


def live_power(model: NilmModel, update: LiveUpdate, ts: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
    """Each known appliance's power at each time in ``ts`` from a live meter's runs,
    plus its standby draw where the model has one (as offline, where no joint decoding
    runs: the decoding's base load holds it)."""
    t = np.asarray(ts, dtype=np.int64)
    series = power_series(update.runs, t, model.library.names())
    # as offline, its bursts (or the joint decoding's watts) stand for its runs
    for name, (at, drawn) in (update.bursts | update.states).items():
        series[name] = np.zeros(t.size)
        series[name][np.searchsorted(t, at)] = drawn
    if model.states is None:
        for name, watts in model.standby_w.items():
            if name in series:
                series[name] = series[name] + watts
    return series
