"""A building with a main meter and sub-meters: rooms of a hostel, flats behind one supply.

Each sub-meter measures one household (a room). The main meter measures all of them plus
the common loads nobody's sub-meter sees (corridor lights, standby of shared equipment),
on one supply that sags under the whole building's load. So the main meter's energy is
the sum of the sub-meters' plus a few per cent unmetered, which is what an energy-balance
(loss or theft) check expects of an honest building.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wattwise.devices.simulator.grid import surge_events
from wattwise.devices.simulator.household import (
    Household,
    HouseholdState,
    Samples,
    check_times,
    load_of,
    make_household,
    read_meter,
    supply_voltage,
)
from wattwise.devices.simulator.noise import IntArray
from wattwise.devices.simulator.schedule import ApplianceEvent, events_between

#: Appliances of the main meter's own household that stand for the common areas.
COMMON_LOADS = ("standby", "lights")


@dataclass(frozen=True, slots=True)
class Site:
    """The main meter's household (common loads, supply) and the sub-metered households."""

    main: Household
    members: tuple[Household, ...]


def make_site(seed: int, rooms: int, *, timezone: str = "UTC") -> Site:
    """A building drawn from ``seed``: common areas from ``seed``, room i from ``seed + i``."""
    if rooms < 1:
        raise ValueError(f"a site needs at least one sub-metered room, got {rooms}")
    whole = make_household(seed, timezone=timezone, every_appliance=True)
    common = tuple(a for a in whole.appliances if a.appliance.name in COMMON_LOADS)
    members = tuple(make_household(seed + i, timezone=timezone) for i in range(1, rooms + 1))
    return Site(main=replace(whole, appliances=common), members=members)


def site_states(site: Site, ts: int) -> tuple[HouseholdState, ...]:
    """Every meter's state at ``ts``, main first."""
    return tuple(HouseholdState(ts=ts, energy_wh=h.energy_start_wh) for h in (site.main, *site.members))


def simulate_site(
    site: Site, states: tuple[HouseholdState, ...], ts: IntArray
) -> list[tuple[HouseholdState, Samples, list[ApplianceEvent]]]:
    """Readings of every meter (main first) at ``ts``, with new states and events.

    The main meter's events are every switching in the building, its own and the rooms'.
    """
    if len(states) != len(site.members) + 1:
        raise ValueError(f"expected {len(site.members) + 1} states (main first), got {len(states)}")
    after = states[0].ts
    if any(s.ts != after for s in states):
        raise ValueError("every meter of a site must be at the same time")
    ts = check_times(states[0], ts)
    end = int(ts[-1])
    common, common_runs = load_of(site.main, after, ts)
    loads = [load_of(member, after, ts) for member in site.members]
    total = common
    for load, _ in loads:
        total = total + load
    voltage = supply_voltage(site.main, after, ts, total)

    results = []
    surges = surge_events(site.main.supply, site.main.seed, after, end)  # every meter sees them
    every_event = events_between(common_runs, site.main.appliances, after, end) + surges
    for member, state, (load, runs) in zip(site.members, states[1:], loads, strict=True):
        new_state, samples = read_meter(member, site.main, state, ts, load, voltage)
        switched = events_between(runs, member.appliances, after, end)
        every_event.extend(switched)
        results.append((new_state, samples, sorted(switched + surges, key=lambda e: e.ts)))
    main_state, main_samples = read_meter(site.main, site.main, states[0], ts, total, voltage)
    every_event.sort(key=lambda e: e.ts)
    return [(main_state, main_samples, every_event), *results]
