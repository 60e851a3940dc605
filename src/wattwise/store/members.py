"""Who belongs to a site, with which role; and every account, for the administrator's list."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from wattwise.store.schema import memberships, users
from wattwise.store.users import User, create_user, grant


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    username: str
    role: str


def list_members(conn: Connection, site_id: int) -> list[Member]:
    """The site's members by name; administrators see every site without being members."""
    rows = conn.execute(
        select(users.c.id, users.c.username, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.site_id == site_id)
        .order_by(users.c.username)
    )
    return [Member(user_id=int(r.id), username=str(r.username), role=str(r.role)) for r in rows]


def list_accounts(conn: Connection) -> list[User]:
    rows = conn.execute(select(users.c.id, users.c.username, users.c.is_admin).order_by(users.c.username))
    return [User(id=int(r.id), username=str(r.username), is_admin=bool(r.is_admin)) for r in rows]


def remove_member(conn: Connection, site_id: int, user_id: int) -> bool:
    """Take the user's role on the site away; False when they had none."""
    result = conn.execute(delete(memberships).where(memberships.c.site_id == site_id, memberships.c.user_id == user_id))
    return result.rowcount > 0


@dataclass(frozen=True, slots=True)
class Invitation:
    """A new account, and the first password when it was made up here (to be shown once to
    whoever invited them); None when the inviter chose it: they know it, and echoing it back
    would only put it in another log or screen."""

    user: User
    password: str | None


def invite_user(
    conn: Connection,
    username: str,
    *,
    site_id: int | None = None,
    role: str = "viewer",
    is_admin: bool = False,
    password: str | None = None,
) -> Invitation:
    """Create an account (a random first password unless given, returned only then) and give it
    a role on a site."""
    if not username.strip():
        raise ValueError("username: must not be empty")
    first = secrets.token_urlsafe(12) if password is None else password
    user = create_user(conn, username.strip(), first, is_admin=is_admin)
    if site_id is not None:
        grant(conn, user.id, site_id, role)
    return Invitation(user=user, password=first if password is None else None)
