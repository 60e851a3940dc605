"""How many meters the live detectors keep up with: their readings/s beside the ingest rate of the same run.

For each count of meters, on a fresh database (SQLite WAL, or PostgreSQL):
  models — a few simulated households (``--templates``) store ``--history-days`` of readings
           every 10 s; the detectors' own refresh (``Detectors.refresh``) fits each one's
           anomaly model (seasonal baseline + Isolation Forest) from that stored history, and
           every other meter gets a copy of its household's model (fitting a thousand identical
           forests would only make the set-up slow; scoring costs the same);
  live   — every meter then sends ``--minutes`` of its household's next readings, one reading
           every 10 s of reading time, each as one upload through the ingest pipeline that
           POST /api/v1/ingest calls (``Pipeline.ingest_json``: parse, check, store, commit,
           publish), as fast as the store takes them, with the detectors attached as a server
           attaches them (one worker thread in the same process, sharing its CPU and GIL).
Printed: the ingest rate; the detectors' rate over the same run (all readings / time until
they caught up) and the ratio of the two; the backlog and lag (``Detectors.progress``, what
/metrics shows) the moment ingest stopped; how fast the worker drained that backlog alone;
and the rate a 10 s cadence needs (meters / 10 s). Then the backlog's peaks (sampled every
0.5 s): readings queued in memory, and waiting in all (the queue and the readings recorded
to be read back from the store past ``--backlog-max``); how many were read back; and the
process's peak RSS (``resource.getrusage``) when the live part started and when it ended.
The peak is the process's whole life's: compare limits with one count of meters per run.
``--profile`` runs the worker under cProfile and says where its time went. ``--memory`` says
what the detectors hold per meter once the live part is over, part by part (``held.py``: each
part with everything it reaches, counted once), beside the RSS the live part added per meter.

    python bench/detectors.py [--database sqlite|postgresql] [--meters 10 100 1000] [--minutes 30]
                              [--history-days 3] [--templates 4] [--backlog-max N | 0 for none] [--profile]
                              [--memory]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from common import fresh_database
from held import held_bytes
from sqlalchemy import Connection, func, select

from wattwise.api.body import decode_json, readings_payload
from wattwise.config import Settings
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.detectors.anomaly import KIND as ANOMALY
from wattwise.devices.simulator.frame import household_frame
from wattwise.runtime import Services, start_services
from wattwise.store.detector_models import load_model, save_model
from wattwise.store.devices import create_device
from wattwise.store.findings_schema import appliance_events, findings
from wattwise.store.sites import get_or_create_site

CADENCE_MS = 10_000
T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC: the history starts here, a Monday
UPLOADERS = 16  # uploads in flight at once (meters taking turns), as many gateways would
NO_LIMIT = 10**12  # --backlog-max 0: every batch is queued


@dataclass
class Result:
    meters: int
    readings: int
    ingest_s: float
    caught_up_s: float
    backlog: int
    lag_s: float
    events: int
    findings: int
    busy_s: float
    max_lag_s: float
    peak_queued: int
    peak_backlog: int
    reread: int
    rss_mb_before: float
    rss_mb_after: float
    rss_mb_now: float
    held: dict[str, float]  # --memory: bytes per meter by part

    @property
    def ingest_rate(self) -> float:
        return self.readings / self.ingest_s

    @property
    def detector_rate(self) -> float:
        return self.readings / self.caught_up_s

    @property
    def drain_rate(self) -> float:
        after = self.caught_up_s - self.ingest_s
        return self.backlog / after if after > 0 and self.backlog else float("inf")


class TimedDetectors(Detectors):
    """The detectors, counting the seconds their worker spends on batches of readings."""

    busy_s = 0.0

    def _handle(self, item: tuple[Any, ...]) -> None:
        if item[0] not in ("readings", "reread", "flush"):  # flush: it reads back what waits in the store
            return super()._handle(item)
        started = time.perf_counter()
        try:
            super()._handle(item)
        finally:
            self.busy_s += time.perf_counter() - started


class ProfiledDetectors(TimedDetectors):
    """The detectors with their worker thread under cProfile (a profile is per thread)."""

    profile = cProfile.Profile()

    def _work(self) -> None:
        self.profile.enable()
        try:
            super()._work()
        finally:
            self.profile.disable()


def peak_rss_mb() -> float:
    """The process's peak resident set so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The process's resident set now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def held_per_meter(detectors: Detectors) -> dict[str, float]:
    """Bytes the detectors hold per meter, by part; each object counted once, for the first
    part that reaches it (so the anomaly model's forest is not counted again in the model)."""
    meters = list(detectors._meters.values())
    parts: dict[str, Any] = {
        "anomaly forest": lambda m: m.anomaly and m.anomaly.model.forest,
        "anomaly model, the rest": lambda m: m.anomaly and m.anomaly.model,
        "anomaly carry": lambda m: m.anomaly,
        "NILM (model + live state)": lambda m: m.nilm,
        "grid": lambda m: m.grid,
        "theft model": lambda m: m.theft,
        "the rest (device, verdicts, open findings)": lambda m: m,
    }
    seen: set[int] = set()
    return {name: sum(held_bytes(part(m), seen) for m in meters) / max(len(meters), 1) for name, part in parts.items()}


def bodies(frame_rows: list[dict[str, float]]) -> list[bytes]:
    return [orjson.dumps(row) for row in frame_rows]


def households(templates: int, history_days: int, minutes: int) -> list[tuple[list[dict[str, float]], list[bytes]]]:
    """Each household's history rows and its live uploads (one reading each) after them."""
    live_from = T0 + history_days * 86_400_000
    out = []
    for seed in range(templates):
        frame = household_frame(T0, live_from + minutes * 60_000, CADENCE_MS / 1000, seed=seed + 1)
        rows = frame.to_dict("records")
        for row in rows:
            row["ts"] = int(row["ts"])
        history = [r for r in rows if r["ts"] <= live_from]
        live = [r for r in rows if r["ts"] > live_from]
        out.append((history, bodies(live)))
    return out


def set_up(services: Services, meters: int, homes: list[tuple[list[dict[str, float]], list[bytes]]]) -> list[int]:
    """The meters, the households' history and their fitted models; returns the meters' ids."""
    with services.engine.begin() as conn:
        site = get_or_create_site(conn, "bench")
        ids = [create_device(conn, site_id=site.id, name=f"meter-{i:04d}").device.id for i in range(meters)]
    for k, (history, _live) in enumerate(homes):
        for i in range(0, len(history), 5000):
            services.pipeline.ingest_blocking(ids[k], history[i : i + 5000], now_ms=T0 + 400 * 86_400_000)
    fitter = Detectors(services).start()
    try:
        fitter.refresh(timeout=3600)  # the service's own refresh: fits what the stored history allows
    finally:
        fitter()
    with services.engine.connect() as conn:
        models = [load_model(conn, ids[k], ANOMALY) for k in range(len(homes))]
    assert all(m is not None for m in models), "the refresh fitted no anomaly model"

    def copy(conn: Connection) -> None:
        for n, device_id in enumerate(ids[len(homes) :], start=len(homes)):
            model = models[n % len(homes)]
            assert model is not None
            save_model(conn, device_id, ANOMALY, model.data, trained_until=model.trained_until, rows=model.rows)

    services.writer.run(copy)
    return ids


async def live(
    services: Services,
    ids: list[int],
    homes: list[tuple[list[dict[str, float]], list[bytes]]],
    profile: bool,
    paced: bool,
    backlog_max: int,
    memory: bool = False,
) -> Result:
    """Send every meter's live readings (as fast as the store takes them, or ``paced``: in real
    time, one reading per meter every 10 s) and wait until the detectors have caught up."""
    steps = min(len(live) for _history, live in homes)
    kind = ProfiledDetectors if profile else TimedDetectors
    settings = replace(DetectorSettings.from_settings(services.settings), backlog_max=backlog_max)
    detectors = kind(services, settings).start()
    now = T0 + 400 * 86_400_000

    def items(body: bytes) -> list[object]:
        return list(readings_payload(decode_json(body)))

    async def uploader(part: list[int]) -> None:
        for step in range(steps):
            for n in part:
                if paced:  # meters spread evenly over each 10 s, as real ones are
                    due = started + (step + n / len(ids)) * CADENCE_MS / 1000
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                await services.pipeline.ingest_json(ids[n], homes[n % len(homes)][1][step], items, now_ms=now)

    async def watch(lags: list[float], peaks: list[int]) -> None:
        while True:
            progress = detectors.progress
            lags.append(progress.lag_s())
            peaks[0], peaks[1] = max(peaks[0], progress.queued), max(peaks[1], progress.backlog)
            await asyncio.sleep(0.5)

    order = list(range(len(ids)))
    lags: list[float] = [0.0]
    peaks = [0, 0]
    rss_before = peak_rss_mb()
    try:
        started = time.perf_counter()
        watcher = asyncio.create_task(watch(lags, peaks))
        await asyncio.gather(*(uploader(order[w::UPLOADERS]) for w in range(UPLOADERS)))
        ingest_s = time.perf_counter() - started
        watcher.cancel()
        backlog, lag, queued = detectors.progress.backlog, detectors.progress.lag_s(), detectors.progress.queued
        await asyncio.to_thread(detectors.flush, 3600)
        caught_up_s = time.perf_counter() - started
    finally:
        detectors()
    with services.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(appliance_events)).scalar_one()
        found = conn.execute(select(func.count()).select_from(findings)).scalar_one()
    busy = detectors.busy_s  # type: ignore[attr-defined]
    peak, now = peak_rss_mb(), rss_mb()
    held = held_per_meter(detectors) if memory else {}  # after the peak: the walk's own memory is not the meters'
    return Result(
        len(ids),
        steps * len(ids),
        ingest_s,
        caught_up_s,
        backlog,
        lag,
        events,
        found,
        busy,
        max(lags),
        max(peaks[0], queued),
        max(peaks[1], backlog),
        detectors.progress.reread,
        rss_before,
        peak,
        now,
        held,
    )


#: The worker's steps the profile is summed over: file, function, label (indented under its caller).
STEPS = """
service.py _handle worker steps (all; waiting for work left out)
service.py _meter   load a meter's state (first reading)
nilm.py feed   NILM detection (MeterNilm.feed)
anomaly.py score   anomaly scoring (MeterAnomaly.score)
anomaly.py score_frame     engine score_frame
_iforest.py score_samples       IsolationForest.score_samples (before)
forest_scores.py scores       the forest, all trees at once (CompactForest.scores)
anomaly.py _features       features (_features)
features.py calendar         calendar fields (features.calendar)
grid.py feed   grid events (MeterGrid.feed)
service.py _theft   theft (daily verdict)
writer.py run   storing what was found (writer.run: waits for its commit)
service.py _balance   energy balance
"""


def where_time_went(profile: cProfile.Profile, readings: int) -> None:
    """The worker's time by step (cumulative, and per reading), then its costliest functions."""
    stats = pstats.Stats(profile)
    table = stats.stats  # type: ignore[attr-defined]
    steps = {(f, fn): label for f, fn, label in (line.split(" ", 2) for line in STEPS.strip("\n").splitlines())}
    found = {key: [v for (f, _line, fn), v in table.items() if f.endswith(key[0]) and fn == key[1]] for key in steps}
    work = sum(v[3] for v in found[("service.py", "_handle")])
    print(f"  worker time in steps under cProfile: {work:.1f} s for {readings:,} readings")
    for key, label in steps.items():
        cum = sum(v[3] for v in found[key])
        calls = sum(v[1] for v in found[key])
        print(
            f"  {label:48s} {cum:8.2f} s {100 * cum / work:5.1f} % {1000 * cum / readings:7.2f} ms/reading "
            f"{calls:>9,} calls"
        )
    print("  costliest functions by own time:")
    stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--meters", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--minutes", type=int, default=30, help="minutes of reading time each meter sends")
    parser.add_argument("--history-days", type=int, default=3, help="stored history the models are fitted from")
    parser.add_argument("--templates", type=int, default=4, help="simulated households (each meter is one of them)")
    parser.add_argument("--profile", action="store_true", help="run the detectors' worker under cProfile")
    parser.add_argument("--memory", action="store_true", help="say what the detectors hold per meter, by part")
    parser.add_argument(
        "--backlog-max",
        type=int,
        default=Settings().detector_backlog_max,
        help="readings the worker may have queued (WATTWISE_DETECTOR_BACKLOG_MAX); 0: no limit",
    )
    parser.add_argument(
        "--paced",
        action="store_true",
        help="send in real time (one reading per meter every 10 s; --minutes is then wall time) instead of flat out",
    )
    args = parser.parse_args()
    homes = households(args.templates, args.history_days, args.minutes)
    print(
        f"database: {args.database}; one reading every 10 s per meter, {args.minutes} min of reading time each; "
        f"models fitted on {args.history_days} days ({args.templates} households); one process, 2 cores; "
        f"backlog limit {args.backlog_max or 'none'}"
    )
    head = (
        f"{'meters':>6} {'readings':>9} {'ingest r/s':>11} {'detect r/s':>11} {'ratio':>6} "
        f"{'backlog':>8} {'lag s':>7} {'max lag':>7} {'drain r/s':>10} {'10 s needs':>10} {'busy':>5} "
        f"{'events':>7} {'findings':>8} {'peak queued':>11} {'peak waiting':>12} {'reread':>8} {'peak RSS MB':>14}"
    )
    print(head)
    for meters in args.meters:
        with fresh_database(args.database, f"detector_scale_{meters}") as url, tempfile.TemporaryDirectory() as data:
            services = start_services(Settings(database=url, data_dir=Path(data)))
            try:
                ids = set_up(services, meters, homes[: min(meters, len(homes))])
                limit = args.backlog_max or NO_LIMIT
                started_mb = rss_mb()
                homes_used = homes[: min(meters, len(homes))]
                r = asyncio.run(live(services, ids, homes_used, args.profile, args.paced, limit, args.memory))
            finally:
                services.close()
        print(
            f"{r.meters:>6} {r.readings:>9} {r.ingest_rate:>11,.0f} {r.detector_rate:>11,.0f} "
            f"{r.detector_rate / r.ingest_rate:>6.2f} {r.backlog:>8,} {r.lag_s:>7.1f} {r.max_lag_s:>7.1f} "
            f"{r.drain_rate:>10,.0f} {meters / 10:>10,.1f} {r.busy_s / r.caught_up_s:>5.0%} {r.events:>7,} "
            f"{r.findings:>8,} {r.peak_queued:>11,} {r.peak_backlog:>12,} {r.reread:>8,} "
            f"{r.rss_mb_before:>6,.0f} → {r.rss_mb_after:>5,.0f}",
            flush=True,
        )
        if args.memory:
            print(
                f"  held per meter after the live part (RSS now {r.rss_mb_now:,.0f} MB, "
                f"{(r.rss_mb_now - started_mb) * 1024 / meters:,.0f} kB per meter more than before it):"
            )
            for part, size in r.held.items():
                print(f"    {part:44s} {size / 1024:8,.1f} kB")
            print(f"    {'all':44s} {sum(r.held.values()) / 1024:8,.1f} kB")
        if args.profile:
            where_time_went(ProfiledDetectors.profile, r.readings)
            ProfiledDetectors.profile = cProfile.Profile()


if __name__ == "__main__":
    main()
