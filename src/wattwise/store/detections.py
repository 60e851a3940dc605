"""Appliance events and runs of each meter (NILM), as the live detector finds them and people label them.

The detector inserts events with the classifier's label; a person's label (``source`` =
"user") is never overwritten by a later re-identification. Renaming or merging an
appliance relabels its stored events and runs in the same transaction as its signatures.

A run is stored *provisional* (``final`` false) while the detector may still change it (a
fridge's rhythm chain decides its runs a few cycles late): a running fridge shows as
running and its energy counts now. The detector replaces a meter's provisional runs as a
whole (:func:`replace_provisional`) in the same transaction as the final runs that take
their place, so a run is never listed twice and a restart leaves the last set in place.
A person's label reaches only final runs' events through :func:`runs_of_events`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, or_, select, update

from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound
from wattwise.store.findings_schema import appliance_events, appliance_runs

DETECTOR = "detector"
USER = "user"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    device_id: int
    ts: int
    delta_p: float
    delta_q: float | None
    peak_w: float
    settle_ms: int
    level_before: float
    level_after: float
    label: str
    confidence: float
    source: str
    features: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device_id": self.device_id,
            "ts": self.ts,
            "state": "on" if self.delta_p > 0 else "off",
            "delta_p": self.delta_p,
            "delta_q": self.delta_q,
            "peak_w": self.peak_w,
            "settle_ms": self.settle_ms,
            "level_before": self.level_before,
            "level_after": self.level_after,
            "label": self.label,
            "confidence": self.confidence,
            "labelled_by": self.source,
        }


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: int
    device_id: int
    start_ts: int
    end_ts: int
    power_w: float
    label: str
    on_event_id: int
    off_event_id: int | None
    final: bool = True

    def to_dict(self) -> dict[str, Any]:
        duration_s = (self.end_ts - self.start_ts) / 1000.0
        return {
            "id": self.id,
            "device_id": self.device_id,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "duration_s": duration_s,
            "power_w": self.power_w,
            "energy_wh": self.power_w * duration_s / 3600.0,
            "label": self.label,
            "on_event_id": self.on_event_id,
            "off_event_id": self.off_event_id,
            "closed": self.off_event_id is not None,
            # false: as it stands now; replaced by the final run (or dropped) later
            "final": bool(self.final),
        }


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as the detector hands it to the store."""

    ts: int
    delta_p: float
    delta_q: float | None
    peak_w: float
    settle_ms: int
    level_before: float
    level_after: float
    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class NewRun:
    start_ts: int
    end_ts: int
    power_w: float
    label: str
    on_event_id: int
    off_event_id: int | None
    final: bool = True


def _event(row: Any) -> StoredEvent:
    m = dict(row._mapping)
    raw = m.pop("features")
    return StoredEvent(**m, features=None if raw is None else json.loads(raw))


_EVENT_COLUMNS = [c for c in appliance_events.c if c.name != "created_ms"]
_RUN_COLUMNS = [c for c in appliance_runs.c if c.name != "created_ms"]


def _insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows one by one (ids are wanted back, in order, on SQLite and PostgreSQL alike)."""
    now = now_ms()
    ids = []
    for row in rows:
        result = conn.execute(insert(table).values(**row, created_ms=now))
        assert result.inserted_primary_key is not None
        ids.append(int(result.inserted_primary_key[0]))
    return ids


def insert_events(conn: Connection, device_id: int, events: Sequence[NewEvent]) -> list[int]:
    """Store the detector's events; returns their ids in the same order."""
    return _insert(conn, appliance_events, [{**asdict(e), "device_id": device_id, "source": DETECTOR} for e in events])


def relabel_detected(conn: Connection, labels: Iterable[tuple[int, str, float]]) -> None:
    """The detector's second opinion (event id, label, confidence); a person's label stays."""
    for event_id, label, confidence in labels:
        conn.execute(
            update(appliance_events)
            .where(appliance_events.c.id == event_id)
            .where(appliance_events.c.source == DETECTOR)
            .values(label=label, confidence=confidence)
        )


def insert_runs(conn: Connection, device_id: int, runs: Sequence[NewRun]) -> list[int]:
    return _insert(conn, appliance_runs, [{**asdict(r), "device_id": device_id} for r in runs])


def replace_provisional(conn: Connection, device_id: int, runs: Sequence[NewRun]) -> list[int]:
    """The meter's provisional runs are now ``runs`` (stored with ``final`` false): the
    previous set goes, whatever became of it (final, changed or dropped)."""
    conn.execute(
        delete(appliance_runs).where(appliance_runs.c.device_id == device_id).where(appliance_runs.c.final.is_(False))
    )
    return insert_runs(conn, device_id, [NewRun(**{**asdict(r), "final": False}) for r in runs])


def get_event(conn: Connection, event_id: int) -> StoredEvent:
    row = conn.execute(select(*_EVENT_COLUMNS).where(appliance_events.c.id == event_id)).first()
    if row is None:
        raise NotFound(f"no appliance event with id {event_id}")
    return _event(row)


def get_events(conn: Connection, event_ids: Sequence[int]) -> list[StoredEvent]:
    if not event_ids:
        return []
    rows = conn.execute(select(*_EVENT_COLUMNS).where(appliance_events.c.id.in_(list(event_ids))))
    return [_event(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Window:
    """Which of a meter's events or runs to list: a time range, one label, how many (newest first)."""

    since: int | None = None
    until: int | None = None
    label: str | None = None
    limit: int = 500


def _newest(conn: Connection, table: Table, ts_name: str, device_id: int, window: Window) -> list[Any]:
    ts = table.c[ts_name]
    query = select(*[c for c in table.c if c.name != "created_ms"]).where(table.c.device_id == device_id)
    if window.since is not None:
        query = query.where(ts >= window.since)
    if window.until is not None:
        query = query.where(ts < window.until)
    if window.label is not None:
        query = query.where(table.c.label == window.label)
    return list(conn.execute(query.order_by(ts.desc(), table.c.id.desc()).limit(window.limit)))


def list_events(conn: Connection, device_id: int, window: Window | None = None) -> list[StoredEvent]:
    """The meter's events, newest first."""
    return [_event(r) for r in _newest(conn, appliance_events, "ts", device_id, window or Window())]


def events_in_spans(
    conn: Connection, device_id: int, spans: Sequence[tuple[int, int]], limit: int
) -> list[StoredEvent]:
    """The meter's events in any of the time spans (``since`` ≤ ts < ``until``), each
    once, oldest first (at one time, the last stored first), at most ``limit``: one
    query however many spans."""
    if not spans:
        return []
    ts = appliance_events.c.ts
    inside = or_(*[(ts >= since) & (ts < until) for since, until in spans])
    query = (
        select(*_EVENT_COLUMNS)
        .where(appliance_events.c.device_id == device_id)
        .where(inside)
        .order_by(ts.asc(), appliance_events.c.id.desc())
        .limit(limit)
    )
    return [_event(r) for r in conn.execute(query)]


def list_runs(conn: Connection, device_id: int, window: Window | None = None) -> list[StoredRun]:
    """The meter's runs, newest first."""
    return [StoredRun(**r._mapping) for r in _newest(conn, appliance_runs, "start_ts", device_id, window or Window())]


def get_runs(conn: Connection, run_ids: Sequence[int]) -> list[StoredRun]:
    if not run_ids:
        return []
    rows = conn.execute(select(*_RUN_COLUMNS).where(appliance_runs.c.id.in_(list(run_ids))))
    return sorted((StoredRun(**r._mapping) for r in rows), key=lambda r: r.start_ts)


def runs_of_events(conn: Connection, event_ids: Sequence[int]) -> dict[int, StoredRun]:
    """The final run each event opened or closed (the newest, if several), for the events
    that were paired, in one query: a provisional run may still change, so a label does
    not take its duration or its other event."""
    if not event_ids:
        return {}
    ids = list(event_ids)
    c = appliance_runs.c
    rows = conn.execute(
        select(*_RUN_COLUMNS)
        .where(c.on_event_id.in_(ids) | c.off_event_id.in_(ids))
        .where(c.final.is_(True))
        .order_by(c.id)
    )
    wanted = set(ids)
    out: dict[int, StoredRun] = {}
    for row in rows:  # oldest first: a newer run of the same event takes its place
        run = StoredRun(**row._mapping)
        for event_id in (run.on_event_id, run.off_event_id):
            if event_id in wanted:
                out[event_id] = run
    return out


def user_runs(conn: Connection, device_id: int, label: str, limit: int = 50) -> list[tuple[StoredEvent, StoredEvent]]:
    """The ON and OFF events of the meter's closed runs whose two events a person named
    ``label``, newest first (at most ``limit``): what their labels say of its runs."""
    named = select(appliance_events.c.id).where(
        (appliance_events.c.device_id == device_id)
        & (appliance_events.c.label == label)
        & (appliance_events.c.source == USER)
    )
    rows = conn.execute(
        select(appliance_runs.c.on_event_id, appliance_runs.c.off_event_id)
        .where(appliance_runs.c.device_id == device_id)
        .where(appliance_runs.c.final.is_(True))
        .where(appliance_runs.c.on_event_id.in_(named) & appliance_runs.c.off_event_id.in_(named))
        .order_by(appliance_runs.c.start_ts.desc())
        .limit(limit)
    )
    pairs = list(dict.fromkeys((int(on), int(off)) for on, off in rows))
    events = {e.id: e for e in get_events(conn, [i for pair in pairs for i in pair])}
    return [(events[on], events[off]) for on, off in pairs]


def set_user_labels(conn: Connection, labels: Sequence[tuple[int, str, dict[str, Any] | None]]) -> None:
    """A person's labels (event id, label, the features it taught the library), in one statement."""
    if not labels:
        return
    c = appliance_events.c
    conn.execute(
        update(appliance_events)
        .where(c.id == bindparam("event_id"))
        .values(label=bindparam("new_label"), confidence=1.0, source=USER, features=bindparam("taught")),
        [
            {"event_id": i, "new_label": label, "taught": None if features is None else json.dumps(features)}
            for i, label, features in labels
        ],
    )


def set_runs_label(conn: Connection, run_ids: Iterable[int], label: str) -> None:
    ids = sorted(set(run_ids))
    if ids:
        conn.execute(update(appliance_runs).where(appliance_runs.c.id.in_(ids)).values(label=label))


def rename_label(conn: Connection, device_id: int, old: str, new: str) -> int:
    """Give every stored event and run of ``old`` the name ``new``; returns the events changed."""
    changed = conn.execute(
        update(appliance_events)
        .where(appliance_events.c.device_id == device_id)
        .where(appliance_events.c.label == old)
        .values(label=new)
    ).rowcount
    conn.execute(
        update(appliance_runs)
        .where(appliance_runs.c.device_id == device_id)
        .where(appliance_runs.c.label == old)
        .values(label=new)
    )
    return int(changed or 0)


def label_counts(conn: Connection, device_id: int) -> dict[str, dict[str, float]]:
    """Per label: number of runs, their energy (Wh) and the last time it ran, provisional
    runs included (a fridge running now counts now), and how many of them are provisional."""
    c = appliance_runs.c
    rows = conn.execute(select(c.label, c.start_ts, c.end_ts, c.power_w, c.final).where(c.device_id == device_id))
    out: dict[str, dict[str, float]] = {}
    for label, start, end, power, final in rows:
        entry = out.setdefault(label, {"runs": 0, "provisional_runs": 0, "energy_wh": 0.0, "last_ts": 0})
        entry["runs"] += 1
        entry["provisional_runs"] += 0 if final else 1
        entry["energy_wh"] += float(power) * (int(end) - int(start)) / 3_600_000.0
        entry["last_ts"] = max(entry["last_ts"], int(start))
    return out


def appliance_energy(conn: Connection, device_id: int, since: int, until: int) -> dict[str, tuple[int, float]]:
    """Per label: the meter's runs that overlap ``[since, until)`` (provisional ones included, as
    ``label_counts``) and their Wh inside it (a run across a boundary counts its part)."""
    c = appliance_runs.c
    rows = conn.execute(
        select(c.label, c.start_ts, c.end_ts, c.power_w).where(
            c.device_id == device_id, c.start_ts < until, c.end_ts > since
        )
    )
    out: dict[str, tuple[int, float]] = {}
    for label, start, end, power in rows:
        runs, wh = out.get(label, (0, 0.0))
        inside_ms = min(int(end), until) - max(int(start), since)
        out[label] = (runs + 1, wh + float(power) * inside_ms / 3_600_000.0)
    return out
