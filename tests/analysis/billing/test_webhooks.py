"""Payments from Razorpay's and Stripe's signed webhooks, signed here with a local secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal as D

import pytest
import stripe

from wattwise.analysis.billing.webhooks import (
    WebhookError,
    razorpay_payment,
    stripe_payment,
    verify_razorpay,
    verify_stripe,
)

SECRET = "whsec_local_test_secret"
NOW = 1_735_700_000

RAZORPAY_EVENT = {
    "entity": "event",
    "event": "payment.captured",
    "created_at": NOW,
    "payload": {
        "payment": {
            "entity": {
                "id": "pay_Q1w2e3r4",
                "amount": 149000,
                "currency": "INR",
                "status": "captured",
                "method": "upi",
                "created_at": NOW,
                "notes": {"wattwise_account": "home"},
            }
        }
    },
}

STRIPE_EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": NOW,
    "data": {
        "object": {
            "id": "pi_3Abc",
            "object": "payment_intent",
            "amount_received": 36037,
            "currency": "usd",
            "payment_method_types": ["card"],
            "metadata": {"wattwise_account": "house-7"},
        }
    },
}


def razorpay_sign(body: bytes) -> str:
    """What Razorpay puts in X-Razorpay-Signature: hex HMAC-SHA256 of the raw body."""
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_razorpay_captured_payment_becomes_a_ledger_payment() -> None:
    body = json.dumps(RAZORPAY_EVENT).encode()
    event = verify_razorpay(body, razorpay_sign(body), SECRET)
    found = razorpay_payment(event)
    assert found is not None
    payment = found.to_payment()
    assert (payment.id, payment.account, payment.amount, payment.currency) == (
        "razorpay:pay_Q1w2e3r4",
        "home",
        D("1490"),
        "INR",
    )
    assert payment.method == "razorpay upi" and payment.source == "webhook"
    assert payment.paid_at_ms == NOW * 1000


def test_razorpay_tampered_body_or_wrong_secret_is_refused() -> None:
    body = json.dumps(RAZORPAY_EVENT).encode()
    sig = razorpay_sign(body)
    with pytest.raises(WebhookError, match="does not match"):
        verify_razorpay(body.replace(b"149000", b"1"), sig, SECRET)
    with pytest.raises(WebhookError, match="does not match"):
        verify_razorpay(body, sig, "another secret")
    with pytest.raises(WebhookError, match="without a signature"):
        verify_razorpay(body, "", SECRET)


def test_stripe_succeeded_intent_in_cents_becomes_dollars() -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp=NOW)
    event = verify_stripe(body, header, SECRET, now_s=NOW + 10)
    found = stripe_payment(event)
    assert found is not None
    payment = found.to_payment()
    assert (payment.id, payment.account, payment.amount, payment.currency) == (
        "stripe:pi_3Abc",
        "house-7",
        D("360.37"),
        "USD",
    )


def test_stripe_replayed_or_forged_webhooks_are_refused() -> None:
    body = json.dumps(STRIPE_EVENT).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp=NOW)
    with pytest.raises(WebhookError, match="more than 300 s"):
        verify_stripe(body, header, SECRET, now_s=NOW + 3600)
    forged = stripe.WebhookSignature.generate_signature_header(body.decode(), "not the secret", timestamp=NOW)
    with pytest.raises(WebhookError, match="does not match"):
        verify_stripe(body, forged, SECRET, now_s=NOW)
    with pytest.raises(WebhookError, match="does not match"):
        verify_stripe(body + b" ", header, SECRET, now_s=NOW)


def test_other_events_are_not_payments_and_broken_ones_say_what_is_missing() -> None:
    assert razorpay_payment({"event": "payment.failed"}) is None
    assert stripe_payment({"type": "charge.refunded"}) is None
    with pytest.raises(WebhookError, match="missing"):
        razorpay_payment({"event": "payment.captured", "payload": {}})
    no_account = json.loads(json.dumps(RAZORPAY_EVENT))
    no_account["payload"]["payment"]["entity"]["notes"] = {}
    found = razorpay_payment(no_account)
    assert found is not None
    with pytest.raises(WebhookError, match="names no wattwise_account"):
        found.to_payment()
    assert found.to_payment(account="home").account == "home"
