"""Time to answer a 1,000-point series over a year, a month and a day of 2-second readings.

One meter, one simulated year at 2 s (≈15.8 M readings, from the household simulator),
stored with its 1-minute, 1-hour and 1-day rollups. Each query is timed (median of 5) as the
API answers it — from the tier the series code picks — and, in the same run, as a full scan of
the raw readings for the same buckets (the reference), printed side by side as a ratio.

    python bench/query.py [--database sqlite|postgresql] [--days 365]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import fresh_database

from wattwise.devices.simulator.frame import household_frame
from wattwise.store import rollups
from wattwise.store.devices import create_device
from wattwise.store.engine import migrate, open_engine
from wattwise.store.series import query_series
from wattwise.store.sites import create_site

DAY = 86_400_000
START = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def load(database: str, days: int) -> int:
    engine = open_engine(database, sqlite_synchronous="NORMAL")
    migrate(engine)
    with engine.begin() as conn:
        site = create_site(conn, "bench")
        device = create_device(conn, site_id=site.id, name="year").device.id
    started = time.perf_counter()
    frame = household_frame(START, START + days * DAY, 2.0, seed=1)
    print(f"simulated {len(frame):,} readings in {time.perf_counter() - started:.1f} s", flush=True)
    energy = frame["energy"].to_numpy()
    wh = np.concatenate([[0.0], np.clip(np.diff(energy), 0, None)])
    columns = [frame[c].to_numpy() for c in ("ts", "voltage", "current", "power", "energy", "frequency", "pf")]
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO readings VALUES ({', '.join([mark] * 9)})"
    started = time.perf_counter()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for lo in range(0, len(frame), 200_000):
            hi = lo + 200_000
            chunk = zip(
                [device] * (min(hi, len(frame)) - lo),
                *(c[lo:hi].tolist() for c in columns),
                wh[lo:hi].tolist(),
                strict=True,
            )
            raw.cursor().executemany(sql, list(chunk))
            raw.commit()
    print(f"stored in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with engine.begin() as conn:  # the same refresh the writer runs, over every minute at once
        rollups.refresh(conn, device, range(START, START + days * DAY, rollups.MINUTE_MS))
    print(f"rollups built in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()
    return device


def timed(fn: object, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with fresh_database(args.database, "query") as url:
        device = load(url, args.days)
        engine = open_engine(url)
        end = START + args.days * DAY
        print(f"{'range':>6} {'tier':>5} {'points':>6} {'ms':>8} {'raw scan ms':>12} {'speed-up':>9}")
        with engine.connect() as conn:
            for name, span in (("year", args.days * DAY), ("month", 30 * DAY), ("day", DAY)):
                lo = end - span
                ms, series = timed(
                    lambda lo=lo: query_series(conn, device, metric="power", start=lo, end=end, points=1000), 5
                )
                raw_ms, raw = timed(
                    lambda lo=lo: query_series(
                        conn, device, metric="power", start=lo, end=end, points=1000, tier="raw"
                    ),
                    1 if name != "day" else 5,
                )
                assert series.ts == raw.ts and series.count == raw.count  # type: ignore[attr-defined]
                print(
                    f"{name:>6} {series.tier:>5} {len(series.ts):>6} {ms:>8.1f} {raw_ms:>12.1f} "  # type: ignore[attr-defined]
                    f"{raw_ms / ms:>8.0f}×",
                    flush=True,
                )
        engine.dispose()


if __name__ == "__main__":
    main()
