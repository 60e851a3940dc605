"""Mosquitto password and ACL files derived from the device list.

Each meter logs in as its numeric id with its device key as password and may write only
``wattwise/<id>/…``; the server account may read every meter's readings and write commands.
"""

from __future__ import annotations

from collections.abc import Iterable

from wattwise.store.secrets import mosquitto_hash


def password_file(devices: Iterable[tuple[int, str]], server_user: str, server_password: str) -> str:
    lines = [f"{server_user}:{mosquitto_hash(server_password)}"]
    lines += [f"{device_id}:{hashed}" for device_id, hashed in devices]
    return "\n".join(lines) + "\n"


def acl_file(server_user: str) -> str:
    return (
        f"user {server_user}\n"
        "topic read wattwise/+/readings\n"
        "topic write wattwise/+/ingest/result\n"
        "topic readwrite wattwise/+/commands\n"
        "topic read wattwise/+/commands/result\n"
        "topic write wattwise/+/ota\n"
        "\n"
        "# every meter: its own topics only (%u is the login, i.e. the device id)\n"
        "pattern write wattwise/%u/readings\n"
        "pattern read wattwise/%u/ingest/result\n"
        "pattern read wattwise/%u/commands\n"
        "pattern write wattwise/%u/commands/result\n"
        "pattern read wattwise/%u/ota\n"
    )
