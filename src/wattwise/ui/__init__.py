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
from wattwise.ui import account, appliances, bill, context, energy, login, meter, overview, payments, sites

PAGES = (login, overview, meter, sites, account, energy, bill, payments, appliances)
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


def _nicegui_configured() -> bool:
    return any(getattr(m, "cls", None) is RedirectWithPrefixMiddleware for m in core.app.user_middleware)


def mount_ui(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the dashboard at ``/`` of ``app``; pages use the services ``app`` starts."""
    settings = settings or Settings()
    context.bind(app)
    Storage.path = (Path(settings.data_dir) / "ui").resolve()
    if not _nicegui_configured():
        for page in PAGES:
            page.register()
        ui.run_with(
            app,
            title="Wattwise",
            favicon="⚡",
            dark=None,
            reconnect_timeout=5.0,
            storage_secret=storage_secret(settings),
            show_welcome_message=False,
            tailwind=False,  # its runtime re-scans the page on every live update: seconds of delay at 50 meters
        )
        return
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
