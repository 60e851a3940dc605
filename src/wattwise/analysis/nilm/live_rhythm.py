"""A self-cycling appliance's rhythm chain (a fridge), decided live with a bounded delay.

Offline, :meth:`NilmModel.rhythm_runs` decodes the whole recording at once
(:func:`decode_cycles`). Live, each update re-decodes a sliding window of recent events
of about the appliance's step size, and a chain run becomes final once its last event
is ``horizon`` old: later events no longer change the best chain that far back, so the
run is the one offline gives wherever the window covers what offline's programme used.
The window reaches ``context`` before the oldest undecided event, so the chain there
starts as offline's does. Both are counted in the appliance's typical cycles (ON + OFF
time): the programme links an event to one at most ``max(ON, OFF)·e^(3·log sd)`` later,
so a few cycles of events after a run are what can still change it.

As offline, the chain's runs replace that appliance's paired runs (which may overlap,
the chain's never do), and a paired run of another appliance that shares an event with
the chain is dropped. So a paired run that holds an event the chain might take waits
until the chain over it is final (the same delay); the rest pass at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wattwise.analysis.nilm.cycles import CycleModel, Pair, decode_cycles, is_candidate
from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run, one_at_a_time
from wattwise.analysis.nilm.signatures import UNIDENTIFIED

#: a chain run is final when its last event is this many typical cycles old
HORIZON_CYCLES = 3.0
#: the window reaches this many typical cycles before the oldest undecided event
CONTEXT_CYCLES = 3.0


def cycle_s(cm: CycleModel) -> float:
    """One typical cycle (ON + OFF time), seconds."""
    return cm.on_s + cm.off_s


def delay_s(cm: CycleModel, horizon_cycles: float = HORIZON_CYCLES) -> float:
    """How long after its last event a chain run (and a paired run waiting on the chain)
    becomes final: the delay a user waits, plus at most one update's readings."""
    return horizon_cycles * cycle_s(cm)


@dataclass(frozen=True, slots=True)
class Pending:
    """The runs not final yet as they stand, and the labels the chains would give the
    meter's events they take (each event with its label) if the data ended here."""

    runs: list[Run]
    labels: list[tuple[Event, str | None]]


@dataclass(slots=True)
class LiveRhythm:
    """One meter's window of recent events and what its rhythm chains decided so far."""

    horizon_cycles: float = HORIZON_CYCLES
    context_cycles: float = CONTEXT_CYCLES
    #: recent events any chain may take, oldest first
    events: list[Event] = field(default_factory=list)
    #: paired runs that hold an event a chain may still take
    held: list[Run] = field(default_factory=list)
    #: per rhythm appliance: the time (epoch ms) up to which its chain is decided (no
    #: later decision takes an event at or before it)
    final_ts: dict[str, int] = field(default_factory=dict)
    #: per rhythm appliance: where its last final run ended (a run whose ON was missed
    #: starts no earlier)
    last_end: dict[str, int] = field(default_factory=dict)
    #: times of the events final chains took (recent ones)
    taken: set[int] = field(default_factory=set)

    def step(self, model: NilmModel, new_events: list[Event], runs: list[Run], now: int) -> list[Run]:
        """The runs to report now, given the paired runs the meter closed with this
        update: the chain runs that became final, paired runs that do not wait on a
        chain, and waiting ones whose chain is now final and did not take them."""
        if not model.cyclers:
            # none (or the labels took the last one away): what waited on a chain passes
            released, self.held = self.held, []
            self.events, self.final_ts, self.last_end, self.taken = [], {}, {}, set()
            return sorted(runs + released, key=lambda r: r.start)
        self.events += [e for e in new_events if any(is_candidate(e, cm) for cm in model.cyclers.values())]
        self.held += [r for r in runs if r.label not in model.cyclers and self._waits(r)]
        out = [r for r in runs if r.label not in model.cyclers and not self._waits(r)]
        for name, cm in model.cyclers.items():
            cutoff = now - int(delay_s(cm, self.horizon_cycles) * 1000)
            out += self._decide(model, name, cm, cutoff, until_ts=None)
        out += self._release(model, final=False)
        self._prune(model)
        return sorted(out, key=lambda r: r.start)

    def pending(self, model: NilmModel, running: list[Run], now: int) -> Pending:
        """Everything not yet final as it stands at ``now`` (as offline at the end of its
        data): the provisional chain runs, the waiting paired runs the chain does not
        take, and the runs still going (``running``) that are not the chain's.

        Asking changes nothing: the chains decide over copies of the events (deciding
        labels the events a chain takes, and a label decides what the next chain and the
        meter's later decisions may take), and the runs come back naming the meter's own
        events. The labels the chains gave are returned apart (:attr:`Pending.labels`),
        for a caller whose data ends here to apply (:meth:`LiveNilm.end`)."""
        if not model.cyclers:
            return Pending(running, [])
        others = [r for r in running if r.label not in model.cyclers]
        mine = {id(e): e for e in [*self.events, *(e for r in [*self.held, *others] for e in (r.on, r.off) if e)]}
        twin = {key: replace(e) for key, e in mine.items()}
        back = {id(c): mine[key] for key, c in twin.items()}
        keep = LiveRhythm(
            self.horizon_cycles,
            self.context_cycles,
            [twin[id(e)] for e in self.events],
            [_on_events(r, twin) for r in [*self.held, *others]],
            dict(self.final_ts),
            dict(self.last_end),
            set(self.taken),
        )
        out: list[Run] = []
        for name, cm in model.cyclers.items():
            out += keep._decide(model, name, cm, cutoff=now, until_ts=now)
        runs = sorted(out + keep._release(model, final=True), key=lambda r: r.start)
        labels = [(mine[key], c.label) for key, c in twin.items() if c.label != mine[key].label]
        return Pending([_on_events(r, back) for r in runs], labels)

    def adopt(self, model: NilmModel, open_on: Sequence[Event]) -> None:
        """A rhythm the model has just gained (a person's labels, :mod:`.rhythm_labels`)
        starts from the meter's open ON events of its size: a run going when the label
        came is the chain's to end, as the paired runs of that appliance are now.

        It decides only after what the chains had made final, and takes no open ON from
        before that: the window still holds events whose runs were reported already (a
        renamed fridge's chain, under its old name; another appliance's; paired runs),
        and a chain starting with nothing final would report them again. A name the model
        no longer has (renamed, or taken away) leaves with its state, so that a name
        coming back starts afresh in the same way."""
        start = max(self.final_ts.values(), default=None)
        for name in [n for n in self.final_ts if n not in model.cyclers]:
            del self.final_ts[name]
            self.last_end.pop(name, None)
        fresh = [cm for name, cm in model.cyclers.items() if name not in self.final_ts]
        if start is not None:
            self.final_ts.update({name: start for name in model.cyclers if name not in self.final_ts})
        known = {e.ts for e in self.events}
        taken = [
            e
            for e in open_on
            if e.ts not in known and (start is None or e.ts > start) and any(is_candidate(e, cm) for cm in fresh)
        ]
        self.events = sorted(self.events + taken, key=lambda e: e.ts)

    def rename(self, old: str, new: str) -> None:
        """An appliance renamed, or merged into another: the waiting runs carry the new
        name, and a chain's progress goes with its name (merged: the later of the two),
        so the new name's chain decides only after what the old one made final. The
        events are the meter's to rename (:meth:`LiveNilm.rename`)."""
        self.held = [replace(r, label=new) if r.label == old else r for r in self.held]
        for progress in (self.final_ts, self.last_end):
            if old in progress and old != new:
                at = progress.pop(old)
                progress[new] = max(at, progress.get(new, at))

    def events_in_use(self) -> list[Event]:
        """The events a later run may still carry (the window's and the waiting runs'):
        a service that ties stored ids to events must keep theirs, as for open ONs."""
        held = [e for r in self.held for e in (r.on, r.off) if e is not None]
        return list({id(e): e for e in [*self.events, *held]}.values())

    def _waits(self, r: Run) -> bool:
        times = {e.ts for e in self.events}
        return r.on.ts in times or (r.off is not None and r.off.ts in times)

    def _decide(self, model: NilmModel, name: str, cm: CycleModel, cutoff: int, until_ts: int | None) -> list[Run]:
        """The window's chain runs whose last event is at or before ``cutoff`` and after
        what is already final, made final."""
        done = self.final_ts.get(name)
        pool = [e for e in self.events if e.label in (name, UNIDENTIFIED) or e.label not in model.cyclers]
        own = {id(e) for e in pool}
        out: list[Run] = []
        decided = cutoff
        before = self.last_end.get(name)
        for on, off in decode_cycles(pool, cm, name):
            first, last = _span((on, off))
            if done is not None and first <= done:
                continue  # decided already (or straddling what was)
            if last > cutoff:
                decided = min(cutoff, first - 1)
                break
            previous = self.last_end.get(name)
            earlier = [] if previous is None else [_marker(name, previous, on or off)]
            run = NilmModel._rhythm_run(name, cm, on, off, earlier, until_ts)
            out.append(run)
            # a shared step stands in the chain as a new event (the appliance's share):
            # the step itself, and the paired run it ends, stay the other load's
            self.taken.update(e.ts for e in (on, off) if e is not None and id(e) in own)
            self.last_end[name] = max(run.end, previous or run.end)
        self.final_ts[name] = max(decided, done if done is not None else decided)
        # one at a time, as offline (a run whose OFF was missed, closed at the typical
        # length, may reach past where the next chain begins)
        return one_at_a_time(out, {} if before is None else {name: before})

    def _release(self, model: NilmModel, final: bool) -> list[Run]:
        """Waiting paired runs whose events every chain has decided on: kept when no
        chain took them (as offline drops a run that shares an event with the chain)."""
        decided = min(self.final_ts.get(n, -1) for n in model.cyclers)
        out, still = [], []
        for r in self.held:
            times = [r.on.ts] + ([r.off.ts] if r.off is not None else [])
            if not final and max(times) > decided:
                still.append(r)
            elif not self.taken.intersection(times):
                out.append(r)
        self.held = still
        return out

    def _prune(self, model: NilmModel) -> None:
        """Keep the events the next decisions need: ``context`` cycles before the oldest
        undecided time of any chain."""
        start = min(self.final_ts[n] - int(self.context_cycles * cycle_s(cm) * 1000) for n, cm in model.cyclers.items())
        held_ts = [r.on.ts for r in self.held]
        start = min([start, *held_ts])
        self.events = [e for e in self.events if e.ts >= start]
        self.taken = {t for t in self.taken if t >= start}

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon_cycles": self.horizon_cycles,
            "context_cycles": self.context_cycles,
            "events": [e.to_dict() for e in self.events],
            "held": [r.to_dict() for r in self.held],
            "final_ts": dict(self.final_ts),
            "last_end": dict(self.last_end),
            "taken": sorted(self.taken),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], shared: Sequence[Event] = ()) -> LiveRhythm:
        """``shared``: the meter's restored open ON events; the window takes those
        objects for the same events, so a label the meter gives one later (when its
        run closes) is the label the chain sees, as before the restart."""
        same = {e.ts: e for e in shared}
        events = [same.setdefault(e.ts, e) for e in (Event.from_dict(d) for d in data.get("events", []))]
        return cls(
            float(data.get("horizon_cycles", HORIZON_CYCLES)),
            float(data.get("context_cycles", CONTEXT_CYCLES)),
            events,
            [_run_from_dict(r, same) for r in data.get("held", [])],
            {k: int(v) for k, v in data.get("final_ts", {}).items()},
            {k: int(v) for k, v in data.get("last_end", {}).items()},
            {int(t) for t in data.get("taken", [])},
        )


def _span(pair: Pair) -> tuple[int, int]:
    times = [e.ts for e in pair if e is not None]
    return min(times), max(times)


def _marker(name: str, end: int, e: Event | None) -> Run:
    """The appliance's previous chain run, as far as a run whose ON was missed needs it
    (where it ended)."""
    assert e is not None
    return Run(end, end, 0.0, name, e, None)


def _on_events(run: Run, events: dict[int, Event]) -> Run:
    """The run naming ``events[id(e)]`` for each of its events ``e`` found there (a
    chain's share of a step, a new event, stays as it is)."""
    off = None if run.off is None else events.get(id(run.off), run.off)
    return replace(run, on=events.get(id(run.on), run.on), off=off)


def _run_from_dict(data: dict[str, Any], same: dict[int, Event]) -> Run:
    """A held run, its events the meter's own objects where it holds the same event."""
    r = Run.from_dict(data)
    off = None if r.off is None else same.get(r.off.ts, r.off)
    return replace(r, on=same.get(r.on.ts, r.on), off=off)
