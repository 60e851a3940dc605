"""``wattwise import``: load a CSV or Parquet recording through the ingest pipeline."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from wattwise.cli.context import fail, state
from wattwise.domain.timestamps import time_zone
from wattwise.ingest.importer import import_file, parse_mapping, parse_scale
from wattwise.store.errors import NotFound


def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet file"),
    device: int = typer.Option(..., "--device", help="Meter id to import into"),
    map_: str = typer.Option(..., "--map", help="ours=theirs pairs, e.g. ts=timestamp,power=aggregate"),
    scale: str = typer.Option("", help="Unit factors, e.g. power=1000 for a column in kW"),
    timezone: str = typer.Option("UTC", help="Time zone of timestamps that carry none"),
    sep: str = typer.Option(None, help="CSV separator (default: sniffed)"),
) -> None:
    """Import a recording; rows already stored are counted as duplicates, so re-running is safe.

    Example: wattwise import house2.csv --device 1 --map ts=Time,power=Aggregate
    """
    try:
        mapping = parse_mapping(map_)
        factors = parse_scale(scale)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        time_zone(timezone)
    except ValueError as exc:
        raise fail(f"--timezone: {exc}") from exc
    services = state(ctx).open()
    started = time.perf_counter()
    try:
        report = import_file(services.pipeline, device, file, mapping, scale=factors, timezone=timezone, sep=sep)
    except (NotFound, ValueError) as exc:
        raise fail(str(exc)) from exc
    seconds = time.perf_counter() - started
    typer.echo(
        f"{report.rows} rows: {report.accepted} stored, {report.duplicates} duplicates, "
        f"{report.rejected} rejected in {seconds:.1f} s ({report.rows / max(seconds, 1e-9):,.0f} rows/s)"
    )
    for line in report.first_errors:
        typer.echo(f"  {line}")
