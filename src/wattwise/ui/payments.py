"""The Payments page: record a payment (partial or full), the balance, and the ledger of bills
and payments.

Recording calls the same function as ``POST /api/v1/sites/{id}/payments`` with an id made
when the form is drawn, so a double click or a resent form records the payment once. The
ledger is the accounting layer's statement (payments settle the oldest bill first).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from nicegui import ui

from wattwise.accounting import payments as payment_ops
from wattwise.accounting.bills import statement_of
from wattwise.analysis.billing import Statement
from wattwise.runtime import Services
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site
from wattwise.ui import fmt
from wattwise.ui.bill import STATUS
from wattwise.ui.site_pages import (
    SiteSection,
    begin_and,
    connect_and,
    days,
    in_thread,
    money,
    site_page,
)

PATH = "/payments"
METHODS = ["cash", "UPI", "card", "bank transfer", "cheque"]


def register() -> None:
    ui.page(PATH, title="Payments · Wattwise")(site_page("Payments", PATH, PaymentsSection))


def load_statement(services: Services, site: Site) -> Statement:
    return connect_and(services, lambda conn: statement_of(conn, site.id))


def record(services: Services, site_id: int, body: dict[str, Any], by: str) -> bool:
    """Record a payment typed in; True if new, False if this form's id was recorded before."""
    return begin_and(services, lambda conn: payment_ops.record_manual(conn, site_id, body, by))[1]


def balance_words(s: Statement) -> tuple[str, str]:
    """The balance as a person reads it: what is due, what is in credit, or settled."""
    if s.balance > 0:
        return f"{money(s.balance, s.currency)} due", "negative"
    if s.balance < 0:
        return f"{money(s.credit, s.currency)} in credit", "positive"
    return "Settled", "positive"


class PaymentsSection(SiteSection):
    split = True

    async def draw(self) -> None:
        owed = await in_thread(load_statement, self.page.services, self.site)
        self.body.clear()
        with self.body:
            with ui.column().classes("gap-3 min-w-0"):
                self.balance(owed)
                if self.page.may_write():
                    self.form()
            with ui.column().classes("gap-3 min-w-0"):
                self.ledger(owed)

    def balance(self, s: Statement) -> None:
        words, color = balance_words(s)
        with ui.card().classes("w-full gap-0").props('data-testid="balance"'):
            ui.label("Balance").classes("ww-muted")
            ui.label(words).classes(f"ww-big text-{color}").mark("balance")
            ui.label(f"Billed {money(s.billed, s.currency)} · paid {money(s.paid, s.currency)}").classes("ww-muted")

    def form(self) -> None:
        form_id = uuid.uuid4().hex  # the same form sent twice is one payment
        with ui.card().classes("w-full gap-2").props('data-testid="record"'):
            ui.label("Record a payment").classes("text-subtitle2")
            with ui.row().classes("w-full items-start gap-2"):
                amount = (
                    ui.input(f"Amount ({self.site.currency})")
                    .props("dense outlined inputmode=decimal")
                    .classes("w-28")
                    .mark("amount")
                )
                method = (
                    ui.select(METHODS, value="cash", label="Method", new_value_mode="add-unique")
                    .props("dense outlined use-input")
                    .classes("w-28")
                    .mark("method")
                )
                reference = (
                    ui.input("Reference").props("dense outlined maxlength=200").classes("min-w-200").mark("reference")
                )

            async def save() -> None:
                body = {
                    "id": form_id,
                    "amount": str(amount.value or "").replace(",", "").strip(),
                    "method": str(method.value or ""),
                    "reference": str(reference.value or ""),
                }
                if not body["amount"]:
                    ui.notify("Amount: say how much was paid", type="warning")
                    return
                try:
                    new = await in_thread(
                        record, self.page.services, self.site.id, body, self.page.access.user.username
                    )
                except (ValueError, Conflict, NotFound) as exc:
                    ui.notify(str(exc), type="negative", multi_line=True)
                    return
                text = f"Recorded {money(Decimal(body['amount']), self.site.currency)}"
                ui.notify(text if new else "Already recorded", type="positive" if new else "info")
                await self.draw()

            ui.button("Record", icon="add", on_click=save).props("unelevated").mark("record")

    def ledger(self, s: Statement) -> None:
        with ui.card().classes("w-full gap-2").props('data-testid="ledger"'):
            ui.label("Bills").classes("text-subtitle2")
            if not s.bills:
                ui.label("No bills issued yet (see the Bill page).").classes("ww-muted")
            for b in reversed(s.bills):
                text, color = STATUS[b.status]
                with ui.row().classes("w-full items-center gap-2 q-py-xs ww-rule no-wrap"):
                    with ui.column().classes("gap-0 min-w-0 col"):
                        ui.label(days(b.issued.cycle.start, b.issued.cycle.end))
                        ui.label(
                            f"{money(b.issued.bill.total, s.currency)} · paid {money(b.paid, s.currency)}"
                        ).classes("ww-muted")
                    ui.badge(text, color=color)
            ui.label("Payments").classes("text-subtitle2 q-mt-md")
            if not s.payments:
                ui.label("No payments recorded yet.").classes("ww-muted")
            for p in reversed(s.payments):
                with (
                    ui.row()
                    .classes("w-full items-center gap-2 q-py-xs ww-rule no-wrap")
                    .props(f'data-payment="{p.id}"')
                ):
                    with ui.column().classes("gap-0 min-w-0 col"):
                        ui.label(f"{p.method}{' · ' + p.reference if p.reference else ''}").classes("ellipsis")
                        source = "from the payment provider" if p.source == "webhook" else "entered by hand"
                        when = fmt.local_time(p.paid_at_ms, self.site.timezone)[:16]
                        ui.label(f"{when} · {source}").classes("ww-muted")
                    ui.label(money(p.amount, p.currency)).classes("ww-num text-weight-medium")
