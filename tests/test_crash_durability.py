"""kill -9 the server while meters post: after a restart every acknowledged reading is there."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from support import free_port
from wattwise.cli.main import app as cli

WATTWISE = [sys.executable, "-m", "wattwise.cli"]


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*WATTWISE, "--data-dir", str(data_dir), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def post_until_refused(url: str, key: str, meter: int, acknowledged: list[int], stop: threading.Event) -> None:
    ts = 1_764_000_000_000 + meter * 10_000_000
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            batch = [{"ts": ts + i, "power": float(i), "energy": float(ts + i - 1_764_000_000_000)} for i in range(20)]
            try:
                response = client.post(url, json=batch, headers={"Authorization": f"Bearer {key}"})
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 200 and response.json()["accepted"] == 20:
                acknowledged.extend(r["ts"] for r in batch)
            ts += 20


def test_every_acknowledged_reading_survives_kill_9(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = []
    for name in ("a", "b", "c"):
        out = runner.invoke(cli, ["--data-dir", str(tmp_path), "device", "add", name, "--site", "home"]).output
        keys.append(next(line.split()[1] for line in out.splitlines() if line.startswith("key:")))
    runner.invoke(cli, ["--data-dir", str(tmp_path), "user", "add", "admin", "--admin", "--password", "admin-password"])
    token = runner.invoke(cli, ["--data-dir", str(tmp_path), "user", "token", "admin"]).output.strip()

    port = free_port()
    server = start_server(tmp_path, port)
    url = f"http://127.0.0.1:{port}/api/v1/ingest"
    acknowledged: list[list[int]] = [[], [], []]
    stop = threading.Event()
    posters = [
        threading.Thread(target=post_until_refused, args=(url, keys[i], i + 1, acknowledged[i], stop)) for i in range(3)
    ]
    for t in posters:
        t.start()
    deadline = time.time() + 20
    while sum(map(len, acknowledged)) < 1500 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for t in posters:
        t.join()
    assert sum(map(len, acknowledged)) >= 1500

    server = start_server(tmp_path, port)  # recovers the write-ahead log like any restart
    try:
        for meter, acked in enumerate(acknowledged, start=1):
            series = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/devices/{meter}/series",
                params={"start": min(acked), "end": max(acked) + 1, "points": 10_000, "tier": "raw"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).json()
            assert sum(series["count"]) >= len(acked)
        with sqlite3.connect(tmp_path / "wattwise.db") as db:
            for meter, acked in enumerate(acknowledged, start=1):
                stored = {row[0] for row in db.execute("SELECT ts FROM readings WHERE device_id=?", (meter,))}
                assert set(acked) <= stored, f"meter {meter}: {len(set(acked) - stored)} acknowledged readings lost"
    finally:
        server.terminate()
        server.wait(timeout=10)
