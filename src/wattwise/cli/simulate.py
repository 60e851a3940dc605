"""`wattwise simulate`: drive simulated household meters over HTTP or MQTT."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from wattwise.cli.context import server_url
from wattwise.devices.simulator.delivery import DeliveryError, DeliveryUnavailable, MeterIdentity
from wattwise.devices.simulator.events_file import EventWriter
from wattwise.devices.simulator.http_driver import MAX_BATCH, HttpSender
from wattwise.devices.simulator.mqtt_driver import MqttSender
from wattwise.devices.simulator.runner import RunPlan, RunSummary, run
from wattwise.domain.timestamps import time_zone

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``2h`` or ``7d``."""
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration; use e.g. 90s, 15m, 2h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def read_keys_file(path: Path) -> list[tuple[str, str]]:
    """``device_id key`` pairs, one a line; blank lines and ``#`` comments are skipped."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 2:
            raise typer.BadParameter(f"{path}:{number}: expected `device_id key`, got {len(parts)} field(s)")
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise typer.BadParameter(f"{path} holds no `device_id key` lines")
    return pairs


def meters_for(
    *,
    devices: int | None,
    keys: list[str],
    keys_file: Path | None,
    device_ids: list[str],
    mqtt: bool,
) -> tuple[MeterIdentity, ...]:
    """Who the simulated meters are, from the options; explain what is missing."""
    pairs: list[tuple[str | None, str | None]] = []
    if keys_file is not None:
        pairs.extend(read_keys_file(keys_file))
    pairs.extend((None, key) for key in keys)
    for i, device_id in enumerate(device_ids):
        if i < len(pairs):
            pairs[i] = (device_id, pairs[i][1])
        else:
            pairs.append((device_id, None))
    count = devices if devices is not None else max(len(pairs), 1)
    if count < 1:
        raise typer.BadParameter("--devices must be at least 1")
    if not mqtt and len(pairs) < count:
        raise typer.BadParameter(
            f"{count} meter(s) but {len(pairs)} key(s): HTTP needs a device key per meter "
            "(--key, repeatable, or --keys-file with lines `device_id key`)"
        )
    meters = []
    for index in range(count):
        known, key = pairs[index] if index < len(pairs) else (None, None)
        meter_id = f"sim-{index}" if mqtt and known is None else known
        meters.append(MeterIdentity(index=index, device_id=meter_id, key=key))
    return tuple(meters)


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 1883 when left out)."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "1883")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"--mqtt {text!r}: use HOST:PORT, e.g. 127.0.0.1:1883")
    return host, int(port)


def start_time_ms(start: str | None, speed: float, span_ms: int | None, now_ms: int) -> int:
    """Simulated time of the first live tick's predecessor.

    At speed 1 that is now. Faster than real time, the simulated clock would run ahead of
    the server's (which refuses readings from the future), so it starts in the past and
    reaches now when the run ends.
    """
    if start is not None:
        try:
            return int(datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError as exc:
            raise typer.BadParameter(f"--start {start!r}: use RFC 3339, e.g. 2026-01-05T00:00:00Z") from exc
    if speed <= 1.0:
        return now_ms
    if span_ms is None:
        raise typer.BadParameter(
            "--speed above 1 needs --duration or --count (so the simulated clock ends at now) or an explicit --start"
        )
    return now_ms - round(span_ms * (1.0 - 1.0 / speed))


def _report(summary: RunSummary, events: Path | None, *, over_mqtt: bool) -> None:
    result = summary.result
    sent = f"sent {result.sent} readings ({summary.backfilled} history, {summary.live} live)"
    if over_mqtt:  # a PUBACK is the broker's; "0 accepted" read as if the server had refused them all
        typer.echo(f"{sent} to the broker, which took them; over MQTT the server's answers are not awaited")
    else:
        counts = f"{result.accepted} accepted, {result.duplicates} duplicates, {len(result.rejected)} rejected"
        typer.echo(f"{sent}: {counts}")
    if events is not None:
        typer.echo(f"{summary.events} appliance events written to {events}")
    if summary.pending:  # a script or a service manager must see that the run fell short
        typer.echo(f"error: {summary.pending} readings could not be delivered before the run ended", err=True)
        raise typer.Exit(1)


def simulate(
    server: Annotated[str | None, typer.Option(help="Wattwise server URL, e.g. http://127.0.0.1:8000")] = None,
    key: Annotated[list[str] | None, typer.Option(help="Device key (repeat for several meters)")] = None,
    keys_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="File of `device_id key` lines")
    ] = None,
    device_id: Annotated[list[str] | None, typer.Option(help="Device id for MQTT topics (repeatable)")] = None,
    mqtt: Annotated[str | None, typer.Option(help="MQTT broker HOST:PORT instead of HTTP")] = None,
    mqtt_username: Annotated[str | None, typer.Option(help="MQTT username (the device id)")] = None,
    mqtt_password: Annotated[str | None, typer.Option(help="MQTT password (the device key)")] = None,
    devices: Annotated[int | None, typer.Option(help="Number of meters, each its own household")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between readings")] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed; meter i simulates household seed+i")] = 0,
    duration: Annotated[str | None, typer.Option(help="Live span of simulated time: 90s, 15m, 2h, 7d")] = None,
    count: Annotated[int | None, typer.Option(help="Live readings per meter, then stop")] = None,
    backfill: Annotated[float, typer.Option(help="Days of history sent first, in batches")] = 0.0,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    events: Annotated[Path | None, typer.Option(help="Write ground-truth appliance events (.csv or .jsonl)")] = None,
    timezone: Annotated[str, typer.Option(help="Households' time zone (their daily habits)")] = "UTC",
    start: Annotated[str | None, typer.Option(help="Simulated start time, RFC 3339 (default: now)")] = None,
    batch_size: Annotated[int, typer.Option(help="Readings per request when sending history")] = 5000,
    main_meter: Annotated[
        bool, typer.Option(help="The first meter measures the whole site: the others plus common loads")
    ] = False,
) -> None:
    """Simulate household meters and send their readings to a Wattwise server.

    Each meter is a home with a fridge, kettle, washing machine, lights and more, on a supply that sags under load.

    Example (a week of history, then live): wattwise simulate --server URL --keys-file keys.txt --backfill 7
    """
    if (server is None) == (mqtt is None):
        raise typer.BadParameter("choose where to send: --server URL or --mqtt HOST:PORT")
    server = None if server is None else server_url(server)
    if interval <= 0 or speed <= 0 or backfill < 0:
        raise typer.BadParameter("--interval and --speed must be positive, --backfill not negative")
    if not 1 <= batch_size <= MAX_BATCH:
        raise typer.BadParameter(f"--batch-size must be 1 to {MAX_BATCH}")
    if count is not None and count < 0:
        raise typer.BadParameter("--count must not be negative")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    meters = meters_for(
        devices=devices, keys=key or [], keys_file=keys_file, device_ids=device_id or [], mqtt=mqtt is not None
    )
    interval_ms = round(interval * 1000)
    duration_ms = None if duration is None else round(parse_duration(duration) * 1000)
    spans = [s for s in (duration_ms, None if count is None else count * interval_ms) if s is not None]
    span_ms = min(spans) if spans else None
    plan = RunPlan(
        meters=meters,
        seed=seed,
        interval_ms=interval_ms,
        start_ms=start_time_ms(start, speed, span_ms, int(time.time() * 1000)),
        count=count,
        duration_ms=duration_ms,
        backfill_ms=round(backfill * 86_400_000),
        speed=speed,
        timezone=timezone,
        batch=batch_size,
        main_meter=main_meter,
    )
    if main_meter and len(meters) < 2:
        raise typer.BadParameter("--main-meter needs at least two meters: the main one first, then sub-meters")
    try:
        time_zone(timezone)
    except ValueError as exc:
        raise typer.BadParameter(f"--timezone {timezone!r} is not a known time zone") from exc
    broker = parse_host_port(mqtt) if mqtt is not None else None
    try:
        writer = EventWriter(events) if events is not None else None
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        summary = asyncio.run(_run(plan, server, broker, mqtt_username, mqtt_password, writer))
    except (DeliveryError, DeliveryUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)
        raise typer.Exit(130) from None
    finally:
        if writer is not None:
            writer.close()
    _report(summary, events, over_mqtt=mqtt is not None)


async def _run(
    plan: RunPlan,
    server: str | None,
    broker: tuple[str, int] | None,
    username: str | None,
    password: str | None,
    writer: EventWriter | None,
) -> RunSummary:
    if server is not None:
        sender: HttpSender | MqttSender = HttpSender(server, max_batch=plan.batch)
    else:
        assert broker is not None
        sender = MqttSender(*broker, username=username, password=password)
    try:
        return await run(plan, sender, writer)
    finally:
        await sender.aclose()
