"""The whole offline chain for one meter: detect, identify, pair, re-identify, estimate.

Events are first identified from their own features; ON and OFF events are then paired
into runs, and each closed run is identified again with its duration, its label going
to both of its events. An appliance that cycles on its own (a fridge) then takes its
runs from its rhythm (:mod:`.cycles`), and a short, strong one (a microwave) its power
from bursts in the aggregate (:mod:`.bursts`); reported confidences go through the
site's calibration map (:mod:`.calibration`). :class:`NilmModel` is plain data (JSON)
and learns from labels through its :class:`SignatureLibrary` with no retraining step.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.apportion import apportion
from wattwise.analysis.nilm.bursts import BurstModel, burst_edges, burst_series
from wattwise.analysis.nilm.calibration import apply_calibration
from wattwise.analysis.nilm.classify import Classifier, ClassifierConfig
from wattwise.analysis.nilm.cycles import CycleModel, decode_cycles
from wattwise.analysis.nilm.decode import StateModel, decode, switch_events
from wattwise.analysis.nilm.energy import power_series
from wattwise.analysis.nilm.events import DetectorConfig, Event, detect_events, reactive_from_pf
from wattwise.analysis.nilm.pairing import PairingConfig, Run, one_at_a_time, pair_events
from wattwise.analysis.nilm.signatures import (
    UNIDENTIFIED,
    Features,
    SignatureLibrary,
    features_of,
    local_hour,
)


@dataclass(slots=True)
class NilmResult:
    events: list[Event]
    runs: list[Run]


@dataclass(slots=True)
class NilmModel:
    """Detector settings, the site's signature library and how to use them."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    pairing: PairingConfig = field(default_factory=PairingConfig)
    library: SignatureLibrary = field(default_factory=SignatureLibrary)
    utc_offset_s: int = 0
    use_hour: bool = True
    #: per appliance (longest gap s, power W): a multi-phase appliance (dishwasher,
    #: washing machine) keeps drawing this between its big steps
    cycles: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: per appliance, the power it draws even when idle (e.g. a heat pump's controls)
    standby_w: dict[str, float] = field(default_factory=dict)
    #: where one meter sees every load: decode all appliances' states jointly
    states: StateModel | None = None
    #: appliances that cycle on their own (a fridge): their runs come from their rhythm
    cyclers: dict[str, CycleModel] = field(default_factory=dict)
    #: isotonic map (raw posterior, calibrated confidence) fitted on held-out events
    calibration: list[tuple[float, float]] = field(default_factory=list)
    #: short, strong appliances (a microwave): their power comes from bursts, per sample
    bursts: dict[str, BurstModel] = field(default_factory=dict)
    #: with the joint decoding, report only its switchings (one event per appliance that
    #: turned on or off), not every step the detector saw
    switches_only: bool = False

    def hour(self, ts: int) -> float | None:
        return local_hour(ts, self.utc_offset_s) if self.use_hour else None

    def features(self, event: Event, duration_s: float | None = None) -> Features:
        return features_of(event, self.hour(event.ts), duration_s)

    def teach(self, event: Event, name: str, duration_s: float | None = None) -> Event:
        """A user's label: the library (and so every later identification) learns it now."""
        return self.library.label(event, name, self.hour(event.ts), duration_s)

    def identify(self, events: Sequence[Event]) -> list[Event]:
        """Label each event in place from its own features (no duration yet)."""
        clf = Classifier(self.library, self.classifier)
        ids = clf.identify([self.features(e) for e in events])
        for e, (label, conf, scores) in zip(events, ids, strict=True):
            e.label, e.confidence, e.scores = label, self.calibrated(conf), scores
        return list(events)

    def calibrated(self, posterior: float) -> float:
        """The confidence reported for a posterior (decisions use the posterior)."""
        return apply_calibration(self.calibration, posterior)

    def identify_runs(self, runs: Sequence[Run]) -> list[Run]:
        """Re-identify closed runs with their duration; both events take the run's label."""
        clf = Classifier(self.library, self.classifier)
        closed = [r for r in runs if r.off is not None]
        out = [r for r in runs if r.off is None]
        if closed:
            q_on = [self.features(r.on, r.duration_s) for r in closed]
            q_off = [self.features(r.off, r.duration_s) for r in closed if r.off is not None]
            names, p_on = clf.posteriors(q_on)
            _, p_off = clf.posteriors(q_off)
            post = np.sqrt(p_on * p_off)
            post /= post.sum(axis=1, keepdims=True)
            for r, row in zip(closed, post, strict=True):
                label, conf = clf.decide(names, row)
                assert r.off is not None
                for e in (r.on, r.off):
                    e.label, e.confidence = label, self.calibrated(conf)
                out.append(Run(r.start, r.end, r.power_w, label, r.on, r.off))
        return sorted(out, key=lambda r: r.start)

    def durations(self) -> tuple[dict[str, float], dict[str, float]]:
        """Typical and longest plausible run length per appliance, from the library."""
        typical: dict[str, float] = {}
        longest: dict[str, float] = {}
        for name, app in self.library.appliances.items():
            d = [f.duration_s for f in app.exemplars if f.duration_s is not None]
            if d:
                typical[name] = float(np.median(d))
                longest[name] = float(3.0 * np.percentile(d, 90))
        return typical, longest

    def process_events(self, events: list[Event], until_ts: int | None = None) -> NilmResult:
        """Identify, pair and re-identify; ``until_ts`` is the end of the data."""
        self.identify(events)
        typical, longest = self.durations()
        runs = pair_events(events, self.pairing, typical, longest, until_ts)
        runs = one_at_a_time(self.identify_runs(runs))
        runs = self.rhythm_runs(events, runs, until_ts)
        return NilmResult(events, one_at_a_time(runs + self.cycle_fill(runs)))

    def rhythm_runs(self, events: Sequence[Event], runs: Sequence[Run], until_ts: int | None) -> list[Run]:
        """Replace each self-cycling appliance's runs by the chain its rhythm explains
        best (its events outside the chain keep their label: the chain may have missed
        them, and their signature still says what they are)."""
        out = list(runs)
        for name, cm in self.cyclers.items():
            pool = [e for e in events if e.label in (name, UNIDENTIFIED) or e.label not in self.cyclers]
            chain = decode_cycles(pool, cm, name)
            chosen = {id(e) for pair in chain for e in pair if e is not None}
            out = [r for r in out if r.label != name and id(r.on) not in chosen and id(r.off) not in chosen]
            for on, off in chain:
                out.append(self._rhythm_run(name, cm, on, off, out, until_ts))
        return sorted(out, key=lambda r: r.start)

    @staticmethod
    def _rhythm_run(
        name: str, cm: CycleModel, on: Event | None, off: Event | None, earlier: Sequence[Run], until_ts: int | None
    ) -> Run:
        """One run of a rhythm chain. A missing OFF ends it at the typical ON time; a
        missing ON starts it the typical ON time before its OFF (not before the
        appliance's previous run ended), and the run then carries its OFF event as
        ``on`` as well."""
        for e in (on, off):
            if e is not None:
                e.label = name
        if on is None:
            assert off is not None
            before = [r.end for r in earlier if r.label == name and r.end <= off.ts]
            start = max([off.ts - int(cm.on_s * 1000), *before])
            return Run(start, off.ts, -off.delta_p, name, off, off)
        if off is None:
            end = on.ts + int(cm.on_s * 1000)
            return Run(on.ts, end if until_ts is None else min(end, until_ts), on.delta_p, name, on, None)
        return Run(on.ts, off.ts, 0.5 * (on.delta_p - off.delta_p), name, on, off)

    def cycle_fill(self, runs: Sequence[Run]) -> list[Run]:
        """Runs for the low-power phases between two runs of the same multi-phase
        appliance that are closer than its longest in-cycle gap."""
        out: list[Run] = []
        for name, (gap_s, power_w) in self.cycles.items():
            mine = sorted((r for r in runs if r.label == name), key=lambda r: r.start)
            for a, b in itertools.pairwise(mine):
                if 0 < (b.start - a.end) / 1000.0 <= gap_s:
                    out.append(Run(a.end, b.start, power_w, name, a.on, None))
        return out

    def process(
        self,
        ts: npt.ArrayLike,
        power: npt.ArrayLike,
        second: npt.ArrayLike | None = None,
    ) -> NilmResult:
        """Events and identified runs of a whole recording."""
        events = detect_events(ts, power, second, self.detector)
        t = np.asarray(ts, dtype=np.int64)
        return self.process_events(events, int(t[-1]) if t.size else None)

    def disaggregate(
        self, ts: npt.ArrayLike, power: npt.ArrayLike, second: npt.ArrayLike | None = None
    ) -> tuple[NilmResult, dict[str, npt.NDArray[np.float64]]]:
        """The result plus each known appliance's estimated power at every sample."""
        t = np.asarray(ts, dtype=np.int64)
        if self.states is not None:
            events = detect_events(t, power, second, self.detector)
            self.identify(events)
            q = None if second is None else np.asarray(second, dtype=np.float64)
            if q is not None and self.detector.second == "pf":
                q = reactive_from_pf(np.asarray(power, dtype=np.float64), q)
            decoded, labels = decode(t, power, events, self.states, q)
            series = apportion(t, power, events, decoded, self.states)
            for e, label in zip(events, labels, strict=True):
                if e.label == UNIDENTIFIED:  # the joint decoding decides what the signature could not
                    e.label = label
                    e.confidence = self.calibrated(e.scores.get(label, 0.0))
            if self.switches_only:
                events = switch_events(t, events, decoded)
                for e in events:
                    e.confidence = self.calibrated(e.scores.get(e.label or UNIDENTIFIED, 0.0))
            typical, longest = self.durations()
            runs = pair_events(events, self.pairing, typical, longest, int(t[-1]) if t.size else None)
            return NilmResult(events, runs), series
        res = self.process(ts, power, second)
        series = power_series(res.runs, t, self.library.names())
        for name, bm in self.bursts.items():
            series[name] = burst_series(t, power, bm)
            for e in burst_edges(res.events, t, series[name], bm):
                e.label = name
        for name, watts in self.standby_w.items():
            if name in series:
                series[name] = series[name] + watts
        return res, series

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector.to_dict(),
            "classifier": asdict(self.classifier),
            "pairing": asdict(self.pairing),
            "library": self.library.to_dict(),
            "utc_offset_s": self.utc_offset_s,
            "use_hour": self.use_hour,
            "cycles": {k: list(v) for k, v in self.cycles.items()},
            "standby_w": dict(self.standby_w),
            "states": None if self.states is None else asdict(self.states),
            "cyclers": {k: asdict(v) for k, v in self.cyclers.items()},
            "calibration": [list(k) for k in self.calibration],
            "bursts": {k: asdict(v) for k, v in self.bursts.items()},
            "switches_only": self.switches_only,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NilmModel:
        return cls(
            DetectorConfig.from_dict(data["detector"]),
            ClassifierConfig(**data["classifier"]),
            PairingConfig(**data["pairing"]),
            SignatureLibrary.from_dict(data["library"]),
            int(data.get("utc_offset_s", 0)),
            bool(data.get("use_hour", True)),
            {k: (float(v[0]), float(v[1])) for k, v in data.get("cycles", {}).items()},
            {k: float(v) for k, v in data.get("standby_w", {}).items()},
            None if data.get("states") is None else StateModel(**data["states"]),
            {k: CycleModel(**v) for k, v in data.get("cyclers", {}).items()},
            [(float(a), float(b)) for a, b in data.get("calibration", [])],
            {k: BurstModel(**v) for k, v in data.get("bursts", {}).items()},
            bool(data.get("switches_only", False)),
        )
