"""The frames the driver builds and decodes are byte for byte the datasheet's examples."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wattwise.devices import modbus_frames as mf
from wattwise.devices.emulator import EmulatedMeter, PzemEmulator
from wattwise.domain.readings import Reading

DATASHEET_READ = bytes.fromhex("01 04 00 00 00 0A 70 0D")
DATASHEET_REPLY = bytes.fromhex("01 04 14 08 D1 00 6C 00 00 00 F4 00 00 00 26 00 00 01 F4 00 64 00 00 51 34")


def test_read_request_is_the_datasheet_frame() -> None:
    assert mf.read_request(0x01, mf.READ_INPUT, 0, 10) == DATASHEET_READ
    assert mf.read_request(0xF8, mf.READ_INPUT, 0, 10) == bytes.fromhex("F8 04 00 00 00 0A 64 64")
    assert mf.read_request(0x01, mf.READ_HOLDING, 1, 2) == bytes.fromhex("01 03 00 01 00 02 95 CB")


def test_write_and_reset_frames_are_the_datasheet_frames() -> None:
    assert mf.write_request(0x01, mf.REG_ALARM_THRESHOLD, 2300) == bytes.fromhex("01 06 00 01 08 FC DF 8B")
    assert mf.write_request(0xF8, mf.REG_ADDRESS, 1) == bytes.fromhex("F8 06 00 02 00 01 FD A3")
    assert mf.reset_energy_request(0x01) == bytes.fromhex("01 42 80 11")
    assert mf.reset_energy_request(0xF8) == bytes.fromhex("F8 42 C2 41")


def test_datasheet_reply_decodes_to_its_stated_values() -> None:
    assert mf.crc_ok(DATASHEET_REPLY)
    m = mf.decode_measurement(mf.registers_of(DATASHEET_REPLY))
    assert m == mf.Measurement(
        voltage=225.7, current=0.108, power=24.4, energy=38.0, frequency=50.0, pf=1.0, alarm=False
    )


def test_a_corrupted_byte_fails_the_crc() -> None:
    damaged = DATASHEET_REPLY[:4] + b"\xd0" + DATASHEET_REPLY[5:]  # 225.6 V
    assert not mf.crc_ok(damaged)


def test_emulator_answers_the_datasheet_request_with_the_datasheet_reply() -> None:
    sample = Reading(
        device_id=0,
        ts=0,
        voltage=225.7,
        current=0.108,
        power=24.4,
        energy=38,
        frequency=50.0,
        pf=1.0,
    )
    emulator = PzemEmulator([EmulatedMeter(address=1, source=iter([sample]))])
    assert emulator.handle(DATASHEET_READ) == DATASHEET_REPLY


def test_emulator_echoes_writes_and_reset_like_the_datasheet() -> None:
    sample = Reading(device_id=0, ts=0, voltage=230.0, current=1.0, power=230.0)
    emulator = PzemEmulator([EmulatedMeter(address=1, source=iter([sample]))])
    for frame in ("01 06 00 01 08 FC DF 8B", "F8 06 00 02 00 01 FD A3", "01 42 80 11"):
        request = bytes.fromhex(frame)
        assert emulator.handle(request) == request


@given(st.integers(0, 0xFFFFFFFF))
def test_32_bit_values_travel_low_word_first(value: int) -> None:
    low, high = mf.split_u32(value)
    assert mf.u32(low, high) == value
    assert low == value & 0xFFFF
