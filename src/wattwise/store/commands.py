"""Orders for meters: switch the relay, reset the energy counter — each carried out once.

A command stays *pending* until the device reports its result; until then it is handed to
the device with every answer (HTTP) or published to it (MQTT). The device remembers the ids
it has carried out, so handing a command over again is harmless; the first result recorded
wins and later copies are acknowledged without changing anything.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound
from wattwise.store.schema import commands, firmware_manifests

ACTIONS = ("relay_off", "relay_on", "reset_energy")
PENDING_REFRESH_S = 2.0


class PendingDevices:
    """Which meters have unanswered commands, known without a query on every upload.

    Ingest asks this on each request; the answer is refreshed from the table at most every
    ``PENDING_REFRESH_S`` (commands issued by another server process show up that late) and
    at once when this process issues or settles a command.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._devices: frozenset[int] = frozenset()
        self._refreshed = 0.0
        self._lock = threading.Lock()

    def may_have(self, device_id: int) -> bool:
        if time.monotonic() - self._refreshed > PENDING_REFRESH_S:
            self.refresh()
        return device_id in self._devices

    def refresh(self) -> None:
        with self._lock, self._engine.connect() as conn:
            rows = conn.execute(select(commands.c.device_id).where(commands.c.status == "pending").distinct())
            self._devices = frozenset(int(r.device_id) for r in rows)
            self._refreshed = time.monotonic()

    def changed(self) -> None:
        """A command was issued or answered here: look again at the next upload."""
        self._refreshed = 0.0


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    device_id: int
    action: str
    status: str  # pending | done | failed
    requested_by: str
    created_ms: int
    delivered_ms: int | None
    done_ms: int | None
    relay: str | None
    detail: str | None

    def for_device(self) -> dict[str, str]:
        """What the device receives (the firmware's contract)."""
        return {"id": str(self.id), "action": self.action}


def _command(row: Any) -> Command:
    return Command(**row._mapping)


def issue(conn: Connection, device_id: int, action: str, requested_by: str) -> Command:
    if action not in ACTIONS:
        raise ValueError(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    result = conn.execute(
        insert(commands).values(
            device_id=device_id, action=action, status="pending", requested_by=requested_by, created_ms=now_ms()
        )
    )
    assert result.inserted_primary_key is not None
    return get(conn, int(result.inserted_primary_key[0]))


def get(conn: Connection, command_id: int) -> Command:
    row = conn.execute(select(commands).where(commands.c.id == command_id)).first()
    if row is None:
        raise NotFound(f"no command with id {command_id}")
    return _command(row)


def pending(conn: Connection, device_id: int) -> list[Command]:
    """Commands the device has not answered yet, oldest first."""
    rows = conn.execute(
        select(commands)
        .where(commands.c.device_id == device_id, commands.c.status == "pending")
        .order_by(commands.c.id)
    )
    return [_command(r) for r in rows]


def mark_delivered(conn: Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(
            update(commands)
            .where(commands.c.id.in_(ids), commands.c.delivered_ms.is_(None))
            .values(delivered_ms=now_ms())
        )


def mark_delivered_again(conn: Connection, ids: list[int]) -> None:
    """Note a (re-)delivery over MQTT, so the next resend waits its turn."""
    if ids:
        conn.execute(update(commands).where(commands.c.id.in_(ids)).values(delivered_ms=now_ms()))


def record_result(
    conn: Connection, command_id: int, device_id: int, *, ok: bool, relay: str | None, detail: str
) -> tuple[Command, bool]:
    """Store the device's answer once; returns the command and whether this call recorded it."""
    command = get(conn, command_id)
    if command.device_id != device_id:
        raise NotFound(f"no command with id {command_id} for this meter")
    if command.status != "pending":
        return command, False
    conn.execute(
        update(commands)
        .where(commands.c.id == command_id, commands.c.status == "pending")
        .values(status="done" if ok else "failed", relay=relay, detail=detail[:500], done_ms=now_ms())
    )
    return get(conn, command_id), True


def history(conn: Connection, device_id: int, limit: int = 50) -> list[Command]:
    rows = conn.execute(
        select(commands).where(commands.c.device_id == device_id).order_by(commands.c.id.desc()).limit(limit)
    )
    return [_command(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    url: str
    sha256: str

    def as_json(self) -> dict[str, str]:
        return {"version": self.version, "url": self.url, "sha256": self.sha256}


def publish_manifest(conn: Connection, manifest: Manifest) -> None:
    if len(manifest.sha256) != 64 or any(c not in "0123456789abcdef" for c in manifest.sha256.lower()):
        raise ValueError("sha256: must be 64 hexadecimal characters")
    conn.execute(
        insert(firmware_manifests).values(
            version=manifest.version, url=manifest.url, sha256=manifest.sha256.lower(), created_ms=now_ms()
        )
    )


def current_manifest(conn: Connection) -> Manifest | None:
    row = conn.execute(select(firmware_manifests).order_by(firmware_manifests.c.id.desc()).limit(1)).first()
    return None if row is None else Manifest(version=row.version, url=row.url, sha256=row.sha256)
