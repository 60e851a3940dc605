"""History over REST: bounded buckets, the right tier, and only for meters you may see."""

from __future__ import annotations

from support import World

T0 = 1_764_000_000_000


def test_series_returns_at_most_the_points_asked_for_with_min_mean_max(world: World) -> None:
    world.ingest([{"ts": T0 + i * 2000, "power": float(i % 100)} for i in range(5000)])
    response = world.client.get(
        f"/api/v1/devices/{world.meter_a}/series",
        params={"metric": "power", "start": T0, "end": T0 + 10_000_000, "points": 100},
        headers=world.auth(),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["ts"]) <= 100 and body["tier"] in ("raw", "1m", "1h")
    assert sum(body["count"]) == 5000
    assert min(body["min"]) == 0.0 and max(body["max"]) == 99.0
    assert all(lo <= mean <= hi for lo, mean, hi in zip(body["min"], body["mean"], body["max"], strict=True))


def test_series_rejects_unknown_metric_and_reversed_range_clearly(world: World) -> None:
    url = f"/api/v1/devices/{world.meter_a}/series"
    bad_metric = world.client.get(url, params={"metric": "watts"}, headers=world.auth())
    assert bad_metric.status_code == 422 and "metric" in bad_metric.json()["detail"]
    reversed_ = world.client.get(url, params={"start": T0, "end": T0 - 1}, headers=world.auth())
    assert reversed_.status_code == 422 and "end" in reversed_.json()["detail"]
    bad_time = world.client.get(url, params={"start": "last tuesday"}, headers=world.auth())
    assert bad_time.status_code == 422 and "start" in bad_time.json()["detail"]


def test_a_viewer_sees_only_the_meters_of_their_sites(world: World) -> None:
    viewer = world.auth(world.viewer_token)
    listed = world.client.get("/api/v1/devices", headers=viewer).json()
    assert [d["id"] for d in listed] == [world.meter_a]
    other = world.client.get(f"/api/v1/devices/{world.meter_b}/series", headers=viewer)
    assert other.status_code == 404
    assert world.client.get(f"/api/v1/devices/{world.meter_a}/series", headers=viewer).status_code == 200
    assert world.client.post(f"/api/v1/devices/{world.meter_a}/rotate-key", headers=viewer).status_code == 403
    assert world.client.get("/api/v1/devices").status_code == 401


def test_a_token_is_issued_for_the_right_password_only(world: World) -> None:
    wrong = world.client.post("/api/v1/auth/token", json={"username": "viewer", "password": "nope"})
    assert wrong.status_code == 401
    right = world.client.post("/api/v1/auth/token", json={"username": "viewer", "password": "viewer-password"})
    assert right.status_code == 201
    me = world.client.get("/api/v1/me", headers=world.auth(right.json()["token"])).json()
    assert me["username"] == "viewer" and me["sites"] == {str(world.site_a): "viewer"}
