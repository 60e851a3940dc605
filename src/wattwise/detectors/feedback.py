"""People's Ignore/Raise verdicts, turned into "is this new finding a pattern they already judged?".

A finding carries a small *signature*: its level (the power of an anomaly, the extreme of a
sag, the voltage step of a surge, the share of a main meter its sub-meters do not see) and
the local hour it began (0 for a balance loss). A new finding of the same kind on the same
meter is *like* a judged one when its level is within 25 % and its hour within two hours.
It is ignored from the start when it is like an ignored finding and no raised finding is
nearer; a Raise therefore always wins over an Ignore of the same pattern. (Theft has its
own, feature-space rule in the engine; see ``detectors.theft``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL_TOLERANCE = 0.25
HOUR_TOLERANCE = 2.0


@dataclass(frozen=True, slots=True)
class Judged:
    finding_id: int
    kind: str
    level: float
    hour: float
    verdict: str  # ignore | raise


def signature(level: float, hour: float) -> dict[str, float]:
    return {"level": float(level), "hour": float(hour)}


def distance(level: float, hour: float, other: Judged) -> float:
    """Max of the scaled differences: ≤ 1 means "the same pattern"."""
    a, b = abs(level), abs(other.level)
    if a < 1e-9 or b < 1e-9:
        level_d = 0.0 if max(a, b) < 1e-9 else math.inf
    else:
        level_d = abs(math.log(a / b)) / math.log1p(LEVEL_TOLERANCE)
    dh = abs(hour - other.hour) % 24.0
    hour_d = min(dh, 24.0 - dh) / HOUR_TOLERANCE
    return max(level_d, hour_d)


def suppressed_by(kind: str, level: float, hour: float, judged: Sequence[Judged]) -> int | None:
    """The ignored finding this new one repeats, or None when it is to be raised."""
    best_ignore: tuple[float, int] | None = None
    best_raise = math.inf
    for j in judged:
        if j.kind != kind:
            continue
        d = distance(level, hour, j)
        if j.verdict == "raise":
            best_raise = min(best_raise, d)
        elif d <= 1.0 and (best_ignore is None or d < best_ignore[0]):
            best_ignore = (d, j.finding_id)
    if best_ignore is None or best_raise <= best_ignore[0]:
        return None
    return best_ignore[1]
