"""Live NILM for one meter: the engine's :class:`LiveNilm`, fed from the bus, with store ids.

The engine does the work (streaming detection, identification, pairing as OFF events
arrive, re-identification of a run with its duration). This wrapper only adds what a
stored, shared service needs: late or power-less readings are skipped (the engine refuses
samples older than its last one), and each engine event is tied to its row id so a run
can name the events it pairs and a person's label can reach an event still open. A run
whose events the detector never reported (a microwave's run, decided from its bursts)
brings its own ON/OFF pair, stored with it (:meth:`MeterNilm.to_store`). The runs not
final yet (a fridge's, decided by its rhythm chain hours late) come as they stand at the
last reading (:meth:`MeterNilm.provisional`), for the store to show until the final ones
replace them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.live import LiveNilm, LiveUpdate
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.pairing import Run
from wattwise.analysis.nilm.signatures import UNIDENTIFIED
from wattwise.domain.readings import Reading
from wattwise.store.detections import NewEvent, NewRun


def new_event(e: Event) -> NewEvent:
    return NewEvent(
        ts=e.ts,
        delta_p=e.delta_p,
        delta_q=e.delta_q,
        peak_w=e.peak_w,
        settle_ms=e.settle_ms,
        level_before=e.level_before,
        level_after=e.level_after,
        label=e.label or "unidentified",
        confidence=e.confidence,
    )


@dataclass(slots=True)
class MeterNilm:
    live: LiveNilm
    last_ts: int = -1
    _ids: dict[int, int] = field(default_factory=dict)  # id(engine event) -> stored id

    @classmethod
    def start(cls, model: NilmModel, state: dict[str, Any] | None = None) -> MeterNilm:
        """A meter's live NILM, resumed from :meth:`state` when one was saved."""
        if state is None:
            return cls(LiveNilm(model))
        live = LiveNilm.from_dict(model, state["live"])
        meter = cls(live, last_ts=int(state["last_ts"]))
        meter._ids = {id(e): int(i) for e, i in zip(live.open_on, state["open_ids"], strict=True)}
        # the chain's events come back as new objects: their ids by timestamp (a state
        # saved before had none)
        by_ts = {int(ts): int(i) for ts, i in state.get("rhythm_ids", [])}
        meter._ids.update({id(e): by_ts[e.ts] for e in live.held_events() if e.ts in by_ts})
        return meter

    def state(self) -> dict[str, Any]:
        """What a restart needs: the detector's samples, the open ON events and their ids,
        and the ids of the events a rhythm chain still holds (by timestamp)."""
        open_ids = [self._ids.get(id(e)) for e in self.live.open_on]
        live = self.live.to_dict()
        keep = [i for i, stored in enumerate(open_ids) if stored is not None]
        live["open_on"] = [live["open_on"][i] for i in keep]
        in_use = {e.ts: i for e in self.live.held_events() if (i := self._ids.get(id(e))) is not None}
        return {
            "live": live,
            "open_ids": [open_ids[i] for i in keep],
            "rhythm_ids": sorted(in_use.items()),
            "last_ts": self.last_ts,
        }

    def use_model(self, model: NilmModel) -> None:
        """Identify from now on with a new library (after a label); detection state is kept.

        A burst model the labels just gave applies from now on (readings are held for it
        only while the model has one, :meth:`feed`); a run going for one they took away
        is dropped with it. So with a rhythm (a fridge's): one the labels just gave
        decides that appliance's runs from now on (and the ON going now,
        :meth:`LiveRhythm.adopt`); the runs waiting on one they took away pass at the
        next readings."""
        self.live.model = model
        self.live.burst_going = {k: v for k, v in self.live.burst_going.items() if k in model.bursts}
        self.live.rhythm.adopt(model, self.live.open_on)

    def rename(self, old: str, new: str) -> None:
        """An appliance renamed or merged (:meth:`LiveNilm.rename`): the runs the meter
        still holds are stored under the new name when they become final."""
        self.live.rename(old, new)

    def feed(self, readings: list[Reading]) -> LiveUpdate:
        fresh = sorted((r for r in readings if r.power is not None and r.ts > self.last_ts), key=lambda r: r.ts)
        if not fresh:
            return LiveUpdate([], [])
        self.last_ts = fresh[-1].ts
        ts = np.array([r.ts for r in fresh], dtype=np.int64)
        power = np.array([r.power for r in fresh], dtype=np.float64)
        second = None
        if self.live.model.detector.second == "pf":
            second = np.array([np.nan if r.pf is None else r.pf for r in fresh], dtype=np.float64)
        return self.live.feed_many(ts, power, second)

    def to_store(self, update: LiveUpdate) -> list[Event]:
        """The update's events, then the events of its runs not stored yet (a burst run's;
        not a rhythm chain's share of a step, :meth:`_shared`), and the ON events of the
        joint decoding's runs going (a load on from the stream's first reading has its own,
        which a provisional run must name to show it running now)."""
        seen = {id(e) for e in update.events} | set(self._ids)
        at = {e.ts for e in update.events} | set(self._stored_by_ts())
        extra = [
            e
            for r in [*update.runs, *self.live.decoder.open_runs(self.last_ts)]
            for e in (r.on, r.off)
            if e is not None and id(e) not in seen and not (self._shared(r) and e.ts in at)
        ]
        return [*update.events, *extra]

    def _shared(self, run: Run) -> bool:
        """A rhythm chain's run: a step it shares with another load (a bigger step) comes
        as a new event, the appliance's share, at the step's time; it names that step."""
        return run.label in self.live.model.cyclers

    def _stored_by_ts(self) -> dict[int, int]:
        """The stored ids of the events a later run may carry, by timestamp."""
        return {e.ts: i for e in self.in_use() if (i := self._ids.get(id(e))) is not None}

    def remember(self, events: list[Event], ids: list[int]) -> None:
        """Tie stored ids to the engine's events."""
        self._ids.update({id(e): i for e, i in zip(events, ids, strict=True)})

    def in_use(self) -> list[Event]:
        """The events a later run may still carry: the open ON events, and those a rhythm
        chain's window or its waiting runs hold (a fridge run final hours later)."""
        return [*self.live.open_on, *self.live.held_events()]

    def prune(self) -> None:
        """Forget the ids of events no later run can carry (:meth:`in_use`)."""
        keep = {id(e) for e in self.in_use()}
        self._ids = {k: v for k, v in self._ids.items() if k in keep}

    def stored_id(self, event: Event) -> int | None:
        return self._ids.get(id(event))

    def provisional(self) -> list[NewRun]:
        """The named appliances' runs not final yet, as they stand at the last reading
        (:meth:`LiveNilm.running`: a rhythm chain's undecided runs, paired runs waiting on
        it, runs still going), naming stored events; an unnamed step's run is left to the
        queue. Asking leaves the meter as it was, so the final decisions are those of a
        meter never asked."""
        if self.last_ts < 0:
            return []
        shown = [r for r in self.live.running(self.last_ts) if r.label != UNIDENTIFIED]
        return [replace(r, final=False) for r in self._to_new_runs(shown, {})[0]]

    def new_runs(self, update: LiveUpdate) -> tuple[list[NewRun], list[tuple[int, str, float]]]:
        """The update's runs for the store, and the labels their events take from them."""
        return self._to_new_runs(update.runs, {e.ts: i for e in update.events if (i := self.stored_id(e)) is not None})

    def _to_new_runs(
        self, found: list[Run], fresh: dict[int, int]
    ) -> tuple[list[NewRun], list[tuple[int, str, float]]]:
        """Runs naming stored events (``fresh``: ids of this update's events by timestamp),
        and the labels their events take from them; a run whose ON is not stored is left out."""
        runs, labels = [], []
        by_ts = {**self._stored_by_ts(), **fresh}

        def stored(r: Run, e: Event | None) -> tuple[int | None, bool]:
            """The event's stored id, and whether it is the event itself (not a share)."""
            i = None if e is None else self.stored_id(e)
            if i is None and e is not None and self._shared(r):
                return by_ts.get(e.ts), False
            return i, True

        for r in found:
            (on_id, on_own), (off_id, off_own) = stored(r, r.on), stored(r, r.off)
            if on_id is None:
                continue
            runs.append(NewRun(r.start, r.end, r.power_w, r.label, on_id, off_id))
            # a shared step keeps the other load's label, as offline
            own = [i for i, mine in ((on_id, on_own), (off_id, off_own)) if i is not None and mine]
            labels += [(i, r.label, r.on.confidence) for i in own]
        return runs, labels

    def relabel_open(self, labels: dict[int, tuple[str, float]]) -> None:
        """People's labels for events still open, so their run pairs under the right name."""
        for e in self.live.open_on:
            stored = self.stored_id(e)
            if stored is not None and stored in labels:
                e.label, e.confidence = labels[stored]
