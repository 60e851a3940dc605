"""`wattwise serve` processes on one PostgreSQL, joined with --link, behave as one server.

The layout of docs/scale.md: every process started the same way. One leads (runs the
detectors and the alert engine), the others stand by; a meter may post to any of them, a rule
saved through any fires in the leader, each live channel shows what the others stored or
raised, and when the leader stops or loses its database another takes over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from support import cli_process, free_port, mosquitto, own_database, wait_until
from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.lead import LOCK_KEY
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own: two server processes and the test share it."""
    with own_database("wattwise_link") as url:
        yield url


LEADS = "this process runs the detectors and alert engine"
STANDS_BY = "this one stands by"


@dataclass
class Installation:
    database: str
    folder: Path
    broker: int
    site: int
    meter: int
    meter_key: str
    auth: dict[str, str]
    token: str


@pytest.fixture
def installation(database: str, tmp_path: Path) -> Iterator[Installation]:
    """A hostel with one meter and an administrator, its database, and a private broker."""
    svc = start_services(Settings(database=database, data_dir=tmp_path))
    with svc.engine.begin() as conn:
        site = create_site(conn, "Hostel")
        meter = create_device(conn, site_id=site.id, name="main")
        admin = create_user(conn, "admin", "admin-password", is_admin=True)
        token = create_token(conn, admin.id, "tests")
    svc.close()
    with mosquitto(tmp_path) as broker:
        auth = {"Authorization": f"Bearer {token}"}
        yield Installation(database, tmp_path, broker, site.id, meter.device.id, meter.key, auth, token)


@dataclass
class Server:
    url: str
    printed: list[str]

    def said(self, words: str) -> bool:
        return any(words in line for line in self.printed)

    def live(self, token: str) -> str:
        return f"{self.url.replace('http', 'ws')}/api/v1/live?token={token}"


@contextmanager
def server(world: Installation, name: str, *flags: str) -> Iterator[Server]:
    """``wattwise serve --link`` until the block ends; yields it once started and answering."""
    port = free_port()
    args = ["--database", world.database, "--data-dir", str(world.folder / name), "serve", "--port", str(port)]
    args += ["--link", f"127.0.0.1:{world.broker}", *flags]

    def started(lines: list[str]) -> bool:
        text = "".join(lines)
        return "bus link: joined" in text and "Application startup complete" in text

    # the standby looks for the lead 5 times a second
    with cli_process(args, started, timeout=60, env={"WATTWISE_LEAD_RETRY_S": "0.2"}) as printed:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/openapi.json").status_code == 200)
        yield Server(url, printed)


def next_of(ws: ClientConnection, kind: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The data of the next live message of ``kind`` (others are passed over)."""
    deadline = time.time() + timeout
    while (left := deadline - time.time()) > 0:
        message = orjson.loads(ws.recv(timeout=left))
        if message["type"] == kind:
            return message["data"]  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} message within {timeout} s")


def save_rule(world: Installation, through: Server, trigger_w: float) -> int:
    rule = {
        "site_id": world.site,
        "device_id": world.meter,
        "name": f"Main above {trigger_w:g} W",
        "kind": "threshold",
        "params": {"quantity": "power", "direction": "above", "trigger": trigger_w},
    }
    saved = httpx.post(f"{through.url}/api/v1/alert-rules", json=rule, headers=world.auth)
    assert saved.status_code == 201, saved.text
    return int(saved.json()["id"])


def post_readings(world: Installation, to: Server, watts: list[float]) -> None:
    t = now_ms() - 10_000
    readings = [{"ts": t + i * 1000, "power": w, "voltage": 230.0} for i, w in enumerate(watts)]
    answer = httpx.post(
        f"{to.url}/api/v1/ingest", json=readings, headers={"Authorization": f"Bearer {world.meter_key}"}
    )
    assert answer.json()["accepted"] == len(watts), answer.text


def test_linked_server_processes_act_as_one(installation: Installation) -> None:
    world = installation
    with ExitStack() as stack:
        leader = stack.enter_context(server(world, "first"))
        standby = stack.enter_context(server(world, "second"))
        assert leader.said(LEADS) and not leader.said(STANDS_BY)
        assert standby.said(STANDS_BY) and not standby.said(LEADS)
        live_leader = stack.enter_context(connect(leader.live(world.token)))
        live_standby = stack.enter_context(connect(standby.live(world.token)))

        rule = save_rule(world, standby, 2000)
        post_readings(world, standby, [450.0, 2600.0, 2700.0])

        # stored by the standby, shown live by the leader's
        assert [r["power"] for r in next_of(live_leader, "readings")] == [450.0, 2600.0, 2700.0]
        # raised by the leader's alert engine on a rule saved through the standby
        (raised,) = next_of(live_standby, "alerts")
        assert raised["rule_id"] == rule and raised["status"] == "open"
        assert raised["message"].startswith("main (Hostel): Power above 2000 W")
        (listed,) = httpx.get(f"{standby.url}/api/v1/alerts", headers=world.auth).json()
        assert listed["id"] == raised["id"]

        # what each process does, as Prometheus sees it
        leading, standing = process_metrics(leader, world), process_metrics(standby, world)
    assert leading["wattwise_leader"] == 1 and standing["wattwise_leader"] == 0
    assert standing["wattwise_bus_link_sent_total"] >= 2  # the rule change and the readings
    assert leading["wattwise_bus_link_received_total"] >= 2
    assert leading["wattwise_bus_link_missed_total"] == standing["wattwise_bus_link_missed_total"] == 0


def process_metrics(server: Server, world: Installation) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", headers=world.auth).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(("wattwise_leader", "wattwise_bus_link_"))
    }


def test_when_the_leader_stops_another_process_takes_over(installation: Installation) -> None:
    world = installation
    with ExitStack() as leading:
        leader = leading.enter_context(server(world, "first"))
        with server(world, "second") as standby:
            assert leader.said(LEADS) and standby.said(STANDS_BY)
            leading.close()  # the leader is stopped (Ctrl-C)
            wait_until(lambda: standby.said("took the lead"))
            save_rule(world, standby, 3000)
            post_readings(world, standby, [5000.0, 5000.0])
            wait_until(lambda: httpx.get(f"{standby.url}/api/v1/alerts", headers=world.auth).json())


def test_a_leader_that_loses_its_database_stops_leading_and_another_takes_over(installation: Installation) -> None:
    world = installation
    with server(world, "first") as leader, server(world, "second") as standby:
        assert leader.said(LEADS) and standby.said(STANDS_BY)
        with psycopg.connect(world.database, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                (LOCK_KEY,),
            )
        wait_until(lambda: leader.said("lost the lead"))
        wait_until(lambda: standby.said("took the lead"))
