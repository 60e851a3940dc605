"""A long-running server hides its startup heap from the garbage collector; tests' apps do not."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from wattwise.api.app import create_app
from wattwise.runtime import Services


def test_a_server_freezes_what_it_built_at_startup_and_a_plain_app_does_not(sqlite_services: Services) -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(services=sqlite_services)):
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(services=sqlite_services, freeze_startup_heap=True)) as client:
            assert gc.get_freeze_count() > 10_000  # the app, its routes and every module loaded
            assert client.get("/api/v1/health").status_code == 200
    finally:
        gc.unfreeze()
