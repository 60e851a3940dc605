"""Settings of one Wattwise process, from the command line, the environment (WATTWISE_*) or defaults."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
#: the fewest readings the anomaly model is fitted from (``analysis.anomaly.fit_anomaly_model``
#: refuses fewer; a refresh that tried would fail for every meter after it)
ANOMALY_MIN_ROWS = 100
#: the fewest intervals the energy balance learns its base from (``analysis.theft.fit_balance``)
BALANCE_MIN_INTERVALS = 10
#: the least each whole-number detector setting may be, and why
DETECTOR_LEAST: dict[str, tuple[int, str]] = {
    "detector_anomaly_min_rows": (ANOMALY_MIN_ROWS, "the fewest readings the anomaly model learns from"),
    "detector_anomaly_history_days": (1, "a day"),
    "detector_anomaly_merge_ms": (0, "milliseconds"),
    "detector_theft_min_days": (1, "a day"),
    "detector_balance_learn_intervals": (BALANCE_MIN_INTERVALS, "the fewest intervals the base is learned from"),
    "detector_backlog_max": (1, "a reading"),
}


class Settings(BaseSettings):
    """Everything a deployment may change; nothing is read at import time."""

    model_config = SettingsConfigDict(env_prefix="WATTWISE_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database: str = ""  # empty: SQLite file wattwise.db under data_dir
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)  # past 65535 the socket would wrap it round
    mqtt: str = ""  # "host:port" to subscribe to meters over MQTT; empty: off
    mqtt_username: str = ""
    mqtt_password: str = ""
    mqtt_shared_group: str = "wattwise"
    # A stable id keeps the broker's session (and the QoS 1 readings queued in it) across a
    # restart; each server process needs its own. Empty: derived from group, host and port.
    mqtt_client_id: str = ""
    mqtt_session_expiry_s: int = 86_400
    # "host:port" of the broker that joins the buses of several server processes
    # (docs/scale.md); empty: this process is the only one. Logs in with mqtt_username.
    bus_link: str = ""
    # With MQTT on: announce every meter to Home Assistant (retained discovery configs under
    # homeassistant/) and publish its state on wattwise/<id>/state after each batch.
    ha_discovery: bool = True
    max_body_bytes: int = 4 * 1024 * 1024
    energy_max_gap_s: int = 300
    energy_max_power_w: float = 25_000.0
    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL|EXTRA)$")
    detectors: bool = True  # live NILM, anomaly, grid, balance and theft detection on every meter
    alerts: bool = True  # the alert engine: rules, notices, relay cuts (docs/alerts.md)
    # On PostgreSQL one process leads (runs the detectors and the alert engine); the others
    # try to take the lead this often (docs/scale.md).
    lead_retry_s: float = Field(default=5.0, gt=0)
    # The dashboard's address as people open it (https://wattwise.example.org): each alert
    # notice links to its alert there. Empty: notices carry no link.
    public_url: str = ""
    raw_retention_days: int = 0  # 0 keeps raw readings for ever
    minute_retention_days: int = 0
    # The live detectors' tunables (``wattwise.detectors.DetectorSettings``, docs/detectors.md
    # "Settings"): how often models are refitted, from how much history, and the energy
    # balance's interval. The process that leads uses its own: start every process alike.
    detector_refresh_s: float = 300.0
    detector_anomaly_min_rows: int = 500
    detector_anomaly_history_days: int = 28
    detector_anomaly_merge_ms: int = 10 * MINUTE_MS
    detector_theft_min_days: int = 7
    detector_theft_history_days: int = 90
    detector_balance_interval_ms: int = 15 * MINUTE_MS
    detector_balance_learn_intervals: int = 96
    # Readings the detectors' worker may have queued in memory; past it, a meter's readings
    # are read back from the store when the worker has caught up (docs/detectors.md).
    detector_backlog_max: int = 200_000

    @field_validator("mqtt", "bus_link")
    @classmethod
    def _broker(cls, value: str) -> str:
        return check_broker_address(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return check_public_url(value)

    @field_validator("detector_refresh_s")
    @classmethod
    def _refresh(cls, value: float) -> float:
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"must be a number of seconds above 0, got {value}")
        return value

    @field_validator(*DETECTOR_LEAST)
    @classmethod
    def _at_least(cls, value: int, info: ValidationInfo) -> int:
        least, why = DETECTOR_LEAST[str(info.field_name)]
        if value < least:
            raise ValueError(f"must be at least {least} ({why}), got {value}")
        return value

    @field_validator("detector_theft_history_days")
    @classmethod
    def _theft_history(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("detector_theft_min_days")  # absent: refused itself, named there
        if least is not None and value <= least:
            # a window of N days ending mid-day holds N - 1 whole days: the forest would never train
            raise ValueError(
                f"must be more than detector_theft_min_days ({least}) or the theft model never trains, got {value}"
            )
        return value

    @field_validator("detector_balance_interval_ms")
    @classmethod
    def _balance_interval(cls, value: int) -> int:
        if value <= 0 or value % MINUTE_MS or value > DAY_MS:
            raise ValueError(
                f"must be a whole number of minutes in milliseconds, from 60000 (1 min) to {DAY_MS} (a day), "
                f"got {value}"
            )
        return value

    def database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to the embedded SQLite file."""
        if self.database:
            return self.database
        return f"sqlite:///{(self.data_dir / 'wattwise.db').resolve()}"


def broker_address(address: str) -> tuple[str, int]:
    """``host:port`` (either may be left out) as the pair a client connects to; ValueError for
    a port that is not a number from 1 to 65535."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "1883")
    port = port or "1883"
    if not (port.isdigit() and 0 < int(port) < 65_536):
        raise ValueError(f"port {port!r} is not a number from 1 to 65535")
    return host or "127.0.0.1", int(port)


def check_broker_address(given: str) -> str:
    """``given`` when it is a broker address ``broker_address`` can use ("" stays unset);
    ValueError in plain words otherwise, before the server starts (a port that is not a number
    stopped the start with a traceback, one out of range left the link silently unconnected)."""
    value = given.strip()
    if value:
        try:
            broker_address(value)
        except ValueError:
            raise ValueError(
                f"must be a broker's host:port such as mqtt.local:1883 (port 1 to 65535), got {given!r}"
            ) from None
    return value


def check_public_url(given: str) -> str:
    """The dashboard's public address without its trailing slash ("" stays unset); ValueError
    in plain words for anything a phone could not open as a link."""
    value = given.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    try:
        port_ok = parts.port != 0  # .port raises for a port that is not a number in range
    except ValueError:
        port_ok = False
    web = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not (port_ok and web) or parts.username or parts.query or parts.fragment:
        raise ValueError(
            "must be the address people open the dashboard at, an http:// or https:// URL such as "
            f"https://wattwise.example.org (a path is allowed; no login, query or #fragment), got {given!r}"
        )
    return value
