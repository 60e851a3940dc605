"""The overview: per site, a live tile per meter and the site's total power, pushed as readings land."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from zoneinfo import ZoneInfo

from nicegui import ui

from wattwise.analysis.energy import local_date, local_midnight_ms
from wattwise.domain.readings import StoredReading
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.devices import Device, list_devices
from wattwise.store.energy_today import energy_since
from wattwise.store.series import recent_readings
from wattwise.store.sites import Site, list_sites
from wattwise.store.users import Access
from wattwise.ui import context, fmt
from wattwise.ui.energy import BudgetGauge
from wattwise.ui.frame import framed
from wattwise.ui.live_feed import feed_readings, timer_when_connected

TILE_METRICS = ("voltage", "current", "pf", "frequency")
SHORT = {"voltage": "Voltage", "current": "Current", "pf": "PF", "frequency": "Frequency"}


@dataclass
class SiteView:
    """What the overview shows of one site when the page opens."""

    site: Site
    devices: list[Device]
    latest: dict[int, dict[str, float | int | None]] = field(default_factory=dict)
    today_wh: dict[int, float] = field(default_factory=dict)


def today_start_ms(timezone: str, at_ms: int) -> int:
    zone = ZoneInfo(timezone)
    return local_midnight_ms(local_date(at_ms, zone), zone)


def load_overview(services: Services, access: Access, at_ms: int) -> list[SiteView]:
    """Every site the user may see, its meters, their last reading and today's energy."""
    with services.engine.connect() as conn:
        sites = list_sites(conn, access.site_ids())
        devices = list_devices(conn, access.site_ids())
        views = []
        for site in sites:
            mine = [d for d in devices if d.site_id == site.id]
            latest = {}
            for d in mine:
                if d.last_seen_ms is not None:
                    rows = recent_readings(conn, d.id, 1)
                    if rows:
                        latest[d.id] = rows[-1]
            today = energy_since(
                conn, [d.id for d in mine], since_ms=today_start_ms(site.timezone, at_ms), now_ms=at_ms
            )
            views.append(SiteView(site=site, devices=mine, latest=latest, today_wh=today))
    return views


def site_total_power(power: dict[int, float | None], roles: dict[int, str], live: set[int]) -> float | None:
    """The site's live draw: its main meter if it has one, else every live meter that is not a sub-meter.

    A sub-meter's load is already measured by the meter it hangs under, so adding it would
    count that load twice.
    """
    mains = [i for i, role in roles.items() if role == "main" and i in live]
    counted = mains or [i for i, role in roles.items() if role != "sub" and i in live]
    values = [power[i] for i in counted if power.get(i) is not None]
    return sum(v for v in values if v is not None) if values else None


class MeterTile:
    """One meter's card: live power, V, I, PF, f, today's energy, last seen and a state badge.

    The card's content is one HTML element: NiceGUI's browser side re-renders the page's
    whole element tree on every update, so 50 meters reporting every 2 s stay cheap only
    when the tree is small (two elements a tile, rather than a dozen).
    """

    def __init__(
        self, device: Device, latest: dict[str, float | int | None] | None, today_wh: float, *, link: bool = True
    ) -> None:
        self.device = device
        self.link = link
        self.last_seen = device.last_seen_ms
        self.today_wh = today_wh
        self.values: dict[str, float | None] = {}
        if latest:
            self.values = {m: None if (v := latest.get(m)) is None else float(v) for m in ("power", *TILE_METRICS)}
        self.at_ms = now_ms()
        with ui.card().classes("q-pa-md").props(f'data-meter="{device.id}"') as self.card:
            self.body = ui.html().classes("w-full")
        self._draw()

    @property
    def power(self) -> float | None:
        return self.values.get("power")

    @property
    def state(self) -> str:
        return fmt.state(self.last_seen, self.at_ms)

    def _draw(self) -> None:
        name = escape(self.device.name)
        title = f'<a class="ww-link" href="/meters/{self.device.id}">{name}</a>' if self.link else name
        role = f'<span class="q-badge q-badge--outline text-secondary">{self.device.role}</span>'
        text, color = fmt.STATE_BADGE[self.state]
        cells = "".join(
            f'<div class="ww-cell"><span class="ww-muted">{SHORT[m]}</span>'
            f'<span class="ww-num" data-field="{m}">{fmt.metric(m, self.values.get(m))}</span></div>'
            for m in TILE_METRICS
        )
        footer = (
            "Never reported. Send its first reading to POST /api/v1/ingest with its key."
            if self.state == "never"
            else f"Last reading {fmt.ago(self.last_seen, self.at_ms)}"
        )
        self.body.set_content(
            f'<div class="ww-tile-head"><span class="ww-tile-name">{title}</span>'
            f'{role if self.device.role != "meter" else ""}<span class="ww-space"></span>'
            f'<span class="q-badge bg-{color} text-white" data-field="state">{text}</span></div>'
            f'<div class="ww-big" data-field="power">{fmt.power(self.power)}</div>'
            f'<div class="ww-cells">{cells}<div class="ww-cell ww-wide"><span class="ww-muted">Today</span>'
            f'<span class="ww-num" data-field="today">{fmt.energy_kwh(self.today_wh)}</span></div></div>'
            f'<div class="ww-muted ww-foot">{footer}</div>'
        )

    def update(self, item: StoredReading) -> None:
        r = item.reading
        self.values = {m: r.value(m) for m in ("power", *TILE_METRICS)}
        self.today_wh += item.wh
        self.last_seen = max(self.last_seen or 0, r.ts)
        self._draw()

    def reset_today(self, wh: float) -> None:
        self.today_wh = wh
        self._draw()

    def refresh_state(self, at_ms: int) -> None:
        """Age "last reading … ago" and the badge (on a timer: readings do not wait for it)."""
        self.at_ms = at_ms
        self._draw()


BUDGET_REFRESH_S = 300.0


class SiteSection:
    """A site's heading with its total live power, and its meters' tiles."""

    def __init__(self, view: SiteView, can_manage: bool) -> None:
        self.view = view
        self.day = local_date(now_ms(), ZoneInfo(view.site.timezone))
        self.tiles: dict[int, MeterTile] = {}
        with ui.row().classes("w-full items-end q-mt-md"):
            ui.label(view.site.name).classes("text-h6")
            ui.label(view.site.timezone).classes("ww-muted q-mb-xs")
            ui.space()
            with ui.column().classes("items-end gap-0"):
                ui.label("Total now").classes("ww-muted")
                self.total = ui.label("—").classes("text-h6 ww-num").props(f'data-site-total="{view.site.id}"')
        if not view.devices:
            with ui.card().classes("w-full"):
                ui.label("No meters yet.").classes("text-subtitle1")
                if can_manage:
                    ui.label("Add one under Sites & meters; you will see its key once, to put in the meter.")
                    ui.button("Add a meter", icon="add", on_click=lambda: ui.navigate.to("/sites")).props("unelevated")
                else:
                    ui.label("The site's owner can add one.")
            return
        with ui.element("div").classes("ww-tiles"):
            for device in view.devices:
                self.tiles[device.id] = MeterTile(device, view.latest.get(device.id), view.today_wh.get(device.id, 0.0))
            gauge = BudgetGauge(view.site.currency)  # the cycle's budget, beside the meters
        services = context.services()
        timer_when_connected(0, lambda: gauge.load(services, view.site.id), once=True)
        timer_when_connected(BUDGET_REFRESH_S, lambda: gauge.load(services, view.site.id))
        self.refresh_total(now_ms())

    def update(self, item: StoredReading) -> None:
        tile = self.tiles.get(item.reading.device_id)
        if tile is not None:
            tile.update(item)

    def refresh_total(self, at_ms: int) -> None:
        live = {i for i, t in self.tiles.items() if fmt.state(t.last_seen, at_ms) == "live"}
        total = site_total_power(
            {i: t.power for i, t in self.tiles.items()}, {i: t.device.role for i, t in self.tiles.items()}, live
        )
        self.total.set_text(fmt.power(total))

    def tick(self, services: Services, at_ms: int) -> None:
        """Age the badges; at local midnight start counting today's energy afresh."""
        for tile in self.tiles.values():
            tile.refresh_state(at_ms)
        self.refresh_total(at_ms)
        day = local_date(at_ms, ZoneInfo(self.view.site.timezone))
        if day != self.day and self.tiles:
            self.day = day
            with services.engine.connect() as conn:
                today = energy_since(
                    conn, list(self.tiles), since_ms=today_start_ms(self.view.site.timezone, at_ms), now_ms=at_ms
                )
            for device_id, tile in self.tiles.items():
                tile.reset_today(today.get(device_id, 0.0))


def register() -> None:
    ui.page("/", title="Overview · Wattwise")(framed("Overview", build))


def build(access: Access) -> None:
    services = context.services()
    views = load_overview(services, access, now_ms())
    sections: dict[int, SiteSection] = {}
    if not views:
        with ui.card().classes("w-full q-mt-md"):
            ui.label("You do not belong to any site yet.").classes("text-subtitle1")
            ui.label("Create one under Sites & meters, or ask an administrator to add you to one.")
            ui.button("Create a site", icon="add", on_click=lambda: ui.navigate.to("/sites")).props("unelevated")
    for view in views:
        sections[view.site.id] = SiteSection(view, access.can_manage(view.site.id))
    by_device = {d.id: sections[v.site.id] for v in views for d in v.devices}

    def deliver(batch: list[StoredReading]) -> None:
        touched = set()
        for item in batch:
            section = by_device[item.reading.device_id]
            section.update(item)
            touched.add(section)
        at = now_ms()
        for section in touched:
            section.refresh_total(at)

    feed_readings(services.bus, by_device, deliver)

    def tick() -> None:
        at = now_ms()
        for section in sections.values():
            section.tick(services, at)

    timer_when_connected(5.0, tick)
