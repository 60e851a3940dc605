"""The dashboard in a real browser (Debian's Chromium) against a real ``wattwise serve`` process.

Also takes the screenshots kept in docs/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from ui.browser_support import Installation, keep_screenshot
from wattwise.api.deps import SESSION_COOKIE

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 780}


def post(installation: Installation, key: str, body: Any) -> None:
    response = httpx.post(
        f"{installation.server.url}/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text


def add_meter(installation: Installation, site_id: int, name: str) -> str:
    response = httpx.post(
        f"{installation.server.url}/api/v1/devices",
        json={"site_id": site_id, "name": name},
        headers={"Authorization": f"Bearer {installation.world.admin_token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in through the form; land on ``url``."""
    page.goto(url)
    expect(page.get_by_text("Sign in").first).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("input[name=username]")).to_have_count(0)


def signed_in(installation: Installation, page: Page, path: str, username: str) -> None:
    """Open ``path`` as ``username``, reusing the cookie of an earlier sign-in (Argon2 is slow on purpose)."""
    url = installation.server.url + path
    if username in installation.sessions:
        page.context.add_cookies(installation.sessions[username])  # type: ignore[arg-type]
        page.goto(url)
        return
    sign_in(page, url, username, f"{username}-password")
    installation.sessions[username] = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]


def phone_screenshot(browser: Browser, installation: Installation, path: str, name: str, *, dark: bool = False) -> None:
    """Open ``path`` as the admin on a 360 px wide screen and keep a screenshot of it."""
    context = browser.new_context(viewport=PHONE, color_scheme="dark" if dark else "light")  # type: ignore[arg-type]
    page = context.new_page()
    signed_in(installation, page, path, "admin")
    expect(page.locator("[data-meter]").first).to_be_visible()
    page.wait_for_timeout(600)  # let charts finish their first draw
    keep_screenshot(page, name)
    context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    tab = context.new_page()
    yield tab
    context.close()


def test_sign_in_and_a_posted_reading_shows_on_the_overview_within_two_seconds(
    installation: Installation, page: Page, browser: Browser
) -> None:
    world = installation.world
    elsewhere: list[str] = []  # every script, font and style must come from the server itself
    page.on(
        "request",
        lambda r: None if r.url.startswith((installation.server.url, "data:", "blob:")) else elsewhere.append(r.url),
    )
    for name, watts in (("water heater", 1980.0), ("fridge", 96.0)):
        post(installation, add_meter(installation, world.site_a, name), {"power": watts, "voltage": 229.4, "pf": 0.99})
    signed_in(installation, page, "/", "admin")
    expect(page.locator(f'[data-meter="{world.meter_a}"]')).to_be_visible()

    post(installation, world.key_a, {"power": 437.0, "voltage": 231.2, "current": 1.93, "pf": 0.98, "frequency": 50.01})
    tile = page.locator(f'[data-meter="{world.meter_a}"]')
    expect(tile.locator('[data-field="power"]')).to_have_text("437 W", timeout=2000)
    expect(tile.locator('[data-field="voltage"]')).to_have_text("231.2 V")
    expect(page.locator(f'[data-site-total="{world.site_a}"]')).to_have_text("2.51 kW")

    keep_screenshot(page, "overview-desktop")
    assert elsewhere == []
    phone_screenshot(browser, installation, "/", "overview-phone")
    phone_screenshot(browser, installation, "/", "overview-phone-dark", dark=True)


def test_dark_mode_follows_the_system_and_can_be_chosen(installation: Installation, page: Page) -> None:
    signed_in(installation, page, "/", "admin")
    expect(page.locator("body.body--dark")).to_have_count(0)
    page.get_by_role("button", name="Light or dark").click()  # auto → light
    page.get_by_role("button", name="Light or dark").click()  # light → dark
    expect(page.locator("body.body--dark")).to_have_count(1)


def test_the_history_chart_answers_a_zoom(installation: Installation, page: Page, browser: Browser) -> None:
    world = installation.world
    signed_in(installation, page, f"/meters/{world.meter_a}", "admin")
    caption = page.get_by_test_id("history-caption")
    expect(caption).to_contain_text("5 min buckets")
    keep_screenshot(page, "meter-desktop")

    chart = page.locator('[data-chart="history"]')
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.4)
    for _ in range(10):
        page.mouse.wheel(0, -400)
    expect(caption).not_to_contain_text("5 min buckets", timeout=5000)
    expect(page.get_by_test_id("history-empty")).to_be_hidden()

    phone_screenshot(browser, installation, f"/meters/{world.meter_a}", "meter-phone")


def test_a_viewer_cannot_see_another_sites_meters_in_the_ui_the_api_or_the_websocket(
    installation: Installation, page: Page
) -> None:
    world = installation.world
    signed_in(installation, page, "/", "viewer")
    expect(page.get_by_text("Home A").first).to_be_visible()
    expect(page.get_by_text("Home B")).to_have_count(0)
    expect(page.locator(f'[data-meter="{world.meter_b}"]')).to_have_count(0)

    url = installation.server.url
    page.goto(f"{url}/meters/{world.meter_b}")
    expect(page.get_by_text("No such meter.")).to_be_visible()

    # The REST API with nothing but the browser's session cookie.
    devices = page.request.get(f"{url}/api/v1/devices").json()
    assert {d["site_id"] for d in devices} == {world.site_a}
    assert page.request.get(f"{url}/api/v1/devices/{world.meter_b}/series").status == 404

    # The live WebSocket, opened by the page itself (the browser sends the cookie).
    page.evaluate(
        """() => new Promise((resolve, reject) => {
            window.liveMessages = [];
            const ws = new WebSocket(location.origin.replace('http', 'ws') + '/api/v1/live');
            ws.onmessage = (e) => window.liveMessages.push(JSON.parse(e.data));
            ws.onopen = () => resolve(true);
            ws.onclose = (e) => reject(new Error('closed ' + e.code));
        })"""
    )
    post(installation, world.key_b, {"power": 777.0})
    post(installation, world.key_a, {"power": 555.0})
    page.wait_for_function("() => window.liveMessages.some(m => m.data.some(r => r.power === 555))", timeout=5000)
    seen = page.evaluate("() => window.liveMessages.flatMap(m => m.data.map(r => r.device_id))")
    assert world.meter_b not in seen


def test_signing_out_returns_to_the_sign_in_page(installation: Installation, page: Page) -> None:
    url = installation.server.url
    sign_in(page, f"{url}/", "viewer", "viewer-password")
    expect(page.get_by_text("Home A").first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("input[name=username]")).to_be_visible()
    assert page.request.get(f"{url}/api/v1/me").status == 401


def test_when_the_server_goes_away_the_page_says_so_and_recovers(installation: Installation, page: Page) -> None:
    world = installation.world
    signed_in(installation, page, "/", "admin")
    expect(page.locator(f'[data-meter="{world.meter_a}"]')).to_be_visible()
    installation.server.stop(crash=True)
    expect(page.get_by_text("Connection lost.")).to_be_visible(timeout=30_000)
    installation.server.start()
    expect(page.get_by_text("Connection lost.")).to_be_hidden(timeout=60_000)
    post(installation, world.key_a, {"power": 321.0})
    expect(page.locator(f'[data-meter="{world.meter_a}"] [data-field="power"]')).to_have_text("321 W", timeout=5000)


def test_moving_on_quickly_leaves_no_traceback_in_the_servers_log(installation: Installation, page: Page) -> None:
    """Someone clicking through the menu: each page is left as soon as it is connected. The
    server's log stays free of errors (it logged one per page the drawer could not ask about)."""
    log = installation.server.data_dir / "server.log"
    before = log.read_text()
    signed_in(installation, page, "/", "admin")
    for path in ("/sites", "/bill", "/alerts", "/findings", "/account") * 2:
        page.goto(installation.server.url + path)
        page.wait_for_function("() => window.socket && window.socket.connected", timeout=10_000)
    page.goto(installation.server.url + "/")
    expect(page.locator(f'[data-meter="{installation.world.meter_a}"]')).to_be_visible()
    page.wait_for_timeout(1500)  # the server's one-second wait for an answer has run out by now
    added = log.read_text()[len(before) :]
    assert "Traceback" not in added, added[-3000:]


CONTRAST = """el => {
    const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = c => { const [r, g, b] = rgb(c).map(channel); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const clear = e => ['rgba(0, 0, 0, 0)', 'transparent'].includes(getComputedStyle(e).backgroundColor);
    let bg = el;
    while (bg && clear(bg)) bg = bg.parentElement;
    const color = getComputedStyle(el).color, behind = getComputedStyle(bg || document.body).backgroundColor;
    const [a, b] = [lum(color), lum(behind)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
}"""


def test_outlined_badges_are_readable_in_the_dark(installation: Installation, browser: Browser) -> None:
    """A site's role badge (and a meter's main/sub badge) is outlined in the secondary colour:
    slate on a near-black card was 1.5:1, below the 3:1 that text this size needs."""
    context = browser.new_context(viewport=PHONE, color_scheme="dark")  # type: ignore[arg-type]
    page = context.new_page()
    signed_in(installation, page, "/sites", "admin")
    badge = page.locator(".q-badge--outline", has_text="administrator").first
    expect(badge).to_be_visible()
    assert badge.evaluate(CONTRAST) >= 3.0
    context.close()


@pytest.mark.parametrize("clipboard_api", [True, False], ids=["https-or-localhost", "plain-http-on-a-lan"])
def test_copying_a_new_token_says_it_was_copied(
    installation: Installation, browser: Browser, clipboard_api: bool
) -> None:
    """Copy gives feedback, and copies also where the Clipboard API is missing (a phone on
    http://192.168.x.y: not a secure context), where it used to do nothing at all."""
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    if clipboard_api:
        context.grant_permissions(["clipboard-read", "clipboard-write"])
    else:
        context.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page = context.new_page()
    signed_in(installation, page, "/account", "admin")
    page.get_by_role("button", name="New token").click()
    secret = page.locator('input[data-testid="secret"], [data-testid="secret"] input').first
    expect(secret).to_have_value(re.compile("^wwt_"))
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    if clipboard_api:
        assert page.evaluate("navigator.clipboard.readText()") == secret.input_value()
    else:
        selected = secret.evaluate("i => i.value.slice(i.selectionStart, i.selectionEnd)")
        assert selected == secret.input_value()
    context.close()
