"""ECharts options for the meter page, as plain data: the live line and the history band.

Kept free of NiceGUI so the shapes can be tested (and read) on their own.

Times are shown in the *site's* time zone, as every list, bill and day on the dashboard is,
whatever the browser's own zone (a warden checking a hostel from abroad, a phone set to UTC).
ECharts can only draw in the browser's zone or in UTC, so each time goes on the axis as the
site's wall clock read as if it were UTC (``wall_clock``) and the chart draws in UTC. In the
hour a clock goes back, two readings can share one wall-clock time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wattwise.store.series import Series

#: The narrowest window the history chart zooms into.
MIN_SPAN_MS = 60_000
COLOR = "#0f766e"

_TOOLTIP_JS = """(ps) => {
  const p = ps.find(x => x.seriesName === 'mean') || ps[0];
  if (!p) return '';
  const [t, mean, lo, hi] = p.value;
  const f = v => (v === null || v === undefined) ? '—' : Number(v).toFixed(2);
  const when = new Date(t).toISOString().slice(0, 19).replace('T', ' ');  // the site's wall clock
  return lo === hi ? `${when}<br/>${f(mean)}` : `${when}<br/>mean ${f(mean)}<br/>min ${f(lo)} · max ${f(hi)}`;
}"""


def wall_clock(ts_ms: int, zone: ZoneInfo) -> int:
    """``ts_ms`` as the site's clock shows it, in milliseconds counted as if that clock were UTC."""
    offset = datetime.fromtimestamp(ts_ms / 1000, zone).utcoffset()
    return ts_ms + (int(offset.total_seconds() * 1000) if offset else 0)


def _axes(unit: str) -> dict[str, Any]:
    return {
        "useUTC": True,  # the times are the site's wall clock already (wall_clock)
        "xAxis": {"type": "time", "axisLabel": {"hideOverlap": True}},
        "yAxis": {
            "type": "value",
            "scale": True,
            "name": unit,
            "nameGap": 8,
            "splitLine": {"lineStyle": {"opacity": 0.3}},
        },
    }


def live_options(points: list[tuple[int, float]], unit: str, zone: ZoneInfo) -> dict[str, Any]:
    """A line of the last minutes; the page appends points and drops the oldest."""
    return {
        "animation": False,
        "backgroundColor": "transparent",
        "grid": {"left": 8, "right": 16, "top": 28, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        **_axes(unit),
        "series": [
            {
                "name": "live",
                "type": "line",
                "showSymbol": False,
                "data": live_points(points, zone),
                "color": COLOR,
                "lineStyle": {"width": 2},
                "areaStyle": {"opacity": 0.08},
            }
        ],
    }


def live_points(points: list[tuple[int, float]], zone: ZoneInfo) -> list[list[float]]:
    return [[wall_clock(t, zone), v] for t, v in points]


def with_gaps(series: Series) -> list[int | None]:
    """Indices into ``series.ts``, with None where a bucket is missing, so lines break over gaps."""
    out: list[int | None] = []
    for i, t in enumerate(series.ts):
        if i and t - series.ts[i - 1] > series.bucket_ms * 1.5:
            out.append(None)
        out.append(i)
    return out


def history_series(series: Series, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Mean as a line over a shaded min–max band (the band is the max−min stacked on the min)."""
    lower: list[list[Any]] = []
    band: list[list[Any]] = []
    mean: list[list[Any]] = []
    for i in with_gaps(series):
        if i is None:
            t = lower[-1][0] + 1 if lower else wall_clock(series.start, zone)
            lower.append([t, None])
            band.append([t, None])
            mean.append([t, None, None, None])
            continue
        t, lo, hi = wall_clock(series.ts[i], zone), series.min[i], series.max[i]
        lower.append([t, lo])
        band.append([t, hi - lo])
        mean.append([t, series.mean[i], lo, hi])
    quiet = {
        "type": "line",
        "showSymbol": False,
        "stack": "band",
        "color": COLOR,
        "lineStyle": {"opacity": 0},
        "silent": True,
    }
    return [
        {**quiet, "name": "min", "data": lower},
        {**quiet, "name": "min–max", "data": band, "areaStyle": {"opacity": 0.22}},
        {
            "name": "mean",
            "type": "line",
            "showSymbol": False,
            "data": mean,
            "color": COLOR,
            "lineStyle": {"width": 1.5},
        },
    ]


def history_options(
    series: Series, extent: tuple[int, int], zoom: tuple[float, float], unit: str, zone: ZoneInfo
) -> dict[str, Any]:
    """The whole chosen range on the axis, the zoomed part filled with buckets fine enough to read.

    The zoom is in percent of ``extent``, so the page turns it back into instants without
    undoing the wall clock (``visible_range``)."""
    lo, hi = extent
    axes = _axes(unit)
    axes["xAxis"] |= {"min": wall_clock(lo, zone), "max": wall_clock(hi, zone)}
    zoom_common = {"start": zoom[0], "end": zoom[1], "minValueSpan": MIN_SPAN_MS, "filterMode": "none"}
    return {
        "animation": False,
        "backgroundColor": "transparent",
        "grid": {"left": 8, "right": 16, "top": 28, "bottom": 56, "containLabel": True},
        "tooltip": {"trigger": "axis", ":formatter": _TOOLTIP_JS},
        **axes,
        "dataZoom": [{"type": "inside", **zoom_common}, {"type": "slider", "height": 22, "bottom": 8, **zoom_common}],
        "series": history_series(series, zone),
    }


def zoom_from_event(args: Any) -> tuple[float, float] | None:
    """Start and end percentages from an ECharts ``datazoom`` event (slider or wheel/touch)."""
    if not isinstance(args, dict):
        return None
    batch = args.get("batch")
    source = batch[0] if isinstance(batch, list) and batch and isinstance(batch[0], dict) else args
    start, end = source.get("start"), source.get("end")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return float(start), float(end)
    return None


def visible_range(extent: tuple[int, int], zoom: tuple[float, float]) -> tuple[int, int]:
    """The milliseconds the zoom shows; never narrower than ``MIN_SPAN_MS``."""
    lo, hi = extent
    span = hi - lo
    start = lo + int(span * zoom[0] / 100)
    end = lo + int(span * zoom[1] / 100)
    if end - start < MIN_SPAN_MS:
        end = min(hi, start + MIN_SPAN_MS)
        start = max(lo, end - MIN_SPAN_MS)
    return start, end
