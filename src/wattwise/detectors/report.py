"""What a per-meter detector hands back to the service: a finding to store (or to extend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Report:
    """One finding as a detector sees it.

    ``level`` and ``hour`` make the signature that people's verdicts are matched on;
    ``continues`` asks to extend the meter's open finding of the same kind (an anomaly
    that lasts) rather than to open a new one; a ``retrospective`` finding (about a past
    span, judged later) is never the one later reports extend.
    """

    kind: str
    start_ts: int
    end_ts: int
    score: float
    reason: str
    level: float
    hour: float
    detail: dict[str, Any] = field(default_factory=dict)
    continues: bool = False
    retrospective: bool = False
