"""The history a chart shows, as CSV: one row per bucket, UTC times, the numbers as served."""

from __future__ import annotations

import csv
import io

from wattwise.export import file_safe, iso_utc, stamp
from wattwise.store.series import Series


def series_csv(series: Series) -> bytes:
    """Columns: time_utc, ts_ms, bucket_ms, min, mean, max, count (readings in the bucket)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "time_utc",
            "ts_ms",
            "bucket_ms",
            f"{series.metric}_min",
            f"{series.metric}_mean",
            f"{series.metric}_max",
            "count",
        ]
    )
    for i, (ts, when) in enumerate(zip(series.ts, iso_utc(series.ts), strict=True)):
        writer.writerow([when, ts, series.bucket_ms, series.min[i], series.mean[i], series.max[i], series.count[i]])
    return out.getvalue().encode()


def csv_filename(meter: str, series: Series) -> str:
    return f"{file_safe(meter)}-{series.metric}-{stamp(series.start)}-{stamp(series.end)}.csv"
