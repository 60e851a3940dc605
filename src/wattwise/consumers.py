"""The detectors and the alert engine, run by the one process that leads the installation.

Every server process may be started the same way. The first to take the lead
(``wattwise.store.lead``) attaches the detectors and the alert engine; the others stand by,
look again every few seconds, and take over when the leader stops or dies. With the bus link
(``wattwise.bus_link``) the leader hears every process's readings and people's edits, so where it
runs makes no difference. An embedded SQLite installation is one process: it leads at once.

Each process reads its own ``WATTWISE_DETECTOR_*`` settings. The leader records its detector
settings in the database when it takes the lead; a process whose settings differ says so in a
WARNING naming each one, at start while it stands by and again when it takes over (its detectors
then learn afresh what depends on them, such as the energy balance over another interval), and
``/metrics`` shows each as ``wattwise_detector_settings_differ``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from wattwise.alerts import attach as attach_alerts
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.lead import Lead, RecordedSettings, record_settings, recorded_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Differing:
    """A detector setting (its environment variable) this process and the leader disagree on."""

    name: str
    here: str | None  # None: not a setting this version knows
    leader: str | None  # None: the leader did not record it (another version)


def differing(mine: dict[str, str], leader: dict[str, str]) -> list[Differing]:
    return [
        Differing(name, mine.get(name), leader.get(name))
        for name in sorted(set(mine) | set(leader))
        if mine.get(name) != leader.get(name)
    ]


def listed(diffs: list[Differing]) -> str:
    return "; ".join(f"{d.name} here {d.here or 'not set'}, there {d.leader or 'not recorded'}" for d in diffs)


def recorded_by(recorded: RecordedSettings) -> str:
    at = datetime.fromtimestamp(recorded.recorded_ms / 1000, UTC).isoformat(timespec="seconds")
    return f"{recorded.process}, recorded {at}"


def this_process() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class Consumers:
    """Attach while leading, detach when the lead is lost; ``stop`` ends both (and lets go)."""

    def __init__(self, services: Services, *, detectors: bool, alerts: bool, retry_s: float = 5.0) -> None:
        self._services = services
        self._wanted = (detectors, alerts)
        named = (("detectors", detectors), ("alert engine", alerts))
        self._names = [name for name, on in named if on]  # what this process runs while it leads
        self._others = [name for name, on in named if not on]
        self._retry_s = retry_s
        #: this process's detector settings, compared with (and, leading, recorded as) the leader's
        self._detector_settings = DetectorSettings.from_settings(services.settings).by_variable() if detectors else {}
        self._lead = Lead(services.engine)
        self._detach: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watch_lead, name="wattwise-lead", daemon=True)

    @property
    def running(self) -> bool:
        """True while this process runs the detectors and the alert engine."""
        return bool(self._detach)

    @property
    def detectors(self) -> Detectors | None:
        """The detectors while this process runs them (/metrics tells how far behind they are)."""
        return next((d for d in list(self._detach) if isinstance(d, Detectors)), None)

    def start(self) -> Consumers:
        """Call on the bus's event loop. Leads at once when it can, else stands by."""
        if not self._names:
            return self
        self._loop = asyncio.get_running_loop()
        if self._others and not self._lead.embedded:
            # one lock for both: a process leading with one of them leaves the other to no one
            log.warning(
                "this process may lead with the %s only: while it leads, no process runs the %s; "
                "start every server process with both or with neither (docs/scale.md)",
                self._names[0],
                self._others[0],
            )
        if self._lead.try_take():
            self._attach()
        else:
            log.info("the detectors and the alert engine run in another process; this one stands by")
            self._say_standby_differs()
        if not self._lead.embedded:  # one process by design otherwise: nothing to watch
            self._watch.start()
        return self

    def stop(self) -> None:
        """Detach (the detectors save their state: the writer must still run), then let go."""
        self._stop.set()
        if self._watch.is_alive():
            self._watch.join(timeout=30)
        self._detach_all()
        self._lead.release()

    def _attach(self) -> None:
        detectors, alerts = self._wanted
        if self._detach or self._stop.is_set():
            return
        if detectors:
            self._take_settings()
            self._detach.append(Detectors(self._services).start())
        if alerts:
            self._detach.append(attach_alerts(self._services))
        log.info("this process runs the %s", " and ".join(self._names))

    def settings_differing(self) -> list[Differing]:
        """How this process's detector settings differ from those the leader recorded (none
        while it leads itself, none when it runs no detectors)."""
        return self._against_leader()[1] if self._detector_settings else []

    def _warn_differs(self, what: str, *, standby: bool = False) -> None:
        """One WARNING naming each differing setting, if any (of a standby: "should it take the lead")."""
        recorded, diffs = self._against_leader()
        if recorded is not None and diffs:
            then = "should it take the lead, its detectors" if standby else "its detectors"
            log.warning(
                "%s (%s): %s; %s learn afresh what depends on them (docs/scale.md)",
                what,
                recorded_by(recorded),
                listed(diffs),
                then,
            )

    def _against_leader(self) -> tuple[RecordedSettings | None, list[Differing]]:
        with self._services.engine.connect() as conn:
            recorded = recorded_settings(conn)
        return recorded, [] if recorded is None else differing(self._detector_settings, recorded.values)

    def _say_standby_differs(self) -> None:
        if self._detector_settings:
            self._warn_differs("this process's detector settings differ from the leading process's", standby=True)

    def _take_settings(self) -> None:
        """Say how this process's detector settings differ from the last leader's, then record them."""
        self._warn_differs("this process takes the lead with detector settings that differ from the last leader's")
        values, process = self._detector_settings, this_process()
        self._services.writer.run(lambda c: record_settings(c, values, process=process, at_ms=now_ms()))

    def _detach_all(self) -> None:
        """Each consumer stopped once, also when the watcher (a lost lead) and ``stop`` both get here."""
        while True:
            try:
                detach = self._detach.pop()  # atomic: never the same one twice
            except IndexError:
                return
            detach()

    def _on_loop(self, work: Callable[[], None]) -> None:
        assert self._loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                work()
            finally:
                done.set()

        try:
            self._loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop closed: shutting down
            return
        while not done.wait(0.5) and not self._stop.is_set():
            pass

    def _watch_lead(self) -> None:
        """While standing by, try to take the lead; while leading, make sure it is still held."""
        while not self._stop.wait(self._retry_s):
            try:
                if self.running and not self._lead.still_held():
                    log.error("lost the lead: the %s stop here until it is taken again", " and ".join(self._names))
                    # here, not on the loop: stopping waits for the notice on its way and the
                    # detectors' fit (minutes at worst), and the loop answers every request
                    self._detach_all()
                elif not self.running and self._lead.try_take():
                    log.info("took the lead from a process that stopped")
                    self._on_loop(self._attach)
            except SQLAlchemyError as exc:  # also a pool with no connection free: not only the server
                log.warning("cannot reach the database to check the lead (%s); trying again", exc.__class__.__name__)
            except Exception:  # the watcher must not end: a standby would then never take over
                log.exception("checking the lead failed; trying again")
