"""A real Wattwise server in a subprocess, for end-to-end tests of gateway and firmware.

It runs the ``wattwise`` command exactly as a user would (``device add``, ``serve``) on a
SQLite file, can be stopped and started again on the same port, and reads back what it
stored straight from the database file.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _cmd(self, *args: str) -> list[str]:
        code = "from wattwise.cli.main import app; app()"
        return [sys.executable, "-c", code, "--database", f"sqlite:///{self.db_path}", *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        return env

    def add_devices(self, *names: str) -> list[tuple[int, str]]:
        """What ``wattwise device add`` does, in-process: (id, key) of each new meter."""
        services = start_services(Settings(database=f"sqlite:///{self.db_path}", data_dir=self.db_path.parent))
        try:
            with services.engine.begin() as conn:
                site = create_site(conn, f"site-{len(names)}-{names[0]}")
                issued = [create_device(conn, site_id=site.id, name=n) for n in names]
        finally:
            services.close()
        return [(i.device.id, i.key) for i in issued]

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
