"""``wattwise devices emulate`` and ``wattwise devices gateway``: meters without hardware,
and the serial gateway that forwards real (or emulated) PZEM meters to Wattwise."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path

import typer

from wattwise.cli.context import server_url
from wattwise.devices.emulator import (
    DEFAULT_ALARM_W,
    IDLE_CURRENT_A,
    EmulatedMeter,
    Fault,
    FaultInjector,
    PzemEmulator,
    csv_meter,
    household_readings,
)
from wattwise.devices.gateway import Gateway, GatewayConfig, HttpUplink, MqttUplink, parse_meters
from wattwise.devices.gateway.uplink import Uplink

app = typer.Typer(help="PZEM-004T emulator and serial gateway.", no_args_is_help=True)


def parse_faults(spec: str) -> dict[Fault, float]:
    """``no_reply=0.05,bad_crc=0.02`` → rates per fault (fractions of replies)."""
    rates: dict[Fault, float] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, _, rate = part.partition("=")
        try:
            fault = Fault(name.strip())
            rates[fault] = float(rate)
        except ValueError:
            known = ", ".join(f.value for f in Fault if f is not Fault.NONE)
            raise typer.BadParameter(
                f"{part!r}: expected NAME=RATE with NAME one of {known}", param_hint="--faults"
            ) from None
        if not 0 <= rates[fault] <= 1:
            raise typer.BadParameter(f"{part!r}: a rate is between 0 and 1", param_hint="--faults")
    if sum(rates.values()) > 1:
        raise typer.BadParameter("the rates add up to more than 1", param_hint="--faults")
    return rates


def _wait(duration: float | None) -> None:
    """Block until Ctrl-C / SIGTERM, or for ``duration`` seconds."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait(duration)


@app.command()
def emulate(
    csv: list[Path] = typer.Option(
        [], "--csv", exists=True, dir_okay=False, help="Recorded CSV to replay; one meter per file, addresses 1, 2, …"
    ),
    household: list[int] = typer.Option(
        [], "--household", help="Simulated household SEED instead of a CSV (repeatable)"
    ),
    pty: Path = typer.Option(None, "--pty", help="Serve on a pseudo-terminal linked here"),
    tcp: str = typer.Option(None, "--tcp", help="Serve as a TCP-serial bridge on HOST:PORT"),
    tick: float = typer.Option(1.0, help="Seconds between register refreshes"),
    faults: str = typer.Option("", help="Fault rates, e.g. no_reply=0.05,bad_crc=0.02"),
    slow: float = typer.Option(0.5, help="Delay of a 'slow' reply in seconds"),
    seed: int = typer.Option(0, help="Seed of the random faults"),
    idle_current: float = typer.Option(
        IDLE_CURRENT_A, help="Current shown with no load (A); negative: the source's own"
    ),
    alarm: int = typer.Option(DEFAULT_ALARM_W, help="Power-alarm threshold at start (W)"),
    wire_speed: bool = typer.Option(False, help="Answer no faster than 9600 Bd would carry the bytes"),
    duration: float = typer.Option(None, help="Stop after this many seconds"),
) -> None:
    """Emulate PZEM-004T meters on a serial line until interrupted.

    Example: wattwise devices emulate --csv house.csv --pty /tmp/pzem0
    """
    idle = None if idle_current < 0 else idle_current
    try:
        meters = [
            csv_meter(path, address, idle_current=idle, alarm_threshold=alarm)
            for address, path in enumerate(csv, start=1)
        ]
    except ValueError as exc:  # a recording without the columns a meter needs
        raise typer.BadParameter(str(exc), param_hint="--csv") from None
    meters += [
        EmulatedMeter(
            address=len(meters) + i,
            source=household_readings(s, interval_s=tick),
            idle_current=idle,
            alarm_threshold=alarm,
        )
        for i, s in enumerate(household, start=1)
    ]
    if not meters:
        raise typer.BadParameter("give at least one --csv or --household", param_hint="--csv")
    if (pty is None) == (tcp is None):
        raise typer.BadParameter("give exactly one of --pty PATH or --tcp HOST:PORT")
    emulator = PzemEmulator(
        meters,
        faults=FaultInjector(parse_faults(faults), slow_s=slow, seed=seed),
        tick_s=tick,
        refresh_s=tick,
        keep_served=1000,
        wire_speed=wire_speed,
    )
    if pty is not None:
        where = emulator.serve_pty(pty)
    else:
        host, _, port = tcp.rpartition(":")
        where = emulator.serve_tcp(host or "127.0.0.1", int(port))
    addresses = ", ".join(str(m.address) for m in meters)
    typer.echo(f"emulating PZEM-004T at address {addresses} on {where} (9600 8N1)")
    try:
        _wait(duration)
    finally:
        emulator.stop()
        typer.echo(f"served {emulator.served_total} readings, injected {len(emulator.faults.injected)} faults")


@app.command()
def gateway(
    port: str = typer.Option(..., help="Serial port (/dev/ttyUSB0) or socket://HOST:PORT"),
    address: str = typer.Option(
        ..., help="Meters: 1,2,3 with --key for one meter, 1=KEY1,2=KEY2, or 1=ID:KEY for MQTT"
    ),
    key: str = typer.Option(None, help="Device key, when there is one meter"),
    server: str = typer.Option(None, help="Wattwise URL, e.g. http://127.0.0.1:8000"),
    mqtt: str = typer.Option(None, help="Send over MQTT to this broker HOST:PORT instead"),
    queue: Path = typer.Option(Path("gateway-queue.db"), help="Store-and-forward file (kept across restarts)"),
    max_queue: int = typer.Option(500_000, help="Readings kept while offline; oldest dropped"),
    interval: float = typer.Option(1.0, help="Seconds between polls of each meter"),
    send_interval: float = typer.Option(1.0, help="Seconds between sends while online"),
    retry_min: float = typer.Option(1.0, help="First wait after a failed send (s)"),
    retry_max: float = typer.Option(60.0, help="Longest wait between failed sends (s)"),
    batch: int = typer.Option(1000, help="Readings per request at most"),
    meter_timeout: float = typer.Option(0.2, help="Seconds to wait for a meter's answer"),
    meter_retries: int = typer.Option(2, help="Retries of a failed meter read"),
    duration: float = typer.Option(None, help="Stop after this many seconds"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every send and fault"),
) -> None:
    """Poll PZEM meters on a serial bus and forward their readings to Wattwise.

    Example: wattwise devices gateway --port /dev/ttyUSB0 --address 1=KEY1,2=KEY2
    --server http://192.168.1.10:8000
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        meters = parse_meters(address, key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--address") from None
    if (server is None) == (mqtt is None):
        raise typer.BadParameter("give exactly one of --server URL or --mqtt HOST:PORT")
    server = None if server is None else server_url(server)
    try:
        uplink: Uplink = HttpUplink(server) if server else MqttUplink(mqtt, meters)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--address") from None
    config = GatewayConfig(
        port=port,
        meters=meters,
        queue_path=queue,
        interval_s=interval,
        send_interval_s=send_interval,
        batch_size=batch,
        retry_min_s=retry_min,
        retry_max_s=retry_max,
        max_queue=max_queue,
        meter_timeout_s=meter_timeout,
        meter_retries=meter_retries,
    )
    gw = Gateway(config, uplink)
    typer.echo(
        f"gateway: {len(meters)} meter(s) on {port} → {server or 'mqtt://' + mqtt}; "
        f"{len(gw.queue)} readings waiting in {queue}"
    )
    stop = threading.Event()
    runner = threading.Thread(target=gw.run, args=(stop,), name="gateway")
    runner.start()
    started = time.monotonic()
    try:
        _wait(duration)
    finally:
        stop.set()
        runner.join()
        waiting = len(gw.queue)
        dropped = gw.queue.counter("dropped")
        gw.close()
    stats = ", ".join(f"{k} {v}" for k, v in sorted(gw.stats.items()))
    typer.echo(
        f"stopped after {time.monotonic() - started:.0f} s: {stats or 'nothing done'}; "
        f"{waiting} readings kept for next time, {dropped} dropped to the bound"
    )
