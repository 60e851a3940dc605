"""A meter's history as a file for spreadsheets and notebooks: CSV (streamed) or Parquet.

The REST endpoint and ``wattwise export`` both go through ``Export``: the same checks, the
same columns. Every file starts with ``ts_ms`` (UTC epoch milliseconds) and ``time_utc``
(ISO 8601 with ``Z``), so it reads the same in Excel, pandas and the importer, which takes
an export back with ``--map ts=ts_ms,power=power,…``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wattwise.domain.readings import METRICS
from wattwise.domain.timestamps import calendar_error
from wattwise.runtime import Services
from wattwise.store import rollups
from wattwise.store.export import RESOLUTIONS, Row, columns, history_pages

FORMATS = ("csv", "parquet")
DAY_MS = 86_400_000
#: The longest range one export may cover, per resolution (raw rows arrive up to once a second).
MAX_SPAN_MS: dict[str, int] = {
    "raw": 31 * DAY_MS,
    "1m": 366 * DAY_MS,
    "1h": 10 * 366 * DAY_MS,
    "1d": 100 * 366 * DAY_MS,
}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def iso_utc(ts_ms: list[int]) -> list[str]:
    """``2025-11-24T15:33:16.250Z`` for each instant: fixed width, unambiguous to any reader.

    One vectorised call per page: formatting row by row took a fifth of a CSV export's time.
    """
    return np.datetime_as_string(np.array(ts_ms, dtype="datetime64[ms]"), unit="ms", timezone="UTC").tolist()  # type: ignore[no-any-return]


def file_safe(name: str) -> str:
    """A meter name as a file name part (letters, digits, - and _)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "meter"


def stamp(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y%m%dT%H%M")


def parse_metrics(raw: str | None) -> tuple[str, ...]:
    """``power,voltage`` → those metrics in storage order; empty or None: all of them."""
    if not raw or not raw.strip():
        return METRICS
    wanted = [m.strip() for m in raw.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: {', '.join(map(repr, unknown))} not among {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in wanted)


@dataclass(frozen=True, slots=True)
class Export:
    """One export's choices, checked on creation (each error names the parameter)."""

    device_id: int
    since: int
    until: int
    format: str = "csv"
    resolution: str = "raw"
    metrics: tuple[str, ...] = METRICS

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format: must be csv or parquet, got {self.format!r}")
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution: must be one of {', '.join(RESOLUTIONS)}, got {self.resolution!r}")
        for name, ts in (("since", self.since), ("until", self.until)):
            if (error := calendar_error(name, ts)) is not None:
                raise ValueError(error)
        if self.until <= self.since:
            raise ValueError("until: must be after since")
        limit = MAX_SPAN_MS[self.resolution]
        if self.until - self.since > limit:
            raise ValueError(
                f"since: the range is longer than {limit // DAY_MS} days, the most one {self.resolution} export "
                "covers; split it, or choose a coarser resolution"
            )

    @property
    def header(self) -> list[str]:
        return ["ts_ms", "time_utc", *columns(self.resolution, self.metrics)]

    def filename(self, meter: str) -> str:
        return f"{file_safe(meter)}-{self.resolution}-{stamp(self.since)}-{stamp(self.until)}.{self.format}"

    def pages(self, services: Services) -> Iterator[list[Row]]:
        """Rows in time order; a tier's pending rollups are brought up to date first (blocking)."""
        if self.resolution != "raw":
            with services.engine.connect() as conn:
                waiting = rollups.pending(conn, self.device_id, self.since, self.until)
            if waiting:
                services.writer.flush()
        return history_pages(
            services.engine,
            self.device_id,
            resolution=self.resolution,
            metrics=self.metrics,
            since=self.since,
            until=self.until,
        )


def csv_chunks(export: Export, pages: Iterator[list[Row]]) -> Iterator[bytes]:
    """The header, then one chunk per page: memory stays flat whatever the range."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(export.header)
    yield _drain(out)
    for page in pages:
        times = iso_utc([int(row[0]) for row in page])  # type: ignore[arg-type]
        writer.writerows((row[0], when, *row[1:]) for row, when in zip(page, times, strict=True))
        yield _drain(out)


def _drain(out: io.StringIO) -> bytes:
    data = out.getvalue().encode()
    out.seek(0)
    out.truncate()
    return data


def parquet_bytes(export: Export, pages: Iterator[list[Row]]) -> bytes:
    """One Parquet file: ``ts_ms`` int64, ``time_utc`` a UTC timestamp (ms), values float64, ``count`` int64."""
    names = export.header[2:]
    fields = [pa.field("ts_ms", pa.int64()), pa.field("time_utc", pa.timestamp("ms", tz="UTC"))]
    fields += [pa.field(n, pa.int64() if n == "count" else pa.float64()) for n in names]
    schema = pa.schema(fields)
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, schema) as writer:
        for page in pages:
            ts = [int(row[0]) for row in page]  # type: ignore[arg-type]
            arrays = [pa.array(ts, pa.int64()), pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))]
            arrays += [pa.array([row[i + 1] for row in page], f.type) for i, f in enumerate(fields[2:])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    return sink.getvalue()
