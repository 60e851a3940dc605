"""Closing cycles into bills, revising them, paying partly or fully, the balance, the printout."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal as D

import pytest

from wattwise.analysis.billing.compute import bill_for_units
from wattwise.analysis.billing.ledger import Payment, close_cycle, current_bills, revise, statement
from wattwise.analysis.billing.presets import load_preset
from wattwise.analysis.billing.render import render_bill_html
from wattwise.analysis.billing.serialize import issued_as_dict, payment_from_dict, statement_as_dict
from wattwise.analysis.energy import BillingCycle

TN = load_preset("in-tn-domestic")
JAN = BillingCycle(date(2025, 1, 1), date(2025, 3, 1))
MAR = BillingCycle(date(2025, 3, 1), date(2025, 5, 1))
DAY_MS = 86_400_000


def pay(pid: str, amount: str, when: int = 0, method: str = "UPI") -> Payment:
    return Payment(pid, "home", D(amount), "INR", when, method, reference=f"ref-{pid}")


def test_partial_then_full_payment_and_the_balance() -> None:
    jan = close_cycle("home", bill_for_units(TN, JAN, 450), issued_at_ms=1)  # 1490.00
    mar = close_cycle("home", bill_for_units(TN, MAR, 300), issued_at_ms=2)  # 235 + 470 = 705.00
    s = statement("home", [jan, mar], [pay("p1", "1000")], "INR")
    assert (s.billed, s.paid, s.balance) == (D("2195.00"), D("1000"), D("1195.00"))
    assert [(b.status, b.paid, b.due) for b in s.bills] == [
        ("partly_paid", D("1000"), D("490.00")),
        ("unpaid", D("0"), D("705.00")),
    ]
    s = statement("home", [jan, mar], [pay("p1", "1000"), pay("p2", "490", 5)], "INR")
    assert [b.status for b in s.bills] == ["paid", "unpaid"]
    assert s.balance == D("705.00")


def test_a_retried_webhook_payment_counts_once_and_overpayment_is_credit() -> None:
    jan = close_cycle("home", bill_for_units(TN, JAN, 450), 1)
    s = statement("home", [jan], [pay("razorpay:pay_1", "1500"), pay("razorpay:pay_1", "1500")], "INR")
    assert s.paid == D("1500")
    assert s.balance == D("-10.00") and s.credit == D("10.00")
    with pytest.raises(ValueError, match="different amounts"):
        statement("home", [jan], [pay("x", "1"), pay("x", "2")], "INR")


def test_a_correction_is_a_new_revision_and_the_first_stays_on_record() -> None:
    first = close_cycle("home", bill_for_units(TN, JAN, 450), 1)
    fixed = revise(first, bill_for_units(TN, JAN, 440), 2, "meter read 10 units high")
    assert (first.revision, fixed.revision) == (1, 2)
    assert first.bill.total == D("1490.00")  # unchanged
    assert current_bills([first, fixed]) == [fixed]
    # 440: 235 + 940 + 40 x 6.30 = 1427.00
    assert statement("home", [first, fixed], [], "INR").billed == D("1427.00")
    with pytest.raises(ValueError, match="needs a reason"):
        revise(first, bill_for_units(TN, JAN, 440), 2, " ")
    with pytest.raises(ValueError, match="same cycle"):
        revise(first, bill_for_units(TN, MAR, 440), 2, "wrong cycle")


def test_payments_are_checked() -> None:
    with pytest.raises(ValueError, match="above zero"):
        pay("p", "0")
    jan = close_cycle("home", bill_for_units(TN, JAN, 450), 1)
    usd = Payment("s1", "home", D("5"), "USD", 0, "card")
    with pytest.raises(ValueError, match="USD on a INR statement"):
        statement("home", [jan], [usd], "INR")


def test_printable_bill_shows_the_slabs_payments_and_balance_without_external_assets() -> None:
    jan = close_cycle("home", bill_for_units(TN, JAN, 450), 59 * DAY_MS)
    s = statement("home", [jan], [pay("p1", "1000", 60 * DAY_MS, "cash")], "INR")
    html = render_bill_html(jan, TN, s, "Asia/Kolkata")
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(r"\s+", " ", text)
    assert "Cycle 2025-01-01 to 2025-02-28 (59 days)" in text
    assert "Energy, units 101–200 100 kWh 2.35 ₹235.00" in text
    assert "Energy, units above 400 50 kWh 6.30 ₹315.00" in text
    assert "Total for this cycle ₹1,490.00" in text
    assert "cash ref-p1 ₹1,000.00" in text
    assert "This bill: due ₹490.00" in text
    assert "dtnext.in" in text  # the tariff's source is printed
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html


def test_printed_revision_says_why() -> None:
    first = close_cycle("home", bill_for_units(TN, JAN, 450), 1)
    fixed = revise(first, bill_for_units(TN, JAN, 440), 2, "meter read <10> units high")
    html = render_bill_html(fixed, TN)
    assert "Revision 2: meter read &lt;10&gt; units high" in html
    assert "home-20250101-r2" in html


def test_the_api_views_are_json_with_money_as_exact_strings() -> None:
    jan = close_cycle("home", bill_for_units(TN, JAN, 450), 1)
    s = statement("home", [jan], [pay("p1", "1000")], "INR")
    data = json.loads(json.dumps({"bill": issued_as_dict(jan), "statement": statement_as_dict(s)}))
    assert data["bill"]["bill"]["total"] == "1490.00"
    assert data["bill"]["bill"]["lines"][1] == {
        "part": 0, "group": "energy", "id": "energy", "label": "Energy, units 101–200",
        "quantity": "100.000", "unit": "kWh", "rate": "2.35", "amount": "235.00",
    }  # fmt: skip
    assert (data["statement"]["balance"], data["statement"]["bills"][0]["status"]) == ("490.00", "partly_paid")


def test_a_payment_typed_in_is_checked_field_by_field() -> None:
    good = {"id": "cash-1", "account": "home", "amount": "490.50", "currency": "inr", "paid_at_ms": 5, "method": "cash"}
    p = payment_from_dict(good)
    assert (p.amount, p.currency, p.source) == (D("490.50"), "INR", "manual")
    with pytest.raises(ValueError, match="missing amount"):
        payment_from_dict({k: v for k, v in good.items() if k != "amount"})
    with pytest.raises(ValueError, match="more than two decimals"):
        payment_from_dict({**good, "amount": "1.005"})
    with pytest.raises(ValueError, match="not a number"):
        payment_from_dict({**good, "amount": "lots"})
    with pytest.raises(ValueError, match="above zero"):
        payment_from_dict({**good, "amount": "-5"})


def test_a_one_month_fixed_charge_reads_one_month() -> None:
    kerala = load_preset("in-kl-domestic")
    one = close_cycle("home", bill_for_units(kerala, BillingCycle(date(2025, 1, 1), date(2025, 2, 1)), 120), 1)
    two = close_cycle("home", bill_for_units(kerala, JAN, 240), 1)
    one_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_bill_html(one, kerala)))
    two_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_bill_html(two, kerala)))
    assert " 1 month " in one_text and "1 months" not in one_text
    assert " 2 months " in two_text
