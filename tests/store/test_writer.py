"""The writer thread: a failed write answers its own caller only, and the next writes still commit."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Connection, text

from wattwise.domain.readings import Reading
from wattwise.runtime import Services
from wattwise.store.devices import create_device
from wattwise.store.readings import write_readings
from wattwise.store.sites import create_site
from wattwise.store.writer import _Task, in_meter_order

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def new_meter(services: Services) -> int:
    with services.engine.begin() as conn:
        site = create_site(conn, f"site-{random.random()}")
        return create_device(conn, site_id=site.id, name="m").device.id


def stored(services: Services, meter: int) -> int:
    with services.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM readings WHERE device_id = :d"), {"d": meter}).scalar_one()
    return int(n)


def readings(meter: int, start: int, count: int) -> list[Reading]:
    return [Reading(device_id=meter, ts=T0 + (start + i) * 1000, power=100.0) for i in range(count)]


def test_a_write_whose_connection_broke_is_refused_and_the_next_one_commits(services: Services) -> None:
    meter = new_meter(services)

    def breaks(conn: Connection) -> None:
        write_readings(conn, meter, readings(meter, 0, 10))
        conn.invalidate()  # as when the database restarts under the writer
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        services.writer.run(breaks)
    written = services.writer.run(lambda c: write_readings(c, meter, readings(meter, 0, 10)))
    assert len(written.stored) == 10
    assert stored(services, meter) == 10


def test_one_callers_failing_write_costs_the_others_nothing(services: Services) -> None:
    meter = new_meter(services)

    def fails(conn: Connection) -> None:
        write_readings(conn, meter, readings(meter, 1000, 5))
        raise ValueError("this caller's own mistake")

    futures = [
        services.writer.post(lambda c, k=k: write_readings(c, meter, readings(meter, k * 10, 10))) for k in range(5)
    ]
    bad = services.writer.post(fails)
    futures += [
        services.writer.post(lambda c, k=k: write_readings(c, meter, readings(meter, k * 10, 10))) for k in range(5, 10)
    ]
    with pytest.raises(ValueError, match="own mistake"):
        bad.result(timeout=30)
    assert [len(f.result(timeout=30).stored) for f in futures] == [10] * 10
    assert stored(services, meter) == 100  # the failing caller's five readings were rolled back


def test_a_writer_stores_the_meters_of_a_group_in_one_order_so_two_writers_never_deadlock() -> None:
    """Each meter's batches keep their order; other work keeps its place."""
    done: list[str] = []

    def task(name: str, meter: int | None) -> _Task:
        return _Task(lambda _conn: done.append(name), meter=meter)

    group = [
        task("m5 first", 5),
        task("bookkeeping", None),
        task("m2 first", 2),
        task("m5 second", 5),
        task("m2 second", 2),
    ]
    for t in in_meter_order(group):
        t.work(None)  # type: ignore[arg-type]
    assert done == ["m2 first", "bookkeeping", "m2 second", "m5 first", "m5 second"]
