"""Shared state of one command-line invocation: the settings and, lazily, the services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from sqlalchemy import Connection

from wattwise.config import Settings
from wattwise.runtime import Services, start_services


@dataclass(slots=True)
class CliState:
    settings: Settings
    services: Services | None = None

    def open(self) -> Services:
        if self.services is None:
            self.services = start_services(self.settings)
        return self.services

    def close(self) -> None:
        if self.services is not None:
            self.services.close()
            self.services = None


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
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
