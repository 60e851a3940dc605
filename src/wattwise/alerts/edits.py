"""A person's change to alerts — an action on an alert, a rule or a channel saved or removed —
written through the writer and then announced, the same way from REST and from the dashboard.

The engine keeps rules in memory, so every rule change is announced on "alert_rules" and it
reloads them; an action on an alert raised from a finding also judges the finding (Ignore /
Raise), so the detectors learn from it exactly as from the Findings page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wattwise.alerts import channels, rules
from wattwise.alerts.engine import ALERTS_TOPIC, RULES_TOPIC
from wattwise.detectors import edits as detector_edits
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store


async def act(services: Services, alert_id: int, action: str, *, by: str) -> alert_store.Alert:
    """Acknowledge, confirm, ignore or resolve; Conflict when the alert's status does not allow it."""
    changed = await services.writer.submit(lambda c: alert_store.take_action(c, alert_id, action, by=by))
    if changed.finding_id is not None and action in ("ignore", "confirm"):
        verdict = "ignore" if action == "ignore" else "raise"
        await detector_edits.judge_finding(services, changed.finding_id, verdict, by=by)
    services.bus.publish(ALERTS_TOPIC, [changed.to_dict()])
    return changed


#: the longest quiet time after an alert a rule may have
MAX_COOLDOWN_S = 30 * 86_400


def check_rule(fields: alert_store.RuleFields) -> None:
    """ValueError naming what is wrong with a rule's settings (``params.clear: ...``)."""
    if not fields.name.strip():
        raise ValueError("name: must not be blank (it is the notice's title)")
    if not 0 <= fields.cooldown_s <= MAX_COOLDOWN_S:
        raise ValueError(f"cooldown_s: must be from 0 to {MAX_COOLDOWN_S} s (30 days), got {fields.cooldown_s}")
    parsed = rules.parse_params(fields.kind, fields.params)
    if fields.relay_off and not rules.may_cut_relay(parsed):
        raise ValueError("relay_off: only a rule on power or current 'above' a level may switch the relay off")
    if fields.kind == "budget" and fields.device_id is not None:
        raise ValueError("device_id: a budget rule is the whole site's; leave it out")


async def save_rule(
    services: Services, fields: alert_store.RuleFields, *, by: str, rule_id: int | None = None
) -> alert_store.Rule:
    """Add a rule (``rule_id`` None) or replace one's settings; the engine reloads its rules.
    ValueError naming a bad setting."""
    check_rule(fields)
    fields = replace(fields, name=fields.name.strip())
    resolved: list[alert_store.Alert] = []
    if rule_id is None:
        saved = await services.writer.submit(lambda c: alert_store.add_rule(c, fields, by=by))
    else:
        saved, resolved = await services.writer.submit(lambda c: alert_store.update_rule(c, rule_id, fields))
    services.bus.publish(RULES_TOPIC, {"id": saved.id})
    _announce(services, resolved)
    return saved


async def delete_rule(services: Services, rule_id: int) -> None:
    """Its alerts stay (without a rule); active ones are resolved."""
    resolved = await services.writer.submit(lambda c: alert_store.delete_rule(c, rule_id))
    services.bus.publish(RULES_TOPIC, {"id": rule_id})
    _announce(services, resolved)


def _announce(services: Services, changed: list[alert_store.Alert]) -> None:
    """Alerts a rule's change settled, told as the engine tells its own (live views redraw)."""
    if changed:
        services.bus.publish(ALERTS_TOPIC, [a.to_dict() for a in changed])


def kept_secrets(kind: str, config: dict[str, Any], stored: alert_store.Channel | None) -> dict[str, Any]:
    """Settings sent back as shown (a secret still masked) keep the stored secret.

    A form or a client edits what REST showed it; a password it never saw comes back as
    the mask and must not become the password. A secret is kept only while the channel
    still goes to the same server: whoever may edit a channel must not be able to read
    its secrets off a server of their own; nor while it becomes another kind, whose settings
    are not the stored ones. ValueError naming a secret to type again.
    """
    if stored is None or stored.kind != kind:
        masked = channels.masked_fields(kind, config)
        if masked:
            why = f"{channels.MASK} keeps a stored secret, and a new channel has none"
            if stored is not None:
                was = channels.LABELS.get(stored.kind, stored.kind)
                why = f"the channel was {was}, and {channels.MASK} keeps a secret only while its kind stays"
            raise ValueError(f"{kind}.{masked[0]}: type its real value: {why}")
        return config
    moved = channels.destination(kind, config) != channels.destination(kind, stored.config)

    def kept(field: str, old: Any) -> Any:
        if moved:
            raise ValueError(f"{kind}.{field}: type it again: the channel now goes to another server")
        return old

    merged = dict(config)
    for name, value in config.items():
        if value == channels.MASK and name in stored.config:
            merged[name] = kept(name, stored.config[name])
    if kind == "webhook":
        if isinstance(config.get("url"), str) and channels.MASK in config["url"]:
            merged["url"] = kept("url", stored.config.get("url", config["url"]))
        headers = config.get("headers")
        if isinstance(headers, dict):
            old = stored.config.get("headers") or {}
            merged["headers"] = {
                k: kept(f"headers.{k}", old[k]) if v == channels.MASK and k in old else v for k, v in headers.items()
            }
    return merged


async def save_channel(
    services: Services, site_id: int, name: str, kind: str, config: dict[str, Any], *, channel_id: int | None = None
) -> alert_store.Channel:
    """Add or change a channel; ValueError naming each bad setting (``email.to: ...``)."""
    name = name.strip()
    if not name:
        raise ValueError("name: must not be blank")
    stored = None
    if channel_id is not None:
        stored = await services.writer.submit(lambda c: alert_store.get_channel(c, channel_id))
    checked = channels.validate_config(kind, kept_secrets(kind, config, stored))
    if channel_id is None:
        return await services.writer.submit(lambda c: alert_store.add_channel(c, site_id, name, kind, checked))
    return await services.writer.submit(lambda c: alert_store.update_channel(c, channel_id, name, kind, checked))


async def delete_channel(services: Services, channel_id: int) -> None:
    """Rules that sent to it stop doing so; its deliveries stay on record."""
    await services.writer.submit(lambda c: alert_store.delete_channel(c, channel_id))
    services.bus.publish(RULES_TOPIC, {"channel_id": channel_id})
