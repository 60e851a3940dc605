"""Findings of the detectors (anomaly, grid events, energy balance, theft) and people's verdicts.

A finding is what an alert rule reads: ``status`` "open" means raised and not yet judged.
A person's verdict is kept on the finding itself: Ignore ("normal for us") or Raise
("yes, this is a problem"); detectors read the verdicts back to learn from them. "closed"
means the detector that raised it can no longer follow it (``detail["closed"]`` says why)
before anyone judged it; a person may still give a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound
from wattwise.store.findings_schema import findings

OPEN = "open"
IGNORED = "ignored"
CONFIRMED = "confirmed"
CLOSED = "closed"
STATUSES = (OPEN, IGNORED, CONFIRMED, CLOSED)
VERDICTS = ("ignore", "raise")


@dataclass(frozen=True, slots=True)
class Finding:
    id: int
    device_id: int
    kind: str
    start_ts: int
    end_ts: int
    score: float
    reason: str
    detail: dict[str, Any]
    status: str
    suppressed_by: int | None
    verdict: str | None
    verdict_by: str | None
    verdict_ms: int | None
    created_ms: int
    updated_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NewFinding:
    device_id: int
    kind: str
    start_ts: int
    end_ts: int
    score: float
    reason: str
    detail: dict[str, Any]
    suppressed_by: int | None = None


def _finding(row: Any) -> Finding:
    m = dict(row._mapping)
    m["detail"] = json.loads(m["detail"])
    return Finding(**m)


def add_finding(conn: Connection, new: NewFinding) -> Finding:
    """Store a finding: open, or ignored from the start when it repeats an ignored pattern."""
    now = now_ms()
    result = conn.execute(
        insert(findings).values(
            device_id=new.device_id,
            kind=new.kind,
            start_ts=new.start_ts,
            end_ts=new.end_ts,
            score=new.score,
            reason=new.reason[:500],
            detail=json.dumps(new.detail),
            status=OPEN if new.suppressed_by is None else IGNORED,
            suppressed_by=new.suppressed_by,
            created_ms=now,
            updated_ms=now,
        )
    )
    assert result.inserted_primary_key is not None
    return get_finding(conn, int(result.inserted_primary_key[0]))


def extend_finding(
    conn: Connection, finding_id: int, *, end_ts: int, score: float, reason: str, detail: dict[str, Any]
) -> Finding:
    """A finding that goes on (an anomaly lasting, a loss accumulating): new end, score and words."""
    conn.execute(
        update(findings)
        .where(findings.c.id == finding_id)
        .values(end_ts=end_ts, score=score, reason=reason[:500], detail=json.dumps(detail), updated_ms=now_ms())
    )
    return get_finding(conn, finding_id)


def close_open(conn: Connection, device_id: int, kind: str, start_ts: int, why: str) -> list[Finding]:
    """Close the meter's open findings of ``kind`` that began at ``start_ts``: their detector
    cannot follow them any more (``why``, in plain words, goes in ``detail["closed"]``)."""
    rows = conn.execute(
        select(findings.c.id, findings.c.detail).where(
            findings.c.device_id == device_id,
            findings.c.kind == kind,
            findings.c.start_ts == start_ts,
            findings.c.status == OPEN,
        )
    ).all()
    for row in rows:
        detail = {**json.loads(row.detail), "closed": why}
        conn.execute(
            update(findings)
            .where(findings.c.id == row.id)
            .values(status=CLOSED, detail=json.dumps(detail), updated_ms=now_ms())
        )
    return [get_finding(conn, int(row.id)) for row in rows]


def get_finding(conn: Connection, finding_id: int) -> Finding:
    row = conn.execute(select(findings).where(findings.c.id == finding_id)).first()
    if row is None:
        raise NotFound(f"no finding with id {finding_id}")
    return _finding(row)


def list_findings(
    conn: Connection,
    *,
    device_ids: Sequence[int] | None = None,
    kinds: Sequence[str] | None = None,
    status: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int = 500,
) -> list[Finding]:
    """Findings, newest first; ``device_ids`` None means every meter."""
    query = select(findings)
    if device_ids is not None:
        query = query.where(findings.c.device_id.in_(list(device_ids)))
    if kinds:
        query = query.where(findings.c.kind.in_(list(kinds)))
    if status is not None:
        query = query.where(findings.c.status == status)
    if since is not None:
        query = query.where(findings.c.end_ts >= since)
    if until is not None:
        query = query.where(findings.c.start_ts < until)
    query = query.order_by(findings.c.start_ts.desc(), findings.c.id.desc()).limit(limit)
    return [_finding(r) for r in conn.execute(query)]


def count_by_kind(conn: Connection, device_ids: Sequence[int], since: int, until: int) -> dict[tuple[int, str], int]:
    """(meter, kind) → how many findings overlap ``[since, until)``, whatever their status:
    a report counts what was raised in a period, judged or not."""
    if not device_ids:
        return {}
    c = findings.c
    query = (
        select(c.device_id, c.kind, func.count())
        .where(c.device_id.in_(list(device_ids)), c.end_ts >= since, c.start_ts < until)
        .group_by(c.device_id, c.kind)
    )
    return {(int(d), str(k)): int(n) for d, k, n in conn.execute(query)}


def judged(conn: Connection, device_id: int, kinds: Sequence[str]) -> list[Finding]:
    """The meter's findings of these kinds that a person gave a verdict on, oldest first."""
    rows = conn.execute(
        select(findings)
        .where(findings.c.device_id == device_id)
        .where(findings.c.kind.in_(list(kinds)))
        .where(findings.c.verdict.is_not(None))
        .order_by(findings.c.verdict_ms, findings.c.id)
    )
    return [_finding(r) for r in rows]


def give_verdict(conn: Connection, finding_id: int, verdict: str, *, by: str) -> Finding:
    """Record Ignore or Raise; the finding becomes ignored or confirmed."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict: must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    get_finding(conn, finding_id)
    conn.execute(
        update(findings)
        .where(findings.c.id == finding_id)
        .values(
            verdict=verdict,
            verdict_by=by[:100],
            verdict_ms=now_ms(),
            status=IGNORED if verdict == "ignore" else CONFIRMED,
            updated_ms=now_ms(),
        )
    )
    return get_finding(conn, finding_id)
