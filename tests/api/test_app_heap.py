"""A long-running server hides its startup heap from the garbage collector and collects its
youngest objects less often; tests' apps do neither."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from wattwise.api.app import YOUNG_GC_THRESHOLD, create_app
from wattwise.runtime import Services


def test_a_server_freezes_what_it_built_at_startup_and_a_plain_app_does_not(sqlite_services: Services) -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        with TestClient(create_app(services=sqlite_services)):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == thresholds
        with TestClient(create_app(services=sqlite_services, freeze_startup_heap=True)) as client:
            assert gc.get_freeze_count() > 10_000  # the app, its routes and every module loaded
            assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *thresholds[1:])
            assert client.get("/api/v1/health").status_code == 200
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
