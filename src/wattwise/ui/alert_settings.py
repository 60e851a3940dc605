"""Rules & channels (``/alerts/settings``): what raises an alert on a site, and who is told how.

A site's owners (and administrators) add, switch off and delete rules and channels and send
a channel a test notice; members and viewers read them. Every change goes through
``alerts.edits``, the same calls as the REST routes, so the running engine reloads its rules
at once and a channel's secrets are validated, stored and never shown back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from wattwise.alerts import channels, rules
from wattwise.alerts import edits as alert_edits
from wattwise.alerts.outbox import Deliver, default_deliver, send_test
from wattwise.domain.readings import UNITS
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store.devices import Device, list_devices
from wattwise.store.errors import NotFound
from wattwise.store.sites import Site, list_sites
from wattwise.store.users import Access
from wattwise.ui import context
from wattwise.ui.frame import frame
from wattwise.ui.site_pages import in_thread

PATH = "/alerts/settings"
MINUTE_S = 60
KIND_WORDS = {
    "threshold": "A quantity past a level",
    "offline": "A meter goes silent",
    "budget": "The budget",
    "finding": "What the detectors find",
    "appliance": "An appliance",
}
DIRECTIONS = {"above": "above", "below": "below"}
FINDING_WORDS = {
    "anomaly": "unusual use",
    "theft": "possible theft",
    "balance_loss": "unaccounted energy",
    "grid": "grid events (sags, swells, interruptions, frequency, surges)",
}
#: The settings each channel kind asks for: (key, label, input kind, hint)
CHANNEL_FIELDS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "email": (
        ("host", "SMTP server", "text", "smtp.example.org"),
        ("port", "Port", "number", "587 for STARTTLS, 465 for SSL"),
        ("tls", "Security", "tls", ""),
        ("username", "User name", "text", ""),
        ("password", "Password", "password", ""),
        ("from", "From", "text", "wattwise@example.org"),
        ("to", "To (comma-separated)", "text", "me@example.org"),
    ),
    "webhook": (("url", "URL", "text", "http://homeassistant.local:8123/api/webhook/…"),),
    "ntfy": (
        ("server_url", "Server", "text", "https://ntfy.sh or your own"),
        ("topic", "Topic", "text", "wattwise-home"),
        ("token", "Access token (optional)", "password", ""),
    ),
    "telegram": (("bot_token", "Bot token", "password", "from @BotFather"), ("chat_id", "Chat id", "text", "")),
    "whatsapp": (
        ("phone", "Phone (with country code)", "text", "+91 98765 43210"),
        ("apikey", "CallMeBot API key", "password", "sent to you by CallMeBot"),
    ),
}


def register() -> None:
    ui.page(PATH, title="Rules & channels · Wattwise")(settings_page)


def _deliverer() -> Deliver:
    """The running alert engine's way of delivering (the one the notices use), else the channels'."""
    engine = getattr(context.mounted_app().state, "alerts", None)
    return engine.deliver if engine is not None else default_deliver


def load_site(services: Services, site_id: int) -> tuple[list[alert_store.Rule], list[alert_store.Channel]]:
    with services.engine.connect() as conn:
        only = frozenset({site_id})
        return alert_store.list_rules(conn, only), alert_store.list_channels(conn, only)


def visible(services: Services, access: Access) -> tuple[list[Site], list[Device]]:
    with services.engine.connect() as conn:
        return list_sites(conn, access.site_ids()), list_devices(conn, access.site_ids())


def rule_words(rule: alert_store.Rule) -> str:
    try:
        return rules.describe(rules.parse_params(rule.kind, rule.params))
    except ValueError as exc:  # stored before its kind's rules changed
        return f"settings no longer valid: {exc}"


def params_from(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the rule's ``params`` (minutes in the form, seconds in the rule)."""

    def minutes(key: str) -> float | None:
        value = values.get(key)
        return None if value in (None, "") else float(value) * MINUTE_S

    if kind == "threshold":
        params = {k: values.get(k) for k in ("quantity", "direction", "trigger", "clear", "for_s")}
        return {k: v for k, v in params.items() if v not in (None, "")}
    if kind == "offline":
        return {"after_s": minutes("after_min")}
    if kind == "budget":
        used = values.get("used_pct")
        return {"projected": bool(values.get("projected"))} | ({} if used in (None, "") else {"used_pct": used})
    if kind == "finding":
        return {"kinds": list(values.get("kinds") or [])}
    longer = minutes("on_longer_than_min")
    return {"label": str(values.get("label") or "")} | ({} if longer is None else {"on_longer_than_s": longer})


def fields_by_kind(kind: ui.select, draw: Callable[[str, dict[str, Any]], None]) -> dict[str, Any]:
    """Inputs that follow a kind chooser: ``draw(kind, inputs)`` fills them, again at each change."""
    column = ui.column().classes("w-full gap-1")
    inputs: dict[str, Any] = {}

    def show() -> None:
        column.clear()
        inputs.clear()
        with column:
            draw(str(kind.value), inputs)

    kind.on_value_change(lambda _: show())
    show()
    return inputs


async def settings_page(request: Request, site: int | None = None) -> RedirectResponse | None:
    services = context.services()
    access = await in_thread(context.signed_in, request)
    if access is None:
        return context.to_sign_in(request)
    sites, meters = await in_thread(visible, services, access)
    frame(access, "Rules & channels")
    chosen = next((s for s in sites if s.id == site), sites[0] if sites else None)
    with ui.column().classes("ww-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/alerts")).props(
                "flat round dense aria-label='Back to alerts'"
            )
            ui.label("Rules & channels" if chosen is None else f"Rules & channels · {chosen.name}").classes("text-h6")
            ui.space()
            if len(sites) > 1 and chosen is not None:
                ui.select(
                    {s.id: s.name for s in sites},
                    value=chosen.id,
                    label="Site",
                    on_change=lambda e: ui.navigate.to(f"{PATH}?site={e.value}"),
                ).props('dense outlined data-testid="site"').classes("min-w-200")
        if chosen is None:
            with ui.card().classes("w-full"):
                ui.label("No sites yet: create one under Sites & meters.")
            return None
        section = SettingsSection(services, access, chosen, [m for m in meters if m.site_id == chosen.id])
    await section.draw()
    return None


class SettingsSection:
    """The site's rules and channels, with the forms to add them (owners only)."""

    def __init__(self, services: Services, access: Access, site: Site, meters: list[Device]) -> None:
        self.services = services
        self.access = access
        self.site = site
        self.meters = meters
        self.may_manage = access.can_manage(site.id)
        self.body = ui.element("div").classes("ww-split")

    async def draw(self) -> None:
        site_rules, site_channels = await in_thread(load_site, self.services, self.site.id)
        names = {c.id: c.name for c in site_channels}
        self.body.clear()
        with self.body:
            with ui.column().classes("gap-3 min-w-0"):
                self.channels(site_channels)
            with ui.column().classes("gap-3 min-w-0"):
                self.rules(site_rules, names)

    # ---------------------------------------------------------------- channels

    def channels(self, found: list[alert_store.Channel]) -> None:
        with ui.card().classes("w-full gap-2").props('data-testid="channels"'):
            ui.label("Channels").classes("text-subtitle2")
            ui.label("Where notices go. The dashboard always shows every alert.").classes("ww-muted")
            if not found:
                ui.label("No channels yet.").classes("ww-muted")
            for channel in found:
                with (
                    ui.row().classes("w-full items-center gap-2 no-wrap ww-rule").props(f'data-channel="{channel.id}"')
                ):
                    ui.label(channel.name).classes("font-semibold")
                    ui.label(f"{channels.LABELS.get(channel.kind, channel.kind)} · {self._endpoint(channel)}").classes(
                        "ww-muted min-w-0"
                    )
                    ui.space()
                    if self.may_manage:
                        ui.button("Test", icon="send", on_click=lambda _, c=channel: self.test(c)).props(
                            "flat dense no-caps"
                        ).mark(f"test-{channel.id}")
                        ui.button(icon="delete", on_click=lambda _, c=channel: self.delete_channel(c)).props(
                            "flat dense round aria-label='Delete channel'"
                        ).mark(f"delete-channel-{channel.id}")
                if self.may_manage:
                    self.channel_form(channel)
            if self.may_manage:
                self.channel_form()

    @staticmethod
    def _endpoint(channel: alert_store.Channel) -> str:
        try:
            return channels.endpoint(channel.kind, channels.validate_config(channel.kind, channel.config))
        except (KeyError, ValueError):
            return "settings no longer valid"

    def channel_form(self, channel: alert_store.Channel | None = None) -> None:
        """The form that adds a channel, or changes ``channel``: its settings filled in as REST
        shows them to this user; a secret left masked keeps the stored one while the channel
        goes to the same server and stays of its kind (``alerts.edits.kept_secrets``)."""
        mark = "channel" if channel is None else f"channel-{channel.id}"
        shown = {} if channel is None else channels.shown(channel.kind, channel.config, admin=self.access.user.is_admin)
        title, icon = ("Add a channel", "add") if channel is None else (f"Change {channel.name}", "edit")
        with (
            ui.expansion(title, icon=icon)
            .classes("w-full ww-form")
            .props("dense")
            .mark(f"{'add' if channel is None else 'edit'}-{mark}")
        ):
            name = ui.input("Name", value=channel.name if channel else "", placeholder="Warden's phone")
            name.props("dense outlined maxlength=100").mark(f"{mark}-name")
            kinds = {k: channels.LABELS[k] for k in channels.CHANNEL_KINDS}
            kind = ui.select(kinds, value=channel.kind if channel else "email", label="Kind")
            kind.props("dense outlined").mark(f"{mark}-kind")

            def fields(chosen: str, inputs: dict[str, Any]) -> None:
                self._channel_fields(chosen, inputs, mark, shown if channel and chosen == channel.kind else {})

            inputs = fields_by_kind(kind, fields)

            async def save() -> None:
                config = {k: v.value for k, v in inputs.items() if v.value not in (None, "")}
                if "port" in config:
                    config["port"] = int(config["port"])
                if channel is not None and kind.value == channel.kind:  # what the form has no field for
                    config = {k: v for k, v in shown.items() if k not in inputs and v is not None} | config
                title = str(name.value or "").strip()
                change = alert_edits.save_channel(
                    self.services,
                    self.site.id,
                    title,
                    str(kind.value),
                    config,
                    channel_id=None if channel is None else channel.id,
                )
                await self._settle(change, f"Channel {title} {'added' if channel is None else 'saved'}: send it a test")

            label = "Add channel" if channel is None else "Save channel"
            ui.button(label, icon="save" if channel else "add", on_click=save).props("unelevated no-caps").mark(
                f"save-{mark}"
            )

    @staticmethod
    def _channel_fields(kind: str, inputs: dict[str, Any], mark: str, values: dict[str, Any]) -> None:
        """The kind's inputs, filled with ``values`` (a list of addresses as one line)."""
        for key, label, how, hint in CHANNEL_FIELDS[kind]:
            value = values.get(key)
            text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value or "")
            if how == "tls":
                inputs[key] = ui.select(
                    {"starttls": "STARTTLS", "ssl": "SSL/TLS", "none": "None (local relay)"},
                    value=text or "starttls",
                    label=label,
                ).props("dense outlined")
            elif how == "number":
                inputs[key] = ui.number(label, value=value, placeholder=hint, format="%d").props("dense outlined")
            else:
                field = ui.input(label, value=text, placeholder=hint, password=how == "password")
                inputs[key] = field.props("dense outlined")
            inputs[key].mark(f"{mark}-{key}")

    async def test(self, channel: alert_store.Channel) -> None:
        result = await in_thread(send_test, self.services, _deliverer(), channel)
        if result.ok:
            ui.notify(f"Test notice sent through {channel.name}", type="positive")
        else:
            ui.notify(f"{channel.name} failed: {result.error}", type="negative", multi_line=True)

    async def delete_channel(self, channel: alert_store.Channel) -> None:
        await self._settle(alert_edits.delete_channel(self.services, channel.id), f"Channel {channel.name} deleted")

    # ---------------------------------------------------------------- rules

    def rules(self, found: list[alert_store.Rule], channel_names: dict[int, str]) -> None:
        meters = {m.id: m.name for m in self.meters}
        with ui.card().classes("w-full gap-2").props('data-testid="rules"'):
            ui.label("Rules").classes("text-subtitle2")
            if not found:
                ui.label("No rules yet: add one below, e.g. power above 3 kW for 30 s.").classes("ww-muted")
            for rule in found:
                with ui.column().classes("w-full gap-0 ww-rule q-py-xs").props(f'data-rule="{rule.id}"'):
                    with ui.row().classes("w-full items-center gap-2 no-wrap"):
                        ui.label(rule.name).classes("font-semibold")
                        if rule.relay_off:
                            ui.badge("cuts the relay", color="deep-orange")
                        ui.space()
                        toggle = ui.switch(value=rule.enabled).props("dense").mark(f"enabled-{rule.id}")
                        toggle.set_enabled(self.may_manage)
                        toggle.on_value_change(lambda e, r=rule: self.enable(r, bool(e.value)))
                        if self.may_manage:
                            ui.button(icon="delete", on_click=lambda _, r=rule: self.delete_rule(r)).props(
                                "flat dense round aria-label='Delete rule'"
                            ).mark(f"delete-rule-{rule.id}")
                    if rule.kind == "budget":  # the bill is the site's, not a meter's
                        where = "the whole site"
                    else:
                        where = "every meter" if rule.device_id is None else meters.get(rule.device_id, "a meter")
                    told = ", ".join(channel_names.get(i, "?") for i in rule.channel_ids) or "the dashboard only"
                    ui.label(rule_words(rule)).mark(f"rule-words-{rule.id}")
                    quiet = rules.duration(rule.cooldown_s)
                    ui.label(f"On {where} · tells {told} · quiet for {quiet} after an alert").classes("ww-muted")
            if self.may_manage:
                self.rule_form(channel_names)
            else:
                ui.label("Only the site's owners change its rules.").classes("ww-muted")

    def rule_form(self, channel_names: dict[int, str]) -> None:
        with ui.expansion("Add a rule", icon="add").classes("w-full ww-form").props("dense").mark("add-rule"):
            name = (
                ui.input("Name", placeholder="Heater left on").props("dense outlined maxlength=100").mark("rule-name")
            )
            kind = ui.select(KIND_WORDS, value="threshold", label="When").props("dense outlined").mark("rule-kind")
            meter = ui.select({0: "Every meter"} | {m.id: m.name for m in self.meters}, value=0, label="Meter").props(
                "dense outlined"
            )
            meter.mark("rule-meter")
            kind.on_value_change(lambda e: meter.set_visibility(e.value != "budget"))
            inputs = fields_by_kind(kind, self._rule_fields)
            told = ui.select(channel_names, multiple=True, value=[], label="Tell (channels)").props(
                "dense outlined use-chips"
            )
            told.mark("rule-channels")
            cooldown = ui.number("Quiet after an alert (min)", value=10, min=0, format="%g").props("dense outlined")
            cooldown.mark("rule-cooldown")
            relay = ui.checkbox("Switch the meter's relay off when it fires (overload)").mark("rule-relay")

            async def save() -> None:
                values = {k: v.value for k, v in inputs.items()}
                fields_ = alert_store.RuleFields(
                    site_id=self.site.id,
                    device_id=None if kind.value == "budget" or not meter.value else int(meter.value),
                    name=str(name.value or "").strip() or KIND_WORDS[str(kind.value)],
                    kind=str(kind.value),
                    params=params_from(str(kind.value), values),
                    channel_ids=[int(i) for i in told.value or []],
                    cooldown_s=int(float(cooldown.value or 0) * MINUTE_S),
                    relay_off=bool(relay.value),
                )
                await self._settle(
                    alert_edits.save_rule(self.services, fields_, by=self.access.user.username),
                    f"Rule {fields_.name} added",
                )

            ui.button("Add rule", icon="add", on_click=save).props("unelevated no-caps").mark("save-rule")

    @staticmethod
    def _rule_fields(kind: str, inputs: dict[str, Any]) -> None:
        def number(key: str, label: str, value: float | None = None) -> None:
            inputs[key] = ui.number(label, value=value, format="%g").props("dense outlined").mark(f"rule-{key}")

        if kind == "threshold":
            quantity = ui.select(rules.NAMES, value="power", label="Quantity").props("dense outlined")
            inputs["quantity"] = quantity
            inputs["direction"] = ui.select(DIRECTIONS, value="above", label="Direction").props("dense outlined")
            number("trigger", "Level")
            number("clear", "Clears at (optional)")
            inputs["clear"].props('hint="a little on the safe side stops it flapping"')
            number("for_s", "For at least (s)", 0)

            def unit() -> None:
                """The level and the clear level name the chosen quantity's unit (none for power factor)."""
                shown = UNITS.get(str(quantity.value), "")
                for key, label in (("trigger", "Level"), ("clear", "Clears at")):
                    words = ", ".join(w for w in (shown, "optional" if key == "clear" else "") if w)
                    inputs[key].props(f'label="{label} ({words})"' if words else f'label="{label}"')

            quantity.on_value_change(lambda _: unit())
            unit()
        elif kind == "offline":
            number("after_min", "Silent for (min)", 10)
        elif kind == "budget":
            number("used_pct", "Budget used (%)", 80)
            inputs["projected"] = ui.checkbox("Or projected to end the cycle above the budget", value=True)
        elif kind == "finding":
            inputs["kinds"] = ui.select(FINDING_WORDS, multiple=True, value=["anomaly"], label="Findings").props(
                "dense outlined use-chips"
            )
        else:
            inputs["label"] = ui.input("Appliance (its name on the Appliances page)").props("dense outlined")
            number("on_longer_than_min", "Only when still on after (min, optional)")
        for key, element in inputs.items():
            element.mark(f"rule-{key}")

    async def enable(self, rule: alert_store.Rule, enabled: bool) -> None:
        fields_ = alert_store.RuleFields(
            **{k: getattr(rule, k) for k in alert_store.RuleFields.__dataclass_fields__ if k != "enabled"},
            enabled=enabled,
        )
        words = "switched on" if enabled else "switched off (its active alerts are resolved)"
        await self._settle(
            alert_edits.save_rule(self.services, fields_, by=self.access.user.username, rule_id=rule.id),
            f"{rule.name} {words}",
        )

    async def delete_rule(self, rule: alert_store.Rule) -> None:
        await self._settle(alert_edits.delete_rule(self.services, rule.id), f"Rule {rule.name} deleted")

    async def _settle(self, change: Any, done: str) -> None:
        """Await a change; say plainly what went wrong, or what was done, and redraw."""
        try:
            await change
        except (ValueError, NotFound) as exc:
            ui.notify(f"Not saved: {exc}", type="negative", multi_line=True)
            return
        ui.notify(done, type="positive")
        await self.draw()
