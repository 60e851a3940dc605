"""The meter page's two charts: the last minutes, scrolling as readings land, and the zoomable history."""

from __future__ import annotations

from collections import deque
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import run, ui
from nicegui.events import GenericEventArguments

from wattwise.domain.readings import METRICS, UNITS, Reading
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.history import fresh_series
from wattwise.store.series import Series
from wattwise.ui.chart_options import history_options, live_options, live_points, visible_range, zoom_from_event
from wattwise.ui.csv_export import csv_filename, series_csv

LIVE_WINDOW_MS = 10 * 60_000
HISTORY_POINTS = 600
DAY_MS = 86_400_000
RANGES: dict[str, int | None] = {
    "1 h": 3_600_000,
    "24 h": DAY_MS,
    "7 d": 7 * DAY_MS,
    "30 d": 30 * DAY_MS,
    "1 y": 365 * DAY_MS,
    "All": None,
}
_TIER_NAMES = {"raw": "raw readings", "1m": "1-minute rollups", "1h": "hourly rollups", "1d": "daily rollups"}


def duration(ms: int) -> str:
    """A bucket width in words: "2 s", "5 min", "1 h", "7 d"."""
    for unit, size in (("d", DAY_MS), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms} ms"


class LiveChart:
    """The last ten minutes of one metric; keeps every metric so switching needs no query."""

    def __init__(self, rows: list[dict[str, float | int | None]], metric: str, zone: ZoneInfo) -> None:
        self.metric = metric
        self.zone = zone
        self.rows: deque[dict[str, float | int | None]] = deque(rows)
        self.chart = ui.echart(live_options(self._points(), UNITS[metric], zone)).classes("w-full h-56")
        self.chart.props('data-chart="live"')
        self.waiting = ui.label("Waiting for the first reading…").classes("ww-muted")
        self.waiting.set_visibility(not self.rows)

    def _points(self) -> list[tuple[int, float]]:
        return [(int(r["ts"] or 0), float(v)) for r in self.rows if (v := r.get(self.metric)) is not None]

    def _redraw(self) -> None:
        self.chart.options["series"][0]["data"] = live_points(self._points(), self.zone)
        self.chart.options["yAxis"]["name"] = UNITS[self.metric]
        self.chart.update()

    def set_metric(self, metric: str) -> None:
        self.metric = metric
        self._redraw()

    def add(self, reading: Reading) -> None:
        self.rows.append({"ts": reading.ts, **{m: reading.value(m) for m in METRICS}})
        cutoff = max(r["ts"] or 0 for r in self.rows) - LIVE_WINDOW_MS
        while self.rows and (self.rows[0]["ts"] or 0) < cutoff:
            self.rows.popleft()
        self.waiting.set_visibility(False)
        self._redraw()


class HistoryChart:
    """History from minutes to years: the range sets the axis, zooming re-queries what is visible."""

    def __init__(
        self, services: Services, device_id: int, meter_name: str, metric: str, first_ms: int | None, zone: ZoneInfo
    ):
        self.services = services
        self.zone = zone
        self.device_id = device_id
        self.meter_name = meter_name
        self.metric = metric
        self.first_ms = first_ms
        self.extent = self._extent("24 h")
        self.zoom = (0.0, 100.0)
        self.series: Series | None = None
        with ui.row().classes("w-full items-center gap-2"):
            self.range = ui.toggle(list(RANGES), value="24 h", on_change=self._on_range).props("dense no-caps")
            ui.space()
            self.download = ui.button("CSV", icon="download", on_click=self._download).props("flat dense no-caps")
            self.download.tooltip("Download the shown range as CSV")
        self.chart = ui.echart(
            history_options(Series(metric, *self.extent, 1, "raw"), self.extent, self.zoom, UNITS[metric], zone)
        ).classes("w-full h-80")
        self.chart.props('data-chart="history"')
        self.chart.on("chart:datazoom", self._on_zoom, throttle=0.35, leading_events=False)
        with ui.row().classes("w-full items-center"):
            self.caption = ui.label().classes("ww-muted").props('data-testid="history-caption"')
            ui.space()
            self.empty = ui.label("No data in this range").classes("text-warning").props('data-testid="history-empty"')
            self.empty.set_visibility(False)

    def _extent(self, choice: str) -> tuple[int, int]:
        end = now_ms()
        span = RANGES.get(choice)
        if span is None:
            start = self.first_ms if self.first_ms is not None else end - DAY_MS
            return min(start, end - 3_600_000), end
        return end - span, end

    async def load(self) -> None:
        """Query what the zoom shows, at most ``HISTORY_POINTS`` buckets, and redraw."""
        start, end = visible_range(self.extent, self.zoom)
        self.series = await run.io_bound(
            fresh_series,
            self.services.engine,
            self.services.writer,
            self.device_id,
            metric=self.metric,
            start=start,
            end=end,
            points=HISTORY_POINTS,
        )
        assert self.series is not None
        options = history_options(self.series, self.extent, self.zoom, UNITS[self.metric], self.zone)
        self.chart.options.update(options)
        self.chart.update()
        self.empty.set_visibility(not self.series.ts)
        self.caption.set_text(
            f"{duration(self.series.bucket_ms)} buckets · {len(self.series.ts)} shown · "
            f"from {_TIER_NAMES.get(self.series.tier, self.series.tier)} · times in {self.zone.key}"
        )

    async def set_metric(self, metric: str) -> None:
        self.metric = metric
        await self.load()

    async def _on_range(self, event: Any) -> None:
        self.extent = self._extent(str(event.value))
        self.zoom = (0.0, 100.0)
        await self.load()

    async def _on_zoom(self, event: GenericEventArguments) -> None:
        zoom = zoom_from_event(event.args)
        if zoom is not None and zoom != self.zoom:
            self.zoom = zoom
            await self.load()

    def _download(self) -> None:
        if self.series is None or not self.series.ts:
            ui.notify("Nothing to download: no data in this range", type="warning")
            return
        ui.download(series_csv(self.series), csv_filename(self.meter_name, self.series), "text/csv")
