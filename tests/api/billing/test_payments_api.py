"""Payments by hand and by the providers' signed webhooks (signed here with a local secret), and the balance."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import stripe

from support import World

RAZORPAY_SECRET = "rzp_local_webhook_secret"
STRIPE_SECRET = "whsec_local_webhook_secret"


def issue_450_units(w: World) -> dict[str, Any]:
    """A Tamil Nadu bill for the utility's reading of 450 units: 235 + 940 + 50 × 6.30 = 1490.00."""
    assert w.client.put(
        f"/api/v1/sites/{w.site_a}/tariff", json={"preset": "in-tn-domestic"}, headers=w.auth()
    ).is_success
    settings = {"cycle_months": 2, "cycle_anchor": "2025-01-01"}
    assert w.client.put(f"/api/v1/sites/{w.site_a}/billing/settings", json=settings, headers=w.auth()).is_success
    bill = w.client.post(
        f"/api/v1/sites/{w.site_a}/bills", json={"cycle_start": "2025-01-01", "kwh": "450"}, headers=w.auth()
    )
    assert bill.status_code == 201 and bill.json()["bill"]["total"] == "1490.00", bill.text
    return bill.json()  # type: ignore[no-any-return]


def razorpay_event(site_id: int, payment_id: str, paise: int) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "event": "payment.captured",
            "created_at": 1_740_000_000,
            "payload": {
                "payment": {
                    "entity": {
                        "id": payment_id,
                        "amount": paise,
                        "currency": "INR",
                        "status": "captured",
                        "method": "upi",
                        "created_at": 1_740_000_000,
                        "notes": {"wattwise_account": f"site-{site_id}"},
                    }
                }
            },
        }
    ).encode()


def razorpay_signature(body: bytes, secret: str = RAZORPAY_SECRET) -> str:
    """What Razorpay sends in X-Razorpay-Signature: the hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_partial_then_full_payment_and_the_balance(bw: World) -> None:
    bill = issue_450_units(bw)
    url = f"/api/v1/sites/{bw.site_a}/payments"
    first = bw.client.post(url, json={"amount": "1000.00", "method": "UPI", "reference": "UTR 1234"}, headers=bw.auth())
    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["currency"], first.json()["source"]) == ("1000.00", "INR", "manual")

    owed = bw.client.get(f"/api/v1/sites/{bw.site_a}/bills/{bill['id']}", headers=bw.auth()).json()["settlement"]
    assert owed == {"paid": "1000.00", "due": "490.00", "status": "partly_paid"}
    ledger = bw.client.get(f"/api/v1/sites/{bw.site_a}/ledger", headers=bw.auth(bw.viewer_token)).json()
    assert (ledger["billed"], ledger["paid"], ledger["balance"]) == ("1490.00", "1000.00", "490.00")

    # The rest in cash; the form is submitted twice with its own id: counted once.
    cash = {"amount": "490", "method": "cash", "id": "receipt-77"}
    assert bw.client.post(url, json=cash, headers=bw.auth()).status_code == 201
    assert bw.client.post(url, json=cash, headers=bw.auth()).status_code == 200
    ledger = bw.client.get(f"/api/v1/sites/{bw.site_a}/ledger", headers=bw.auth()).json()
    assert (ledger["balance"], ledger["bills"][0]["status"], len(ledger["payments"])) == ("0.00", "paid", 2)
    page = bw.client.get(bill["html"], headers=bw.auth()).text
    assert "1,000.00" in page and "490.00" in page

    changed = bw.client.post(url, json={**cash, "amount": "500"}, headers=bw.auth())
    assert changed.status_code == 409 and "already recorded" in changed.json()["detail"]


def test_payments_are_checked_and_only_writers_record_them(bw_sqlite: World) -> None:
    bw = bw_sqlite  # answers that do not depend on the database
    url = f"/api/v1/sites/{bw.site_a}/payments"
    for body, field in (
        ({"amount": "12.345", "method": "cash"}, "two decimals"),
        ({"amount": "lots", "method": "cash"}, "not a number"),
        ({"amount": "-5", "method": "cash"}, "above zero"),
    ):
        bad = bw.client.post(url, json=body, headers=bw.auth())
        assert bad.status_code == 422 and field in bad.json()["detail"], bad.text
        # named as the form's field, not by an id made up for the refused payment ("payment manual:3fa9…")
        assert bad.json()["detail"].startswith("payment.amount: "), bad.text
    assert bw.client.post(url, json={"amount": "5"}, headers=bw.auth()).status_code == 422  # no method
    assert (
        bw.client.post(url, json={"amount": "5", "method": "cash"}, headers=bw.auth(bw.viewer_token)).status_code == 403
    )
    assert bw.client.get(f"/api/v1/sites/{bw.site_b}/ledger", headers=bw.auth(bw.viewer_token)).status_code == 404
    assert bw.client.get(url, headers=bw.auth(bw.viewer_token)).json() == []


def test_a_signed_razorpay_webhook_is_recorded_once_and_a_forged_one_not_at_all(
    bw: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = "/api/v1/webhooks/razorpay"
    body = razorpay_event(bw.site_a, "pay_Q1w2e3r4", 149000)
    signed = {"X-Razorpay-Signature": razorpay_signature(body)}
    assert bw.client.post(hook, content=body, headers=signed).status_code == 503  # no secret set up yet
    monkeypatch.setenv("WATTWISE_RAZORPAY_WEBHOOK_SECRET", RAZORPAY_SECRET)
    issue_450_units(bw)

    unsigned = bw.client.post(hook, content=body)
    forged = bw.client.post(hook, content=body, headers={"X-Razorpay-Signature": razorpay_signature(body, "guess")})
    tampered = bw.client.post(
        hook,
        content=body.replace(b"149000", b"999999"),
        headers={"X-Razorpay-Signature": razorpay_signature(body)},
    )
    assert [r.status_code for r in (unsigned, forged, tampered)] == [400, 400, 400]
    assert bw.client.get(f"/api/v1/sites/{bw.site_a}/payments", headers=bw.auth()).json() == []

    first = bw.client.post(hook, content=body, headers=signed)
    assert first.status_code == 200, first.text
    assert (first.json()["recorded"], first.json()["payment"]["amount"]) == (True, "1490.00")
    again = bw.client.post(hook, content=body, headers=signed)  # Razorpay retries
    assert (again.status_code, again.json()["recorded"], again.json()["duplicate"]) == (200, False, True)

    ledger = bw.client.get(f"/api/v1/sites/{bw.site_a}/ledger", headers=bw.auth()).json()
    assert (ledger["paid"], ledger["balance"], ledger["bills"][0]["status"]) == ("1490.00", "0.00", "paid")
    assert ledger["payments"][0]["method"] == "razorpay upi"

    elsewhere = razorpay_event(9999, "pay_other", 100)
    lost = bw.client.post(hook, content=elsewhere, headers={"X-Razorpay-Signature": razorpay_signature(elsewhere)})
    assert lost.status_code == 422 and "site-9999" in lost.json()["detail"]


def test_a_signed_stripe_webhook_is_recorded_and_a_replayed_or_forged_one_refused(
    bw: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTWISE_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    with bw.services.engine.begin() as conn:
        from wattwise.store.sites import create_site
        from wattwise.store.users import grant

        site = create_site(conn, "Oakland house", timezone="America/Los_Angeles", currency="USD")
        grant(conn, 2, site.id, "viewer")
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "pi_3Abc",
                "object": "payment_intent",
                "amount_received": 36037,
                "currency": "usd",
                "payment_method_types": ["card"],
                "metadata": {"wattwise_account": f"site-{site.id}"},
            }
        },
    }
    body = json.dumps(event)
    hook = "/api/v1/webhooks/stripe"
    now = int(time.time())
    stale = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET, timestamp=now - 3600)
    forged = stripe.WebhookSignature.generate_signature_header(body, "whsec_guess", timestamp=now)
    for header in (stale, forged, ""):
        refused = bw.client.post(hook, content=body, headers={"Stripe-Signature": header})
        assert refused.status_code == 400, refused.text

    good = stripe.WebhookSignature.generate_signature_header(body, STRIPE_SECRET, timestamp=now)
    for _ in range(2):
        ok = bw.client.post(hook, content=body, headers={"Stripe-Signature": good})
        assert ok.status_code == 200, ok.text
    payments = bw.client.get(f"/api/v1/sites/{site.id}/payments", headers=bw.auth(bw.viewer_token)).json()
    assert [(p["id"], p["amount"], p["currency"], p["source"]) for p in payments] == [
        ("stripe:pi_3Abc", "360.37", "USD", "webhook")
    ]
    ledger = bw.client.get(f"/api/v1/sites/{site.id}/ledger", headers=bw.auth()).json()
    assert (ledger["balance"], ledger["credit"]) == ("-360.37", "360.37")  # paid ahead: in credit

    other = json.dumps({**event, "type": "customer.created", "id": "evt_2"})
    sig = stripe.WebhookSignature.generate_signature_header(other, STRIPE_SECRET, timestamp=now)
    ignored = bw.client.post(hook, content=other, headers={"Stripe-Signature": sig}).json()
    assert (ignored["event"], ignored["recorded"], ignored["payment"]) == ("customer.created", False, None)
