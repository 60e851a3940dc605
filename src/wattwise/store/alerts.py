"""Alert rules, channels, alerts and deliveries: rows in, plain values out.

An alert's life: ``open`` → ``acknowledged`` → ``resolved``; ``ignored`` ("not a problem")
and ``confirmed`` ("a real problem") from open or acknowledged; a confirmed alert is still
resolved later. Open, acknowledged and confirmed alerts are *active*: a rule's new trigger
on the same meter counts as a repeat of the active one instead of a new alert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update

from wattwise.store.alerts_schema import alert_channels, alert_deliveries, alert_rules, alerts
from wattwise.store.clock import now_ms
from wattwise.store.devices import get_device
from wattwise.store.errors import Conflict, NotFound

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
CONFIRMED = "confirmed"
IGNORED = "ignored"
RESOLVED = "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, CONFIRMED, IGNORED, RESOLVED)
ACTIVE = (OPEN, ACKNOWLEDGED, CONFIRMED)
#: a person's action → (the status it gives, the statuses it may be taken from)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "acknowledge": (ACKNOWLEDGED, (OPEN,)),
    "confirm": (CONFIRMED, (OPEN, ACKNOWLEDGED)),
    "ignore": (IGNORED, (OPEN, ACKNOWLEDGED)),
    "resolve": (RESOLVED, ACTIVE),
}
#: why an alert was stored without notifying anyone
QUIET_COOLDOWN = "cooldown"
QUIET_PATTERN = "ignored pattern"
#: who resolves an alert whose clear condition held
BY_RULE = "rule"
#: who resolves the active alerts of a rule switched off or deleted
BY_RULE_DISABLED = "rule disabled"
BY_RULE_DELETED = "rule deleted"
BY_RULE_CHANGED = "rule changed"  # moved to another meter or kind: it no longer watches the alert


# ---------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    site_id: int
    name: str
    kind: str
    config: dict[str, Any]
    created_ms: int
    updated_ms: int


def _channel(row: Any) -> Channel:
    m = dict(row._mapping)
    m["config"] = json.loads(m["config"])
    return Channel(**m)


def add_channel(conn: Connection, site_id: int, name: str, kind: str, config: dict[str, Any]) -> Channel:
    now = now_ms()
    result = conn.execute(
        insert(alert_channels).values(
            site_id=site_id, name=name, kind=kind, config=json.dumps(config), created_ms=now, updated_ms=now
        )
    )
    assert result.inserted_primary_key is not None
    return get_channel(conn, int(result.inserted_primary_key[0]))


def update_channel(conn: Connection, channel_id: int, name: str, kind: str, config: dict[str, Any]) -> Channel:
    get_channel(conn, channel_id)
    conn.execute(
        update(alert_channels)
        .where(alert_channels.c.id == channel_id)
        .values(name=name, kind=kind, config=json.dumps(config), updated_ms=now_ms())
    )
    return get_channel(conn, channel_id)


def get_channel(conn: Connection, channel_id: int) -> Channel:
    row = conn.execute(select(alert_channels).where(alert_channels.c.id == channel_id)).first()
    if row is None:
        raise NotFound(f"no alert channel with id {channel_id}")
    return _channel(row)


def list_channels(conn: Connection, site_ids: frozenset[int] | None = None) -> list[Channel]:
    query = select(alert_channels).order_by(alert_channels.c.id)
    if site_ids is not None:
        query = query.where(alert_channels.c.site_id.in_(sorted(site_ids)))
    return [_channel(r) for r in conn.execute(query)]


def delete_channel(conn: Connection, channel_id: int) -> None:
    """Remove the channel, and from every rule that sent to it (its deliveries stay)."""
    channel = get_channel(conn, channel_id)
    for rule in list_rules(conn, frozenset({channel.site_id})):
        if channel_id in rule.channel_ids:
            kept = [c for c in rule.channel_ids if c != channel_id]
            conn.execute(update(alert_rules).where(alert_rules.c.id == rule.id).values(channel_ids=json.dumps(kept)))
    conn.execute(delete(alert_channels).where(alert_channels.c.id == channel_id))


# ---------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFields:
    """What a person sets on a rule (``params`` checked by ``alerts.rules.parse_params``)."""

    site_id: int
    device_id: int | None
    name: str
    kind: str
    params: dict[str, Any]
    channel_ids: list[int] = field(default_factory=list)
    cooldown_s: int = 600
    relay_off: bool = False
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    site_id: int
    device_id: int | None
    name: str
    kind: str
    params: dict[str, Any]
    channel_ids: list[int]
    cooldown_s: int
    relay_off: bool
    enabled: bool
    created_by: str
    created_ms: int
    updated_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rule(row: Any) -> Rule:
    m = dict(row._mapping)
    m["params"] = json.loads(m["params"])
    m["channel_ids"] = json.loads(m["channel_ids"])
    m["relay_off"] = bool(m["relay_off"])
    m["enabled"] = bool(m["enabled"])
    return Rule(**m)


def _check_rule(conn: Connection, fields: RuleFields) -> None:
    """The meter and the channels must belong to the rule's site."""
    if fields.device_id is not None:
        try:
            device = get_device(conn, fields.device_id)
        except NotFound as exc:
            raise ValueError(f"device_id: no meter with id {fields.device_id}") from exc
        if device.site_id != fields.site_id:
            raise ValueError(f"device_id: meter {fields.device_id} is not on site {fields.site_id}")
    if fields.channel_ids:
        found = conn.execute(
            select(alert_channels.c.id)
            .where(alert_channels.c.id.in_(fields.channel_ids))
            .where(alert_channels.c.site_id == fields.site_id)
        ).scalars()
        missing = sorted(set(fields.channel_ids) - set(found))
        if missing:
            raise ValueError(f"channel_ids: {missing[0]} is not an alert channel of site {fields.site_id}")


def _rule_values(fields: RuleFields) -> dict[str, Any]:
    values = asdict(fields)
    values["params"] = json.dumps(fields.params)
    values["channel_ids"] = json.dumps(sorted(set(fields.channel_ids)))
    return values


def add_rule(conn: Connection, fields: RuleFields, *, by: str) -> Rule:
    _check_rule(conn, fields)
    now = now_ms()
    result = conn.execute(
        insert(alert_rules).values(**_rule_values(fields), created_by=by[:100], created_ms=now, updated_ms=now)
    )
    assert result.inserted_primary_key is not None
    return get_rule(conn, int(result.inserted_primary_key[0]))


def update_rule(conn: Connection, rule_id: int, fields: RuleFields) -> tuple[Rule, list[Alert]]:
    """Replace what a person set; the rule, and the alerts this resolved (to announce them).

    The rule's active alerts stay as they are, unless it no longer watches them — switched
    off, another kind, moved to another meter: nothing would resolve them then, so they are
    resolved now."""
    before = get_rule(conn, rule_id)
    _check_rule(conn, fields)
    conn.execute(
        update(alert_rules).where(alert_rules.c.id == rule_id).values(**_rule_values(fields), updated_ms=now_ms())
    )
    resolved: list[int] = []
    if before.enabled and not fields.enabled:
        resolved = _resolve_all(conn, rule_id, BY_RULE_DISABLED)
    elif before.kind != fields.kind:
        resolved = _resolve_all(conn, rule_id, BY_RULE_CHANGED)
    elif fields.device_id is not None and fields.device_id != before.device_id:
        resolved = _resolve_all(conn, rule_id, BY_RULE_CHANGED, but_on=fields.device_id)
    return get_rule(conn, rule_id), get_alerts(conn, resolved)


def set_params(conn: Connection, rule_id: int, params: dict[str, Any]) -> None:
    """Change only the kind's settings (an appliance rule following its appliance's new name)."""
    conn.execute(
        update(alert_rules).where(alert_rules.c.id == rule_id).values(params=json.dumps(params), updated_ms=now_ms())
    )


def get_rule(conn: Connection, rule_id: int) -> Rule:
    row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).first()
    if row is None:
        raise NotFound(f"no alert rule with id {rule_id}")
    return _rule(row)


def list_rules(conn: Connection, site_ids: frozenset[int] | None = None, *, enabled_only: bool = False) -> list[Rule]:
    query = select(alert_rules).order_by(alert_rules.c.id)
    if site_ids is not None:
        query = query.where(alert_rules.c.site_id.in_(sorted(site_ids)))
    if enabled_only:
        query = query.where(alert_rules.c.enabled.is_(True))
    return [_rule(r) for r in conn.execute(query)]


def delete_rule(conn: Connection, rule_id: int) -> list[Alert]:
    """Remove the rule; its alerts stay (with no rule), active ones resolved (returned)."""
    get_rule(conn, rule_id)
    resolved = _resolve_all(conn, rule_id, BY_RULE_DELETED)
    conn.execute(update(alerts).where(alerts.c.rule_id == rule_id).values(rule_id=None))
    conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))
    return get_alerts(conn, resolved)


def _resolve_all(conn: Connection, rule_id: int, by: str, *, but_on: int | None = None) -> list[int]:
    """Resolve the rule's active alerts (all, or all but those on meter ``but_on``); their ids."""
    now = now_ms()
    which = and_(alerts.c.rule_id == rule_id, alerts.c.status.in_(ACTIVE))
    if but_on is not None:
        which = and_(which, or_(alerts.c.device_id.is_(None), alerts.c.device_id != but_on))
    ids = list(conn.execute(select(alerts.c.id).where(which)).scalars())
    if ids:
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(ids))
            .values(status=RESOLVED, ended_ts=now, resolved_by=by, resolved_ms=now, updated_ms=now)
        )
    return ids


# ---------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule_id: int | None
    site_id: int
    device_id: int | None
    kind: str
    status: str
    started_ts: int
    ended_ts: int | None
    value: float | None
    message: str
    finding_id: int | None
    command_id: int | None
    repeat_count: int
    quiet: str | None
    last_notified_ms: int | None
    acknowledged_by: str | None
    acknowledged_ms: int | None
    confirmed_by: str | None
    confirmed_ms: int | None
    ignored_by: str | None
    ignored_ms: int | None
    resolved_by: str | None
    resolved_ms: int | None
    created_ms: int
    updated_ms: int

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAlert:
    rule_id: int
    site_id: int
    device_id: int | None
    kind: str
    started_ts: int
    value: float | None
    message: str
    finding_id: int | None = None
    command_id: int | None = None
    quiet: str | None = None
    status: str = OPEN


def add_alert(conn: Connection, new: NewAlert) -> Alert:
    now = now_ms()
    values = asdict(new)
    values["message"] = new.message[:500]
    if new.status == IGNORED:  # stored already settled (it repeats a pattern a person ignored)
        values.update(ended_ts=new.started_ts, ignored_by=BY_RULE, ignored_ms=now)
    result = conn.execute(insert(alerts).values(**values, repeat_count=1, created_ms=now, updated_ms=now))
    assert result.inserted_primary_key is not None
    return get_alert(conn, int(result.inserted_primary_key[0]))


def get_alert(conn: Connection, alert_id: int) -> Alert:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    return Alert(**row._mapping)


def get_alerts(conn: Connection, ids: Sequence[int]) -> list[Alert]:
    if not ids:
        return []
    rows = conn.execute(select(alerts).where(alerts.c.id.in_(list(ids))).order_by(alerts.c.id))
    return [Alert(**r._mapping) for r in rows]


def _device_is(device_id: int | None) -> Any:
    return alerts.c.device_id.is_(None) if device_id is None else alerts.c.device_id == device_id


def active_alert(
    conn: Connection, rule_id: int, device_id: int | None, statuses: Sequence[str] = ACTIVE
) -> Alert | None:
    """The rule's open, acknowledged or confirmed alert on this meter (None: site-wide)."""
    row = conn.execute(
        select(alerts)
        .where(alerts.c.rule_id == rule_id, _device_is(device_id), alerts.c.status.in_(list(statuses)))
        .order_by(alerts.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Alert(**row._mapping)


def active_alerts(conn: Connection) -> list[Alert]:
    """Every active alert that has a rule (to rebuild the engine's state at start)."""
    rows = conn.execute(
        select(alerts).where(alerts.c.status.in_(ACTIVE), alerts.c.rule_id.is_not(None)).order_by(alerts.c.id)
    )
    return [Alert(**r._mapping) for r in rows]


def unsent_alerts(conn: Connection) -> list[Alert]:
    """Active alerts of a rule that were to notify (not quiet) and never went through the
    outbox (every pass marks ``last_notified_ms``, whatever the channels answered)."""
    rows = conn.execute(
        select(alerts)
        .where(
            alerts.c.status.in_(ACTIVE),
            alerts.c.rule_id.is_not(None),
            alerts.c.quiet.is_(None),
            alerts.c.last_notified_ms.is_(None),
        )
        .order_by(alerts.c.id)
    )
    return [Alert(**r._mapping) for r in rows]


def settled_by_people(conn: Connection) -> list[Alert]:
    """Each rule's latest alert per meter when a person resolved or ignored it (not the rule):
    its condition may still go on, and must clear before the rule raises a new alert, also
    after a restart."""
    latest = (
        select(func.max(alerts.c.id).label("id"))
        .where(alerts.c.rule_id.is_not(None))
        .group_by(alerts.c.rule_id, alerts.c.device_id)
        .subquery()
    )
    by_rule = (BY_RULE, BY_RULE_DISABLED, BY_RULE_DELETED, BY_RULE_CHANGED)
    rows = conn.execute(
        select(alerts)
        .join(latest, alerts.c.id == latest.c.id)
        .where(
            or_(
                and_(alerts.c.status == RESOLVED, alerts.c.resolved_by.not_in(by_rule)),
                and_(alerts.c.status == IGNORED, alerts.c.ignored_by != BY_RULE),
            )
        )
        .order_by(alerts.c.id)
    )
    return [Alert(**r._mapping) for r in rows]


def alert_for_finding(conn: Connection, rule_id: int, finding_id: int) -> Alert | None:
    row = conn.execute(
        select(alerts).where(alerts.c.rule_id == rule_id, alerts.c.finding_id == finding_id).limit(1)
    ).first()
    return None if row is None else Alert(**row._mapping)


def last_settled(conn: Connection, rule_id: int, device_id: int | None) -> int | None:
    """When the rule's latest settled alert on this meter was resolved or ignored (for the
    cooldown); alerts stored already ignored (a repeated pattern) do not count."""
    found = conn.execute(
        select(func.max(func.coalesce(alerts.c.resolved_ms, alerts.c.ignored_ms))).where(
            alerts.c.rule_id == rule_id,
            _device_is(device_id),
            alerts.c.status.in_((RESOLVED, IGNORED)),
            or_(alerts.c.quiet.is_(None), alerts.c.quiet != QUIET_PATTERN),
        )
    ).scalar()
    return None if found is None else int(found)


def repeat(conn: Connection, alert_id: int, value: float | None, *, worse: bool) -> Alert:
    """The rule triggered again while its alert is active: count it; keep the worse value."""
    values: dict[str, Any] = {"repeat_count": alerts.c.repeat_count + 1, "updated_ms": now_ms()}
    if worse and value is not None:
        values["value"] = value
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
    return get_alert(conn, alert_id)


def resolve(conn: Connection, alert_id: int, ended_ts: int, *, by: str = BY_RULE, at: int | None = None) -> Alert:
    """The alert's condition is over (its clear condition held at ``ended_ts``); ``at`` is
    when that was decided (default: now)."""
    now = now_ms() if at is None else at
    conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status.in_(ACTIVE))
        .values(status=RESOLVED, ended_ts=ended_ts, resolved_by=by[:100], resolved_ms=now, updated_ms=now)
    )
    return get_alert(conn, alert_id)


def take_action(conn: Connection, alert_id: int, action: str, *, by: str) -> Alert:
    """A person acknowledges, confirms, ignores or resolves; 409 (Conflict) from a status
    the action does not apply to."""
    if action not in ACTIONS:
        raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    status, allowed = ACTIONS[action]
    current = get_alert(conn, alert_id)
    if current.status not in allowed:
        raise Conflict(f"alert {alert_id} is {current.status}; '{action}' applies to {' or '.join(allowed)} alerts")
    now = now_ms()
    prefix = status  # acknowledged_by, confirmed_by, ignored_by, resolved_by
    values: dict[str, Any] = {"status": status, f"{prefix}_by": by[:100], f"{prefix}_ms": now, "updated_ms": now}
    if status in (IGNORED, RESOLVED):
        values["ended_ts"] = now
    conn.execute(update(alerts).where(alerts.c.id == alert_id, alerts.c.status.in_(allowed)).values(**values))
    return get_alert(conn, alert_id)


def mark_notified(conn: Connection, alert_id: int, ts: int) -> None:
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(last_notified_ms=ts))


def list_alerts(
    conn: Connection,
    *,
    site_ids: frozenset[int] | None = None,
    device_id: int | None = None,
    status: str | None = None,
    since: int | None = None,
    limit: int = 500,
) -> list[Alert]:
    """Alerts newest first; ``since``: still going at or started after that time."""
    query = select(alerts)
    if site_ids is not None:
        query = query.where(alerts.c.site_id.in_(sorted(site_ids)))
    if device_id is not None:
        query = query.where(alerts.c.device_id == device_id)
    if status is not None:
        query = query.where(alerts.c.status == status)
    if since is not None:
        query = query.where(or_(alerts.c.ended_ts.is_(None), alerts.c.ended_ts >= since, alerts.c.started_ts >= since))
    query = query.order_by(alerts.c.started_ts.desc(), alerts.c.id.desc()).limit(limit)
    return [Alert(**r._mapping) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How often one rule fired in a period; ``rule_id`` None: its rule was deleted since."""

    rule_id: int | None
    name: str
    kind: str
    alerts: int


def started_between(conn: Connection, site_id: int, since: int, until: int) -> tuple[dict[str, int], list[RuleCount]]:
    """The site's alerts that started in ``[since, until)``: how many per status now, and per
    rule (most first, then by rule name)."""
    where = and_(alerts.c.site_id == site_id, alerts.c.started_ts >= since, alerts.c.started_ts < until)
    by_status = conn.execute(select(alerts.c.status, func.count()).where(where).group_by(alerts.c.status))
    statuses = {str(s): int(n) for s, n in by_status}
    per_rule = conn.execute(
        select(alerts.c.rule_id, alert_rules.c.name, alerts.c.kind, func.count())
        .select_from(alerts.outerjoin(alert_rules, alert_rules.c.id == alerts.c.rule_id))
        .where(where)
        .group_by(alerts.c.rule_id, alert_rules.c.name, alerts.c.kind)
    )
    rules = [
        RuleCount(None if r is None else int(r), str(name or "(deleted rule)"), str(kind), int(n))
        for r, name, kind, n in per_rule
    ]
    return statuses, sorted(rules, key=lambda c: (-c.alerts, c.name, c.rule_id or 0))


# ---------------------------------------------------------------------------- deliveries


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    alert_id: int | None
    channel_id: int
    ok: bool
    error: str | None
    ts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def add_delivery(conn: Connection, alert_id: int | None, channel_id: int, ok: bool, error: str | None) -> None:
    """Record one attempt to send (alert_id None: a channel's test notice)."""
    conn.execute(
        insert(alert_deliveries).values(
            alert_id=alert_id, channel_id=channel_id, ok=ok, error=None if error is None else error[:500], ts=now_ms()
        )
    )


def deliveries(conn: Connection, *, alert_id: int | None = None, channel_id: int | None = None) -> list[DeliveryRow]:
    """Deliveries of an alert, or of a channel (newest 100), oldest first."""
    conditions = []
    if alert_id is not None:
        conditions.append(alert_deliveries.c.alert_id == alert_id)
    if channel_id is not None:
        conditions.append(alert_deliveries.c.channel_id == channel_id)
    rows = conn.execute(
        select(alert_deliveries).where(and_(*conditions)).order_by(alert_deliveries.c.id.desc()).limit(100)
    ).all()
    return [DeliveryRow(**{**r._mapping, "ok": bool(r.ok)}) for r in reversed(rows)]


def delivered(conn: Connection, alert_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per alert of ``alert_ids`` that any channel was tried for: (deliveries that went through,
    deliveries tried). An alert absent from the answer was told to no channel."""
    if not alert_ids:
        return {}
    ok = func.sum(case((alert_deliveries.c.ok, 1), else_=0))
    rows = conn.execute(
        select(alert_deliveries.c.alert_id, ok, func.count())
        .where(alert_deliveries.c.alert_id.in_(list(alert_ids)))
        .group_by(alert_deliveries.c.alert_id)
    ).all()
    return {int(r[0]): (int(r[1] or 0), int(r[2])) for r in rows}
