"""A small, real HTTP receiver speaking the ingest contract, with scripted misbehaviour."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DAY_MS = 86_400_000
# A Monday at 00:00 UTC, so weekday/weekend tests know where they stand.
MONDAY_MS = 1_763_942_400_000


@dataclass
class Receiver:
    """Stores readings per key like the server would; ``script`` may override answers."""

    keys: set[str] = field(default_factory=lambda: {"key-1", "key-2"})
    readings: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, int]] = field(default_factory=list)  # (key, batch size)
    script: list[int] = field(default_factory=list)  # statuses to answer first, in order
    max_items: int | None = None  # answer 413 above this many readings
    reject_all: bool = False  # answer 422 listing every reading
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: str, body: Any) -> tuple[int, dict[str, Any]]:
        items = body if isinstance(body, list) else [body]
        with self.lock:
            self.requests.append((key, len(items)))
            if self.script:
                status = self.script.pop(0)
                return status, {"detail": f"scripted {status}"}
        if key not in self.keys:
            return 401, {"detail": "unknown or revoked device key"}
        if self.max_items is not None and len(items) > self.max_items:
            return 413, {"detail": f"more than {self.max_items} readings"}
        if self.reject_all:
            rejected = [{"index": i, "errors": ["voltage: missing"]} for i in range(len(items))]
            return 422, {"accepted": 0, "duplicates": 0, "rejected": rejected}
        stored = self.readings.setdefault(key, {})
        with self.lock:
            duplicates = sum(1 for item in items if item["ts"] in stored)
            stored.update({item["ts"]: item for item in items})
        body = {"accepted": len(items) - duplicates, "duplicates": duplicates, "rejected": []}
        return 200, body


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.path != "/api/v1/ingest":
                status, answer = 404, {"detail": "not found"}
            else:
                status, answer = receiver.answer(key, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on a free port, stopped after the test."""
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_wait() -> tuple[list[float], Callable[[float], Any]]:
    """A sleep that records the back-off it was asked for instead of waiting."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return delays, sleep
