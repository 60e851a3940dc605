"""Anyone signed in may create a site; its creator owns it and may add its meters."""

from __future__ import annotations

from support import World


def test_the_creator_of_a_site_owns_it_and_can_add_a_meter(world: World) -> None:
    viewer = world.auth(world.viewer_token)
    made = world.client.post(
        "/api/v1/sites", json={"name": "Hostel", "timezone": "Asia/Kolkata", "currency": "INR"}, headers=viewer
    )
    assert made.status_code == 201, made.text
    site_id = made.json()["id"]
    roles = {s["name"]: s["role"] for s in world.client.get("/api/v1/sites", headers=viewer).json()}
    assert roles == {"Home A": "viewer", "Hostel": "owner"}
    meter = world.client.post("/api/v1/devices", json={"site_id": site_id, "name": "Room 1"}, headers=viewer)
    assert meter.status_code == 201 and meter.json()["key"].startswith("wwd_")


def test_a_taken_name_and_an_unknown_time_zone_are_refused_by_name(world: World) -> None:
    taken = world.client.post("/api/v1/sites", json={"name": "Home A"}, headers=world.auth())
    assert taken.status_code == 409 and "Home A" in taken.json()["detail"]
    zone = world.client.post("/api/v1/sites", json={"name": "X", "timezone": "Mars/Olympus"}, headers=world.auth())
    assert zone.status_code == 422 and "timezone" in zone.json()["detail"]
