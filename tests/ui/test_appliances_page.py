"""The Appliances page through NiceGUI's simulated user: events on the chart, the unidentified
queue labelled in one click, each appliance's runs and energy, and who may label."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from nicegui import ui
from nicegui.testing import User
from playwright.sync_api import Browser

from support import World
from ui.browser_support import Installation, serve_seeded
from ui.conftest import two_days_of_minutes
from ui.test_energy_pages import screenshots
from wattwise.detectors import library
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store.clock import now_ms
from wattwise.store.detections import NewEvent, NewRun

SignIn = Callable[[str], None]
MINUTE = 60_000


def kettle_run(world: World, start: int, minutes: int = 3, watts: float = 1800.0) -> tuple[int, int]:
    """A switching the detector could not name: an ON, an OFF and the run between them, as stored."""
    end = start + minutes * MINUTE
    with world.services.engine.begin() as conn:
        on, off = detections.insert_events(
            conn,
            world.meter_a,
            [
                NewEvent(start, watts, None, watts * 1.1, 2000, 120.0, 120.0 + watts, "unidentified", 0.3),
                NewEvent(
                    start + minutes * MINUTE, -watts, None, watts, 2000, 120.0 + watts, 120.0, "unidentified", 0.3
                ),
            ],
        )
        detections.insert_runs(conn, world.meter_a, [NewRun(start, end, watts, "unidentified", on, off)])
    return on, off


def power(world: World, start: int, end: int) -> None:
    world.ingest([{"ts": t, "power": 120.0} for t in range(start, end, MINUTE)])


async def test_no_events_yet_says_so(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("No events yet")
    await user.should_see("Nothing waiting for a name.")
    await user.should_see("No appliances named yet")


async def test_a_long_queue_says_more_wait_than_it_lists(user: User, dashboard: World, sign_in: SignIn) -> None:
    """51 kettle runs wait for a name (102 events): the queue lists 50 and its count says 50+, not 50."""
    start = now_ms() - 60 * 60 * MINUTE
    for i in range(51):
        kettle_run(dashboard, start + i * 10 * MINUTE)
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("Unidentified")
    await user.should_see("50+")


async def test_an_unidentified_event_is_named_and_becomes_an_appliance(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    t = now_ms() - 2 * 3_600_000
    power(dashboard, t - 10 * MINUTE, t + 20 * MINUTE)
    on, _ = kettle_run(dashboard, t)
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("ON +1,800 W")
    await user.should_see("OFF −1,800 W")
    chart = next(e for e in user.find(ui.echart).elements if e.props.get("data-chart") == "appliance-events")
    markers = {s["name"]: s["data"] for s in chart.options["series"] if s["type"] == "scatter"}  # type: ignore[attr-defined]
    # drawn at the site's clock (Home A is in India, UTC+5:30), whatever the browser's zone
    assert [m["value"][0] for m in markers["on"]] == [t + 330 * MINUTE]
    assert chart.options["useUTC"] is True  # type: ignore[attr-defined]
    await user.should_see("times in Asia/Kolkata")
    user.find(marker=f"new-name-{on}").type("kettle")
    user.find(marker=f"label-{on}").click()
    await user.should_see("kettle · 1 runs · 0.09 kWh")  # 1.8 kW for 3 minutes
    await user.should_see("Nothing waiting for a name.")  # the run's OFF event was named with it


async def two_kettle_runs_on_the_page(user: User, dashboard: World, sign_in: SignIn) -> tuple[int, int, int]:
    """Two unnamed kettle runs half an hour apart, the admin looking at them: first ON, second ON and OFF."""
    t = now_ms() - 3 * 3_600_000
    first, _ = kettle_run(dashboard, t)
    second, second_off = kettle_run(dashboard, t + 30 * MINUTE)
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    return first, second, second_off


async def test_one_label_names_the_events_that_look_alike(user: User, dashboard: World, sign_in: SignIn) -> None:
    first, second, second_off = await two_kettle_runs_on_the_page(user, dashboard, sign_in)
    await user.should_see(marker=f"alike-{first}")  # "+3 alike": its OFF, and the other run's ON and OFF
    (name_alike,) = user.find(marker="name-alike").elements
    name_alike.value = True
    user.find(marker=f"new-name-{first}").type("kettle")
    user.find(marker=f"label-{first}").click()
    await user.should_see("Labelled kettle: 4 events")
    await user.should_see("kettle · 2 runs")
    await user.should_see("Nothing waiting for a name.")
    with dashboard.services.engine.connect() as conn:
        named = [detections.get_event(conn, e) for e in (second, second_off)]
    assert [(e.label, e.source) for e in named] == [("kettle", "user")] * 2


async def test_a_known_appliance_is_one_click_away(user: User, dashboard: World, sign_in: SignIn) -> None:
    first, second, _ = await two_kettle_runs_on_the_page(user, dashboard, sign_in)
    user.find(marker=f"new-name-{first}").type("kettle")  # one event at a time, as by default
    user.find(marker=f"label-{first}").click()
    await user.should_see("kettle · 1 runs")
    user.find(marker=f"label-{second}-kettle").click()
    await user.should_see("kettle · 2 runs")
    with dashboard.services.engine.connect() as conn:
        labelled = detections.get_event(conn, second)
    assert (labelled.label, labelled.source) == ("kettle", "user")


async def test_a_misspelt_appliance_is_merged_and_another_renamed(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    t = now_ms() - 3 * 3_600_000
    for i, name in enumerate(("kettle", "ketle")):
        on, _ = kettle_run(dashboard, t + i * 30 * MINUTE)
        dashboard.services.writer.run(lambda c, e=on, n=name: library.label_event(c, e, n))
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("ketle · 1 runs")
    user.find(marker="rename-ketle").type("kettle")
    user.find(marker="rename-button-ketle").click()
    await user.should_see("ketle merged into kettle")
    await user.should_see("kettle · 2 runs")
    user.find(marker="rename-kettle").type("electric kettle")
    user.find(marker="rename-button-kettle").click()
    await user.should_see("electric kettle · 2 runs")


async def test_a_fridge_running_now_is_shown_and_counted_as_provisional(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    t = now_ms() - 3 * 3_600_000
    on, _ = kettle_run(dashboard, t, minutes=15, watts=120.0)
    dashboard.services.writer.run(lambda c: library.label_event(c, on, "fridge"))
    going, _ = kettle_run(dashboard, t + 120 * MINUTE, minutes=10, watts=120.0)  # its run, stored final
    with dashboard.services.engine.begin() as conn:  # as the detector replaces it: running for 10 min so far
        conn.execute(detections.appliance_runs.delete().where(detections.appliance_runs.c.on_event_id == going))
        detections.replace_provisional(
            conn, dashboard.meter_a, [NewRun(t + 120 * MINUTE, t + 130 * MINUTE, 120.0, "fridge", going, None)]
        )
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("fridge · 2 runs · 0.05 kWh · 1 running or undecided")  # 120 W for 25 min
    await user.should_see("10 min (so far, may still change)")
    await user.should_see("15 min")


async def test_a_viewer_sees_the_queue_but_cannot_label(user: User, dashboard: World, sign_in: SignIn) -> None:
    on, _ = kettle_run(dashboard, now_ms() - 3_600_000)
    sign_in("viewer")
    await user.open("/appliances")
    await user.should_see("ON +1,800 W")
    await user.should_see("Viewers may look but not label")
    await user.should_not_see(marker=f"label-{on}")


async def test_events_the_detector_stores_appear_without_reloading(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    sign_in("admin")
    await user.open(f"/appliances?meter={dashboard.meter_a}")
    await user.should_see("Nothing waiting for a name.")
    kettle_run(dashboard, now_ms() - 30 * MINUTE)
    dashboard.services.bus.publish("events", [{"type": "event", "device_id": dashboard.meter_a}])
    await user.should_see("ON +1,800 W", retries=30)


# ---- in a real browser: a screenshot at desktop width and at 360 px ---------------------------


def seed_switchings(services: Services, world: World) -> None:
    """Two days of a household's minutes (a geyser runs 9 minutes in every 97) with its switchings
    as the detector would store them; the older ones named, the last three runs left to name."""
    end = now_ms()
    readings = [r for r in two_days_of_minutes(end) if r["ts"] > end - 25 * 3_600_000]  # the chart shows 24 h
    services.pipeline.ingest_blocking(world.meter_a, readings)
    starts = [int(r["ts"]) for r in readings if (int(r["ts"]) // MINUTE) % 97 == 0]
    first_ids = [kettle_run(world, t, minutes=9, watts=1400.0)[0] for t in starts[:-1]]
    for i, event_id in enumerate(first_ids[:-3]):
        services.writer.run(lambda c, e=event_id, n=("geyser" if i % 4 else "water pump"): library.label_event(c, e, n))


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from serve_seeded(tmp_path_factory.mktemp("appliances"), seed_switchings)


@pytest.mark.browser
def test_the_appliances_page_in_a_browser(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/appliances", "appliances", "Unidentified")
