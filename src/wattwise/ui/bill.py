"""The Bill page: the current cycle's bill to date and its projection with a range, the bills
already issued (with what was paid towards them), and each one's printable page.

The numbers are the accounting layer's (the same calls as ``/billing/current``, ``/bills`` and
``/bills/{id}/html``). The printable page is also served here, at ``/bill/{site}/{bill}/print``,
so the dashboard's link works with the session cookie whether or not the billing REST routes
are mounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from nicegui import app, ui

from wattwise.accounting import bills as bill_ops
from wattwise.accounting import site as site_ops
from wattwise.analysis.billing import Bill, BillLine, CycleOverview, TariffError
from wattwise.analysis.billing.ledger import BillBalance
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store.billing import StoredBill
from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site
from wattwise.ui import context, fmt
from wattwise.ui.site_pages import (
    SiteSection,
    days,
    in_thread,
    kwh,
    money,
    site_page,
    tariff_chooser,
    tariff_problem,
)

PATH = "/bill"
STATUS = {"paid": ("Paid", "positive"), "partly_paid": ("Partly paid", "warning"), "unpaid": ("Unpaid", "negative")}


def register() -> None:
    ui.page(PATH, title="Bill · Wattwise")(site_page("Bill", PATH, BillSection))
    app.get(
        "/bill/{site_id}/{bill_id}/print", response_class=HTMLResponse, response_model=None, include_in_schema=False
    )(printable)


def print_url(site_id: int, bill_id: int) -> str:
    return f"/bill/{site_id}/{bill_id}/print"


def printable(request: Request, site_id: int, bill_id: int) -> HTMLResponse | RedirectResponse:
    """The issued bill as one self-contained page, for people who may see the site."""
    access = context.signed_in(request)  # a plain (sync) route: FastAPI runs it in a thread
    if access is None:
        return context.to_sign_in(request)
    if not access.can_see(site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {site_id}")
    with context.services().engine.connect() as conn:
        try:
            return HTMLResponse(bill_ops.bill_html(conn, site_id, bill_id))
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


# -- what the page shows, loaded in a thread ---------------------------------------------------


@dataclass
class BillView:
    has_tariff: bool
    overview: CycleOverview | None = None
    problem: str | None = None
    bills: list[StoredBill] = field(default_factory=list)  # every revision, newest cycle first
    settled: dict[int, BillBalance] = field(default_factory=dict)  # current revisions by bill id


def load_bill(services: Services, site: Site, at_ms: int) -> BillView:
    with services.engine.connect() as conn:
        has_tariff = billing_store.current_tariff(conn, site.id) is not None
        rows = billing_store.list_bills(conn, site.id)
        owed = bill_ops.statement_of(conn, site.id) if rows else None
    view = BillView(has_tariff, bills=sorted(rows, key=lambda r: (r.cycle_start, r.revision), reverse=True))
    if owed is not None:
        latest = {r.cycle_start: r for r in rows}  # revisions come in order: the last one wins
        for balance in owed.bills:
            view.settled[latest[balance.issued.cycle.start].id] = balance
    if has_tariff:
        try:
            view.overview = site_ops.overview(services, site.id, at_ms)[1]
        except (TariffError, ValueError, Conflict) as exc:
            view.problem = str(exc)
    return view


def close_last_cycle(services: Services, site_id: int, by: str) -> StoredBill:
    return bill_ops.close(services, site_id, by=by, now_ms=now_ms())


# -- the page ----------------------------------------------------------------------------------


def line_working(line: BillLine, currency: str) -> str | None:
    """How a line's amount came about, as the printed bill shows it: "350 kWh × ₹3.00", or for a
    percentage (taxes, surcharges, a subsidy) "8 % of ₹174.53" — its rate is a percent, not money."""
    if line.quantity is None or line.rate is None:
        return None
    if line.is_percent:
        return f"{format(line.rate.normalize(), 'f')} % of {money(line.quantity, currency)}"
    return f"{line.quantity:,} {line.quantity_unit} × {money(line.rate, currency)}"


def bill_lines(bill: Bill) -> None:
    """Each line of a bill: what it is for (quantity × rate) and its amount; the total last."""
    with ui.column().classes("w-full gap-0"):
        for line in bill.lines:
            with ui.row().classes("w-full items-start no-wrap q-py-xs ww-rule gap-2"):
                with ui.column().classes("gap-0 min-w-0 col"):
                    ui.label(line.label)
                    worked = line_working(line, bill.currency)
                    if worked:
                        ui.label(worked).classes("ww-muted")
                ui.label(money(line.amount, bill.currency)).classes("ww-num")
        with ui.row().classes("w-full no-wrap q-py-xs text-weight-bold"):
            ui.label("Total")
            ui.space()
            ui.label(money(bill.total, bill.currency)).classes("ww-num").mark("bill-total")


class BillSection(SiteSection):
    async def draw(self) -> None:
        view = await in_thread(load_bill, self.page.services, self.site, now_ms())
        self.body.clear()
        with self.body:
            if not view.has_tariff:
                tariff_chooser(self.page, self.draw)
            elif view.problem is not None:
                tariff_problem(self.page, view.problem, self.draw)
            elif view.overview is not None:
                self.current(view.overview)
            self.issued(view)

    def current(self, o: CycleOverview) -> None:
        p = o.projection
        cur = p.currency
        with ui.element("div").classes("ww-tiles"):
            with ui.card().classes("gap-0").props('data-testid="to-date"'):
                ui.label(f"Bill to date · {days(o.cycle.start, o.cycle.end)}").classes("ww-muted")
                ui.label(money(p.bill_to_date.total, cur)).classes("ww-big").mark("to-date")
                ui.label(f"{kwh(p.bill_to_date.kwh)} so far; fixed charges for the whole cycle included").classes(
                    "ww-muted"
                )
            with ui.card().classes("gap-0").props('data-testid="projected"'):
                ui.label("Projected at the cycle's end").classes("ww-muted")
                ui.label(money(p.projected.total, cur)).classes("ww-big").mark("projected")
                ui.label(f"likely {money(p.low, cur)} – {money(p.high, cur)} · {kwh(p.projected.kwh)}").classes(
                    "ww-num"
                ).mark("projected-range")
                learnt = (
                    f"from the last {p.history_days} days like the ones to come (weekdays and weekends apart)"
                    if p.history_days
                    else "no recent whole days to learn from yet: the range widens until there are"
                )
                ui.label(learnt).classes("ww-muted").style("white-space: normal")
        with ui.expansion("This cycle's bill so far, line by line", icon="receipt").classes("w-full").props("dense"):
            bill_lines(p.bill_to_date)

    def issued(self, view: BillView) -> None:
        with ui.card().classes("w-full gap-2").props('data-testid="bills"'):
            with ui.row().classes("w-full items-center"):
                ui.label("Issued bills").classes("text-subtitle2")
                ui.space()
                if view.has_tariff and self.page.may_write():
                    ui.button("Close last cycle", icon="lock", on_click=self.close).props("flat dense no-caps")
            if not view.bills:
                ui.label(
                    "No bills issued yet. When a cycle has ended, close it into a bill: it keeps its lines "
                    "and tariff for good."
                ).classes("ww-muted")
                return
            for row in view.bills:
                self.bill_row(row, view.settled.get(row.id))

    def bill_row(self, row: StoredBill, settled: BillBalance | None) -> None:
        number = bill_ops.issued_of(row).number
        issued = fmt.local_time(row.issued_at_ms, self.site.timezone)[:10]
        with ui.column().classes("w-full gap-0 q-py-xs ww-rule").props(f'data-bill="{row.id}"'):
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                ui.label(days(row.cycle_start, row.cycle_end)).classes("text-weight-medium")
                ui.space()
                ui.label(money(row.total, row.currency)).classes("ww-num text-weight-medium")
            ui.label(f"{number} · {kwh(row.kwh)} · issued {issued}").classes("ww-muted").style("white-space: normal")
            if row.reason:
                ui.label(f"Revision {row.revision}: {row.reason}").classes("ww-muted")
            with ui.row().classes("w-full items-center gap-2"):
                if settled is None:
                    ui.badge("Superseded", color="grey").props("outline")
                else:
                    text, color = STATUS[settled.status]
                    due = f" · {money(settled.due, row.currency)} due" if settled.due > 0 else ""
                    ui.badge(text + due, color=color)
                ui.space()
                ui.link("Print", print_url(self.site.id, row.id), new_tab=True).mark(f"print-{row.id}")

    async def close(self) -> None:
        try:
            row = await in_thread(close_last_cycle, self.page.services, self.site.id, self.page.access.user.username)
        except (TariffError, ValueError, Conflict, NotFound) as exc:  # CycleNotOver and already-billed are Conflicts
            ui.notify(f"Could not close the cycle: {exc}", type="warning", multi_line=True)
            return
        ui.notify(f"Bill issued: {money(Decimal(row.total), row.currency)}", type="positive")
        await self.draw()
