"""A small, real HTTP receiver speaking the ingest contract, with scripted misbehaviour."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from support import QuietHandler, http_server, reply_json


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
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.body())
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.path != "/api/v1/ingest":
                status, answer = 404, {"detail": "not found"}
            else:
                status, answer = receiver.answer(key, body)
            reply_json(self, status, answer)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on a free port, stopped after the test."""
    rec = Receiver()
    with http_server(_handler(rec)) as rec.url:
        yield rec


@pytest.fixture
def no_wait() -> tuple[list[float], Callable[[float], Any]]:
    """A sleep that records the back-off it was asked for instead of waiting."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return delays, sleep


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., int]]:
    """Start private Mosquitto brokers that refuse anonymous clients; returns their ports."""
    for tool in ("mosquitto", "mosquitto_passwd"):
        if shutil.which(tool) is None:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{tool} is not installed (CI=true: required)")
            pytest.skip(f"{tool} is not installed")
    procs: list[subprocess.Popen[bytes]] = []

    def start(passwd: Path, acl: Path | None = None) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
            f"persistence false\npassword_file {passwd}\n" + (f"acl_file {acl}\n" if acl else "")
        )
        procs.append(
            subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {port}")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
