"""Fixtures shared by the whole suite: real databases, a running app, meters and users."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from support import PG_ADMIN_URL, World, build_world, need_service
from wattwise.config import Settings
from wattwise.runtime import Services, start_services
from wattwise.store.schema import metadata

#: The group of test files that use the machine's own Mosquitto (127.0.0.1:1883). A server
#: there takes a share of the broker's shared subscription, so two such files at once would
#: take each other's meters' readings: they run on one worker, one after another.
SHARED_BROKER = "shared-broker"


@functools.cache
def _uses_the_broker(path: Path) -> bool:
    source = path.read_text(encoding="utf-8").lower()
    return "mqtt" in source or "1883" in source


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``make test`` runs on several workers (pytest-xdist, ``--dist loadgroup``): a file's tests
    stay together (its module fixtures are set up once) and the broker's files share one group."""
    for item in items:
        group = SHARED_BROKER if _uses_the_broker(item.path) else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    need_service("127.0.0.1", 5432, "PostgreSQL")
    import psycopg

    name = f"wattwise_test_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on the embedded SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wattwise.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = start_services(Settings(database=database_url, data_dir=tmp_path))
    if database_url.startswith("postgresql"):
        with svc.engine.begin() as conn:
            tables = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield svc
    svc.close()


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    """Services on SQLite only, for API behaviour that does not depend on the database."""
    svc = start_services(Settings(database=f"sqlite:///{tmp_path / 'api.db'}", data_dir=tmp_path))
    yield svc
    svc.close()


@pytest.fixture
def world(sqlite_services: Services) -> Iterator[World]:
    w = build_world(sqlite_services)
    with w.client:
        yield w
