"""Turning the classifier's posterior into a confidence that means what it says.

The kernel-density posterior is honest where signatures are clean and over-confident
where unmetered loads of the same size exist (a 90 W step is "fridge, 0.9" though it is
as often the TV). An isotonic map, fitted on events whose truth is known (held-out folds
of the training part), replaces each posterior by the share of such events that were
right. It is monotone, so the ranking of events stays; "unidentified" is still decided
on the posterior. Where two events' confidences are compared (pairing keeps the label of
the surer of an ON and its OFF), a plateau of the map can turn a tie the other way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def isotonic_fit(conf: Sequence[float], right: Sequence[bool], min_events: int = 20) -> list[tuple[float, float]]:
    """Knots (raw confidence, calibrated confidence) of the isotonic (pool adjacent
    violators) fit of correctness on confidence; empty when too few events to trust."""
    if len(conf) < min_events:
        return []
    order = np.argsort(np.asarray(conf, dtype=np.float64), kind="stable")
    x = np.asarray(conf, dtype=np.float64)[order]
    y = np.asarray(right, dtype=np.float64)[order]
    blocks: list[list[float]] = []  # [sum of y, count, lowest x, highest x]
    for xi, yi in zip(x, y, strict=True):
        blocks.append([yi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, _, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
    knots: list[tuple[float, float]] = []
    for s, n, lo, hi in blocks:
        knots += [(lo, s / n), (hi, s / n)]
    return knots


def apply_calibration(knots: Sequence[tuple[float, float]], conf: float) -> float:
    """The calibrated confidence (the raw one when no map was fitted)."""
    if not knots:
        return conf
    xs = np.array([k[0] for k in knots])
    ys = np.array([k[1] for k in knots])
    return float(np.interp(conf, xs, ys))
