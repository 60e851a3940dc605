"""What the browser tests share: Chromium's whereabouts, the installation they run against, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import IN_CI, World, build_world, free_port
from wattwise.config import Settings
from wattwise.runtime import Services, start_services

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking"]


def need_chromium() -> None:
    """Fail under CI=true, skip elsewhere, when Debian's Chromium is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return
    absent = pytest.fail if IN_CI else pytest.skip
    absent(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium){' (CI=true: required)' * IN_CI}")


@dataclass
class Server:
    """``wattwise serve`` in a process of its own (NiceGUI is one app per process: the pytest
    process keeps its own for the simulated-user tests), on a database the test seeded."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "wattwise.cli", "--data-dir", str(self.data_dir), "serve"]
        with (self.data_dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen([*command, "--port", str(self.port)], stdout=log, stderr=log)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not start: {(self.data_dir / 'server.log').read_text()[-2000:]}")

    def stop(self, *, crash: bool = False) -> None:
        """Shut down, or (``crash``) kill the process as a power cut would."""
        if self.proc is None:
            return
        if crash:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@dataclass
class Installation:
    server: Server
    world: World
    sessions: dict[str, Any] = field(default_factory=dict)  # username → the browser's cookies


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def keep_screenshot(page: Any, name: str) -> None:
    """Save a full-page screenshot under docs/screenshots/ (kept in the repository)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def serve_seeded(tmp_path: Path, seed: Callable[[Services, World], None]) -> Iterator[Installation]:
    """The World (two sites, meters, admin, viewer) plus what ``seed`` adds, served by its own process.

    For module-scoped ``installation`` fixtures: ``yield from serve_seeded(tmp_path_factory.mktemp(...), seed)``.
    """
    need_chromium()
    services = start_services(Settings(data_dir=tmp_path))
    try:
        world = build_world(services)
        seed(services, world)
    finally:
        services.close()
    server = Server(data_dir=tmp_path, port=free_port())
    server.start()
    try:
        yield Installation(server=server, world=world)
    finally:
        server.stop()
