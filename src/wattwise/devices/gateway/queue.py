"""The gateway's on-disk store-and-forward queue, and its memory of commands carried out.

One SQLite file (WAL) holds, per meter, the readings not yet acknowledged by the server,
in the order they were measured. A reading leaves the queue only after the server said it
stored it (or that it will never take it), so a crash or a restart replays from where it
stood: nothing lost, and a reading sent twice is counted by the server as a duplicate of
the same (meter, ts), never stored twice. The queue is bounded: past ``max_rows`` the
oldest readings are dropped and counted, so a long outage cannot fill the disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_ROWS = 500_000  # about six days of three meters at 1 Hz

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    meter INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_meter ON queue (meter, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    meter INTEGER NOT NULL,
    result TEXT NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class Queued:
    """One reading waiting for the server."""

    seq: int
    meter: int
    body: dict[str, Any]


class DiskQueue:
    """Readings per meter (the meter's Modbus address), oldest first, safe across threads."""

    def __init__(self, path: str | Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a queued reading survives power loss
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file; everything put is already on disk."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, one thread at a time."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- readings ------------------------------------------------------------------------

    def put(self, meter: int, body: dict[str, Any]) -> int:
        """Append a reading; returns how many old readings had to be dropped to make room."""
        with self._tx():
            self._db.execute("INSERT INTO queue (meter, body) VALUES (?, ?)", (meter, json.dumps(body)))
            (size,) = self._db.execute("SELECT count(*) FROM queue").fetchone()
            excess = size - self.max_rows
            if excess > 0:
                self._db.execute(
                    "DELETE FROM queue WHERE seq IN (SELECT seq FROM queue ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                self._bump("dropped", excess)
            return int(max(excess, 0))

    def meters(self) -> list[int]:
        """Meters with readings waiting, the one with the oldest reading first."""
        with self._lock:
            rows = self._db.execute("SELECT meter FROM queue GROUP BY meter ORDER BY min(seq)").fetchall()
        return [m for (m,) in rows]

    def batch(self, meter: int, limit: int) -> list[Queued]:
        """The oldest ``limit`` readings of one meter, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, meter, body FROM queue WHERE meter = ? ORDER BY seq LIMIT ?",
                (meter, limit),
            ).fetchall()
        return [Queued(seq, m, json.loads(body)) for seq, m, body in rows]

    def ack(self, items: list[Queued]) -> None:
        """Forget readings the server has answered for."""
        with self._tx():
            self._db.executemany("DELETE FROM queue WHERE seq = ?", [(q.seq,) for q in items])

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM queue").fetchone()
        return int(n)

    # -- counters ------------------------------------------------------------------------

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    def bump(self, name: str, by: int = 1) -> None:
        """Add to a named counter kept with the queue (dropped, rejected …)."""
        with self._tx():
            self._bump(name, by)

    def counter(self, name: str) -> int:
        """A named counter; ``dropped`` counts readings lost to the bound."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    # -- commands ------------------------------------------------------------------------

    def command_result(self, command_id: str) -> dict[str, Any] | None:
        """The result of a command already carried out, or None if it is new."""
        with self._lock:
            row = self._db.execute("SELECT result FROM commands WHERE id = ?", (command_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def record_command(self, command_id: str, meter: int, result: dict[str, Any]) -> None:
        """Remember that a command was carried out, and with what result."""
        with self._tx():
            self._db.execute(
                "INSERT OR IGNORE INTO commands (id, meter, result) VALUES (?, ?, ?)",
                (command_id, meter, json.dumps(result)),
            )

    def unreported(self) -> list[tuple[str, int, dict[str, Any]]]:
        """Results the server has not yet confirmed receiving: (id, meter, result)."""
        with self._lock:
            rows = self._db.execute("SELECT id, meter, result FROM commands WHERE reported = 0").fetchall()
        return [(i, m, json.loads(r)) for i, m, r in rows]

    def mark_reported(self, command_id: str) -> None:
        """The server has the result; stop sending it."""
        with self._tx():
            self._db.execute("UPDATE commands SET reported = 1 WHERE id = ?", (command_id,))

    def mark_unreported(self, command_id: str) -> None:
        """The server asked again: send the result again (the command is not redone)."""
        with self._tx():
            self._db.execute("UPDATE commands SET reported = 0 WHERE id = ?", (command_id,))
