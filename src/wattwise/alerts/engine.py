"""The alert engine: a consumer of the bus that turns rules into stored alerts and notices.

Shape (as ``detectors.service``): the bus handlers on the event loop only queue what they
receive — committed readings, findings, appliance events, "alert_rules" (a person changed
the rules). One *worker* thread takes them in order, steps each rule's state per meter
(``alerts.rules``), looks at the clock every ``tick_s`` for offline rules (and every
``budget_every_s`` for budget rules), stores what happened through the writer, each alert's
changes (one rule on one meter) as a task of their own so one that fails costs the others
nothing — a new alert, a repeat counted on the active one, a resolution, a relay command —
and publishes "alerts" (and "commands") back on the loop. Notices go to
the :class:`~wattwise.alerts.outbox.Outbox` thread, so a slow channel never holds anything up.

Deduplication: while a rule's alert on a meter is active (for a finding rule: open or
acknowledged), a new trigger is a repeat on it (no new notice). Cooldown: a rule's new
alert within ``cooldown_s`` (by the engine's clock) of its previous one on that meter being
resolved or ignored is stored with ``quiet="cooldown"`` and not sent. A finding stored as
ignored (a pattern a person ignored) gives an alert stored ignored, and no notice.

At start, the notices of active alerts the server stored but had not sent when it stopped go
out. State per (rule, meter) lives in memory; at start it is rebuilt from the active alerts and
from those a person settled last. A person who resolves or ignores an alert does not reset
it: the rule raises a new alert when its condition clears and comes back (or re-crosses its
trigger), not while it goes on — before or after a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Literal, ParamSpec

from sqlalchemy import Connection

from wattwise.accounting.site import budget_status
from wattwise.alerts import rules as r
from wattwise.alerts.notify import Notice, Severity, alert_path, dashboard_link
from wattwise.alerts.outbox import Deliver, Outbox, default_deliver
from wattwise.bus import Message
from wattwise.detectors.library import CHANGED_TOPIC as APPLIANCES_TOPIC
from wattwise.domain.readings import StoredReading
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store import commands as command_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import list_devices
from wattwise.store.sites import list_sites

log = logging.getLogger(__name__)

RULES_TOPIC = "alert_rules"  # REST tells the engine the rules changed
ALERTS_TOPIC = "alerts"  # the engine (and REST) tell the live view what alerts did
_STOP = ("stop",)
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    tick_s: float = 15.0  # offline rules are checked this often
    budget_every_s: float = 300.0  # budget rules (a projection of the cycle) this often


@dataclass(frozen=True, slots=True)
class _Rule:
    row: alert_store.Rule
    params: r.Params


@dataclass(frozen=True, slots=True)
class _Change:
    """What one rule's step asks of the store."""

    rule: _Rule
    device_id: int | None
    phase: r.Phase
    ts: int
    value: float | None
    message: str
    finding_id: int | None = None
    stored_as: Literal["open", "ignored"] = "open"
    #: a person judged the finding elsewhere (ignore, confirm), or its detector closed it (resolve)
    verdict: Literal["ignore", "confirm", "resolve"] | None = None
    verdict_by: str = ""


@dataclass(frozen=True, slots=True)
class _Outcome:
    alert: alert_store.Alert
    notify: bool
    command: command_store.Command | None


State = r.Hold | r.ApplianceHold


class Alerts:
    """Start with :meth:`start`; calling the object detaches it (stops its threads)."""

    def __init__(
        self,
        services: Services,
        settings: AlertSettings | None = None,
        *,
        deliver: Deliver = default_deliver,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.services = services
        self.settings = settings or AlertSettings()
        self.deliver = deliver
        self.clock = clock
        self.outbox = Outbox(services, deliver)
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._active = False
        self._rules: dict[int, _Rule] = {}
        self._states: dict[tuple[int, int | None], State] = {}
        self._site_devices: dict[int, list[int]] = {}
        self._names: dict[tuple[str, int], str] = {}  # ("device" | "site", id) → how people call it
        self._last_seen: dict[int, int] = {}
        self._failing: set[int] = set()  # rules whose last check raised (logged in full once)
        self._unstorable: set[tuple[int, int | None]] = set()  # alerts last not stored (logged in full once)
        self._before: dict[tuple[int, int | None], State] = {}  # the states the last stored step left
        self._next_tick = 0.0
        self._next_budget = 0.0
        self._worker = threading.Thread(target=self._work, name="wattwise-alerts", daemon=True)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Alerts:
        bus = self.services.bus
        for topic in ("readings", "findings", "events", RULES_TOPIC, APPLIANCES_TOPIC):
            bus.on(topic, self._on_message)
        self._active = True
        self._queue.put(("rules",))
        self._queue.put(("unsent",))
        self.outbox.start()
        self._worker.start()
        return self

    def __call__(self) -> None:
        """Detach: leave the bus; the worker finishes its queue, then the outbox its notices."""
        if not self._active:
            return
        self._active = False
        for topic in ("readings", "findings", "events", RULES_TOPIC, APPLIANCES_TOPIC):
            self.services.bus.off(topic, self._on_message)
        self._queue.put(_STOP)
        self._worker.join(timeout=60)
        self.outbox.stop()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything handed over so far is stored and its notices sent."""
        done = threading.Event()
        self._queue.put(("flush", done))
        if not done.wait(timeout):
            raise TimeoutError("the alert engine did not catch up in time")

    def tick(self, at_ms: int | None = None, timeout: float = 60.0) -> None:
        """Check the offline and budget rules now (at ``at_ms``, default the clock), then flush."""
        self._queue.put(("tick", self.clock() if at_ms is None else at_ms, True))
        self.flush(timeout)

    # ------------------------------------------------------------------ bus handler (event loop)

    def _on_message(self, message: Message) -> None:
        if not self._active:
            return
        if message.topic == RULES_TOPIC:
            self._queue.put(("rules",))
        elif message.topic == APPLIANCES_TOPIC:  # a library edit; only a rename concerns rules
            renamed = message.payload.get("renamed")
            if renamed is not None:
                self._queue.put(("renamed", int(message.payload["device_id"]), *renamed))
        else:
            self._queue.put((message.topic, message.payload))

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=min(1.0, self.settings.tick_s))
            except queue.Empty:
                item = None
            if item == _STOP:
                return
            self._before = dict(self._states)  # frozen values: a shallow copy is a snapshot
            try:
                if item is not None:
                    self._handle(item)
                if time.monotonic() >= self._next_tick:
                    self._tick(self.clock(), budget=time.monotonic() >= self._next_budget)
            except Exception:
                # what was not stored did not happen: the rules decide again at the next look
                self._states = dict(self._before)
                log.exception("alert step failed; the next one is handled as usual")

    def _handle(self, item: tuple[Any, ...]) -> None:
        what = item[0]
        if what == "readings":
            self._readings(item[1])
        elif what == "findings":
            self._findings(item[1])
        elif what == "events":
            self._events(item[1])
        elif what == "rules":
            self._load()
        elif what == "tick":
            self._tick(item[1], budget=item[2])
        elif what == "flush":
            self.outbox.flush(item[1])
        elif what == "unsent":
            self._send_unsent()
        elif what == "renamed":
            self._renamed(item[1], item[2], item[3])

    # -- what the engine knows

    def _load(self) -> None:
        """Read the enabled rules, the meters and sites; keep the state of unchanged rules,
        and give rules with an active alert an active state (at start, or after an edit)."""
        with self.services.engine.connect() as conn:
            rows = alert_store.list_rules(conn, enabled_only=True)
            active = alert_store.active_alerts(conn)
            settled = alert_store.settled_by_people(conn)
            devices = list_devices(conn)
            sites = list_sites(conn)
        before = self._rules
        self._rules = {}
        for row in rows:
            try:
                self._rules[row.id] = _Rule(row, r.parse_params(row.kind, row.params))
            except ValueError as exc:
                log.warning("alert rule %s is unreadable and is skipped: %s", row.id, exc)
        unchanged = {i for i, x in self._rules.items() if i in before and before[i].row == x.row}
        self._states = {key: state for key, state in self._states.items() if key[0] in unchanged}
        # an alert a person settled while its condition went on keeps the rule fired, as in memory
        for a in [*active, *settled]:
            key = (a.rule_id or 0, a.device_id)
            if a.rule_id in self._rules and key not in self._states:
                hold = r.Hold(active=True)
                self._states[key] = r.ApplianceHold(hold, a.started_ts) if a.kind == "appliance" else hold
        self._site_devices = defaultdict(list)
        for d in devices:
            self._site_devices[d.site_id].append(d.id)
            self._names[("device", d.id)] = f"{d.name} ({d.site_name})"
            if d.last_seen_ms is not None:  # its latest reading's time, until one arrives here
                self._last_seen.setdefault(d.id, d.last_seen_ms)
        for s in sites:
            self._names[("site", s.id)] = s.name

    def _renamed(self, device_id: int, old: str, new: str) -> None:
        """An appliance renamed (or merged) on a meter: the appliance rules that watch it
        there — on that meter, or site-wide on a site of that one meter — take the new name,
        switched off or not, so they go on firing."""
        probe = r.ApplianceRule(label=old)

        def follow(conn: Connection) -> int:
            sites = {d.id: d.site_id for d in list_devices(conn)}
            site_id = sites.get(device_id)
            only_meter = [d for d, s in sites.items() if s == site_id] == [device_id]
            moved = 0
            for row in alert_store.list_rules(conn, frozenset({site_id or 0})):
                on_it = row.device_id == device_id or (row.device_id is None and only_meter)
                if row.kind == "appliance" and on_it and probe.is_it(str(row.params.get("label", ""))):
                    alert_store.set_params(conn, row.id, {**row.params, "label": new})
                    moved += 1
            return moved

        if self.services.writer.run(follow):
            self._load()

    def _scope(self, rule: _Rule) -> list[int]:
        row = rule.row
        return [row.device_id] if row.device_id is not None else list(self._site_devices.get(row.site_id, []))

    def _rules_for(self, device_id: int, kind: type) -> list[_Rule]:
        if not any(device_id in ids for ids in self._site_devices.values()):
            self._load()  # a meter added since
        return [x for x in self._rules.values() if isinstance(x.params, kind) and device_id in self._scope(x)]

    # -- readings: threshold rules, offline rules come back, appliances stay on

    def _readings(self, payload: list[StoredReading]) -> None:
        arrived = self.clock()
        by_device: dict[int, list[StoredReading]] = defaultdict(list)
        for stored in payload:
            by_device[stored.reading.device_id].append(stored)
        changes: list[_Change] = []
        for device_id, batch in by_device.items():
            batch.sort(key=lambda s: s.reading.ts)
            self._last_seen[device_id] = arrived
            for rule in self._rules_for(device_id, r.Threshold):
                changes += self._guarded(self._threshold, rule, device_id, batch)
            for rule in self._rules_for(device_id, r.Offline):
                changes += self._guarded(self._offline, rule, device_id, arrived)
            for rule in self._rules_for(device_id, r.ApplianceRule):
                changes += self._guarded(self._appliance, rule, device_id, batch[-1].reading.ts, None)
        self._apply(changes)

    def _threshold(self, rule: _Rule, device_id: int, batch: list[StoredReading]) -> list[_Change]:
        params = rule.params
        assert isinstance(params, r.Threshold)
        key = (rule.row.id, device_id)
        hold = self._states.get(key, r.Hold())
        assert isinstance(hold, r.Hold)
        out = []
        for stored in batch:
            hold, t = r.step(params, hold, stored.reading.ts, stored.reading.value(params.quantity))
            if t is not None:
                out.append(_Change(rule, device_id, t.phase, t.ts, t.value, r.threshold_message(params, t.value)))
        self._states[key] = hold
        return out

    def _offline(self, rule: _Rule, device_id: int, now: int) -> list[_Change]:
        params = rule.params
        assert isinstance(params, r.Offline)
        last = self._last_seen.get(device_id)
        if last is None:  # never heard from: not "offline" yet
            return []
        key = (rule.row.id, device_id)
        hold = self._states.get(key, r.Hold())
        assert isinstance(hold, r.Hold)
        hold, t = r.step_offline(params, hold, now, last)
        self._states[key] = hold
        if t is None:
            return []
        return [_Change(rule, device_id, t.phase, t.ts, t.value, r.offline_message(params, t.value))]

    def _appliance(self, rule: _Rule, device_id: int, ts: int, switched: Literal["on", "off"] | None) -> list[_Change]:
        params = rule.params
        assert isinstance(params, r.ApplianceRule)
        key = (rule.row.id, device_id)
        state = self._states.get(key, r.ApplianceHold())
        assert isinstance(state, r.ApplianceHold)
        state, t = r.step_appliance(params, state, ts, switched)
        self._states[key] = state
        if t is None:
            return []
        return [_Change(rule, device_id, t.phase, t.ts, t.value, r.appliance_message(params, t.value))]

    def _guarded(
        self, step: Callable[Concatenate[_Rule, P], list[_Change]], rule: _Rule, *args: P.args, **kwargs: P.kwargs
    ) -> list[_Change]:
        """What one rule's step asks of the store; a rule whose step raises (a budget whose
        tariff cannot be computed) asks nothing this time and is logged — with the traceback
        the first time, in one line while it goes on failing — so it never stops the other
        rules, nor the offline and budget checks of the same look."""
        key = rule.row.id
        try:
            changes = step(rule, *args, **kwargs)
        except Exception as exc:
            if key in self._failing:
                log.warning("alert rule %s (%r) still cannot be checked: %s", key, rule.row.name, exc)
            else:
                self._failing.add(key)
                log.exception("alert rule %s (%r) could not be checked; the other rules go on", key, rule.row.name)
            return []
        self._failing.discard(key)
        return changes

    # -- the clock: offline and budget rules

    def _tick(self, now: int, *, budget: bool) -> None:
        self._next_tick = time.monotonic() + self.settings.tick_s
        changes: list[_Change] = []
        for rule in [x for x in self._rules.values() if isinstance(x.params, r.Offline)]:
            for device_id in self._scope(rule):
                changes += self._guarded(self._offline, rule, device_id, now)
        if budget:
            self._next_budget = time.monotonic() + self.settings.budget_every_s
            for rule in [x for x in self._rules.values() if isinstance(x.params, r.BudgetRule)]:
                changes += self._guarded(self._budget, rule, now)
        self._apply(changes)

    def _budget(self, rule: _Rule, now: int) -> list[_Change]:
        params = rule.params
        assert isinstance(params, r.BudgetRule)
        status = budget_status(self.services, rule.row.site_id, now)
        on = status is not None and r.budget_breached(params, status.fraction_used, status.state)
        key = (rule.row.id, None)
        hold = self._states.get(key, r.Hold())
        assert isinstance(hold, r.Hold)
        used = None if status is None else round(status.fraction_used * 100, 1)
        hold, t = r.advance(hold, now, on, not on, 0, used)
        self._states[key] = hold
        if t is None:
            return []
        message = ""  # a clear needs no words; a fire always has a status
        if status is not None:
            used_text, limit_text = str(status.used), str(status.limit)
            message = r.budget_message(params, status.fraction_used, status.state, used_text, limit_text, status.unit)
        return [_Change(rule, None, t.phase, t.ts, t.value, message)]

    # -- what the detectors publish

    def _findings(self, payload: list[dict[str, Any]]) -> None:
        changes: list[_Change] = []
        for f in payload:
            device_id = int(f["device_id"])
            for rule in self._rules_for(device_id, r.FindingRule):
                changes += self._guarded(self._finding, rule, device_id, f)
        self._apply(changes)

    @staticmethod
    def _finding(rule: _Rule, device_id: int, f: dict[str, Any]) -> list[_Change]:
        assert isinstance(rule.params, r.FindingRule)
        if not rule.params.matches(str(f["kind"]), float(f["score"])):
            return []
        status = f.get("status")
        verdicts: dict[Any, Literal["ignore", "confirm", "resolve"]] = {
            "ignored": "ignore",
            "confirmed": "confirm",
            "closed": "resolve",
        }
        verdict = verdicts.get(status)
        change = _Change(
            rule,
            device_id,
            "fire",
            int(f["start_ts"]),
            float(f["score"]),
            r.finding_message(str(f["kind"]), str(f["reason"])),
            finding_id=int(f["id"]),
            stored_as="ignored" if f.get("suppressed_by") is not None else "open",
            verdict=verdict,
            verdict_by=str(f.get("verdict_by") or ""),
        )
        return [change]

    def _events(self, payload: list[dict[str, Any]]) -> None:
        changes: list[_Change] = []
        for item in payload:
            if item.get("type") != "event" or item.get("state") not in ("on", "off"):
                continue
            device_id = int(item["device_id"])
            for rule in self._rules_for(device_id, r.ApplianceRule):
                assert isinstance(rule.params, r.ApplianceRule)
                if rule.params.is_it(str(item.get("label", ""))):
                    changes += self._guarded(self._appliance, rule, device_id, int(item["ts"]), item["state"])
        self._apply(changes)

    # -- storing, announcing, notifying

    def _apply(self, changes: list[_Change]) -> None:
        """Store each alert's changes (one rule on one meter) in a writer task of its own.

        The writer commits them together, and when one fails (its rule deleted by another
        process, a value the database refuses) it runs each again on its own: the failing
        alert is logged with its rule and raised again at the next look, the others are
        stored and sent. In one task, one broken rule cost every alert of the same look.
        """
        self._store_apart(changes)
        self._before = dict(self._states)  # the next step's failures go back to here

    def _store_apart(self, changes: list[_Change]) -> None:
        if not changes:
            return
        by_alert: dict[tuple[int, int | None], list[_Change]] = defaultdict(list)
        for c in changes:
            by_alert[(c.rule.row.id, c.device_id)].append(c)

        def work(steps: list[_Change]) -> Callable[[Connection], list[tuple[_Change, _Outcome]]]:
            return lambda conn: [(c, o) for c in steps if (o := self._store(conn, c)) is not None]

        futures = {key: self.services.writer.post(work(steps)) for key, steps in by_alert.items()}
        outcomes: list[tuple[_Change, _Outcome]] = []
        failed = False
        for key, future in futures.items():
            try:
                outcomes += future.result()
            except Exception as exc:
                self._not_stored(by_alert[key][0].rule, key, exc)
                failed = True
            else:
                self._unstorable.discard(key)
        if failed:
            self._queue.put(("rules",))  # a rule another process deleted is dropped
        if not outcomes:
            return
        self.services.bus.publish_from_thread(ALERTS_TOPIC, [o.alert.to_dict() for _, o in outcomes])
        for change, o in outcomes:
            if o.command is not None:
                self.services.pending_commands.changed()
                self.services.bus.publish_from_thread("commands", o.command)
            if o.notify:
                self.outbox.put(o.alert.id, self._notice(change.rule.row, o.alert), change.rule.row.channel_ids)

    def _not_stored(self, rule: _Rule, key: tuple[int, int | None], exc: Exception) -> None:
        """What was not stored did not happen: the rule's state on that meter goes back to
        where it was before this look, so the next look raises it again."""
        before = self._before.get(key)
        if before is None:
            self._states.pop(key, None)
        else:
            self._states[key] = before
        where = f"meter {key[1]}" if key[1] is not None else f"site {rule.row.site_id}"
        if key in self._unstorable:
            log.warning("alert rule %s (%r) on %s: still not stored: %s", key[0], rule.row.name, where, exc)
        else:
            self._unstorable.add(key)
            log.error(
                "alert rule %s (%r) on %s: its alert could not be stored; the other rules' alerts are kept",
                key[0],
                rule.row.name,
                where,
                exc_info=exc,
            )

    def _store(self, conn: Connection, c: _Change) -> _Outcome | None:
        rule = c.rule.row
        if c.finding_id is not None:
            return self._store_finding(conn, c)
        active = alert_store.active_alert(conn, rule.id, c.device_id)
        if c.phase == "clear":
            if active is None:
                return None
            return _Outcome(alert_store.resolve(conn, active.id, c.ts, at=self.clock()), False, None)
        if active is not None:
            worse = active.value is None or c.value is None or self._worse(c, active.value)
            return _Outcome(alert_store.repeat(conn, active.id, c.value, worse=worse), False, None)
        return self._open(conn, c)

    @staticmethod
    def _worse(c: _Change, before: float) -> bool:
        assert c.value is not None
        below = isinstance(c.rule.params, r.Threshold) and c.rule.params.direction == "below"
        return c.value < before if below else c.value > before

    def _open(self, conn: Connection, c: _Change, *, status: str = alert_store.OPEN) -> _Outcome:
        rule = c.rule.row
        quiet = alert_store.QUIET_PATTERN if status == alert_store.IGNORED else None
        last = alert_store.last_settled(conn, rule.id, c.device_id)
        if quiet is None and last is not None and rule.cooldown_s > 0 and self.clock() - last < rule.cooldown_s * 1000:
            quiet = alert_store.QUIET_COOLDOWN
        command = None
        message = f"{self._where(c)}: {c.message}"
        if rule.relay_off and c.device_id is not None and r.may_cut_relay(c.rule.params):
            command = command_store.issue(conn, c.device_id, "relay_off", f"alert rule {rule.id}")
            message += "; the meter was told to switch its relay off"
        new = alert_store.NewAlert(
            rule_id=rule.id,
            site_id=rule.site_id,
            device_id=c.device_id,
            kind=rule.kind,
            started_ts=c.ts,
            value=c.value,
            message=message,
            finding_id=c.finding_id,
            command_id=None if command is None else command.id,
            quiet=quiet,
            status=status,
        )
        return _Outcome(alert_store.add_alert(conn, new), quiet is None, command)

    def _store_finding(self, conn: Connection, c: _Change) -> _Outcome | None:
        """A finding raised (a new alert, or a repeat on the rule's active one), stored as a
        repeat of an ignored pattern (an ignored alert, no notice), or judged by a person on
        the findings page (its alert follows)."""
        assert c.finding_id is not None
        rule = c.rule.row
        known = alert_store.alert_for_finding(conn, rule.id, c.finding_id)
        if known is not None:
            if c.verdict is None or known.status not in alert_store.ACTIONS[c.verdict][1]:
                return None  # the finding goes on (its alert says so already), or the alert is past that
            by = c.verdict_by or "detector"
            return _Outcome(alert_store.take_action(conn, known.id, c.verdict, by=by), False, None)
        if c.stored_as == "ignored":
            return self._open(conn, c, status=alert_store.IGNORED)
        if c.verdict is not None:
            return None  # judged before this rule watched it
        # findings clear only by a person or their detector closing them: a confirmed one is settled
        waiting = alert_store.active_alert(conn, rule.id, c.device_id, (alert_store.OPEN, alert_store.ACKNOWLEDGED))
        if waiting is not None:
            return _Outcome(alert_store.repeat(conn, waiting.id, c.value, worse=False), False, None)
        return self._open(conn, c)

    def _send_unsent(self) -> None:
        """Notices of active alerts stored but never handed to the outbox's end (the server
        stopped first) go out now, once: the outbox marks each alert notified."""
        with self.services.engine.connect() as conn:
            unsent = alert_store.unsent_alerts(conn)
        for alert in unsent:
            rule = self._rules.get(alert.rule_id or 0)
            if rule is not None:
                self.outbox.put(alert.id, self._notice(rule.row, alert), rule.row.channel_ids)

    def _where(self, c: _Change) -> str:
        if c.device_id is not None:
            return self._names.get(("device", c.device_id), f"meter {c.device_id}")
        return self._names.get(("site", c.rule.row.site_id), f"site {c.rule.row.site_id}")

    def _notice(self, rule: alert_store.Rule, alert: alert_store.Alert) -> Notice:
        severity: Severity = "warning"
        if alert.command_id is not None:
            severity = "critical"
        elif rule.kind == "appliance":
            severity = "info"
        link = dashboard_link(self.services.settings.public_url, alert_path(alert.id))
        return Notice(title=f"Wattwise: {rule.name}", body=alert.message, severity=severity, url=link)


def attach(services: Services, settings: AlertSettings | None = None, *, deliver: Deliver = default_deliver) -> Alerts:
    """Start the alert engine on ``services``' bus; call the result to detach it."""
    return Alerts(services, settings, deliver=deliver).start()
