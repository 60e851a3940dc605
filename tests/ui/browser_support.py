"""What the browser tests share: Chromium's whereabouts, the installation they run against, screenshots."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firmware.live_server import LiveServer
from support import IN_CI, World

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking"]


def need_chromium() -> None:
    """Fail under CI=true, skip elsewhere, when Debian's Chromium is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return
    absent = pytest.fail if IN_CI else pytest.skip
    absent(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium){' (CI=true: required)' * IN_CI}")


def crash(server: LiveServer) -> None:
    """Kill the server as a power cut would (no graceful shutdown)."""
    assert server.proc is not None
    server.proc.kill()
    server.stop()


@dataclass
class Installation:
    server: LiveServer
    world: World
    sessions: dict[str, Any] = field(default_factory=dict)  # username → the browser's cookies


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def keep_screenshot(page: Any, name: str) -> None:
    """Save a full-page screenshot under docs/screenshots/ (kept in the repository)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
