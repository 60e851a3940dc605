"""The bus delivers committed things to whoever listens, and stops when they leave."""

import asyncio
import threading

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


async def test_a_worker_thread_publishes_through_the_loop_the_bus_lives_on() -> None:
    bus = Bus()
    bus.publish_from_thread("findings", "before any loop")  # nobody to deliver to yet: dropped
    sub = bus.subscribe("findings")  # the bus now knows its loop
    worker = threading.Thread(target=bus.publish_from_thread, args=("findings", "from a worker"))
    worker.start()
    worker.join()
    message = await asyncio.wait_for(sub.queue.get(), timeout=5)
    assert message.payload == "from a worker" and sub.queue.empty()
