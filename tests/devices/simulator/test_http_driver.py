"""Simulated meters deliver over HTTP like a careful device: batches, retries, clear failures."""

from __future__ import annotations

import socket

import pytest

from wattwise.devices.simulator.delivery import DeliveryError, DeliveryUnavailable, MeterIdentity
from wattwise.devices.simulator.http_driver import HttpSender
from wattwise.devices.simulator.runner import RunPlan, run

DAY_MS = 86_400_000
MONDAY_MS = 1_763_942_400_000

METER = MeterIdentity(index=0, device_id="1", key="key-1")


def _rows(n: int) -> list[dict[str, float | int]]:
    return [{"ts": MONDAY_MS + i * 1000, "voltage": 230.0, "power": 10.0} for i in range(n)]


async def test_history_is_sent_in_batches_each_within_the_limit(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    sender = HttpSender(receiver.url, max_batch=500, sleep=no_wait[1])
    plan = RunPlan(
        meters=(METER,), interval_ms=60_000, start_ms=MONDAY_MS + DAY_MS, backfill_ms=DAY_MS, count=0, batch=500
    )
    summary = await run(plan, sender)
    await sender.aclose()

    stored = receiver.readings["key-1"]
    assert len(stored) == 1440 == summary.result.accepted == summary.backfilled
    assert sorted(stored) == [MONDAY_MS + (i + 1) * 60_000 for i in range(1440)]
    assert max(size for _, size in receiver.requests) <= 500
    assert {key for key, _ in receiver.requests} == {"key-1"}


async def test_a_busy_server_is_retried_with_growing_back_off(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    delays, sleep = no_wait
    receiver.script = [503, 503, 500]
    sender = HttpSender(receiver.url, sleep=sleep, backoff_s=0.5)
    result = await sender.send(METER, _rows(10))
    await sender.aclose()
    assert result.accepted == 10
    assert delays == [0.5, 1.0, 2.0]
    assert len(receiver.readings["key-1"]) == 10


async def test_a_retried_batch_is_counted_as_duplicates_not_stored_twice(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    sender = HttpSender(receiver.url, sleep=no_wait[1])
    await sender.send(METER, _rows(5))
    again = await sender.send(METER, _rows(5))
    await sender.aclose()
    assert (again.accepted, again.duplicates) == (0, 5)
    assert len(receiver.readings["key-1"]) == 5


async def test_a_wrong_key_stops_with_a_message_naming_the_meter(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    sender = HttpSender(receiver.url, sleep=no_wait[1])
    stranger = MeterIdentity(index=3, device_id="42", key="not-a-key")
    with pytest.raises(DeliveryError, match=r"meter 42 \(401 Unauthorized\)"):
        await sender.send(stranger, _rows(3))
    await sender.aclose()
    assert len(receiver.requests) == 1  # a bad key is not retried


async def test_too_large_batches_are_halved_until_the_server_takes_them(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    receiver.max_items = 300
    sender = HttpSender(receiver.url, max_batch=2000, sleep=no_wait[1])
    result = await sender.send(METER, _rows(2000))
    await sender.aclose()
    assert result.accepted == 2000
    assert len(receiver.readings["key-1"]) == 2000
    assert sender.max_batch <= 300  # later batches start at the size that worked


async def test_readings_the_server_cannot_use_stop_the_run_with_its_reasons(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    receiver.reject_all = True
    sender = HttpSender(receiver.url, sleep=no_wait[1])
    with pytest.raises(DeliveryError, match=r"422.*reading 0: voltage: missing"):
        await sender.send(METER, _rows(2))
    await sender.aclose()


async def test_an_unreachable_server_is_reported_after_the_last_attempt(no_wait) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    delays, sleep = no_wait
    sender = HttpSender(f"http://127.0.0.1:{port}", attempts=3, sleep=sleep)
    with pytest.raises(DeliveryUnavailable, match="after 3 attempts"):
        await sender.send(METER, _rows(1))
    await sender.aclose()
    assert len(delays) == 2


async def test_live_readings_missed_during_an_outage_are_sent_when_it_ends(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    receiver.script = [503] * 4  # the first two ticks fail (two attempts each)
    sender = HttpSender(receiver.url, attempts=2, sleep=no_wait[1])
    plan = RunPlan(meters=(METER,), interval_ms=2000, start_ms=MONDAY_MS, count=5, speed=1e6)
    summary = await run(plan, sender, sleep=no_wait[1])
    await sender.aclose()
    assert summary.pending == 0
    assert sorted(receiver.readings["key-1"]) == [MONDAY_MS + 2000 * k for k in range(1, 6)]


async def test_each_meter_is_its_own_household_with_its_own_key(receiver, no_wait) -> None:  # type: ignore[no-untyped-def]
    meters = (METER, MeterIdentity(index=1, device_id="2", key="key-2"))
    sender = HttpSender(receiver.url, sleep=no_wait[1])
    plan = RunPlan(
        meters=meters,
        seed=100,
        interval_ms=10_000,
        start_ms=MONDAY_MS + 3_600_000,
        backfill_ms=3_600_000,
        count=3,
        speed=1e6,
    )
    await run(plan, sender, sleep=no_wait[1])
    await sender.aclose()
    first, second = receiver.readings["key-1"], receiver.readings["key-2"]
    assert len(first) == len(second) == 363
    assert [r["power"] for r in first.values()] != [r["power"] for r in second.values()]
    energies = [first[ts]["energy"] for ts in sorted(first)]
    assert energies == sorted(energies)  # history and live are one continuous counter
