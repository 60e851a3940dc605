"""Driver for PZEM-004T v3 meters on one RS-485 (or TTL) bus, addressed by Modbus address.

pyserial carries the bytes and ``modbus_frames`` holds the framing, which the emulator
shares. pymodbus is not used because its RTU client hides what went wrong: a reply with a
bad CRC, the wrong length or another slave's address is dropped inside its framer and
surfaces, after its own retries, as the same generic "no response" as a silent meter, and
the PZEM's non-standard 0x42 reset needs a custom PDU class. Users of several meters on
one bus need exactly those distinctions (esphome #2158, #4746), so the driver reads the
reply itself and raises one typed error per fault.

    bus = PzemBus("/dev/ttyUSB0")            # or "socket://127.0.0.1:5020"
    m = bus.read(1)                          # Measurement(voltage=225.7, current=0.108, …)
    bus.set_alarm_threshold(1, 2300)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import serial

from wattwise.devices import modbus_frames as mf
from wattwise.devices.modbus_frames import Measurement

log = logging.getLogger(__name__)

BAUDRATE = 9600
DEFAULT_TIMEOUT_S = 0.2  # MycilaPZEM's read timeout; a 25-byte reply takes 26 ms at 9600 Bd
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 0.05
SILENCE_S = 0.02  # a gap this long ends whatever stray bytes are on the line


class PzemError(Exception):
    """Anything that kept a meter from answering a request correctly."""


class PzemTimeout(PzemError):
    """The meter sent nothing within the timeout."""


class PzemBadFrame(PzemError):
    """The meter (or the line) sent bytes that are not a valid answer to the request."""


class PzemCrcError(PzemBadFrame):
    """The answer's CRC does not match its bytes (noise, collisions on the bus)."""


class PzemLengthError(PzemBadFrame):
    """The answer is shorter than its function requires, or announces the wrong byte count."""


class PzemAddressError(PzemBadFrame):
    """The answer came from another address than the one asked."""


class PzemExceptionReply(PzemError):
    """The meter answered with a Modbus exception code."""

    def __init__(self, address: int, function: int, code: int) -> None:
        self.address = address
        self.function = function
        self.code = code
        self.name = mf.EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(
            f"meter {address}: function 0x{function:02X} refused with exception 0x{code:02X} ({self.name})"
        )


class Port(Protocol):
    """What the driver needs of a serial port (pyserial's Serial and its URL handlers)."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def open_port(url: str, *, baudrate: int = BAUDRATE) -> Port:
    """Open a device path (``/dev/ttyUSB0``) or a pyserial URL (``socket://host:port``)."""
    port: Port = serial.serial_for_url(
        url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=DEFAULT_TIMEOUT_S
    )
    return port


def _check_address(address: int, *, allow_general: bool = True) -> None:
    ok = mf.MIN_ADDRESS <= address <= mf.MAX_ADDRESS
    if allow_general:
        ok = ok or address == mf.GENERAL_ADDRESS
    if not ok:
        raise ValueError(
            f"address {address} is not a PZEM slave address (1..247"
            + (", or 248 = 0xF8 for the only meter on the bus)" if allow_general else ")")
        )


@dataclass
class RetryPolicy:
    """How often to ask again after a transient fault, and how long to wait between tries."""

    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S

    def delay(self, attempt: int) -> float:
        """Exponential back-off: backoff, 2×backoff, 4×backoff …"""
        return float(self.backoff_s * 2.0**attempt)


class PzemBus:
    """All PZEM meters on one serial line; safe to share between threads."""

    def __init__(
        self,
        port: str | Port,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.port: Port = open_port(port) if isinstance(port, str) else port
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the serial port."""
        self.port.close()

    def __enter__(self) -> PzemBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the meter's functions -------------------------------------------------------

    def read(self, address: int) -> Measurement:
        """Read voltage, current, power, energy, frequency, power factor and alarm."""
        _check_address(address)
        registers = self.read_registers(address, mf.READ_INPUT, 0x0000, mf.INPUT_REGISTER_COUNT)
        return mf.decode_measurement(registers)

    def reset_energy(self, address: int) -> None:
        """Set the meter's energy counter to zero."""
        _check_address(address)
        self.transact(address, mf.RESET_ENERGY, mf.reset_energy_request(address))

    def read_alarm_threshold(self, address: int) -> int:
        """The power (W) above which the meter raises its alarm flag."""
        _check_address(address)
        return self.read_registers(address, mf.READ_HOLDING, mf.REG_ALARM_THRESHOLD, 1)[0]

    def set_alarm_threshold(self, address: int, watts: int) -> None:
        """Set the power-alarm threshold in whole watts."""
        _check_address(address)
        if not 0 <= watts <= 0xFFFF:
            raise ValueError(f"alarm threshold {watts} W must be between 0 and 65535 W")
        request = mf.write_request(address, mf.REG_ALARM_THRESHOLD, watts)
        self.transact(address, mf.WRITE_SINGLE, request)

    def read_address(self, address: int = mf.GENERAL_ADDRESS) -> int:
        """The Modbus address a meter has stored (ask 0xF8 when it is alone on the bus)."""
        _check_address(address)
        return self.read_registers(address, mf.READ_HOLDING, mf.REG_ADDRESS, 1)[0]

    def set_address(self, address: int, new_address: int) -> None:
        """Give the meter at ``address`` a new Modbus address (takes effect at once)."""
        _check_address(address)
        _check_address(new_address, allow_general=False)
        request = mf.write_request(address, mf.REG_ADDRESS, new_address)
        self.transact(address, mf.WRITE_SINGLE, request)

    # -- the exchange ------------------------------------------------------------------

    def read_registers(self, address: int, function: int, start: int, count: int) -> list[int]:
        """Raw 0x03/0x04 read of ``count`` registers from ``start`` (checked, retried)."""
        request = mf.read_request(address, function, start, count)
        reply = self.transact(address, function, request)
        if reply[2] != 2 * count:
            raise PzemLengthError(
                f"meter {address}: {reply[2]} data bytes for {count} registers (expected {2 * count})"
            )
        return mf.registers_of(reply)

    def transact(self, address: int, function: int, request: bytes) -> bytes:
        """Send a raw ``request`` and return the checked reply, retrying transient faults."""
        attempt = 0
        while True:
            try:
                with self._lock:
                    reply = self._exchange(address, function, request)
                if function == mf.WRITE_SINGLE or function == mf.RESET_ENERGY:
                    self._check_echo(address, request, reply)
                return reply
            except (PzemTimeout, PzemBadFrame) as exc:
                error: PzemError = exc
            except PzemExceptionReply as exc:
                if exc.code != 0x04:  # only "slave error" may go away on its own
                    raise
                error = exc
            if attempt >= self.retry.retries:
                raise error
            log.debug("meter %d: %s; retry %d", address, error, attempt + 1)
            time.sleep(self.retry.delay(attempt))
            attempt += 1

    def _check_echo(self, address: int, request: bytes, reply: bytes) -> None:
        if reply != request and not (address == mf.GENERAL_ADDRESS and reply[1:] == request[1:]):
            raise PzemBadFrame(f"meter {address}: echo {reply.hex(' ')} != {request.hex(' ')}")

    def _exchange(self, address: int, function: int, request: bytes) -> bytes:
        self.port.reset_input_buffer()
        self.port.write(request)
        deadline = time.monotonic() + self.timeout_s
        head = self._read_until(2, deadline)
        if not head:
            raise PzemTimeout(f"meter {address}: no answer within {self.timeout_s:g} s")
        if len(head) < 2:
            raise PzemLengthError(f"meter {address}: answer cut after 1 byte")
        if head[1] & 0x7F != function:
            self._drain()
            raise PzemBadFrame(f"meter {address}: answer has function 0x{head[1]:02X}, asked 0x{function:02X}")
        if head[1] & 0x80 == 0 and function in (mf.READ_HOLDING, mf.READ_INPUT):
            head += self._read_until(1, deadline)
        expected = mf.reply_length(head)
        if expected is None:
            raise PzemLengthError(f"meter {address}: answer cut after {len(head)} bytes")
        frame = head + self._read_until(expected - len(head), deadline)
        if len(frame) < expected:
            raise PzemLengthError(f"meter {address}: answer cut after {len(frame)} of {expected} bytes")
        if not mf.crc_ok(frame):
            self._drain()
            raise PzemCrcError(f"meter {address}: bad CRC in {frame.hex(' ')}")
        if frame[0] != address and address != mf.GENERAL_ADDRESS:
            self._drain()
            raise PzemAddressError(f"meter {address}: answer came from address {frame[0]}")
        if frame[1] & 0x80:
            raise PzemExceptionReply(address, function, frame[2])
        return frame

    def _read_until(self, n: int, deadline: float) -> bytes:
        """Up to ``n`` bytes, as many as arrive before ``deadline``."""
        data = b""
        while len(data) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.port.timeout = remaining
            chunk = self.port.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _drain(self) -> None:
        """Swallow the rest of a bad answer so the next request starts on a quiet line."""
        self.port.timeout = SILENCE_S
        while self.port.read(256):
            pass


class PzemMeter:
    """One meter on a bus, for code that deals with a single address."""

    def __init__(self, bus: PzemBus, address: int) -> None:
        _check_address(address)
        self.bus = bus
        self.address = address

    def read(self) -> Measurement:
        """Read all quantities."""
        return self.bus.read(self.address)

    def reset_energy(self) -> None:
        """Zero the energy counter."""
        self.bus.reset_energy(self.address)

    def read_alarm_threshold(self) -> int:
        """The power-alarm threshold in W."""
        return self.bus.read_alarm_threshold(self.address)

    def set_alarm_threshold(self, watts: int) -> None:
        """Set the power-alarm threshold in W."""
        self.bus.set_alarm_threshold(self.address, watts)

    def set_address(self, new_address: int) -> None:
        """Move the meter to ``new_address``; this object follows it."""
        self.bus.set_address(self.address, new_address)
        self.address = new_address
