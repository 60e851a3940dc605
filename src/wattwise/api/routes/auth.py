"""Exchange a username and password for a personal API token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import Field

from wattwise.api.body import BodyIn
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.store.users import authenticate, create_token

router = APIRouter(tags=["accounts"])


class TokenIn(BodyIn):
    username: str
    password: str
    name: str = Field(default="api", min_length=1, max_length=100)


@router.post("/api/v1/auth/token", status_code=201)
def issue_token(body: TokenIn, services: ServicesDep) -> dict[str, str]:
    """A new personal API token for scripts, Grafana or Home Assistant (shown once)."""
    with services.engine.begin() as conn:
        user = authenticate(conn, body.username, body.password)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
        return {"token": create_token(conn, user.id, body.name), "username": user.username}


@router.get("/api/v1/me")
def me(access: AccessDep) -> dict[str, object]:
    return {
        "username": access.user.username,
        "is_admin": access.user.is_admin,
        "sites": {str(site): role for site, role in access.roles.items()},
    }
