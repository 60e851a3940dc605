"""Time to build a site's monthly report from a month of 2-second readings.

One meter, one simulated month at 2 s (≈1.3 M readings, from the household simulator), stored
with its rollups. The report (``accounting.report.site_report``: energy, peak, voltages, count,
longest silence, findings, alerts, bills) is timed, median of 5, beside a reference measured in
the same run: one plain scan of the month's raw readings for the same sums and extremes
(``sum(wh), max(power), min/max(voltage), count(*)``), the least any answer from raw data costs.
The longest silence is timed alone too: as the report finds it (this meter is never silent for
3 minutes and has more than ``SCAN_AT_MOST`` readings, so it is placed to the minute) and timed
exactly from every reading's time.

    python bench/report.py [--database sqlite|postgresql] [--days 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import fresh_database
from query import START, load
from sqlalchemy import text

from wattwise.accounting.report import SCAN_AT_MOST, site_report
from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.series import longest_silence

DAY = 86_400_000


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm the caches as a second look at the same month would
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with fresh_database(args.database, "report") as url, tempfile.TemporaryDirectory() as tmp:
        device = load(url, args.days)
        services = start_services(Settings(database=url, data_dir=Path(tmp)))
        try:
            first = datetime.fromtimestamp(START / 1000, UTC).date()
            last = first + timedelta(days=args.days)
            end = START + args.days * DAY
            report = site_report(services, 1, first, last)
            (meter,) = report.meters
            scan = text(
                "SELECT sum(wh), max(power), min(voltage), max(voltage), count(*) FROM readings "
                "WHERE device_id = :d AND ts >= :lo AND ts < :hi"
            )
            with services.engine.connect() as conn:
                wh, peak, v_min, v_max, n = conn.execute(scan, {"d": device, "lo": START, "hi": end}).one()
                assert meter.readings == n and meter.peak_power is not None and meter.peak_power.value == peak
                assert meter.voltage_min is not None and meter.voltage_min.value == v_min
                assert meter.voltage_max is not None and meter.voltage_max.value == v_max
                assert abs(meter.kwh - wh / 1000) < 1e-6 * max(1.0, wh / 1000)
                raw_ms = timed(lambda: conn.execute(scan, {"d": device, "lo": START, "hi": end}).one())
                silence_ms = timed(lambda: longest_silence(conn, device, START, end, scan_at_most=SCAN_AT_MOST))
                exact_ms = timed(lambda: longest_silence(conn, device, START, end))
            report_ms = timed(lambda: site_report(services, 1, first, last))
        finally:
            services.close()
    print(f"{args.database}, {args.days} days, {n:,} readings: {meter.kwh:,.1f} kWh, peak {peak:,.0f} W")
    print(f"{'':>30} {'ms':>9}")
    print(f"{'site report (whole)':>30} {report_ms:>9.1f}")
    print(f"{'  of which longest silence':>30} {silence_ms:>9.1f}  (exact: {meter.longest_silence.exact})")
    print(f"{'longest silence, every reading':>30} {exact_ms:>9.1f}")
    print(f"{'reference: one raw scan':>30} {raw_ms:>9.1f}")
    print(f"report / reference: {report_ms / raw_ms:.2f}×")


if __name__ == "__main__":
    main()
