"""A real ``wattwise serve`` process and the browser's helpers, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import IN_CI, World

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking"]


def need_chromium() -> None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " (CI=true: required)")
        pytest.skip(message)


@dataclass
class Server:
    """``wattwise serve`` in its own process, on a database this test seeded."""

    url: str
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wattwise.cli", "--data-dir", str(self.data_dir), "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=(self.data_dir / "server.log").open("ab"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not start: {(self.data_dir / 'server.log').read_text()[-2000:]}")

    def stop(self, *, crash: bool = False) -> None:
        """Shut down gracefully, or (``crash``) kill the process as a power cut would."""
        if self.proc is not None and crash:
            self.proc.kill()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
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
