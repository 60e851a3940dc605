"""Helpers the tests share: a small installation (World), free ports, local HTTP servers, service checks."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wattwise.analysis.nilm.decode import StateModel
from wattwise.analysis.nilm.events import DetectorConfig
from wattwise.api.app import create_app
from wattwise.runtime import Services
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user, grant

PG_ADMIN_URL = os.environ.get("WATTWISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_service(host: str, port: int, what: str) -> None:
    """Fail under CI, skip with a reason elsewhere, when a real service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        message = f"{what} is not listening on {host}:{port}"
        if IN_CI:
            pytest.fail(message + " (CI=true: required)")
        pytest.skip(message)


@contextmanager
def own_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, named ``<prefix>_<pid>``, for tests whose server
    processes share it; dropped afterwards (whoever is still connected)."""
    need_service("127.0.0.1", 5432, "PostgreSQL")
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class World:
    """A small installation: two sites, a meter in each, an admin and a viewer of site A only."""

    client: TestClient
    services: Services
    site_a: int
    site_b: int
    meter_a: int
    meter_b: int
    key_a: str
    key_b: str
    admin_token: str
    viewer_token: str

    def ingest(self, body: object, key: str | None = None) -> dict[str, object]:
        response = self.client.post(
            "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key or self.key_a}"}
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}


def build_world(services: Services) -> World:
    with services.engine.begin() as conn:
        a = create_site(conn, "Home A", timezone="Asia/Kolkata")
        b = create_site(conn, "Home B")
        meter_a = create_device(conn, site_id=a.id, name="main")
        meter_b = create_device(conn, site_id=b.id, name="main")
        admin = create_user(conn, "admin", "admin-password", is_admin=True)
        viewer = create_user(conn, "viewer", "viewer-password")
        grant(conn, viewer.id, a.id, "viewer")
        admin_token = create_token(conn, admin.id, "tests")
        viewer_token = create_token(conn, viewer.id, "tests")
    client = TestClient(create_app(services=services))
    return World(
        client=client,
        services=services,
        site_a=a.id,
        site_b=b.id,
        meter_a=meter_a.device.id,
        meter_b=meter_b.device.id,
        key_a=meter_a.key,
        key_b=meter_b.key,
        admin_token=admin_token,
        viewer_token=viewer_token,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that reads bodies and keeps the test output free of access logs."""

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on a free local port serving ``handler``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer the request ``handler`` is serving with ``body`` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


OMPM_EXCERPT = Path(__file__).resolve().parent / "fixtures" / "nilm" / "ompm_2023-02-16_1336.csv"
#: OMPM's detector as the evaluation tunes it on the first hour
OMPM_DETECTOR = DetectorConfig(min_step_w=9.0, tol_abs_w=0.5, min_steady=1, second="pf")


def ompm_states(**settings: Any) -> StateModel:
    """The joint decoding's levels, base and noise the evaluation learns from OMPM's first
    hour (for its test part's excerpt, tests/fixtures/nilm/NOTICE.md), with ``settings``."""
    return StateModel(
        {"fan": [25.7], "laptop": [12.7], "lamp": [48.4], "led": [6.1, 10.4, 17.5, 23.5], "monitor": [19.3]},
        {"fan": [0.0], "laptop": [13.6], "lamp": [0.0], "led": [22.6, 24.0, 31.2, 36.0], "monitor": [24.9]},
        base_w=9.1,
        base_var=9.9,
        noise_w=2.0,
        noise_var=20.0,
        min_segment=3,
        **settings,
    )


@contextmanager
def wattwise_broker(world: World, folder: Path, *credential_args: str) -> Iterator[int]:
    """A private Mosquitto with the password and ACL files ``wattwise mqtt credentials`` writes
    (anonymous clients refused); yields its port. ``credential_args`` go to that command."""
    from typer.testing import CliRunner

    from wattwise.cli.main import app as cli

    files = folder / "broker"
    args = ["--database", str(world.services.engine.url), "mqtt", "credentials", "--out", str(files)]
    result = CliRunner().invoke(cli, [*args, *credential_args])
    assert result.exit_code == 0, result.output
    settings = f"allow_anonymous false\npassword_file {files / 'passwd'}\nacl_file {files / 'acl'}\n"
    with mosquitto(folder, settings) as port:
        yield port


@contextmanager
def mosquitto(folder: Path, settings: str = "allow_anonymous true\n", port: int = 0) -> Iterator[int]:
    """A private Mosquitto (its own port, nothing else talks to it) with ``settings``; yields its
    port (``port`` when given: a broker that comes up where a client already waits for it)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    if shutil.which("mosquitto") is None:
        if IN_CI:
            pytest.fail("mosquitto is not installed")
        pytest.skip("mosquitto is not installed")
    port = port or free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\npersistence false\n{settings}")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        probe = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        try:
            probe.connect("127.0.0.1", port)
            probe.disconnect()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def cli_process(
    args: list[str], ready: Callable[[list[str]], bool], timeout: float = 90, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """``python -m wattwise.cli ARGS`` until the block ends (then Ctrl-C, as a person stops it).

    Yields the list of lines it printed once ``ready(lines)`` (failing with them if it never
    is); the list keeps growing with what it prints afterwards."""
    import sys

    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "wattwise.cli", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    stdout = proc.stdout
    assert stdout is not None
    printed: list[str] = []

    def read() -> None:
        for line in iter(stdout.readline, ""):
            printed.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()  # also keeps the pipe from filling up and stalling the process
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and not ready(printed) and proc.poll() is None:
            time.sleep(0.05)
        assert ready(printed), f"wattwise {' '.join(args)} did not start:\n" + "".join(printed)
        yield printed
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)


def wait_until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Return once ``condition()`` is true; fail the test when it is not within ``timeout`` s."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            pytest.fail(f"not true within {timeout} s: {getattr(condition, '__name__', condition)}")
        time.sleep(0.05)


def dashboard_pages(world: World) -> list[str]:
    """Every page a signed-in person can open on the dashboard, those that follow the bus among them."""
    return [
        "/",
        f"/meters/{world.meter_a}",
        f"/appliances?meter={world.meter_a}",
        "/findings",
        "/alerts",
        "/alerts/settings",
        "/energy",
        "/bill",
        "/payments",
        "/sites",
        "/account",
    ]


def bus_subscribers(metrics: str) -> dict[str, float]:
    """``wattwise_bus_subscribers`` by topic, from a ``/metrics`` answer."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        s.labels["topic"]: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "wattwise_bus_subscribers"
    }
