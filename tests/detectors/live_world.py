"""A running app with the live detectors attached, as the lead will wire it, for the detector tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.routing import Mount

from support import World, build_world
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


@contextmanager
def live_world(services: Services, settings: DetectorSettings | None = None) -> Iterator[LiveWorld]:
    world = build_world(services)
    app = world.client.app
    app.include_router(appliances.router)  # type: ignore[attr-defined]
    app.include_router(findings.router)  # type: ignore[attr-defined]
    # the dashboard's catch-all mount stays last, as in create_app
    app.router.routes.sort(key=lambda route: isinstance(route, Mount))  # type: ignore[attr-defined]
    detectors = Detectors(services, settings).start()
    try:
        with world.client:
            yield LiveWorld(world, detectors)
    finally:
        detectors()
