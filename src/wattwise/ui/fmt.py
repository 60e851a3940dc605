"""How numbers, times and meter states read on screen: short, with units, never "None"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from wattwise.domain.readings import UNITS

#: A meter silent for longer than this is shown as offline.
OFFLINE_AFTER_MS = 5 * 60_000

_DECIMALS = {"voltage": 1, "current": 2, "power": 0, "energy": 0, "frequency": 2, "pf": 2}
LABELS = {
    "power": "Power",
    "voltage": "Voltage",
    "current": "Current",
    "pf": "Power factor",
    "frequency": "Frequency",
    "energy": "Energy counter",
}


def power(watts: float | None) -> str:
    if watts is None:
        return "—"
    if abs(watts) >= 10_000:
        return f"{watts / 1000:.1f} kW"
    if abs(watts) >= 1000:
        return f"{watts / 1000:.2f} kW"
    return f"{watts:.0f} W"


def metric(name: str, value: float | None) -> str:
    """A metric with its unit and a sensible number of decimals ("230.1 V", "0.96")."""
    if value is None:
        return "—"
    if name == "power":
        return power(value)
    unit = UNITS.get(name, "")
    text = f"{value:.{_DECIMALS.get(name, 2)}f}"
    return f"{text} {unit}" if unit else text


def energy_kwh(wh: float) -> str:
    kwh = wh / 1000
    return f"{kwh:.3f} kWh" if kwh < 10 else f"{kwh:.1f} kWh"


def ago(ts_ms: int | None, now_ms: int) -> str:
    if ts_ms is None:
        return "never"
    seconds = max(0, (now_ms - ts_ms) // 1000)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} d ago"


def state(last_seen_ms: int | None, now_ms: int) -> str:
    """``live``, ``offline`` or ``never`` (a meter that has not reported yet)."""
    if last_seen_ms is None:
        return "never"
    return "live" if now_ms - last_seen_ms <= OFFLINE_AFTER_MS else "offline"


STATE_BADGE = {"live": ("Live", "positive"), "offline": ("Offline", "negative"), "never": ("No data yet", "grey")}


def local_time(ts_ms: int, timezone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")
