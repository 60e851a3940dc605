"""A World whose app also serves the energy, billing and payment routers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from support import World, build_world
from wattwise.api.app import create_app
from wattwise.api.routes import billing, energy, payments
from wattwise.runtime import Services


def app_with_billing(services: Services) -> FastAPI:
    """The app with our routers in front of the dashboard's catch-all (as app.py will wire them)."""
    app = create_app(services=services)
    before = len(app.router.routes)
    for module in (energy, billing, payments):
        app.include_router(module.router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app


@pytest.fixture
def bw(services: Services) -> Iterator[World]:
    w = build_world(services)
    w.client = TestClient(app_with_billing(services))
    with w.client:
        yield w
