"""Payments towards a site's bills: typed in by a person, or reported by a provider's signed webhook.

A webhook is acted on only after the provider's own library has checked its signature
(``wattwise.analysis.billing.webhooks``); the provider's payment id is the payment's id,
so an event delivered twice is recorded once. The payment names its account
(``site-<id>``) in the notes (Razorpay) or metadata (Stripe) it was created with; card
data never reaches Wattwise.
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection

from wattwise.accounting.site import account_of, get_site, site_of_account
from wattwise.analysis.billing import Payment
from wattwise.analysis.billing.serialize import payment_from_dict
from wattwise.analysis.billing.webhooks import (
    ZERO_DECIMAL,
    ProviderPayment,
    WebhookError,
    razorpay_payment,
    stripe_payment,
    verify_razorpay,
    verify_stripe,
)
from wattwise.config import Settings
from wattwise.store import billing as billing_store
from wattwise.store.billing import StoredPayment
from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound

Provider = Literal["razorpay", "stripe"]


class Unplaceable(WebhookError):
    """A genuine event whose payment cannot be put on any account here (unknown account, currency)."""


class NotConfigured(LookupError):
    """No webhook secret is set for the provider, so no event from it can be trusted."""


def webhook_secret(settings: Settings, provider: Provider) -> str:
    """``settings.<provider>_webhook_secret`` if the deployment has one, else WATTWISE_<PROVIDER>_WEBHOOK_SECRET."""
    name = f"{provider}_webhook_secret"
    configured = getattr(settings, name, "")
    secret = (
        configured if isinstance(configured, str) and configured else os.environ.get(f"WATTWISE_{name.upper()}", "")
    )
    if not secret:
        raise NotConfigured(f"{provider} webhooks are not set up: set WATTWISE_{name.upper()}")
    return secret


#: The most one payment may be, in the currency's units. Far past any bill, and it keeps a
#: ledger's sums exact in Decimal's 28 digits (and a payment roundable to its minor units).
MAX_PAYMENT = Decimal(10**12)


def minor_units(amount: Decimal, currency: str) -> Decimal:
    """Money as it is written in its currency: 1490 rupees is 1490.00, 500 yen is 500."""
    return amount.quantize(Decimal(1) if currency in ZERO_DECIMAL else Decimal("0.01"))


def _record(
    conn: Connection, site_id: int, payment: Payment, *, event_id: str | None, by: str
) -> tuple[StoredPayment, bool]:
    if payment.amount > MAX_PAYMENT:  # checked on the way in only: what is stored stays readable
        raise ValueError(f"payment.amount: {payment.amount} is more than any payment (at most {MAX_PAYMENT:,})")
    return billing_store.record_payment(
        conn,
        StoredPayment(
            id=payment.id,
            site_id=site_id,
            account=payment.account,
            amount=minor_units(payment.amount, payment.currency),
            currency=payment.currency,
            paid_at_ms=payment.paid_at_ms,
            method=payment.method,
            reference=payment.reference,
            source=payment.source,
            event_id=event_id,
            recorded_ms=now_ms(),
            recorded_by=by,
        ),
    )


def record_manual(conn: Connection, site_id: int, body: dict[str, Any], by: str) -> tuple[StoredPayment, bool]:
    """A payment typed in (cash, UPI, cheque…); ``id`` makes a repeated submission count once.

    The currency is the site's. Errors name the field (``payment.amount: …``).
    """
    site = get_site(conn, site_id)
    given_id = body.get("id")
    payment = payment_from_dict(
        {
            **{k: v for k, v in body.items() if k in ("amount", "method", "reference", "paid_at_ms")},
            "id": f"manual:{given_id}" if given_id else f"manual:{uuid.uuid4().hex}",
            "account": account_of(site_id),
            "currency": site.currency,
            "paid_at_ms": body.get("paid_at_ms", now_ms()),
        }
    )
    if not payment.method.strip():
        raise ValueError("payment.method: say how it was paid (cash, UPI, card, cheque …)")
    return _record(conn, site_id, payment, event_id=None, by=by)


def verified_payment(
    provider: Provider, body: bytes, signature: str, secret: str, now_s: int
) -> tuple[str, ProviderPayment | None]:
    """The event's type and its payment (None for other events); WebhookError if not signed by the provider."""
    if provider == "razorpay":
        event = verify_razorpay(body, signature, secret)
        return str(event.get("event", "")), razorpay_payment(event)
    event = verify_stripe(body, signature, secret, now_s)
    return str(event.get("type", "")), stripe_payment(event)


def place(conn: Connection, provider: Provider, paid: ProviderPayment) -> int:
    """The site a verified payment is for; Unplaceable if its account or currency is not one of ours."""
    site_id = site_of_account(paid.account or "")
    if site_id is None:
        raise Unplaceable(
            f"{provider} payment {paid.payment_id}: wattwise_account {paid.account!r} is not an account here "
            "(expected site-<id>)"
        )
    try:
        site = get_site(conn, site_id)
    except NotFound:
        raise Unplaceable(f"{provider} payment {paid.payment_id}: no site for account {paid.account!r}") from None
    if paid.currency != site.currency:
        raise Unplaceable(
            f"{provider} payment {paid.payment_id} is in {paid.currency}; site {site.name!r} keeps accounts in "
            f"{site.currency}"
        )
    return site_id


def record_provider_payment(
    conn: Connection, provider: Provider, site_id: int, paid: ProviderPayment
) -> tuple[StoredPayment, bool]:
    """Record a verified, placed payment once (the provider's payment id is its id)."""
    return _record(conn, site_id, paid.to_payment(), event_id=paid.event_id, by=f"webhook:{provider}")
