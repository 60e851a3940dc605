"""The bus delivers committed things to whoever listens, and stops when they leave."""

from wattwise.bus import Bus, Message


def test_a_handler_that_leaves_hears_nothing_more() -> None:
    bus = Bus()
    heard: list[object] = []

    def handler(message: Message) -> None:
        heard.append(message.payload)

    bus.on("readings", handler)
    bus.publish("readings", 1)
    bus.publish("events", 2)  # another topic: not for this handler
    bus.off("readings", handler)
    bus.publish("readings", 3)
    assert heard == [1]
