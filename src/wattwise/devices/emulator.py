"""A PZEM-004T v3 stand-in: a Modbus-RTU slave on a pseudo-terminal or a TCP-serial bridge.

Each emulated meter answers as the datasheet says (``modbus_frames``) and measures what a
source of wattwise ``Reading``s tells it — the household simulator, or a recorded CSV
such as the OMPM PZEM recording — with the real meter's quirks: register resolution
(0.1 V, 1 mA, 0.1 W, 1 Wh, 0.1 Hz, 0.01), power below the 0.4 W starting threshold read
as 0 W with PF 0 and a residual 0.03 A current, an energy counter that integrates power
and wraps at 9999.99 kWh, and the alarm flag above the power-alarm threshold. Registers
refresh once per tick (a second on the real meter). A ``FaultInjector`` makes replies go
missing, arrive late, cut short, corrupted, from the wrong address, or as garbage.
"""

from __future__ import annotations

import csv
import enum
import logging
import math
import os
import random
import select
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattwise.devices import modbus_frames as mf
from wattwise.devices.modbus_frames import Measurement
from wattwise.domain.readings import Reading
from wattwise.domain.timestamps import epoch_ms

log = logging.getLogger(__name__)

START_POWER_W = 0.4  # the datasheet's starting power: below it the meter reads 0 W
IDLE_CURRENT_A = 0.03  # what real PZEMs report with no load (see pzem-idle-logs)
DEFAULT_ALARM_W = 2300
SILENCE_S = 0.02  # a request's bytes arrive together; a gap this long ends a frame
BYTE_TIME_S = 10 / 9600  # start + 8 data + stop bits at 9600 Bd


# -- sources -----------------------------------------------------------------------------

_COLUMN_ALIASES: dict[str, str] = {
    "voltage": "voltage",
    "voltage_v": "voltage",
    "current": "current",
    "current_a": "current",
    "power": "power",
    "power_w": "power",
    "active_power_w": "power",
    "energy": "energy",
    "energy_wh": "energy",
    "frequency": "frequency",
    "frequency_hz": "frequency",
    "pf": "pf",
    "power_factor": "pf",
}
_TIME_COLUMNS = ("ts", "timestamp_est", "timestamp", "datetime", "timestamp_raw")


def _parse_time(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        stamp = datetime.fromisoformat(text[:26])
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    return epoch_ms(number)


def readings_from_csv(path: str | Path, *, device_id: int = 0) -> Iterator[Reading]:
    """Readings from a recorded CSV: the OMPM export, PZEM logger files, or wattwise's own.

    Column names are matched without case or padding (``voltage_V``, ``power_w`` …); rows
    that repeat the header or hold no number are skipped; a missing time column gives 1 s
    steps from zero.
    """
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = [h.strip().lower() for h in next(rows)]
        columns = {_COLUMN_ALIASES[h]: i for i, h in enumerate(header) if h in _COLUMN_ALIASES}
        if "power" not in columns and "current" not in columns:
            raise ValueError(f"{path}: no power or current column in {header}")
        time_col = next((header.index(c) for c in _TIME_COLUMNS if c in header), None)
        for n, row in enumerate(rows):
            values: dict[str, float | None] = {}
            try:
                for metric, i in columns.items():
                    cell = row[i].strip()
                    values[metric] = float(cell) if cell else None
            except (ValueError, IndexError):
                continue  # a repeated header line or a cut row
            ts = _parse_time(row[time_col]) if time_col is not None else None
            yield Reading(device_id=device_id, ts=ts if ts is not None else n * 1000, **values)


# -- one meter ---------------------------------------------------------------------------


@dataclass
class EmulatedMeter:
    """One PZEM: its address, settings, energy counter and the source of what it measures."""

    address: int
    source: Iterator[Reading]
    alarm_threshold: int = DEFAULT_ALARM_W
    idle_current: float | None = IDLE_CURRENT_A
    energy_wh: float = 0.0
    loop: Iterable[Reading] | None = None  # when set, the source starts again from here
    _now: Reading | None = field(default=None, init=False)
    _source_offset: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.advance(0.0)  # a meter shows its first sample as soon as it is powered

    def advance(self, dt_s: float) -> None:
        """Count dt of the present load into the energy counter, then take the next sample."""
        now = self._now
        if now is not None and now.energy is None:
            watts = now.power if now.power is not None else (now.voltage or 0) * (now.current or 0)
            if watts >= START_POWER_W:
                self.energy_wh += watts * dt_s / 3600.0
        nxt = next(self.source, None)
        if nxt is None and self.loop is not None:
            self.source = iter(self.loop)
            nxt = next(self.source, None)
        if nxt is not None:
            self._now = nxt
            if nxt.energy is not None:
                # A source with its own counter (a recorded PZEM) drives ours, less resets.
                self.energy_wh = nxt.energy + self._source_offset
        self.energy_wh %= mf.ENERGY_WRAP_WH

    def reset_energy(self) -> None:
        """What function 0x42 does: the counter starts again from zero."""
        if self._now is not None and self._now.energy is not None:
            self._source_offset = -self._now.energy
        self.energy_wh = 0.0

    def measurement(self) -> Measurement:
        """The registers as the meter would present them now."""
        r = self._now or Reading(device_id=0, ts=0, voltage=0.0, current=0.0, power=0.0)
        voltage = r.voltage or 0.0
        power = max(r.power if r.power is not None else voltage * (r.current or 0.0), 0.0)
        current = r.current if r.current is not None else (power / voltage if voltage else 0.0)
        pf = r.pf if r.pf is not None else _pf(power, voltage, current)
        if power < START_POWER_W:
            power, pf = 0.0, 0.0
            if self.idle_current is not None:
                current = self.idle_current
        return mf.quantise(
            Measurement(
                voltage=voltage,
                current=current,
                power=power,
                energy=float(math.floor(self.energy_wh)),
                frequency=r.frequency if r.frequency is not None else 50.0,
                pf=min(max(pf, 0.0), 1.0),
                alarm=power > self.alarm_threshold,
            )
        )


def _pf(power: float, voltage: float, current: float) -> float:
    apparent = voltage * current
    return power / apparent if apparent > 0 else 0.0


# -- faults ------------------------------------------------------------------------------


class Fault(enum.StrEnum):
    """What can go wrong with one reply."""

    NONE = "none"
    NO_REPLY = "no_reply"
    BAD_CRC = "bad_crc"
    GARBAGE = "garbage"
    PARTIAL = "partial"
    SLOW = "slow"
    WRONG_ADDRESS = "wrong_address"


@dataclass
class FaultInjector:
    """Chooses the fault for each reply: scripted ones first, then at random by rate."""

    rates: dict[Fault, float] = field(default_factory=dict)
    slow_s: float = 0.5
    seed: int = 0
    scripted: deque[Fault] = field(default_factory=deque)
    injected: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def script(self, *faults: Fault) -> None:
        """Inject these faults, in order, into the next replies."""
        self.scripted.extend(faults)

    def next_fault(self) -> Fault:
        """The fault for the reply about to be sent."""
        if self.scripted:
            fault = self.scripted.popleft()
        else:
            fault = Fault.NONE
            roll = self._rng.random()
            for candidate, rate in self.rates.items():
                if roll < rate:
                    fault = candidate
                    break
                roll -= rate
        if fault is not Fault.NONE:
            self.injected.append(fault)
        return fault

    def apply(self, fault: Fault, reply: bytes) -> bytes | None:
        """The bytes that go on the line instead of ``reply`` (None: nothing)."""
        if fault is Fault.NO_REPLY:
            return None
        if fault is Fault.BAD_CRC:
            return reply[:-1] + bytes(((reply[-1] ^ 0x5A) or 1,))
        if fault is Fault.GARBAGE:
            junk = bytes(self._rng.randrange(256) for _ in range(len(reply)))
            return junk if not mf.crc_ok(junk) else junk[:-1] + bytes((junk[-1] ^ 1,))
        if fault is Fault.PARTIAL:
            return reply[: max(1, len(reply) // 2)]
        if fault is Fault.WRONG_ADDRESS:
            other = reply[0] % mf.MAX_ADDRESS + 1
            return mf.with_crc(bytes((other,)) + reply[1:-2])
        return reply


# -- the bus -----------------------------------------------------------------------------


class PzemEmulator:
    """Several emulated meters sharing one bus; ``handle`` turns a request into the reply."""

    def __init__(
        self,
        meters: Iterable[EmulatedMeter],
        *,
        faults: FaultInjector | None = None,
        tick_s: float = 1.0,
        refresh_s: float | None = 1.0,
        advance_per_read: bool = False,
        keep_served: int | None = None,
        wire_speed: bool = False,
    ) -> None:
        self.meters = list(meters)
        self.faults = faults or FaultInjector()
        self.tick_s = tick_s  # meter time each refresh stands for (energy integration)
        self.refresh_s = refresh_s  # wall time between refreshes while serving; None: manual
        self.advance_per_read = advance_per_read  # tests: one sample per poll, not per second
        # Intact 0x04 replies, in order (the last ``keep_served`` of them; None: all).
        self.served: deque[tuple[int, Measurement]] = deque(maxlen=keep_served)
        self.served_total = 0
        self.wire_speed = wire_speed  # answer no faster than 9600 Bd carries the bytes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closers: list[socket.socket | int] = []
        self.url = ""

    # -- the meters' behaviour ---------------------------------------------------------

    def advance(self) -> None:
        """One register refresh on every meter (a second of the real meter's time)."""
        with self._lock:
            for meter in self.meters:
                meter.advance(self.tick_s)

    def meter(self, address: int) -> EmulatedMeter:
        """The meter currently at ``address``."""
        for meter in self.meters:
            if meter.address == address:
                return meter
        raise KeyError(f"no emulated meter at address {address}")

    def handle(self, request: bytes) -> bytes | None:
        """The correct reply to ``request`` (None when the meter stays silent)."""
        with self._lock:
            return self._handle(request)

    def _addressed(self, address: int) -> list[EmulatedMeter]:
        if address == mf.BROADCAST_ADDRESS:
            return self.meters
        if address == mf.GENERAL_ADDRESS:
            return self.meters if len(self.meters) == 1 else []
        return [m for m in self.meters if m.address == address]

    def _handle(self, request: bytes) -> bytes | None:
        if len(request) < 4 or not mf.crc_ok(request):
            return None  # a real slave ignores frames with a bad CRC
        address = request[0]
        targets = self._addressed(address)
        if not targets:
            return None
        reply = self._execute(targets, request)
        return None if address == mf.BROADCAST_ADDRESS else reply

    def _execute(self, targets: list[EmulatedMeter], request: bytes) -> bytes:
        address, function = request[0], request[1]
        if mf.request_length(function) != len(request) or function == mf.CALIBRATE:
            return mf.exception_reply(address, function, 0x01)
        if function == mf.RESET_ENERGY:
            for meter in targets:
                meter.reset_energy()
            return request
        register = int.from_bytes(request[2:4], "big")
        value = int.from_bytes(request[4:6], "big")
        if function == mf.WRITE_SINGLE:
            return self._write(targets, request, register, value)
        meter = targets[0]
        if function == mf.READ_INPUT:
            regs = mf.encode_measurement(meter.measurement())
        else:
            regs = [0, meter.alarm_threshold, meter.address]
        lo = 0 if function == mf.READ_INPUT else 1
        if value < 1 or value > len(regs):
            return mf.exception_reply(address, function, 0x03)
        if register < lo or register + value > len(regs):
            return mf.exception_reply(address, function, 0x02)
        return mf.registers_reply(address, function, regs[register : register + value])

    def _write(self, targets: list[EmulatedMeter], request: bytes, register: int, value: int) -> bytes:
        address = request[0]
        if register == mf.REG_ALARM_THRESHOLD:
            for meter in targets:
                meter.alarm_threshold = value
        elif register == mf.REG_ADDRESS:
            if not mf.MIN_ADDRESS <= value <= mf.MAX_ADDRESS:
                return mf.exception_reply(address, mf.WRITE_SINGLE, 0x03)
            for meter in targets:
                meter.address = value
        else:
            return mf.exception_reply(address, mf.WRITE_SINGLE, 0x02)
        return request

    def respond(self, request: bytes) -> tuple[bytes | None, float]:
        """The bytes to put on the line after ``request`` and how long to wait first."""
        reply = self.handle(request)
        if reply is None:
            return None, 0.0
        fault = self.faults.next_fault()
        out = self.faults.apply(fault, reply)
        if request[1] == mf.READ_INPUT and len(reply) == 25:
            if fault is Fault.NONE:
                self.served.append((reply[0], mf.decode_measurement(mf.registers_of(reply))))
                self.served_total += 1
            if self.advance_per_read:
                self.advance()
        delay = self.faults.slow_s if fault is Fault.SLOW else 0.0
        if self.wire_speed and out is not None:
            delay += (len(request) + len(out)) * BYTE_TIME_S
        return out, delay

    # -- transports --------------------------------------------------------------------

    def serve_pty(self, link: str | Path | None = None) -> str:
        """Serve on a new pseudo-terminal; returns its path (or ``link``, made a symlink)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        path = os.ttyname(slave)
        if link is not None:
            Path(link).unlink(missing_ok=True)
            Path(link).symlink_to(path)
            path = str(link)
        self._closers += [master, slave]
        self._start(self._pty_loop, master)
        self.url = path
        return path

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve as a TCP-serial bridge; returns the pyserial URL ``socket://host:port``."""
        server = socket.create_server((host, port))
        server.setblocking(False)
        self._closers.append(server)
        self._start(self._tcp_loop, server)
        self.url = f"socket://{host}:{server.getsockname()[1]}"
        return self.url

    def _start(self, target: Callable[[Any], None], arg: object) -> None:
        self._thread = threading.Thread(target=target, args=(arg,), daemon=True, name="pzem-emu")
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the pty or socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for item in self._closers:
            if isinstance(item, int):
                os.close(item)
            else:
                item.close()
        self._closers.clear()

    def __enter__(self) -> PzemEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_due(self, next_tick: float) -> float:
        now = time.monotonic()
        if self.refresh_s is not None and now >= next_tick:
            self.advance()
            return now + self.refresh_s
        return next_tick

    def _pty_loop(self, master: int) -> None:
        framer = _RequestFramer()
        next_tick = time.monotonic() + (self.refresh_s or 0.0)
        while not self._stop.is_set():
            next_tick = self._tick_due(next_tick)
            ready, _, _ = select.select([master], [], [], SILENCE_S)
            data = os.read(master, 4096) if ready else b""
            for request in framer.feed(data, time.monotonic()):
                self._answer(request, lambda out: os.write(master, out))

    def _tcp_loop(self, server: socket.socket) -> None:
        clients: dict[socket.socket, _RequestFramer] = {}
        next_tick = time.monotonic() + (self.refresh_s or 0.0)
        while not self._stop.is_set():
            next_tick = self._tick_due(next_tick)
            ready, _, _ = select.select([server, *clients], [], [], SILENCE_S)
            for sock in ready:
                if sock is server:
                    conn, _ = server.accept()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    clients[conn] = _RequestFramer()
                    continue
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    clients.pop(sock).feed(b"", math.inf)
                    sock.close()
                    continue
                for request in clients[sock].feed(data, time.monotonic()):
                    self._answer(request, sock.sendall)
            now = time.monotonic()
            for sock, framer in list(clients.items()):
                for request in framer.feed(b"", now):
                    self._answer(request, sock.sendall)
        for sock in clients:
            sock.close()

    def _answer(self, request: bytes, send: Callable[[bytes], object]) -> None:
        out, delay = self.respond(request)
        if out is None:
            return
        if delay:
            time.sleep(delay)
        try:
            send(out)
        except OSError:
            log.debug("client went away before its reply")


class _RequestFramer:
    """Cuts the byte stream into requests: by the function's length, else by silence."""

    def __init__(self) -> None:
        self.buf = b""
        self.last = 0.0

    def feed(self, data: bytes, now: float) -> list[bytes]:
        frames: list[bytes] = []
        if data:
            self.buf += data
            self.last = now
        while len(self.buf) >= 2:
            length = mf.request_length(self.buf[1])
            if length is not None and len(self.buf) >= length:
                frame, self.buf = self.buf[:length], self.buf[length:]
                if mf.crc_ok(frame):
                    frames.append(frame)
                    continue
                self.buf = b""  # line noise: drop everything up to the next silence
                break
            if now - self.last >= SILENCE_S:
                frames.append(self.buf)  # unknown function or a cut request
                self.buf = b""
            break
        if len(self.buf) == 1 and now - self.last >= SILENCE_S:
            self.buf = b""
        return frames


def csv_meter(
    path: str | Path,
    address: int,
    *,
    loop: bool = True,
    idle_current: float | None = IDLE_CURRENT_A,
    alarm_threshold: int = DEFAULT_ALARM_W,
    energy_wh: float = 0.0,
) -> EmulatedMeter:
    """A meter that replays a recorded CSV (again from the start when ``loop``)."""
    rows = list(readings_from_csv(path))
    if not rows:
        raise ValueError(f"{path}: no readings")
    return EmulatedMeter(
        address=address,
        source=iter(rows),
        loop=rows if loop else None,
        idle_current=idle_current,
        alarm_threshold=alarm_threshold,
        energy_wh=energy_wh,
    )


def household_readings(seed: int, *, interval_s: float = 1.0) -> Iterator[Reading]:
    """Endless readings of the simulated household drawn from ``seed``, from now on."""
    from wattwise.devices.simulator.frame import simulate_span
    from wattwise.devices.simulator.household import initial_state, make_household

    home = make_household(seed)
    interval_ms = round(interval_s * 1000)
    state = initial_state(home, int(time.time() * 1000))
    chunk = max(1, round(3600 / interval_s))
    while True:
        end = state.ts + chunk * interval_ms
        for next_state, samples, _events in simulate_span(home, state, end, interval_ms, chunk=chunk):
            state = next_state
            for row in samples.rows():
                yield Reading(
                    device_id=0,
                    ts=int(row["ts"]),
                    **{k: float(row[k]) for k in ("voltage", "current", "power", "energy")},
                    frequency=float(row["frequency"]),
                    pf=float(row["pf"]),
                )
