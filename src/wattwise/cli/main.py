"""The ``wattwise`` command: global options, then one thin command group per concern."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from wattwise.cli.context import CliState
from wattwise.cli.demo import demo
from wattwise.cli.devices import app as devices_app
from wattwise.cli.devices import gateway
from wattwise.cli.devices_admin import device_app, site_app
from wattwise.cli.evaluate_models import anomaly_command, classify_command, theft_command
from wattwise.cli.evaluate_nilm import nilm
from wattwise.cli.export import export
from wattwise.cli.importing import import_
from wattwise.cli.mqtt_files import mqtt_app
from wattwise.cli.report import report
from wattwise.cli.serve import serve
from wattwise.cli.simulate import simulate
from wattwise.cli.tariff import tariff_app
from wattwise.cli.users_admin import user_app
from wattwise.config import Settings

app = typer.Typer(help="Wattwise: self-hosted electricity monitoring.", no_args_is_help=True)
evaluate_app = typer.Typer(
    help="Evaluate the models on real recordings (train and test kept apart).", no_args_is_help=True
)


@app.callback()
def main(
    ctx: typer.Context,
    database: str = typer.Option(
        None,
        "--database",
        envvar="WATTWISE_DATABASE",
        help="SQLAlchemy URL, e.g. postgresql://127.0.0.1/wattwise (default: SQLite under --data-dir)",
    ),
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        envvar="WATTWISE_DATA_DIR",
        help="Folder for the embedded database (default ./data)",
    ),
) -> None:
    """Global options apply to every command."""
    try:
        settings = Settings()
    except ValidationError as exc:  # a WATTWISE_* variable: say which, without a traceback
        for err in exc.errors(include_url=False):
            name = "WATTWISE_" + "_".join(str(part) for part in err["loc"]).upper()
            typer.secho(f"{name}: {err['msg'].removeprefix('Value error, ')}", err=True, fg="red")
        raise typer.Exit(2) from None
    if database is not None:
        settings = settings.model_copy(update={"database": database})
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    cli_state = CliState(settings=settings)
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


app.command("serve")(serve)
app.command("import")(import_)
app.command("export")(export)
app.command("report")(report)
app.command("demo")(demo)
app.command("simulate")(simulate)
app.command("gateway")(gateway)
app.add_typer(devices_app, name="devices")
app.add_typer(device_app, name="device")
app.add_typer(site_app, name="site")
app.add_typer(user_app, name="user")
app.add_typer(mqtt_app, name="mqtt")
app.add_typer(tariff_app, name="tariff")
app.add_typer(evaluate_app, name="evaluate")
evaluate_app.command("nilm")(nilm)
evaluate_app.command("anomaly")(anomaly_command)
evaluate_app.command("theft")(theft_command)
evaluate_app.command("classify")(classify_command)


if __name__ == "__main__":  # ``python -m wattwise.cli.main``, as ``python -m wattwise.cli`` and ``wattwise``
    app()
