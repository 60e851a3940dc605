"""`wattwise simulate` as a user runs it: against a real Wattwise server, and its errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from wattwise.cli.main import app as main_cli
from wattwise.cli.simulate import simulate, start_time_ms
from wattwise.devices.simulator.frame import household_frame
from wattwise.devices.simulator.household import make_household

_spec = importlib.util.spec_from_file_location("live_server", Path(__file__).parents[2] / "firmware" / "live_server.py")
assert _spec and _spec.loader
live_server = importlib.util.module_from_spec(_spec)
sys.modules["live_server"] = live_server
_spec.loader.exec_module(live_server)

METRICS = ("voltage", "current", "power", "energy", "frequency", "pf")

cli = typer.Typer()
cli.command()(simulate)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[live_server.LiveServer]:
    srv = live_server.LiveServer(tmp_path / "wattwise.db")
    yield srv
    srv.stop()


def test_days_of_history_then_live_readings_are_stored_exactly_as_simulated(
    tmp_path: Path, server: live_server.LiveServer
) -> None:
    (first, first_key), (second, second_key) = server.add_devices("flat-1", "flat-2")
    server.start()
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# id key\n{first} {first_key}\n{second} {second_key}\n")
    start_ms = (int(datetime.now(UTC).timestamp()) - 3600) * 1000
    start = datetime.fromtimestamp(start_ms / 1000, UTC).isoformat()
    events = tmp_path / "events.csv"

    code, output = invoke(
        "--server",
        server.url,
        "--keys-file",
        str(keys),
        "--seed",
        "40",
        "--interval",
        "60",
        "--backfill",
        "2",
        "--count",
        "3",
        "--speed",
        "1000",
        "--start",
        start,
        "--events",
        str(events),
    )

    assert code == 0, output
    assert "5766 accepted" in output  # 2 meters × (2 × 1440 history + 3 live)
    for index, device in enumerate((first, second)):
        stored = server.readings(device)
        expected = household_frame(
            start_ms - 2 * 86_400_000, start_ms + 180_000, 60, seed=40 + index, household=make_household(40 + index)
        )
        assert [r["ts"] for r in stored] == expected["ts"].tolist()
        for metric in METRICS:
            assert [r[metric] for r in stored] == pytest.approx(expected[metric].tolist()), metric
    with events.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["device"] for r in rows} == {str(first), str(second)}
    assert {r["state"] for r in rows} >= {"on", "off"}
    assert all(start_ms - 2 * 86_400_000 < int(r["ts"]) <= start_ms + 180_000 for r in rows)


def test_a_revoked_or_mistyped_key_fails_with_a_message(tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    code, output = invoke(
        "--server", receiver.url, "--key", "wrong", "--count", "1", "--speed", "1000", "--interval", "1"
    )
    assert code == 1
    assert "refused the key of meter sim-0 (401 Unauthorized)" in output


def history_of_two_meters(receiver, days: str, *extra: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Send only history (5-minute readings) of two meters, keys key-1 and key-2."""
    common = ("--server", receiver.url, "--key", "key-1", "--key", "key-2", "--interval", "300")
    return invoke(*common, "--backfill", days, "--count", "0", *extra)


def test_events_can_be_written_as_json_lines(tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    events = tmp_path / "events.jsonl"
    code, output = history_of_two_meters(receiver, "1", "--events", str(events), "--seed", "3")
    assert code == 0, output
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert {line["device"] for line in lines} == {"sim-0", "sim-1"}
    assert set(lines[0]) == {"device", "ts", "appliance", "state", "phase", "delta_w"}
    assert len(receiver.readings["key-1"]) == len(receiver.readings["key-2"]) == 288


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--server URL or --mqtt HOST:PORT"),
        (("--server", "http://x", "--devices", "2", "--key", "k"), "2 meter(s) but 1 key(s)"),
        (("--server", "http://x", "--key", "k", "--speed", "10"), "--speed above 1 needs"),
        (("--server", "http://x", "--key", "k", "--duration", "ten minutes"), "not a duration"),
        (("--mqtt", "localhost:port"), "use HOST:PORT"),
        (("--server", "localhost:8000", "--key", "k"), "--server: 'localhost:8000': give the address with http://"),
        (("--server", "http://x", "--key", "k", "--count", "1", "--events", "e.txt"), ".csv or .jsonl"),
        (("--server", "http://x", "--key", "k", "--timezone", "Mars/Olympus"), "Mars/Olympus"),
    ],
)
def test_bad_options_are_explained(args: tuple[str, ...], message: str) -> None:
    code, output = invoke(*args)
    assert code != 0
    flat = "".join(output.replace("│", "").split())  # the error box may wrap the message
    assert "".join(message.split()) in flat


def test_a_malformed_keys_file_names_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a short path: the error panel folds a long one mid-name
    Path("keys.txt").write_text("1 key-one\n2\n")
    code, output = invoke("--server", "http://x", "--keys-file", "keys.txt")
    assert code != 0
    assert "keys.txt:2" in output


def test_a_main_meter_counts_its_sub_meters_and_a_little_more(receiver) -> None:  # type: ignore[no-untyped-def]
    code, output = history_of_two_meters(receiver, "2", "--main-meter", "--seed", "8")
    assert code == 0, output

    def used(key: str) -> float:
        energy = [r["energy"] for _, r in sorted(receiver.readings[key].items())]
        return float(energy[-1] - energy[0])

    main, room = used("key-1"), used("key-2")
    assert room < main < room * 1.5


def test_a_fast_run_starts_in_the_past_and_ends_now() -> None:
    now = 1_763_942_400_000
    hour = 3_600_000
    start = start_time_ms(None, speed=60.0, span_ms=hour, now_ms=now)
    # one simulated hour at 60x lasts one real minute: its last reading is due at now + 1 min
    assert start + hour == now + hour // 60
    assert start_time_ms(None, speed=1.0, span_ms=None, now_ms=now) == now
    assert start_time_ms("2025-11-24T00:00:00Z", speed=5.0, span_ms=None, now_ms=now) == now


def test_meters_over_mqtt_log_in_as_themselves_and_their_readings_are_stored(
    tmp_path: Path, server: live_server.LiveServer, mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (first, first_key), (second, second_key) = server.add_devices("flat-1", "flat-2")
    broker_files = tmp_path / "broker"
    written = CliRunner().invoke(
        main_cli,
        [
            "--database",
            f"sqlite:///{server.db_path}",
            "mqtt",
            "credentials",
            "--out",
            str(broker_files),
            "--server-password",
            "server-secret",
        ],
    )
    assert written.exit_code == 0, written.output
    port = mosquitto(broker_files / "passwd", broker_files / "acl")
    monkeypatch.setenv("WATTWISE_MQTT_USERNAME", "wattwise-server")
    monkeypatch.setenv("WATTWISE_MQTT_PASSWORD", "server-secret")
    server.mqtt = f"127.0.0.1:{port}"
    server.start()
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{first} {first_key}\n{second} {second_key}\n")

    code, output = invoke(
        "--mqtt",
        f"127.0.0.1:{port}",
        "--keys-file",
        str(keys),
        "--interval",
        "10",
        "--backfill",
        "0.05",
        "--count",
        "2",
        "--speed",
        "1000",
    )

    assert code == 0, output
    # the broker's acknowledgement is no count of the server's: not "0 accepted"
    assert "sent 868 readings (864 history, 4 live) to the broker, which took them" in output
    expected = 432 + 2  # 0.05 days at 10 s, then two live readings
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and min(len(server.readings(d)) for d in (first, second)) < expected:
        time.sleep(0.2)
    assert [len(server.readings(d)) for d in (first, second)] == [expected, expected]


def test_readings_the_server_never_took_make_the_run_fail(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.script = [503] * 5  # every attempt at the one live reading
    code, output = invoke("--server", receiver.url, "--key", "key-1", "--interval", "2", "--count", "1")
    assert code == 1
    assert "1 readings could not be delivered" in output
