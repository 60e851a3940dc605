"""Smart plugs on MQTT (Tasmota, Shelly Gen2, ESPHome): each topic to its translator.

Every plug publishes under its meter's own tree (``wattwise/<id>/…``, see docs/devices.md),
so the broker's ACL keeps a plug to its own meter as it does for ``wattwise/<id>/readings``.
The translators in ``formats/`` are pure; what Shelly and ESPHome need from a meter's earlier
messages (the last full status, the latest value of each sensor) is held here, per meter.
The MQTT adapter calls ``translate`` on paho's one network thread, in the order messages
arrive, so no lock is needed.
"""

from __future__ import annotations

from wattwise.ingest.formats import Item, PayloadError, esphome, shelly, tasmota

#: Topic tails under ``wattwise/<id>/`` the server subscribes to (MQTT filters).
TOPIC_FILTERS = (*tasmota.TOPICS, *shelly.TOPICS, *esphome.TOPICS)


def handles(tail: str) -> bool:
    """Whether ``tail`` (the topic after ``wattwise/<id>/``) is a plug topic read here."""
    return tail in tasmota.TOPICS or tail in shelly.TOPICS or (tail.startswith("sensor/") and tail.endswith("/state"))


class Plugs:
    """The per-meter state of Shelly and ESPHome plugs, and the dispatch to translators."""

    def __init__(self) -> None:
        self._shelly: dict[int, shelly.Status | None] = {}
        self._esphome: dict[int, esphome.Held] = {}

    def translate(self, device_id: int, tail: str, payload: bytes, now_ms: int) -> tuple[list[Item], str | None]:
        """The readings a plug's message makes, and a note to log (an ignored sensor, said once).

        Raises PayloadError for a message that cannot be read; what is held stays as it was.
        """
        if tail in tasmota.TOPICS:
            return tasmota.readings(tail, payload, now_ms), None
        if tail in shelly.TOPICS:
            items, self._shelly[device_id] = shelly.readings(tail, payload, self._shelly.get(device_id), now_ms)
            return items, None
        if handles(tail):
            held = self._esphome.get(device_id) or esphome.Held()
            items, self._esphome[device_id], note = esphome.readings(tail, payload, held, now_ms)
            return items, note
        raise PayloadError(f"{tail}: not a topic of a Tasmota, Shelly or ESPHome plug")
