"""A site's library of appliance signatures, built from labelled events.

Each appliance keeps the feature vectors (exemplars) of the events a user (or a
training set) labelled with its name. Adding a label changes the library at once, so
the next classification already uses it: there is no separate training step. The
library is plain data and round-trips through JSON.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from wattwise.analysis.nilm.events import Event

#: Label of an event the classifier is not sure about.
UNIDENTIFIED = "unidentified"


@dataclass(frozen=True, slots=True)
class Features:
    """What identifies an event: sign-free step size, reactive part, inrush, timing.

    ``dq`` is ΔQ (var), signed so that it is positive when it moves with ΔP;
    ``peak_ratio`` is the ON inrush |peak| / |ΔP| (None for OFF events);
    ``hour`` is the local hour of day; ``duration_s`` is the run length when known.
    """

    dp: float
    dq: float | None
    peak_ratio: float | None
    hour: float | None
    duration_s: float | None
    on: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Features:
        return cls(**data)


def features_of(event: Event, hour: float | None = None, duration_s: float | None = None) -> Features:
    """Features of one event; ``hour`` is the site-local hour of ``event.ts`` if known."""
    sign = 1.0 if event.delta_p > 0 else -1.0
    dq = None if event.delta_q is None else event.delta_q * sign
    ratio = None
    if event.delta_p > 0 and event.delta_p != 0:
        ratio = max(1.0, event.peak_w / event.delta_p)
    return Features(abs(event.delta_p), dq, ratio, hour, duration_s, event.delta_p > 0)


def local_hour(ts_ms: int, utc_offset_s: int = 0) -> float:
    """Hour of day (0–24) of an epoch-ms time at a fixed UTC offset."""
    return ((ts_ms / 1000.0 + utc_offset_s) % 86400.0) / 3600.0


@dataclass(slots=True)
class Appliance:
    """One named appliance and the labelled exemplars that define it."""

    name: str
    exemplars: list[Features] = field(default_factory=list)

    @property
    def typical_power_w(self) -> float:
        """Median |ΔP| of the exemplars (0 when there are none)."""
        if not self.exemplars:
            return 0.0
        vals = sorted(f.dp for f in self.exemplars)
        return vals[len(vals) // 2]

    @property
    def typical_duration_s(self) -> float | None:
        """Median known run length of the exemplars, if any is known."""
        vals = sorted(f.duration_s for f in self.exemplars if f.duration_s is not None)
        return vals[len(vals) // 2] if vals else None


@dataclass(slots=True)
class SignatureLibrary:
    """All appliances of one site; ``max_exemplars`` caps each one (oldest dropped)."""

    appliances: dict[str, Appliance] = field(default_factory=dict)
    max_exemplars: int = 300
    version: int = 0

    def add(self, name: str, features: Features) -> None:
        """Teach the library one labelled event (takes effect immediately)."""
        name = name.strip()
        if not name or name == UNIDENTIFIED:
            raise ValueError(f"appliance name must be a non-empty name, got {name!r}")
        app = self.appliances.setdefault(name, Appliance(name))
        app.exemplars.append(features)
        if len(app.exemplars) > self.max_exemplars:
            del app.exemplars[0]
        self.version += 1

    def label(self, event: Event, name: str, hour: float | None = None, duration_s: float | None = None) -> Event:
        """Record the user's label for ``event``; returns the event, now labelled."""
        self.add(name, features_of(event, hour, duration_s))
        event.label = name
        event.confidence = 1.0
        return event

    def rename(self, old: str, new: str) -> None:
        """Give an appliance a new name (merging if ``new`` already exists)."""
        self.merge(old, new)

    def merge(self, source: str, target: str) -> None:
        """Move all of ``source``'s exemplars into ``target`` and drop ``source``."""
        if source not in self.appliances:
            raise KeyError(f"no appliance named {source!r}")
        if source == target:
            return
        moved = self.appliances.pop(source).exemplars
        app = self.appliances.setdefault(target, Appliance(target))
        app.exemplars.extend(moved)
        del app.exemplars[: max(0, len(app.exemplars) - self.max_exemplars)]
        self.version += 1

    def remove(self, name: str) -> None:
        if self.appliances.pop(name, None) is None:
            raise KeyError(f"no appliance named {name!r}")
        self.version += 1

    def names(self) -> list[str]:
        return sorted(self.appliances)

    def subsample(self, per_appliance: int, seed: int = 0) -> SignatureLibrary:
        """A copy keeping at most ``per_appliance`` random exemplars of each appliance."""
        rng = random.Random(seed)
        out = SignatureLibrary(max_exemplars=self.max_exemplars)
        for name, app in self.appliances.items():
            ex = list(app.exemplars)
            rng.shuffle(ex)
            for f in ex[:per_appliance]:
                out.add(name, f)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "max_exemplars": self.max_exemplars,
            "appliances": {n: [f.to_dict() for f in a.exemplars] for n, a in sorted(self.appliances.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignatureLibrary:
        lib = cls(max_exemplars=int(data.get("max_exemplars", 300)))
        for name, exemplars in data.get("appliances", {}).items():
            lib.appliances[name] = Appliance(name, [Features.from_dict(f) for f in exemplars])
        lib.version = int(data.get("version", 0))
        return lib


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
