"""Alerts over REST: rules, the channels they notify, the alerts raised and what people do with them.

A site's owners (and administrators) set its rules and channels; everyone with a role on
the site reads them. Owners and members act on alerts (acknowledge, confirm, ignore,
resolve); viewers only look. A site or meter the user may not see answers 404.

Ignoring or confirming an alert raised from a finding gives the finding the verdict
Ignore or Raise, exactly as the findings page does (``alerts.edits.act``),
so the detectors learn from it. Every change of the rules is announced on the bus
(topic "alert_rules") and the engine reloads them; every change of an alert is published
on "alerts".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import ConfigDict, Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from wattwise.alerts import channels
from wattwise.alerts import edits as alert_edits
from wattwise.alerts.outbox import Deliver, default_deliver, send_test
from wattwise.api.body import BodyIn, Id
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.errors import store_errors
from wattwise.api.routes.appliances import edit, read
from wattwise.api.routes.billing_access import site_for
from wattwise.api.routes.devices import visible_device
from wattwise.store import alerts as alert_store
from wattwise.store.errors import NotFound
from wattwise.store.users import Access

router = APIRouter(tags=["alerts"])

Action = Literal["acknowledge", "confirm", "ignore", "resolve"]


class RuleIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    site_id: Id = Field(description="The site the rule belongs to")
    device_id: Id | None = Field(default=None, description="One meter of the site; null: every meter of it")
    name: str = Field(min_length=1, max_length=100, description="How notices and the dashboard name it")
    kind: Literal["threshold", "offline", "budget", "finding", "appliance"]
    params: dict[str, Any] = Field(description="The kind's settings (see docs/alerts.md)")
    channel_ids: list[Id] = Field(default_factory=list, description="Channels of the site to notify")
    cooldown_s: int = Field(
        default=600, ge=0, le=alert_edits.MAX_COOLDOWN_S, description="Quiet time after an alert ends"
    )
    relay_off: bool = Field(default=False, description="Switch the meter's relay off when it fires (overload)")
    enabled: bool = True


class ChannelIn(BodyIn):
    model_config = ConfigDict(extra="forbid")

    site_id: Id
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=32, description="email, webhook, ntfy, telegram or whatsapp")
    config: dict[str, Any] = Field(description="The channel's settings (secrets are never shown back in full)")


# ---------------------------------------------------------------------------- helpers


def _rule_fields(body: RuleIn) -> alert_store.RuleFields:
    """The body as the store takes it; ValueError naming the bad field."""
    fields = alert_store.RuleFields(**body.model_dump())
    alert_edits.check_rule(fields)
    return fields


def _unprocessable(exc: ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


def _managed(conn: Connection, access: Access, site_id: int) -> None:
    """The site if the user may see it and set its alerts (owners and administrators)."""
    site_for(conn, access, site_id)
    if not access.can_manage(site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the site's owners set its alert rules and channels")


T = TypeVar("T", alert_store.Rule, alert_store.Channel, alert_store.Alert)


def _visible(conn: Connection, access: Access, fetch: Callable[[Connection, int], T], what: str, item_id: int) -> T:
    """A rule, channel or alert of a site the user may see; 404 otherwise (not 403: do not confirm it exists)."""
    try:
        found = fetch(conn, item_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    if not access.can_see(found.site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {what} with id {item_id}")
    return found


def _rule_or_404(conn: Connection, access: Access, rule_id: int) -> alert_store.Rule:
    return _visible(conn, access, alert_store.get_rule, "alert rule", rule_id)


def _channel_or_404(conn: Connection, access: Access, channel_id: int) -> alert_store.Channel:
    return _visible(conn, access, alert_store.get_channel, "alert channel", channel_id)


def _alert_or_404(conn: Connection, access: Access, alert_id: int) -> alert_store.Alert:
    return _visible(conn, access, alert_store.get_alert, "alert", alert_id)


def channel_out(channel: alert_store.Channel, access: Access) -> dict[str, Any]:
    return {
        "id": channel.id,
        "site_id": channel.site_id,
        "name": channel.name,
        "kind": channel.kind,
        "config": channels.shown(channel.kind, channel.config, admin=access.user.is_admin),
        "created_ms": channel.created_ms,
        "updated_ms": channel.updated_ms,
    }


def _deliverer(request: Request) -> Deliver:
    """The running engine's way of delivering (the tests give theirs), else the channels'."""
    engine = getattr(request.app.state, "alerts", None)
    return engine.deliver if engine is not None else default_deliver


# ---------------------------------------------------------------------------- rules


@router.get("/api/v1/alert-rules", summary="List alert rules")
def list_rules(
    access: AccessDep,
    services: ServicesDep,
    site_id: Annotated[int | None, Query(description="Only this site's")] = None,
) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        if site_id is not None:
            site_for(conn, access, site_id)
            return [x.to_dict() for x in alert_store.list_rules(conn, frozenset({site_id}))]
        return [x.to_dict() for x in alert_store.list_rules(conn, access.site_ids())]


@router.post("/api/v1/alert-rules", status_code=201, summary="Add an alert rule")
async def add_rule(body: RuleIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """A rule on one meter or every meter of a site (owners and administrators)."""
    await read(services, lambda c: _managed(c, access, body.site_id))
    try:
        fields = _rule_fields(body)
    except ValueError as exc:
        raise _unprocessable(exc) from exc
    added = await edit(alert_edits.save_rule(services, fields, by=access.user.username))
    return added.to_dict()


@router.get("/api/v1/alert-rules/{rule_id}", summary="One alert rule")
def get_rule(rule_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return _rule_or_404(conn, access, rule_id).to_dict()


@router.put("/api/v1/alert-rules/{rule_id}", summary="Change an alert rule")
async def put_rule(rule_id: int, body: RuleIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Replace the rule's settings (the whole body, as for adding it); its site stays."""

    def check(conn: Connection) -> None:
        found = _rule_or_404(conn, access, rule_id)
        _managed(conn, access, found.site_id)
        if body.site_id != found.site_id:
            raise ValueError(f"site_id: a rule stays on its site ({found.site_id})")

    await read(services, check)
    try:
        fields = _rule_fields(body)
    except ValueError as exc:
        raise _unprocessable(exc) from exc
    changed = await edit(alert_edits.save_rule(services, fields, by=access.user.username, rule_id=rule_id))
    return changed.to_dict()


@router.delete("/api/v1/alert-rules/{rule_id}", status_code=204, summary="Delete an alert rule")
async def delete_rule(rule_id: int, access: AccessDep, services: ServicesDep) -> Response:
    """Its alerts stay (without a rule); active ones are resolved."""
    await read(services, lambda c: _managed(c, access, _rule_or_404(c, access, rule_id).site_id))
    await edit(alert_edits.delete_rule(services, rule_id))
    return Response(status_code=204)


# ---------------------------------------------------------------------------- channels


@router.get("/api/v1/alert-channels", summary="List alert channels")
def list_channels(
    access: AccessDep,
    services: ServicesDep,
    site_id: Annotated[int | None, Query(description="Only this site's")] = None,
) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        if site_id is not None:
            site_for(conn, access, site_id)
            return [channel_out(x, access) for x in alert_store.list_channels(conn, frozenset({site_id}))]
        return [channel_out(x, access) for x in alert_store.list_channels(conn, access.site_ids())]


@router.post("/api/v1/alert-channels", status_code=201, summary="Add an alert channel")
async def add_channel(body: ChannelIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    await read(services, lambda c: _managed(c, access, body.site_id))
    added = await edit(alert_edits.save_channel(services, body.site_id, body.name, body.kind, body.config))
    return channel_out(added, access)


@router.get("/api/v1/alert-channels/{channel_id}", summary="One alert channel, with its latest deliveries")
def get_channel(channel_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        found = _channel_or_404(conn, access, channel_id)
        sent = alert_store.deliveries(conn, channel_id=channel_id)
    return {**channel_out(found, access), "deliveries": [d.to_dict() for d in sent]}


@router.put("/api/v1/alert-channels/{channel_id}", summary="Change an alert channel")
async def put_channel(channel_id: int, body: ChannelIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    def check(conn: Connection) -> None:
        found = _channel_or_404(conn, access, channel_id)
        _managed(conn, access, found.site_id)
        if body.site_id != found.site_id:
            raise ValueError(f"site_id: a channel stays on its site ({found.site_id})")

    await read(services, check)
    changed = await edit(
        alert_edits.save_channel(services, body.site_id, body.name, body.kind, body.config, channel_id=channel_id)
    )
    return channel_out(changed, access)


@router.delete("/api/v1/alert-channels/{channel_id}", status_code=204, summary="Delete an alert channel")
async def delete_channel(channel_id: int, access: AccessDep, services: ServicesDep) -> Response:
    """Rules that sent to it stop doing so; its deliveries stay on record."""
    await read(services, lambda c: _managed(c, access, _channel_or_404(c, access, channel_id).site_id))
    await edit(alert_edits.delete_channel(services, channel_id))
    return Response(status_code=204)


@router.post("/api/v1/alert-channels/{channel_id}/test", summary="Send a test notice")
async def test_channel(channel_id: int, request: Request, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Send a test notice through the channel now; the answer says whether it went."""

    def check(conn: Connection) -> alert_store.Channel:
        found = _channel_or_404(conn, access, channel_id)
        _managed(conn, access, found.site_id)
        return found

    channel = await read(services, check)
    result = await run_in_threadpool(send_test, services, _deliverer(request), channel)
    return {"channel_id": channel_id, "ok": result.ok, "error": result.error}


# ---------------------------------------------------------------------------- alerts


@router.get("/api/v1/alerts", summary="List alerts")
def list_alerts(
    access: AccessDep,
    services: ServicesDep,
    site_id: Annotated[int | None, Query(description="Only this site's")] = None,
    device_id: Annotated[int | None, Query(description="Only this meter's")] = None,
    status_: Annotated[
        str | None, Query(alias="status", description="open, acknowledged, confirmed, ignored or resolved")
    ] = None,
    since: Annotated[int | None, Query(description="Going on at or started after this time (Unix ms)")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Alerts of the sites you may see, newest first."""
    if status_ is not None and status_ not in alert_store.STATUSES:
        raise HTTPException(422, detail=f"status: must be one of {', '.join(alert_store.STATUSES)}, got {status_!r}")
    with services.engine.connect() as conn:
        site_ids = access.site_ids()
        if site_id is not None:
            site_for(conn, access, site_id)
            site_ids = frozenset({site_id})
        if device_id is not None:
            visible_device(conn, access, device_id)
        found = alert_store.list_alerts(
            conn, site_ids=site_ids, device_id=device_id, status=status_, since=since, limit=limit
        )
    return [a.to_dict() for a in found]


@router.get("/api/v1/alerts/{alert_id}", summary="One alert, with its deliveries")
def get_alert(alert_id: int, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    with services.engine.connect() as conn:
        found = _alert_or_404(conn, access, alert_id)
        sent = alert_store.deliveries(conn, alert_id=alert_id)
    return {**found.to_dict(), "deliveries": [d.to_dict() for d in sent]}


@router.post("/api/v1/alerts/{alert_id}/{action}", summary="Acknowledge, confirm, ignore or resolve an alert")
async def act_on_alert(alert_id: int, action: Action, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """409 when the alert's status does not allow the action (an alert resolved already).
    On an alert from a finding, ignore and confirm also judge the finding (Ignore / Raise)."""

    def check(conn: Connection) -> alert_store.Alert:
        found = _alert_or_404(conn, access, alert_id)
        if not access.can_operate(found.site_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="viewers may look but not act on alerts")
        return found

    await read(services, check)
    with store_errors():  # 409 from a status the action does not apply to
        changed = await alert_edits.act(services, alert_id, action, by=access.user.username)
    return changed.to_dict()
