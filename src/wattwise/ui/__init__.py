"""The web dashboard: NiceGUI pages mounted on the same FastAPI app as the REST API.

``mount_ui(app)`` is the one entry point. NiceGUI is a single app per process: the first
call (and the first after NiceGUI's test fixtures reset it) registers the pages and runs
``ui.run_with``; later calls (tests build many apps) mount the same NiceGUI app again.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from nicegui import core, ui
from nicegui.middlewares import RedirectWithPrefixMiddleware
from nicegui.nicegui import _shutdown, _startup
from nicegui.storage import Storage

from wattwise.config import Settings
from wattwise.ui import account, appliances, bill, context, energy, findings, login, meter, overview, payments, sites

PAGES = (login, overview, meter, sites, account, energy, bill, payments, appliances, findings)
SECRET_FILE = "ui-storage-secret"


def storage_secret(settings: Settings) -> str:
    """The configured secret, or one made at first start and kept under the data directory."""
    configured = getattr(settings, "storage_secret", "")
    if isinstance(configured, str) and configured:
        return configured
    path = Path(settings.data_dir) / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


RUN_OPTIONS: dict[str, Any] = {
    "title": "Wattwise",
    "favicon": "⚡",
    "dark": None,  # follow the device; the header button overrides it per browser
    "reconnect_timeout": 5.0,
    "show_welcome_message": False,
    "tailwind": False,  # its runtime re-scans the page on every live update: seconds of delay at 50 meters
}


def _nicegui_configured() -> bool:
    return any(getattr(m, "cls", None) is RedirectWithPrefixMiddleware for m in core.app.user_middleware)


def _pages_registered() -> bool:
    return any(getattr(route, "path", None) == "/login" for route in core.app.routes)


def mount_ui(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the dashboard at ``/`` of ``app``; pages use the services ``app`` starts."""
    settings = settings or Settings()
    context.bind(app)
    Storage.path = (Path(settings.data_dir) / "ui").resolve()
    if not _nicegui_configured():
        for page in PAGES:
            page.register()
        ui.run_with(app, storage_secret=storage_secret(settings), **RUN_OPTIONS)
        return
    # NiceGUI already serves another app of this process, or its test fixtures reset part of it.
    if not _pages_registered():
        for page in PAGES:
            page.register()
    if not core.app.config.has_run_config:
        core.app.config.add_run_config(
            reload=False,
            viewport="width=device-width, initial-scale=1",
            language="en-US",
            binding_refresh_interval=0.1,
            message_history_length=1000,
            prod_js=True,
            **RUN_OPTIONS,
        )
    app.mount("/", core.app)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        await _startup()
        try:
            async with inner(started) as state:
                yield state
        finally:
            await _shutdown()

    app.router.lifespan_context = lifespan
