"""``wattwise devices emulate``: a recorded CSV served as a PZEM on a TCP bridge or a pty."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner

from support import free_port
from wattwise.cli.devices import app
from wattwise.devices.emulator import readings_from_csv
from wattwise.devices.pzem import PzemBus, PzemTimeout

FIXTURES = Path(__file__).parent.parent / "fixtures" / "devices"
LAMP = FIXTURES / "ompm_meter4_incandescent_lamp_300.csv"


def run_in_background(args: list[str]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(CliRunner().invoke(app, args)))
    thread.start()
    return thread, out


def test_emulate_serves_the_recording_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    thread, out = run_in_background(
        ["emulate", "--csv", str(LAMP), "--tcp", f"127.0.0.1:{port}", "--duration", "1.5", "--idle-current", "-1"]
    )
    bus = None
    for _ in range(100):
        try:
            bus = PzemBus(f"socket://127.0.0.1:{port}", timeout_s=0.5)
            break
        except Exception:
            threading.Event().wait(0.02)
    assert bus is not None
    first = bus.read(1)
    recorded = next(readings_from_csv(LAMP))
    assert (first.voltage, first.current, first.power) == (recorded.voltage, recorded.current, recorded.power)
    bus.close()
    thread.join()
    result = out[0]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert f"on socket://127.0.0.1:{port}" in result.output  # type: ignore[attr-defined]


def test_emulate_on_a_pty_answers_only_its_addresses(tmp_path: Path) -> None:
    link = tmp_path / "pzem0"
    thread, out = run_in_background(
        ["emulate", "--csv", str(LAMP), "--csv", str(LAMP), "--pty", str(link), "--duration", "1.2"]
    )
    for _ in range(200):
        if link.exists():
            break
        threading.Event().wait(0.01)
    with PzemBus(str(link), timeout_s=0.3) as bus:
        assert bus.read(2).voltage > 200
        try:
            bus.read(3)
            raise AssertionError("address 3 should not answer")
        except PzemTimeout:
            pass
    thread.join()
    assert "at address 1, 2" in out[0].output  # type: ignore[attr-defined]


def test_bad_fault_names_are_refused_with_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["emulate", "--csv", str(LAMP), "--tcp", "127.0.0.1:0", "--faults", "fire=0.1"])
    assert result.exit_code != 0
    assert "no_reply" in result.output and "bad_crc" in result.output


def test_a_recording_that_is_missing_or_unusable_is_named_without_a_traceback(tmp_path: Path) -> None:
    """``--csv`` of a file that is not there ended in FileNotFoundError's traceback."""
    missing = CliRunner().invoke(app, ["emulate", "--csv", str(tmp_path / "none.csv"), "--tcp", "127.0.0.1:0"])
    assert missing.exit_code == 2
    assert isinstance(missing.exception, SystemExit), missing.exception
    boxed = missing.output.replace("│", "")  # typer's error box wraps a long path at the terminal's width
    assert "none.csv" in "".join(boxed.split()) and "does not exist" in " ".join(boxed.split())
    odd = tmp_path / "odd.csv"
    odd.write_text("when,what\n1,2\n")
    unusable = CliRunner().invoke(app, ["emulate", "--csv", str(odd), "--tcp", "127.0.0.1:0"])
    assert unusable.exit_code == 2
    assert isinstance(unusable.exception, SystemExit), unusable.exception
    assert "odd.csv:nopowerorcurrentcolumn" in "".join(unusable.output.replace("│", "").split())
