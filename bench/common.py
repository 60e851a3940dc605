"""Helpers shared by the benchmarks: a fresh database, a server in a subprocess, meters."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from wattwise.store.devices import create_device
from wattwise.store.engine import migrate, open_engine
from wattwise.store.sites import get_or_create_site

#: Process id of each running ``server`` by its base URL, for benchmarks that read its CPU time.
SERVER_PIDS: dict[str, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fresh_database(kind: str, name: str) -> Iterator[str]:
    """A new, empty database URL of ``kind`` (sqlite or postgresql), removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="wattwise-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / (name + '.db')}"
        return
    admin = os.environ.get("WATTWISE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    db = f"wattwise_bench_{name}_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + db
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def wattwise(database: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wattwise.cli", "--database", database, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def add_meters(database: str, count: int, site: str = "bench") -> list[str]:
    """Register meters (ids 1..count on a fresh database); returns their keys in id order."""
    engine = open_engine(database)
    migrate(engine)
    with engine.begin() as conn:
        the_site = get_or_create_site(conn, site)
        keys = [create_device(conn, site_id=the_site.id, name=f"meter-{i:04d}").key for i in range(count)]
    engine.dispose()
    return keys


@contextlib.contextmanager
def server(database: str, *, detectors: bool = True, link: str = "") -> Iterator[str]:
    """``wattwise serve`` in a subprocess on a free port; yields its base URL.

    ``link``: a broker joining it to the other server processes (docs/scale.md)."""
    port = free_port()
    env = {**os.environ, "WATTWISE_DETECTORS": "1" if detectors else "0", "WATTWISE_BUS_LINK": link}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wattwise.cli", "--database", database, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    SERVER_PIDS[url] = proc.pid
    try:
        deadline = time.time() + 120  # imports and migrations are slow on a busy machine
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        SERVER_PIDS.pop(url, None)
        proc.terminate()
        proc.wait(timeout=30)
