"""How often and from how much history the live detectors learn; defaults suit a real home."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Tunables of :func:`wattwise.detectors.attach`.

    ``refresh_s``: how often the background task looks for models to (re)fit.
    ``anomaly_min_rows`` / ``anomaly_history_days``: the least history, and the most, an
    anomaly model is fitted from. ``anomaly_merge_ms``: flagged readings closer than this
    are one finding. ``theft_min_days``: whole days of history before the theft forest is
    trained. ``balance_interval_ms`` / ``balance_learn_intervals``: the energy-balance
    interval and how many of the first ones teach the unmetered base.
    """

    refresh_s: float = 300.0
    anomaly_min_rows: int = 500
    anomaly_history_days: int = 28
    anomaly_merge_ms: int = 10 * 60_000
    theft_min_days: int = 7
    theft_history_days: int = 90
    balance_interval_ms: int = 15 * 60_000
    balance_learn_intervals: int = 96
