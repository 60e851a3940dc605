"""`wattwise demo` (what `make demo` runs) as a newcomer meets it: it prints a URL and a login
that work, simulated meters report, the dashboard answers, and a second run keeps the login."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support import cli_process, free_port, wait_until
from wattwise.cli.demo import demo_settings
from wattwise.config import Settings

STARTED = re.compile(r"running at (?P<url>http://\S+)")
PASSWORD = re.compile(r"password:\s+(?P<password>\S+)")
DEVICE_KEY = re.compile(r"device key:\s+(?P<key>\S+)")


@contextmanager
def demo(data_dir: Path) -> Iterator[tuple[str, str, str]]:
    """Run the demo until the block ends; yields the URL, the password and the device key it printed."""
    args = ["--data-dir", str(data_dir), "demo", "--port", str(free_port()), "--backfill-days", "0.02"]

    def found(lines: list[str]) -> tuple[str | None, ...]:
        text = "".join(lines)
        return tuple(m.group(1) if m else None for m in (p.search(text) for p in (STARTED, PASSWORD, DEVICE_KEY)))

    with cli_process(args, lambda lines: all(found(lines))) as printed:
        url, password, key = found(printed)
        assert url and password and key
        yield url, password, key


def processes_using(folder: Path) -> dict[int, str]:
    """pid → command line of the processes whose command line names ``folder`` (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and str(folder) in command:
            found[int(entry.name)] = command
    return found


def sign_in(url: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/v1/auth/token", json={"username": "admin", "password": password, "name": "test"})
    assert answer.status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_the_demo_prints_a_login_that_works_and_its_meters_report(tmp_path: Path) -> None:
    with demo(tmp_path) as (url, password, key):
        auth = sign_in(url, password)
        meters = httpx.get(f"{url}/api/v1/devices", headers=auth).json()
        assert sorted(m["name"] for m in meters) == ["Kitchen", "Main meter", "Room 101", "Room 102"]
        main = next(m for m in meters if m["name"] == "Main meter")

        deadline = time.time() + 60  # backfill, then live readings every 2 s
        points: list[object] = []
        while time.time() < deadline and not points:
            series = httpx.get(
                f"{url}/api/v1/devices/{main['id']}/series", params={"metric": "power"}, headers=auth
            ).json()
            points = series.get("mean") or []
            time.sleep(1)
        assert points, "no readings from the simulated meters"

        rules = httpx.get(f"{url}/api/v1/alert-rules", headers=auth).json()
        assert {r["name"] for r in rules} == {"Main meter above 3 kW", "What the detectors find"}
        page = httpx.get(f"{url}/login")
        assert page.status_code == 200 and "Wattwise" in page.text

    with demo(tmp_path) as (url, again, same_key):  # the same data folder: the same login, no second set of rules
        assert again == password
        assert same_key == key, "a key copied from the first run must keep working"
        posted = httpx.post(
            f"{url}/api/v1/ingest", json={"power": 100, "voltage": 230}, headers={"Authorization": f"Bearer {key}"}
        )
        assert posted.status_code in (200, 201, 202), posted.text
        auth = sign_in(url, again)
        assert len(httpx.get(f"{url}/api/v1/alert-rules", headers=auth).json()) == 2


def test_the_demo_never_joins_a_real_installations_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inherited from a shell set up for the real servers, these would hand the demo a share of
    the real meters' readings (lost to the real servers) and put its simulation on their dashboards."""
    monkeypatch.setenv("WATTWISE_MQTT", "broker.local:1883")
    monkeypatch.setenv("WATTWISE_BUS_LINK", "broker.local:1883")
    settings = demo_settings(Settings(), "127.0.0.1", 8000)
    assert (settings.mqtt, settings.bus_link) == ("", "")


def test_stopping_the_demo_with_sigterm_stops_its_simulated_meters(tmp_path: Path) -> None:
    """``kill`` or a service manager stops the demo with SIGTERM: nothing it started may go on."""
    with demo(tmp_path) as (url, password, _):
        auth = sign_in(url, password)

        def reporting_live() -> bool:  # the history sent, the meters report every 2 s
            meters = httpx.get(f"{url}/api/v1/devices", headers=auth).json()
            return all(m["last_seen_ms"] and m["last_seen_ms"] > time.time() * 1000 - 5000 for m in meters)

        wait_until(reporting_live, timeout=60)
        assert any(" simulate " in c for c in processes_using(tmp_path).values())
        server = next(pid for pid, c in processes_using(tmp_path).items() if " demo " in c)
        os.kill(server, signal.SIGTERM)
        wait_until(lambda: not processes_using(tmp_path), timeout=30)
