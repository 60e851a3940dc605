"""The lead (``wattwise.consumers``): a standby process keeps watching for the lead whatever
the database answers, so that it takes over once the leader is gone."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from support import QuietHandler, http_server
from wattwise.api.routes.metrics import _Process
from wattwise.config import Settings
from wattwise.consumers import Consumers
from wattwise.runtime import Services, start_services
from wattwise.store.alerts import NewAlert, RuleFields, add_alert, add_channel, add_rule
from wattwise.store.clock import now_ms
from wattwise.store.lead import LOCK_KEY, Lead
from wattwise.store.schema import metadata
from wattwise.store.sites import create_site


@pytest.fixture
def pg_services(pg_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = start_services(Settings(database=pg_url, data_dir=tmp_path))
    yield svc
    svc.close()


async def test_a_standby_whose_connection_pool_was_exhausted_still_takes_over(pg_services: Services) -> None:
    """A busy standby's pool may have no connection free for a while (SQLAlchemy's pool
    timeout, not a database error): the watcher must look again, not end."""
    leader = Lead(pg_services.engine)
    assert leader.try_take()
    small = create_engine(pg_services.engine.url, pool_size=2, max_overflow=0, pool_timeout=0.1)
    standby = Consumers(dataclasses.replace(pg_services, engine=small), detectors=False, alerts=True, retry_s=0.05)
    try:
        standby.start()
        assert not standby.running
        busy = [small.connect(), small.connect()]  # the API's requests hold every connection
        await asyncio.sleep(0.5)  # the watcher looked several times and found none free
        for conn in busy:
            conn.close()
        leader.release()  # the leader stops
        for _ in range(200):
            if standby.running:
                break
            await asyncio.sleep(0.05)
        assert standby.running, "the standby never took the lead"
    finally:
        standby.stop()
        leader.release()
        small.dispose()


async def test_a_process_that_would_lead_with_half_of_the_work_says_the_other_half_runs_nowhere(
    pg_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """One lock elects one process for both: started with --no-alerts, it may take the lead
    and then no process runs the alert engine. Said at start, not found out from a silence."""
    leader = Lead(pg_services.engine)
    assert leader.try_take()  # another process leads: this one must not attach anything here
    consumers = Consumers(pg_services, detectors=True, alerts=False, retry_s=60)
    try:
        consumers.start()
    finally:
        consumers.stop()
        leader.release()
    said = [r.getMessage() for r in caplog.records if r.name == "wattwise.consumers"]
    assert said[0] == (
        "this process may lead with the detectors only: while it leads, no process runs the alert engine; "
        "start every server process with both or with neither (docs/scale.md)"
    )


@contextmanager
def slow_webhook(answer_after_s: float) -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A webhook that takes ``answer_after_s`` to answer: its URL, set once asked, set once answered."""
    asked, answered = threading.Event(), threading.Event()

    class Slow(QuietHandler):
        def do_POST(self) -> None:
            self.body()
            asked.set()
            time.sleep(answer_after_s)
            self.send_response(204)
            self.end_headers()
            answered.set()

    with http_server(Slow) as base:
        yield f"{base}/hook", asked, answered


async def test_a_leader_losing_the_lead_keeps_answering_while_its_engine_finishes_a_notice(
    pg_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the lost lead's alert engine waits for the notice on its way (and the detectors
    for their fits): that wait must not hold the process's event loop, which answers every
    request, the live channel and MQTT."""
    with pg_services.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY CASCADE"))
    with slow_webhook(answer_after_s=2.0) as (url, asked, answered):
        with pg_services.engine.begin() as conn:
            site = create_site(conn, "Home")
            channel = add_channel(conn, site.id, "hook", "webhook", {"url": url})
            params = {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}
            rule = add_rule(
                conn,
                RuleFields(
                    site_id=site.id,
                    device_id=None,
                    name="over",
                    kind="threshold",
                    params=params,
                    channel_ids=[channel.id],
                ),
                by="test",
            )
            # stored, not yet notified (the last leader stopped first): the engine sends it on attach
            add_alert(
                conn,
                NewAlert(
                    rule_id=rule.id,
                    site_id=site.id,
                    device_id=None,
                    kind="threshold",
                    started_ts=now_ms(),
                    value=2500.0,
                    message="Power above 2 kW",
                ),
            )
        consumers = Consumers(pg_services, detectors=False, alerts=True, retry_s=0.05).start()
        try:
            assert consumers.running
            while not asked.is_set():
                await asyncio.sleep(0.02)
            with pg_services.engine.connect() as conn:  # the lock's connection dies
                conn.execute(
                    # this database's lock only: other tests' processes hold the same key in theirs
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"
                        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ),
                    {"k": LOCK_KEY},
                )
            while not any("lost the lead" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.02)  # the loop runs: it is not held by the stopping engine
            assert not answered.is_set(), "the event loop was held until the notice was answered"
        finally:
            consumers.stop()


async def test_a_process_whose_detector_settings_differ_from_the_leaders_says_which(
    pg_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Two processes on one PostgreSQL, the second with 5-min energy-balance intervals: it says
    so at start, names the setting on /metrics, and says it again when it takes over."""
    leader = Consumers(pg_services, detectors=True, alerts=True, retry_s=60).start()
    five_min = Settings(database=pg_services.settings.database, detector_balance_interval_ms=300_000)
    other = Consumers(dataclasses.replace(pg_services, settings=five_min), detectors=True, alerts=True, retry_s=0.05)
    try:
        assert leader.running and leader.settings_differing() == []
        other.start()
        assert not other.running
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warned) == 1 and warned[0].startswith("this process's detector settings differ from the leading")
        assert "WATTWISE_DETECTOR_BALANCE_INTERVAL_MS here 300000, there 900000" in warned[0]
        assert "WATTWISE_DETECTOR_BALANCE_LEARN_INTERVALS" not in warned[0]  # only what differs
        assert [(d.name, d.here, d.leader) for d in other.settings_differing()] == [
            ("WATTWISE_DETECTOR_BALANCE_INTERVAL_MS", "300000", "900000")
        ]
        scraped = {
            (m.name, s.labels.get("setting")): s.value
            for m in _Process(other, None, 0, {}).collect()
            for s in m.samples
            if m.name == "wattwise_detector_settings_differ"
        }
        assert scraped == {("wattwise_detector_settings_differ", "WATTWISE_DETECTOR_BALANCE_INTERVAL_MS"): 1.0}

        caplog.clear()
        leader.stop()
        for _ in range(200):
            if other.running:
                break
            await asyncio.sleep(0.05)
        assert other.running, "the standby never took the lead"
        took = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(took) == 1 and took[0].startswith("this process takes the lead with detector settings that differ")
        assert "WATTWISE_DETECTOR_BALANCE_INTERVAL_MS here 300000, there 900000" in took[0]
        assert other.settings_differing() == []  # what it runs with is now what the leader recorded
    finally:
        other.stop()
        leader.stop()
