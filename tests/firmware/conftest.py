"""Fixtures for the firmware tests: a board (flash folder + MicroPython) and a meter."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from firmware.board import FIRMWARE, Board
from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.domain.readings import Reading


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    flash = tmp_path / "flash"
    flash.mkdir()
    for item in FIRMWARE.iterdir():
        if item.suffix in (".py", ".json"):
            shutil.copy(item, flash / item.name)
    b = Board(flash, json.loads((FIRMWARE / "config.json").read_text()))
    b.configure(poll_s=0.1, retry_s=0.3, watchdog_ms=5000, http_timeout_s=2)
    yield b
    if b.proc is not None and b.proc.poll() is None:
        b.proc.kill()
        b.proc.wait()


@pytest.fixture
def meter() -> Iterator[Callable[[Iterable[Reading]], PzemEmulator]]:
    """An emulated PZEM at address 1 that serves the next of ``samples`` at each read."""
    made: list[PzemEmulator] = []

    def make(samples: Iterable[Reading]) -> PzemEmulator:
        emulator = PzemEmulator(
            [EmulatedMeter(address=1, source=iter(samples))],
            tick_s=0.1,
            refresh_s=None,
            advance_per_read=True,
        )
        emulator.serve_tcp()
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.stop()


@pytest.fixture
def ota_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain file server for manifests and firmware bundles: (folder, base URL)."""
    site = tmp_path / "site"
    site.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
