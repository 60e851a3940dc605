"""Readings older than the raw retention are refused with the reason, the rest are stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from wattwise.config import Settings
from wattwise.runtime import Services, start_services
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

DAY = 86_400_000


def _two_day_retention(tmp_path: Path) -> tuple[Services, int]:
    """Services keeping two days of raw readings, and a meter."""
    services = start_services(Settings(data_dir=tmp_path, raw_retention_days=2))
    with services.engine.begin() as conn:
        meter = create_device(conn, site_id=create_site(conn, "home").id, name="m").device.id
    return services, meter


def test_a_reading_older_than_raw_retention_is_refused_by_name(tmp_path: Path) -> None:
    services, meter = _two_day_retention(tmp_path)
    try:
        now = now_ms()
        result = services.pipeline.ingest_blocking(
            meter, [{"ts": now - 3 * DAY, "power": 100.0}, {"ts": now - DAY, "power": 100.0}]
        )
    finally:
        services.close()
    assert result.accepted == 1
    assert [r.index for r in result.rejected] == [0]
    assert "retention" in result.rejected[0].errors[0]


def test_a_json_body_that_passes_the_fast_parse_is_still_held_to_the_retention_horizon(tmp_path: Path) -> None:
    services, meter = _two_day_retention(tmp_path)
    try:
        now = now_ms()
        body = orjson.dumps([{"ts": now - 3 * DAY, "power": 100.0}, {"ts": now - DAY, "power": 100.0}])
        result = asyncio.run(services.pipeline.ingest_json(meter, body, orjson.loads, now_ms=now))
        again = orjson.dumps([{"ts": now - DAY, "power": 100.0}])  # plain and recent: the fast path
        fresh = asyncio.run(services.pipeline.ingest_json(meter, again, orjson.loads, now_ms=now))
    finally:
        services.close()
    assert result.accepted == 1
    assert [r.index for r in result.rejected] == [0]
    assert "retention" in result.rejected[0].errors[0]
    assert (fresh.accepted, fresh.duplicates, fresh.rejected) == (0, 1, [])
