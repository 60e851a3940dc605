"""An OTA manifest published through Wattwise's REST API reaches the firmware (HTTP and MQTT);
a wrong hash is refused, the right one applied."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from firmware.board import Board, bundle_for, events_of, load, wait_until
from firmware.live_server import LiveServer
from support import need_service


def test_over_http_a_wrong_hash_is_refused_then_the_right_one_applied(
    board: Board,
    meter,  # type: ignore[no-untyped-def]
    ota_site: tuple[Path, str],
    tmp_path: Path,
) -> None:
    site, base = ota_site
    manifest = bundle_for(site, base, "0.3.0")
    server = LiveServer(tmp_path / "wattwise.db")
    [(device_id, key)] = server.add_devices("esp32")
    server.start()
    try:
        server.publish_manifest({**manifest, "sha256": "ab" * 32})
        emulator = meter(itertools.repeat(load(60.0)))
        board.configure(
            device_id=device_id,
            key=key,
            server=server.url,
            run_s=1.0,
            pzem={"tcp": emulator.url.removeprefix("socket://")},
            ota={"manifest_url": f"{server.url}/api/v1/firmware/manifest", "check_s": 3600},
        )
        code, events = board.run()
        assert code == 0
        [refused] = events_of(events, "ota")
        assert refused["outcome"] == "refused"
        assert json.loads((board.flash / "version.json").read_text())["version"] == "0.1.0"

        server.publish_manifest(manifest)
        code, events = board.run()
    finally:
        server.stop()
    assert code == 3  # applied, then machine.reset()
    assert events_of(events, "ota")[0]["outcome"] == "applied"
    assert json.loads((board.flash / "version.json").read_text())["version"] == "0.3.0"


def test_over_mqtt_the_retained_manifest_with_a_wrong_hash_is_refused(
    board: Board,
    meter,  # type: ignore[no-untyped-def]
    ota_site: tuple[Path, str],
    tmp_path: Path,
) -> None:
    need_service("127.0.0.1", 1883, "Mosquitto")
    site, base = ota_site
    server = LiveServer(tmp_path / "wattwise.db", mqtt="127.0.0.1:1883")
    [(device_id, key)] = server.add_devices("esp32")
    server.start()
    try:
        server.publish_manifest({**bundle_for(site, base, "0.3.0"), "sha256": "cd" * 32})
        emulator = meter(load(300.0 + 20 * (i % 2)) for i in itertools.count())  # reports each poll
        board.configure_mqtt(device_id, key, emulator.url)
        board.start()
        wait_until(lambda: len(server.readings(device_id)) >= 3)  # subscribed, several loops done
        code, events = board.interrupt()
    finally:
        server.stop()
    assert code == 0
    [refused] = events_of(events, "ota")
    assert refused["outcome"] == "refused" and "does not match" in refused["detail"]
    assert json.loads((board.flash / "version.json").read_text())["version"] == "0.1.0"
