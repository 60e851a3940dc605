"""Overload cut-off (after Tasmota's MaxPower) and OTA manifests, under MicroPython."""

from __future__ import annotations

import itertools
import json
import socket
import time

from firmware.board import Board, bundle_for, events_of, load, serve_manifest, wait_until

NOWHERE = "http://127.0.0.1:9"  # nothing listens: the meter is offline, which is fine here


def test_sustained_overload_cuts_the_relay_retries_then_locks(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    # 500 W; a 0.1 s inrush spike of 1500 W; then 1500 W for good.
    samples = itertools.chain([load(500.0)] * 3, [load(1500.0)], [load(500.0)] * 3, itertools.repeat(load(1500.0)))
    emulator = meter(samples)
    board.configure(
        server=NOWHERE,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        relay={"max_power_w": 1000, "hold_s": 0.25, "window_s": 0.35, "retries": 1},
    )
    board.start()
    wait_until(lambda: board.seen("relay") >= 3)
    time.sleep(1.0)  # locked: nothing more may happen
    code, events = board.interrupt()
    assert code == 0
    relay = [(e["reason"], e["state"]) for e in events_of(events, "relay")]
    assert relay == [("cut", "off"), ("retry", "on"), ("locked", "off")]
    first_cut = events.index(events_of(events, "relay")[0])
    over = [e for e in events[:first_cut] if e["event"] == "report" and e["power"] > 1000]
    assert len(over) == 2  # the spike (not cut) and the start of the sustained overload


def test_ota_with_a_wrong_hash_is_refused(board: Board, meter, ota_site) -> None:  # type: ignore[no-untyped-def]
    site, base = ota_site
    url = serve_manifest(site, bundle_for(site, base, "0.2.0"), sha256="0" * 64)
    emulator = meter(itertools.repeat(load(60.0)))
    before = (board.flash / "report.py").read_text()
    board.configure(
        server=NOWHERE,
        run_s=0.5,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        ota={"manifest_url": url, "check_s": 3600},
    )
    code, events = board.run()
    assert code == 0  # no reset
    [ota] = events_of(events, "ota")
    assert ota["outcome"] == "refused" and "does not match" in ota["detail"]
    assert (board.flash / "report.py").read_text() == before
    assert json.loads((board.flash / "version.json").read_text())["version"] == "0.1.0"


def test_ota_with_the_right_hash_is_applied_and_the_board_resets(
    board: Board,
    meter,
    ota_site,  # type: ignore[no-untyped-def]
) -> None:
    site, base = ota_site
    url = serve_manifest(site, bundle_for(site, base, "0.2.0"))
    emulator = meter(itertools.repeat(load(60.0)))
    board.configure(
        server=NOWHERE,
        run_s=5,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        ota={"manifest_url": url, "check_s": 3600},
    )
    code, events = board.run()
    assert code == 3  # machine.reset()
    assert events_of(events, "ota") == [{"event": "ota", "outcome": "applied", "detail": "0.2.0"}]
    assert (board.flash / "report.py").read_text().startswith("# firmware 0.2.0")
    assert json.loads((board.flash / "version.json").read_text())["version"] == "0.2.0"


def test_a_loop_stuck_on_a_silent_server_is_reset_by_the_watchdog(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    # A server that accepts the connection and never answers: each post blocks for the
    # HTTP timeout (1 s here), longer than the watchdog allows (0.5 s).
    silent = socket.create_server(("127.0.0.1", 0))
    emulator = meter(itertools.repeat(load(60.0)))
    board.configure(
        server=f"http://127.0.0.1:{silent.getsockname()[1]}",
        http_timeout_s=1,
        watchdog_ms=500,
        run_s=10,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
    )
    try:
        code, events = board.run()
    finally:
        silent.close()
    assert code == 4
    assert events[-1] == {"event": "watchdog_reset"}
    assert events_of(events, "report")  # it was working until the server went silent
