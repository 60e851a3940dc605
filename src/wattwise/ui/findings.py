"""The Findings page: what the live detectors noticed on the user's meters, in plain words,
with Ignore / Raise on each.

A finding is an unusual reading (anomaly), a grid event (sag, swell, interruption,
frequency, a surge or a dip), energy the sub-meters do not account for (balance loss) or a
day that looks like theft. The verdict goes through the same call as
``POST /api/v1/findings/{id}/feedback``: an ignored pattern is not raised again on that
meter, a raised one keeps being raised, and the detectors learn from both. New findings
(bus topic "findings") redraw the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from wattwise.alerts import rules
from wattwise.detectors import edits
from wattwise.runtime import Services
from wattwise.store import findings as finding_store
from wattwise.store.devices import Device, list_devices
from wattwise.store.errors import NotFound
from wattwise.store.sites import list_sites
from wattwise.store.users import Access
from wattwise.ui import context, fmt
from wattwise.ui.frame import frame
from wattwise.ui.live_feed import of_meters, redraw_on
from wattwise.ui.site_pages import in_thread

log = logging.getLogger(__name__)
PATH = "/findings"
SHOWN = 200
#: What each kind is called on screen, and its icon.
KINDS = {
    "anomaly": ("Unusual use", "insights"),
    "sag": ("Voltage sag", "trending_down"),
    "swell": ("Voltage swell", "trending_up"),
    "interruption": ("Supply interruption", "power_off"),
    "under_frequency": ("Low frequency", "speed"),
    "over_frequency": ("High frequency", "speed"),
    "grid_surge": ("Grid surge", "bolt"),
    "grid_dip": ("Grid dip", "south"),
    "balance_loss": ("Unaccounted energy", "call_split"),
    "theft": ("Possible theft", "gpp_maybe"),
}
STATUSES = {"open": "Waiting for you", "all": "All", "confirmed": "Raised", "ignored": "Ignored", "closed": "Closed"}
STATUS_COLORS = {"open": "negative", "confirmed": "warning", "ignored": "grey", "closed": "grey"}


def register() -> None:
    ui.page(PATH, title="Findings · Wattwise")(findings_page)


@dataclass(frozen=True)
class Place:
    """The meters a user may see, their names and their sites' time zones."""

    meters: list[Device]
    zones: dict[int, str]

    def meter(self, device_id: int) -> Device | None:
        return next((d for d in self.meters if d.id == device_id), None)


def load_place(services: Services, access: Access) -> Place:
    with services.engine.connect() as conn:
        zones = {s.id: s.timezone for s in list_sites(conn, access.site_ids())}
        return Place(list_devices(conn, access.site_ids()), zones)


def load_findings(services: Services, device_ids: list[int], status: str) -> list[finding_store.Finding]:
    with services.engine.connect() as conn:
        return finding_store.list_findings(
            conn, device_ids=device_ids, status=None if status == "all" else status, limit=SHOWN
        )


def any_finding(services: Services, device_ids: list[int]) -> bool:
    with services.engine.connect() as conn:
        return bool(finding_store.list_findings(conn, device_ids=device_ids, status=None, limit=1))


def lasted(start_ts: int, end_ts: int) -> str:
    """How long something went on, in the words the alert messages use ("20 min", "2 h 30 min")."""
    return rules.duration(max(0, end_ts - start_ts) / 1000)


async def findings_page(request: Request, meter: int | None = None, status: str = "open") -> RedirectResponse | None:
    services = context.services()
    access = await in_thread(context.signed_in, request)
    if access is None:
        return context.to_sign_in(request)
    place = await in_thread(load_place, services, access)
    frame(access, "Findings")
    status = status if status in STATUSES else "open"
    chosen = place.meter(meter) if meter is not None else None
    with ui.column().classes("ww-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Findings").classes("text-h6")
            ui.space()
            ui.toggle(
                STATUSES,
                value=status,
                on_change=lambda e: ui.navigate.to(_url(chosen, str(e.value))),
            ).props('dense no-caps data-testid="status"')
            if len(place.meters) > 1:
                ui.select(
                    {0: "All meters"} | {d.id: f"{d.site_name} › {d.name}" for d in place.meters},
                    value=chosen.id if chosen else 0,
                    label="Meter",
                    on_change=lambda e: ui.navigate.to(_url(place.meter(int(e.value)), status)),
                ).props('dense outlined data-testid="meter"').classes("min-w-200")
        ui.label(
            "What the detectors noticed. Ignore a finding that is normal for you: the same pattern is "
            "not raised again on that meter. Raise one that is a real problem: it keeps being raised."
        ).classes("ww-muted")
        section = FindingsSection(services, access, place, chosen, status)
    await section.draw()
    section.follow()
    return None


def _url(meter: Device | None, status: str) -> str:
    return f"{PATH}?status={status}" + (f"&meter={meter.id}" if meter else "")


class FindingsSection:
    """The list below the heading; redrawn after a verdict and when new findings land."""

    def __init__(self, services: Services, access: Access, place: Place, meter: Device | None, status: str) -> None:
        self.services = services
        self.access = access
        self.place = place
        self.status = status
        self.device_ids = [meter.id] if meter else [d.id for d in place.meters]
        self.body = ui.column().classes("w-full gap-2").props('data-testid="findings"')

    async def nothing_waiting(self) -> str:
        """The empty "Waiting for you" list: all judged, or nothing noticed at all (not the same)."""
        any_at_all = await in_thread(any_finding, self.services, self.device_ids)
        if any_at_all:
            return "Nothing waiting for you: every finding so far is judged (see All)."
        return "Nothing waiting for you: the detectors have not noticed anything unusual."

    async def draw(self) -> None:
        found = await in_thread(load_findings, self.services, self.device_ids, self.status)
        self.body.clear()
        with self.body:
            if not self.place.meters:
                with ui.card().classes("w-full"):
                    ui.label("No meters yet: add one under Sites & meters.")
                return
            if not found:
                with ui.card().classes("w-full"):
                    ui.label(await self.nothing_waiting() if self.status == "open" else "No findings here.").classes(
                        "ww-muted"
                    )
                return
            for finding in found:
                self.card(finding)

    def card(self, finding: finding_store.Finding) -> None:
        device = self.place.meter(finding.device_id)
        zone = self.place.zones.get(device.site_id, "UTC") if device else "UTC"
        name, icon = KINDS.get(finding.kind, (finding.kind, "info"))
        with ui.card().classes("w-full gap-1").props(f'data-finding="{finding.id}"'):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon(icon).classes("text-lg")
                ui.label(name).classes("font-semibold")
                if device is not None:
                    ui.label(f"{device.site_name} › {device.name}").classes("ww-muted min-w-0")
                ui.space()
                ui.badge(STATUSES.get(finding.status, finding.status), color=STATUS_COLORS.get(finding.status, "grey"))
            ui.label(finding.reason).mark(f"reason-{finding.id}")
            if "closed" in finding.detail:  # its detector can no longer follow it: why
                ui.label(str(finding.detail["closed"])).classes("ww-muted")
            started = fmt.local_time(finding.start_ts, zone)[:16]
            line = f"{started} · {lasted(finding.start_ts, finding.end_ts)}"
            if finding.suppressed_by is not None:
                line += f" · not raised: you ignored the same pattern before (finding {finding.suppressed_by})"
            elif finding.verdict is not None:
                line += f" · {'ignored' if finding.verdict == 'ignore' else 'raised'} by {finding.verdict_by}"
            ui.label(line).classes("ww-muted ww-num")
            if device is not None and self.access.can_operate(device.site_id):
                with ui.row().classes("gap-2"):
                    for verdict, label, tip in (
                        ("ignore", "Ignore", "Normal for us: do not raise this pattern again"),
                        ("raise", "Raise", "A real problem: keep raising it"),
                    ):
                        if finding.verdict == verdict:
                            continue
                        ui.button(label, on_click=lambda _, v=verdict: self.judge(finding.id, v)).props(
                            "outline dense no-caps size=sm"
                        ).mark(f"{verdict}-{finding.id}").tooltip(tip)

    async def judge(self, finding_id: int, verdict: str) -> None:
        try:
            await edits.judge_finding(self.services, finding_id, verdict, by=self.access.user.username)
        except (NotFound, ValueError) as exc:
            ui.notify(f"Could not record that: {exc}", type="negative")
            return
        ui.notify(
            "Ignored: this pattern will not be raised again on this meter"
            if verdict == "ignore"
            else "Raised: this pattern keeps being raised",
            type="positive",
        )
        await self.draw()

    def follow(self) -> None:
        """Redraw when the detectors store findings of these meters (or a verdict lands)."""
        redraw_on(self.services.bus, "findings", of_meters(self.device_ids), self.draw, settle_s=0.5)
