"""Sending one alert notice to one channel (e-mail, webhook, ntfy, Telegram, WhatsApp).

The contract the alert engine relies on: ``deliver`` never raises for a channel's own
failure (an unreachable server, a refused login); it returns a ``Delivery`` saying what
went wrong, so one broken channel never stops the others or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str
    severity: Severity = "warning"
    url: str | None = None  # where to look at it in the dashboard, when known


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    error: str | None = None


def deliver(kind: str, config: dict[str, Any], notice: Notice, *, timeout_s: float = 10.0) -> Delivery:
    """Send ``notice`` through one channel of ``kind`` configured by ``config``."""
    raise NotImplementedError("alerts.notify.deliver: channel delivery is being built")
