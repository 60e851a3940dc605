"""A running app with the live detectors attached, as the lead will wire it, for the detector tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from support import World, build_world
from wattwise.api.app import create_app
from wattwise.api.routes import appliances, findings
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.runtime import Services

BATCH = 2000


@dataclass
class LiveWorld:
    world: World
    detectors: Detectors

    def post(self, rows: Sequence[dict[str, Any]], key: str | None = None) -> None:
        """Send readings through POST /api/v1/ingest like a gateway would, in batches."""
        for i in range(0, len(rows), BATCH):
            self.world.ingest(list(rows[i : i + BATCH]), key=key)

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        response = self.world.client.get(path, params=params, headers=self.world.auth(token))
        assert response.status_code == 200, response.text
        return response.json()

    def restart(self) -> None:
        """The service restarts: its detectors detach (saving each meter's live state) and
        fresh ones attach, resuming from it."""
        self.detectors()
        self.detectors = Detectors(self.detectors.services, self.detectors.settings).start()


def app_without_detectors(services: Services) -> FastAPI:
    """The app with its own detectors off (the test attaches its own, to flush and refresh
    them), and the appliances and findings routes served whether or not create_app has them."""
    app = create_app(settings=services.settings.model_copy(update={"detectors": False}), services=services)
    paths = {getattr(route, "path", "") for route in app.router.routes}
    for module in (appliances, findings):
        if not any(getattr(route, "path", None) in paths for route in module.router.routes):
            app.include_router(module.router)
    # the dashboard's catch-all mount stays last, as in create_app
    app.router.routes.sort(key=lambda route: isinstance(route, Mount))
    return app


@contextmanager
def live_world(services: Services, settings: DetectorSettings | None = None) -> Iterator[LiveWorld]:
    world = replace(build_world(services), client=TestClient(app_without_detectors(services)))
    live = LiveWorld(world, Detectors(services, settings).start())
    try:
        with world.client:
            yield live
    finally:
        live.detectors()
