"""What the detectors read back from the store: a meter's history, its size, energy per interval,
and the readings they were not handed while behind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Row, text

from wattwise.domain.readings import METRICS, Reading


def _rows(conn: Connection, device_id: int, start: int, end: int | None, limit: int | None = None) -> list[Row[Any]]:
    """``ts`` and every metric of the meter's raw readings with ``start <= ts`` (and ``ts < end``), oldest first."""
    sql = f"SELECT ts, {', '.join(METRICS)} FROM readings WHERE device_id = :d AND ts >= :s"
    params: dict[str, int] = {"d": device_id, "s": start}
    if end is not None:
        sql += " AND ts < :e"
        params["e"] = end
    sql += " ORDER BY ts"
    if limit is not None:
        sql += " LIMIT :n"
        params["n"] = limit
    return list(conn.execute(text(sql), params).all())


def history_frame(conn: Connection, device_id: int, start: int, end: int | None = None) -> pd.DataFrame:
    """The meter's raw readings with ``start <= ts`` (and ``ts < end``), oldest first.

    Columns ``ts`` and every metric (NaN where not measured), as the analysis engines take them.
    """
    rows = _rows(conn, device_id, start, end)
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["ts", *METRICS])
    frame["ts"] = frame["ts"].astype("int64")
    for m in METRICS:
        frame[m] = pd.to_numeric(frame[m], errors="coerce").astype("float64")
    return frame


def readings_between(conn: Connection, device_id: int, start: int, end: int, *, limit: int) -> list[Reading]:
    """The first ``limit`` of the meter's raw readings with ``start <= ts < end``, oldest first,
    as the bus carried them (``None`` where not measured): the detectors read back with it
    the readings they were not handed while behind (``detectors.progress``)."""
    return [
        Reading(device_id=device_id, ts=int(row[0]), **dict(zip(METRICS, (_value(v) for v in row[1:]), strict=True)))
        for row in _rows(conn, device_id, start, end, limit)
    ]


def _value(value: Any) -> float | None:
    return None if value is None else float(value)


def history_extent(conn: Connection, device_id: int, since: int = 0) -> tuple[int, int | None, int | None]:
    """(row count, first ts, last ts) of the meter's raw readings from ``since`` on."""
    row = conn.execute(
        text("SELECT count(*), min(ts), max(ts) FROM readings WHERE device_id = :d AND ts >= :s"),
        {"d": device_id, "s": since},
    ).one()
    return int(row[0]), (None if row[1] is None else int(row[1])), (None if row[2] is None else int(row[2]))


def energy_by_interval(
    conn: Connection, device_ids: Sequence[int], start: int, end: int, width_ms: int
) -> dict[int, dict[int, float]]:
    """Wh per meter per interval ``[k·width, (k+1)·width)`` for intervals in ``[start, end)``.

    Each reading's ``wh`` is the energy since the meter's previous reading, so it belongs to
    the interval of its own timestamp.
    """
    if not device_ids:
        return {}
    ids = ", ".join(str(int(d)) for d in device_ids)
    rows = conn.execute(
        text(
            f"SELECT device_id, (ts / :w) * :w AS bucket, SUM(wh) FROM readings"
            f" WHERE device_id IN ({ids}) AND ts >= :s AND ts < :e GROUP BY device_id, bucket"
        ),
        {"w": width_ms, "s": start, "e": end},
    )
    out: dict[int, dict[int, float]] = {int(d): {} for d in device_ids}
    for device_id, bucket, wh in rows:
        out[int(device_id)][int(bucket)] = float(wh or 0.0)
    return out
