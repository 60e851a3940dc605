"""How long `wattwise import` takes for a year of 1-minute history, beside a raw insert of the same rows.

A simulated household, one year at 1 minute (525,600 rows), written to CSV and imported through the
ingest pipeline (parse, validate, duplicate check, energy per reading, rollups) into a fresh SQLite
database; the reference inserts the same rows with a plain executemany in batches of 10,000 into a
table with the same primary key, in the same run.

    python bench/import_year.py [--days 365]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import add_meters

from wattwise.config import Settings
from wattwise.devices.simulator.frame import household_frame
from wattwise.ingest.importer import import_file
from wattwise.runtime import start_services
from wattwise.store.engine import open_engine

START = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    frame = household_frame(START, START + args.days * 86_400_000, 60.0, seed=3)
    with tempfile.TemporaryDirectory(prefix="wattwise-import-") as tmp:
        csv = Path(tmp) / "year.csv"
        frame.to_csv(csv, index=False)
        rows = [
            tuple(r)
            for r in frame[["ts", "voltage", "current", "power", "energy", "frequency", "pf"]].itertuples(index=False)
        ]
        raw = open_engine(f"sqlite:///{tmp}/raw.db")
        with raw.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.execute(
                "CREATE TABLE r (device_id INTEGER, ts BIGINT, voltage FLOAT, current FLOAT, power FLOAT, "
                "energy FLOAT, frequency FLOAT, pf FLOAT, PRIMARY KEY (device_id, ts))"
            )
            started = time.perf_counter()
            for i in range(0, len(rows), 10_000):
                dbapi.executemany("INSERT INTO r VALUES (1, ?, ?, ?, ?, ?, ?, ?)", rows[i : i + 10_000])
                dbapi.commit()
            raw_s = time.perf_counter() - started
        raw.dispose()

        url = f"sqlite:///{tmp}/wattwise.db"
        add_meters(url, 1)
        services = start_services(Settings(database=url, data_dir=Path(tmp)))
        try:
            started = time.perf_counter()
            report = import_file(
                services.pipeline,
                1,
                csv,
                {
                    "ts": "ts",
                    "voltage": "voltage",
                    "current": "current",
                    "power": "power",
                    "energy": "energy",
                    "frequency": "frequency",
                    "pf": "pf",
                },
            )
            services.writer.flush()
            ours_s = time.perf_counter() - started
        finally:
            services.close()
    assert report.accepted == len(frame), report
    print(f"{len(frame):,} rows ({args.days} days at 1 min)")
    print(f"raw insert : {raw_s:6.1f} s  {len(frame) / raw_s:>9,.0f} rows/s")
    print(f"import     : {ours_s:6.1f} s  {len(frame) / ours_s:>9,.0f} rows/s  (CSV read, pipeline, rollups)")
    print(f"ratio      : {raw_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
