"""Step-change (ON/OFF) event detection in an aggregate power signal.

The signal is cut into *steady segments*: runs of samples in which each sample differs
from the previous one by less than a noise tolerance. Segments shorter than
``min_steady`` samples are transients and belong to the transition between their
neighbours. Each boundary between two consecutive steady segments is an event when the
median power after it differs from the median power before it by at least
``min_step_w``. A spike that returns to its old level therefore gives no event, and an
inrush that decays gives one event whose ``peak_w`` shows the overshoot.

The same code serves a whole array (:func:`detect_events`, vectorised) and a live meter
(:class:`StreamingDetector`, fed one sample or one chunk at a time, holding only a short
tail of samples); both give the same events for the same samples.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: What the optional second channel holds (PF is turned into Q before detection).
SecondChannel = Literal["q", "pf", "none"]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Thresholds of the detector.

    ``tol_abs_w`` / ``tol_rel`` bound the sample-to-sample change inside a steady segment
    (the larger of the two applies); ``min_step_w`` is the smallest |ΔP| reported;
    ``min_steady`` samples make a steady segment; levels are medians of ``level_n``
    samples on each side of a boundary.
    """

    min_step_w: float = 30.0
    tol_abs_w: float = 10.0
    tol_rel: float = 0.02
    min_steady: int = 2
    level_n: int = 3
    second: SecondChannel = "q"
    max_buffer: int = 4096

    def __post_init__(self) -> None:
        if self.min_step_w <= 0 or self.tol_abs_w < 0 or self.tol_rel < 0:
            raise ValueError("min_step_w must be > 0, tolerances must be >= 0")
        if self.min_steady < 1 or self.level_n < 1:
            raise ValueError("min_steady and level_n must be >= 1")
        if self.max_buffer < 4 * max(self.min_steady, self.level_n):
            raise ValueError("max_buffer is too small for min_steady/level_n")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        return cls(**data)


def suggest_config(
    power: npt.ArrayLike, smallest_load_w: float | None = None, second: SecondChannel = "q"
) -> DetectorConfig:
    """Choose thresholds from the signal's own noise (no labels needed).

    The tolerance is a few times the median absolute sample-to-sample change; the
    smallest step is half the smallest appliance the user cares about when known,
    otherwise three tolerances.
    """
    p = np.asarray(power, dtype=np.float64)
    p = p[np.isfinite(p)]
    if p.size < 3:
        raise ValueError("need at least 3 finite power samples to estimate noise")
    noise = float(np.median(np.abs(np.diff(p))))
    tol = max(0.5, 3.0 * noise)
    min_step = 0.5 * smallest_load_w if smallest_load_w else 3.0 * tol
    min_step = max(min_step, 1.5 * tol)
    return DetectorConfig(min_step_w=min_step, tol_abs_w=tol, second=second)


@dataclass(slots=True)
class Event:
    """One ON (``delta_p > 0``) or OFF step in the aggregate.

    ``ts`` is when the change began (UTC epoch ms); ``peak_w`` is the largest excursion
    from the level before, in the direction of the step (inrush shows as
    ``peak_w > delta_p``); ``settle_ms`` is how long it took to reach the new level.
    ``delta_q`` is ΔQ in var (computed from P and PF when the meter gives PF).
    Identification fields are filled in by the classifier.
    """

    ts: int
    delta_p: float
    delta_q: float | None
    peak_w: float
    settle_ms: int
    level_before: float
    level_after: float
    label: str | None = None
    confidence: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def is_on(self) -> bool:
        return self.delta_p > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**data)

    def rename(self, old: str, new: str) -> None:
        """An appliance renamed, or merged into another: the label follows, and the score
        for ``old`` counts for ``new`` (a posterior: that the event is either of them)."""
        if self.label == old:
            self.label = new
        if old in self.scores and old != new:
            scores = dict(self.scores)
            scores[new] = scores.get(new, 0.0) + scores.pop(old)
            self.scores = scores

    @classmethod
    def own(cls, ts: int, delta_p: float, label: str) -> Event:
        """A switching decided from the levels around it rather than detected as a step
        (a burst's edges, the joint decoding's edge where the detector saw none): a clean
        step between 0 and ``|delta_p|``, named with confidence 1 (no classifier score)."""
        size = abs(delta_p)
        on = delta_p > 0
        return cls(ts, delta_p, None, size, 0, 0.0 if on else size, size if on else 0.0, label, 1.0)


@dataclass(frozen=True, slots=True)
class _Boundaries:
    """Steady-segment boundaries found in one array, by sample index."""

    event_start: IntArray  # first sample after segment A (transition begins)
    seg_b_start: IntArray  # first sample of segment B
    seg_b_len: IntArray
    before: FloatArray
    after: FloatArray
    q_before: FloatArray
    q_after: FloatArray
    last_confirmed_start: int
    last_confirmed_len: int


def _window_median(x: FloatArray, starts: IntArray, lens: IntArray, n: int) -> FloatArray:
    """Median of ``x[starts : starts + min(n, lens)]`` for each start, vectorised."""
    if starts.size == 0:
        return np.empty(0, dtype=np.float64)
    take = np.minimum(lens, n)
    offs = np.arange(n)
    idx = starts[:, None] + offs[None, :]
    valid = offs[None, :] < take[:, None]
    vals = np.where(valid, x[np.minimum(idx, x.size - 1)], np.nan)
    with warnings.catch_warnings():
        # a window with nothing measured (a meter without reactive power) has no
        # median: NaN is the answer meant, not a fault worth a warning in the log
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmedian(vals, axis=1), dtype=np.float64)


def _segments(p: FloatArray, cfg: DetectorConfig) -> tuple[IntArray, IntArray]:
    """Start index and length of every steady segment (confirmed or not)."""
    n = p.size
    d = np.abs(np.diff(p))
    tol = np.maximum(cfg.tol_abs_w, cfg.tol_rel * np.maximum(np.abs(p[1:]), np.abs(p[:-1])))
    new = np.ones(n, dtype=bool)
    new[1:] = ~(d <= tol)  # NaN differences start a new segment
    starts = np.flatnonzero(new).astype(np.int64)
    lens = np.diff(np.append(starts, n)).astype(np.int64)
    return starts, lens


def _boundaries(p: FloatArray, q: FloatArray | None, cfg: DetectorConfig) -> _Boundaries:
    starts, lens = _segments(p, cfg)
    ok = lens >= cfg.min_steady
    cs, cl = starts[ok], lens[ok]
    empty = np.empty(0, dtype=np.int64)
    emptyf = np.empty(0, dtype=np.float64)
    if cs.size == 0:
        return _Boundaries(empty, empty, empty, emptyf, emptyf, emptyf, emptyf, -1, 0)
    a_end = cs[:-1] + cl[:-1]
    a_take = np.minimum(cl[:-1], cfg.level_n)
    a_from = a_end - a_take
    b_start, b_len = cs[1:], cl[1:]
    before = _window_median(p, a_from, a_take, cfg.level_n)
    after = _window_median(p, b_start, b_len, cfg.level_n)
    if q is not None:
        qb = _window_median(q, a_from, a_take, cfg.level_n)
        qa = _window_median(q, b_start, b_len, cfg.level_n)
    else:
        qb = qa = np.full(before.size, np.nan)
    return _Boundaries(a_end, b_start, b_len, before, after, qb, qa, int(cs[-1]), int(cl[-1]))


def _make_events(
    ts: IntArray,
    p: FloatArray,
    b: _Boundaries,
    cfg: DetectorConfig,
    keep: npt.NDArray[np.bool_],
) -> list[Event]:
    """Turn the kept boundaries whose step is large enough into events."""
    delta = b.after - b.before
    sel = np.flatnonzero(keep & (np.abs(delta) >= cfg.min_step_w))
    out: list[Event] = []
    for i in sel:
        e0 = int(b.event_start[i])
        b0 = int(b.seg_b_start[i])
        stop = b0 + int(min(b.seg_b_len[i], cfg.level_n))
        seg = p[e0:stop]
        dp = float(delta[i])
        ext = float(np.nanmax(seg)) if dp > 0 else float(np.nanmin(seg))
        dq = float(b.q_after[i] - b.q_before[i])
        out.append(
            Event(
                ts=int(ts[e0]),
                delta_p=dp,
                delta_q=None if np.isnan(dq) else dq,
                peak_w=ext - float(b.before[i]),
                settle_ms=int(ts[b0] - ts[e0]),
                level_before=float(b.before[i]),
                level_after=float(b.after[i]),
            )
        )
    return out


def _as_arrays(
    ts: npt.ArrayLike, power: npt.ArrayLike, second: npt.ArrayLike | None
) -> tuple[IntArray, FloatArray, FloatArray | None]:
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(power, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"ts and power must be 1-D of equal length, got {t.shape} and {p.shape}")
    q = None
    if second is not None:
        q = np.asarray(second, dtype=np.float64)
        if q.shape != p.shape:
            raise ValueError(f"second channel has shape {q.shape}, power has {p.shape}")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise ValueError("timestamps must not go backwards")
    return t, p, q


def reactive_from_pf(power: FloatArray, pf: FloatArray) -> FloatArray:
    """Q (var) from P and |PF|, taken as inductive: Q = P·tan(arccos PF).

    Unlike PF, Q adds up across appliances, so a step in Q belongs to the appliance
    that switched whatever else is running.
    """
    c = np.clip(np.abs(pf), 0.05, 1.0)
    return np.asarray(np.abs(power) * np.sqrt(1.0 / c**2 - 1.0), dtype=np.float64)


def detect_events(
    ts: npt.ArrayLike,
    power: npt.ArrayLike,
    second: npt.ArrayLike | None = None,
    config: DetectorConfig | None = None,
) -> list[Event]:
    """All ON/OFF events in a whole recording (``ts`` in epoch ms, ``power`` in W)."""
    cfg = config or DetectorConfig()
    t, p, q = _as_arrays(ts, power, second if cfg.second != "none" else None)
    if q is not None and cfg.second == "pf":
        q = reactive_from_pf(p, q)
    if p.size < 2:
        return []
    b = _boundaries(p, q, cfg)
    return _make_events(t, p, b, cfg, np.ones(b.before.size, dtype=bool))


@dataclass(slots=True)
class StreamingDetector:
    """Live detector for one meter: feed samples as they arrive, get events once final.

    An event is final once the new level has ``level_n`` samples (or another change
    ended it). The detector keeps only the samples since the last steady level, bounded
    by ``config.max_buffer``; its whole state is this object (see :meth:`to_dict`).
    """

    config: DetectorConfig = field(default_factory=DetectorConfig)
    _ts: list[int] = field(default_factory=list)
    _p: list[float] = field(default_factory=list)
    _q: list[float] = field(default_factory=list)
    _offset: int = 0  # samples dropped so far
    _last_done: int = -1  # absolute index of the last boundary already decided
    _quiet: bool = False  # the buffer is only the tail of a settled level

    def feed(self, ts_ms: int, power: float, second: float | None = None) -> list[Event]:
        """Add one sample; return the events that became final with it."""
        if self._quiet and self._extends_steady(ts_ms, power):
            # fast path: the sample continues a settled level, so nothing can change
            cfg = self.config
            q = float("nan") if second is None else float(second)
            if cfg.second == "pf":
                q = float(reactive_from_pf(np.array([power]), np.array([q]))[0])
            self._ts.append(int(ts_ms))
            self._p.append(float(power))
            self._q.append(q)
            if len(self._p) > max(cfg.level_n, cfg.min_steady):
                del self._ts[0], self._p[0], self._q[0]
                self._offset += 1
            return []
        return self.feed_many([ts_ms], [power], None if second is None else [second])

    def _extends_steady(self, ts_ms: int, power: float) -> bool:
        if not self._p or ts_ms < self._ts[-1]:
            return False
        last = self._p[-1]
        tol = max(self.config.tol_abs_w, self.config.tol_rel * max(abs(power), abs(last)))
        return abs(power - last) <= tol

    def feed_many(self, ts: npt.ArrayLike, power: npt.ArrayLike, second: npt.ArrayLike | None = None) -> list[Event]:
        """Add a chunk of samples; return the events that became final with it."""
        t, p, q = _as_arrays(ts, power, second)
        if t.size == 0:
            return []
        if self._ts and t[0] < self._ts[-1]:
            raise ValueError(f"sample at {int(t[0])} is older than the last one ({self._ts[-1]})")
        if q is not None and self.config.second == "pf":
            q = reactive_from_pf(p, q)
        self._ts.extend(t.tolist())
        self._p.extend(p.tolist())
        self._q.extend((q if q is not None else np.full(p.size, np.nan)).tolist())
        return self._run(final=False)

    def settled_before(self) -> int | None:
        """The time (epoch ms) before which no later event can begin: the detector holds
        every sample a future event may start at or be measured from (None: it holds
        none, nothing was fed yet)."""
        return self._ts[0] if self._ts else None

    def flush(self) -> list[Event]:
        """Report a change whose new level has fewer than ``level_n`` samples so far."""
        return self._run(final=True)

    def _run(self, final: bool) -> list[Event]:
        cfg = self.config
        t = np.asarray(self._ts, dtype=np.int64)
        p = np.asarray(self._p, dtype=np.float64)
        q = np.asarray(self._q, dtype=np.float64) if cfg.second != "none" else None
        if p.size < 2:
            return []
        b = _boundaries(p, q, cfg)
        n_b = b.seg_b_start.size
        closed = b.seg_b_start + b.seg_b_len < p.size
        done = closed | (b.seg_b_len >= cfg.level_n) | final
        absolute = b.event_start + self._offset
        keep = done & (absolute > self._last_done)
        events = _make_events(t, p, b, cfg, keep)
        if n_b and np.any(done):
            self._last_done = max(self._last_done, int(absolute[done][-1]))
        self._quiet = (done.size == 0 or bool(done[-1])) and (
            b.last_confirmed_start >= 0 and b.last_confirmed_start + b.last_confirmed_len == p.size
        )
        self._trim(b, done)
        return events

    def _trim(self, b: _Boundaries, done: npt.NDArray[np.bool_]) -> None:
        """Drop samples no future event can depend on.

        Keep the last ``level_n`` samples of the steady level that the next event will
        be measured from, and everything after it.
        """
        cfg = self.config
        n = len(self._p)
        keep_n = max(cfg.level_n, cfg.min_steady)
        cut = 0
        if done.size and not done[-1]:
            cut = max(0, int(b.event_start[-1]) - keep_n)
        elif b.last_confirmed_start >= 0:
            s0, ln = b.last_confirmed_start, b.last_confirmed_len
            cut = max(s0, s0 + ln - keep_n)
        cut = max(cut, n - cfg.max_buffer)
        if cut > 0:
            del self._ts[:cut], self._p[:cut], self._q[:cut]
            self._offset += cut

    def to_dict(self) -> dict[str, Any]:
        """Plain-data state, so a service can persist and resume a meter's detector."""
        return {
            "config": self.config.to_dict(),
            "ts": list(self._ts),
            "p": list(self._p),
            "q": [None if np.isnan(v) else v for v in self._q],
            "offset": self._offset,
            "quiet": self._quiet,
            "last_done": self._last_done,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamingDetector:
        det = cls(DetectorConfig.from_dict(data["config"]))
        det._ts = [int(v) for v in data["ts"]]
        det._p = [float(v) for v in data["p"]]
        det._q = [float("nan") if v is None else float(v) for v in data["q"]]
        det._offset = int(data["offset"])
        det._quiet = bool(data.get("quiet", False))
        det._last_done = int(data["last_done"])
        return det
