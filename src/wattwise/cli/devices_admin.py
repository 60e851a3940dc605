"""``wattwise device …`` and ``wattwise site …``: register meters, rotate and revoke their keys."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from wattwise.cli.context import transaction
from wattwise.store import devices as device_store
from wattwise.store import sites as site_store
from wattwise.store.errors import NotFound

device_app = typer.Typer(help="Register meters and manage their keys.", no_args_is_help=True)
site_app = typer.Typer(help="Sites: a home or building with a time zone and currency.", no_args_is_help=True)


def _print_key(device_id: int, name: str, site: str, key: str) -> None:
    typer.echo(f"meter {device_id} '{name}' in site '{site}'")
    typer.echo(f"key: {key}")
    typer.echo("Keep the key now: only its hash is stored, it cannot be shown again.")


@device_app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    site: str = typer.Option(..., "--site", help="Site name (created if new)"),
) -> None:
    """Register a meter and print its key once.

    Example: wattwise device add kitchen --site home
    """
    with transaction(ctx) as conn:
        try:
            the_site, made = site_store.get_site_by_name(conn, site), False
        except NotFound:
            the_site, made = site_store.create_site(conn, site), True
        issued = device_store.create_device(conn, site_id=the_site.id, name=name)
    if made:  # names are exact ('Home' is not 'home'): say so, or a typo makes a second site unseen
        typer.echo(
            f"new site '{the_site.name}' (time zone {the_site.timezone}, currency {the_site.currency}; "
            "wattwise site add sets others)"
        )
    _print_key(issued.device.id, name, the_site.name, issued.key)


@device_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List meters with their site, role, key prefix and last reading time.

    Example: wattwise device list
    """
    with transaction(ctx) as conn:
        devices = device_store.list_devices(conn)
    for d in devices:
        key = d.key_prefix + "…" if d.key_prefix else "revoked"
        seen = (
            "never"
            if d.last_seen_ms is None
            else f"{datetime.fromtimestamp(d.last_seen_ms / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC"
        )
        typer.echo(f"{d.id:>5}  {d.site_name:<20} {d.name:<24} {d.role:<5} {key:<12} last reading: {seen}")


@device_app.command("rotate")
def rotate(ctx: typer.Context, device_id: int) -> None:
    """Issue a new key; the old one stops working.

    Example: wattwise device rotate 3
    """
    with transaction(ctx) as conn:
        issued = device_store.rotate_key(conn, device_id)
    _print_key(issued.device.id, issued.device.name, issued.device.site_name, issued.key)


@device_app.command("revoke")
def revoke(ctx: typer.Context, device_id: int) -> None:
    """Refuse the meter's uploads from now on (its history stays).

    Example: wattwise device revoke 3
    """
    with transaction(ctx) as conn:
        device = device_store.revoke_key(conn, device_id)
    typer.echo(f"meter {device.id} '{device.name}': key revoked")


@device_app.command("role")
def role(
    ctx: typer.Context,
    device_id: int,
    main: bool = typer.Option(False, "--main", help="The site's main meter"),
    sub_of: int | None = typer.Option(None, "--sub-of", help="Sub-meter of this meter id"),
) -> None:
    """Mark a meter as main meter or sub-meter (for the energy balance).

    Example: wattwise device role 2 --sub-of 1
    """
    new_role = "sub" if sub_of is not None else "main" if main else "meter"
    with transaction(ctx) as conn:
        device = device_store.set_role(conn, device_id, role=new_role, parent_id=sub_of)
    typer.echo(f"meter {device.id} '{device.name}': {device.role}")


@site_app.command("add")
def site_add(
    ctx: typer.Context,
    name: str,
    timezone: str = typer.Option("UTC", help="IANA time zone, e.g. Asia/Kolkata"),
    currency: str = typer.Option("INR", help="ISO currency code"),
) -> None:
    """Create a site.

    Example: wattwise site add hostel --timezone Asia/Kolkata --currency INR
    """
    with transaction(ctx) as conn:
        site = site_store.create_site(conn, name, timezone=timezone, currency=currency)
    typer.echo(f"site {site.id} '{site.name}' ({site.timezone}, {site.currency})")


@site_app.command("list")
def site_list(ctx: typer.Context) -> None:
    """List sites.

    Example: wattwise site list
    """
    with transaction(ctx) as conn:
        sites = site_store.list_sites(conn)
    for s in sites:
        typer.echo(f"{s.id:>5}  {s.name:<24} {s.timezone:<20} {s.currency}")
