"""Mosquitto password and ACL files derived from the device list.

Each meter logs in as its numeric id with its device key as password and may write only
``wattwise/<id>/…`` (its readings, or a smart plug's own topics there: Tasmota's ``tele/`` and
``stat/``, Shelly's ``status/``, ``events/`` and ``online``, ESPHome's ``sensor/``, ``status``
and ``debug``), and read its plug's command topics (Tasmota ``cmnd/``, Shelly ``rpc``, ESPHome
``switch/+/command``) and write their answers; the server account may read every meter's
readings and answers and write commands
and Home Assistant's discovery and state topics; an optional Home Assistant account may read
those (and announce its own ``homeassistant/status``).
"""

from __future__ import annotations

from collections.abc import Iterable

from wattwise.store.secrets import mosquitto_hash


def password_file(
    devices: Iterable[tuple[int, str]], server_user: str, server_password: str, ha: tuple[str, str] | None = None
) -> str:
    lines = [f"{server_user}:{mosquitto_hash(server_password)}"]
    if ha is not None:
        lines.append(f"{ha[0]}:{mosquitto_hash(ha[1])}")
    lines += [f"{device_id}:{hashed}" for device_id, hashed in devices]
    return "\n".join(lines) + "\n"


def acl_file(server_user: str, ha_user: str | None = None) -> str:
    ha = (
        f"user {ha_user}\n"
        "topic read homeassistant/#\n"
        "topic write homeassistant/status\n"
        "topic read wattwise/status\n"
        "topic read wattwise/+/state\n"
        "\n"
        if ha_user
        else ""
    )
    return (
        f"user {server_user}\n"
        "topic read wattwise/+/readings\n"
        "# smart plugs (docs/devices.md): Tasmota, Shelly Gen2, ESPHome\n"
        "topic read wattwise/+/tele/SENSOR\n"
        "topic read wattwise/+/stat/STATUS8\n"
        "topic read wattwise/+/status/switch:0\n"
        "topic read wattwise/+/events/rpc\n"
        "topic read wattwise/+/sensor/+/state\n"
        "# their answers to relay commands, and the commands in each plug's language\n"
        "topic read wattwise/+/stat/POWER\n"
        "topic read wattwise/+/stat/RESULT\n"
        "topic read wattwise/+/result/rpc\n"
        "topic read wattwise/+/switch/+/state\n"
        "topic write wattwise/+/cmnd/POWER\n"
        "topic write wattwise/+/rpc\n"
        "topic write wattwise/+/switch/+/command\n"
        "topic write wattwise/+/ingest/result\n"
        "topic readwrite wattwise/+/commands\n"
        "topic read wattwise/+/commands/result\n"
        "topic write wattwise/+/ota\n"
        "topic readwrite homeassistant/#\n"
        "topic write wattwise/status\n"
        "topic write wattwise/+/state\n"
        "# the bus link between server processes (docs/scale.md): the server alone\n"
        "topic readwrite wattwise/bus/#\n"
        "\n"
        f"{ha}"
        "# every meter: its own topics only (%u is the login, i.e. the device id)\n"
        "pattern write wattwise/%u/readings\n"
        "pattern read wattwise/%u/ingest/result\n"
        "pattern read wattwise/%u/commands\n"
        "pattern write wattwise/%u/commands/result\n"
        "pattern read wattwise/%u/ota\n"
        "# a smart plug under its meter's tree: Tasmota (FullTopic wattwise/%topic%/%prefix%/)\n"
        "pattern write wattwise/%u/tele/#\n"
        "pattern write wattwise/%u/stat/#\n"
        "pattern read wattwise/%u/cmnd/#\n"
        "# Shelly Gen2 (topic prefix wattwise/<id>): status, notifications, its online flag\n"
        "pattern write wattwise/%u/status/#\n"
        "pattern write wattwise/%u/events/#\n"
        "pattern write wattwise/%u/online\n"
        "pattern read wattwise/%u/rpc\n"
        "pattern write wattwise/%u/result/rpc\n"
        "# ESPHome (topic_prefix wattwise/<id>): sensor states; status is covered above\n"
        "pattern write wattwise/%u/sensor/#\n"
        "pattern write wattwise/%u/switch/+/state\n"
        "pattern read wattwise/%u/switch/+/command\n"
        "pattern write wattwise/%u/debug\n"
    )
