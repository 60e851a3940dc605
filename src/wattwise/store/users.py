"""People, their roles per site, and their personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.schema import api_tokens, memberships, sites, users
from wattwise.store.secrets import new_secret, sha256_hex
from wattwise.store.sites import Site, create_site

SITE_ROLES = ("owner", "member", "viewer")
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Access:
    """What a signed-in user may see: every site (admin) or the listed ones, with a role each."""

    user: User
    roles: dict[int, str]

    def site_ids(self) -> frozenset[int] | None:
        """None means "all sites" (an administrator)."""
        return None if self.user.is_admin else frozenset(self.roles)

    def can_see(self, site_id: int) -> bool:
        return self.user.is_admin or site_id in self.roles

    def can_manage(self, site_id: int) -> bool:
        return self.user.is_admin or self.roles.get(site_id) == "owner"

    def can_operate(self, site_id: int) -> bool:
        """Owners and members may act on meters (switch a relay); viewers only look."""
        return self.user.is_admin or self.roles.get(site_id) in ("owner", "member")


def create_user(conn: Connection, username: str, password: str, *, is_admin: bool = False) -> User:
    if len(password) < 8:
        raise ValueError("password: must be at least 8 characters")
    try:
        result = conn.execute(
            insert(users).values(
                username=username,
                password_hash=_hasher.hash(password),
                is_admin=is_admin,
                created_ms=now_ms(),
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"a user named {username!r} already exists") from exc
    assert result.inserted_primary_key is not None
    return User(id=int(result.inserted_primary_key[0]), username=username, is_admin=is_admin)


def count_users(conn: Connection) -> int:
    return len(conn.execute(select(users.c.id).limit(1)).all())


def get_user(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users.c.id, users.c.username, users.c.is_admin).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return User(id=row.id, username=row.username, is_admin=bool(row.is_admin))


def get_user_by_name(conn: Connection, username: str) -> User:
    row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named {username!r}")
    return get_user(conn, int(row.id))


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The user if the password is right; None otherwise (same answer for unknown names)."""
    row = conn.execute(select(users.c.id, users.c.password_hash).where(users.c.username == username)).first()
    if row is None:
        _hasher.hash(password)  # spend the same time as a real check
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return get_user(conn, int(row.id))


def set_password(conn: Connection, user_id: int, password: str) -> None:
    if len(password) < 8:
        raise ValueError("password: must be at least 8 characters")
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=_hasher.hash(password)))


def grant(conn: Connection, user_id: int, site_id: int, role: str) -> None:
    """Give a user a role on a site (replacing any earlier role there)."""
    if role not in SITE_ROLES:
        raise ValueError(f"role: must be one of {', '.join(SITE_ROLES)}, got {role!r}")
    if conn.execute(select(sites.c.id).where(sites.c.id == site_id)).first() is None:
        raise NotFound(f"no site with id {site_id}")
    conn.execute(delete(memberships).where(memberships.c.user_id == user_id, memberships.c.site_id == site_id))
    conn.execute(insert(memberships).values(user_id=user_id, site_id=site_id, role=role))


def access_for(conn: Connection, user: User) -> Access:
    rows = conn.execute(select(memberships.c.site_id, memberships.c.role).where(memberships.c.user_id == user.id))
    return Access(user=user, roles={int(r.site_id): str(r.role) for r in rows})


def create_token(conn: Connection, user_id: int, name: str) -> str:
    """A personal API token for scripts, Grafana or Home Assistant; shown once."""
    token = new_secret("wwt")
    conn.execute(
        insert(api_tokens).values(user_id=user_id, name=name, token_hash=sha256_hex(token), created_ms=now_ms())
    )
    return token


def user_for_token(conn: Connection, token: str) -> User | None:
    row = conn.execute(select(api_tokens.c.user_id).where(api_tokens.c.token_hash == sha256_hex(token))).first()
    return None if row is None else get_user(conn, int(row.user_id))


def create_owned_site(conn: Connection, user_id: int, name: str, *, timezone: str, currency: str) -> Site:
    """Create a site whose creator becomes its owner (the dashboard and the REST API alike)."""
    site = create_site(conn, name, timezone=timezone, currency=currency)
    grant(conn, user_id, site.id, "owner")
    return site
