"""Fixtures for the dashboard: NiceGUI's simulated ``user`` on our app, and a real server for a browser."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nicegui.testing import User, general_fixtures, user_plugin

from support import IN_CI, World, build_world, free_port
from wattwise.api.deps import SESSION_COOKIE
from wattwise.config import Settings
from wattwise.runtime import Services, start_services
from wattwise.store.tokens import SESSION_TOKEN_NAME
from wattwise.store.users import create_token, get_user_by_name

# NiceGUI's simulated browser (``user``) and the fixtures it depends on; pytest_plugins may
# only be declared in the top-level conftest, so they are re-exported here.
user = user_plugin.user
prepare_simulated_auto_index_client = user_plugin.prepare_simulated_auto_index_client
nicegui_reset_globals = general_fixtures.nicegui_reset_globals

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking"]


@pytest.fixture
def dashboard(user: User, sqlite_services: Services) -> World:
    """Two sites, their meters, an admin and a viewer of site A, with the dashboard mounted.

    NiceGUI's ``user`` fixture talks to NiceGUI directly (no FastAPI lifespan runs), so the
    services the lifespan would set are set here.
    """
    world = build_world(sqlite_services)
    world.client.app.state.services = sqlite_services  # type: ignore[attr-defined]
    return world


@pytest.fixture
def sign_in(user: User, dashboard: World) -> Callable[[str], None]:
    """Give the simulated browser the session cookie that signing in as ``username`` would set."""

    def as_user(username: str) -> None:
        with dashboard.services.engine.begin() as conn:
            token = create_token(conn, get_user_by_name(conn, username).id, SESSION_TOKEN_NAME)
        user.http_client.cookies.set(SESSION_COOKIE, token)

    return as_user


# ---- a real server and a real browser ----------------------------------------------------


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

    def stop(self) -> None:
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


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """Seed a database (two sites, meters, admin, viewer), then serve it from a real process."""
    need_chromium()
    data_dir = tmp_path_factory.mktemp("dashboard")
    services = start_services(Settings(data_dir=data_dir))
    world = build_world(services)
    services.close()
    port = free_port()
    server = Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir, port=port)
    server.start()
    yield Installation(server=server, world=world)
    server.stop()


@pytest.fixture(scope="module")
def browser(installation: Installation) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def keep_screenshot(page: object, name: str) -> None:
    """Save a full-page screenshot under docs/screenshots/ (kept in the repository)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
