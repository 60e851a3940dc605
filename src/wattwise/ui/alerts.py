"""The Alerts page: what the site's rules raised, newest first, with what people do about it.

Each alert reads in plain words (its message), says where and since when, how often it came
back while open, and whether its notice went out (or why not: a cooldown, an ignored
pattern). Owners and members acknowledge, confirm, ignore or resolve it through the same
call as ``POST /api/v1/alerts/{id}/{action}`` — on an alert raised from a finding, ignore and
confirm also teach the detectors. Viewers look. New alerts and changes (bus topic "alerts")
redraw the page. The rules and channels are set on ``/alerts/settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from sqlalchemy import Connection

from wattwise.alerts import edits as alert_edits
from wattwise.alerts.engine import ALERTS_TOPIC
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store.devices import Device, list_devices
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site, list_sites
from wattwise.store.users import Access
from wattwise.ui import context, fmt
from wattwise.ui.findings import lasted
from wattwise.ui.frame import frame
from wattwise.ui.live_feed import redraw_on
from wattwise.ui.site_pages import in_thread

PATH = "/alerts"
SHOWN = 300
VIEWS = {"active": "Active", "all": "All", "resolved": "Resolved", "ignored": "Ignored"}
ICONS = {
    "threshold": "speed",
    "offline": "wifi_off",
    "budget": "savings",
    "finding": "report",
    "appliance": "power",
}
STATUS_WORDS = {
    "open": ("Open", "negative"),
    "acknowledged": ("Acknowledged", "warning"),
    "confirmed": ("Confirmed", "deep-orange"),
    "ignored": ("Ignored", "grey"),
    "resolved": ("Resolved", "positive"),
}
#: What a person may do from each status (the store refuses anything else with a Conflict).
ACTIONS = {
    "open": ("acknowledge", "confirm", "ignore", "resolve"),
    "acknowledged": ("confirm", "ignore", "resolve"),
    "confirmed": ("resolve",),
}
ACTION_WORDS = {
    "acknowledge": ("Acknowledge", "I am on it"),
    "confirm": ("Confirm", "A real problem (on a finding: keep raising this pattern)"),
    "ignore": ("Ignore", "Not a problem (on a finding: stop raising this pattern)"),
    "resolve": ("Resolve", "It is over"),
}


def register() -> None:
    ui.page(PATH, title="Alerts · Wattwise")(alerts_page)


@dataclass(frozen=True)
class Place:
    """The sites and meters a user may see: where an alert happened, in the site's time zone."""

    sites: dict[int, Site]
    meters: dict[int, Device]

    def where(self, alert: alert_store.Alert) -> str:
        site = self.sites.get(alert.site_id)
        meter = self.meters.get(alert.device_id) if alert.device_id is not None else None
        if meter is not None:
            return f"{meter.site_name} › {meter.name}"
        return site.name if site else ""

    def zone(self, site_id: int) -> str:
        site = self.sites.get(site_id)
        return site.timezone if site else "UTC"


def load_place(services: Services, access: Access) -> Place:
    with services.engine.connect() as conn:
        sites = {s.id: s for s in list_sites(conn, access.site_ids())}
        meters = {d.id: d for d in list_devices(conn, access.site_ids())}
    return Place(sites, meters)


@dataclass(frozen=True)
class Shown:
    """The alerts a view shows, and per alert what its channels answered (see ``notice_words``)."""

    alerts: list[alert_store.Alert]
    delivered: dict[int, tuple[int, int]]


def load_alerts(services: Services, site_ids: frozenset[int], view: str, only: int | None = None) -> Shown:
    """The view's alerts of ``site_ids``; with ``only``, that one alert if it is of those sites."""
    with services.engine.connect() as conn:
        found = _alerts_of(conn, site_ids, view, only)
        return Shown(found, alert_store.delivered(conn, [a.id for a in found]))


def _alerts_of(conn: Connection, site_ids: frozenset[int], view: str, only: int | None) -> list[alert_store.Alert]:
    if only is not None:
        try:
            one = alert_store.get_alert(conn, only)
        except NotFound:
            return []
        return [one] if one.site_id in site_ids else []
    if view in ("resolved", "ignored"):
        return alert_store.list_alerts(conn, site_ids=site_ids, status=view, limit=SHOWN)
    found = alert_store.list_alerts(conn, site_ids=site_ids, limit=SHOWN)
    return found if view == "all" else [a for a in found if a.status in alert_store.ACTIVE]


def notice_words(alert: alert_store.Alert, delivered: tuple[int, int] | None) -> str:
    """Whether people were told, and if not, why. ``delivered``: (went through, tried) over the
    alert's channels; None when no channel was tried (a rule that tells the dashboard only)."""
    if alert.quiet == alert_store.QUIET_COOLDOWN:
        return "not sent: the rule is cooling down after its last alert"
    if alert.quiet == alert_store.QUIET_PATTERN:
        return "not sent: you ignored this pattern before"
    if alert.last_notified_ms is None or delivered is None:
        return "dashboard only"
    ok, tried = delivered
    if ok == 0:
        return "notice not delivered: Test its channel under Rules & channels"
    return "notice sent" if ok == tried else f"notice sent on {ok} of {tried} channels"


async def alerts_page(
    request: Request, site: int | None = None, view: str = "active", alert: int | None = None
) -> RedirectResponse | None:
    """``?alert=`` (the link in a notice) shows that one alert, whatever its status."""
    services = context.services()
    access = await in_thread(context.signed_in, request)
    if access is None:
        return context.to_sign_in(request)
    place = await in_thread(load_place, services, access)
    frame(access, "Alerts")
    view = view if view in VIEWS else "active"
    chosen = place.sites.get(site) if site is not None else None
    with ui.column().classes("ww-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Alerts").classes("text-h6")
            ui.space()
            if alert is not None:
                ui.button("All alerts", icon="list", on_click=lambda: ui.navigate.to(PATH)).props("flat no-caps").mark(
                    "all-alerts"
                )
            ui.toggle(VIEWS, value=view, on_change=lambda e: ui.navigate.to(_url(chosen, str(e.value)))).props(
                'dense no-caps data-testid="view"'
            )
            if len(place.sites) > 1:
                ui.select(
                    {0: "All sites"} | {s.id: s.name for s in place.sites.values()},
                    value=chosen.id if chosen else 0,
                    label="Site",
                    on_change=lambda e: ui.navigate.to(_url(place.sites.get(int(e.value)), view)),
                ).props('dense outlined data-testid="site"').classes("min-w-200")
            ui.button("Rules & channels", icon="tune", on_click=lambda: ui.navigate.to("/alerts/settings")).props(
                "flat no-caps"
            ).mark("settings")
        section = AlertsSection(services, access, place, chosen, view, alert)
    await section.draw()
    shown = set(section.site_ids)
    redraw_on(services.bus, ALERTS_TOPIC, lambda a: a.get("site_id") in shown, section.draw)
    return None


def _url(site: Site | None, view: str) -> str:
    return f"{PATH}?view={view}" + (f"&site={site.id}" if site else "")


class AlertsSection:
    """The list below the heading; redrawn after an action and when alerts land or change."""

    def __init__(
        self, services: Services, access: Access, place: Place, site: Site | None, view: str, only: int | None = None
    ) -> None:
        self.services = services
        self.access = access
        self.place = place
        self.view = view
        self.only = only
        self.site_ids = frozenset({site.id}) if site else frozenset(place.sites)
        self.body = ui.column().classes("w-full gap-2").props('data-testid="alerts"')

    async def draw(self) -> None:
        shown = await in_thread(load_alerts, self.services, self.site_ids, self.view, self.only)
        found = shown.alerts
        self.body.clear()
        with self.body:
            if not found and self.only is not None:
                with ui.card().classes("w-full gap-1"):
                    ui.label(f"No alert {self.only} to show.").classes("text-subtitle1")
                    ui.label("It is on a site you cannot see, or it no longer exists.").classes("ww-muted")
                return
            if not found:
                with ui.card().classes("w-full gap-1"):
                    ui.label("No alerts." if self.view != "active" else "Nothing needs you now.").classes(
                        "text-subtitle1"
                    )
                    ui.label(
                        "Alerts come from the rules under Rules & channels: over-power, voltage, offline meters, "
                        "the budget, what the detectors find, an appliance left on."
                    ).classes("ww-muted")
                return
            for alert in found:
                self.card(alert, shown.delivered.get(alert.id))

    def card(self, alert: alert_store.Alert, delivered: tuple[int, int] | None) -> None:
        words, color = STATUS_WORDS.get(alert.status, (alert.status, "grey"))
        with ui.card().classes("w-full gap-1").props(f'data-alert="{alert.id}"'):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon(ICONS.get(alert.kind, "notifications")).classes("text-lg")
                ui.label(alert.message).classes("font-semibold min-w-0").mark(f"message-{alert.id}")
                ui.space()
                if alert.repeat_count > 1:
                    ui.badge(f"×{alert.repeat_count}", color="grey").tooltip("came back this often while open")
                ui.badge(words, color=color)
            zone = self.place.zone(alert.site_id)
            line = f"{self.place.where(alert)} · {fmt.local_time(alert.started_ts, zone)[:16]}"
            if alert.ended_ts is not None:
                line += f" · lasted {lasted(alert.started_ts, alert.ended_ts)}"
            line += f" · {notice_words(alert, delivered)}"
            ui.label(line).classes("ww-muted")  # wraps on a phone (ww-num would keep it on one line)
            who = [
                "resolved: its condition cleared" if by == alert_store.BY_RULE else f"{verb} by {by}"
                for verb, by in (
                    ("acknowledged", alert.acknowledged_by),
                    ("confirmed", alert.confirmed_by),
                    ("ignored", alert.ignored_by),
                    ("resolved", alert.resolved_by),
                )
                if by
            ]
            if who:
                ui.label(" · ".join(who)).classes("ww-muted")
            if self.access.can_operate(alert.site_id):
                with ui.row().classes("gap-2"):
                    for action in ACTIONS.get(alert.status, ()):
                        label, tip = ACTION_WORDS[action]
                        ui.button(label, on_click=lambda _, a=action: self.act(alert.id, a)).props(
                            "outline dense no-caps size=sm"
                        ).mark(f"{action}-{alert.id}").tooltip(tip)

    async def act(self, alert_id: int, action: str) -> None:
        try:
            await alert_edits.act(self.services, alert_id, action, by=self.access.user.username)
        except (Conflict, NotFound, ValueError) as exc:
            ui.notify(f"Could not {action}: {exc}", type="negative")
        await self.draw()
