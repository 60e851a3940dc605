"""Accounts over REST: browser sessions, invitations, site members, personal tokens, passwords, meter roles."""

from __future__ import annotations

from support import World
from wattwise.api.deps import SESSION_COOKIE


def sign_in(world: World, username: str, password: str) -> str:
    response = world.client.post("/api/v1/session", json={"username": username, "password": password})
    assert response.status_code == 204, response.text
    return response.cookies[SESSION_COOKIE]


def test_signing_in_sets_an_httponly_samesite_cookie_the_api_accepts(world: World) -> None:
    response = world.client.post("/api/v1/session", json={"username": "viewer", "password": "viewer-password"})
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    me = world.client.get("/api/v1/me")  # the client now holds the cookie
    assert me.json()["username"] == "viewer"


def test_a_wrong_password_gets_no_session(world: World) -> None:
    response = world.client.post("/api/v1/session", json={"username": "viewer", "password": "guess-guess"})
    assert response.status_code == 401
    assert SESSION_COOKIE not in response.cookies


def test_the_sign_in_form_redirects_back_with_an_error_or_onwards(world: World) -> None:
    bad = world.client.post(
        "/api/v1/session",
        data={"username": "admin", "password": "nope-nope", "next": "/sites"},
        follow_redirects=False,
    )
    assert bad.status_code == 303
    assert bad.headers["location"] == "/login?error=1&next=/sites"
    good = world.client.post(
        "/api/v1/session",
        data={"username": "admin", "password": "admin-password", "next": "/sites"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/sites"


def test_sign_in_never_redirects_to_another_site(world: World) -> None:
    for target in ("https://evil.example/", "//evil.example/"):
        response = world.client.post(
            "/api/v1/session",
            data={"username": "admin", "password": "admin-password", "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/", target


def test_signing_out_ends_the_session_everywhere(world: World) -> None:
    token = sign_in(world, "viewer", "viewer-password")
    out = world.client.post("/api/v1/session/logout", follow_redirects=False)
    assert out.status_code == 204
    world.client.cookies.clear()
    assert world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_live_websocket_accepts_the_browser_session(world: World) -> None:
    sign_in(world, "viewer", "viewer-password")
    with world.client.websocket_connect("/api/v1/live") as ws:
        world.ingest({"power": 42.0}, key=world.key_b)  # another site's meter: not for this viewer
        world.ingest({"power": 41.0}, key=world.key_a)
        message = ws.receive_json()
    assert [r["device_id"] for r in message["data"]] == [world.meter_a]


def test_an_admin_invites_someone_who_can_then_sign_in(world: World) -> None:
    response = world.client.post(
        "/api/v1/users",
        json={"username": "warden", "site_id": world.site_b, "role": "member"},
        headers=world.auth(),
    )
    assert response.status_code == 201, response.text
    password = response.json()["password"]
    token = sign_in(world, "warden", password)
    sites = world.client.get("/api/v1/sites", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(s["name"], s["role"]) for s in sites] == [("Home B", "member")]


def test_a_password_the_admin_chose_is_not_sent_back(world: World) -> None:
    """Only a password the server made up is returned (once); one the administrator typed is theirs already."""
    chosen = "the warden's own secret"
    response = world.client.post("/api/v1/users", json={"username": "warden", "password": chosen}, headers=world.auth())
    assert response.status_code == 201, response.text
    assert chosen not in response.text
    assert response.json()["password"] is None
    sign_in(world, "warden", chosen)


def test_only_an_admin_may_invite(world: World) -> None:
    response = world.client.post("/api/v1/users", json={"username": "x"}, headers=world.auth(world.viewer_token))
    assert response.status_code == 403
    assert world.client.get("/api/v1/users", headers=world.auth(world.viewer_token)).status_code == 403


def test_inviting_a_taken_name_is_a_conflict(world: World) -> None:
    response = world.client.post("/api/v1/users", json={"username": "viewer"}, headers=world.auth())
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_members_of_a_site_and_their_roles(world: World) -> None:
    members = world.client.get(f"/api/v1/sites/{world.site_a}/members", headers=world.auth(world.viewer_token))
    assert members.json() == [{"user_id": 2, "username": "viewer", "role": "viewer"}]
    assert (
        world.client.get(f"/api/v1/sites/{world.site_b}/members", headers=world.auth(world.viewer_token)).status_code
        == 404
    )


def test_the_owner_changes_roles_and_a_viewer_cannot(world: World) -> None:
    url = f"/api/v1/sites/{world.site_a}/members/viewer"
    assert world.client.put(url, json={"role": "owner"}, headers=world.auth(world.viewer_token)).status_code == 403
    assert world.client.put(url, json={"role": "member"}, headers=world.auth()).json()["role"] == "member"
    bad = world.client.put(url, json={"role": "king"}, headers=world.auth())
    assert bad.status_code == 422
    assert "owner, member, viewer" in bad.json()["detail"]
    assert world.client.delete(url, headers=world.auth()).status_code == 204
    assert world.client.get("/api/v1/sites", headers=world.auth(world.viewer_token)).json() == []


def test_personal_tokens_are_listed_by_name_and_revoked(world: World) -> None:
    made = world.client.post("/api/v1/me/tokens", json={"name": "grafana"}, headers=world.auth(world.viewer_token))
    token = made.json()["token"]
    listed = world.client.get("/api/v1/me/tokens", headers=world.auth(token)).json()
    grafana = next(t for t in listed if t["name"] == "grafana")
    assert "token" not in grafana
    assert world.client.delete(f"/api/v1/me/tokens/{grafana['id']}", headers=world.auth(token)).status_code == 204
    assert world.client.get("/api/v1/me", headers=world.auth(token)).status_code == 401


def test_changing_the_password_needs_the_current_one(world: World) -> None:
    url = "/api/v1/me/password"
    wrong = world.client.post(url, json={"current": "not-it-at-all", "new": "brand-new-pass"}, headers=world.auth())
    assert wrong.status_code == 403
    ok = world.client.post(url, json={"current": "admin-password", "new": "brand-new-pass"}, headers=world.auth())
    assert ok.status_code == 204
    sign_in(world, "admin", "brand-new-pass")


def test_a_meter_is_marked_main_or_sub_by_the_owner_only(world: World) -> None:
    sub = world.client.post(
        "/api/v1/devices", json={"site_id": world.site_a, "name": "kitchen"}, headers=world.auth()
    ).json()
    url = f"/api/v1/devices/{sub['id']}/role"
    assert world.client.put(url, json={"role": "sub"}, headers=world.auth()).status_code == 422
    marked = world.client.put(url, json={"role": "sub", "parent_id": world.meter_a}, headers=world.auth()).json()
    assert (marked["role"], marked["parent_id"]) == ("sub", world.meter_a)
    denied = world.client.put(url, json={"role": "main"}, headers=world.auth(world.viewer_token))
    assert denied.status_code == 403
    hidden = world.client.put(
        f"/api/v1/devices/{world.meter_b}/role", json={"role": "main"}, headers=world.auth(world.viewer_token)
    )
    assert hidden.status_code == 404
