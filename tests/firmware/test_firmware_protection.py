"""Overload cut-off (after Tasmota's MaxPower) and OTA manifests, under MicroPython."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from firmware.board import Board, events_of, load

NOWHERE = "http://127.0.0.1:9"  # nothing listens: the meter is offline, which is fine here


def test_sustained_overload_cuts_the_relay_retries_then_locks(board: Board, meter) -> None:  # type: ignore[no-untyped-def]
    # 500 W; a 0.1 s inrush spike of 1500 W; then 1500 W for good.
    samples = itertools.chain([load(500.0)] * 5, [load(1500.0)], [load(500.0)] * 5, itertools.repeat(load(1500.0)))
    emulator = meter(samples)
    board.configure(
        server=NOWHERE,
        run_s=3.5,
        pzem={"tcp": emulator.url.removeprefix("socket://")},
        relay={"max_power_w": 1000, "hold_s": 0.35, "window_s": 0.5, "retries": 1},
    )
    code, events = board.run()
    assert code == 0
    relay = [(e["reason"], e["state"]) for e in events_of(events, "relay")]
    assert relay == [("cut", "off"), ("retry", "on"), ("locked", "off")]
    first_cut = events.index(events_of(events, "relay")[0])
    over = [e for e in events[:first_cut] if e["event"] == "report" and e["power"] > 1000]
    assert len(over) == 2  # the spike (not cut) and the start of the sustained overload


@pytest.fixture
def ota_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain file server for manifests and firmware bundles."""
    site = tmp_path / "site"
    site.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[method-assign, attr-defined]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def publish(site: Path, base: str, version: str, sha256: str | None = None) -> str:
    """Put a bundle that changes report.py and its manifest on the site."""
    bundle = json.dumps({"files": {"report.py": f"# firmware {version}\nVERSION = '{version}'\n"}})
    (site / f"fw-{version}.json").write_text(bundle)
    digest = sha256 or hashlib.sha256(bundle.encode()).hexdigest()
    manifest = {"version": version, "url": f"{base}/fw-{version}.json", "sha256": digest}
    (site / "manifest.json").write_text(json.dumps(manifest))
    return f"{base}/manifest.json"


def test_ota_with_a_wrong_hash_is_refused(board: Board, meter, ota_site) -> None:  # type: ignore[no-untyped-def]
    site, base = ota_site
    url = publish(site, base, "0.2.0", sha256="0" * 64)
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
    url = publish(site, base, "0.2.0")
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
