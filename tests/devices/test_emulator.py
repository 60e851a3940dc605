"""The emulated PZEM measures what its source says, with the real meter's quirks."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.devices import modbus_frames as mf
from wattwise.devices.emulator import (
    EmulatedMeter,
    PzemEmulator,
    csv_meter,
    readings_from_csv,
)
from wattwise.domain.readings import Reading

FIXTURES = Path(__file__).parent.parent / "fixtures" / "devices"
OMPM_LAMP = FIXTURES / "ompm_meter4_incandescent_lamp_300.csv"
OMPM_AGGREGATE = FIXTURES / "ompm_meter1_aggregate_300.csv"
IDLE_LOG = FIXTURES / "pzem_idle_ttyUSB0.csv"


def one(**values: float) -> EmulatedMeter:
    return EmulatedMeter(address=1, source=iter([Reading(device_id=0, ts=0, **values)]))


def test_ompm_recording_is_read_in_order_with_its_columns() -> None:
    rows = list(readings_from_csv(OMPM_LAMP))
    assert len(rows) == 300
    on = next(r for r in rows if r.power)
    assert (on.voltage, on.current, on.power, on.frequency, on.pf) == (
        244.8,
        0.16,
        37.8,
        50.0,
        0.94,
    )
    assert [r.ts for r in rows] == sorted(r.ts for r in rows)


def test_pzem_logger_file_with_padding_and_repeated_header_is_read() -> None:
    rows = list(readings_from_csv(IDLE_LOG))
    lines = IDLE_LOG.read_text().splitlines()
    assert len(rows) == len(lines) - sum(line.startswith("datetime") for line in lines)
    assert all(r.power == 0.0 and r.energy == 2.0 for r in rows)


def test_values_are_served_at_register_resolution() -> None:
    m = one(voltage=231.06, current=2.34567, power=541.84, frequency=49.96, pf=0.996).measurement()
    assert (m.voltage, m.current, m.power, m.frequency, m.pf) == (231.1, 2.346, 541.8, 50.0, 1.0)


def test_no_load_reads_zero_watts_with_residual_current_like_a_real_pzem() -> None:
    idle = one(voltage=214.1, current=0.0, power=0.0).measurement()
    assert (idle.power, idle.pf, idle.current) == (0.0, 0.0, 0.03)
    below_start = one(voltage=230.0, current=0.001, power=0.3, pf=1.0).measurement()
    assert below_start.power == 0.0
    exact = EmulatedMeter(address=1, source=iter([Reading(device_id=0, ts=0, power=0.0)]), idle_current=None)
    assert exact.measurement().current == 0.0


def test_recorded_lamp_switching_is_replayed_sample_by_sample() -> None:
    meter = csv_meter(OMPM_LAMP, address=1, loop=False)
    served = []
    for _ in range(300):
        served.append(meter.measurement().power)
        meter.advance(1.0)
    recorded = [r.power for r in readings_from_csv(OMPM_LAMP)]
    assert served == [p if p and p >= 0.4 else 0.0 for p in recorded]


def test_energy_counter_integrates_power_in_whole_watt_hours() -> None:
    meter = csv_meter(OMPM_AGGREGATE, address=1, loop=False)
    for _ in range(300):
        meter.advance(1.0)
    watts = [r.power or 0.0 for r in readings_from_csv(OMPM_AGGREGATE)]
    assert meter.measurement().energy == int(sum(watts) / 3600)


def test_energy_counter_rolls_over_at_9999_99_kwh() -> None:
    meter = EmulatedMeter(
        address=1,
        source=iter([Reading(device_id=0, ts=0, voltage=230, power=7200.0)] * 3),
        energy_wh=mf.ENERGY_WRAP_WH - 3,
    )
    meter.advance(1.0)
    assert meter.measurement().energy == mf.ENERGY_WRAP_WH - 1
    meter.advance(1.0)
    assert meter.measurement().energy == 1.0


def test_recorded_counter_drives_the_meter_and_a_reset_rebases_it() -> None:
    rows = [Reading(device_id=0, ts=i, voltage=230, power=10.0, energy=500.0 + i) for i in range(5)]
    meter = EmulatedMeter(address=1, source=iter(rows))
    assert meter.measurement().energy == 500.0
    meter.advance(1.0)
    assert meter.measurement().energy == 501.0
    meter.reset_energy()
    meter.advance(1.0)
    assert meter.measurement().energy == 1.0


def test_alarm_flag_follows_the_threshold() -> None:
    meter = one(voltage=230.0, power=2400.0)
    assert meter.measurement().alarm is True
    meter.alarm_threshold = 2500
    assert meter.measurement().alarm is False


def test_broadcast_resets_every_meter_without_a_reply() -> None:
    meters = [one(voltage=230.0, power=100.0), one(voltage=230.0, power=100.0)]
    meters[1].address = 2
    for m in meters:
        m.energy_wh = 50.0
    emulator = PzemEmulator(meters, refresh_s=None)
    assert emulator.handle(mf.reset_energy_request(0)) is None
    assert [m.measurement().energy for m in meters] == [0.0, 0.0]


def test_general_address_is_ignored_with_several_meters_on_the_bus() -> None:
    meters = [one(voltage=230.0, power=100.0), one(voltage=230.0, power=100.0)]
    meters[1].address = 2
    emulator = PzemEmulator(meters, refresh_s=None)
    assert emulator.handle(mf.read_request(0xF8, mf.READ_INPUT, 0, 10)) is None


def test_a_request_with_a_bad_crc_gets_no_answer() -> None:
    emulator = PzemEmulator([one(voltage=230.0, power=1.0)], refresh_s=None)
    assert emulator.handle(bytes.fromhex("01 04 00 00 00 0A 70 0E")) is None


def test_a_csv_without_power_or_current_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,temperature\n1,20\n")
    with pytest.raises(ValueError, match="no power or current column"):
        list(readings_from_csv(bad))
