"""The FastAPI application factory: one app for the REST API, the live channel and the dashboard."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from wattwise import __version__
from wattwise.api import live
from wattwise.api.errors import RefuseUnknownQuery, answer_invalid_request, answer_unknown_api_path, answer_unstorable
from wattwise.api.routes import (
    accounts,
    alerts,
    appliances,
    auth,
    billing,
    commands,
    devices,
    energy,
    export,
    findings,
    ingest,
    legacy,
    meter_roles,
    metrics,
    payments,
    reports,
    series,
    sessions,
)
from wattwise.bus_link import BusLink
from wattwise.config import Settings
from wattwise.consumers import Consumers
from wattwise.ingest.mqtt import MqttIngest
from wattwise.integrations import home_assistant
from wattwise.runtime import Services, start_services
from wattwise.ui import mount_ui

DESCRIPTION = """Self-hosted electricity monitoring.

Meters authenticate with their **device key** (`Authorization: Bearer wwd_…`); people and
tools with a **personal API token** (`Authorization: Bearer wwt_…`, from `POST /api/v1/auth/token`).
Times are Unix milliseconds (UTC) unless stated.
"""

#: Objects the youngest generation may hold before a collection in a server process (Python: 700).
YOUNG_GC_THRESHOLD = 50_000


def create_app(
    settings: Settings | None = None, services: Services | None = None, *, freeze_startup_heap: bool = False
) -> FastAPI:
    """Build the app; it opens the database (and MQTT, if configured) when it starts.

    ``freeze_startup_heap`` (for a long-running server process, not for tests that build many
    apps) moves everything alive once started out of the garbage collector's sight. Those
    hundreds of thousands of objects (FastAPI, SQLAlchemy, pydantic, the dashboard) live as
    long as the process, yet every full collection scanned them all: under batch ingest, which
    allocates a few thousand objects a request, that was a third of the server's time. It
    also lets the youngest generation grow to ``YOUNG_GC_THRESHOLD`` objects before a
    collection instead of Python's 700: a 1,000-reading upload allocates tens of thousands
    of objects that die with its request, and the collections they set off (each also
    counting towards the older generations') were still ~5% of the server's CPU per reading
    (docs/benchmarks.md, third round).
    """
    settings = settings or (services.settings if services else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        svc = services or start_services(settings)
        app.state.services = svc
        link = BusLink.from_settings(svc.bus, settings).start() if settings.bus_link else None
        app.state.link = link
        mqtt = MqttIngest.from_settings(svc) if settings.mqtt else None
        # before the connection opens: it sets the connection's last will (HA's "offline")
        say_offline = home_assistant.attach(svc, mqtt) if mqtt is not None and settings.ha_discovery else None
        if mqtt is not None:
            mqtt.start()
        consumers = Consumers(
            svc, detectors=settings.detectors, alerts=settings.alerts, retry_s=settings.lead_retry_s
        ).start()
        app.state.consumers = consumers
        if freeze_startup_heap:
            gc.collect()
            gc.freeze()
            gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            if say_offline is not None:
                say_offline()
            if mqtt is not None:
                mqtt.stop()
            consumers.stop()  # the detectors save each meter's live state: needs the writer still running
            if link is not None:
                link.stop()
            if own:
                svc.close()

    app = FastAPI(title="Wattwise", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    answer_unstorable(app)
    answer_invalid_request(app)
    routes = (
        ingest,
        legacy,
        series,
        devices,
        commands,
        auth,
        sessions,
        accounts,
        meter_roles,
        energy,
        reports,
        billing,
        payments,
        metrics,
        appliances,
        findings,
        alerts,
        export,
    )
    # The routes join the app's own list rather than through include_router: this FastAPI
    # wraps each included router in a matcher that costs ~70 µs per router per request, which
    # with 17 routers was most of the time of a single-reading upload. Our routers carry no
    # include-time options (prefixes and tags are set on the routes themselves).
    for module in (*routes, live):
        app.router.routes.extend(module.router.routes)

    @app.get("/api/v1/health", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    answer_unknown_api_path(app)  # after every API route: the rest of /api/ in JSON, not the dashboard's HTML
    app.add_middleware(RefuseUnknownQuery, router=app.router)
    mount_ui(app, settings)  # last: the dashboard answers every path the API does not
    return app
