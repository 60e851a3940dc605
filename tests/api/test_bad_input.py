"""Bad input anywhere in the API is a 4xx with a JSON body naming what is wrong, never a 500."""

from __future__ import annotations

from support import World


def post_raw(world: World, path: str, content: str, method: str = "POST") -> tuple[int, object]:
    answer = world.client.request(
        method, path, content=content, headers={**world.auth(), "content-type": "application/json"}
    )
    return answer.status_code, answer.json()


def test_nan_or_infinity_in_a_json_body_is_refused_naming_the_field(world: World) -> None:
    """Python's JSON reader admits NaN and Infinity; the refusal quoted them back and could not
    be written as JSON, so the client got a bare 500 and its connection was dropped."""
    cases = [
        ("/api/v1/sites", '{"name": NaN}', "name"),
        ("/api/v1/devices", '{"site_id": Infinity, "name": "m"}', "site_id"),
        (f"/api/v1/sites/{world.site_a}/payments", '{"amount": "10.00", "method": -Infinity}', "method"),
        ("/api/v1/me/tokens", '{"name": NaN}', "name"),
    ]
    for path, content, field in cases:
        status, body = post_raw(world, path, content)
        assert status == 422, (path, body)
        assert isinstance(body, dict)
        (error,) = body["detail"]
        assert error["loc"] == ["body", field]
        assert error["input"] in ("NaN", "Infinity", "-Infinity")

    status, body = post_raw(world, f"/api/v1/sites/{world.site_a}/budget", '{"limit": Infinity}', method="PUT")
    assert status == 422 and isinstance(body, dict)
    assert [e["loc"] for e in body["detail"]] == [["body", "limit"]]
    # nothing was stored by the refused requests, and the server still answers
    names = [s["name"] for s in world.client.get("/api/v1/sites", headers=world.auth()).json()]
    assert names == ["Home A", "Home B"]
