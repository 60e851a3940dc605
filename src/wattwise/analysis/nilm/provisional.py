"""Runs as they stand now, before they are final, and how far they are from the final ones.

A rhythm appliance's (a fridge's) run is final only a few typical cycles after its last
event (:mod:`.live_rhythm`: REFIT 4.5 h, AMPds2 2 h). A user wants a fridge running now to
show as running now: :meth:`LiveNilm.running` gives the runs as they stand (as offline
at the end of its data) without changing the meter, so asking every update leaves every
final decision as it was. :func:`provisional_replay` feeds a recording as a
gateway would and measures what showing them buys and costs: how soon a final run first
shows, and how much of the run-time shown provisionally the final chain keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.live import LiveNilm
from wattwise.analysis.nilm.model import NilmModel

Span = tuple[int, int]


@dataclass(slots=True)
class ReplayStats:
    """One appliance over one replay (times in ms)."""

    #: final runs the replay gave: (start, end, when it became final)
    final: list[tuple[int, int, int]] = field(default_factory=list)
    #: per final run (same order): when a provisional run overlapping it first showed
    #: (None: never shown before it was final)
    first_shown: list[int | None] = field(default_factory=list)
    #: every stretch ever shown as a provisional run of the appliance (merged)
    shown: list[Span] = field(default_factory=list)
    #: at each post: its time, and whether a provisional run showed the appliance running then
    posts: list[tuple[int, bool]] = field(default_factory=list)

    def delays_s(self, provisional: bool) -> list[float]:
        """Per final run: seconds from its start until it first showed (only final: the
        moment it became final)."""
        out = []
        for (start, _, at), seen in zip(self.final, self.first_shown, strict=True):
            first = at if not provisional or seen is None else min(seen, at)
            out.append((first - start) / 1000.0)
        return out

    def kept_share(self) -> float:
        """Of the run-time ever shown provisionally up to the last final run's end (later,
        the final runs are not known yet), the share inside a final run."""
        if not self.final:
            return float("nan")
        settled = max(e for _, e, _ in self.final)
        shown = [(a, min(b, settled)) for a, b in self.shown if a < settled]
        total = _length(shown)
        return float("nan") if total == 0 else _overlap(shown, [(s, e) for s, e, _ in self.final]) / total

    def running_now(self) -> tuple[int, int, int]:
        """Over the posts up to the last final run's end (where the truth is settled):
        posts at which the final runs say it was running then, posts at which it was
        shown running then, and both."""
        ends = [e for _, e, _ in self.final]
        if not ends:
            return 0, 0, 0
        settled = [(t, on) for t, on in self.posts if t <= max(ends)]
        truth = [any(s < t <= e for s, e, _ in self.final) for t, _ in settled]
        shown = [on for _, on in settled]
        return sum(truth), sum(shown), sum(a and b for a, b in zip(truth, shown, strict=True))

    def covered_share(self) -> float:
        """Of the final runs' time, the share shown provisionally before it was final."""
        spans = _merge([(s, e) for s, e, _ in self.final])
        total = _length(spans)
        return float("nan") if total == 0 else _overlap(spans, self.shown) / total


def provisional_replay(
    model: NilmModel,
    ts: npt.ArrayLike,
    power: npt.ArrayLike,
    second: npt.ArrayLike | None = None,
    chunk: int = 10,
    ask: bool = True,
) -> dict[str, ReplayStats]:
    """Feed a recording ``chunk`` readings at a time; after each, the provisional runs of
    every rhythm appliance as a service would show them (``ask`` False: never asked, to
    check that asking changes no final run). Per rhythm appliance."""
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(power, dtype=np.float64)
    q = None if second is None else np.asarray(second, dtype=np.float64)
    meter = LiveNilm(model)
    stats = {name: ReplayStats() for name in model.cyclers}
    #: per appliance, every provisional run shown: (start, end, when shown)
    shown: dict[str, list[tuple[int, int, int]]] = {name: [] for name in model.cyclers}
    for i in range(0, t.size, chunk):
        s = slice(i, i + chunk)
        update = meter.feed_many(t[s], p[s], None if q is None else q[s])
        now = int(t[s][-1])
        for r in update.runs:
            if r.label in stats:
                stats[r.label].final.append((r.start, r.end, now))
                seen = [at for a, b, at in shown[r.label] if a < r.end and b > r.start]
                stats[r.label].first_shown.append(min(seen) if seen else None)
        if ask:
            going = set()
            for r in meter.running(now):
                if r.label in shown and r.end > r.start:
                    shown[r.label].append((r.start, r.end, now))
                    if r.end >= now:
                        going.add(r.label)
            for name, st in stats.items():
                st.posts.append((now, name in going))
    for name, st in stats.items():
        st.shown = _merge([(a, b) for a, b, _ in shown[name]])
    return stats


def _merge(spans: Sequence[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _length(spans: Sequence[Span]) -> int:
    return sum(b - a for a, b in _merge(spans))


def _overlap(xs: Sequence[Span], ys: Sequence[Span]) -> int:
    """Time in both sets of spans."""
    a, b = _merge(xs), _merge(ys)
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
