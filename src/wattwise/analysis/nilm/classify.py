"""Identify events against a site's signature library, with a confidence.

The classifier is a kernel density estimate over the library's exemplars: each
appliance's density at an event is the mean Gaussian kernel of its ``k`` nearest
exemplars, in a space scaled by how much each feature varies between switchings of the
same appliance (10 % of ΔP, 15 % of ΔQ, a few hours of the day …). An extra "nothing
known" density, equal to the kernel at ``reject_sigma`` scaled units, competes with the
appliances, so an event far from every signature gets a low confidence and is reported
as ``unidentified``. Confidence is the posterior of the chosen appliance. The classifier
reads the library on every call, so a label added to the library counts at once.

How far is "far" depends on how much the library knows. An appliance with a handful of
labels (a new user's) has not shown its spread, and an event must be accepted further
from those few exemplars (``few_label_sigma``); one with dozens of exemplars has, and is
held to the strict distance (``reject_sigma``). An appliance holding at most
``few_labels`` exemplars counts as few-label; the "nothing known" density at an event is
each appliance's own one, weighted by its share of the appliances' density there. So a
library that grows from a user's labels moves from one regime to the other appliance by
appliance, and a stored model without ``few_label_sigma`` behaves as before.

The decision threshold follows the regime too: a few-label appliance is named from
``few_label_confidence``. With a handful of labels the loads that compete with it are
sparsely known, so its posterior is high; as the user labels more of them (the "not one
of mine" steps of a freezer the size of the fridge, a dishwasher's pump) it falls
towards the real ambiguity, and a threshold chosen for a library of dozens of exemplars
would turn those events "unidentified" — more labels, fewer events named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.events import Event
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, Features, SignatureLibrary

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ClassifierConfig:
    """Feature scales (W, var, hours, log-seconds), the "unknown" distances (scale units)
    and the decision threshold."""

    rel_p: float = 0.10
    noise_w: float = 5.0
    rel_q: float = 0.15
    noise_q: float = 5.0
    hour_scale_h: float = 4.0
    duration_log_scale: float = 1.0
    missing_penalty: float = 2.0
    k_nearest: int = 5
    #: unknown distance for an appliance holding more than ``few_labels`` exemplars
    reject_sigma: float = 3.0
    min_confidence: float = 0.5
    #: unknown distance for an appliance holding at most ``few_labels`` exemplars
    #: (None: ``reject_sigma``, one regime, as models stored before it existed)
    few_label_sigma: float | None = None
    few_labels: int = 10
    #: decision threshold for an appliance holding at most ``few_labels`` exemplars
    #: (None: ``min_confidence``, as models stored before it existed)
    few_label_confidence: float | None = None

    def unknown_sigma(self, counts: npt.NDArray[np.int64]) -> FloatArray:
        """The unknown distance of appliances holding ``counts`` exemplars."""
        few = self.reject_sigma if self.few_label_sigma is None else self.few_label_sigma
        return np.where(counts <= self.few_labels, few, self.reject_sigma).astype(np.float64)

    def threshold(self, count: int) -> float:
        """The confidence an appliance holding ``count`` exemplars must reach to be named."""
        if count <= self.few_labels and self.few_label_confidence is not None:
            return self.few_label_confidence
        return self.min_confidence


def unknown_density(dens: FloatArray, sigma: FloatArray) -> FloatArray:
    """The "nothing known" density at each query (rows of ``dens``, the appliances'
    densities): each appliance's kernel at its own unknown distance ``sigma``, weighted
    by the appliance's share of the density there (evenly where no appliance has any)."""
    total = dens.sum(axis=1, keepdims=True)
    share = np.divide(dens, total, out=np.full_like(dens, 1.0 / dens.shape[1]), where=total > 0)
    out: FloatArray = share @ np.exp(-0.5 * sigma**2)
    return out


def _column(feats: Sequence[Features], name: str) -> FloatArray:
    vals = [getattr(f, name) for f in feats]
    return np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Matrix:
    dp: FloatArray
    dq: FloatArray
    peak: FloatArray
    hour: FloatArray
    dur: FloatArray

    @classmethod
    def of(cls, feats: Sequence[Features]) -> _Matrix:
        return cls(
            _column(feats, "dp"),
            _column(feats, "dq"),
            _column(feats, "peak_ratio"),
            _column(feats, "hour"),
            _column(feats, "duration_s"),
        )


def _term(diff: FloatArray, scale: FloatArray | float) -> FloatArray:
    """Squared scaled difference; a feature missing on either side adds nothing."""
    t = (diff / scale) ** 2
    return np.where(np.isnan(t), 0.0, t)


#: How far (in scale units) an unidentified event may lie from the one a person names and
#: still be named with it ("look alike"; set a priori, not tuned on any figure).
ALIKE_WITHIN = 2.0


def _shape(features: Features) -> Features:
    """Only the step (|ΔP|, ΔQ, inrush): time of day and run length dropped, so that two uses
    of one appliance at different hours, or one still running, look alike."""
    return replace(features, hour=None, duration_s=None)


class Classifier:
    """Appliance identification over a :class:`SignatureLibrary` (held by reference)."""

    def __init__(self, library: SignatureLibrary, config: ClassifierConfig | None = None):
        self.library = library
        self.config = config or ClassifierConfig()
        self._cache_version = -1
        self._names: list[str] = []
        self._ex: _Matrix | None = None
        self._cls: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)

    def _exemplars(self) -> tuple[list[str], _Matrix | None, npt.NDArray[np.int64]]:
        if self._cache_version != self.library.version or self._ex is None:
            names = self.library.names()
            feats: list[Features] = []
            cls: list[int] = []
            for i, n in enumerate(names):
                ex = self.library.appliances[n].exemplars
                feats.extend(ex)
                cls.extend([i] * len(ex))
            self._names = names
            self._ex = _Matrix.of(feats) if feats else None
            self._cls = np.array(cls, dtype=np.int64)
            self._cache_version = self.library.version
        return self._names, self._ex, self._cls

    def distances2(self, queries: Sequence[Features], ex: _Matrix) -> FloatArray:
        """Squared scaled distance of each query (rows) to each exemplar (columns)."""
        c = self.config
        q = _Matrix.of(queries)
        d2 = _term(q.dp[:, None] - ex.dp[None, :], np.maximum(c.rel_p * ex.dp, c.noise_w))
        qscale = np.maximum.reduce([c.rel_q * np.abs(ex.dq), 0.02 * ex.dp, np.full(ex.dp.shape, c.noise_q)])
        d2 += _term(q.dq[:, None] - ex.dq[None, :], qscale)
        d2 += _term(q.peak[:, None] - ex.peak[None, :], 0.15 + 0.2 * np.abs(ex.peak - 1.0))
        dh = np.abs(q.hour[:, None] - ex.hour[None, :])
        d2 += _term(np.minimum(dh, 24.0 - dh), c.hour_scale_h)
        with np.errstate(divide="ignore", invalid="ignore"):
            d2 += _term(
                np.log(q.dur[:, None] / ex.dur[None, :]),
                c.duration_log_scale,
            )
        # a run length known on one side only: an exemplar that never closed must not
        # look like a perfect match for every duration
        one_sided = np.isnan(q.dur)[:, None] != np.isnan(ex.dur)[None, :]
        d2 += np.where(one_sided & ~np.isnan(q.dur)[:, None], c.missing_penalty, 0.0)
        return d2

    def posteriors(self, queries: Sequence[Features]) -> tuple[list[str], FloatArray]:
        """Appliance names and, per query, the posterior of each plus "unidentified" last."""
        names, ex, cls = self._exemplars()
        if ex is None or not queries:
            return names, np.ones((len(queries), len(names) + 1)) * np.r_[np.zeros(len(names)), 1.0]
        c = self.config
        k = np.exp(-0.5 * self.distances2(queries, ex))
        dens = np.zeros((len(queries), len(names) + 1))
        for i in range(len(names)):
            kc = k[:, cls == i]
            top = min(c.k_nearest, kc.shape[1])
            dens[:, i] = np.sort(kc, axis=1)[:, -top:].mean(axis=1)
        dens[:, -1] = unknown_density(dens[:, :-1], c.unknown_sigma(np.bincount(cls, minlength=len(names))))
        return names, dens / dens.sum(axis=1, keepdims=True)

    def decide(self, names: Sequence[str], row: FloatArray) -> tuple[str, float]:
        """The label and confidence of one row of posteriors (appliances, then
        "unidentified"): the likeliest appliance if it reaches its regime's threshold."""
        if not names:
            return UNIDENTIFIED, 0.0
        best = int(np.argmax(row[: len(names)]))
        conf = float(row[best])
        count = len(self.library.appliances[names[best]].exemplars)
        return (names[best] if conf >= self.config.threshold(count) else UNIDENTIFIED), conf

    def identify(self, queries: Sequence[Features]) -> list[tuple[str, float, dict[str, float]]]:
        """Label, confidence and all scores for each query."""
        names, post = self.posteriors(queries)
        out: list[tuple[str, float, dict[str, float]]] = []
        for row in post:
            label, conf = self.decide(names, row)
            scores = {n: float(v) for n, v in zip([*names, UNIDENTIFIED], row, strict=True)}
            out.append((label, conf, scores))
        return out

    def classify(self, event: Event, features: Features) -> Event:
        """Set ``event.label``, ``confidence`` and ``scores`` from its features."""
        label, conf, scores = self.identify([features])[0]
        event.label, event.confidence, event.scores = label, conf, scores
        return event

    def similar(
        self, anchor: Features, candidates: Sequence[Features], within_sigma: float = ALIKE_WITHIN
    ) -> list[int]:
        """Indexes of ``candidates`` that look like ``anchor`` (for labelling a cluster): the same
        step, within ``within_sigma`` scale units, whatever the time of day or run length."""
        if not candidates:
            return []
        d2 = self.distances2([_shape(c) for c in candidates], _Matrix.of([_shape(anchor)]))[:, 0]
        return [int(i) for i in np.flatnonzero(d2 <= within_sigma**2)]
