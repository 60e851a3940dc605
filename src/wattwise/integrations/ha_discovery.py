"""What Home Assistant is told over MQTT: discovery configs, a meter's state, the server's availability.

Home Assistant creates an entity for each retained config on
``homeassistant/sensor/<node>/<object>/config`` and reads its value from the JSON on the
entity's ``state_topic`` through ``value_template``. Every Wattwise meter is one HA device
(``wattwise_<id>``) with a sensor per quantity it measures, all on one state topic
``wattwise/<id>/state``; the server is a device of its own (``wattwise``), the one each meter
is connected ``via``, with a connectivity sensor on ``wattwise/status``.

Energy for HA is the meter's stored energy (the sum of each reading's ``wh``, as in
``/metrics``) in kWh, a ``total_increasing`` sensor: HA reads any decrease as a meter reset,
so it is only ever published rising (see ``Monotonic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattwise import __version__
from wattwise.store.devices import Device
from wattwise.store.latest import MeterState

PREFIX = "homeassistant"
STATUS_TOPIC = f"{PREFIX}/status"  # HA says "online" here when it (re)starts: announce again
AVAILABILITY_TOPIC = "wattwise/status"
ONLINE, OFFLINE = "online", "offline"
SERVER_ID = "wattwise"
ORIGIN = {"name": "Wattwise", "sw_version": __version__}


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity:
    """One sensor of a meter: the key in the state JSON, and how HA should treat it."""

    key: str  # object id in the topic and key in the state JSON
    name: str
    metric: str  # the Reading metric it comes from ("" for the stored energy)
    device_class: str
    unit: str | None
    state_class: str = "measurement"
    precision: int | None = None


QUANTITIES: tuple[Quantity, ...] = (
    Quantity(key="voltage", name="Voltage", metric="voltage", device_class="voltage", unit="V", precision=1),
    Quantity(key="current", name="Current", metric="current", device_class="current", unit="A", precision=3),
    Quantity(key="power", name="Power", metric="power", device_class="power", unit="W", precision=1),
    Quantity(
        key="energy",
        name="Energy",
        metric="",
        device_class="energy",
        unit="kWh",
        state_class="total_increasing",
        precision=3,
    ),
    Quantity(key="frequency", name="Frequency", metric="frequency", device_class="frequency", unit="Hz", precision=2),
    # a ratio 0…1 as stored: HA's power_factor takes no unit for that (its "%" would be 0…100)
    Quantity(key="power_factor", name="Power factor", metric="pf", device_class="power_factor", unit=None, precision=2),
)


def node_id(device_id: int) -> str:
    return f"wattwise_{device_id}"


def state_topic(device_id: int) -> str:
    return f"wattwise/{device_id}/state"


def config_topic(device_id: int, quantity: Quantity) -> str:
    return f"{PREFIX}/sensor/{node_id(device_id)}/{quantity.key}/config"


def measured(state: MeterState) -> list[Quantity]:
    """The quantities worth an entity: those in the meter's last reading, and always its energy."""
    return [q for q in QUANTITIES if not q.metric or state.values.get(q.metric) is not None]


def device_block(device: Device) -> dict[str, Any]:
    return {
        "identifiers": [node_id(device.id)],
        "name": device.name,
        "manufacturer": "Wattwise",
        "model": "Wattwise meter",
        "suggested_area": device.site_name,
        "via_device": SERVER_ID,
    }


def sensor_config(device: Device, quantity: Quantity) -> dict[str, Any]:
    """The retained discovery payload of one sensor of one meter."""
    config: dict[str, Any] = {
        "name": quantity.name,
        "unique_id": f"{node_id(device.id)}_{quantity.key}",
        "state_topic": state_topic(device.id),
        "value_template": f"{{{{ value_json.{quantity.key} }}}}",
        "device_class": quantity.device_class,
        "state_class": quantity.state_class,
        "availability_topic": AVAILABILITY_TOPIC,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_block(device),
        "origin": ORIGIN,
    }
    if quantity.unit is not None:
        config["unit_of_measurement"] = quantity.unit
    if quantity.precision is not None:
        config["suggested_display_precision"] = quantity.precision
    return config


def server_config() -> tuple[str, dict[str, Any]]:
    """The server's own connectivity sensor: the device every meter is connected through."""
    return f"{PREFIX}/binary_sensor/{SERVER_ID}/status/config", {
        "name": "Server",
        "unique_id": f"{SERVER_ID}_status",
        "state_topic": AVAILABILITY_TOPIC,
        "payload_on": ONLINE,
        "payload_off": OFFLINE,
        "device_class": "connectivity",
        "device": {
            "identifiers": [SERVER_ID],
            "name": "Wattwise",
            "manufacturer": "Wattwise",
            "sw_version": __version__,
        },
        "origin": ORIGIN,
    }


def state_payload(state: MeterState, energy_kwh: float) -> dict[str, Any]:
    """Every quantity's key is present (null when unmeasured: HA shows it as unknown)."""
    out: dict[str, Any] = {"ts": state.ts}
    for q in QUANTITIES:
        out[q.key] = energy_kwh if not q.metric else state.values.get(q.metric)
    return out


class Monotonic:
    """The energy each meter last showed HA, so a later correction never looks like a reset."""

    def __init__(self) -> None:
        self._shown: dict[int, float] = {}

    def kwh(self, device_id: int, energy_wh: float) -> float:
        value = max(round(energy_wh / 1000, 6), self._shown.get(device_id, 0.0))
        self._shown[device_id] = value
        return value
