"""``wattwise export``: write one meter's history to a CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path

import typer

from wattwise.cli.context import fail, state
from wattwise.export import Export, csv_chunks, parquet_bytes, parse_metrics
from wattwise.ingest.parse import named_time
from wattwise.store.clock import now_ms
from wattwise.store.devices import get_device
from wattwise.store.errors import NotFound


def _time(name: str, value: str | None, default: int) -> int:
    return named_time(name, value, default) if value else default


def export(
    ctx: typer.Context,
    device: int = typer.Option(..., "--device", help="Meter id"),
    since: str = typer.Option(None, help="RFC 3339 or Unix s/ms (default: until − 24 h)"),
    until: str = typer.Option(None, help="RFC 3339 or Unix s/ms, exclusive (default: now)"),
    resolution: str = typer.Option("raw", help="raw, 1m, 1h or 1d"),
    metrics: str = typer.Option("", help="Comma-separated metrics (default: all)"),
    format_: str = typer.Option(None, "--format", help="csv or parquet (default: from --out, else csv)"),
    out: Path = typer.Option(None, "--out", help="File to write (default: a name from meter and range)"),
) -> None:
    """The same file as GET /api/v1/devices/{id}/export, straight from the database.

    Example: wattwise export --device 1 --since 2025-11-01T00:00:00Z --resolution 1h --out nov.parquet
    """
    chosen = format_ or ("parquet" if out is not None and out.suffix.lower() in (".parquet", ".pq") else "csv")
    try:
        until_ms = _time("until", until, now_ms())
        since_ms = _time("since", since, until_ms - 86_400_000)
        job = Export(device, since_ms, until_ms, chosen, resolution, parse_metrics(metrics))
    except ValueError as exc:
        raise fail(str(exc)) from exc
    services = state(ctx).open()
    with services.engine.connect() as conn:
        try:
            meter = get_device(conn, device)
        except NotFound as exc:
            raise fail(str(exc)) from exc
    path = out or Path(job.filename(meter.name))
    try:
        handle = path.open("wb")
    except OSError as exc:  # no such folder, no permission, a folder of that name
        raise fail(f"--out: cannot write {path}: {exc.strerror}") from exc
    pages = job.pages(services)
    with handle:
        if job.format == "parquet":
            handle.write(parquet_bytes(job, pages))
        else:
            for chunk in csv_chunks(job, pages):
                handle.write(chunk)
    typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")
