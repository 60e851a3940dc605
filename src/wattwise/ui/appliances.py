"""The Appliances page (NILM) of a meter: ON/OFF events on its power chart, the queue of
unidentified events with one-click labelling, and each appliance's runs and energy
(provisional runs — a fridge running now, its chain decided hours later — counted in and
marked "so far, may still change").

Reads and edits go through the same store and library calls as the appliances REST routes;
a label is one writer transaction, then the live detector is told on the bus (topic
"appliances") so the next switching of that appliance is identified. New events the live
detector stores (bus topic "events") redraw the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from wattwise.analysis.nilm.signatures import UNIDENTIFIED
from wattwise.detectors import edits, library
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store.clock import now_ms
from wattwise.store.detections import StoredEvent, StoredRun, Window
from wattwise.store.devices import Device, list_devices
from wattwise.store.errors import NotFound
from wattwise.store.history import fresh_series
from wattwise.store.series import Series
from wattwise.store.sites import list_sites
from wattwise.store.users import Access
from wattwise.ui import context, fmt
from wattwise.ui.chart_options import history_options, wall_clock
from wattwise.ui.frame import frame
from wattwise.ui.live_feed import of_meters, redraw_on
from wattwise.ui.site_pages import in_thread, kwh

log = logging.getLogger(__name__)
PATH = "/appliances"
HOUR_MS = 3_600_000
RANGES = {"6 h": 6 * HOUR_MS, "24 h": 24 * HOUR_MS, "7 d": 7 * 24 * HOUR_MS}
QUEUE_LIMIT = 50
RUNS_SHOWN = 10
CHIPS = 8  # known appliances offered as one-click labels
ON_COLOR, OFF_COLOR = "#16a34a", "#dc2626"


def register() -> None:
    ui.page(PATH, title="Appliances · Wattwise")(appliances_page)


# -- what the page shows, loaded in a thread ---------------------------------------------------


@dataclass(frozen=True)
class ApplianceView:
    series: Series
    events: list[StoredEvent]  # in the chart's range
    queue: list[StoredEvent]  # unidentified, newest first
    alike: dict[int, list[int]]  # per queued event, the other unidentified events like it
    appliances: list[dict[str, Any]]  # as GET /devices/{id}/appliances
    runs: dict[str, list[StoredRun]]  # newest runs per appliance
    more_waiting: bool = False  # more unidentified events than the queue shows


def load_view(services: Services, device_id: int, start: int, end: int) -> ApplianceView:
    series = fresh_series(services.engine, services.writer, device_id, metric="power", start=start, end=end, points=600)
    with services.engine.connect() as conn:
        events = detections.list_events(conn, device_id, Window(since=start, until=end, limit=1000))
        waiting = detections.list_events(conn, device_id, Window(label=UNIDENTIFIED, limit=QUEUE_LIMIT + 1))
        queue = waiting[:QUEUE_LIMIT]
        alike = library.alike_among_waiting(conn, device_id, queue)
        apps = library.appliances(conn, device_id)
        runs = {
            a["name"]: detections.list_runs(conn, device_id, Window(label=a["name"], limit=RUNS_SHOWN)) for a in apps
        }
    return ApplianceView(series, events, queue, alike, apps, runs, more_waiting=len(waiting) > QUEUE_LIMIT)


def visible_meters(services: Services, access: Access) -> tuple[list[Device], dict[int, str]]:
    """The meters the user may see, and each site's time zone (times read in the site's zone)."""
    with services.engine.connect() as conn:
        zones = {s.id: s.timezone for s in list_sites(conn, access.site_ids())}
        return list_devices(conn, access.site_ids()), zones


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def event_words(e: StoredEvent) -> str:
    """``ON +1,200 W`` or ``OFF −1,180 W``."""
    sign = "+" if e.delta_p > 0 else "−"
    return f"{'ON' if e.delta_p > 0 else 'OFF'} {sign}{abs(e.delta_p):,.0f} W"


def chart_options(view: ApplianceView, extent: tuple[int, int], zone: ZoneInfo) -> dict[str, Any]:
    """The meter's power (mean over a min–max band) with each event as a marker: ▲ on, ▼ off."""
    options = history_options(view.series, extent, (0.0, 100.0), "W", zone)
    options["tooltip"] = {"trigger": "item"}
    for name, color, symbol, on in (("on", ON_COLOR, "triangle", True), ("off", OFF_COLOR, "pin", False)):
        options["series"].append(
            {
                "name": name,
                "type": "scatter",
                "symbol": symbol,
                "symbolSize": 11,
                "color": color,
                "data": [
                    {"value": [wall_clock(e.ts, zone), e.level_after], "name": f"{e.label}: {event_words(e)}"}
                    for e in view.events
                    if (e.delta_p > 0) == on
                ],
            }
        )
    return options


# -- the page ----------------------------------------------------------------------------------


async def appliances_page(request: Request, meter: int | None = None) -> RedirectResponse | None:
    services = context.services()
    access = await in_thread(context.signed_in, request)
    if access is None:
        return context.to_sign_in(request)
    meters, zones = await in_thread(visible_meters, services, access)
    frame(access, "Appliances")
    device = next((d for d in meters if d.id == meter), meters[0] if meters else None)
    with ui.column().classes("ww-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Appliances" if device is None else f"{device.site_name} › {device.name}").classes("text-h6")
            ui.space()
            if len(meters) > 1 and device is not None:
                ui.select(
                    {d.id: f"{d.site_name} › {d.name}" for d in meters},
                    value=device.id,
                    label="Meter",
                    on_change=lambda e: ui.navigate.to(f"{PATH}?meter={e.value}"),
                ).props('dense outlined data-testid="meter"').classes("min-w-200")
        if device is None:
            with ui.card().classes("w-full"):
                ui.label("No meters yet.").classes("text-subtitle1")
                ui.label("Appliances are found in a meter's power; add a meter under Sites & meters.")
            return None
        section = AppliancesSection(services, device, zones[device.site_id], access.can_operate(device.site_id))
    await section.draw()
    section.follow()
    return None


class AppliancesSection:
    """Everything below the heading for one meter; redrawn after a label and when events land."""

    def __init__(self, services: Services, device: Device, timezone: str, may_label: bool) -> None:
        self.services = services
        self.device = device
        self.may_label = may_label
        self.zone = timezone
        # off by default: on a whole house most look-alikes are other loads (docs/detectors.md)
        self.name_alike = False
        self.known: set[str] = set()  # the meter's appliance names, as last drawn
        self.span = RANGES["24 h"]
        with ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Power and events").classes("text-subtitle2")
                ui.space()
                ui.toggle(list(RANGES), value="24 h", on_change=self._on_range).props("dense no-caps")
            empty = Series("power", 0, 1, 1, "raw")
            self.chart = ui.echart(history_options(empty, (0, 1), (0, 100), "W", ZoneInfo(timezone)))
            self.chart.classes("w-full h-80").props('data-chart="appliance-events"')
            self.chart_note = ui.label().classes("ww-muted").mark("chart-note")
        self.body = ui.element("div").classes("ww-split")

    async def _on_range(self, event: Any) -> None:
        self.span = RANGES[str(event.value)]
        await self.draw()

    async def draw(self) -> None:
        end = now_ms()
        extent = (end - self.span, end)
        view = await in_thread(load_view, self.services, self.device.id, *extent)
        self.chart.options.clear()
        self.chart.options.update(chart_options(view, extent, ZoneInfo(self.zone)))
        self.chart.update()
        ons = sum(1 for e in view.events if e.delta_p > 0)
        self.chart_note.set_text(
            f"{len(view.events)} events in this range ({ons} on, {len(view.events) - ons} off) · ▲ on, ▼ off"
            f" · times in {self.zone}"
            if view.events
            else "No events yet: appliances switching on and off on this meter appear here as they are detected."
        )
        self.body.clear()
        with self.body:
            with ui.column().classes("gap-3 min-w-0"):
                self.queue(view)
            with ui.column().classes("gap-3 min-w-0"):
                self.appliances(view)

    def queue(self, view: ApplianceView) -> None:
        with ui.card().classes("w-full gap-2").props('data-testid="queue"'):
            with ui.row().classes("w-full items-center"):
                ui.label("Unidentified").classes("text-subtitle2")
                ui.space()
                count = f"{len(view.queue)}+" if view.more_waiting else str(len(view.queue))
                badge = ui.badge(count, color="accent" if view.queue else "grey")
                if view.more_waiting:
                    badge.tooltip(f"The newest {QUEUE_LIMIT} are listed; more wait behind them.")
            if not view.queue:
                ui.label("Nothing waiting for a name.").classes("ww-muted")
                return
            if self.may_label:
                ui.label("Name an event once: the meter learns it and names the next one itself.").classes("ww-muted")
                ui.switch("Name the events that look alike with it", value=self.name_alike).props("dense").bind_value(
                    self, "name_alike"
                ).mark("name-alike")
            else:
                ui.label("Viewers may look but not label; the site's owner or a member can.").classes("ww-muted")
            names = [a["name"] for a in view.appliances][:CHIPS]
            for event in view.queue:
                self.queue_row(event, names, len(view.alike.get(event.id, [])))

    def queue_row(self, event: StoredEvent, names: list[str], alike: int) -> None:
        with ui.column().classes("w-full gap-1 q-py-xs ww-rule").props(f'data-event="{event.id}"'):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("arrow_upward" if event.delta_p > 0 else "arrow_downward").style(
                    f"color: {ON_COLOR if event.delta_p > 0 else OFF_COLOR}"
                )
                ui.label(event_words(event)).classes("ww-num text-weight-medium")
                if alike:
                    ui.label(f"+{alike} alike").classes("ww-muted text-no-wrap").mark(f"alike-{event.id}").tooltip(
                        "Other unidentified events with the same step, on or off, at any time of day"
                    )
                ui.space()
                ui.label(fmt.local_time(event.ts, self.zone)).classes("ww-muted ww-num")
            if not self.may_label:
                return
            with ui.row().classes("w-full items-center gap-1"):
                for name in names:
                    ui.button(name, on_click=lambda _, n=name: self.label(event.id, n)).props(
                        "outline dense no-caps size=sm"
                    ).mark(f"label-{event.id}-{name}")
                new = (
                    ui.input(placeholder="New appliance")
                    .props("dense outlined maxlength=100")
                    .classes("w-36")
                    .mark(f"new-name-{event.id}")
                )
                ui.button(icon="sell", on_click=lambda: self.label(event.id, str(new.value or ""))).props(
                    "flat dense round aria-label='Label'"
                ).mark(f"label-{event.id}").tooltip("Label")

    async def label(self, event_id: int, name: str) -> None:
        """Name the appliance behind an event (and its run's other event, and with the switch on
        the events that look alike); the library learns it at once."""
        if not name.strip():
            ui.notify("Type the appliance's name first", type="warning")
            return
        try:
            changed = await edits.label_event(self.services, self.device.id, event_id, name, alike=self.name_alike)
        except (NotFound, ValueError) as exc:
            ui.notify(f"Could not label: {exc}", type="negative")
            return
        count = len(changed["events"])  # the event, its run's other one, and those alike
        ui.notify(f"Labelled {name.strip()}" + (f": {count} events" if count > 2 else ""), type="positive")
        await self.draw()

    def appliances(self, view: ApplianceView) -> None:
        self.known = {str(a["name"]) for a in view.appliances}
        with ui.card().classes("w-full gap-2").props('data-testid="appliances"'):
            ui.label("Appliances").classes("text-subtitle2")
            if not view.appliances:
                ui.label("No appliances named yet: label an event from the queue and they appear here.").classes(
                    "ww-muted"
                )
                return
            for app in sorted(view.appliances, key=lambda a: -float(a["energy_wh"])):
                self.appliance(app, view.runs.get(app["name"], []))

    def appliance(self, app: dict[str, Any], runs: list[StoredRun]) -> None:
        typical = f"{app['typical_power_w']:,.0f} W" if app.get("typical_power_w") else "—"
        if app.get("typical_duration_s"):
            typical += f" for {minutes(float(app['typical_duration_s']))}"
        title = f"{app['name']} · {app['runs']} runs · {kwh(float(app['energy_wh']) / 1000)}"
        if app.get("provisional_runs"):  # counted in, shown as they stand now
            title += f" · {app['provisional_runs']} running or undecided"
        with ui.expansion(title, icon="power").classes("w-full").props(f'dense data-appliance="{app["name"]}"'):
            ui.label(f"Typically {typical} · learnt from {app['labelled_events']} labelled events").classes("ww-muted")
            if not runs:
                ui.label("No runs yet.").classes("ww-muted")
            for run in runs:
                shown = run.to_dict()  # duration and energy as the REST API gives them
                estimated = "" if shown["closed"] else " (end estimated)"
                if not run.final:  # as it stands now: the detector may still change it
                    estimated = " (so far, may still change)"
                with (
                    ui.row()
                    .classes("w-full items-center gap-2 no-wrap ww-rule")
                    .props(f'data-final="{str(run.final).lower()}"')
                ):
                    ui.label(fmt.local_time(run.start_ts, self.zone)[:16]).classes("ww-num")
                    ui.space()
                    ui.label(f"{minutes(shown['duration_s'])}{estimated}").classes("ww-muted ww-num")
                    ui.label(f"{run.power_w:,.0f} W").classes("ww-num")
                    ui.label(kwh(shown["energy_wh"] / 1000)).classes("ww-num")
            if self.may_label:
                self.rename_form(app["name"])

    def rename_form(self, name: str) -> None:
        """Rename the appliance; a name the meter already knows merges the two (one appliance, two names)."""
        with ui.row().classes("w-full items-center gap-2 q-mt-sm"):
            new = (
                ui.input(placeholder="New name or one to merge into")
                .props("dense outlined maxlength=100")
                .classes("min-w-200")
                .mark(f"rename-{name}")
            )

            async def rename() -> None:
                target = str(new.value or "").strip()
                if not target or target == name:
                    ui.notify("Type a different name first", type="warning")
                    return
                merge = target in self.known
                try:
                    await edits.rename_appliance(self.services, self.device.id, name, target, merge=merge)
                except (NotFound, ValueError) as exc:
                    ui.notify(f"Could not rename: {exc}", type="negative")
                    return
                ui.notify(f"{name} merged into {target}" if merge else f"{name} is now {target}", type="positive")
                await self.draw()

            ui.button("Rename", icon="edit", on_click=rename).props("flat dense no-caps").mark(f"rename-button-{name}")

    def follow(self) -> None:
        """Redraw when the live detector stores events of this meter; stop when the tab is gone."""
        redraw_on(self.services.bus, "events", of_meters([self.device.id]), self.draw)
