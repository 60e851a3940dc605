"""The Energy page: a site's kWh and cost per day, months side by side, and its budget gauge.

Numbers come from the same accounting calls as the REST API (``/sites/{id}/energy``,
``/billing/current``, ``/budget``): nothing about tariffs or energy is worked out here.
``BudgetGauge`` is a component of its own, so other pages (the overview) can show it too.
The site's report (``accounting.report``, as ``/sites/{id}/report?format=html``) is linked from
the month-by-month card and served here, at ``/energy/{site}/report``, so the link works with the
dashboard's session cookie, as the printable bill does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from nicegui import app, ui

from wattwise.accounting import energy as accounting
from wattwise.accounting import report as reports
from wattwise.accounting import site as site_ops
from wattwise.accounting.report_files import report_html
from wattwise.analysis.billing import Budget, BudgetStatus, CycleOverview, TariffError
from wattwise.analysis.energy import PeriodEnergy, add_months, local_date
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site
from wattwise.ui import context
from wattwise.ui.energy_charts import daily_options, gauge_options, months_options
from wattwise.ui.site_pages import (
    SiteSection,
    begin_and,
    days,
    in_thread,
    kwh,
    money,
    site_page,
    tariff_chooser,
    tariff_problem,
    typed_number,
)

PATH = "/energy"
DAY_MS = 86_400_000
STATES = {"on_track": ("On track", "positive"), "at_risk": ("At risk", "warning"), "over": ("Over budget", "negative")}


def register() -> None:
    ui.page(PATH, title="Energy · Wattwise")(site_page("Energy", PATH, EnergySection))
    app.get("/energy/{site_id}/report", response_class=HTMLResponse, response_model=None, include_in_schema=False)(
        printable_report
    )


def report_url(site_id: int, start: date, end: date) -> str:
    return f"/energy/{site_id}/report?start={start}&end={end}"


def report_links(site: Site, at_ms: int) -> list[tuple[str, str, str]]:
    """(text, address, test id) of the last whole month's report and this month's so far (to
    today included, so the period before it is as many days and the change compares like with like)."""
    today = local_date(at_ms, ZoneInfo(site.timezone))
    this_month = today.replace(day=1)
    last = add_months(this_month, -1)
    return [
        (f"Report: {last:%B %Y}", report_url(site.id, last, this_month), "report-last-month"),
        (f"{this_month:%B} so far", report_url(site.id, this_month, today + timedelta(days=1)), "report-this-month"),
    ]


def printable_report(
    request: Request, site_id: int, start: str | None = None, end: str | None = None
) -> HTMLResponse | RedirectResponse:
    """The site's report as one printable page, for people who may see the site."""
    access = context.signed_in(request)  # a plain (sync) route: FastAPI runs it in a thread
    if access is None:
        return context.to_sign_in(request)
    if not access.can_see(site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {site_id}")
    services = context.services()
    try:
        with services.engine.connect() as conn:
            site = site_ops.get_site(conn, site_id)
        first, after = reports.period_of(start, end, None, local_date(now_ms(), ZoneInfo(site.timezone)))
        return HTMLResponse(report_html(reports.site_report(services, site_id, first, after)))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc


# -- what the page shows, loaded in a thread ---------------------------------------------------


@dataclass(frozen=True)
class DayBar:
    day: date
    kwh: float
    cost: float | None  # None without a tariff


@dataclass(frozen=True)
class EnergyView:
    site: Site
    has_meters: bool
    days: list[DayBar]
    months: list[PeriodEnergy]
    overview: CycleOverview | None  # None without a tariff (or one that cannot price yet)
    tariff_name: str | None
    budget: Budget | None
    problem: str | None = None  # why a tariff that is set cannot price the cycle


def load_energy(services: Services, site: Site, at_ms: int) -> EnergyView:
    """The site's current cycle (with a tariff) or last 30 days, and about a year of months."""
    zone = ZoneInfo(site.timezone)
    with services.engine.connect() as conn:
        meters = accounting.site_meters(conn, site.id)
        rule = site_ops.cycle_rule(conn, site.id)
        stored = billing_store.current_tariff(conn, site.id)
    start = accounting.default_start("month", at_ms, zone, rule[1])
    months = accounting.energy_table(services, meters, zone, "month", start, at_ms, rule) if meters else []
    problem = None
    if stored is not None:
        try:
            sb, overview = site_ops.overview(services, site.id, at_ms)
        except (TariffError, ValueError, Conflict) as exc:  # e.g. a fixed charge per kW without the kW
            problem = str(exc)
    if stored is None or problem is not None:
        start = accounting.default_start("day", at_ms, zone, rule[1])
        table = accounting.energy_table(services, meters, zone, "day", start, at_ms, rule) if meters else []
        days = [DayBar(p.start.date(), p.kwh, None) for p in table]
        return EnergyView(site, bool(meters), days, months, None, None, None, problem)
    days = [DayBar(d.day, float(d.kwh), float(d.cost)) for d in overview.days]
    return EnergyView(site, bool(meters), days, months, overview, sb.tariff.name, sb.budget)


def load_budget(services: Services, site_id: int) -> BudgetStatus | None:
    """Where the site's current cycle stands against its budget (None: no budget or no tariff)."""
    return site_ops.budget_status(services, site_id, now_ms())


def current_month(months: list[PeriodEnergy], at_ms: int) -> int | None:
    """The index of the month ``at_ms`` falls in, or None when it is outside them all."""
    return next((i for i, p in enumerate(months) if p.start_ms <= at_ms < p.end_ms), None)


def month_comparison(months: list[PeriodEnergy], at_ms: int) -> str | None:
    """This month so far against last month, per day (a month still running is not yet comparable whole)."""
    current = current_month(months, at_ms)
    if current is None or current == 0:
        return None
    this, last = months[current], months[current - 1]
    if last.kwh <= 0:  # nothing measured last month: the meters are new (or were off) — nothing to compare
        return None
    elapsed = max((at_ms - this.start_ms) / DAY_MS, 1 / 24)
    per_day, last_per_day = this.kwh / elapsed, last.kwh / ((last.end_ms - last.start_ms) / DAY_MS)
    text = (
        f"{this.start:%B} so far: {kwh(this.kwh)} ({kwh(per_day)} a day) · "
        f"{last.start:%B}: {kwh(last.kwh)} ({kwh(last_per_day)} a day)"
    )
    if last_per_day > 0:
        change = (per_day - last_per_day) / last_per_day * 100
        text += f" · {'+' if change >= 0 else '−'}{abs(change):.0f} % a day"
    return text


# -- the budget gauge (reusable) ---------------------------------------------------------------


class BudgetGauge:
    """A card with the budget this cycle: used so far, the projection and its high end, the state.

    Reusable on any page: ``gauge = BudgetGauge(currency)`` draws it (empty), then
    ``await gauge.load(services, site_id)`` fills it without blocking the event loop, or
    ``gauge.show(status)`` with a status you already have.
    """

    def __init__(self, currency: str) -> None:
        self.currency = currency
        with ui.card().classes("w-full gap-1").props('data-testid="budget"') as self.card:
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label("Budget this cycle").classes("text-subtitle2")
                ui.space()
                self.badge = ui.badge("…").props('data-testid="budget-state"').mark("budget-state")
            self.chart = ui.echart(gauge_options(0, 1, 0, "on_track", "")).classes("w-full").style("height: 170px")
            self.chart.props('data-chart="budget"')
            self.used = ui.label().classes("text-subtitle1 ww-num").props('data-testid="budget-used"')
            self.projected = ui.label().classes("ww-muted")
            self.crossing = ui.label().classes("ww-muted")
            self.empty = ui.label().classes("ww-muted")
        self._visible(False)
        self.empty.set_text("Loading…")

    def _visible(self, shown: bool) -> None:
        for element in (self.chart, self.used, self.projected, self.crossing):
            element.set_visibility(shown)
        self.badge.set_visibility(shown)
        self.empty.set_visibility(not shown)

    def _amount(self, value: Decimal, unit: str) -> str:
        return kwh(value) if unit == "kWh" else money(value, unit)

    def show(self, status: BudgetStatus | None) -> None:
        if status is None:
            self._visible(False)
            self.empty.set_text("No budget set yet (a budget needs a tariff, in money or in kWh).")
            return
        self._visible(True)
        text, color = STATES[status.state]
        self.badge.set_text(text)
        self.badge.props(f"color={color}")
        amount = self._amount
        self.chart.options.update(
            gauge_options(float(status.used), float(status.limit), float(status.projected), status.state, status.unit)
        )
        self.chart.update()
        self.used.set_text(
            f"{amount(status.used, status.unit)} of {amount(status.limit, status.unit)} "
            f"({status.fraction_used * 100:.0f} %)"
        )
        self.projected.set_text(
            f"Projected {amount(status.projected, status.unit)}, up to {amount(status.projected_high, status.unit)}"
            f" · {status.probability_over * 100:.0f} % chance of going over"
        )
        if status.crossing is None:
            self.crossing.set_text("Not expected to cross the budget this cycle.")
        elif status.state == "over":
            self.crossing.set_text(f"Crossed on {status.crossing:%d %b %Y}.")
        else:
            self.crossing.set_text(f"At this pace it is crossed on {status.crossing:%d %b %Y}.")

    async def load(self, services: Services, site_id: int) -> None:
        self.show(await in_thread(load_budget, services, site_id))


def put_budget(services: Services, site_id: int, budget: Budget | None) -> None:
    begin_and(services, lambda conn: site_ops.set_budget(conn, site_id, budget))


# -- the page ----------------------------------------------------------------------------------


class EnergySection(SiteSection):
    """The page below its heading; redrawn whole after the user sets a tariff or a budget."""

    async def draw(self) -> None:
        at = now_ms()
        view = await in_thread(load_energy, self.page.services, self.site, at)
        self.body.clear()
        with self.body:
            if view.problem is not None:
                tariff_problem(self.page, view.problem, self.draw)
            elif view.overview is None:
                tariff_chooser(self.page, self.draw)
            if not view.has_meters:
                with ui.card().classes("w-full"):
                    ui.label("No meters yet: energy appears here once a meter reports.").classes("text-subtitle1")
            self.headline(view)
            with ui.element("div").classes("ww-split"):
                with ui.column().classes("gap-3 min-w-0"):
                    gauge = BudgetGauge(self.site.currency)
                    gauge.show(view.overview.budget if view.overview else None)
                    if view.overview is not None and self.page.may_write():
                        self.budget_form(view.budget)
                with ui.column().classes("gap-3 min-w-0"):
                    self.daily(view)
                    self.monthly(view, at)

    def headline(self, view: EnergyView) -> None:
        o = view.overview
        if o is None:
            return
        p = o.projection
        with ui.element("div").classes("ww-tiles"):
            for title, big, small, testid in (
                ("Today", money(p.today.cost, p.currency), kwh(p.today.kwh), "today"),
                (
                    f"This cycle ({days(o.cycle.start, o.cycle.end)})",
                    money(p.bill_to_date.total, p.currency),
                    f"{kwh(p.bill_to_date.kwh)} · bill to date, fixed charges included",
                    "cycle",
                ),
            ):
                with ui.card().classes("gap-0").props(f'data-testid="{testid}"'):
                    ui.label(title).classes("ww-muted")
                    ui.label(big).classes("ww-big")
                    ui.label(small).classes("ww-muted")
        ui.label(f"Tariff: {view.tariff_name}").classes("ww-muted")

    def daily(self, view: EnergyView) -> None:
        with ui.card().classes("w-full"):
            title = "This cycle, day by day" if view.overview is not None else "The last 30 days"
            ui.label(title).classes("text-subtitle2")
            if not any(d.kwh for d in view.days):
                ui.label("No energy measured yet in this period.").classes("ww-muted").props(
                    'data-testid="daily-empty"'
                )
            costs = None if view.overview is None else [round(d.cost or 0.0, 2) for d in view.days]
            ui.echart(
                daily_options(
                    [f"{d.day:%d %b}" for d in view.days],
                    [round(d.kwh, 3) for d in view.days],
                    costs,
                    self.site.currency,
                )
            ).classes("w-full h-56").props('data-chart="daily"')

    def monthly(self, view: EnergyView, at: int) -> None:
        with ui.card().classes("w-full"):
            ui.label("Month by month").classes("text-subtitle2")
            comparison = month_comparison(view.months, at)
            current = current_month(view.months, at)
            if comparison:
                ui.label(comparison).classes("ww-num").style("white-space: normal").mark("month-comparison")
            elif view.has_meters:
                so_far = (
                    f"{view.months[current].start:%B} so far: {kwh(view.months[current].kwh)}. "
                    if current is not None
                    else ""
                )
                ui.label(f"{so_far}The comparison starts once a month before this one has been measured.").classes(
                    "ww-muted"
                ).mark("month-comparison")
            ui.echart(
                months_options(
                    [f"{p.start:%b %y}" for p in view.months], [round(p.kwh, 2) for p in view.months], current
                )
            ).classes("w-full h-56").props('data-chart="months"')
            with ui.row().classes("gap-4"):
                for text, url, testid in report_links(view.site, at):
                    ui.link(text, url, new_tab=True).mark(testid)

    def budget_form(self, budget: Budget | None) -> None:
        with ui.expansion("Set the budget", icon="savings").classes("w-full").props('dense data-testid="budget-form"'):
            with ui.row().classes("w-full items-end gap-2"):
                limit = (
                    ui.input("Limit per cycle", value="" if budget is None else str(budget.limit))
                    .props('dense outlined inputmode=decimal data-testid="budget-limit"')
                    .mark("budget-limit")
                    .classes("w-28")
                )
                unit = ui.toggle(
                    {"money": self.site.currency, "kwh": "kWh"}, value="money" if budget is None else budget.unit
                ).props("dense no-caps")

            async def save() -> None:
                try:  # the store's refusal too (past the largest budget), not only the number's
                    new = Budget(typed_number(limit.value), str(unit.value))  # type: ignore[arg-type]
                    await in_thread(put_budget, self.page.services, self.site.id, new)
                except (InvalidOperation, ValueError) as exc:
                    ui.notify(f"Budget: {exc if isinstance(exc, ValueError) else 'give a number'}", type="negative")
                    return
                ui.notify("Budget saved", type="positive")
                await self.draw()

            async def remove() -> None:
                await in_thread(put_budget, self.page.services, self.site.id, None)
                ui.notify("Budget removed")
                await self.draw()

            with ui.row().classes("gap-2"):
                ui.button("Save", icon="check", on_click=save).props("unelevated")
                if budget is not None:
                    ui.button("Remove", icon="delete", on_click=remove).props("flat")
