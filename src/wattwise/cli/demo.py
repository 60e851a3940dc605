"""``wattwise demo``: the embedded default, set up and running, with simulated household meters.

Everything lives under ``--data-dir`` (./data): the SQLite database, the demo login and the
meters' keys. Re-running keeps the history, the login and the keys; the simulator fills in a day of
history once, then posts live readings every two seconds until you press Ctrl+C.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import typer
import uvicorn
from sqlalchemy import Connection

from wattwise.api.app import create_app
from wattwise.cli.context import state
from wattwise.cli.private_file import write_private
from wattwise.cli.serve import refuse_busy_port
from wattwise.config import Settings
from wattwise.store import alerts as alert_store
from wattwise.store import devices as device_store
from wattwise.store import sites as site_store
from wattwise.store import users as user_store
from wattwise.store.errors import NotFound

DEMO_SITE = "Demo hostel"
DEMO_METERS = ("Main meter", "Room 101", "Room 102", "Kitchen")
#: the alert rules a first demo starts with (shown on the dashboard; no channel to send to)
DEMO_RULE = {"quantity": "power", "direction": "above", "trigger": 3000, "clear": 2700, "for_s": 30}
DEMO_FINDINGS_RULE = {"kinds": ["anomaly", "theft", "balance_loss", "grid"]}


def _admin_password(conn: object, login_file: Path) -> str:
    """The demo admin's password: kept in the data folder so every run prints the same login."""
    if login_file.exists():
        return str(json.loads(login_file.read_text())["password"])
    password = secrets.token_urlsafe(9)
    try:
        admin = user_store.get_user_by_name(conn, "admin")  # type: ignore[arg-type]
        user_store.set_password(conn, admin.id, password)  # type: ignore[arg-type]
    except NotFound:
        user_store.create_user(conn, "admin", password, is_admin=True)  # type: ignore[arg-type]
    write_private(login_file, json.dumps({"username": "admin", "password": password}))
    return password


def _kept_keys(conn: Connection, keys_file: Path) -> dict[int, str]:
    """The keys an earlier run wrote that still open their meter: a re-run prints the same
    device key, so one copied into a meter's settings or a curl command keeps working."""
    if not keys_file.exists():
        return {}
    kept = {}
    for line in keys_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and device_store.device_id_for_key(conn, parts[1]) == int(parts[0]):
            kept[int(parts[0])] = parts[1]
    return kept


def _meter_key(
    conn: Connection, site_id: int, name: str, device: device_store.Device | None, kept: dict[int, str]
) -> device_store.IssuedKey:
    """The demo meter ``name`` with a key that opens it: its kept one, else a new one."""
    if device is None:
        return device_store.create_device(conn, site_id=site_id, name=name)
    if device.id in kept:
        return device_store.IssuedKey(device=device, key=kept[device.id])
    return device_store.rotate_key(conn, device.id)


def _exit_on_sigterm() -> None:
    """Stop on SIGTERM (``kill``, a service manager) as on Ctrl+C: through ``finally``.

    uvicorn shuts down for the signal and then raises it again; with the default handler that
    ends the process at once, and the simulator it started went on posting to nobody."""
    signal.signal(signal.SIGTERM, lambda sig, _frame: sys.exit(128 + sig))


def _wait_until_up(url: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def demo_settings(settings: Settings, host: str, port: int) -> Settings:
    """The demo's settings: never a real installation's broker, whatever the environment says.

    With ``WATTWISE_MQTT`` inherited, the demo would join the real servers' shared
    subscription and take its share of their meters' readings (acknowledged as "no such
    meter": lost to them); with ``WATTWISE_BUS_LINK``, its simulated readings and alerts would
    reach their dashboards."""
    return settings.model_copy(update={"host": host, "port": port, "mqtt": "", "bus_link": ""})


def demo(
    ctx: typer.Context,
    port: int = typer.Option(8000, min=1, max=65535, help="Port for the dashboard and API"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 to reach it from a phone)"),
    backfill_days: float = typer.Option(1.0, help="Days of simulated history to send the first time"),
) -> None:
    """Set up the embedded demo and run it: server, dashboard and simulated meters.

    Example: wattwise demo --port 8000
    """
    cli_state = state(ctx)
    settings = demo_settings(cli_state.settings, host, port)
    refuse_busy_port(host, port)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    services = cli_state.open()
    keys_file = data_dir / "demo-keys.txt"
    first_run = not keys_file.exists()
    with services.engine.begin() as conn:
        password = _admin_password(conn, data_dir / "demo-login.json")
        try:
            site = site_store.get_site_by_name(conn, DEMO_SITE)
        except NotFound:
            site = site_store.create_site(conn, DEMO_SITE, timezone="Asia/Kolkata", currency="INR")
        existing = {d.name: d for d in device_store.list_devices(conn, frozenset({site.id}))}
        kept = _kept_keys(conn, keys_file)
        issued = [_meter_key(conn, site.id, name, existing.get(name), kept) for name in DEMO_METERS]
        main_id = issued[0].device.id
        device_store.set_role(conn, main_id, role="main")
        for sub_meter in issued[1:]:  # the main meter reads the rooms plus common loads
            device_store.set_role(conn, sub_meter.device.id, role="sub", parent_id=main_id)
        if not alert_store.list_rules(conn, frozenset({site.id})):
            rule = alert_store.RuleFields(
                site_id=site.id, device_id=main_id, name="Main meter above 3 kW", kind="threshold", params=DEMO_RULE
            )
            alert_store.add_rule(conn, rule, by="demo")
            found = alert_store.RuleFields(
                site_id=site.id,
                device_id=None,
                name="What the detectors find",
                kind="finding",
                params=DEMO_FINDINGS_RULE,
            )
            alert_store.add_rule(conn, found, by="demo")
    write_private(keys_file, "".join(f"{i.device.id} {i.key}\n" for i in issued))
    cli_state.close()

    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    simulator: list[subprocess.Popen[bytes]] = []

    def start_simulator() -> None:
        _wait_until_up(url)
        args = [
            sys.executable,
            "-m",
            "wattwise.cli",
            "simulate",
            "--server",
            url,
            "--keys-file",
            str(keys_file),
            "--interval",
            "2",
            "--seed",
            "7",
            "--timezone",
            "Asia/Kolkata",
            "--main-meter",
            "--events",
            str(data_dir / "demo-events.csv"),
        ]
        if first_run and backfill_days > 0:
            args += ["--backfill", str(backfill_days)]
        simulator.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        typer.secho(f"\n  Wattwise demo is running at {url}", fg=typer.colors.GREEN, bold=True)
        typer.echo("  login:       admin")
        typer.echo(f"  password:    {password}")
        typer.echo(f"  device key:  {issued[1].key}   (meter {issued[1].device.id}, '{issued[1].device.name}')")
        typer.echo(
            f"  try:         curl -X POST {url}/api/v1/ingest -H 'Authorization: Bearer {issued[1].key}' "
            '-d \'{"power": 100, "voltage": 230}\''
        )
        typer.echo(f"  API docs:    {url}/docs      data: {data_dir.resolve()}      stop: Ctrl+C\n")

    threading.Thread(target=start_simulator, daemon=True).start()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _exit_on_sigterm()
    try:
        uvicorn.run(create_app(settings, freeze_startup_heap=True), host=host, port=port, log_level="warning")
    finally:
        for proc in simulator:
            proc.terminate()
        for proc in simulator:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
