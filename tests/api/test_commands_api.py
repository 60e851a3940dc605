"""A user switches a meter's relay from Wattwise; the meter gets it once and its answer comes back once."""

from __future__ import annotations

from support import World


def test_a_relay_command_rides_on_the_ingest_answer_until_the_meter_reports(world: World) -> None:
    issued = world.client.post(
        f"/api/v1/devices/{world.meter_a}/commands", json={"action": "relay_off"}, headers=world.auth()
    )
    assert issued.status_code == 201 and issued.json()["status"] == "pending"
    command_id = issued.json()["id"]
    first = world.ingest({"power": 2500.0})
    assert first["commands"] == [{"id": str(command_id), "action": "relay_off"}]
    again = world.ingest({"power": 2400.0})  # not answered yet: handed over again (the device dedupes)
    assert again["commands"] == first["commands"]
    assert "commands" not in world.ingest({"power": 1.0}, key=world.key_b)  # not the other meter's

    device = {"Authorization": f"Bearer {world.key_a}"}
    report = world.client.post(
        f"/api/v1/commands/{command_id}/result",
        json={"ok": True, "relay": "off", "detail": "relay switched off"},
        headers=device,
    )
    assert report.status_code == 200 and report.json()["recorded"] is True
    repeat = world.client.post(
        f"/api/v1/commands/{command_id}/result",
        json={"ok": False, "relay": "on", "detail": "late copy"},
        headers=device,
    )
    assert repeat.json()["recorded"] is False and repeat.json()["relay"] == "off"
    assert "commands" not in world.ingest({"power": 0.0})

    history = world.client.get(f"/api/v1/devices/{world.meter_a}/commands", headers=world.auth()).json()
    assert [(c["action"], c["status"], c["relay"], c["requested_by"]) for c in history] == [
        ("relay_off", "done", "off", "admin")
    ]


def test_viewers_cannot_command_and_meters_cannot_answer_for_others(world: World) -> None:
    viewer = world.client.post(
        f"/api/v1/devices/{world.meter_a}/commands",
        json={"action": "relay_off"},
        headers=world.auth(world.viewer_token),
    )
    assert viewer.status_code == 403
    unknown = world.client.post(
        f"/api/v1/devices/{world.meter_a}/commands", json={"action": "explode"}, headers=world.auth()
    )
    assert unknown.status_code == 422
    command_id = world.client.post(
        f"/api/v1/devices/{world.meter_a}/commands", json={"action": "reset_energy"}, headers=world.auth()
    ).json()["id"]
    other = world.client.post(
        f"/api/v1/commands/{command_id}/result", json={"ok": True}, headers={"Authorization": f"Bearer {world.key_b}"}
    )
    assert other.status_code == 404


def test_an_ota_manifest_is_published_by_an_admin_and_read_by_meters(world: World) -> None:
    device = {"Authorization": f"Bearer {world.key_a}"}
    assert world.client.get("/api/v1/firmware/manifest", headers=device).status_code == 404
    manifest = {"version": "1.2.0", "url": "http://10.0.0.2/fw-1.2.0.tar", "sha256": "ab" * 32}
    assert (
        world.client.put("/api/v1/firmware/manifest", json=manifest, headers=world.auth(world.viewer_token)).status_code
        == 403
    )
    assert world.client.put("/api/v1/firmware/manifest", json=manifest, headers=world.auth()).status_code == 200
    assert world.client.get("/api/v1/firmware/manifest", headers=device).json() == manifest
