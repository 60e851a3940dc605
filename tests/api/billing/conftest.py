"""A World whose app also serves the energy, billing and payment routers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import insert

from support import World
from wattwise.api.app import create_app
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device
from wattwise.store.schema import users
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, grant


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One real argon2 hash for every test user (hashing costs about a second on a busy machine)."""
    return PasswordHasher().hash("test-password")


def billing_world(services: Services, password_hash: str) -> World:
    """support.build_world's installation: sites A (India) and B (UTC), a meter each, an admin and
    a viewer of A (user id 2) — with the users' hash made once per session."""
    with services.engine.begin() as conn:
        a = create_site(conn, "Home A", timezone="Asia/Kolkata")
        b = create_site(conn, "Home B")
        meter_a = create_device(conn, site_id=a.id, name="main")
        meter_b = create_device(conn, site_id=b.id, name="main")
        ids = []
        for name, admin in (("admin", True), ("viewer", False)):
            row = dict(username=name, password_hash=password_hash, is_admin=admin, created_ms=now_ms())
            key = conn.execute(insert(users).values(**row)).inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
        grant(conn, ids[1], a.id, "viewer")
        admin_token, viewer_token = (create_token(conn, uid, "tests") for uid in ids)
    return World(
        client=TestClient(create_app(services=services)),
        services=services,
        site_a=a.id,
        site_b=b.id,
        meter_a=meter_a.device.id,
        meter_b=meter_b.device.id,
        key_a=meter_a.key,
        key_b=meter_b.key,
        admin_token=admin_token,
        viewer_token=viewer_token,
    )


@pytest.fixture
def bw(services: Services, password_hash: str) -> Iterator[World]:
    """On SQLite and on PostgreSQL."""
    w = billing_world(services, password_hash)
    with w.client:
        yield w


@pytest.fixture
def bw_sqlite(sqlite_services: Services, password_hash: str) -> Iterator[World]:
    """On SQLite only: for answers (permissions, validation) that do not depend on the database."""
    w = billing_world(sqlite_services, password_hash)
    with w.client:
        yield w
