"""A main meter over sub-meters: the building's energy balances, on one shared supply."""

from __future__ import annotations

import numpy as np
import pytest

from wattwise.devices.simulator.household import regular_times
from wattwise.devices.simulator.site import make_site, simulate_site, site_states

DAY_MS = 86_400_000
MONDAY_MS = 1_763_942_400_000


@pytest.fixture(scope="module")
def two_days():  # type: ignore[no-untyped-def]
    site = make_site(30, rooms=3)
    return site, simulate_site(
        site, site_states(site, MONDAY_MS), regular_times(MONDAY_MS, MONDAY_MS + 2 * DAY_MS, 10_000)
    )


def test_the_main_meter_reads_the_rooms_plus_a_little_unmetered(two_days) -> None:  # type: ignore[no-untyped-def]
    site, readings = two_days
    (main_state, main, _), rooms = readings[0], readings[1:]
    used_main = main_state.energy_wh - site.main.energy_start_wh
    used_rooms = sum(
        state.energy_wh - home.energy_start_wh for (state, _, _), home in zip(rooms, site.members, strict=True)
    )
    assert used_rooms < used_main < used_rooms * 1.25  # common loads: a few per cent to a fifth
    room_power = sum(samples.power for _, samples, _ in rooms)
    unmetered = main.power - room_power
    assert np.median(unmetered) > 0
    assert np.percentile(np.abs(unmetered), 99) < 150  # standby + corridor lights, meter noise


def test_every_meter_of_the_building_sees_the_same_sagging_supply(two_days) -> None:  # type: ignore[no-untyped-def]
    _, readings = two_days
    voltages = np.stack([samples.voltage for _, samples, _ in readings])
    assert np.abs(voltages - voltages[0]).max() < 0.5  # only each meter's own noise
    main = readings[0][1]
    heavy = main.power > np.percentile(main.power, 99)
    light = main.power < np.percentile(main.power, 50)
    assert main.voltage[heavy].mean() < main.voltage[light].mean() - 2.0


def test_the_main_meters_events_are_every_switching_in_the_building(two_days) -> None:  # type: ignore[no-untyped-def]
    _, readings = two_days
    main_events = readings[0][2]
    room_events = [e for _, _, events in readings[1:] for e in events]
    assert len(room_events) > 50
    assert set(room_events) <= set(main_events)
    assert [e.ts for e in main_events] == sorted(e.ts for e in main_events)


def test_a_site_needs_rooms() -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_site(1, rooms=0)
