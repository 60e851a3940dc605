"""``wattwise mqtt credentials``: write the broker's password and ACL files from the meter list."""

from __future__ import annotations

from pathlib import Path

import typer

from wattwise.cli.context import fail, transaction
from wattwise.cli.private_file import write_private
from wattwise.ingest.broker_files import acl_file, password_file
from wattwise.store.devices import mosquitto_credentials

mqtt_app = typer.Typer(help="Broker set-up for meters that publish over MQTT.", no_args_is_help=True)


@mqtt_app.command("credentials")
def credentials(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="Folder for 'passwd' and 'acl'"),
    server_user: str = typer.Option("wattwise-server", help="The server's own broker login"),
    server_password: str = typer.Option(..., help="The server's broker password"),
    ha_user: str = typer.Option("homeassistant", help="Home Assistant's broker login (with --ha-password)"),
    ha_password: str = typer.Option(None, help="Give Home Assistant a login that reads discovery and states"),
) -> None:
    """Write Mosquitto's password_file and acl_file (re-run after adding or revoking meters).

    Example: wattwise mqtt credentials --out /etc/mosquitto/wattwise --server-password s3cret
    """
    with transaction(ctx) as conn:
        creds = mosquitto_credentials(conn)
    ha = (ha_user, ha_password) if ha_password else None
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_private(out / "passwd", password_file(creds, server_user, server_password, ha))
        (out / "acl").write_text(acl_file(server_user, ha[0] if ha else None))
    except OSError as exc:  # no permission, a file where the folder should be
        raise fail(f"--out: cannot write {out}: {exc.strerror}") from exc
    typer.echo(f"wrote {out / 'passwd'} ({len(creds)} meters) and {out / 'acl'}")
    typer.echo(
        "In mosquitto.conf: allow_anonymous false, password_file and acl_file pointing there;"
        " then reload the broker (kill -HUP)."
    )
