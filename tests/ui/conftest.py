"""Fixtures for the dashboard: NiceGUI's simulated ``user`` on our app, and a real server for a browser."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nicegui.testing import User, general_fixtures, user_plugin

from support import World, build_world
from ui.browser_support import BROWSER_ARGS, CHROMIUM, Installation, serve_seeded
from wattwise.api.deps import SESSION_COOKIE
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.tokens import SESSION_TOKEN_NAME
from wattwise.store.users import create_token, get_user_by_name

# NiceGUI's simulated browser (``user``) and the fixtures it depends on; pytest_plugins may
# only be declared in the top-level conftest, so they are re-exported here.
user = user_plugin.user
prepare_simulated_auto_index_client = user_plugin.prepare_simulated_auto_index_client
nicegui_reset_globals = general_fixtures.nicegui_reset_globals

# How many times (0.1 s apart) ``user.should_see`` looks before it fails. NiceGUI's 3 (0.3 s) is
# too short for a click whose handler stores something and re-draws the page while the machine
# is busy (the full suite beside other jobs on 2 cores failed two such checks); a check that
# passes returns at its first sight, so only a real failure waits the whole 3 s.
PATIENCE = 30


@pytest.fixture(autouse=True)
def patient_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """``should_see`` waits up to ``PATIENCE`` looks unless a test asks for another number."""
    should_see = User.should_see

    async def patient(self: User, *args: Any, retries: int = PATIENCE, **kwargs: Any) -> None:
        await should_see(self, *args, retries=retries, **kwargs)

    monkeypatch.setattr(User, "should_see", patient)


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


def two_days_of_minutes(end: int) -> list[dict[str, float]]:
    """A household's power, once a minute: a daily swell, a geyser's runs, some jitter."""
    return [
        {
            "ts": t,
            "power": 350 + 250 * math.sin(t / 3e6) + (1400 if (t // 60_000) % 97 < 9 else 0) + (t // 60_000) % 13 * 9,
            "voltage": 229 + 3 * math.sin(t / 5e6),
        }
        for t in range(end - 2 * 86_400_000, end - 5 * 60_000, 60_000)
    ]


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """The World with two days of history on meter A, served by a real ``wattwise serve`` process."""

    def history(services: Services, world: World) -> None:
        services.pipeline.ingest_blocking(world.meter_a, two_days_of_minutes(now_ms()))

    yield from serve_seeded(tmp_path_factory.mktemp("dashboard"), history)


@pytest.fixture(scope="module")
def browser(installation: Installation) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield chromium
        chromium.close()
