"""The lead (``wattwise.consumers``): a standby process keeps watching for the lead whatever
the database answers, so that it takes over once the leader is gone."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from wattwise.config import Settings
from wattwise.consumers import Consumers
from wattwise.runtime import Services, start_services
from wattwise.store.lead import Lead


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
