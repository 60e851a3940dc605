"""Bring a recording from another system (CSV or Parquet) in through the same pipeline as meters.

Column mapping is explicit (``ts=timestamp,power=aggregate``) because every system names
things differently; units are converted with ``scale`` (e.g. kW → W).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from wattwise.domain.limits import MAX_BATCH
from wattwise.domain.readings import METRICS
from wattwise.domain.timestamps import timestamps_ms
from wattwise.ingest.pipeline import Pipeline


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_errors: list[str] = field(default_factory=list)


def parse_mapping(text: str) -> dict[str, str]:
    """``ts=timestamp,power=aggregate`` → {"ts": "timestamp", "power": "aggregate"}."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not theirs:
            raise ValueError(f"map: {part!r} should look like power=aggregate")
        if ours not in ("ts", *METRICS):
            raise ValueError(f"map: {ours!r} is not one of ts, {', '.join(METRICS)}")
        mapping[ours] = theirs
    if "ts" not in mapping:
        raise ValueError("map: name the time column, e.g. ts=timestamp")
    return mapping


def read_table(path: Path, columns: list[str], sep: str | None) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path, columns=columns)
    if sep is None:  # sniff the separator from the header (IHEPC uses ';')
        with path.open() as handle:
            header = handle.readline()
        sep = max((",", ";", "\t"), key=header.count)
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
    """Import every row; bad rows are counted and explained, never silently dropped."""
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
    """Items as a meter would send them; an unreadable time becomes a rejection, NaN "not measured"."""
    stamps = timestamps_ms(frame[mapping["ts"]], timezone).tolist()
    names = [ours for ours in mapping if ours != "ts"]
    columns = []
    for ours in names:
        values = pd.to_numeric(frame[mapping[ours]], errors="coerce").to_numpy(dtype="float64") * scale.get(ours, 1.0)
        columns.append([None if v != v else v for v in values.tolist()])  # v != v: NaN
    rows = [
        {"ts": ts if ts >= 0 else "unreadable", **dict(zip(names, values, strict=True))}
        for ts, *values in zip(stamps, *columns, strict=True)
    ]
    for start in range(0, len(rows), batch):
        yield rows[start : start + batch], start
