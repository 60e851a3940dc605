"""The gateway's meter list, its bounded disk queue, and commands carried out once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.devices.gateway import DiskQueue, Gateway, GatewayConfig, HttpUplink, parse_meters
from wattwise.devices.gateway.uplink import MeterLink
from wattwise.domain.readings import Reading


def test_addresses_with_one_key_each() -> None:
    links = parse_meters("1=wwd_a,2=wwd_b, 0x03=7:wwd_c")
    assert links == [
        MeterLink(1, "wwd_a"),
        MeterLink(2, "wwd_b"),
        MeterLink(3, "wwd_c", device_id=7),
    ]
    assert parse_meters("5", key="wwd_k") == [MeterLink(5, "wwd_k")]


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ("1,2", "wwd_k", "give each its own"),
        ("1", None, "has no key"),
        ("300=k", None, "outside 1..247"),
        ("x=k", None, "not a Modbus address"),
        ("1=a,1=b", None, "listed twice"),
        ("", "k", "at least one"),
    ],
)
def test_bad_meter_lists_are_refused_with_the_reason(spec: str, key: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_meters(spec, key)


def test_queue_keeps_order_per_meter_across_a_restart(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    for ts in range(5):
        q.put(1, {"ts": ts})
        q.put(2, {"ts": ts})
    q.close()
    q = DiskQueue(tmp_path / "q.db")
    assert q.meters() == [1, 2]
    first = q.batch(1, 3)
    assert [item.body["ts"] for item in first] == [0, 1, 2]
    q.ack(first)
    assert [item.body["ts"] for item in q.batch(1, 10)] == [3, 4]
    assert len(q) == 7


def test_full_queue_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db", max_rows=3)
    dropped = [q.put(1, {"ts": ts}) for ts in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert [item.body["ts"] for item in q.batch(1, 10)] == [2, 3, 4]
    assert q.counter("dropped") == 2


class Receiver(BaseHTTPRequestHandler):
    """A stand-in ingest API that hands out one command and records results."""

    server: ReceiverServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        if self.path == "/api/v1/ingest":
            srv.batches.append(body)
            answer: dict[str, Any] = {"accepted": len(body), "duplicates": 0, "rejected": []}
            if srv.pending:
                answer["commands"] = list(srv.pending)
        else:
            srv.results.append((self.path, body))
            srv.pending.clear()
            answer = {}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class ReceiverServer(ThreadingHTTPServer):
    batches: list[list[dict[str, Any]]]
    results: list[tuple[str, dict[str, Any]]]
    pending: list[dict[str, str]]


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    srv = ReceiverServer(("127.0.0.1", 0), Receiver)
    srv.batches, srv.results, srv.pending = [], [], []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_commands_in_the_ingest_answer_are_carried_out_once(tmp_path: Path, receiver: ReceiverServer) -> None:
    load = Reading(device_id=0, ts=0, voltage=230.0, power=3600.0)
    meter = EmulatedMeter(address=4, source=iter([load] * 100), energy_wh=1234.0)
    with PzemEmulator([meter], refresh_s=None) as emulator:
        url = emulator.serve_tcp()
        config = GatewayConfig(port=url, meters=[MeterLink(4, "wwd_k")], queue_path=tmp_path / "q")
        server_url = f"http://127.0.0.1:{receiver.server_address[1]}"
        gateway = Gateway(config, HttpUplink(server_url))
        receiver.pending.append({"id": "c-1", "action": "reset_energy"})
        receiver.pending.append({"id": "c-2", "action": "relay_off"})
        gateway.poll_once()
        assert gateway.flush_once()
        # The answer to the next post repeats c-1 (say the result crossed it on the way).
        receiver.pending.append({"id": "c-1", "action": "reset_energy"})
        emulator.advance()
        gateway.poll_once()
        assert gateway.flush_once()
        gateway.close()
    energies = [batch[0]["energy"] for batch in receiver.batches]
    assert energies == [1234.0, 1.0]  # reset once: 1 Wh since, not reset again
    reports = {(path, json.dumps(body, sort_keys=True)) for path, body in receiver.results}
    reset = {"ok": True, "relay": "on", "detail": "energy counter of meter 4 reset to 0 Wh"}
    assert ("/api/v1/commands/c-1/result", json.dumps(reset, sort_keys=True)) in reports
    relay = [body for path, body in receiver.results if path.endswith("c-2/result")]
    assert relay == [{"ok": False, "relay": "on", "detail": "a PZEM on a serial gateway has no relay"}]
