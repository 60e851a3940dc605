"""``wattwise serve``: the API, live channel, dashboard and (optionally) the MQTT listener."""

from __future__ import annotations

import logging

import typer
import uvicorn

from wattwise.api.app import create_app
from wattwise.cli.context import state


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (default 8000)"),
    mqtt: str = typer.Option(None, help="Broker host:port to receive meters over MQTT"),
    mqtt_username: str = typer.Option(None, help="Server's broker login"),
    mqtt_password: str = typer.Option(None, help="Server's broker password"),
) -> None:
    """Run the server until interrupted.

    Example: wattwise serve --port 8000 --mqtt 127.0.0.1:1883
    """
    settings = state(ctx).settings
    updates = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "mqtt": mqtt,
            "mqtt_username": mqtt_username,
            "mqtt_password": mqtt_password,
        }.items()
        if v is not None
    }
    settings = settings.model_copy(update=updates)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )
