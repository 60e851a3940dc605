"""How often and from how much history the live detectors learn; defaults suit a real home.

A deployment sets them through :class:`wattwise.config.Settings` (``WATTWISE_DETECTOR_*``),
which checks them and holds their defaults; :meth:`DetectorSettings.from_settings` carries
them here. Tests build a ``DetectorSettings`` directly to make the detectors learn sooner.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from wattwise.config import Settings

#: a ``DetectorSettings`` field is ``Settings``' field of this name with the prefix taken off
PREFIX = "detector_"


def _default(name: str) -> Any:
    """The default of ``Settings.detector_<name>``: one place for each value."""
    return Settings.model_fields[PREFIX + name].default


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Tunables of :func:`wattwise.detectors.attach`.

    ``refresh_s``: how often the background task looks for models to (re)fit.
    ``anomaly_min_rows`` / ``anomaly_history_days``: the least history, and the most, an
    anomaly model is fitted from. ``anomaly_merge_ms``: flagged readings closer than this
    are one finding. ``theft_min_days``: whole days of history before the theft forest is
    trained. ``balance_interval_ms`` / ``balance_learn_intervals``: the energy-balance
    interval and how many of the first ones teach the unmetered base. ``backlog_max``: readings
    the worker may have queued in memory; past it, a meter's readings are recorded as a range
    and read back from the store once the worker has caught up (``detectors.progress``).
    """

    refresh_s: float = _default("refresh_s")
    anomaly_min_rows: int = _default("anomaly_min_rows")
    anomaly_history_days: int = _default("anomaly_history_days")
    anomaly_merge_ms: int = _default("anomaly_merge_ms")
    theft_min_days: int = _default("theft_min_days")
    theft_history_days: int = _default("theft_history_days")
    balance_interval_ms: int = _default("balance_interval_ms")
    balance_learn_intervals: int = _default("balance_learn_intervals")
    backlog_max: int = _default("backlog_max")

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorSettings:
        """The detectors' settings of this deployment (already checked by ``Settings``)."""
        return cls(**{f.name: getattr(settings, PREFIX + f.name) for f in fields(cls)})

    def by_variable(self) -> dict[str, str]:
        """Each setting under the environment variable that sets it (``WATTWISE_DETECTOR_…``), as
        text: what the leader records and the other processes compare theirs with."""
        return {f"WATTWISE_{(PREFIX + f.name).upper()}": str(getattr(self, f.name)) for f in fields(self)}
