"""The server's own MQTT connections: MQTT 5 with a persistent session.

Both the meters' ingest (``ingest.mqtt``) and the bus link between server processes
(``bus_link``) need what a QoS 1 subscriber needs to lose nothing while it is away: a stable
client id, a session the broker keeps for ``expiry_s`` after a disconnect (the messages
published meanwhile wait in it), and reconnection by paho's own loop.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def server_client(client_id: str, username: str = "", password: str = "", *, manual_ack: bool = False) -> mqtt.Client:
    """An MQTT 5 client that reconnects on its own (1 s, backing off to 30 s)."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if username:
        client.username_pw_set(username, password or None)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_persistent(client: mqtt.Client, host: str, port: int, expiry_s: int) -> None:
    """Connect in the background and keep the session ``expiry_s`` seconds after a disconnect."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = expiry_s
    client.connect_async(host, port, keepalive=30, clean_start=False, properties=properties)
    client.loop_start()
