"""The seed projects' ESP32 payload: ``{"Voltage": 227.5, "Current": 1.42}`` (capitalised keys)."""

from __future__ import annotations

from typing import Any

_KEYS = {
    "voltage": "voltage",
    "current": "current",
    "power": "power",
    "energy": "energy",
    "frequency": "frequency",
    "pf": "pf",
    "powerfactor": "pf",
    "power_factor": "pf",
    "time": "ts",
    "timestamp": "ts",
    "ts": "ts",
}


def from_seed(payload: Any) -> Any:
    """Rename the seed firmware's keys to ours; anything we do not know is left for the parser."""
    if not isinstance(payload, dict):
        return payload
    out = {_KEYS.get(str(key).lower(), key): value for key, value in payload.items()}
    voltage, current = _number(out.get("voltage")), _number(out.get("current"))
    if out.get("power") is None and voltage is not None and current is not None:
        out["power"] = voltage * current  # the seed firmware's own definition: P = V × I
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
