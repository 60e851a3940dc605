"""How fast the bus link carries stored readings from one server process to another.

In the same run, through the same Mosquitto:
  raw  — two bare paho clients: the bytes the link would send for each batch, published at
         QoS 1 and counted on arrival (what the broker and paho can move, nothing of ours);
  link — two buses joined by `wattwise.bus_link.BusLink` (as `wattwise serve --link` joins two
         processes): batches of `StoredReading` published on one bus, encoded, carried, decoded
         and delivered to a handler on the other bus's event loop.
Both are timed from the first publish until the last reading has arrived. The ratio is link
rate / raw rate. Batch 1 is a meter posting one reading per request; 100 a gateway's upload.
Without --broker it starts a private Mosquitto with deploy/mosquitto/wattwise-link.conf.
Against a broker with Mosquitto's default queue limit of 1,000 messages (e.g. --broker
127.0.0.1:1883 here) a burst loses messages in both rows alike, and the run says how many
arrived; rates count only what arrived, until the last of it.

    python bench/bus_link.py [--broker HOST:PORT] [--readings 100000] [--batches 1,100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from common import free_port
from paho.mqtt.enums import CallbackAPIVersion

from wattwise.bus import Bus, Message
from wattwise.bus_link import BusLink, encode
from wattwise.config import broker_address
from wattwise.domain.readings import Reading, StoredReading

T0 = 1_764_000_000_000
LINK_CONF = Path(__file__).parent.parent / "deploy" / "mosquitto" / "wattwise-link.conf"


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    """Mosquitto on a free port with the link's recommended settings, for this run only."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="wattwise-bench-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence false\n{LINK_CONF.read_text()}"
        )
        proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def batches_of(size: int, total: int) -> list[list[StoredReading]]:
    return [
        [
            StoredReading(
                reading=Reading(device_id=1 + j % 7, ts=T0 + k + j, voltage=230.1, current=1.5, power=345.0, pf=0.95),
                wh=0.0958,
            )
            for j in range(size)
        ]
        for k in range(0, total, size)
    ]


@dataclass
class Arrivals:
    """Readings that arrived, and when the last of them did (a broker may drop some)."""

    readings: int = 0
    last: float = 0.0

    def add(self, readings: int) -> None:
        self.readings += readings
        self.last = time.perf_counter()

    def stalled(self, total: int, stall_s: float = 5.0) -> bool:
        """True once all arrived, or nothing more came for ``stall_s`` (the rest is lost)."""
        return self.readings >= total or (self.last > 0 and time.perf_counter() - self.last > stall_s)


@dataclass
class Rate:
    readings_s: float
    arrived: int
    total: int


def raw_rate(host: str, port: int, batches: list[list[StoredReading]]) -> Rate:
    bodies = [encode(Message("readings", b), "bench", k) for k, b in enumerate(batches, 1)]
    size = len(batches[0])
    total = sum(len(b) for b in batches)
    arrivals = Arrivals()
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, _msg: mqtt.MQTTMessage) -> None:
        with lock:
            arrivals.add(size)  # one batch per message

    receiver = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    receiver.on_message = on_message
    receiver.connect(host, port)
    receiver.subscribe("bench/raw", qos=1)
    receiver.loop_start()
    sender = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sender.max_inflight_messages_set(1_000)
    sender.connect(host, port)
    sender.loop_start()
    time.sleep(0.5)
    start = time.perf_counter()
    for body in bodies:
        sender.publish("bench/raw", body, qos=1)
    while not arrivals.stalled(total):
        time.sleep(0.05)
    for client in (sender, receiver):
        client.disconnect()
        client.loop_stop()
    return Rate(arrivals.readings / (arrivals.last - start), arrivals.readings, total)


async def link_rate(host: str, port: int, batches: list[list[StoredReading]]) -> Rate:
    total = sum(len(b) for b in batches)
    sender_bus, receiver_bus = Bus(), Bus()
    arrivals = Arrivals()
    receiver_bus.on("readings", lambda message: arrivals.add(len(message.payload)))
    sender_bus.on("bench", lambda _m: None)  # the bus learns its loop
    links = [
        # the whole run is published at once: let it all wait (a server's batches arrive far slower)
        BusLink(
            sender_bus, host, port, client_id=f"wattwise-bench-sender-{len(batches)}", queue_limit=len(batches)
        ).start(),
        BusLink(receiver_bus, host, port, client_id=f"wattwise-bench-receiver-{len(batches)}").start(),
    ]
    await asyncio.sleep(1.0)
    start = time.perf_counter()
    for batch in batches:
        sender_bus.publish("readings", batch)
    while not arrivals.stalled(total):
        await asyncio.sleep(0.05)
    for link in links:
        link.stop()
    return Rate(arrivals.readings / (arrivals.last - start), arrivals.readings, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", default="", help="an existing broker (default: a private one)")
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--batches", default="1,100", help="readings per published batch, comma separated")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        broker = args.broker or stack.enter_context(private_broker())
        run(broker, args.readings, [int(s) for s in args.batches.split(",")])


def run(broker: str, readings: int, sizes: list[int]) -> None:
    host, port = broker_address(broker)
    print(f"broker {broker}")
    for size in sizes:
        total = readings if size > 1 else readings // 5  # one message per reading: fewer
        batches = batches_of(size, total)
        raw = raw_rate(host, port, batches)
        link = asyncio.run(link_rate(host, port, batches))
        print(
            f"batch {size:>5}: link {link.readings_s:>10,.0f} readings/s   raw paho {raw.readings_s:>10,.0f} "
            f"readings/s   ratio {link.readings_s / raw.readings_s:.2f}   ({total:,} readings)"
        )
        for name, rate in (("link", link), ("raw paho", raw)):
            if rate.arrived < rate.total:
                print(f"    {name}: only {rate.arrived:,} of {rate.total:,} arrived; the broker dropped the rest")


if __name__ == "__main__":
    main()
