"""A meter's page: its live values, a chart of the last minutes, and its history at any zoom."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from wattwise.detectors.balance import stored_status
from wattwise.domain.readings import METRICS, StoredReading
from wattwise.store.clock import now_ms
from wattwise.store.devices import Device, get_device
from wattwise.store.energy_today import energy_since
from wattwise.store.errors import NotFound
from wattwise.store.history import first_reading_ms
from wattwise.store.series import recent_readings
from wattwise.store.sites import list_sites
from wattwise.store.users import Access
from wattwise.ui import context, fmt
from wattwise.ui.balance_card import BalanceCard
from wattwise.ui.frame import frame
from wattwise.ui.live_feed import feed_readings, timer_when_connected
from wattwise.ui.meter_charts import LIVE_WINDOW_MS, HistoryChart, LiveChart
from wattwise.ui.overview import MeterTile, today_start_ms

RECENT_LIMIT = 1200  # ten minutes of a meter reporting every half second


def register() -> None:
    ui.page("/meters/{device_id}", title="Meter · Wattwise")(meter_page)


def visible_meter(access: Access, device_id: int) -> Device | None:
    """The meter if this user may see it; None for one that does not exist or is not theirs."""
    with context.services().engine.connect() as conn:
        try:
            device = get_device(conn, device_id)
        except NotFound:
            return None
    return device if access.can_see(device.site_id) else None


async def meter_page(request: Request, device_id: str) -> RedirectResponse | None:
    """``device_id`` is taken as text: an address that is no number (a meter's name typed for
    its id) is a meter not found, not FastAPI's JSON validation error in the browser."""
    access = context.signed_in(request)
    if access is None:
        return context.to_sign_in(request)
    an_id = device_id.isascii() and device_id.isdigit() and len(device_id) < 10  # < 2**31: any id stored
    device = visible_meter(access, int(device_id)) if an_id else None
    if device is None:
        frame(access, "Meter")
        with ui.column().classes("ww-page"), ui.card().classes("w-full q-mt-md"):
            ui.label("No such meter.").classes("text-subtitle1")
            ui.label("It does not exist, or it belongs to a site you are not a member of.")
            ui.link("Back to the overview", "/")
        return None
    services = context.services()
    at = now_ms()
    with services.engine.connect() as conn:
        site = next(s for s in list_sites(conn, frozenset({device.site_id})))
        rows = [r for r in recent_readings(conn, device.id, RECENT_LIMIT) if (r["ts"] or 0) >= at - LIVE_WINDOW_MS]
        latest = recent_readings(conn, device.id, 1)
        today = energy_since(conn, [device.id], since_ms=today_start_ms(site.timezone, at), now_ms=at)
        first = first_reading_ms(conn, device.id)
        balance = stored_status(conn, device.id) if device.role == "main" else None

    zone = ZoneInfo(site.timezone)  # every chart and card draws the site's clock
    frame(access, device.name)
    with ui.column().classes("ww-page gap-3"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.link(site.name, "/").classes("ww-link ww-muted")
            ui.label("›").classes("ww-muted")
            ui.label(device.name).classes("text-h6")
            ui.space()
            metric = (
                ui.select({m: fmt.LABELS[m] for m in METRICS}, value="power", label="Metric")
                .props('dense outlined data-testid="metric"')
                .classes("w-44")
            )
        with ui.element("div").classes("ww-split"):
            tile = MeterTile(device, latest[-1] if latest else None, today.get(device.id, 0.0), link=False)
            with ui.card():
                ui.label("Last 10 minutes").classes("text-subtitle2")
                live = LiveChart(rows, "power", zone)
        if balance is not None:
            BalanceCard(services, device.id, zone, balance, may_vouch=access.can_manage(site.id))
        with ui.card().classes("w-full"):
            ui.label("History").classes("text-subtitle2")
            if first is None:
                ui.label("This meter has not reported yet: its history starts with its first reading.").classes(
                    "ww-muted"
                )
            history = HistoryChart(services, device.id, device.name, "power", first, zone)

    async def change_metric() -> None:
        live.set_metric(str(metric.value))
        await history.set_metric(str(metric.value))

    metric.on_value_change(change_metric)

    def deliver(batch: list[StoredReading]) -> None:
        for item in batch:
            tile.update(item)
            live.add(item.reading)

    feed_readings(services.bus, [device.id], deliver)
    timer_when_connected(5.0, lambda: tile.refresh_state(now_ms()))
    await history.load()
    return None
