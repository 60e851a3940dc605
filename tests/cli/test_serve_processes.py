"""Two `wattwise serve` processes on one PostgreSQL, joined with --link, behave as one server.

The layout of docs/scale.md: an API/ingest process without detectors or alert engine, and a
process that runs them. A meter posts to the first; the rule a person saved there fires in the
second; each process's live channel shows what the other stored or raised.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from support import PG_ADMIN_URL, cli_process, free_port, mosquitto, need_service
from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own: two server processes and the test share it."""
    need_service("127.0.0.1", 5432, "PostgreSQL")
    name = f"wattwise_link_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def server(database: str, data_dir: Path, broker: int, *flags: str) -> Iterator[str]:
    """``wattwise serve --link`` until the block ends; yields its URL once it answers."""
    port = free_port()
    args = ["--database", database, "--data-dir", str(data_dir), "serve", "--port", str(port)]
    args += ["--link", f"127.0.0.1:{broker}", *flags]
    with cli_process(args, lambda lines: any("bus link: joined" in line for line in lines), timeout=60):
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url


def next_of(ws: ClientConnection, kind: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The data of the next live message of ``kind`` (others are passed over)."""
    deadline = time.time() + timeout
    while (left := deadline - time.time()) > 0:
        message = orjson.loads(ws.recv(timeout=left))
        if message["type"] == kind:
            return message["data"]  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} message within {timeout} s")


def test_two_linked_server_processes_act_as_one(database: str, tmp_path: Path) -> None:
    svc = start_services(Settings(database=database, data_dir=tmp_path))
    with svc.engine.begin() as conn:
        site = create_site(conn, "Hostel")
        meter = create_device(conn, site_id=site.id, name="main")
        admin = create_user(conn, "admin", "admin-password", is_admin=True)
        token = create_token(conn, admin.id, "tests")
    svc.close()
    auth = {"Authorization": f"Bearer {token}"}

    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto(tmp_path))
        api = stack.enter_context(server(database, tmp_path / "api", broker, "--no-detectors", "--no-alerts"))
        worker = stack.enter_context(server(database, tmp_path / "worker", broker))
        live_api = stack.enter_context(connect(f"{api.replace('http', 'ws')}/api/v1/live?token={token}"))
        live_worker = stack.enter_context(connect(f"{worker.replace('http', 'ws')}/api/v1/live?token={token}"))

        rule = {
            "site_id": site.id,
            "device_id": meter.device.id,
            "name": "Main above 2 kW",
            "kind": "threshold",
            "params": {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800},
        }
        saved = httpx.post(f"{api}/api/v1/alert-rules", json=rule, headers=auth)
        assert saved.status_code == 201, saved.text
        t = now_ms() - 10_000
        readings = [{"ts": t + i * 1000, "power": p, "voltage": 230.0} for i, p in enumerate([450.0, 2600.0, 2700.0])]
        answer = httpx.post(
            f"{api}/api/v1/ingest", json=readings, headers={"Authorization": f"Bearer {meter.key}"}
        ).json()
        assert answer["accepted"] == 3

        # stored by the api process, shown live by the worker's
        shown = next_of(live_worker, "readings")
        assert [r["power"] for r in shown] == [450.0, 2600.0, 2700.0]
        # raised by the worker's alert engine on a rule saved through the api process
        (raised,) = next_of(live_api, "alerts")
        assert raised["rule_id"] == saved.json()["id"] and raised["status"] == "open"
        assert raised["message"].startswith("main (Hostel): Power above 2000 W")
        (listed,) = httpx.get(f"{api}/api/v1/alerts", headers=auth).json()
        assert listed["id"] == raised["id"]
