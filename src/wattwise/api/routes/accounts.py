"""Accounts over REST: invite people, who belongs to a site with which role, your own tokens and password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import Field
from sqlalchemy import Connection

from wattwise.api.body import BodyIn, Id
from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.api.errors import store_errors
from wattwise.runtime import Services
from wattwise.store import members as member_store
from wattwise.store import tokens as token_store
from wattwise.store.errors import NotFound
from wattwise.store.users import Access, authenticate, create_token, get_user_by_name, grant, set_password

router = APIRouter(tags=["accounts"])


@contextmanager
def writing(services: Services) -> Iterator[Connection]:
    """A transaction whose store errors become clear HTTP answers (404, 409, 422)."""
    with store_errors(), services.engine.begin() as conn:
        yield conn


def require_admin(access: Access) -> None:
    if not access.user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an administrator may do this")


def require_owner(access: Access, site_id: int) -> None:
    """404 for a site the user cannot see (do not confirm it exists), 403 if not its owner."""
    if not access.can_see(site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {site_id}")
    if not access.can_manage(site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the site's owner may do this")


class InviteIn(BodyIn):
    username: str = Field(min_length=1, max_length=100)
    password: str | None = Field(
        default=None, min_length=8, description="Default: a random one, returned once; one given here is not returned"
    )
    is_admin: bool = False
    site_id: Id | None = None
    role: str = Field(default="viewer", description="owner, member or viewer")


class RoleIn(BodyIn):
    role: str = Field(description="owner, member or viewer")


class TokenIn(BodyIn):
    name: str = Field(min_length=1, max_length=100)


class PasswordIn(BodyIn):
    current: str
    new: str = Field(min_length=8)


@router.get("/api/v1/users", summary="Every account (administrators)")
def list_users(access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    require_admin(access)
    with services.engine.connect() as conn:
        return [{"id": a.id, "username": a.username, "is_admin": a.is_admin} for a in member_store.list_accounts(conn)]


@router.post("/api/v1/users", status_code=201, summary="Invite someone (administrators)")
def invite(body: InviteIn, access: AccessDep, services: ServicesDep) -> dict[str, Any]:
    """Create an account, optionally with a role on a site. ``password`` in the answer is the
    first password when the server made it up (returned this once, never stored in clear);
    null when the administrator chose it, which is not sent back."""
    require_admin(access)
    with writing(services) as conn:
        made = member_store.invite_user(
            conn, body.username, site_id=body.site_id, role=body.role, is_admin=body.is_admin, password=body.password
        )
    return {
        "id": made.user.id,
        "username": made.user.username,
        "is_admin": made.user.is_admin,
        "password": made.password,
    }


@router.get("/api/v1/sites/{site_id}/members", summary="Who belongs to a site")
def members(site_id: int, access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    if not access.can_see(site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {site_id}")
    with services.engine.connect() as conn:
        return [
            {"user_id": m.user_id, "username": m.username, "role": m.role}
            for m in member_store.list_members(conn, site_id)
        ]


@router.put("/api/v1/sites/{site_id}/members/{username}", summary="Give someone a role on a site")
def set_member_role(
    site_id: int, username: str, body: RoleIn, access: AccessDep, services: ServicesDep
) -> dict[str, Any]:
    """The role is owner, member or viewer; it replaces any role the person had there."""
    require_owner(access, site_id)
    with writing(services) as conn:
        user = get_user_by_name(conn, username)
        grant(conn, user.id, site_id, body.role)
    return {"user_id": user.id, "username": user.username, "role": body.role}


@router.delete("/api/v1/sites/{site_id}/members/{username}", status_code=204, summary="Remove someone from a site")
def remove_member(site_id: int, username: str, access: AccessDep, services: ServicesDep) -> None:
    require_owner(access, site_id)
    with writing(services) as conn:
        user = get_user_by_name(conn, username)
        if not member_store.remove_member(conn, site_id, user.id):
            raise NotFound(f"{username!r} is not a member of site {site_id}")


@router.get("/api/v1/me/tokens", summary="Your personal API tokens (names only)")
def my_tokens(access: AccessDep, services: ServicesDep) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        return [
            {"id": t.id, "name": t.name, "created_ms": t.created_ms}
            for t in token_store.list_tokens(conn, access.user.id)
        ]


@router.post("/api/v1/me/tokens", status_code=201, summary="New personal API token")
def new_token(body: TokenIn, access: AccessDep, services: ServicesDep) -> dict[str, str]:
    """For scripts, Grafana or Home Assistant; the token is shown in this answer only."""
    with services.engine.begin() as conn:
        return {"name": body.name, "token": create_token(conn, access.user.id, body.name)}


@router.delete("/api/v1/me/tokens/{token_id}", status_code=204, summary="Revoke a personal API token")
def delete_token(token_id: int, access: AccessDep, services: ServicesDep) -> None:
    with services.engine.begin() as conn:
        if not token_store.revoke_token(conn, access.user.id, token_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"you have no token with id {token_id}")


@router.post("/api/v1/me/password", status_code=204, summary="Change your password")
def change_password(body: PasswordIn, access: AccessDep, services: ServicesDep) -> None:
    with writing(services) as conn:
        if authenticate(conn, access.user.username, body.current) is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="current: wrong password")
        set_password(conn, access.user.id, body.new)
