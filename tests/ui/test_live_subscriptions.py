"""A tab's share of the bus ends with the tab, against a real ``wattwise serve`` process.

The count comes from the server's ``/metrics`` (``wattwise_bus_subscribers{topic}``), as an
operator would watch it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from support import bus_subscribers
from ui.browser_support import Installation, serve_seeded
from wattwise.api.deps import SESSION_COOKIE

pytestmark = pytest.mark.browser

# A closed tab goes after its reconnect timeout (5 s, ui.RUN_OPTIONS). Pages fetched without
# a browser go when NiceGUI prunes them, 60-70 s later: tests/ui/test_pages.py runs that prune
# at once, in process, rather than make the suite wait for it here.
CLOSED_WITHIN_S = 30


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """The World, served by its own process (its meters have no history: none is needed here)."""
    yield from serve_seeded(tmp_path_factory.mktemp("subscriptions"), lambda services, world: None)


def subscribers(installation: Installation) -> dict[str, float]:
    url = f"{installation.server.url}/metrics"
    answer = httpx.get(url, headers={"Authorization": f"Bearer {installation.world.admin_token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return bus_subscribers(answer.text)


def wait_for_subscribers(installation: Installation, expected: dict[str, float], within_s: float) -> None:
    """Until the server's count is ``expected``; fails naming what it still counts."""
    deadline = time.monotonic() + within_s
    while (now := subscribers(installation)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert now == expected


def added(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {topic: n - before.get(topic, 0) for topic, n in now.items() if n != before.get(topic, 0)}


def post_power(installation: Installation, watts: float) -> None:
    """A reading of meter A, acknowledged once stored (and so published on the bus)."""
    world = installation.world
    url = f"{installation.server.url}/api/v1/ingest"
    answer = httpx.post(url, json={"power": watts}, headers={"Authorization": f"Bearer {world.key_a}"}, timeout=30)
    assert answer.status_code == 200, answer.text


def signed_in(installation: Installation, browser: Browser) -> BrowserContext:
    """A browser whose tabs are signed in as the administrator."""
    context = browser.new_context()
    cookie = {"name": SESSION_COOKIE, "value": installation.world.admin_token, "url": installation.server.url}
    context.add_cookies([cookie])  # type: ignore[list-item]
    return context


def test_a_closed_tab_leaves_no_bus_subscription_and_a_reconnect_takes_none_more(
    installation: Installation, browser: Browser
) -> None:
    world = installation.world
    before = subscribers(installation)
    context = signed_in(installation, browser)
    meter, findings = context.new_page(), context.new_page()
    meter.goto(f"{installation.server.url}/meters/{world.meter_a}")
    findings.goto(f"{installation.server.url}/findings")
    for tab in (meter, findings):
        tab.wait_for_function("() => window.socket && window.socket.connected", timeout=30_000)
    assert added(subscribers(installation), before) == {"readings": 1, "findings": 1}

    # the websocket drops and comes back (a flaky network): the tab reads on, once
    meter.evaluate("() => { window.back = false; window.socket.once('connect', () => window.back = true) }")
    meter.evaluate("() => window.socket.io.engine.close()")
    meter.wait_for_function("() => window.back", timeout=30_000)
    post_power(installation, 432.0)
    power = meter.locator(f'[data-meter="{world.meter_a}"] [data-field="power"]')
    expect(power).to_have_text("432 W", timeout=10_000)
    assert added(subscribers(installation), before) == {"readings": 1, "findings": 1}

    context.close()
    wait_for_subscribers(installation, before, CLOSED_WITHIN_S)


def test_a_reading_stored_before_the_browser_connects_still_reaches_the_tab(
    installation: Installation, browser: Browser
) -> None:
    """The page is built, then the browser takes a while to open its websocket (a slow phone):
    a reading stored meanwhile is shown once it connects (a tile adds each reading to today's
    energy, so one missed would stay missing)."""
    world = installation.world
    context = signed_in(installation, browser)
    tab = context.new_page()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    tab.route("**/static/socket.io.min.js", hold)  # the websocket's script waits
    tab.goto(f"{installation.server.url}/meters/{world.meter_a}", wait_until="commit")  # built
    post_power(installation, 517.0)
    while not held:
        tab.wait_for_timeout(50)
    for route in held:
        route.continue_()
    tab.unroute("**/static/socket.io.min.js")
    power = tab.locator(f'[data-meter="{world.meter_a}"] [data-field="power"]')
    expect(power).to_have_text("517 W", timeout=10_000)
    context.close()
