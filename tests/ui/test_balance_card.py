"""The energy-balance card of a main meter: the site's owner vouches for a clean period typed
on the site's clock and reads what it taught, or why it was refused; others see the period.

Home A is in India (UTC+5:30): the times typed and shown are Indian wall-clock times.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from nicegui.testing import User
from playwright.sync_api import Browser, expect

from support import World
from ui.browser_support import Installation, keep_screenshot, serve_seeded
from ui.test_browser import signed_in
from wattwise.analysis.theft import fit_balance
from wattwise.detectors.balance import MODEL_KIND, BalanceState
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.detector_models import save_model
from wattwise.store.devices import create_device, set_role
from wattwise.store.users import create_user, grant
from wattwise.ui.balance_card import local_ms

SignIn = Callable[[str], None]
HOUR = 3_600_000
INDIA = ZoneInfo("Asia/Kolkata")


def main_with_subs(services: Services, world: World) -> tuple[int, int]:
    """Meter A as site A's main meter over two sub-meters, all reporting every minute for the
    five whole hours that ended an hour ago; the main meter also reads a steady 100 W nobody
    sub-meters. Returns those five hours (epoch ms)."""
    until = now_ms() // HOUR * HOUR - HOUR
    since = until - 5 * HOUR
    with services.engine.begin() as conn:
        set_role(conn, world.meter_a, role="main")
        subs = [create_device(conn, site_id=world.site_a, name=n).device.id for n in ("kitchen", "rooms")]
        for sub in subs:
            set_role(conn, sub, role="sub", parent_id=world.meter_a)
    minutes = np.arange(since, until + 60_000, 60_000)
    kitchen = 400 + 300 * np.sin(minutes / 2.2e6) ** 2
    rooms = 250 + 150 * ((minutes // 60_000) % 90 < 40)
    for device, watts in ((subs[0], kitchen), (subs[1], rooms), (world.meter_a, kitchen + rooms + 100)):
        rows = [{"ts": int(t), "power": round(float(p), 1)} for t, p in zip(minutes, watts, strict=True)]
        services.pipeline.ingest_blocking(device, rows)
    return since, until


def an_owner_and_a_member_of_site_a(world: World) -> None:
    with world.services.engine.begin() as conn:
        grant(conn, create_user(conn, "owner", "owner-password").id, world.site_a, "owner")
        grant(conn, create_user(conn, "member", "member-password").id, world.site_a, "member")


def set_period(user: User, since: int, until: int) -> None:
    for name, at in (("since", since), ("until", until)):
        local = datetime.fromtimestamp(at / 1000, INDIA)
        user.find(marker=f"{name}-date").clear().type(f"{local:%Y-%m-%d}")
        user.find(marker=f"{name}-time").clear().type(f"{local:%H:%M}")


def balance_of(world: World) -> dict[str, Any]:
    response = world.client.get(f"/api/v1/devices/{world.meter_a}/balance", headers=world.auth())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_owner_vouches_for_a_period_on_the_sites_clock_and_reads_what_it_taught(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    since, until = main_with_subs(dashboard.services, dashboard)
    an_owner_and_a_member_of_site_a(dashboard)
    sign_in("owner")
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("No period vouched clean")
    await user.should_see("Times in Asia/Kolkata")

    set_period(user, since, until)
    user.find(marker="vouch").click()
    local = f"{datetime.fromtimestamp(since / 1000, INDIA):%Y-%m-%d %H:%M}"
    await user.should_see(f"{local} – ", marker="vouch-asked")  # asked first, in the site's time
    assert "clean_period" not in balance_of(dashboard), "nothing is stored before the owner confirms"
    user.find(marker="vouch-confirm").click()

    # five hours of 15-minute intervals teach the 100 W base: 25 Wh an interval
    await user.should_see("Vouched. The period has 20 intervals of 15 min: an unmetered base of 25.0 Wh an interval.")
    await user.should_see("Watching for losses: the sub-meters see")
    await user.should_see(f"Vouched clean: {local} – ")
    await user.should_see("not applied yet: the detectors learn from it")
    stored = balance_of(dashboard)["clean_period"]
    assert (stored["since"], stored["until"], stored["applied"]) == (since, until, False)


async def test_a_period_the_balance_cannot_learn_from_is_refused_with_the_reason(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    since, until = main_with_subs(dashboard.services, dashboard)
    sign_in("admin")
    await user.open(f"/meters/{dashboard.meter_a}")
    refusals = [
        ((since, since + 2 * HOUR), "Not vouched: the period has 8 intervals of 15 min in which the main meter"),
        ((until, now_ms() + 2 * HOUR), "Not vouched: To: the period is not over yet (it ends"),
        ((until, since), "Not vouched: To: must be after since"),
    ]
    for (start, end), reason in refusals:
        set_period(user, start, end)
        user.find(marker="vouch").click()
        await user.should_see(marker="vouch-confirm")
        user.find(marker="vouch-confirm").click()
        await user.should_see(reason, marker="vouch-result")
    user.find(marker="since-time").clear().type("25:00")
    user.find(marker="vouch").click()
    await user.should_see("Not vouched: From: enter a date and a time (YYYY-MM-DD and HH:MM)", marker="vouch-result")
    assert "clean_period" not in balance_of(dashboard)


async def test_a_viewer_and_a_member_see_the_vouched_period_and_whether_it_is_applied_but_no_control(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    since, until = main_with_subs(dashboard.services, dashboard)
    an_owner_and_a_member_of_site_a(dashboard)
    answer = dashboard.client.put(
        f"/api/v1/devices/{dashboard.meter_a}/balance/clean-period",
        json={"since": since, "until": until},
        headers=dashboard.auth(),
    )
    assert answer.status_code == 200, answer.text
    local = f"{datetime.fromtimestamp(since / 1000, INDIA):%Y-%m-%d %H:%M}"
    for name in ("viewer", "member"):
        sign_in(name)
        await user.open(f"/meters/{dashboard.meter_a}")
        await user.should_see(f"Vouched clean: {local} – ")
        await user.should_see("not applied yet")
        await user.should_see("Only the site's owner can vouch for a clean period.")
        await user.should_not_see(marker="vouch")
        await user.should_not_see(marker="since-date")

    # the detectors learn from it and save their state with the vouch they applied
    vouched = {k: answer.json()[k] for k in ("since", "until", "at")}
    state = BalanceState(learn=96, model=asdict(fit_balance(np.full(20, 500.0), np.full(20, 475.0))), clean=vouched)
    with dashboard.services.engine.begin() as conn:
        save_model(conn, dashboard.meter_a, MODEL_KIND, json.dumps(state.to_dict()).encode())
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("applied: the base now comes from this period")


def test_a_time_the_sites_clocks_skipped_is_refused_and_a_repeated_one_is_the_first() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # clocks forward at 02:00 on 29 March 2026, back at 03:00 on 25 October
    with pytest.raises(ValueError, match=r"^From: 2026-03-29 02:30 did not happen in Europe/Berlin"):
        local_ms("2026-03-29", "02:30", berlin, "From")
    assert local_ms("2026-10-25", "02:30", berlin, "To") == 1_792_888_200_000  # 00:30 UTC, summer time
    assert local_ms("2026-11-24", "18:00:00", INDIA, "To") == local_ms("2026-11-24", "18:00", INDIA, "To")


# ---- in a real browser, at a phone's width ----------------------------------------------------

PHONE_390 = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def seeded() -> list[tuple[int, int]]:
    """The hours ``main_with_subs`` gave the served installation."""
    return []


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory, seeded: list[tuple[int, int]]) -> Iterator[Installation]:
    yield from serve_seeded(tmp_path_factory.mktemp("balance"), lambda s, w: seeded.append(main_with_subs(s, w)))


@pytest.mark.browser
def test_the_owner_vouches_on_a_phone(
    installation: Installation, browser: Browser, seeded: list[tuple[int, int]]
) -> None:
    """At 390 px the period's inputs and the button fit the screen and answer a tap."""
    ((since, until),) = seeded
    context = browser.new_context(viewport=PHONE_390, timezone_id="UTC")  # type: ignore[arg-type]
    page = context.new_page()
    try:
        signed_in(installation, page, f"/meters/{installation.world.meter_a}", "admin")
        card = page.get_by_test_id("balance")
        expect(card).to_be_visible()
        for name, at in (("since", since), ("until", until)):
            local = datetime.fromtimestamp(at / 1000, INDIA)
            page.get_by_test_id(f"{name}-date").fill(f"{local:%Y-%m-%d}")
            page.get_by_test_id(f"{name}-time").fill(f"{local:%H:%M}")
        for control in ("since-date", "since-time", "until-date", "until-time", "vouch"):
            box = page.get_by_test_id(control).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (control, box)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing runs off the screen"
        page.get_by_test_id("vouch").click()
        page.get_by_test_id("vouch-confirm").click()
        expect(page.get_by_test_id("vouch-result")).to_contain_text("The period has 20 intervals of 15 min")
        expect(page.get_by_test_id("vouched")).to_contain_text(
            f"Vouched clean: {datetime.fromtimestamp(since / 1000, INDIA):%Y-%m-%d %H:%M} – "
        )
        # the server's detectors learn from it; the card looks again until they have
        expect(page.get_by_test_id("vouched")).to_contain_text("applied: the base now comes from", timeout=30_000)
        keep_screenshot(page, "meter-balance-phone")
    finally:
        context.close()
