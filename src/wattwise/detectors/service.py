"""The live detectors: consumers of the bus that store what they find and announce it.

Shape: the bus calls :meth:`Detectors._on_readings` on the event loop for every committed
batch; the handler only puts the batch on a queue (it must be quick and never blocks
ingest). Past ``backlog_max`` readings queued, it records the range of a meter's readings
instead, and the worker reads them back from the store when it has caught up with the
queue (``detectors.progress``), so memory stays bounded. One *worker* thread takes
batches in order and runs the light per-meter work — NILM events and runs, anomaly
scoring, grid events, the daily theft verdict, the energy balance of main meters —
stores the results through the writer and publishes them back on the bus ("events",
"findings") from the loop's thread. A second, *refresher* thread fits the heavy models
(Isolation Forest, Random Forest) from each meter's own history every ``refresh_s``
seconds and when people's verdicts ask for a retrain; it hands the new model to the
worker, so scoring never waits for a fit.

REST edits tell the worker through the bus: topic "appliances" (a meter's NILM library
changed) and "feedback" (a person judged a finding).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from wattwise.analysis.anomaly import needs_refresh
from wattwise.analysis.features import dump_model
from wattwise.analysis.theft import Verdict
from wattwise.bus import Message
from wattwise.detectors import anomaly, balance, grid, library, live_state, theft
from wattwise.detectors.config import DetectorSettings
from wattwise.detectors.feedback import Judged, signature, suppressed_by
from wattwise.detectors.nilm import MeterNilm, new_event
from wattwise.detectors.progress import Progress
from wattwise.detectors.report import Report
from wattwise.domain.readings import Reading, StoredReading
from wattwise.runtime import Services
from wattwise.store import detections
from wattwise.store import findings as finding_store
from wattwise.store.detector_inputs import energy_by_interval, history_extent, history_frame, readings_between
from wattwise.store.detector_models import StoredModel, load_model, replace_data, save_model
from wattwise.store.devices import Device, get_device, list_devices
from wattwise.store.errors import NotFound
from wattwise.store.sites import list_sites

log = logging.getLogger(__name__)

FEEDBACK_TOPIC = "feedback"
#: Finding kinds whose verdicts are matched by signature (``detectors.feedback``); theft is the other kind.
PATTERN_KINDS = (
    "anomaly",
    "sag",
    "swell",
    "interruption",
    "under_frequency",
    "over_frequency",
    "grid_surge",
    "grid_dip",
    "balance_loss",
)
DAY_MS = 86_400_000
COALESCE_MAX = 20_000  # readings handled in one step at most (also a page read back from the store)
#: a meter's provisional runs are asked again after this much reading time with no event
#: (a fridge running now grows; every update with an event or a run asks anyway)
PROVISIONAL_EVERY_MS = 60_000
_STOP = ("stop",)
_REREAD = ("reread",)
_RESUME = ("resume",)
#: a resuming detector reads back at most this much of a meter's readings stored while no
#: detector ran (a longer gap: the detectors were off; the most recent day is scanned)
RESUME_MAX_MS = DAY_MS


def utc_offset_s(tz: str, at_ms: int | None = None) -> int:
    when = datetime.now(UTC) if at_ms is None else datetime.fromtimestamp(at_ms / 1000, UTC)
    offset = when.astimezone(ZoneInfo(tz)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def site_timezones(conn: Connection) -> dict[int, str]:
    return {s.id: s.timezone for s in list_sites(conn)}


@dataclass(slots=True)
class _Meter:
    """What the worker keeps about one meter."""

    device: Device
    tz: str
    nilm: MeterNilm
    grid: grid.MeterGrid
    anomaly: anomaly.MeterAnomaly | None = None
    theft: theft.MeterTheft | None = None
    judged: list[Judged] = field(default_factory=list)
    ignored_theft: list[tuple[int, list[float]]] = field(default_factory=list)
    open_findings: dict[str, int] = field(default_factory=dict)
    last_ts: int | None = None
    #: the provisional runs last stored (None: not known since start, so the next update stores them)
    provisional: list[detections.NewRun] | None = None
    provisional_at: int = -1  # the reading time they were asked at


@dataclass(slots=True)
class _RunsFound:
    """What a meter's NILM found in one batch beside its events: their stored ids, the
    final runs and the labels their events take, and the provisional runs to store
    (None: unchanged)."""

    ids: list[int]
    final: list[detections.NewRun]
    labels: list[tuple[int, str, float]]
    provisional: list[detections.NewRun] | None

    def any(self) -> bool:
        return bool(self.final or self.labels or self.provisional is not None)


@dataclass(slots=True)
class _Group:
    """A main meter and its sub-meters, balanced interval by interval."""

    main: int
    members: list[int]
    state: balance.BalanceState


class Detectors:
    """Start with :meth:`start`; calling the object detaches it (stops its threads)."""

    def __init__(self, services: Services, settings: DetectorSettings | None = None) -> None:
        self.services = services
        # None: the deployment's own (``WATTWISE_DETECTOR_*``), as the server attaches them
        self.settings = settings or DetectorSettings.from_settings(services.settings)
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        #: how far the worker is behind (readings waiting, the oldest one's wait), and which
        #: meters' readings it reads back from the store: /metrics
        self.progress = Progress(self.settings.backlog_max, resuming=True)
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._active = False
        self._meters: dict[int, _Meter] = {}
        self._groups: dict[int, _Group] = {}
        self._worker = threading.Thread(target=self._work, name="wattwise-detectors", daemon=True)
        self._refresher = threading.Thread(target=self._refresh_loop, name="wattwise-detector-fits", daemon=True)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Detectors:
        bus = self.services.bus
        self._queue.put(_RESUME)  # first: until it is done, the bus's readings are only recorded
        bus.on("readings", self._on_readings)
        bus.on(library.CHANGED_TOPIC, self._on_changed)
        bus.on(FEEDBACK_TOPIC, self._on_feedback)
        bus.on(balance.CLEAN_TOPIC, self._on_vouched)
        self._active = True
        self._worker.start()
        self._refresher.start()
        self._jobs.put(("refresh", None))
        return self

    def __call__(self) -> None:
        """Detach: leave the bus, and both threads finish their queue and stop."""
        if not self._active:
            return
        self._active = False
        bus = self.services.bus
        bus.off("readings", self._on_readings)
        bus.off(library.CHANGED_TOPIC, self._on_changed)
        bus.off(FEEDBACK_TOPIC, self._on_feedback)
        bus.off(balance.CLEAN_TOPIC, self._on_vouched)
        self._jobs.put(_STOP)
        self._queue.put(_STOP)
        self._refresher.join(timeout=60)
        self._worker.join(timeout=60)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every batch handed over (or recorded) so far has been processed and stored."""
        done = threading.Event()
        self._queue.put(("flush", done))
        if not done.wait(timeout):
            raise TimeoutError("the detectors did not catch up in time")

    def refresh(self, timeout: float = 300.0) -> None:
        """Fit or refit every model that is due now (and retrain on pending verdicts), then flush."""
        self.flush(timeout)
        done = threading.Event()
        self._jobs.put(("refresh", done))
        if not done.wait(timeout):
            raise TimeoutError("the model refresh did not finish in time")
        self.flush(timeout)

    # ------------------------------------------------------------------ bus handlers (event loop)

    def _on_readings(self, message: Message) -> None:
        if not self._active:
            return
        admitted = self.progress.admit(message.payload)
        if admitted.queued:
            self._queue.put(("readings", admitted.queued))
        if admitted.started:
            log.warning(
                "the detectors are more than %d readings behind: meters' new readings are read back "
                "from the store when the worker has caught up (WATTWISE_DETECTOR_BACKLOG_MAX)",
                self.progress.limit,
            )
        if admitted.nudge:
            self._queue.put(_REREAD)

    def _on_changed(self, message: Message) -> None:
        if self._active:
            renamed = message.payload.get("renamed")
            self._queue.put(("changed", int(message.payload["device_id"]), None if renamed is None else tuple(renamed)))

    def _on_feedback(self, message: Message) -> None:
        if self._active:
            self._queue.put(("feedback", int(message.payload["id"])))

    def _on_vouched(self, message: Message) -> None:
        if self._active:
            self._queue.put(("vouched", int(message.payload["device_id"])))

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        pending: tuple[Any, ...] | None = None
        while True:
            item = pending if pending is not None else self._queue.get()
            pending = None
            if item == _STOP:
                self._reread()
                self._save_states()
                return
            batches = 0
            if item[0] == "readings":
                item, pending, batches = self._coalesce(item)
            try:
                self._handle(item)
            except Exception:
                log.exception("detector step %s failed; the next batch is handled as usual", item[0])
            finally:
                if batches:
                    self.progress.done(batches)

    def _coalesce(self, first: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None, int]:
        """Join the batches that queued up behind ``first`` (a busy worker then catches up in
        fewer, larger steps); returns the joined batch, the first item that is not readings,
        and how many batches were joined."""
        readings = list(first[1])
        batches = 1
        while len(readings) < COALESCE_MAX:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return ("readings", readings), None, batches
            if item[0] != "readings":
                return ("readings", readings), item, batches
            readings.extend(item[1])
            batches += 1
        return ("readings", readings), None, batches

    def _handle(self, item: tuple[Any, ...]) -> None:
        what = item[0]
        if what == "readings":
            by_meter: dict[int, list[Reading]] = defaultdict(list)
            for stored in item[1]:
                assert isinstance(stored, StoredReading)
                by_meter[stored.reading.device_id].append(stored.reading)
            for device_id, readings in by_meter.items():
                self._readings(device_id, readings)
        elif what == "reread":
            self._reread()
        elif what == "resume":
            self._resume()
        elif what == "flush":
            self._reread()  # what was recorded before the flush was asked is read back now
            item[1].set()
        elif what == "changed":
            self._reload_library(item[1], item[2])
        elif what == "feedback":
            self._feedback(item[1])
        elif what == "vouched":
            group = self._groups.get(item[1])
            if group is not None:
                self._learn_vouched(group)
        elif what == "model":
            self._install(item[1], item[2], item[3])
        elif what == "devices":
            self._update_devices(item[1], item[2])
            self._save_states()

    def _resume(self) -> None:
        """Pick up where the detectors last stopped (a restart, a crash, another process
        that led before): each meter's readings stored after the last one scanned are read
        back before any newer one, so what arrived while no detector ran is scanned too."""
        unscanned: dict[int, tuple[int, int, int]] = {}
        try:
            with self.services.engine.connect() as conn:
                for device_id, scanned in library.scanned_until(conn).items():
                    rows, first, last = history_extent(conn, device_id, scanned + 1)
                    if first is None or last is None:
                        continue
                    if last - first > RESUME_MAX_MS:
                        log.warning(
                            "meter %s: %.1f days of readings stored while no detector ran; the last day is scanned",
                            device_id,
                            (last - first) / DAY_MS,
                        )
                        rows, first, _ = history_extent(conn, device_id, last - RESUME_MAX_MS)
                    unscanned[device_id] = (first or last, last, rows)
        except Exception:
            log.exception("finding where the detectors stopped failed; they go on from the readings arriving now")
        finally:
            self.progress.resume(unscanned)
        if unscanned:
            log.info(
                "the detectors resume: %d readings of %d meters stored since they last ran are scanned first",
                sum(rows for _, _, rows in unscanned.values()),
                len(unscanned),
            )
        self._reread()

    def _reread(self) -> None:
        """Read back, in time order, the readings recorded for each meter whose queued batches
        are done, and process them as batches from the bus are processed."""
        for device_id, record in self.progress.take_spilled():
            rows = 0
            try:
                rows = self._from_store(device_id, record.lo, record.hi)
            except Exception:
                log.exception("meter %s: reading its readings back from the store failed; they are skipped", device_id)
            finally:
                ended = self.progress.reread_done(device_id, rows)
            if ended:
                log.info(
                    "the detectors have caught up: readings are queued again (%d read back from the store so far)",
                    self.progress.reread,
                )
        if self.progress.wants_nudge():
            self._queue.put(_REREAD)

    def _from_store(self, device_id: int, lo: int, hi: int) -> int:
        """Process the meter's stored readings with ``lo <= ts <= hi`` page by page; returns how many."""
        rows = 0
        while lo <= hi:
            with self.services.engine.connect() as conn:
                page = readings_between(conn, device_id, lo, hi + 1, limit=COALESCE_MAX)
            if not page:
                break
            self._readings(device_id, page)
            rows += len(page)
            lo = page[-1].ts + 1
        return rows

    def _meter(self, device_id: int) -> _Meter | None:
        meter = self._meters.get(device_id)
        if meter is not None:
            return meter
        engine = self.services.engine
        with engine.connect() as conn:
            try:
                device = get_device(conn, device_id)
            except NotFound:
                return None
            tz = site_timezones(conn).get(device.site_id, "UTC")
            model = library.load_nilm(conn, device_id)
            nilm_state = library.load_state(conn, device_id)
            stored_anomaly = load_model(conn, device_id, anomaly.KIND)
            stored_theft = load_model(conn, device_id, theft.KIND)
            stored_live = load_model(conn, device_id, live_state.KIND)
        offset = utc_offset_s(tz)
        if model is None:
            model = library.new_model(offset)
            self.services.writer.run(lambda c: library.save_nilm(c, device_id, model))
        try:
            nilm = MeterNilm.start(model, nilm_state)
        except (KeyError, ValueError, TypeError):
            log.warning("meter %s: saved NILM state unreadable; starting afresh", device_id)
            nilm = MeterNilm.start(model)
        meter = _Meter(device=device, tz=tz, nilm=nilm, grid=grid.MeterGrid(utc_offset_s=offset))
        anomaly_model = None if stored_anomaly is None else anomaly.stored(stored_anomaly.data)
        if anomaly_model is not None:
            meter.anomaly = anomaly.MeterAnomaly(anomaly_model, self.settings.anomaly_merge_ms, offset)
        if stored_theft is not None:
            meter.theft = theft.MeterTheft.from_bytes(stored_theft.data)
        live = None if stored_live is None else live_state.load(stored_live.data, device_id)
        if live is not None:  # where the last worker stood, at the reading it resumes after
            meter.grid, meter.grid.utc_offset_s = live.grid, offset
            meter.open_findings = dict(live.open_findings)
            live_state.resume(meter.anomaly, live.anomaly)
        self._meters[device_id] = meter
        self._load_judged(meter)
        return meter

    def _save_states(self) -> None:
        """Keep each meter's live NILM state and the last reading scanned (at every model
        refresh and when detaching): what a restart resumes from. Each batch's findings are
        stored with them too, so everything found before that reading is already stored."""
        meters = list(self._meters.items())
        if not meters:
            return

        def work(conn: Connection) -> None:  # the worker waits for it: nothing moves meanwhile
            for device_id, meter in meters:
                _save_place(conn, device_id, meter, meter.last_ts)

        try:
            self.services.writer.run(work)
        except Exception:
            log.exception("saving the live NILM state failed")

    def _load_judged(self, meter: _Meter) -> None:
        with self.services.engine.connect() as conn:
            rows = finding_store.judged(conn, meter.device.id, [*PATTERN_KINDS, theft.KIND])
        meter.judged = [
            Judged(f.id, f.kind, float(f.detail["signature"]["level"]), float(f.detail["signature"]["hour"]), f.verdict)
            for f in rows
            if f.kind in PATTERN_KINDS and f.verdict is not None and "signature" in f.detail
        ]
        meter.ignored_theft = [
            (f.id, list(f.detail["features"])) for f in rows if f.kind == theft.KIND and f.verdict == "ignore"
        ]

    def _readings(self, device_id: int, readings: list[Reading]) -> None:
        """Run every detector of the meter on its readings, and store all they found in one
        transaction with the meter's live state and the last reading scanned: a detector
        that takes over after a crash reads back from there, and finds nothing twice."""
        meter = self._meter(device_id)
        if meter is None:
            return
        latest = max(r.ts for r in readings)
        meter.last_ts = latest if meter.last_ts is None else max(meter.last_ts, latest)
        update = meter.nilm.feed(readings)
        events = meter.nilm.to_store(update)
        fresh = [new_event(e) for e in events]
        reports: list[Report] = []
        if meter.anomaly is not None:
            reports += meter.anomaly.score(readings)
        reports += meter.grid.feed(readings)
        judged, theft_data = self._theft(meter)
        reports += judged

        def runs(ids: list[int]) -> _RunsFound:
            meter.nilm.remember(events, ids)
            final, labels = meter.nilm.new_runs(update)  # a fridge run final hours late may come with no new event
            return _RunsFound(ids, final, labels, self._provisional(meter, asked=bool(events or update.runs)))

        # with no new event, what the runs name is stored already: known now, and often nothing
        known = None if fresh else runs([])
        if known is None or known.any() or reports or theft_data is not None:
            state_ts = meter.last_ts

            def work(conn: Connection) -> tuple[_RunsFound, list[int], list[int] | None, list[finding_store.Finding]]:
                found = known if known is not None else runs(detections.insert_events(conn, device_id, fresh))
                detections.relabel_detected(conn, found.labels)
                run_ids = detections.insert_runs(conn, device_id, found.final)
                # in the same transaction: a final run and the provisional one it replaces
                # are never listed together, nor neither of them
                shown = (
                    None
                    if found.provisional is None
                    else detections.replace_provisional(conn, device_id, found.provisional)
                )
                stored = self._write_reports(conn, meter, reports)
                if theft_data is not None:
                    replace_data(conn, device_id, theft.KIND, theft_data)
                _save_place(conn, device_id, meter, state_ts)
                return found, run_ids, shown, stored

            found, run_ids, shown_ids, stored = self.services.writer.run(work)
            if found.provisional is not None:
                meter.provisional = found.provisional
            self._publish_nilm(device_id, found.ids, run_ids, shown_ids)
            self._publish_findings(stored)
        meter.nilm.prune()
        for group in self._groups.values():
            if device_id in group.members:
                self._balance(group)

    def _publish_nilm(self, device_id: int, ids: list[int], run_ids: list[int], shown_ids: list[int] | None) -> None:
        with self.services.engine.connect() as conn:
            out = [{"type": "event", **e.to_dict()} for e in detections.get_events(conn, ids)]
            out += [{"type": "run", **r.to_dict()} for r in detections.get_runs(conn, run_ids)]
            if shown_ids is not None:
                # the meter's whole provisional set: it replaces the one published before
                shown = [r.to_dict() for r in detections.get_runs(conn, shown_ids)]
                out.append({"type": "provisional", "device_id": device_id, "runs": shown})
        if out:
            self.services.bus.publish_from_thread("events", out)

    def _publish_findings(self, stored: list[finding_store.Finding]) -> None:
        raised = [f.to_dict() for f in stored if f.status != finding_store.IGNORED]
        if raised:
            self.services.bus.publish_from_thread("findings", raised)

    def _provisional(self, meter: _Meter, asked: bool) -> list[detections.NewRun] | None:
        """The meter's provisional runs when they are to be stored again (they changed,
        or none were stored since start), else None. Asked when the update brought an
        event or a run, and every :data:`PROVISIONAL_EVERY_MS` of readings otherwise."""
        now = meter.nilm.last_ts
        if not asked and meter.provisional is not None and now - meter.provisional_at < PROVISIONAL_EVERY_MS:
            return None
        meter.provisional_at = now
        found = meter.nilm.provisional()
        return None if found == meter.provisional else found

    def _reload_library(self, device_id: int, renamed: tuple[str, str] | None) -> None:
        """The meter's edited model from the store; after a rename (old, new), what the
        meter holds under the old name first goes to the new one."""
        meter = self._meters.get(device_id)
        if meter is None:
            return
        if renamed is not None:
            meter.nilm.rename(*renamed)
        with self.services.engine.connect() as conn:
            model = library.load_nilm(conn, device_id)
            open_ids = [i for e in meter.nilm.live.open_on if (i := meter.nilm.stored_id(e)) is not None]
            labels = {e.id: (e.label, e.confidence) for e in detections.get_events(conn, open_ids)}
        if model is not None:
            meter.nilm.use_model(model)
        meter.nilm.relabel_open(labels)

    # -- findings

    def _write_reports(self, conn: Connection, meter: _Meter, reports: list[Report]) -> list[finding_store.Finding]:
        """Store the reports as findings (a report that continues one extends it), inside
        the caller's transaction."""
        device_id = meter.device.id
        judged, ignored_theft, open_ids = meter.judged, meter.ignored_theft, meter.open_findings
        out = []
        for r in reports:
            detail = {**r.detail, "signature": signature(r.level, r.hour)}
            current = open_ids.get(r.kind)
            if r.continues and current is not None:
                before = finding_store.get_finding(conn, current)
                worse = r.score >= before.score
                out.append(
                    finding_store.extend_finding(
                        conn,
                        current,
                        end_ts=max(r.end_ts, before.end_ts),
                        score=max(r.score, before.score),
                        reason=r.reason if worse else before.reason,
                        detail=detail if worse else {**before.detail, **{"end_ts": r.end_ts}},
                    )
                )
                continue
            if r.kind == theft.KIND:
                repeats = (
                    theft.nearest_ignored(meter.theft, r.detail["features"], ignored_theft)
                    if r.detail.get("ignored") and meter.theft is not None
                    else None
                )
            elif r.kind in PATTERN_KINDS:
                repeats = suppressed_by(r.kind, r.level, r.hour, judged)
            else:
                repeats = None
            new = finding_store.NewFinding(
                device_id, r.kind, r.start_ts, r.end_ts, r.score, r.reason, detail, suppressed_by=repeats
            )
            found = finding_store.add_finding(conn, new)
            if not r.retrospective:
                open_ids[r.kind] = found.id
            out.append(found)
        return out

    def _feedback(self, finding_id: int) -> None:
        with self.services.engine.connect() as conn:
            try:
                found = finding_store.get_finding(conn, finding_id)
            except NotFound:
                return
        meter = self._meter(found.device_id)
        if meter is None:
            return
        self._load_judged(meter)
        if found.kind == theft.KIND and found.verdict is not None:
            day = str(found.detail.get("day", ""))
            verdict = Verdict(str(found.device_id), day, found.verdict, list(found.detail.get("features", [])))
            self._jobs.put(("verdict", found.device_id, verdict))
        elif found.kind == balance.KIND and found.verdict == "ignore":
            group = self._groups.get(found.device_id)
            if group is None:
                return
            if found.detail.get("interval_ms", balance.DEFAULT_WIDTH_MS) != group.state.width_ms:
                # its surplus is energy per interval of another width: it would misteach the base
                log.info("meter %s: finding %s ignored; counted over another interval, base kept", group.main, found.id)
                return
            group.state.accept_surplus(float(found.detail["mean_residual_wh"]))
            self._save_group(group)

    # -- theft

    def _theft(self, meter: _Meter) -> tuple[list[Report], bytes | None]:
        """The verdicts on the meter's days completed since the last, and its theft state
        to store with them (None: no day to judge)."""
        state = meter.theft
        if state is None or meter.last_ts is None:
            return [], None
        days = theft.days_to_judge(state, meter.last_ts)
        if not days:
            return [], None
        reports = []
        for day in days:
            start, end = theft.day_bounds(day, state.tz)
            with self.services.engine.connect() as conn:
                frame = history_frame(conn, meter.device.id, start, end)
            report = theft.judge_day(state, day, frame)
            if report is not None:
                reports.append(report)
        return reports, state.to_bytes()

    # -- energy balance

    def _update_devices(self, devices: list[Device], tzs: dict[int, str]) -> None:
        for d in devices:
            if d.id in self._meters:
                self._meters[d.id].device = d
        subs: dict[int, list[int]] = defaultdict(list)
        for d in devices:
            if d.role == "sub" and d.parent_id is not None:
                subs[d.parent_id].append(d.id)
        mains = {d.id for d in devices if d.role == "main" and subs.get(d.id)}
        for main in list(self._groups):
            if main not in mains:
                del self._groups[main]
        for main in mains:
            members = [main, *sorted(subs[main])]
            group = self._groups.get(main)
            if group is None:
                with self.services.engine.connect() as conn:
                    stored = load_model(conn, main, balance.MODEL_KIND)
                state, fresh = self._balance_state(main, stored)
                self._groups[main] = group = _Group(main, members, state)
                if fresh and stored is not None:  # the status says so now, not at the next interval
                    self._save_group(group)
            else:
                group.members = members
            self._learn_vouched(group)  # one vouched while no detector watched the group
            for member in members:
                self._meter(member)
        del tzs

    def _balance_state(self, main: int, stored: StoredModel | None) -> tuple[balance.BalanceState, bool]:
        """The group's saved balance, or a new one (True) when there is none or it was kept
        over another interval (``WATTWISE_DETECTOR_BALANCE_INTERVAL_MS`` changed): its base
        is energy per interval of the old width, and its next interval would not start on a
        boundary of the new one, so no interval would ever be complete. The new one learns
        its base from the intervals after the old one stopped (from the history again, it
        would raise the losses already found a second time)."""
        width = self.settings.balance_interval_ms
        fresh = balance.BalanceState(learn=self.settings.balance_learn_intervals, width_ms=width)
        if stored is None:
            return fresh, True
        state = balance.BalanceState.from_dict(json.loads(stored.data))
        if state.width_ms == width:
            return state, False
        log.info(
            "meter %s: energy balance kept over %d-min intervals, now %d min: learning its base afresh",
            main,
            state.width_ms // 60_000,
            width // 60_000,
        )
        if state.next_start is not None:
            fresh.next_start = -(-state.next_start // width) * width
        if state.alarmed and state.episode:
            self._close_loss(main, int(state.episode[0][0]), state.width_ms, width)
        return fresh, True

    def _close_loss(self, main: int, start_ts: int, old_ms: int, new_ms: int) -> None:
        """The loss the old balance was following: the new one learns its base afresh and
        cannot go on with it, so its finding (if nobody judged it yet) is closed, saying why,
        and told on the bus (a finding rule's alert on it is resolved)."""
        why = (
            f"Closed by the detectors: the energy balance's interval changed from {old_ms // 60_000} to"
            f" {new_ms // 60_000} min, so it learns the unmetered base afresh and no longer follows this loss."
        )
        closed = self.services.writer.run(lambda c: finding_store.close_open(c, main, balance.KIND, start_ts, why))
        if closed:
            log.info("meter %s: balance_loss finding %s closed: the balance interval changed", main, closed[0].id)
            self.services.bus.publish_from_thread("findings", [f.to_dict() for f in closed])

    def _balance(self, group: _Group) -> None:
        width = self.settings.balance_interval_ms
        lasts = [self._meters[m].last_ts if m in self._meters else None for m in group.members]
        if any(t is None for t in lasts):
            return
        complete_until = min(t for t in lasts if t is not None) // width * width
        state = group.state
        if state.next_start is None:
            with self.services.engine.connect() as conn:
                firsts = [history_extent(conn, m)[1] for m in group.members]
            if any(f is None for f in firsts):
                return
            state.next_start = -(-max(f for f in firsts if f is not None) // width) * width
        if complete_until <= state.next_start:
            return
        with self.services.engine.connect() as conn:
            wh = energy_by_interval(conn, group.members, state.next_start, complete_until, width)
        main = self._meters[group.main]
        reports = []
        for start in range(state.next_start, complete_until, width):
            if any(start not in wh[m] for m in group.members):
                continue
            subs = sum(wh[m][start] for m in group.members[1:])
            report = state.step(start, width, wh[group.main][start], subs)
            if report is not None:
                reports.append(report)
        state.next_start = complete_until
        # several alarmed intervals in one go are one finding, told once, with its latest figures
        merged: list[Report] = []
        for r in reports:
            if merged and r.continues:
                r.continues = merged[-1].continues
                merged[-1] = r
            else:
                merged.append(r)
        data = _group_data(group)

        def work(conn: Connection) -> list[finding_store.Finding]:
            # the loss found and the balance that found it, together: a restart neither
            # misses nor repeats it
            stored = self._write_reports(conn, main, merged)
            save_model(conn, group.main, balance.MODEL_KIND, data)
            return stored

        self._publish_findings(self.services.writer.run(work))

    def _learn_vouched(self, group: _Group) -> None:
        """Learn the base again from the period last vouched clean, once (``BalanceState.clean``)."""
        with self.services.engine.connect() as conn:
            vouched = balance.vouched_clean(conn, group.main)
            if vouched is None or vouched == group.state.clean:
                return
            # the state's own width, as ``balance.check_clean`` counted them when the vouch came
            width = group.state.width_ms
            mains, subs = balance.clean_intervals(conn, group.members, vouched["since"], vouched["until"], width)
        if len(mains) < balance.MIN_INTERVALS:  # checked when vouched; the group has changed since
            log.warning("meter %s: the period vouched clean has %d whole intervals; base kept", group.main, len(mains))
            return
        group.state.learn_clean(vouched, mains, subs)
        self._save_group(group)

    def _save_group(self, group: _Group) -> None:
        data = _group_data(group)
        self.services.writer.run(lambda c: save_model(c, group.main, balance.MODEL_KIND, data))

    # -- models from the refresher

    def _install(self, device_id: int, kind: str, model: Any) -> None:
        meter = self._meter(device_id)
        if meter is None:
            return
        if kind == anomaly.KIND:
            if meter.anomaly is None:
                offset = utc_offset_s(meter.tz)
                meter.anomaly = anomaly.MeterAnomaly(model, self.settings.anomaly_merge_ms, offset)
            else:
                meter.anomaly.use_model(model)
            if meter.last_ts is not None:
                meter.anomaly.last_ts = max(meter.anomaly.last_ts, meter.last_ts)
        elif kind == theft.KIND:
            assert isinstance(model, theft.MeterTheft)
            if meter.theft is not None:
                model.last_day = max(model.last_day, meter.theft.last_day)
            meter.theft = model

    # ------------------------------------------------------------------ refresher thread

    def _refresh_loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.settings.refresh_s)
            except queue.Empty:
                job = ("refresh", None)
            if job == _STOP:
                return
            try:
                if job[0] == "refresh":
                    self._refresh_all()
                elif job[0] == "verdict":
                    self._retrain_theft(job[1], job[2])
            except Exception:
                log.exception("detector model refresh failed; it is tried again later")
            finally:
                if job[0] == "refresh" and job[1] is not None:
                    job[1].set()

    def _refresh_all(self) -> None:
        with self.services.engine.connect() as conn:
            devices = list_devices(conn)
            tzs = site_timezones(conn)
        self._queue.put(("devices", devices, tzs))
        for d in devices:
            tz = tzs.get(d.site_id, "UTC")
            self._fit_anomaly(d.id, tz)
            self._fit_theft(d.id, tz)

    def _fit_anomaly(self, device_id: int, tz: str) -> None:
        engine = self.services.engine
        with engine.connect() as conn:
            _, _, last = history_extent(conn, device_id)
            if last is None:
                return
            since = last - self.settings.anomaly_history_days * DAY_MS
            rows, _, _ = history_extent(conn, device_id, since)
            stored = load_model(conn, device_id, anomaly.KIND)
        if rows < self.settings.anomaly_min_rows:
            return
        current = None if stored is None else anomaly.stored(stored.data)
        if current is not None and not needs_refresh(current, last, rows):
            return
        with engine.connect() as conn:
            history = history_frame(conn, device_id, since, last + 1)
        model = anomaly.fit(history, tz)
        data = dump_model(model)
        self.services.writer.run(
            lambda c: save_model(
                c, device_id, anomaly.KIND, data, trained_until=model.trained_until, rows=model.n_train
            )
        )
        self._queue.put(("model", device_id, anomaly.KIND, model))

    def _fit_theft(self, device_id: int, tz: str) -> None:
        engine = self.services.engine
        with engine.connect() as conn:
            _, first, last = history_extent(conn, device_id)
            stored = load_model(conn, device_id, theft.KIND)
            if first is None or last is None:
                return
            previous = None if stored is None else theft.MeterTheft.from_bytes(stored.data)
            if previous is not None and stored is not None and (last - (stored.trained_until or 0)) < 7 * DAY_MS:
                return
            # never train on days not judged yet: they are the ones to judge
            until = last + 1 if previous is None else theft.day_bounds(previous.last_day, tz)[1]
            since = max(first, until - self.settings.theft_history_days * DAY_MS)
            history = history_frame(conn, device_id, since, until)
            verdicts = [
                Verdict(str(device_id), str(f.detail.get("day", "")), f.verdict, list(f.detail["features"]))
                for f in finding_store.judged(conn, device_id, [theft.KIND])
                if f.verdict is not None
            ]
        fitted = theft.fit(history, tz, str(device_id), verdicts, self.settings.theft_min_days)
        if fitted is None:
            return
        if previous is not None:
            fitted.last_day = max(fitted.last_day, previous.last_day)
        data = fitted.to_bytes()
        self.services.writer.run(lambda c: save_model(c, device_id, theft.KIND, data, trained_until=until))
        self._queue.put(("model", device_id, theft.KIND, fitted))

    def _retrain_theft(self, device_id: int, verdict: Verdict) -> None:
        with self.services.engine.connect() as conn:
            stored = load_model(conn, device_id, theft.KIND)
        if stored is None:
            return
        updated = theft.with_verdict(theft.MeterTheft.from_bytes(stored.data), verdict)
        data = updated.to_bytes()
        until = stored.trained_until
        self.services.writer.run(lambda c: save_model(c, device_id, theft.KIND, data, trained_until=until))
        self._queue.put(("model", device_id, theft.KIND, updated))


def _save_place(conn: Connection, device_id: int, meter: _Meter, scanned_ts: int | None) -> None:
    """Where the meter's detectors stand (NILM's state, the anomaly and grid detectors' place)
    and the last reading they scanned: what a worker that resumes goes on from."""
    library.save_state(conn, device_id, meter.nilm.state(), scanned_ts)
    save_model(conn, device_id, live_state.KIND, live_state.dump(meter.anomaly, meter.grid, meter.open_findings))


def _group_data(group: _Group) -> bytes:
    return json.dumps(group.state.to_dict()).encode()


def attach(services: Services, settings: DetectorSettings | None = None) -> Callable[[], None]:
    """Start the live detectors on ``services``' bus; call the result to detach them."""
    return Detectors(services, settings).start()
