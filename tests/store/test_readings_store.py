"""Storage promises, checked on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import text

from wattwise.config import Settings
from wattwise.domain.readings import Reading
from wattwise.runtime import Services, start_services
from wattwise.store.devices import create_device
from wattwise.store.readings import write_readings
from wattwise.store.retention import Retention, prune
from wattwise.store.series import query_series
from wattwise.store.sites import create_site

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def new_meter(services: Services) -> int:
    with services.engine.begin() as conn:
        site = create_site(conn, f"site-{random.random()}")
        return create_device(conn, site_id=site.id, name="m").device.id


def write(services: Services, device: int, readings: list[Reading]) -> tuple[int, int]:
    result = services.writer.run(lambda c: write_readings(c, device, readings))
    services.writer.flush()  # rollups follow commits within a second; tests need them now
    return len(result.stored), result.duplicates


def total_wh(services: Services, device: int, table: str = "readings") -> float:
    with services.engine.connect() as conn:
        value = conn.execute(
            text(f"SELECT coalesce(sum(wh), 0) FROM {table} WHERE device_id = :d"), {"d": device}
        ).scalar_one()
    return float(value)


def test_a_retry_is_a_duplicate_never_a_second_row(services: Services) -> None:
    meter = new_meter(services)
    batch = [Reading(device_id=meter, ts=T0 + i * 1000, power=100.0 + i) for i in range(50)]
    assert write(services, meter, batch) == (50, 0)
    assert write(services, meter, batch[10:20] + batch[10:11]) == (0, 11)
    with services.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM readings WHERE device_id=:d"), {"d": meter}).scalar()
    assert n == 50


def test_series_is_identical_from_raw_and_every_rollup_tier(services: Services) -> None:
    meter = new_meter(services)
    rng = random.Random(7)
    readings = [
        Reading(
            device_id=meter,
            ts=T0 + i * 2000 + rng.randrange(0, 1500),
            voltage=230 + rng.gauss(0, 2),
            power=rng.uniform(0, 3000),
            frequency=50 + rng.gauss(0, 0.05),
        )
        for i in range(3 * 86400 // 2)  # three days of 2-second readings
    ]
    for i in range(0, len(readings), 5000):
        write(services, meter, readings[i : i + 5000])
    start, end = T0 + 3_600_000 + 17_000, T0 + 2 * 86_400_000 + 5_000
    with services.engine.connect() as conn:
        answers = {
            tier: query_series(conn, meter, metric="power", start=start, end=end, points=40, tier=tier)
            for tier in ("raw", "1m", "1h")
        }
        auto = query_series(conn, meter, metric="power", start=start, end=end, points=40)
        daily = {
            tier: query_series(conn, meter, metric="voltage", start=T0, end=T0 + 3 * 86_400_000, points=3, tier=tier)
            for tier in ("raw", "1m", "1h", "1d")
        }
    assert auto.tier == "1h" and len(auto.ts) <= 40
    raw = answers["raw"]
    for other in [*list(answers.values()), auto]:
        assert other.ts == raw.ts and other.count == raw.count
        assert other.min == raw.min and other.max == raw.max
        assert other.mean == pytest.approx(raw.mean, rel=1e-12)
    for other in daily.values():
        assert other.count == daily["raw"].count == [43200, 43200, 43200]
        assert other.mean == pytest.approx(daily["raw"].mean, rel=1e-12)


def test_late_and_backfilled_readings_land_in_the_right_rollups(services: Services) -> None:
    meter = new_meter(services)
    live = [Reading(device_id=meter, ts=T0 + 7_200_000 + i * 1000, power=500.0, energy=1000.0 + i) for i in range(60)]
    backfill = [Reading(device_id=meter, ts=T0 + i * 60_000, power=200.0, energy=float(i)) for i in range(60)]
    write(services, meter, live)
    write(services, meter, backfill)
    with services.engine.connect() as conn:
        hours = query_series(conn, meter, metric="power", start=T0, end=T0 + 3 * 3_600_000, points=3, tier="1h")
    assert hours.ts == [T0, T0 + 7_200_000]
    assert hours.count == [60, 60] and hours.mean == [200.0, 500.0]
    assert total_wh(services, meter, "rollup_1d") == pytest.approx(total_wh(services, meter))


def test_energy_from_the_counter_survives_reset_and_rollover(services: Services) -> None:
    meter = new_meter(services)
    # 1 Wh per 10 s at 360 W; the counter rolls over at 10 MWh, later the meter is reset
    counter = [9_999_990.0 + i for i in range(10)]  # ... 9_999_999
    counter += [float(i) for i in range(0, 10)]  # rollover: 0, 1, ... (one step of 1 Wh)
    counter += [float(i) for i in range(0, 10)]  # reset to 0 by the user: 0 counts since reset
    readings = [Reading(device_id=meter, ts=T0 + i * 10_000, power=360.0, energy=c) for i, c in enumerate(counter)]
    write(services, meter, readings)
    # 9 steps + rollover step 1 + 9 steps + reset step (0 Wh shown since reset) + 9 steps = 28 Wh
    assert total_wh(services, meter) == pytest.approx(28.0)
    assert total_wh(services, meter, "rollup_1h") == pytest.approx(28.0)


def test_a_late_reading_between_two_stored_ones_splits_their_energy(services: Services) -> None:
    meter = new_meter(services)
    write(
        services,
        meter,
        [
            Reading(device_id=meter, ts=T0, power=0.0, energy=100.0),
            Reading(device_id=meter, ts=T0 + 120_000, power=0.0, energy=110.0),
        ],
    )
    write(services, meter, [Reading(device_id=meter, ts=T0 + 60_000, power=0.0, energy=104.0)])
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT ts, wh FROM readings WHERE device_id=:d ORDER BY ts"), {"d": meter}).all()
        minutes = conn.execute(text("SELECT ts, wh FROM rollup_1m WHERE device_id=:d ORDER BY ts"), {"d": meter}).all()
    assert [r.wh for r in rows] == [0.0, 4.0, 6.0]
    assert [m.wh for m in minutes] == [0.0, 4.0, 6.0]


def test_rollups_behind_at_a_crash_are_caught_up_at_the_next_start(database_url: str, tmp_path: Path) -> None:
    from wattwise.store.writer import Writer

    first = start_services(Settings(database=database_url, data_dir=tmp_path))
    meter = new_meter(first)
    first.writer.close()
    no_maintenance = Writer(first.engine)  # as if the process died before its rollup refresh
    no_maintenance.run(
        lambda c: write_readings(c, meter, [Reading(device_id=meter, ts=T0 + i * 1000, power=60.0) for i in range(120)])
    )
    no_maintenance.close()
    assert total_rows(first, "rollup_1m", meter) == 0
    first.engine.dispose()
    second = start_services(Settings(database=database_url, data_dir=tmp_path))
    try:
        second.writer.flush()
        assert total_rows(second, "rollup_1m", meter) == 2
    finally:
        second.close()


def test_expired_raw_readings_leave_hourly_history_and_old_ranges_answer_coarser(services: Services) -> None:
    meter = new_meter(services)
    now = T0 + 10 * 86_400_000
    write(services, meter, [Reading(device_id=meter, ts=T0 + i * 10_000, power=100.0) for i in range(8640)])
    retention = Retention(raw_days=2, minute_days=5)
    with services.engine.begin() as conn:
        assert prune(conn, retention, now) == 8640 + 1440
    with services.engine.connect() as conn:
        day = query_series(
            conn, meter, metric="power", start=T0, end=T0 + 86_400_000, points=1000, retention=retention.horizons(now)
        )
    assert day.tier == "1h" and len(day.ts) == 24 and day.count == [360] * 24


def total_rows(services: Services, table: str, device: int) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE device_id=:d"), {"d": device}).scalar_one())
