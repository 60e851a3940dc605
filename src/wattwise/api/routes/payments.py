"""Payments and the balance over REST, and the payment providers' signed webhooks.

``POST /api/v1/webhooks/razorpay`` and ``/stripe`` need no user: the provider's signature,
checked with its own library against the shared secret (WATTWISE_RAZORPAY_WEBHOOK_SECRET,
WATTWISE_STRIPE_WEBHOOK_SECRET), is the authentication. An unsigned or badly signed event
is refused with 400 and records nothing; the same event twice is recorded once.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from wattwise.accounting import payments as payment_ops
from wattwise.accounting.bills import payment_of, statement_of
from wattwise.analysis.billing.serialize import payment_as_dict, statement_as_dict
from wattwise.analysis.billing.webhooks import WebhookError
from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.routes.billing_access import answering, site_for
from wattwise.domain.timestamps import LAST_MS
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store.billing import StoredPayment
from wattwise.store.errors import Conflict

router = APIRouter(tags=["payments"])


class PaymentIn(BodyIn):
    amount: str = Field(description="in the site's currency, at most two decimals: '1490.00'", examples=["1000.00"])
    method: str = Field(min_length=1, max_length=100, examples=["cash", "UPI", "cheque"])
    reference: str = Field(default="", max_length=200, description="receipt number, UPI reference …")
    paid_at_ms: int | None = Field(default=None, ge=0, le=LAST_MS, description="UTC epoch ms; default: now")
    id: str | None = Field(
        default=None, max_length=150, description="your own id for this payment: sending it twice records it once"
    )


def payment_out(p: StoredPayment) -> dict[str, Any]:
    return {
        **payment_as_dict(payment_of(p)),
        "event_id": p.event_id,
        "recorded_ms": p.recorded_ms,
        "recorded_by": p.recorded_by,
    }


@router.post("/api/v1/sites/{site_id}/payments", status_code=201, summary="Record a payment")
def record_payment(site_id: int, body: PaymentIn, access: AccessDep, services: ServicesDep) -> JSONResponse:
    """Partial or full; the balance is what the bills total less what was paid (oldest bill first).

    201 when recorded; 200 with the payment already on record when its ``id`` was sent before.
    """
    with services.engine.begin() as conn, answering():
        site_for(conn, access, site_id, write=True)
        stored, created = payment_ops.record_manual(
            conn, site_id, body.model_dump(exclude_none=True), access.user.username
        )
    return JSONResponse(payment_out(stored), status_code=201 if created else 200)


@router.get("/api/v1/sites/{site_id}/payments", summary="Payments received")
def list_payments(site_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        site_for(conn, access, site_id)
        return [payment_out(p) for p in billing_store.list_payments(conn, site_id)]


@router.get("/api/v1/sites/{site_id}/ledger", summary="Billed, paid and the balance")
def ledger(site_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Each current bill with what was paid towards it and what is due (``paid``, ``partly_paid``,
    ``unpaid``); ``balance`` is billed − paid (negative: in credit)."""
    with services.engine.connect() as conn, answering():
        site_for(conn, access, site_id)
        return {"site_id": site_id, **statement_as_dict(statement_of(conn, site_id))}


async def _webhook(request: Request, services: Services, provider: payment_ops.Provider, header: str) -> dict[str, Any]:
    body = await request.body()
    if len(body) > services.settings.max_body_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="webhook body over the size limit")
    try:
        secret = payment_ops.webhook_secret(services.settings, provider)
    except payment_ops.NotConfigured as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc
    try:
        kind, paid = payment_ops.verified_payment(
            provider, body, request.headers.get(header, ""), secret, int(time.time())
        )
    except WebhookError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    if paid is None:
        return {"event": kind, "recorded": False, "duplicate": False, "payment": None}

    def place() -> int:
        with services.engine.connect() as conn:
            return payment_ops.place(conn, provider, paid)

    try:
        site_id = await run_in_threadpool(place)  # a read; keep the event loop free
    except payment_ops.Unplaceable as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    try:
        stored, created = await services.writer.submit(  # serialised with ingest, like every write from async code
            lambda conn: payment_ops.record_provider_payment(conn, provider, site_id, paid)
        )
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return {"event": kind, "recorded": created, "duplicate": not created, "payment": payment_out(stored)}


@router.post("/api/v1/webhooks/razorpay", summary="Razorpay webhook (payment.captured)")
async def razorpay_webhook(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Signed with ``X-Razorpay-Signature``; the payment's notes carry ``wattwise_account: site-<id>``."""
    return await _webhook(request, services, "razorpay", "x-razorpay-signature")


@router.post("/api/v1/webhooks/stripe", summary="Stripe webhook (payment_intent.succeeded)")
async def stripe_webhook(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Signed with ``Stripe-Signature`` (5-minute tolerance); metadata carries ``wattwise_account: site-<id>``."""
    return await _webhook(request, services, "stripe", "stripe-signature")
