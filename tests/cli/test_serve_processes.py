"""`wattwise serve` processes on one PostgreSQL, joined with --link, behave as one server.

The layout of docs/scale.md: every process started the same way. One leads (runs the
detectors and the alert engine), the others stand by; a meter may post to any of them, a rule
saved through any fires in the leader, each live channel shows what the others stored or
raised, and when the leader stops or loses its database another takes over.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
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

    @property
    def pid(self) -> int:
        """The process's id, as uvicorn prints it."""
        line = next(line for line in self.printed if "Started server process [" in line)
        return int(line.split("[", 1)[1].split("]", 1)[0])

    def said(self, words: str) -> bool:
        return any(words in line for line in self.printed)

    def live(self, token: str) -> str:
        return f"{self.url.replace('http', 'ws')}/api/v1/live?token={token}"


@contextmanager
def server(world: Installation, name: str, *flags: str, lead_retry_s: float = 0.2) -> Iterator[Server]:
    """``wattwise serve --link`` until the block ends; yields it once started and answering."""
    port = free_port()
    args = ["--database", world.database, "--data-dir", str(world.folder / name), "serve", "--port", str(port)]
    args += ["--link", f"127.0.0.1:{world.broker}", *flags]

    def started(lines: list[str]) -> bool:
        text = "".join(lines)
        return "bus link: joined" in text and "Application startup complete" in text

    # the standby looks for the lead 5 times a second unless told otherwise
    with cli_process(args, started, timeout=60, env={"WATTWISE_LEAD_RETRY_S": str(lead_retry_s)}) as printed:
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
                # this installation's lock only: other tests' servers hold the same key in their databases
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (LOCK_KEY,),
            )
        wait_until(lambda: leader.said("lost the lead"))
        wait_until(lambda: standby.said("took the lead"))


def kettle_day(uses: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """An hour ago onwards, a reading every 2 s: 300 W of base load, 2.4 kW while the kettle is
    on (readings ``a`` to ``b`` of each use)."""
    t0 = now_ms() - 3_600_000
    end = max(b for _, b in uses) + 30
    return [
        {"ts": t0 + 2000 * i, "power": 2400.0 if any(a <= i < b for a, b in uses) else 300.0, "voltage": 230.0}
        for i in range(end)
    ]


def post_rows(world: Installation, to: Server, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 20):  # as a gateway sends them
        part = rows[i : i + 20]
        answer = httpx.post(
            f"{to.url}/api/v1/ingest", json=part, headers={"Authorization": f"Bearer {world.meter_key}"}
        )
        assert answer.json()["accepted"] == len(part), answer.text


def test_the_successor_of_a_killed_leader_finds_what_came_while_none_led_and_nothing_twice(
    installation: Installation,
) -> None:
    world = installation
    uses = [(60, 110), (250, 300), (400, 450), (550, 600)]
    rows = kettle_day(uses)
    events = f"/api/v1/devices/{world.meter}/appliance-events"
    with ExitStack() as leading:
        leader = leading.enter_context(server(world, "first"))
        # the standby looks for the lead every 2 s: readings come in while nobody leads
        with server(world, "second", lead_retry_s=2.0) as standby:
            assert leader.said(LEADS) and standby.said(STANDS_BY)
            post_rows(world, leader, rows[:200])
            wait_until(lambda: len(httpx.get(f"{leader.url}{events}", headers=world.auth).json()) == 2)
            os.kill(leader.pid, signal.SIGKILL)  # a crash: the leader saves nothing on its way out
            post_rows(world, standby, rows[200:500])  # the second and third uses, mostly before the takeover
            wait_until(lambda: standby.said("took the lead"))
            post_rows(world, standby, rows[500:])

            def listed() -> list[dict[str, Any]]:
                return list(httpx.get(f"{standby.url}{events}", headers=world.auth).json())

            # the last use's OFF is the last event: once it is there, every reading before it is done
            wait_until(lambda: any(e["ts"] >= rows[uses[-1][1]]["ts"] - 4000 for e in listed()), timeout=60)
            found = sorted((e["ts"], e["delta_p"] > 0) for e in listed())
            expected = sorted((rows[i]["ts"], on) for a, b in uses for i, on in ((a, True), (b, False)))
            assert len(found) == len(expected), found  # each use once: none missed, none twice
            assert all(abs(f[0] - e[0]) <= 4000 and f[1] == e[1] for f, e in zip(found, expected, strict=True)), found


def test_a_plugs_messages_split_between_processes_still_make_whole_readings(installation: Installation) -> None:
    """ESPHome sends one sensor a message, and the broker's shared subscription hands them to
    the two processes in turn: each reading still carries the voltage and current of its own
    update, because what the plug sent before is held in the database, not in one process."""
    world = installation
    mqtt_flags = ("--mqtt", f"127.0.0.1:{world.broker}")
    with server(world, "first", *mqtt_flags) as first, server(world, "second", *mqtt_flags) as second:
        for process in (first, second):
            wait_until(lambda process=process: process.said("listening for readings on MQTT"))
        plug = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="esphome-plug")
        plug.connect("127.0.0.1", world.broker)
        plug.loop_start()
        updates = [(230.0 + i, 0.5 + i / 10, 100.0 + 10 * i) for i in range(6)]
        try:
            for n, (volts, amps, watts) in enumerate(updates, start=1):
                for sensor, value in (("voltage", volts), ("current", amps)):
                    topic = f"wattwise/{world.meter}/sensor/{sensor}/state"
                    plug.publish(topic, str(value), qos=1).wait_for_publish()

                def heard_both(volts: float = volts, amps: float = amps) -> bool:
                    with psycopg.connect(world.database) as conn:
                        row = conn.execute("SELECT data FROM plug_held WHERE device_id = %s", (world.meter,)).fetchone()
                    held = {} if row is None else orjson.loads(row[0])["esphome"]["values"]
                    return held.get("voltage", [None])[0] == volts and held.get("current", [None])[0] == amps

                wait_until(heard_both)  # each went to one process or the other
                plug.publish(f"wattwise/{world.meter}/sensor/power/state", str(watts), qos=1).wait_for_publish()
                wait_until(lambda n=n: len(stored_readings(world)) == n)
        finally:
            plug.loop_stop()
            plug.disconnect()
        assert stored_readings(world) == updates


def stored_readings(world: Installation) -> list[tuple[float, float, float]]:
    with psycopg.connect(world.database) as conn:
        rows = conn.execute(
            "SELECT voltage, current, power FROM readings WHERE device_id = %s ORDER BY ts", (world.meter,)
        ).fetchall()
    return [(float(v), float(c), float(p)) for v, c, p in rows]
