"""Prometheus scrapes /metrics with a personal token and sees only the meters its owner may see."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import World, bus_subscribers
from wattwise.detectors import Detectors


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels["device_id"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "device_id" in sample.labels  # the meters' (the process's own have no meter)
    }


def test_metrics_carry_live_values_and_energy_in_joules(world: World) -> None:
    world.ingest(
        [
            {
                "ts": 1_764_000_000_000,
                "voltage": 229.5,
                "current": 4.35,
                "power": 1000.0,
                "energy": 5000.0,
                "frequency": 50.02,
                "pf": 0.99,
            },
            {
                "ts": 1_764_000_060_000,
                "voltage": 230.5,
                "current": 8.7,
                "power": 2000.0,
                "energy": 5030.0,
                "frequency": 49.98,
                "pf": 0.97,
            },
        ]
    )
    response = world.client.get("/metrics", headers=world.auth())
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    meter = str(world.meter_a)
    assert got[("wattwise_power_watts", meter)] == 2000.0
    assert got[("wattwise_voltage_volts", meter)] == 230.5
    assert got[("wattwise_power_factor_ratio", meter)] == 0.97
    assert got[("wattwise_last_reading_timestamp_seconds", meter)] == 1_764_000_060
    assert got[("wattwise_energy_joules_total", meter)] == 30 * 3600  # 30 Wh from the counter


def test_metrics_need_a_token_and_hide_other_sites(world: World) -> None:
    assert world.client.get("/metrics").status_code == 401
    world.ingest({"power": 5.0}, key=world.key_b)
    seen = {
        device for _name, device in samples(world.client.get("/metrics", headers=world.auth(world.viewer_token)).text)
    }
    assert str(world.meter_b) not in seen


def process_samples(world: World) -> dict[str, float]:
    """The answering process's own figures (no labels) from /metrics."""
    text = world.client.get("/metrics", headers=world.auth()).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_metrics_say_whether_this_process_runs_the_detectors_and_alert_engine(world: World) -> None:
    # one process on SQLite: it leads; no bus link; nothing the database aborted was run again;
    # its detectors have nothing waiting
    assert process_samples(world) == {
        "wattwise_leader": 1.0,
        "wattwise_writer_retries_total": 0.0,
        "wattwise_detector_backlog_readings": 0.0,
        "wattwise_detector_lag_seconds": 0.0,
        "wattwise_detector_readings_processed_total": 0.0,
        "wattwise_detector_spilled_readings": 0.0,
        "wattwise_detector_readings_reread_total": 0.0,
    }


@pytest.mark.parametrize("limit", [None, 3])
def test_metrics_show_readings_waiting_for_busy_detectors_and_how_long(
    world: World, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    """With ``limit`` (``WATTWISE_DETECTOR_BACKLOG_MAX``) 3, the two readings past it wait in the store."""
    detectors = world.client.app.state.consumers.detectors  # type: ignore[attr-defined]
    assert isinstance(detectors, Detectors)
    monkeypatch.setattr(detectors.progress, "limit", limit)
    past = 0 if limit is None else 2
    busy, release = threading.Event(), threading.Event()
    handle = detectors._handle

    def slow(item: tuple[Any, ...]) -> None:  # one detector step that takes long (a slow fit, a busy disk)
        if item[0] == "readings":
            busy.set()
            release.wait(30)
        handle(item)

    monkeypatch.setattr(detectors, "_handle", slow)
    t0 = 1_764_000_000_000
    world.ingest([{"ts": t0 + i * 10_000, "power": 100.0 + i} for i in range(3)])
    assert busy.wait(30)
    world.ingest([{"ts": t0 + i * 10_000, "power": 100.0 + i} for i in range(3, 5)])
    stuck = process_samples(world)
    later = process_samples(world)
    # the batch being worked on and the one behind it wait; the oldest has waited longer at each scrape
    assert stuck["wattwise_detector_backlog_readings"] == 5
    assert 0 < stuck["wattwise_detector_lag_seconds"] < later["wattwise_detector_lag_seconds"]
    assert stuck["wattwise_detector_readings_processed_total"] == 0
    assert stuck["wattwise_detector_spilled_readings"] == past
    release.set()
    detectors.flush()
    caught_up = process_samples(world)
    assert caught_up["wattwise_detector_backlog_readings"] == 0
    assert caught_up["wattwise_detector_lag_seconds"] == 0
    assert caught_up["wattwise_detector_readings_processed_total"] == 5
    assert caught_up["wattwise_detector_spilled_readings"] == 0
    assert caught_up["wattwise_detector_readings_reread_total"] == past


def subscribers(world: World) -> dict[str, float]:
    return bus_subscribers(world.client.get("/metrics", headers=world.auth()).text)


def test_metrics_count_the_subscriptions_to_the_bus_by_topic(world: World) -> None:
    """A dashboard tab's live sections each hold one while the tab is open: a count that keeps
    growing while tabs come and go is a leak."""
    before = subscribers(world)
    bus = world.services.bus
    tab = [bus.subscribe("readings"), bus.subscribe("readings"), bus.subscribe("findings")]
    during = subscribers(world)
    assert during["readings"] == before.get("readings", 0) + 2
    assert during["findings"] == before.get("findings", 0) + 1
    for subscription in tab:
        bus.unsubscribe(subscription)
    assert subscribers(world) == before
