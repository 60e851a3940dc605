"""A period's peak, voltage range, reading count and longest silence as the site report reads
them: the same answers as reading every raw reading, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from itertools import pairwise
from typing import NamedTuple

from sqlalchemy import text

from store.test_readings_store import T0, new_meter, write
from wattwise.domain.readings import Reading
from wattwise.runtime import Services
from wattwise.store.series import extreme, longest_silence, reading_count

HOUR, MINUTE = 3_600_000, 60_000


def readings_every_10s(meter: int, silences: list[tuple[int, int]]) -> list[Reading]:
    """Three hours of readings 10 s apart (jittered), none strictly inside the silences."""
    rng = random.Random(3)
    out = []
    for i in range(3 * 360):
        ts = T0 + i * 10_000 + rng.randrange(0, 4000)
        if any(lo < ts < hi for lo, hi in silences):
            continue
        out.append(Reading(device_id=meter, ts=ts, power=rng.uniform(100, 900), voltage=rng.uniform(225, 235)))
    return out


class Truth(NamedTuple):
    peak: tuple[float, int] | None
    low: tuple[float, int] | None
    count: int
    silence: tuple[int, int]


def raw_truth(services: Services, meter: int, lo: int, hi: int) -> Truth:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ts, power, voltage FROM readings WHERE device_id = :d AND ts >= :lo AND ts < :hi ORDER BY ts"),
            {"d": meter, "lo": lo, "hi": hi},
        ).all()
    stamps = [lo, *(r.ts for r in rows), hi]
    gaps = sorted(((b - a, -a, a, b) for a, b in pairwise(stamps)), reverse=True)
    peak = max(rows, key=lambda r: (r.power, -r.ts), default=None)
    low = min(rows, key=lambda r: (r.voltage, r.ts), default=None)
    return Truth(
        None if peak is None else (peak.power, peak.ts),
        None if low is None else (low.voltage, low.ts),
        len(rows),
        (gaps[0][2], gaps[0][3]),
    )


def test_extremes_count_and_silence_agree_with_a_scan_of_every_reading(services: Services) -> None:
    meter = new_meter(services)
    # silent 6½ minutes mid-hour, and 4 minutes later on (the longer one wins)
    silences = [
        (T0 + HOUR + 3 * MINUTE + 20_000, T0 + HOUR + 9 * MINUTE + 50_000),
        (T0 + 2 * HOUR, T0 + 2 * HOUR + 4 * MINUTE),
    ]
    readings = readings_every_10s(meter, silences)
    spike = Reading(device_id=meter, ts=T0 + HOUR + 30 * MINUTE + 7_001, power=4321.0, voltage=207.0)
    write(services, meter, [*readings, spike])
    # periods that start and end inside hours (read raw there) and cover whole hours (rollups)
    for lo, hi in (
        (T0, T0 + 3 * HOUR),
        (T0 + 17 * MINUTE, T0 + 2 * HOUR + 1234),
        (T0 + HOUR + 5 * MINUTE, T0 + HOUR + 8 * MINUTE),
        (T0 + 5 * MINUTE, T0 + HOUR - 3333),  # never silent for a minute: every reading is read
    ):
        truth = raw_truth(services, meter, lo, hi)
        with services.engine.connect() as conn:
            assert extreme(conn, meter, "power", lo, hi, highest=True) == truth.peak
            assert extreme(conn, meter, "voltage", lo, hi, highest=False) == truth.low
            assert reading_count(conn, meter, lo, hi) == truth.count
            assert longest_silence(conn, meter, lo, hi) == (*truth.silence, True), (lo, hi)
    with services.engine.connect() as conn:
        assert extreme(conn, meter, "power", T0 + HOUR + 30 * MINUTE, T0 + 2 * HOUR, highest=True) == (4321.0, spike.ts)
        found = longest_silence(conn, meter, T0, T0 + 3 * HOUR, scan_at_most=10)  # the minutes tell: exact anyway
        # never silent for 3 minutes: past scan_at_most readings, placed to the minute instead of read one by one
        quiet = (T0 + 5 * MINUTE, T0 + HOUR - 3333)
        truth = raw_truth(services, meter, *quiet).silence
        bound = longest_silence(conn, meter, *quiet, scan_at_most=100)
        assert longest_silence(conn, meter, *quiet, scan_at_most=1000) == (*truth, True)
    assert silences[0][0] - 10_000 < found[0] <= silences[0][0] and silences[0][1] <= found[1] < silences[0][1] + 10_000
    assert found[2] is True
    assert bound[2] is False and bound[0] % MINUTE == 0 and bound[1] % MINUTE == 0
    assert truth[1] - truth[0] <= bound[1] - bound[0] <= 3 * MINUTE


def test_a_meter_without_readings_is_silent_all_period_and_has_no_extremes(services: Services) -> None:
    meter = new_meter(services)
    with services.engine.connect() as conn:
        assert longest_silence(conn, meter, T0, T0 + HOUR) == (T0, T0 + HOUR, True)
        assert extreme(conn, meter, "power", T0, T0 + HOUR, highest=True) is None
        assert reading_count(conn, meter, T0, T0 + HOUR) == 0
