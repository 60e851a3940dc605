"""A real Wattwise server for end-to-end tests of gateway and firmware.

What ``wattwise serve`` runs — the app from ``create_app`` under uvicorn, on a real port, with
its SQLite file and (optionally) its MQTT listener — but in a thread of the test process, so
that stopping it for an outage and starting it again costs a second, not a fresh import of
the whole application. Stored readings are read back straight from the database file.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import update

from support import IN_CI
from wattwise.api.app import create_app
from wattwise.config import Settings
from wattwise.runtime import Services, start_services
from wattwise.store.devices import create_device
from wattwise.store.schema import devices
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user

METRICS = ("voltage", "current", "power", "energy", "frequency", "pf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    db_path: Path
    port: int = field(default_factory=free_port)
    mqtt: str | None = None
    # The broker keeps the server's session (and readings for it) this long after it stops;
    # short, so test runs do not leave sessions behind on a shared broker. 0: no session.
    mqtt_session_expiry_s: int = 120
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _services(self) -> Services:
        return start_services(Settings(database=f"sqlite:///{self.db_path}", data_dir=self.db_path.parent))

    def add_devices(self, *names: str) -> list[tuple[int, str]]:
        """What ``wattwise device add`` does, in-process: (id, key) of each new meter.

        The ids are moved to a random range: the MQTT broker is shared with other test
        runs, and a meter's topics and persistent session are named by its id.
        """
        base = random.randrange(10**6, 10**9)
        services = self._services()
        try:
            with services.engine.begin() as conn:
                site = create_site(conn, f"site-{base}")
                issued = [create_device(conn, site_id=site.id, name=n) for n in names]
                for n, item in enumerate(issued):
                    conn.execute(update(devices).where(devices.c.id == item.device.id).values(id=base + n))
        finally:
            services.close()
        return [(base + n, item.key) for n, item in enumerate(issued)]

    def admin_token(self) -> str:
        """An API token of a new admin user (the owner of the installation)."""
        services = self._services()
        try:
            with services.engine.begin() as conn:
                user = create_user(conn, f"owner-{len(self._tokens)}", "owner-password", is_admin=True)
                token = create_token(conn, user.id, "test")
        finally:
            services.close()
        self._tokens.append(token)
        return token

    def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self._tokens:
            self.admin_token()
        headers = {"Authorization": f"Bearer {self._tokens[0]}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def issue(self, device_id: int, action: str) -> str:
        """``POST /api/v1/devices/{id}/commands`` as the owner: the new command's id."""
        response = self._api("POST", f"/api/v1/devices/{device_id}/commands", json={"action": action})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def commands(self, device_id: int) -> list[dict[str, Any]]:
        """The meter's commands with their status and result, as the API lists them."""
        response = self._api("GET", f"/api/v1/devices/{device_id}/commands")
        assert response.status_code == 200, response.text
        return list(response.json())

    def publish_manifest(self, manifest: dict[str, str]) -> None:
        """``PUT /api/v1/firmware/manifest`` as the owner (also published on MQTT, retained)."""
        response = self._api("PUT", "/api/v1/firmware/manifest", json=manifest)
        assert response.status_code == 200, response.text

    def start(self) -> None:
        """Serve until ``stop``; returns once the port answers."""
        settings = Settings(
            database=f"sqlite:///{self.db_path}",
            data_dir=self.db_path.parent,
            port=self.port,
            mqtt=self.mqtt or "",
            # A group of its own, so servers of other test runs on the broker take none of ours.
            mqtt_shared_group=f"test-{os.getpid()}-{self.port}",
            mqtt_session_expiry_s=self.mqtt_session_expiry_s,
        )
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"wattwise-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down (connections refused until ``start``)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = None
        self._thread = None

    def readings(self, device_id: int) -> list[dict[str, float]]:
        """Every stored reading of one meter, oldest first."""
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                f"SELECT ts, {', '.join(METRICS)} FROM readings WHERE device_id = ? ORDER BY ts",
                (device_id,),
            ).fetchall()
        return [dict(r) for r in rows]


@dataclass
class PrivateBroker:
    """A Mosquitto of our own on a free port, which a test may stop and start (an outage)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            message = "the mosquitto binary is not installed (apt-get install mosquitto)"
            if IN_CI:
                pytest.fail(message + " (CI=true: required)")
            pytest.skip(message)
        conf = self.workdir / f"mosquitto-{self.port}.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self._proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
