"""The serial gateway: poll each PZEM once a second, queue on disk, forward to Wattwise.

Two threads share the disk queue. The poller reads every meter on the bus on a fixed
schedule and queues what it got (a meter fault costs that meter one sample, nothing
else). The sender delivers the queue oldest first, per meter, in batches; while the
server is unreachable it backs off (``retry_min_s`` doubling up to ``retry_max_s``) and
keeps everything, then replays in order. Commands arriving for a meter are carried out
once and their results reported until the server has them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import serial

from wattwise.devices.gateway import commands
from wattwise.devices.gateway.queue import DEFAULT_MAX_ROWS, DiskQueue
from wattwise.devices.gateway.uplink import MeterLink, Outcome, Uplink
from wattwise.devices.modbus_frames import Measurement
from wattwise.devices.pzem import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    PzemBus,
    PzemError,
    RetryPolicy,
)

log = logging.getLogger(__name__)


def parse_meters(spec: str, key: str | None = None) -> list[MeterLink]:
    """Meters from ``--address``: ``1,2,3`` with one ``--key`` only for a single meter,
    ``1=KEY1,2=KEY2``, or ``1=ID:KEY`` where MQTT needs the device id.
    """
    links: list[MeterLink] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        address_text, _, credentials = part.partition("=")
        try:
            address = int(address_text, 0)
        except ValueError:
            raise ValueError(f"--address: {address_text!r} is not a Modbus address") from None
        if not 1 <= address <= 247:
            raise ValueError(f"--address: {address} is outside 1..247")
        device_id: int | None = None
        if credentials:
            id_text, colon, meter_key = credentials.partition(":")
            if colon and id_text.isdigit():
                device_id = int(id_text)
            else:
                meter_key = credentials
        elif key:
            meter_key = key
        else:
            raise ValueError(f"--address: meter {address} has no key (use {address}=KEY or --key)")
        links.append(MeterLink(address=address, key=meter_key, device_id=device_id))
    if not links:
        raise ValueError("--address: name at least one meter address")
    if key and len(links) > 1 and any(link.key == key for link in links):
        raise ValueError("--key is one meter's key; with several addresses give each its own: 1=KEY1,2=KEY2")
    if key and all("=" in p for p in spec.split(",") if p.strip()):
        raise ValueError("--key would go unused: every address names its own key (drop --key, or the =KEY)")
    if len({link.address for link in links}) != len(links):
        raise ValueError("--address: an address is listed twice")
    return links


def reading_body(m: Measurement, ts_ms: int) -> dict[str, Any]:
    """One reading as the ingest API takes it."""
    return {
        "ts": ts_ms,
        "voltage": m.voltage,
        "current": m.current,
        "power": m.power,
        "energy": m.energy,
        "frequency": m.frequency,
        "pf": m.pf,
    }


@dataclass
class GatewayConfig:
    """Everything the gateway needs; times in seconds."""

    port: str
    meters: list[MeterLink]
    queue_path: Path
    interval_s: float = 1.0
    send_interval_s: float = 1.0
    batch_size: int = 1000
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0
    max_queue: int = DEFAULT_MAX_ROWS
    meter_timeout_s: float = DEFAULT_TIMEOUT_S
    meter_retries: int = DEFAULT_RETRIES
    reopen_s: float = 5.0


@dataclass
class Gateway:
    """Polls the bus, queues, forwards; ``run`` until the stop event is set."""

    config: GatewayConfig
    uplink: Uplink
    stats: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.queue = DiskQueue(self.config.queue_path, max_rows=self.config.max_queue)
        self.links = {link.address: link for link in self.config.meters}
        self.bus: PzemBus | None = None
        self._bus_lock = threading.Lock()  # the poller and the sender (commands) both open it
        self.batch_size = self.config.batch_size
        self._last_ts: dict[int, int] = {}  # per meter: the server keeps one reading per (meter, ts)

    def close(self) -> None:
        """Release the port, the uplink and the queue file."""
        if self.bus is not None:
            self.bus.close()
            self.bus = None
        self.uplink.close()
        self.queue.close()

    # -- polling -------------------------------------------------------------------------

    def _open_bus(self) -> PzemBus | None:
        with self._bus_lock:
            return self._open_bus_locked()

    def _open_bus_locked(self) -> PzemBus | None:
        if self.bus is None:
            try:
                self.bus = PzemBus(
                    self.config.port,
                    timeout_s=self.config.meter_timeout_s,
                    retry=RetryPolicy(self.config.meter_retries),
                )
            except (serial.SerialException, OSError) as exc:
                log.error("cannot open %s: %s", self.config.port, exc)
                self.stats["port_errors"] += 1
        return self.bus

    def poll_once(self) -> int:
        """Read every meter once and queue what was read; returns how many were read."""
        bus = self._open_bus()
        if bus is None:
            return 0
        read = 0
        for address in self.links:
            # Strictly increasing per meter: two reads in the same millisecond, or the clock
            # stepping back, would otherwise make the server drop one as a duplicate.
            ts_ms = max(int(time.time() * 1000), self._last_ts.get(address, -1) + 1)
            try:
                measurement = bus.read(address)
            except PzemError as exc:
                log.warning("meter %d: %s", address, exc)
                self.stats["meter_errors"] += 1
                continue
            except (serial.SerialException, OSError) as exc:
                log.error("port %s failed: %s; reopening", self.config.port, exc)
                self.stats["port_errors"] += 1
                bus.close()
                self.bus = None
                return read
            self._last_ts[address] = ts_ms
            dropped = self.queue.put(address, reading_body(measurement, ts_ms))
            if dropped:
                log.warning("queue full: dropped %d oldest readings", dropped)
            read += 1
        self.stats["polled"] += read
        return read

    def _poll_loop(self, stop: threading.Event) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            if self.poll_once() == 0 and self.bus is None:
                stop.wait(self.config.reopen_s)
            next_at += self.config.interval_s
            now = time.monotonic()
            if next_at < now:  # fell behind (a slow bus): skip, never burst
                next_at = now
            stop.wait(next_at - now)

    # -- forwarding ----------------------------------------------------------------------

    def flush_once(self) -> bool:
        """Send everything queued and every pending result; False when the server failed."""
        all_sent = True
        for address in self.queue.meters():
            link = self.links.get(address)
            if link is None:
                log.warning("readings queued for meter %d, which is not configured", address)
                continue
            outcome = self._flush_meter(link)
            if outcome is Outcome.RETRY:
                return False  # the server is away: the other meters would fail alike
            all_sent = all_sent and outcome is Outcome.STORED
        for link in self.links.values():
            for command in self.uplink.commands(link):
                self._carry_out(link, command)
        return self._report_results() and all_sent

    def _flush_meter(self, link: MeterLink) -> Outcome:
        """Deliver one meter's queue: STORED when it is empty, else why it stopped."""
        while True:
            batch = self.queue.batch(link.address, self.batch_size)
            if not batch:
                return Outcome.STORED
            delivery = self.uplink.send(link, [q.body for q in batch])
            if delivery.outcome is Outcome.TOO_BIG and self.batch_size > 1:
                self.batch_size = max(1, self.batch_size // 2)
                continue
            if delivery.outcome not in (Outcome.STORED, Outcome.REFUSED):
                log.info("meter %d: %d readings kept: %s", link.address, len(batch), delivery.detail)
                return delivery.outcome if delivery.outcome is Outcome.UNAUTHORIZED else Outcome.RETRY
            self.queue.ack(batch)
            self.stats["sent"] += len(batch)
            if delivery.rejected:
                self.queue.bump("rejected", delivery.rejected)
                self.stats["rejected"] += delivery.rejected
            for command in delivery.commands:
                self._carry_out(link, command)

    def _carry_out(self, link: MeterLink, command: dict[str, Any]) -> None:
        bus = self._open_bus()
        if bus is None:
            log.warning("command %s: port closed, will be done when the server resends", command)
            return
        commands.handle(self.queue, bus, link.address, command)
        self.stats["commands"] += 1

    def _report_results(self) -> bool:
        for command_id, address, result in self.queue.unreported():
            link = self.links.get(address)
            if link is None:
                continue
            if not self.uplink.report(link, command_id, result):
                return False
            self.queue.mark_reported(command_id)
        return True

    def _send_loop(self, stop: threading.Event) -> bool:
        """Forward until stopped; returns whether the server answered the last attempt."""
        delay = self.config.retry_min_s
        online = True
        while not stop.is_set():
            online = self.flush_once()
            if online:
                delay = self.config.retry_min_s
                stop.wait(self.config.send_interval_s)
            else:
                self.stats["send_failures"] += 1
                stop.wait(delay)
                delay = min(delay * 2, self.config.retry_max_s)
        return online

    def run(self, stop: threading.Event) -> None:
        """Poll and forward until ``stop`` is set; what is queued stays for the next run."""
        poller = threading.Thread(target=self._poll_loop, args=(stop,), name="gateway-poll")
        poller.start()
        online = False
        try:
            online = self._send_loop(stop)
        finally:
            stop.set()
            poller.join()
        if online:
            self.flush_once()  # the last polls, while the server is known to be there
