"""``wattwise report``: a site's report over a local period, written as JSON, CSV or a printable page."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from wattwise.accounting import report as reports
from wattwise.accounting.report_files import report_csv, report_dict, report_html
from wattwise.analysis.energy import local_date
from wattwise.cli.context import fail, state
from wattwise.store import sites as site_store
from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound
from wattwise.store.sites import Site

FORMATS = ("json", "csv", "html")


def _site(ctx: typer.Context, name_or_id: str) -> Site:
    """The site by id, else by name."""
    services = state(ctx).open()
    with services.engine.connect() as conn:
        if name_or_id.isdigit() and (found := site_store.list_sites(conn, frozenset({int(name_or_id)}))):
            return found[0]
        try:
            return site_store.get_site_by_name(conn, name_or_id)
        except NotFound as exc:
            raise fail(f"SITE: {exc}") from exc


def report(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site name or id"),
    start: str = typer.Option(None, "--start", help="First local day, like 2026-10-01 (default: last month's)"),
    end: str = typer.Option(None, "--end", help="Local day after the last one (exclusive; default: a month on)"),
    month: str = typer.Option(None, "--month", help="A calendar month, like 2026-10, instead of --start/--end"),
    format_: str = typer.Option(None, "--format", help="json, csv or html (default: from --out, else json)"),
    out: Path = typer.Option(None, "--out", help="File to write (default: standard output)"),
) -> None:
    """The same report as GET /api/v1/sites/{id}/report, straight from the database.

    Example: wattwise report Office --month 2026-10 --out october.html  (print it to PDF from a browser)
    """
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    chosen = format_ or (suffix if suffix in FORMATS else "json")
    if chosen not in FORMATS:
        raise fail(f"--format: one of {', '.join(FORMATS)}, got {chosen!r}")
    the_site = _site(ctx, site)
    today = local_date(now_ms(), ZoneInfo(the_site.timezone))
    try:
        first, after = reports.period_of(start, end, month, today)
    except ValueError as exc:
        raise fail(f"--{exc}") from exc
    made = reports.site_report(state(ctx).open(), the_site.id, first, after)
    if chosen == "csv":
        text = report_csv(made)
    elif chosen == "html":
        text = report_html(made)
    else:
        text = json.dumps(report_dict(made), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:  # no such folder, no permission, a folder of that name
        raise fail(f"--out: cannot write {out}: {exc.strerror}") from exc
    typer.echo(f"wrote {out} ({made.label}, {len(made.meters)} meters, site total {made.total_kwh:,.3f} kWh)")
