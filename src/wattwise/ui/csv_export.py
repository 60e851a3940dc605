"""The history a chart shows, as CSV: one row per bucket, UTC times, the numbers as served."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

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
    for i, ts in enumerate(series.ts):
        when = datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")
        writer.writerow([when, ts, series.bucket_ms, series.min[i], series.mean[i], series.max[i], series.count[i]])
    return out.getvalue().encode()


def csv_filename(meter: str, series: Series) -> str:
    day = datetime.fromtimestamp(series.start / 1000, UTC).strftime("%Y%m%dT%H%M")
    end = datetime.fromtimestamp(series.end / 1000, UTC).strftime("%Y%m%dT%H%M")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in meter) or "meter"
    return f"{safe}-{series.metric}-{day}-{end}.csv"
