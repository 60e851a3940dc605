"""The Energy, Bill and Payments pages through NiceGUI's simulated user: empty states, a tariff
chosen from the page, costs and budget, bills and payments recorded from the page."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from nicegui import ui
from nicegui.testing import User

from support import World
from wattwise.accounting import site as site_ops
from wattwise.analysis.billing import Budget
from wattwise.store.clock import now_ms

SignIn = Callable[[str], None]
HOUR_MS = 3_600_000


def hourly_counter(world: World, hours: int, wh_per_hour: float = 500.0) -> None:
    """``hours`` hourly readings of the meter's energy counter, ending now (0.5 kWh an hour)."""
    end = now_ms() // HOUR_MS * HOUR_MS
    body = [
        {"ts": end - (hours - i) * HOUR_MS, "energy": 1_000_000 + i * wh_per_hour, "power": wh_per_hour}
        for i in range(hours + 1)
    ]
    world.ingest(body)


def with_tariff(world: World, budget: Budget | None = None) -> None:
    with world.services.engine.begin() as conn:
        site_ops.set_tariff(conn, world.site_a, "admin", preset="in-tn-domestic")
        if budget is not None:
            site_ops.set_budget(conn, world.site_a, budget)


async def test_energy_without_a_tariff_says_so_and_a_preset_can_be_chosen(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    hourly_counter(dashboard, 30)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("No tariff set yet — choose a preset")
    await user.should_see("The last 30 days")
    user.find(marker="preset").elements.pop().value = "in-tn-domestic"  # type: ignore[attr-defined]
    user.find("Use this tariff").click()
    await user.should_see("This cycle, day by day")
    await user.should_see("Tariff:")
    await user.should_not_see("No tariff set yet")


async def test_a_viewer_sees_the_empty_state_but_cannot_choose(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("viewer")
    await user.open("/energy")
    await user.should_see("Home A")
    await user.should_see("No tariff set yet — choose a preset")
    await user.should_see("The site's owner or a member can set it.")
    await user.should_not_see("Use this tariff")


async def test_energy_shows_cost_and_the_budget_gauge(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 48)
    with_tariff(dashboard, Budget(Decimal("1000")))
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("This cycle, day by day")
    await user.should_see("Budget this cycle")
    await user.should_see("of ₹1,000.00")
    state = next(iter(user.find(marker="budget-state").elements))
    assert state.text in {"On track", "At risk", "Over budget"}  # type: ignore[attr-defined]
    charts = {e.props.get("data-chart"): e for e in user.find(ui.echart).elements}
    daily = charts["daily"].options  # type: ignore[attr-defined]
    assert sum(daily["series"][0]["data"]) > 0  # kWh per day
    assert len(daily["series"]) == 2  # and the cost line


async def test_a_member_sets_a_budget_from_the_page(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 5)
    with_tariff(dashboard)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("No budget set yet")
    user.find("Set the budget").click()
    user.find(marker="budget-limit").type("750")
    user.find("Save").click()
    await user.should_see("of ₹750.00")


async def test_month_comparison_speaks_per_day(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 24 * 40, 100.0)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("a day")
    text = next(iter(user.find(marker="month-comparison").elements)).text  # type: ignore[attr-defined]
    assert "so far" in text


async def test_a_site_without_meters_says_energy_appears_once_one_reports(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_b}")
    await user.should_see("Home B")
    await user.should_see("No energy measured yet in this period.")
