"""Readings older than the raw retention are refused with the reason, the rest are stored."""

from __future__ import annotations

from pathlib import Path

from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

DAY = 86_400_000


def test_a_reading_older_than_raw_retention_is_refused_by_name(tmp_path: Path) -> None:
    services = start_services(Settings(data_dir=tmp_path, raw_retention_days=2))
    try:
        with services.engine.begin() as conn:
            meter = create_device(conn, site_id=create_site(conn, "home").id, name="m").device.id
        now = now_ms()
        result = services.pipeline.ingest_blocking(
            meter, [{"ts": now - 3 * DAY, "power": 100.0}, {"ts": now - DAY, "power": 100.0}]
        )
    finally:
        services.close()
    assert result.accepted == 1
    assert [r.index for r in result.rejected] == [0]
    assert "retention" in result.rejected[0].errors[0]
