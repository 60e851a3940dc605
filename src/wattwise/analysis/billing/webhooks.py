"""Payments reported by a provider's signed webhook (Razorpay, Stripe), verified and read.

The signature is checked with the provider's own library, never by hand, before a byte of
the body is trusted; the event then yields only an amount, currency, method and the
provider's payment id — card data never reaches Wattwise (the customer pays on the
provider's page). Verification is a pure function of the raw body, the signature header,
the shared secret and, for Stripe's replay window, the current time passed in.

The account a payment is for travels in the payment's notes (Razorpay) or metadata
(Stripe) under ``wattwise_account``, set when the payment link or intent is created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import razorpay
import razorpay.errors
import stripe

from wattwise.analysis.billing.ledger import Payment

ACCOUNT_KEY = "wattwise_account"
STRIPE_TOLERANCE_S = 300
# Currencies without minor units (Stripe's list, the ones likely here).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


class WebhookError(ValueError):
    """A webhook that must not be acted on: bad signature, stale, or unreadable."""


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    provider: str
    payment_id: str
    event_id: str
    amount: Decimal
    currency: str
    method: str
    account: str | None
    paid_at_ms: int

    def to_payment(self, account: str | None = None) -> Payment:
        """A ledger payment; ``account`` overrides the one the provider carried."""
        who = account or self.account
        if not who:
            raise WebhookError(f"{self.provider} payment {self.payment_id} names no {ACCOUNT_KEY}")
        return Payment(
            id=f"{self.provider}:{self.payment_id}",
            account=who,
            amount=self.amount,
            currency=self.currency,
            paid_at_ms=self.paid_at_ms,
            method=f"{self.provider} {self.method}".strip(),
            reference=self.payment_id,
            source="webhook",
        )


def _major(amount_minor: int, currency: str) -> Decimal:
    cur = currency.upper()
    return Decimal(amount_minor) if cur in ZERO_DECIMAL else Decimal(amount_minor) / 100


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError("body is not a JSON object")
    return data


def verify_razorpay(body: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event, if ``X-Razorpay-Signature`` is the body's HMAC under ``secret``."""
    if not signature or not secret:
        raise WebhookError("Razorpay webhook without a signature or without a configured secret")
    try:
        razorpay.Utility().verify_webhook_signature(body.decode("utf-8"), signature, secret)
    except (razorpay.errors.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise WebhookError(f"Razorpay signature does not match: {exc}") from None
    return _json(body)


def verify_stripe(
    body: bytes, signature_header: str, secret: str, now_s: int, tolerance_s: int = STRIPE_TOLERANCE_S
) -> dict[str, Any]:
    """The event, if ``Stripe-Signature`` signs the body and was made within the tolerance."""
    try:
        stripe.WebhookSignature.verify_header(body, signature_header, secret, tolerance=None)
    except stripe.SignatureVerificationError as exc:
        raise WebhookError(f"Stripe signature does not match: {exc.user_message or exc}") from None
    stamps = [p.split("=", 1)[1] for p in signature_header.split(",") if p.startswith("t=")]
    if not stamps or not stamps[0].isdigit():
        raise WebhookError("Stripe-Signature has no timestamp")
    if abs(now_s - int(stamps[0])) > tolerance_s:
        raise WebhookError(f"Stripe webhook signed at {stamps[0]}, more than {tolerance_s} s from now ({now_s})")
    return _json(body)


def razorpay_payment(event: dict[str, Any]) -> ProviderPayment | None:
    """The captured payment in a Razorpay event, or None for events that are not one."""
    if event.get("event") != "payment.captured":
        return None
    try:
        p = event["payload"]["payment"]["entity"]
        notes = p.get("notes") or {}
        return ProviderPayment(
            provider="razorpay",
            payment_id=str(p["id"]),
            event_id=str(event.get("id", p["id"])),
            amount=_major(int(p["amount"]), str(p["currency"])),
            currency=str(p["currency"]).upper(),
            method=str(p.get("method", "")),
            account=notes.get(ACCOUNT_KEY) if isinstance(notes, dict) else None,
            paid_at_ms=int(p.get("created_at", event.get("created_at", 0))) * 1000,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookError(f"Razorpay payment.captured event is missing {exc}") from None


def stripe_payment(event: dict[str, Any]) -> ProviderPayment | None:
    """The succeeded payment in a Stripe event, or None for events that are not one."""
    if event.get("type") != "payment_intent.succeeded":
        return None
    try:
        pi = event["data"]["object"]
        methods = pi.get("payment_method_types") or []
        return ProviderPayment(
            provider="stripe",
            payment_id=str(pi["id"]),
            event_id=str(event["id"]),
            amount=_major(int(pi["amount_received"]), str(pi["currency"])),
            currency=str(pi["currency"]).upper(),
            method=str(methods[0]) if methods else "",
            account=(pi.get("metadata") or {}).get(ACCOUNT_KEY),
            paid_at_ms=int(event.get("created", pi.get("created", 0))) * 1000,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookError(f"Stripe payment_intent.succeeded event is missing {exc}") from None
