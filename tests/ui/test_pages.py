"""Page logic through NiceGUI's simulated user: who sees what, live updates, empty states, admin actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np
from nicegui import Client, ui
from nicegui.testing import User

from support import World, dashboard_pages
from wattwise.analysis.theft import fit_balance
from wattwise.detectors.balance import MODEL_KIND, BalanceState
from wattwise.store.clock import now_ms
from wattwise.store.detector_models import save_model
from wattwise.store.devices import set_role
from wattwise.store.sites import create_site

SignIn = Callable[[str], None]


async def test_a_stranger_is_asked_to_sign_in(user: User, dashboard: World, sign_in: SignIn) -> None:
    await user.open("/")
    await user.should_see("Sign in")
    await user.should_not_see("Home A")


async def test_a_failed_sign_in_says_so(user: User, dashboard: World, sign_in: SignIn) -> None:
    await user.open("/login?error=1")
    await user.should_see("Wrong username or password.")


async def test_a_viewer_sees_only_their_site(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("viewer")
    await user.open("/")
    await user.should_see("Home A")
    await user.should_not_see("Home B")


async def test_another_sites_meter_page_is_not_found(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    sign_in("viewer")
    await user.open(f"/meters/{dashboard.meter_b}")
    await user.should_see("No such meter.")


async def test_a_meter_address_that_is_no_number_is_not_found_either(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    """/meters/abc (a name typed for an id) answered with FastAPI's JSON validation error."""
    sign_in("admin")
    await user.open("/meters/kitchen")
    await user.should_see("No such meter.")


async def test_the_overview_shows_a_reading_as_it_lands(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    sign_in("admin")
    await user.open("/")
    await user.should_see("Never reported", retries=3)
    await dashboard.services.pipeline.ingest(
        dashboard.meter_a, [{"power": 512.0, "voltage": 231.4, "current": 2.3, "pf": 0.97, "frequency": 50.02}]
    )
    await user.should_see("512 W")
    await user.should_see("231.4 V")
    await user.should_see("0.97")


async def test_todays_energy_adds_up_the_readings(user: User, dashboard: World, sign_in: SignIn) -> None:
    t = now_ms() - 60_000
    await dashboard.services.pipeline.ingest(
        dashboard.meter_a, [{"ts": t, "power": 1000.0}, {"ts": t + 36_000, "power": 1000.0}]
    )
    sign_in("admin")
    await user.open("/")
    await user.should_see("0.010 kWh")  # 1 kW for 36 s


async def test_a_site_without_meters_says_how_to_add_one(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    with dashboard.services.engine.begin() as conn:
        create_site(conn, "Empty hostel")
    sign_in("admin")
    await user.open("/")
    await user.should_see("No meters yet.")
    await user.should_see("Add a meter")


async def test_an_owner_adds_a_meter_and_sees_its_key_once(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    sign_in("admin")
    await user.open("/sites")
    user.find(marker=f"meter-name-{dashboard.site_a}").type("fridge")
    user.find(marker=f"add-meter-{dashboard.site_a}").click()
    await user.should_see("Copy it now: it is shown only this once.")
    await user.should_see("fridge")
    # the curl line to try the key names this server, as the page was opened, not a placeholder
    await user.should_see("curl -X POST http://test/api/v1/ingest -H 'Authorization: Bearer wwd_")
    await user.should_not_see("THIS-SERVER")


async def test_a_viewer_cannot_add_meters(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("viewer")
    await user.open("/sites")
    await user.should_see("Home A")
    await user.should_not_see("Add meter")


async def test_a_new_api_token_is_shown_once_and_works(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    sign_in("viewer")
    await user.open("/account")
    user.find("New token").click()
    await user.should_see("Your new API token")
    await user.should_see("the live feed is `ws://test/api/v1/live?token=<token>`")
    token = next(iter(user.find(marker="secret").elements)).value  # type: ignore[attr-defined]
    assert token.startswith("wwt_")
    response = dashboard.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["username"] == "viewer"


async def test_the_history_answers_a_zoom_with_finer_buckets(
    user: User, dashboard: World, sign_in: Callable[[str], None]
) -> None:
    end = now_ms()
    start = end - 20 * 3_600_000
    await dashboard.services.pipeline.ingest(
        dashboard.meter_a, [{"ts": t, "power": 100.0 + (t // 60_000) % 7} for t in range(start, end, 60_000)]
    )
    sign_in("admin")
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("5 min buckets")
    chart = next(e for e in user.find(ui.echart).elements if e.props.get("data-chart") == "history")
    listener = next(i for i, x in chart._event_listeners.items() if x.type == "chart:datazoom")
    chart._handle_event({"listener_id": listener, "args": {"batch": [{"start": 95.0, "end": 100.0}]}})
    await user.should_see("from raw readings")  # 1.2 h visible: 10 s buckets, served from raw


async def test_the_shown_history_downloads_as_csv(user: User, dashboard: World, sign_in: SignIn) -> None:
    end = now_ms()
    await dashboard.services.pipeline.ingest(dashboard.meter_a, [{"ts": end - 120_000, "power": 250.0}])
    sign_in("admin")
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("1 shown")
    user.find("CSV").click()
    response = await user.download.next()
    lines = response.text.splitlines()
    assert lines[0] == "time_utc,ts_ms,bucket_ms,power_min,power_mean,power_max,count"
    assert lines[1].split(",")[3:] == ["250.0", "250.0", "250.0", "1"]


async def test_a_main_meters_page_says_whether_its_energy_balance_is_watching(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    with dashboard.services.engine.begin() as conn:
        set_role(conn, dashboard.meter_a, role="main")
    sign_in("viewer")
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("Energy balance against the sub-meters")
    await user.should_see("No interval has been complete on every meter of the group yet.")

    swinging = BalanceState(
        learn=96, model=asdict(replace(fit_balance(np.full(20, 500.0), np.full(20, 200.0)), steady=False, coverage=0.4))
    )
    with dashboard.services.engine.begin() as conn:
        save_model(conn, dashboard.meter_a, MODEL_KIND, json.dumps(swinging.to_dict()).encode())
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("Not watching for losses: the sub-meters see 40 %")


async def test_the_meter_charts_show_the_sites_clock(user: User, dashboard: World, sign_in: SignIn) -> None:
    """Home A is in India (UTC+5:30): a reading at t is drawn at t's Indian wall clock, whatever
    the browser's zone, as every time on the dashboard is written."""
    t = now_ms() - 60_000
    await dashboard.services.pipeline.ingest(dashboard.meter_a, [{"ts": t, "power": 321.0}])
    sign_in("admin")
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("times in Asia/Kolkata")
    charts = {e.props.get("data-chart"): e for e in user.find(ui.echart).elements}
    live = charts["live"].options  # type: ignore[attr-defined]
    assert live["useUTC"] is True
    assert live["series"][0]["data"] == [[t + 330 * 60_000, 321.0]]


def timers(client: Client) -> int:
    return sum(isinstance(e, ui.timer) for e in client.elements.values())


async def test_a_page_fetched_without_a_browser_leaves_no_timer_waiting_for_it(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """curl, a crawler or a link preview fetches a page and never opens its websocket: NiceGUI
    cancels each timer such a page made after 60 s with an ERROR in the server's log ("Timer
    cancelled because client is not connected"). The pages start their timers only once a
    browser connects, so such a fetch leaves none; a browser's tab has them."""
    with dashboard.services.engine.begin() as conn:
        set_role(conn, dashboard.meter_a, role="main")  # its page has the balance card's timer too
    sign_in("admin")
    pages = ("/", f"/meters/{dashboard.meter_a}")
    for path in pages:
        before = set(Client.instances)
        fetched = await user.http_client.get(path)
        assert fetched.status_code == 200
        (made,) = [c for key, c in Client.instances.items() if key not in before]
        assert timers(made) == 0, path
    for path in pages:
        await user.open(path)
        assert timers(user.client) > 0, path  # type: ignore[arg-type]


async def test_pages_fetched_without_a_browser_hold_no_bus_subscription_once_nicegui_gives_up_on_them(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """curl, a crawler or a tab closed before its websocket opened: NiceGUI deletes such a page
    60 s later without running its disconnect handlers (here its prune is run at once, through its
    public ``Client.prune_instances``). The page's bus subscriptions go with it; they stayed until
    the next message on their topic, for a quiet topic (findings, alerts) hours later."""
    bus = dashboard.services.bus
    sign_in("admin")
    before = bus.subscribers()
    for path in dashboard_pages(dashboard):
        fetched = await user.http_client.get(path)
        assert fetched.status_code == 200, path
    held = bus.subscribers()
    # taken while the page is built, so that nothing stored before the browser connects is missed
    assert {t: held.get(t, 0) - before.get(t, 0) for t in ("readings", "events", "findings", "alerts")} == {
        "readings": 2,
        "events": 1,
        "findings": 1,
        "alerts": 1,
    }
    Client.prune_instances(client_age_threshold=0)
    assert bus.subscribers() == before


async def test_a_tab_deleted_while_it_waits_to_reconnect_leaves_no_bus_subscription(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """NiceGUI 2.x also prunes a tab older than 60 s whose browser is reconnecting (a phone
    that lost its signal), again without its disconnect handlers: its subscriptions end with it."""
    bus = dashboard.services.bus
    sign_in("admin")
    before = bus.subscribers()
    await user.open(f"/meters/{dashboard.meter_a}")
    await user.should_see("Last 10 minutes")
    assert bus.subscribers().get("readings", 0) == before.get("readings", 0) + 1
    user.client.delete()  # type: ignore[union-attr]
    assert bus.subscribers() == before
