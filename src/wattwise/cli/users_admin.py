"""``wattwise user …``: accounts, site roles and personal API tokens."""

from __future__ import annotations

import typer

from wattwise.cli.context import transaction
from wattwise.store import members as member_store
from wattwise.store import sites as site_store
from wattwise.store import users as user_store

user_app = typer.Typer(help="Accounts, roles and API tokens.", no_args_is_help=True)


@user_app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    password: str | None = typer.Option(None, help="Default: a random one, printed once (one you give is not printed)"),
    admin: bool = typer.Option(False, "--admin", help="May see and manage every site"),
) -> None:
    """Create an account.

    Example: wattwise user add warden --password 'long secret'
    """
    with transaction(ctx) as conn:
        made = member_store.invite_user(conn, username, is_admin=admin, password=password)
    said = "; password as given" if made.password is None else f" password (shown once): {made.password}"
    typer.echo(f"user {made.user.id} '{made.user.username}'{' (admin)' if admin else ''}{said}")


@user_app.command("grant")
def grant(
    ctx: typer.Context,
    username: str,
    site: str,
    role: str = typer.Argument(..., help="owner, member or viewer"),
) -> None:
    """Give a user a role on a site.

    Example: wattwise user grant warden hostel owner
    """
    with transaction(ctx) as conn:
        user = user_store.get_user_by_name(conn, username)
        the_site = site_store.get_site_by_name(conn, site)
        user_store.grant(conn, user.id, the_site.id, role)
    typer.echo(f"{username} is {role} of {site}")


@user_app.command("token")
def token(ctx: typer.Context, username: str, name: str = typer.Option("cli", help="What the token is for")) -> None:
    """Print a new personal API token (for scripts, Grafana, Home Assistant).

    Example: wattwise user token admin --name grafana
    """
    with transaction(ctx) as conn:
        user = user_store.get_user_by_name(conn, username)
        value = user_store.create_token(conn, user.id, name)
    typer.echo(value)
