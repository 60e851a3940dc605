"""Shared state of one command-line invocation: the settings and, lazily, the services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import typer
from sqlalchemy import Connection
from sqlalchemy.exc import ArgumentError, OperationalError

from wattwise.config import Settings
from wattwise.runtime import Services, start_services


@dataclass(slots=True)
class CliState:
    settings: Settings
    services: Services | None = None

    def open(self) -> Services:
        """The services on the configured database; one that cannot be opened (no server
        there, an unknown kind of URL) ends the command with a message, not a traceback."""
        if self.services is None:
            try:
                self.services = start_services(self.settings)
            except (OperationalError, ArgumentError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise fail(f"--database: cannot open the database: {reason}") from None
        return self.services

    def close(self) -> None:
        if self.services is not None:
            self.services.close()
            self.services = None


def fail(message: str) -> typer.Exit:
    """Say what is wrong (``error: …``, on stderr) and give the exit to raise: status 2, bad input."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def state(ctx: typer.Context) -> CliState:
    return ctx.find_root().obj  # type: ignore[no-any-return]


@contextmanager
def transaction(ctx: typer.Context) -> Iterator[Connection]:
    """A committed transaction on the configured database; store errors become CLI messages."""
    services = state(ctx).open()
    try:
        with services.engine.begin() as conn:
            yield conn
    except (LookupError, ValueError) as exc:
        raise fail(str(exc)) from exc


def server_url(value: str) -> str:
    """``--server``: a Wattwise address with its scheme; ``127.0.0.1:8000`` alone was taken and
    then every request failed, the readings piling up, so it is refused before anything runs."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"{value!r}: give the address with http:// or https://, e.g. http://127.0.0.1:8000", param_hint="--server"
        )
    return value.strip().rstrip("/")
