"""The Energy, Bill and Payments pages through NiceGUI's simulated user: empty states, a tariff
chosen from the page, costs and budget, bills and payments recorded from the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from nicegui import ui
from nicegui.testing import User
from playwright.sync_api import Browser, expect

from support import World
from ui.browser_support import Installation, keep_screenshot, serve_seeded
from ui.test_browser import DESKTOP, PHONE, signed_in
from wattwise.accounting import bills as bill_ops
from wattwise.accounting import payments as payment_ops
from wattwise.accounting import site as site_ops
from wattwise.analysis.billing import Budget
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store.billing import StoredBill
from wattwise.store.clock import now_ms
from wattwise.store.users import create_user
from wattwise.ui.site_pages import money

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


async def test_the_overview_shows_each_sites_budget_gauge(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 24)
    with_tariff(dashboard, Budget(Decimal("20"), "kwh"))
    sign_in("admin")
    await user.open("/")
    await user.should_see("Budget this cycle")
    await user.should_see("of 20.00 kWh", retries=100)  # loaded in a thread: wait for it (site B has none)
    await user.should_see("No budget set yet", retries=100)


async def open_the_budget_form(user: User, dashboard: World, sign_in: SignIn) -> None:
    """Site A with a tariff and no budget yet, its energy page open as an owner, the budget form unfolded."""
    with_tariff(dashboard)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("No budget set yet", retries=100)
    user.find("Set the budget").click()


async def test_a_member_sets_a_budget_from_the_page(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 5)
    await open_the_budget_form(user, dashboard, sign_in)
    user.find(marker="budget-limit").type("750")
    user.find("Save").click()
    await user.should_see("of ₹750.00")


async def test_a_budget_past_any_bill_is_refused_with_a_notice(user: User, dashboard: World, sign_in: SignIn) -> None:
    """The store refuses a budget past the largest; the page says so (it raised in the handler)."""
    await open_the_budget_form(user, dashboard, sign_in)
    user.find(marker="budget-limit").type("1e13")
    user.find("Save").click()
    await user.should_see("Budget: limit: a budget is at most")
    user.find(marker="budget-limit").clear().type("Infinity")
    user.find("Save").click()
    await user.should_see("Budget: give a number")
    await user.should_see("No budget set yet")


async def test_month_comparison_speaks_per_day(user: User, dashboard: World, sign_in: SignIn) -> None:
    hourly_counter(dashboard, 24 * 40, 100.0)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("a day")
    text = next(iter(user.find(marker="month-comparison").elements)).text  # type: ignore[attr-defined]
    assert "so far" in text


async def test_a_first_month_is_not_compared_with_a_month_before_the_meters(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """Readings only since this month began (a new installation): last month is not "0.00 kWh"
    and this month's use is not spread over days nobody measured."""
    zone = ZoneInfo("Asia/Kolkata")
    month_start = datetime.now(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = int(month_start.timestamp() * 1000) + 60_000
    step = max((now_ms() - first) // 20, 1)
    dashboard.ingest([{"ts": first + i * step, "energy": 1_000_000 + i * 400.0, "power": 300.0} for i in range(20)])
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("The comparison starts once a month before this one has been measured.")
    (text,) = (e.text for e in user.find(marker="month-comparison").elements)  # type: ignore[attr-defined]
    assert text.startswith(f"{month_start:%B} so far: 7.60 kWh."), text
    assert "a day" not in text


async def test_a_site_without_meters_says_energy_appears_once_one_reports(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_b}")
    await user.should_see("Home B")
    await user.should_see("No energy measured yet in this period.")


def monthly(world: World, budget: Budget | None = None) -> None:
    """The site's tariff with monthly cycles from the 1st (and ``budget``)."""
    with_tariff(world, budget)
    with world.services.engine.begin() as conn:
        site_ops.set_cycle_and_supply(
            conn,
            world.site_a,
            cycle_months=1,
            cycle_anchor=date(2000, 1, 1),
            phases=1,
            sanctioned_kw=None,
            subsidy=True,
        )


def last_month_billed(world: World, units: str = "150") -> StoredBill:
    monthly(world)
    return bill_ops.close(world.services, world.site_a, by="admin", now_ms=now_ms(), kwh=Decimal(units))


def delhi_without_sanctioned_load(world: World) -> None:
    """Delhi's tariff, whose fixed charge is per sanctioned kW, on a site that has not said its load."""
    with world.services.engine.begin() as conn:
        site_ops.set_tariff(conn, world.site_a, "admin", preset="in-dl-domestic")


async def test_a_tariff_that_cannot_price_says_what_it_needs(user: User, dashboard: World, sign_in: SignIn) -> None:
    delhi_without_sanctioned_load(dashboard)
    sign_in("admin")
    await user.open(f"/bill?site={dashboard.site_a}")
    await user.should_see("The tariff cannot price this cycle yet")
    await user.should_see("sanctioned load")
    sign_in("viewer")
    await user.open("/bill")
    await user.should_see("The site's owner or a member can fix it.")
    await user.should_not_see("Sanctioned load (kW)")


async def test_a_tariff_that_cannot_price_is_fixed_from_the_page(user: User, dashboard: World, sign_in: SignIn) -> None:
    """The card that says what the tariff needs lets the user give it (no dead end, no REST call)."""
    hourly_counter(dashboard, 5)
    delhi_without_sanctioned_load(dashboard)
    sign_in("admin")
    await user.open(f"/bill?site={dashboard.site_a}")
    await user.should_see("The tariff cannot price this cycle yet")
    user.find(marker="sanctioned-kw").type("none")
    user.find(marker="save-sanctioned-kw").click()
    await user.should_see("Sanctioned load: give a number of kW")
    user.find(marker="sanctioned-kw").clear().type("3")
    user.find(marker="save-sanctioned-kw").click()
    await user.should_see("Bill to date")
    await user.should_not_see("The tariff cannot price this cycle yet")


async def test_the_bill_lines_show_taxes_as_a_percent_of_an_amount(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """Delhi's surcharges and tax are percentages: "8 % of ₹…", as the printed bill says, not "… INR × ₹8.00"."""
    hourly_counter(dashboard, 5)
    delhi_without_sanctioned_load(dashboard)
    with dashboard.services.engine.begin() as conn:
        site_ops.set_sanctioned_load(conn, dashboard.site_a, Decimal(3))
    sign_in("admin")
    await user.open(f"/bill?site={dashboard.site_a}")
    user.find("This cycle's bill so far, line by line").click()
    await user.should_see("Electricity tax (5 %)")
    await user.should_see("5 % of ₹")
    await user.should_not_see("INR ×")


async def test_another_tariff_can_be_chosen_when_one_cannot_price(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    delhi_without_sanctioned_load(dashboard)
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    await user.should_see("Or choose another tariff")
    user.find(marker="preset").elements.pop().value = "in-tn-domestic"  # type: ignore[attr-defined]
    user.find("Use this tariff").click()
    await user.should_see("This cycle, day by day")
    await user.should_not_see("The tariff cannot price this cycle yet")


async def test_the_bill_page_shows_the_bill_to_date_and_its_projection(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    hourly_counter(dashboard, 72)
    with_tariff(dashboard)
    sign_in("viewer")
    await user.open("/bill")
    await user.should_see("Bill to date")
    await user.should_see("Projected at the cycle's end")
    await user.should_see("likely ₹")
    await user.should_see("No bills issued yet.")
    await user.should_not_see("Close last cycle")  # a viewer only looks


async def test_last_cycle_before_the_meter_arrived_is_not_billed(user: User, dashboard: World, sign_in: SignIn) -> None:
    """The meter was added today and has read nothing before: last month had nothing to measure."""
    monthly(dashboard)
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    sign_in("admin")
    await user.open(f"/bill?site={dashboard.site_a}")
    user.find("Close last cycle").click()
    await user.should_see("no cycle to close yet")
    await user.should_see(f"first meter was added on {today}")
    await user.should_see("No bills issued yet.")


async def test_closing_the_last_cycle_issues_a_printable_bill(user: User, dashboard: World, sign_in: SignIn) -> None:
    monthly(dashboard)
    last = datetime.now(ZoneInfo("Asia/Kolkata")).date().replace(day=1) - timedelta(days=1)
    at = int(datetime(last.year, last.month, 10, 12, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp() * 1000)
    dashboard.ingest([{"ts": at + i * HOUR_MS, "energy": 1_000_000.0 + i * 500, "power": 500.0} for i in range(2)])
    sign_in("admin")
    await user.open(f"/bill?site={dashboard.site_a}")
    await user.should_see("No bills issued yet.")
    user.find("Close last cycle").click()
    await user.should_see("Bill issued")
    await user.should_see(f"{last.day} {last:%b %Y}")  # the cycle's last day
    with dashboard.services.engine.connect() as conn:
        (row,) = billing_store.list_bills(conn, dashboard.site_a)
    page = await user.http_client.get(f"/bill/{dashboard.site_a}/{row.id}/print")
    assert page.status_code == 200
    assert "Electricity bill" in page.text
    user.find("Close last cycle").click()
    await user.should_see("already billed")  # a second close needs a reason: the REST API takes one


async def test_a_stranger_cannot_print_a_bill(user: User, dashboard: World, sign_in: SignIn) -> None:
    row = last_month_billed(dashboard)
    with dashboard.services.engine.begin() as conn:
        create_user(conn, "neighbour", "neighbour-password")
    sign_in("neighbour")
    page = await user.http_client.get(f"/bill/{dashboard.site_a}/{row.id}/print")
    assert page.status_code == 404


async def test_the_energy_page_links_last_months_report_and_this_months_so_far(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    hourly_counter(dashboard, 24 * 63)  # 0.5 kWh an hour through last month and this one
    sign_in("admin")
    await user.open(f"/energy?site={dashboard.site_a}")
    this_month = datetime.now(ZoneInfo("Asia/Kolkata")).date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    await user.should_see(f"Report: {last_month:%B %Y}")
    await user.should_see(f"{this_month:%B} so far")
    links = {m: user.find(marker=m).elements.pop().props["href"] for m in ("report-last-month", "report-this-month")}
    assert links["report-last-month"] == f"/energy/{dashboard.site_a}/report?start={last_month}&end={this_month}"
    page = await user.http_client.get(links["report-last-month"])
    assert page.status_code == 200 and f"{last_month:%B %Y}" in page.text and "Home A" in page.text
    days = (this_month - last_month).days
    assert f"{days * 24 * 0.5:,.3f} kWh" in page.text  # every hour of last month was read
    so_far = await user.http_client.get(links["report-this-month"])
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    assert (
        links["report-this-month"]
        == f"/energy/{dashboard.site_a}/report?start={this_month}&end={today + timedelta(days=1)}"
    )
    assert so_far.status_code == 200 and f"{this_month} to {today}" in so_far.text
    bad = await user.http_client.get(f"/energy/{dashboard.site_a}/report?start=2025-02-30")
    assert bad.status_code == 422 and "start" in bad.json()["detail"]


async def test_a_stranger_cannot_open_a_sites_report(user: User, dashboard: World, sign_in: SignIn) -> None:
    with dashboard.services.engine.begin() as conn:
        create_user(conn, "neighbour", "neighbour-password")
    sign_in("neighbour")
    page = await user.http_client.get(f"/energy/{dashboard.site_a}/report")
    assert page.status_code == 404 and "Home A" not in page.text


async def test_payments_partial_then_full_settle_the_balance(user: User, dashboard: World, sign_in: SignIn) -> None:
    row = last_month_billed(dashboard)
    sign_in("admin")
    await user.open(f"/payments?site={dashboard.site_a}")
    await user.should_see(f"{money(row.total, 'INR')} due")
    user.find(marker="amount").type("100")
    user.find(marker="reference").type("receipt 17")
    user.find(marker="record").click()
    await user.should_see("Recorded ₹100.00")
    await user.should_see("Partly paid")
    await user.should_see(f"{money(row.total - 100, 'INR')} due")
    await user.should_see("cash · receipt 17")
    user.find(marker="amount").type(str(row.total - 100))
    user.find(marker="record").click()
    await user.should_see("Settled")


async def test_a_bad_amount_is_named_and_nothing_recorded(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/payments")
    await user.should_see("No payments recorded yet.")
    user.find(marker="amount").type("12.345")
    user.find(marker="record").click()
    await user.should_see("payment.amount")
    await user.should_see("No payments recorded yet.")


async def test_a_viewer_sees_the_ledger_but_records_nothing(user: User, dashboard: World, sign_in: SignIn) -> None:
    last_month_billed(dashboard)
    sign_in("viewer")
    await user.open("/payments")
    await user.should_see("Unpaid")
    await user.should_not_see("Record a payment")


# ---- in a real browser: one screenshot per page at desktop width and at 360 px ----------------


def evening_heavy(ts: int) -> float:
    """Wh used in an hour: a base load, more in the evening, more at weekends (days differ, as homes do)."""
    hour = (ts // HOUR_MS + 5) % 24  # roughly India's clock
    weekend = (ts // (24 * HOUR_MS) + 4) % 7 >= 5
    return 180.0 + (650.0 if 18 <= hour <= 22 else 0.0) + (120.0 if weekend else 0.0) + (ts // HOUR_MS) % 7 * 15


def seed_money(services: Services, world: World) -> None:
    """40 days of an hourly energy counter, a tariff with monthly cycles, a budget, last month
    billed and partly paid."""
    end = now_ms() // HOUR_MS * HOUR_MS
    counter, body = 2_000_000.0, []
    for ts in range(end - 40 * 24 * HOUR_MS, end + 1, HOUR_MS):
        counter += evening_heavy(ts)
        body.append({"ts": ts, "energy": counter, "power": evening_heavy(ts)})
    services.pipeline.ingest_blocking(world.meter_a, body)
    monthly(world, Budget(Decimal("2500")))
    row = bill_ops.close(services, world.site_a, by="admin", now_ms=now_ms())
    with services.engine.begin() as conn:
        half = (row.total / 2).quantize(Decimal("1"))
        payment_ops.record_manual(
            conn, world.site_a, {"amount": str(half), "method": "UPI", "reference": "UPI 4411"}, "admin"
        )


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from serve_seeded(tmp_path_factory.mktemp("pages"), seed_money)


def screenshots(
    browser: Browser, installation: Installation, path: str, name: str, ready: str, *, dark: bool = False
) -> None:
    """Open ``path`` as the admin at desktop width and at 360 px; keep ``<name>-desktop`` and ``<name>-phone``
    (and, with ``dark``, ``<name>-phone-dark`` in a browser that prefers dark)."""
    shots = [("desktop", DESKTOP, "light"), ("phone", PHONE, "light")] + [("phone-dark", PHONE, "dark")] * dark
    for suffix, viewport, scheme in shots:
        context = browser.new_context(viewport=viewport, color_scheme=scheme)  # type: ignore[arg-type]
        page = context.new_page()
        signed_in(installation, page, path, "admin")
        expect(page.get_by_text(ready).first).to_be_visible(timeout=15_000)
        page.wait_for_timeout(600)  # let charts finish their first draw
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a {viewport['width']} px screen"
        keep_screenshot(page, f"{name}-{suffix}")
        context.close()


@pytest.mark.browser
def test_the_energy_page_in_a_browser(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/energy", "energy", "Budget this cycle", dark=True)


@pytest.mark.browser
def test_the_bill_page_in_a_browser(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/bill", "bill", "Projected at the cycle's end")


@pytest.mark.browser
def test_the_payments_page_in_a_browser_and_its_printable_bill(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/payments", "payments", "Partly paid")
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    signed_in(installation, page, "/bill", "admin")
    with context.expect_page() as printed:
        page.get_by_text("Print").first.click()
    expect(printed.value.get_by_text("Electricity bill")).to_be_visible()
    context.close()
