"""ECharts options for the Energy page, as plain data: daily bars with cost, months, the budget gauge.

Kept free of NiceGUI so the shapes can be read and tested on their own. Labels are
strings computed here; the browser only draws.
"""

from __future__ import annotations

from typing import Any

from wattwise.ui.chart_options import COLOR

COST_COLOR = "#f59e0b"
STATE_COLORS = {"on_track": "#16a34a", "at_risk": "#f59e0b", "over": "#dc2626"}
_BASE = {"animation": False, "backgroundColor": "transparent"}


def daily_options(days: list[str], kwh: list[float], cost: list[float] | None, currency: str) -> dict[str, Any]:
    """kWh per local day as bars; with a tariff, each day's cost as a line on a second axis."""
    series: list[dict[str, Any]] = [
        {"name": "kWh", "type": "bar", "data": kwh, "color": COLOR, "barMaxWidth": 28},
    ]
    y_axes: list[dict[str, Any]] = [
        {"type": "value", "name": "kWh", "nameGap": 8, "splitLine": {"lineStyle": {"opacity": 0.3}}}
    ]
    if cost is not None:
        series.append(
            {"name": f"cost ({currency})", "type": "line", "yAxisIndex": 1, "data": cost, "color": COST_COLOR}
        )
        y_axes.append({"type": "value", "name": currency, "nameGap": 8, "splitLine": {"show": False}})
    return {
        **_BASE,
        "grid": {"left": 8, "right": 8, "top": 36, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "right": 0, "textStyle": {"color": "#94a3b8"}},  # readable light and dark
        "xAxis": {"type": "category", "data": days, "axisLabel": {"hideOverlap": True}},
        "yAxis": y_axes,
        "series": series,
    }


def months_options(months: list[str], kwh: list[float], current: int | None) -> dict[str, Any]:
    """kWh per local month; the month still running is drawn lighter (it is not over yet)."""
    data = [{"value": v, "itemStyle": {"opacity": 0.45}} if i == current else {"value": v} for i, v in enumerate(kwh)]
    return {
        **_BASE,
        "grid": {"left": 8, "right": 8, "top": 28, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": months, "axisLabel": {"hideOverlap": True}},
        "yAxis": {"type": "value", "name": "kWh", "nameGap": 8, "splitLine": {"lineStyle": {"opacity": 0.3}}},
        "series": [{"name": "kWh", "type": "bar", "data": data, "color": COLOR, "barMaxWidth": 36}],
    }


def gauge_options(used: float, limit: float, projected: float, state: str, unit: str) -> dict[str, Any]:
    """Used so far against the budget (the needle), with the projected end of the cycle as a thin ring."""
    top = max(limit, projected, used) * 1.1 or 1.0
    color = STATE_COLORS.get(state, COLOR)
    ring = {
        "type": "gauge",
        "min": 0,
        "max": top,
        "startAngle": 210,
        "endAngle": -30,
        "radius": "96%",
        "center": ["50%", "58%"],
        "pointer": {"show": False},
        "axisTick": {"show": False},
        "splitLine": {"show": False},
        "axisLabel": {"show": False},
        "anchor": {"show": False},
        "title": {"show": False},
        "detail": {"show": False},
    }
    return {
        **_BASE,
        "series": [
            {
                **ring,
                "name": "budget",
                "axisLine": {
                    "lineStyle": {
                        "width": 14,
                        "color": [[min(limit / top, 1.0), "#94a3b855"], [1, "#dc262655"]],
                    }
                },
                "progress": {"show": True, "width": 14, "itemStyle": {"color": color}},
                "data": [{"value": round(used, 2), "name": "used"}],
            },
            {
                **ring,
                "name": "projected",
                "radius": "72%",
                "axisLine": {"lineStyle": {"width": 4, "color": [[1, "#94a3b833"]]}},
                "progress": {"show": True, "width": 4, "itemStyle": {"color": color, "opacity": 0.5}},
                "data": [{"value": round(projected, 2), "name": "projected"}],
            },
        ],
    }
