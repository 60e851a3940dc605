"""What a meter measures at one instant."""

from __future__ import annotations

from dataclasses import dataclass

#: The quantities a reading may carry, in storage order.
METRICS: tuple[str, ...] = ("voltage", "current", "power", "energy", "frequency", "pf")

#: Units of each metric, as stored (energy is the meter's cumulative counter).
UNITS: dict[str, str] = {
    "voltage": "V",
    "current": "A",
    "power": "W",
    "energy": "Wh",
    "frequency": "Hz",
    "pf": "",
}


@dataclass(slots=True, kw_only=True)
class Reading:
    """One validated sample of one meter; ``ts`` is UTC epoch milliseconds.

    Treat it as immutable. It is not declared frozen only because a frozen dataclass takes
    three times as long to build, and ingest builds one per reading on the hot path.

    ``energy`` is the meter's own cumulative counter in Wh (it may reset or roll over);
    any quantity the meter does not measure is ``None``.
    """

    device_id: int
    ts: int
    voltage: float | None = None
    current: float | None = None
    power: float | None = None
    energy: float | None = None
    frequency: float | None = None
    pf: float | None = None

    def value(self, metric: str) -> float | None:
        """Return the named metric, so callers can iterate over ``METRICS``."""
        return getattr(self, metric)  # type: ignore[no-any-return]


@dataclass(slots=True, kw_only=True)
class StoredReading:
    """A reading as committed, with the energy it adds since the meter's previous reading."""

    reading: Reading
    wh: float
