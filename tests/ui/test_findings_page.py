"""The Findings page through NiceGUI's simulated user: what the detectors noticed, in plain
words, judged with one click; who may judge; new findings appear without a reload."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from nicegui.testing import User
from playwright.sync_api import Browser

from support import World
from ui.browser_support import Installation, serve_seeded
from ui.test_energy_pages import screenshots
from wattwise.runtime import Services
from wattwise.store import findings as finding_store
from wattwise.store.clock import now_ms
from wattwise.store.findings import NewFinding

SignIn = Callable[[str], None]
HOUR = 3_600_000


def store_finding(world: World, device_id: int, kind: str, reason: str, *, hours_ago: float = 2) -> int:
    start = now_ms() - int(hours_ago * HOUR)
    with world.services.engine.begin() as conn:
        found = finding_store.add_finding(
            conn, NewFinding(device_id, kind, start, start + 20 * 60_000, 0.9, reason, {"level": 2400.0, "hour": 14})
        )
    return found.id


async def test_nothing_noticed_says_so(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/findings")
    await user.should_see("Nothing waiting for you")


async def test_a_finding_reads_in_plain_words_and_ignore_takes_it_off_the_list(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    reason = "power 2.4 kW is 5× the usual for Tuesday 14:00"
    finding = store_finding(dashboard, dashboard.meter_a, "anomaly", reason)
    sign_in("admin")
    await user.open("/findings")
    await user.should_see(reason)
    await user.should_see("Unusual use")
    await user.should_see("20 min")
    user.find(marker=f"ignore-{finding}").click()
    await user.should_see("Nothing waiting for you: every finding so far is judged (see All)")
    await user.should_not_see("have not noticed anything")  # they did: it was just judged
    with dashboard.services.engine.connect() as conn:
        judged = finding_store.get_finding(conn, finding)
    assert (judged.verdict, judged.status, judged.verdict_by) == ("ignore", "ignored", "admin")
    await user.open("/findings?status=ignored")
    await user.should_see(reason)
    await user.should_see("ignored by admin")


async def test_a_finding_its_detector_closed_says_why_under_closed(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    finding = store_finding(dashboard, dashboard.meter_a, "balance_loss", "about 20 % of the main meter unaccounted")
    why = "Closed by the detectors: the energy balance's interval changed from 5 to 15 min"
    with dashboard.services.engine.begin() as conn:
        start = finding_store.get_finding(conn, finding).start_ts
        finding_store.close_open(conn, dashboard.meter_a, "balance_loss", start, why)
    sign_in("admin")
    await user.open("/findings")
    await user.should_see("Nothing waiting for you")
    await user.open("/findings?status=closed")
    await user.should_see("about 20 % of the main meter unaccounted")
    await user.should_see(why)


async def test_raise_keeps_it_and_says_who_raised_it(user: User, dashboard: World, sign_in: SignIn) -> None:
    finding = store_finding(dashboard, dashboard.meter_a, "sag", "voltage fell to 181 V (79 % of 230 V) for 3 s")
    sign_in("admin")
    await user.open("/findings?status=all")
    user.find(marker=f"raise-{finding}").click()
    await user.should_see("raised by admin")
    with dashboard.services.engine.connect() as conn:
        assert finding_store.get_finding(conn, finding).status == "confirmed"


async def test_a_viewer_sees_findings_of_their_site_only_and_cannot_judge(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    mine = store_finding(dashboard, dashboard.meter_a, "balance_loss", "sub-meters miss 12 % of the main meter")
    store_finding(dashboard, dashboard.meter_b, "theft", "a day unlike this meter's own")
    sign_in("viewer")
    await user.open("/findings")
    await user.should_see("sub-meters miss 12 % of the main meter")
    await user.should_not_see("a day unlike this meter's own")
    await user.should_not_see(marker=f"ignore-{mine}")


async def test_a_new_finding_appears_without_a_reload(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/findings")
    await user.should_see("Nothing waiting for you")
    finding = store_finding(
        dashboard, dashboard.meter_a, "grid_surge", "voltage rose 9 V while power rose: a grid surge"
    )
    with dashboard.services.engine.connect() as conn:
        dashboard.services.bus.publish("findings", [finding_store.get_finding(conn, finding).to_dict()])
    await user.should_see("voltage rose 9 V while power rose: a grid surge", retries=30)


# ---- in a real browser: a screenshot at desktop width and at 360 px ---------------------------


def seed_findings(services: Services, world: World) -> None:
    """A few days of what the detectors notice on a household meter, one already ignored."""
    for hours_ago, kind, reason in (
        (1, "anomaly", "power 2.4 kW is 5× the usual for Tuesday 14:00"),
        (5, "sag", "voltage fell to 181 V (79 % of 230 V) for 3 s"),
        (26, "grid_surge", "voltage rose 9 V while power rose 40 W: the grid, not a load switching on"),
        (50, "balance_loss", "the sub-meters account for 88 % of the main meter since 06:00: 12 % unaccounted"),
    ):
        store_finding(world, world.meter_a, kind, reason, hours_ago=hours_ago)


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from serve_seeded(tmp_path_factory.mktemp("findings"), seed_findings)


@pytest.mark.browser
def test_the_findings_page_in_a_browser(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/findings", "findings", "Unusual use", dark=True)
