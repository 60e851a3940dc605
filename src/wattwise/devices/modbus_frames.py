"""PZEM-004T v3 Modbus-RTU frames: build, check and decode them, once for driver and emulator.

Wire facts (datasheet; see docs/devices.md)::

    request   addr(1) func(1) payload(n) crc_lo(1) crc_hi(1)
    0x04 read input      addr 04 start(2) count(2) crc     -> addr 04 nbytes(1) data(nbytes) crc
    0x03 read holding    addr 03 start(2) count(2) crc     -> addr 03 nbytes(1) data(nbytes) crc
    0x06 write holding   addr 06 reg(2) value(2) crc       -> the same 8 bytes echoed
    0x42 reset energy    addr 42 crc                       -> the same 4 bytes echoed
    exception reply      addr (func|0x80) code(1) crc

Input registers 0x0000..0x0009 (16-bit words, big-endian; 32-bit values low word first)::

    0 voltage 0.1 V | 1,2 current 1 mA | 3,4 power 0.1 W | 5,6 energy 1 Wh
    7 frequency 0.1 Hz | 8 power factor 0.01 | 9 alarm 0xFFFF / 0x0000

Holding registers: 0x0001 power-alarm threshold (1 W), 0x0002 Modbus address.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

READ_HOLDING = 0x03
READ_INPUT = 0x04
WRITE_SINGLE = 0x06
CALIBRATE = 0x41
RESET_ENERGY = 0x42

REG_ALARM_THRESHOLD = 0x0001
REG_ADDRESS = 0x0002
INPUT_REGISTER_COUNT = 10

BROADCAST_ADDRESS = 0x00
GENERAL_ADDRESS = 0xF8
MIN_ADDRESS = 0x01
MAX_ADDRESS = 0xF7

#: Exception codes a PZEM answers with, and what they mean.
EXCEPTION_NAMES: dict[int, str] = {
    0x01: "illegal function",
    0x02: "illegal address",
    0x03: "illegal data",
    0x04: "slave error",
}

#: Largest value of the 32-bit energy register the meter shows (9999.99 kWh) before it wraps.
ENERGY_WRAP_WH = 10_000_000

ALARM_ON = 0xFFFF
ALARM_OFF = 0x0000


def crc16(data: bytes) -> int:
    """CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF) of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    """Append the CRC, low byte first as on the wire."""
    return body + struct.pack("<H", crc16(body))


def crc_ok(frame: bytes) -> bool:
    """Whether the last two bytes of ``frame`` are the CRC of the bytes before them."""
    return len(frame) >= 4 and struct.unpack("<H", frame[-2:])[0] == crc16(frame[:-2])


def read_request(address: int, function: int, start: int, count: int) -> bytes:
    """A 0x03/0x04 request for ``count`` registers from ``start``."""
    return with_crc(struct.pack(">BBHH", address, function, start, count))


def write_request(address: int, register: int, value: int) -> bytes:
    """A 0x06 write of one holding register."""
    return with_crc(struct.pack(">BBHH", address, WRITE_SINGLE, register, value))


def reset_energy_request(address: int) -> bytes:
    """The 0x42 reset of the energy counter."""
    return with_crc(bytes((address, RESET_ENERGY)))


def registers_reply(address: int, function: int, registers: list[int]) -> bytes:
    """A slave's answer to a 0x03/0x04 read."""
    data = struct.pack(f">{len(registers)}H", *registers)
    return with_crc(bytes((address, function, len(data))) + data)


def exception_reply(address: int, function: int, code: int) -> bytes:
    """A slave's exception answer."""
    return with_crc(bytes((address, function | 0x80, code)))


def request_length(function: int) -> int | None:
    """Length of a request with this function code, or None when the PZEM knows no such."""
    if function in (READ_HOLDING, READ_INPUT, WRITE_SINGLE):
        return 8
    if function in (RESET_ENERGY, CALIBRATE):
        return 4
    return None


def reply_length(head: bytes) -> int | None:
    """Full length of a reply from its first three bytes, or None if they do not say.

    ``head`` needs at least two bytes; a register reply needs its third (the byte count).
    """
    function = head[1]
    if function & 0x80:
        return 5
    if function in (READ_HOLDING, READ_INPUT):
        return 5 + head[2] if len(head) >= 3 else None
    if function == WRITE_SINGLE:
        return 8
    if function in (RESET_ENERGY, CALIBRATE):
        return 4
    return None


def u32(low: int, high: int) -> int:
    """A 32-bit value from the PZEM's low-word-first register pair."""
    return (high << 16) | low


def split_u32(value: int) -> tuple[int, int]:
    """The (low, high) register pair of a 32-bit value."""
    return value & 0xFFFF, (value >> 16) & 0xFFFF


@dataclass(frozen=True, slots=True)
class Measurement:
    """The ten input registers, decoded to SI units at the meter's resolution."""

    voltage: float
    current: float
    power: float
    energy: float
    frequency: float
    pf: float
    alarm: bool


def encode_measurement(m: Measurement) -> list[int]:
    """The ten input registers a meter holds for ``m`` (values rounded to the resolution)."""
    cur_lo, cur_hi = split_u32(round(m.current * 1000))
    pow_lo, pow_hi = split_u32(round(m.power * 10))
    en_lo, en_hi = split_u32(round(m.energy) % ENERGY_WRAP_WH)
    return [
        round(m.voltage * 10),
        cur_lo,
        cur_hi,
        pow_lo,
        pow_hi,
        en_lo,
        en_hi,
        round(m.frequency * 10),
        round(m.pf * 100),
        ALARM_ON if m.alarm else ALARM_OFF,
    ]


def decode_measurement(registers: list[int]) -> Measurement:
    """Decode the ten input registers; rounding keeps the decimal resolution exact."""
    r = registers
    return Measurement(
        voltage=round(r[0] / 10, 1),
        current=round(u32(r[1], r[2]) / 1000, 3),
        power=round(u32(r[3], r[4]) / 10, 1),
        energy=float(u32(r[5], r[6])),
        frequency=round(r[7] / 10, 1),
        pf=round(r[8] / 100, 2),
        alarm=r[9] == ALARM_ON,
    )


def quantise(m: Measurement) -> Measurement:
    """What the meter would report for ``m``: each quantity at its register resolution."""
    return decode_measurement(encode_measurement(m))


def registers_of(reply: bytes) -> list[int]:
    """The register words of a checked 0x03/0x04 reply."""
    count = reply[2] // 2
    return list(struct.unpack(f">{count}H", reply[3 : 3 + 2 * count]))
