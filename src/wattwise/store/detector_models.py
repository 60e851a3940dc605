"""Fitted models and learned state of the detectors, one row per (meter, kind).

Kept in the database rather than in files so that every worker process and a restart
find the same model; the bytes are whatever the detector of that kind wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from wattwise.store.clock import now_ms
from wattwise.store.findings_schema import detector_models


@dataclass(frozen=True, slots=True)
class StoredModel:
    device_id: int
    kind: str
    data: bytes
    trained_until: int | None
    rows: int | None
    updated_ms: int


def save_model(
    conn: Connection,
    device_id: int,
    kind: str,
    data: bytes,
    *,
    trained_until: int | None = None,
    rows: int | None = None,
) -> None:
    """Replace the meter's model of this kind."""
    conn.execute(
        delete(detector_models).where(detector_models.c.device_id == device_id, detector_models.c.kind == kind)
    )
    conn.execute(
        insert(detector_models).values(
            device_id=device_id, kind=kind, data=data, trained_until=trained_until, rows=rows, updated_ms=now_ms()
        )
    )


def load_model(conn: Connection, device_id: int, kind: str) -> StoredModel | None:
    row = conn.execute(
        select(detector_models).where(detector_models.c.device_id == device_id, detector_models.c.kind == kind)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return StoredModel(
        device_id=int(m["device_id"]),
        kind=str(m["kind"]),
        data=bytes(m["data"]),
        trained_until=m["trained_until"],
        rows=m["rows"],
        updated_ms=int(m["updated_ms"]),
    )


def replace_data(conn: Connection, device_id: int, kind: str, data: bytes) -> None:
    """New bytes for an existing model (its learned state moved on), keeping when it was trained."""
    conn.execute(
        update(detector_models)
        .where(detector_models.c.device_id == device_id, detector_models.c.kind == kind)
        .values(data=data, updated_ms=now_ms())
    )


def covered_until(conn: Connection, kind: str) -> dict[int, int]:
    """``trained_until`` of every meter's model of this kind that has one: how far the
    readings it was built from go."""
    rows = conn.execute(
        select(detector_models.c.device_id, detector_models.c.trained_until).where(
            detector_models.c.kind == kind, detector_models.c.trained_until.is_not(None)
        )
    )
    return {int(d): int(t) for d, t in rows}
