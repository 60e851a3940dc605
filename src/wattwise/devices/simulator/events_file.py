"""Write the ground-truth switching events to a file detectors can be scored against.

CSV or JSON Lines, chosen by the file's suffix (``.csv``, ``.jsonl``/``.ndjson``), one
event a row: device, ts (UTC ms), appliance, state (on/off/change), phase, delta_w (the
step in active power at nominal voltage, W).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from wattwise.devices.simulator.schedule import ApplianceEvent

FIELDS: tuple[str, ...] = ("device", "ts", "appliance", "state", "phase", "delta_w")
_JSONL = {".jsonl", ".ndjson"}


def event_row(device: str, event: ApplianceEvent) -> dict[str, str | int | float]:
    """One event as a flat record."""
    return {
        "device": device,
        "ts": event.ts,
        "appliance": event.appliance,
        "state": event.state,
        "phase": event.phase,
        "delta_w": round(event.delta_w, 3),
    }


class EventWriter:
    """Appends events to a CSV or JSONL file, flushing after each batch.

    An existing file is continued, so the ground truth of a database that keeps its
    history (a demo run again) stays complete; delete the file to start afresh.
    """

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in _JSONL | {".csv"}:
            raise ValueError(f"events file {path}: use a .csv or .jsonl name, not {suffix!r}")
        self._jsonl = suffix in _JSONL
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh and not self._jsonl:
            with path.open(encoding="utf-8") as existing:
                header = existing.readline().strip()
            if header != ",".join(FIELDS):
                raise ValueError(f"events file {path} exists with other columns ({header!r}); choose another name")
        self._file: IO[str] = path.open("a", encoding="utf-8", newline="")
        self._csv = None if self._jsonl else csv.DictWriter(self._file, fieldnames=FIELDS)
        if self._csv is not None and fresh:
            self._csv.writeheader()
        self.count = 0

    def write(self, device: str, events: Iterable[ApplianceEvent]) -> None:
        """Append the events of one device."""
        for event in events:
            row = event_row(device, event)
            if self._csv is not None:
                self._csv.writerow(row)
            else:
                self._file.write(orjson.dumps(row).decode() + "\n")
            self.count += 1
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
