"""Bring a recording from another system (CSV or Parquet) in through the same pipeline as meters.

Column mapping is explicit (``ts=timestamp,power=aggregate``) because every system names
things differently; units are converted with ``scale`` (e.g. kW → W).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from wattwise.domain.limits import MAX_BATCH
from wattwise.domain.readings import METRICS
from wattwise.domain.timestamps import UNREADABLE, time_zone, timestamps_ms
from wattwise.ingest.pipeline import Pipeline
from wattwise.store.devices import get_device


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_errors: list[str] = field(default_factory=list)


def _pairs(text: str, option: str, example: str) -> Iterator[tuple[str, str]]:
    """``a=b,c=d`` as (a, b), (c, d); a part without both sides is refused, naming the option."""
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not theirs:
            raise ValueError(f"{option}: {part!r} should look like {example}")
        yield ours, theirs


def parse_mapping(text: str) -> dict[str, str]:
    """``ts=timestamp,power=aggregate`` → {"ts": "timestamp", "power": "aggregate"}."""
    mapping: dict[str, str] = {}
    for ours, theirs in _pairs(text, "map", "power=aggregate"):
        if ours not in ("ts", *METRICS):
            raise ValueError(f"map: {ours!r} is not one of ts, {', '.join(METRICS)}")
        mapping[ours] = theirs
    if "ts" not in mapping:
        raise ValueError("map: name the time column, e.g. ts=timestamp")
    return mapping


def parse_scale(text: str) -> dict[str, float]:
    """``power=1000,energy=1000`` → {"power": 1000.0, "energy": 1000.0}: a factor per metric.

    A factor may be negative (a clamp put on the wire the wrong way round) but not zero, NaN or
    infinite, and it must name a metric: a typo would otherwise import unscaled, silently.
    """
    factors: dict[str, float] = {}
    for ours, number in _pairs(text, "scale", "power=1000"):
        if ours not in METRICS:
            raise ValueError(f"scale: {ours!r} is not one of {', '.join(METRICS)}")
        try:
            factor = float(number)
        except ValueError:
            raise ValueError(f"scale: {ours}'s factor {number!r} is not a number") from None
        if factor == 0 or not math.isfinite(factor):
            raise ValueError(f"scale: {ours}'s factor must be a finite number other than 0, got {number!r}")
        factors[ours] = factor
    return factors


def read_table(path: Path, columns: list[str], sep: str | None) -> pd.DataFrame:
    """The mapped columns of a CSV or Parquet file; ValueError naming any the file lacks."""
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if parquet:
        present = list(pq.read_schema(path).names)
    else:
        if sep is None:  # sniff the separator from the header (IHEPC uses ';')
            with path.open() as handle:
                header = handle.readline()
            sep = max((",", ";", "\t"), key=header.count)
        present = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    missing = [c for c in columns if c not in present]
    if missing:
        named, columns_seen = ", ".join(map(repr, missing)), ", ".join(map(str, present))
        raise ValueError(f"map: {path.name} has no column {named} (its columns: {columns_seen})")
    if parquet:
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, sep=sep, usecols=columns, na_values=["?", "", "NaN", "nan"], low_memory=False)


def import_file(
    pipeline: Pipeline,
    device_id: int,
    path: Path,
    mapping: dict[str, str],
    *,
    scale: dict[str, float] | None = None,
    timezone: str = "UTC",
    sep: str | None = None,
    batch: int = MAX_BATCH,
) -> ImportReport:
    """Import every row; bad rows are counted and explained, never silently dropped.

    The meter must exist: readings carry only its id, and the store would keep rows for an id
    no meter has (``NotFound`` naming it). A time zone that is none is refused before any row.
    """
    time_zone(timezone)
    with pipeline.engine.connect() as conn:
        get_device(conn, device_id)
    frame = read_table(path, list(dict.fromkeys(mapping.values())), sep)
    report = ImportReport(rows=len(frame))
    for items, offset in _batches(frame, mapping, scale or {}, timezone, batch):
        result = pipeline.ingest_blocking(device_id, items)
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        report.rejected += len(result.rejected)
        for rejection in result.rejected[: max(0, 5 - len(report.first_errors))]:
            report.first_errors.append(f"row {offset + rejection.index + 1}: {'; '.join(rejection.errors)}")
    return report


def _batches(
    frame: pd.DataFrame, mapping: dict[str, str], scale: dict[str, float], timezone: str, batch: int
) -> Iterator[tuple[list[dict[str, object]], int]]:
    """Items as a meter would send them: an empty cell is "not measured"; a cell that is no time
    or no number goes as the file has it, so its rejection quotes it."""
    times = frame[mapping["ts"]]
    stamps = timestamps_ms(times, timezone, strict=False).tolist()
    names = [ours for ours in mapping if ours != "ts"]
    columns = []
    for ours in names:
        raw = frame[mapping[ours]]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64") * scale.get(ours, 1.0)
        cells = zip(values.tolist(), raw.tolist(), strict=True)
        columns.append([(_cell(cell) or None) if v != v else v for v, cell in cells])  # v != v: NaN
    rows = [
        {"ts": ts if ts != UNREADABLE else _cell(cell), **dict(zip(names, values, strict=True))}
        for ts, cell, *values in zip(stamps, times.tolist(), *columns, strict=True)
    ]
    for start in range(0, len(rows), batch):
        yield rows[start : start + batch], start


def _cell(value: object) -> str:
    """A cell as the file has it, for a rejection to quote (empty: '')."""
    return "" if value is None or value != value else str(value)  # value != value: NaN
