"""Rows per second of a raw CSV and Parquet export, beside writing the same rows from one SELECT.

One meter, ``--days`` of readings a second, stored through the pipeline (so ``wh`` is real).
The export is timed as the endpoint runs it (pages keyed by time, ISO times, every metric);
the reference, in the same run, is the floor of the same file in Python: one SELECT of the
same columns fetched whole, then ``csv.writer`` (no ISO column) or one pyarrow table.

    python bench/export.py [--database sqlite|postgresql] [--days 7]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from common import fresh_database

from wattwise.config import Settings
from wattwise.export import Export, csv_chunks, parquet_bytes
from wattwise.runtime import Services, start_services
from wattwise.store.devices import create_device
from wattwise.store.sites import create_site

START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
COLUMNS = "ts, voltage, current, power, energy, frequency, pf, wh"


def load(services: Services, days: int) -> int:
    with services.engine.begin() as conn:
        device = create_device(conn, site_id=create_site(conn, "bench").id, name="meter").device.id

    async def ingest() -> None:
        for lo in range(0, days * 86_400, 10_000):
            batch = [
                {
                    "ts": START + i * 1000,
                    "voltage": 230.0 + (i % 7) * 0.1,
                    "current": 1.0 + (i % 5) * 0.01,
                    "power": 200.0 + (i % 11),
                    "energy": 1000.0 + i * 0.06,
                    "frequency": 50.0,
                    "pf": 0.9,
                }
                for i in range(lo, min(lo + 10_000, days * 86_400))
            ]
            await services.pipeline.ingest(device, batch)

    started = time.perf_counter()
    asyncio.run(ingest())
    services.writer.flush()
    print(f"stored {days * 86_400:,} readings in {time.perf_counter() - started:.1f} s", flush=True)
    return device


def best_of(fn: Callable[[], int], repeat: int = 3) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = fn()
        times.append(time.perf_counter() - started)
    return min(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with fresh_database(args.database, "export") as url:
        services = start_services(Settings(database=url))
        device = load(services, args.days)
        rows = args.days * 86_400
        end = START + rows * 1000
        select = f"SELECT {COLUMNS} FROM readings WHERE device_id = {device} ORDER BY ts"

        def export_csv() -> int:
            job = Export(device, START, end, "csv", "raw")
            return sum(len(chunk) for chunk in csv_chunks(job, job.pages(services)))

        def export_parquet() -> int:
            job = Export(device, START, end, "parquet", "raw")
            return len(parquet_bytes(job, job.pages(services)))

        def reference_csv() -> int:
            with services.engine.connect() as conn:
                fetched = conn.exec_driver_sql(select).fetchall()
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(fetched)
            return len(out.getvalue().encode())

        def reference_parquet() -> int:
            with services.engine.connect() as conn:
                fetched = conn.exec_driver_sql(select).fetchall()
            table = pa.Table.from_pylist([dict(zip(COLUMNS.split(", "), r, strict=True)) for r in fetched])
            sink = io.BytesIO()
            pq.write_table(table, sink)
            return len(sink.getvalue())

        print(f"{'format':>8} {'rows/s':>10} {'MB':>6} {'reference rows/s':>17} {'ratio':>6}")
        for name, ours, ref in (("csv", export_csv, reference_csv), ("parquet", export_parquet, reference_parquet)):
            seconds, size = best_of(ours)
            ref_seconds, _ = best_of(ref)
            print(
                f"{name:>8} {rows / seconds:>10,.0f} {size / 1e6:>6.1f} {rows / ref_seconds:>17,.0f} "
                f"{ref_seconds / seconds:>5.2f}×",
                flush=True,
            )
        services.close()


if __name__ == "__main__":
    main()
