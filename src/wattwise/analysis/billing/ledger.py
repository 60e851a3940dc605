"""Issued bills, their revisions, payments and the balance: a ledger as a pure function.

A closed cycle becomes an ``IssuedBill`` that never changes; a correction is a new
revision of the same cycle with a reason, and only the latest revision counts towards
what is owed (the earlier ones stay for the record). Payments are facts too: partial or
full, by any method, recorded by hand or by a payment provider's webhook — a webhook
retried by the provider carries the same id and is counted once. The balance is billed
minus paid; payments settle the oldest bill first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from wattwise.analysis.billing.compute import ZERO, Bill
from wattwise.analysis.energy import BillingCycle


@dataclass(frozen=True, slots=True)
class IssuedBill:
    """A cycle's bill as issued to ``account``; revision 1 is the first issue."""

    account: str
    bill: Bill
    revision: int
    issued_at_ms: int
    reason: str = ""

    @property
    def cycle(self) -> BillingCycle:
        return self.bill.cycle

    @property
    def number(self) -> str:
        return f"{self.account}-{self.cycle.start:%Y%m%d}-r{self.revision}"


def close_cycle(account: str, bill: Bill, issued_at_ms: int) -> IssuedBill:
    """Issue the first revision of a cycle's bill."""
    if not account:
        raise ValueError("a bill needs the account it is issued to")
    return IssuedBill(account, bill, 1, issued_at_ms)


def revise(previous: IssuedBill, bill: Bill, issued_at_ms: int, reason: str) -> IssuedBill:
    """A corrected bill for the same cycle, superseding ``previous`` (which stays on record)."""
    if bill.cycle != previous.cycle:
        raise ValueError(f"a revision is for the same cycle: {previous.cycle} was issued, got {bill.cycle}")
    if not reason.strip():
        raise ValueError("a revision needs a reason (what was corrected)")
    if issued_at_ms < previous.issued_at_ms:
        raise ValueError("a revision cannot be issued before the bill it corrects")
    return IssuedBill(previous.account, bill, previous.revision + 1, issued_at_ms, reason)


def current_bills(issued: Iterable[IssuedBill]) -> list[IssuedBill]:
    """The latest revision of each cycle, oldest cycle first; refuses gaps in revisions."""
    by_cycle: dict[tuple[str, BillingCycle], list[IssuedBill]] = {}
    for b in issued:
        by_cycle.setdefault((b.account, b.cycle), []).append(b)
    out = []
    for (account, cycle), revs in by_cycle.items():
        numbers = sorted(r.revision for r in revs)
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"{account} {cycle}: revisions {numbers} are not 1, 2, 3 … without gaps")
        out.append(max(revs, key=lambda r: r.revision))
    return sorted(out, key=lambda r: (r.account, r.cycle.start))


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received; ``id`` is unique per payment (the provider's id for webhooks)."""

    id: str
    account: str
    amount: Decimal
    currency: str
    paid_at_ms: int
    method: str
    reference: str = ""
    source: Literal["manual", "webhook"] = "manual"

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"payment {self.id}: amount must be above zero, got {self.amount}")
        if not self.id:
            raise ValueError("a payment needs an id")


@dataclass(frozen=True, slots=True)
class BillBalance:
    issued: IssuedBill
    paid: Decimal
    due: Decimal
    status: Literal["paid", "partly_paid", "unpaid"]


@dataclass(frozen=True, slots=True)
class Statement:
    """What an account was billed, what it paid, and what it owes (negative: in credit)."""

    account: str
    currency: str
    bills: tuple[BillBalance, ...]
    payments: tuple[Payment, ...]
    billed: Decimal
    paid: Decimal
    balance: Decimal

    @property
    def credit(self) -> Decimal:
        return max(-self.balance, ZERO)


def unique_payments(payments: Iterable[Payment]) -> list[Payment]:
    """Payments with repeats of one id (a retried webhook) counted once, oldest first."""
    seen: dict[str, Payment] = {}
    for p in payments:
        if p.id in seen:
            if (seen[p.id].amount, seen[p.id].currency) != (p.amount, p.currency):
                raise ValueError(
                    f"payment {p.id} recorded twice with different amounts: "
                    f"{seen[p.id].amount} {seen[p.id].currency} and {p.amount} {p.currency}"
                )
            continue
        seen[p.id] = p
    return sorted(seen.values(), key=lambda p: (p.paid_at_ms, p.id))


def statement(account: str, issued: Iterable[IssuedBill], payments: Iterable[Payment], currency: str) -> Statement:
    """The account's statement; payments settle the oldest bill first."""
    bills = [b for b in current_bills(issued) if b.account == account]
    pays = [p for p in unique_payments(payments) if p.account == account]
    for thing in [*(b.bill.currency for b in bills), *(p.currency for p in pays)]:
        if thing != currency:
            raise ValueError(f"{account}: amounts in {thing} on a {currency} statement")
    pool = sum((p.amount for p in pays), ZERO)
    balances = []
    for b in bills:
        paid = min(pool, max(b.bill.total, ZERO))
        pool -= paid
        due = b.bill.total - paid
        status: Literal["paid", "partly_paid", "unpaid"] = (
            "paid" if due <= 0 else "partly_paid" if paid > 0 else "unpaid"
        )
        balances.append(BillBalance(b, paid, due, status))
    billed = sum((b.bill.total for b in bills), ZERO)
    paid_total = sum((p.amount for p in pays), ZERO)
    return Statement(account, currency, tuple(balances), tuple(pays), billed, paid_total, billed - paid_total)
