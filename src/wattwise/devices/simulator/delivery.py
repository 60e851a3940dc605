"""What the transports (HTTP, MQTT) share: who a meter is, what a send returns, what fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

Row = dict[str, float | int]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterIdentity:
    """One simulated meter: its position (seeds its household), server id and key."""

    index: int
    device_id: str | None = None
    key: str | None = None

    @property
    def label(self) -> str:
        """How the meter is named in logs and in the events file."""
        return self.device_id if self.device_id is not None else f"sim-{self.index}"


@dataclass(slots=True)
class SendResult:
    """What the receiving end said about readings sent (MQTT only confirms delivery)."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)

    def add(self, other: SendResult) -> None:
        """Fold another result into this one."""
        self.sent += other.sent
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)


class DeliveryError(Exception):
    """Sending cannot succeed as configured: retrying will not help (bad key, bad data)."""


class DeliveryUnavailable(Exception):
    """The receiver could not be reached for now; the readings may be sent again later."""


class Sender(Protocol):
    """A transport for readings of many meters."""

    async def send(self, meter: MeterIdentity, rows: list[Row]) -> SendResult:
        """Deliver ``rows`` of ``meter``; raise DeliveryError or DeliveryUnavailable."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
