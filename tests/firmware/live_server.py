"""A real Wattwise server in a subprocess, for end-to-end tests of gateway and firmware.

It runs the ``wattwise`` command exactly as a user would (``device add``, ``serve``) on a
SQLite file, can be stopped and started again on the same port, and reads back what it
stored straight from the database file.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from wattwise.config import Settings
from wattwise.runtime import Services, start_services
from wattwise.store.devices import create_device
from wattwise.store.schema import devices
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user

REPO = Path(__file__).resolve().parents[2]
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
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _tokens: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _cmd(self, *args: str) -> list[str]:
        code = "from wattwise.cli.main import app; app()"
        return [sys.executable, "-c", code, "--database", f"sqlite:///{self.db_path}", *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        # A group of its own, so servers of other test runs on the broker take none of ours.
        env["WATTWISE_MQTT_SHARED_GROUP"] = f"test-{os.getpid()}-{self.port}"
        return env

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
        args = ["serve", "--port", str(self.port)]
        if self.mqtt:
            args += ["--mqtt", self.mqtt]
        self.log_path = self.db_path.with_suffix(".log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._cmd(*args), stdout=log, stderr=subprocess.STDOUT, env=self._env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}") from None
                time.sleep(0.1)
        raise RuntimeError("server did not come up within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def readings(self, device_id: int) -> list[dict[str, float]]:
        """Every stored reading of one meter, oldest first."""
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                f"SELECT ts, {', '.join(METRICS)} FROM readings WHERE device_id = ? ORDER BY ts",
                (device_id,),
            ).fetchall()
        return [dict(r) for r in rows]
