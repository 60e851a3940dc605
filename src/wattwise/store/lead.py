"""Which server process leads: the one holding the installation's PostgreSQL advisory lock.

The detectors and the alert engine must run in exactly one process of an installation (each
would otherwise store every event, finding and alert again). PostgreSQL elects it: a session
advisory lock is held by one connection at a time and is let go by the server as soon as that
connection ends, also when its process dies, so a standby process can take over. An embedded
SQLite installation is one process by design: it always leads.

The leader also records the settings it runs its detectors with (``record_settings``), so a
process standing by can tell whether it would run them alike (``recorded_settings``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, text
from sqlalchemy.exc import DBAPIError

from wattwise.store.schema import lead_settings

log = logging.getLogger(__name__)

#: The advisory lock's key (advisory locks are per database): "Watt" in ASCII.
LOCK_KEY = 0x57617474


class Lead:
    """The lock and the one connection that holds it (it must stay open while leading)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self.embedded = engine.dialect.name != "postgresql"

    @property
    def held(self) -> bool:
        return self.embedded or self._conn is not None

    def try_take(self) -> bool:
        """Take the lead if no other process has it; True when this process leads."""
        if self.held:
            return True
        conn = self._engine.connect()
        try:
            taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar())
            conn.commit()  # a session lock outlives the transaction; the connection stays idle
        except DBAPIError:
            conn.close()
            raise
        if taken:
            self._conn = conn
        else:
            conn.close()
        return taken

    def still_held(self) -> bool:
        """False once the connection holding the lock is gone (the lock went with it)."""
        if self.embedded:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except DBAPIError:
            log.error("lost the database connection that held the lead; another process may take it")
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            self._conn.commit()
        except DBAPIError:
            pass  # the connection is gone, and the lock with it
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None


@dataclass(frozen=True, slots=True)
class RecordedSettings:
    """The settings the leader recorded: by name (environment variable), which process, when."""

    values: dict[str, str]
    process: str
    recorded_ms: int


def record_settings(conn: Connection, values: dict[str, str], *, process: str, at_ms: int) -> None:
    """The leader's settings, in place of the previous leader's."""
    conn.execute(delete(lead_settings))
    if values:
        rows = [{"name": k, "value": v, "process": process, "recorded_ms": at_ms} for k, v in values.items()]
        conn.execute(insert(lead_settings), rows)


def recorded_settings(conn: Connection) -> RecordedSettings | None:
    """What the last leader recorded; None before any did."""
    rows = conn.execute(select(lead_settings).order_by(lead_settings.c.name)).all()
    if not rows:
        return None
    return RecordedSettings({r.name: r.value for r in rows}, rows[0].process, int(rows[0].recorded_ms))
