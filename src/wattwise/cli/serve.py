"""``wattwise serve``: the API, live channel, dashboard and (optionally) the MQTT listener."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import typer
import uvicorn
from pydantic import ValidationError

from wattwise.api.app import create_app
from wattwise.cli.context import state, transaction
from wattwise.config import Settings
from wattwise.store.members import invite_user
from wattwise.store.users import count_users

#: The flag of a setting, where it is not ``--`` and the setting's name with dashes.
_FLAGS = {"bus_link": "--link"}


def with_flags(settings: Settings, given: dict[str, Any]) -> Settings:
    """``settings`` with the command line's values, checked by the same validators as the
    environment's; a value they refuse is named by its flag, before anything starts."""
    try:
        return Settings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        name = str(error["loc"][0])
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        raise typer.BadParameter(error["msg"].removeprefix("Value error, "), param_hint=flag) from None


def refuse_busy_port(host: str, port: int) -> None:
    """Stop, naming ``--port``, when the address cannot be listened on, before anything starts.

    uvicorn finds out only after the app has started, and then ``demo`` had already printed
    "running at" with a login and a key for an address where another server answers.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        reason = f"{host!r} is no address of this machine ({exc.strerror})"
        raise typer.BadParameter(reason, param_hint="--host") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = f"{host}:{port} is in use (another server listens there); choose another port"
            else:
                reason = f"cannot listen on {host}:{port}: {exc.strerror}"
            flag = "--host" if exc.errno == errno.EADDRNOTAVAIL else "--port"
            raise typer.BadParameter(reason, param_hint=flag) from None


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (default 8000)"),
    mqtt: str = typer.Option(None, help="Broker host:port to receive meters over MQTT"),
    mqtt_username: str = typer.Option(None, help="Server's broker login"),
    mqtt_password: str = typer.Option(None, help="Server's broker password"),
    link: str = typer.Option(
        None, help="Broker host:port joining this process to the other server processes (docs/scale.md)"
    ),
    detectors: bool = typer.Option(None, "--detectors/--no-detectors", help="Run the live detectors here"),
    alerts: bool = typer.Option(None, "--alerts/--no-alerts", help="Run the alert engine here"),
    public_url: str = typer.Option(
        None, help="The dashboard's address as people open it (https://wattwise.example.org): notices link there"
    ),
) -> None:
    """Run the server until interrupted.

    Example: wattwise serve --port 8000 --mqtt 127.0.0.1:1883

    Several processes on one PostgreSQL (docs/scale.md): each with --link BROKER; one of them
    leads (runs the detectors and the alert engine), the others stand by and take over.
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
            "bus_link": link,
            "detectors": detectors,
            "alerts": alerts,
            "public_url": public_url,
        }.items()
        if v is not None
    }
    settings = with_flags(settings, updates)
    if settings.bus_link and settings.database_url().startswith("sqlite"):
        # every process on SQLite leads (wattwise.store.lead): each would run the detectors
        # and the alert engine, and with the link each would store every alert again
        raise typer.BadParameter(
            "joins several server processes, which must share a PostgreSQL database (--database "
            "postgresql://…); on SQLite each would run the detectors and the alert engine (docs/scale.md)",
            param_hint="--link / WATTWISE_BUS_LINK",
        )
    refuse_busy_port(settings.host, settings.port)
    with transaction(ctx) as conn:
        if count_users(conn) == 0:  # the first run creates the administrator
            made = invite_user(conn, "admin", is_admin=True)
            typer.secho(f"First run: created the administrator 'admin' with password {made.password}", bold=True)
            typer.echo("Change it under Account once signed in; it is not shown again.")
    state(ctx).close()  # the app opens its own services
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings, freeze_startup_heap=True),
        host=settings.host,
        port=settings.port,
        log_level="info",
    )
