"""What the alert engine adds per stored reading, beside what storing that reading costs.

In the same run, on the same SQLite settings (WAL, synchronous=FULL):
  raw    — the readings as plain rows, executemany into a table with the same primary key,
           one transaction per batch (bench/ingest.py's reference);
  alerts — the same readings handed to a running alert engine (`wattwise.alerts.Alerts`) the
           way the pipeline hands them over (bus topic "readings") with three threshold rules
           and an offline rule on the meter, waited for with `flush()`; nothing fires, so this
           is the engine's steady cost.
The ratio is alerts time / raw time: the share the engine adds on top of the cheapest store.

    python bench/alerts.py [--readings 20000] [--batches 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import fresh_database

from ingest import raw_rate
from wattwise.alerts import Alerts, AlertSettings
from wattwise.config import Settings
from wattwise.domain.readings import Reading, StoredReading
from wattwise.runtime import start_services
from wattwise.store import alerts as alert_store
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

T0 = 1_764_000_000_000
RULES = (
    ("threshold", {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}),
    ("threshold", {"quantity": "voltage", "direction": "below", "trigger": 200, "for_s": 10}),
    ("threshold", {"quantity": "pf", "direction": "below", "trigger": 0.5, "for_s": 60}),
    ("offline", {"after_s": 600}),
)


def alerts_rate(url: str, batch: int, total: int) -> float:
    data_dir = Path(url.removeprefix("sqlite:///")).parent
    services = start_services(Settings(data_dir=data_dir, database=url, detectors=False))
    try:
        with services.engine.begin() as conn:
            site = create_site(conn, "bench")
            meter = create_device(conn, site_id=site.id, name="main").device.id
            for kind, params in RULES:
                fields = alert_store.RuleFields(site_id=site.id, device_id=meter, name=kind, kind=kind, params=params)
                alert_store.add_rule(conn, fields, by="bench")
        batches = [
            [
                StoredReading(
                    reading=Reading(
                        device_id=meter, ts=T0 + (k + j) * 1000, voltage=230.0, power=345.0 + j % 13, pf=0.95
                    ),
                    wh=0.1,
                )
                for j in range(batch)
            ]
            for k in range(0, total, batch)
        ]
        engine = Alerts(services, AlertSettings(tick_s=3600, budget_every_s=3600)).start()
        try:
            engine.flush()
            started = time.perf_counter()
            for stored in batches:
                services.bus.publish("readings", stored)
            engine.flush(timeout=600)
            elapsed = time.perf_counter() - started
        finally:
            engine()
    finally:
        services.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print("SQLite; one meter; 3 threshold rules and an offline rule; nothing fires")
    print(f"{'batch':>6} {'readings':>9} {'raw µs/reading':>15} {'alerts µs/reading':>18} {'ratio':>6}")
    for batch in args.batches:
        with fresh_database("sqlite", f"raw{batch}") as url:
            raw = raw_rate(url, batch, args.readings)
        with fresh_database("sqlite", f"alerts{batch}") as url:
            ours = alerts_rate(url, batch, args.readings)
        print(f"{batch:>6} {args.readings:>9} {1e6 / raw:>15.2f} {1e6 / ours:>18.2f} {raw / ours:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
