"""Energy balance of a main meter against its sub-meters, interval by interval, live.

An interval counts once every meter of the group has reported past its end. The first
``learn`` intervals teach the engine's :class:`BalanceModel` the unmetered base (lights,
sockets no sub-meter sees) and its wobble; after that each interval feeds the engine's
CUSUM, which climbs under a persistent loss and stays at zero otherwise. Above the alarm
level the group has a ``balance_loss`` finding that grows with the loss; it ends when the
statistic is back to zero. The statistic is capped at twice the alarm level so that the
finding ends soon after the loss does.

A person's Ignore on such a finding says "that surplus is ours" (an unmetered load): the
base is relearned from the finding's own intervals, and a later loss of about the same
share of the main meter (within 25 %) is stored as ignored rather than raised. Raise
changes nothing: it keeps raising.

A person who knows a period was clean (no loss, no theft) may vouch for it
(:func:`vouch_clean`, through REST): the base and its wobble are then learned again from
that period's intervals (:meth:`BalanceState.learn_clean`), as the first intervals taught
them, and the statistic starts afresh. The vouch is stored on its own (kind
``balance_clean``), so the detectors apply it when they next see the group even if they
were not running when it was given.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection

from wattwise.analysis.theft import (
    BalanceModel,
    balance_cusum,
    balance_verdict,
    describe_loss,
    fit_balance,
    missing_wh,
)
from wattwise.config import BALANCE_MIN_INTERVALS
from wattwise.detectors.report import Report
from wattwise.store.clock import now_ms
from wattwise.store.detector_inputs import energy_by_interval
from wattwise.store.detector_models import load_model, save_model
from wattwise.store.devices import Device, get_device, list_devices
from wattwise.store.errors import Conflict

log = logging.getLogger(__name__)

KIND = "balance_loss"
MODEL_KIND = "balance"
#: the period a person vouched clean, stored for the main meter
CLEAN_KIND = "balance_clean"
#: the bus topic that tells the detectors a period was vouched for
CLEAN_TOPIC = "balance"
#: the fewest intervals the base is learned from (``fit_balance``'s own minimum; the same
#: figure bounds ``WATTWISE_DETECTOR_BALANCE_LEARN_INTERVALS``, so it is kept in one place)
MIN_INTERVALS = BALANCE_MIN_INTERVALS
#: the interval of a balance whose state does not say: saved before it could be set, when
#: every balance was over 15 minutes
DEFAULT_WIDTH_MS = 15 * 60_000


@dataclass(slots=True)
class BalanceState:
    """Everything the group's balance remembers (JSON in ``detector_models``)."""

    learn: int
    learn_main: list[float] = field(default_factory=list)
    learn_subs: list[float] = field(default_factory=list)
    model: dict[str, Any] | None = None
    next_start: int | None = None  # start of the next interval to look at
    stat: float = 0.0
    episode: list[tuple[int, float, float]] = field(default_factory=list)  # (start, main, subs)
    alarmed: bool = False
    #: the interval the detectors balance over (ms): a vouched period is cut into these
    width_ms: int = DEFAULT_WIDTH_MS
    #: the vouched period the base was last learned from (as stored: since, until, at)
    clean: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BalanceState:
        data = dict(data)
        data["episode"] = [tuple(e) for e in data.get("episode", [])]
        return cls(**data)

    def engine_model(self) -> BalanceModel | None:
        return None if self.model is None else BalanceModel(**self.model)

    def step(self, start: int, width: int, main_wh: float, subs_wh: float) -> Report | None:
        """Take one complete interval; a report while the loss is beyond the alarm level."""
        model = self.engine_model()
        if model is None:
            self.learn_main.append(main_wh)
            self.learn_subs.append(subs_wh)
            if len(self.learn_main) >= max(self.learn, MIN_INTERVALS):
                learned = fit_balance(np.array(self.learn_main), np.array(self.learn_subs))
                log.info("energy balance learned: %s", balance_verdict(learned))
                self.model = asdict(learned)
                self.learn_main, self.learn_subs = [], []
            return None
        s = float(balance_cusum(model, np.array([main_wh]), np.array([subs_wh]), start=self.stat)[0])
        self.stat = min(s, 2.0 * model.limit)
        if self.stat <= 0.0:
            self.episode, self.alarmed = [], False
            return None
        self.episode.append((start, main_wh, subs_wh))
        if self.stat <= model.limit and not self.alarmed:
            return None
        continues = self.alarmed
        self.alarmed = True
        mains = np.array([e[1] for e in self.episode])
        subs = np.array([e[2] for e in self.episode])
        first = int(self.episode[0][0])
        return Report(
            kind=KIND,
            start_ts=first,
            end_ts=start + width,
            score=self.stat / model.limit,
            reason=describe_loss(model, mains, subs),
            # what a verdict matches on: the share of the main meter the sub-meters do not see
            level=float(mains.sum() - subs.sum()) / max(float(mains.sum()), 1e-9),
            hour=0.0,
            detail={
                "missing_wh": missing_wh(model, mains, subs),
                "main_wh": float(mains.sum()),
                "subs_wh": float(subs.sum()),
                "base_wh_per_interval": model.base_wh,
                "intervals": len(mains),
                "interval_ms": width,
                "mean_residual_wh": float(np.mean(mains - subs)),
            },
            continues=continues,
        )

    def accept_surplus(self, mean_residual_wh: float) -> None:
        """Ignore: the surplus of the ignored finding is the site's normal unmetered base.

        The base and its wobble are relearned from the finding's own intervals when there
        are enough of them (a load that varies gets a wider wobble), otherwise the base
        takes the finding's mean surplus.
        """
        if len(self.episode) >= 10:
            mains = np.array([e[1] for e in self.episode])
            subs = np.array([e[2] for e in self.episode])
            self.model = asdict(fit_balance(mains, subs))
        elif self.model is not None:
            self.model["base_wh"] = mean_residual_wh
        self.stat, self.episode, self.alarmed = 0.0, [], False

    def learn_clean(self, vouched: dict[str, int], mains: list[float], subs: list[float]) -> BalanceModel:
        """A period vouched clean: the base and its wobble are learned from its intervals
        (the learning of the first intervals ends, if it had not), and the statistic and
        any episode start afresh: what was judged against the old base is not judged again."""
        learned = fit_balance(np.array(mains), np.array(subs))
        log.info("energy balance learned from a period vouched clean: %s", balance_verdict(learned))
        self.model = asdict(learned)
        self.learn_main, self.learn_subs = [], []
        self.stat, self.episode, self.alarmed = 0.0, [], False
        self.clean = dict(vouched)
        return learned


def clean_intervals(
    conn: Connection, members: list[int], since: int, until: int, width_ms: int
) -> tuple[list[float], list[float]]:
    """The main meter's and the sub-meters' (summed) Wh in each whole interval of
    ``[since, until)`` in which every meter of the group (``members``, main first) reported:
    what the balance itself would have taken, interval by interval."""
    start, end = -(-since // width_ms) * width_ms, until // width_ms * width_ms
    if end <= start:
        return [], []
    wh = energy_by_interval(conn, members, start, end, width_ms)
    complete = [t for t in range(start, end, width_ms) if all(t in wh[m] for m in members)]
    return [wh[members[0]][t] for t in complete], [sum(wh[m][t] for m in members[1:]) for t in complete]


def main_meter(device: Device) -> Device:
    """The meter if it is a main meter; Conflict otherwise (its balance is its main meter's)."""
    if device.role != "main":
        raise Conflict(f"meter {device.id} is not a main meter (its role is {device.role!r})")
    return device


def balance_group(conn: Connection, main_id: int) -> list[int]:
    """The main meter first, then its sub-meters: the meters whose balance a vouch teaches.
    NotFound for no such meter; Conflict for a meter that is not a main meter (its balance is
    its main meter's) or a main meter without sub-meters (nothing to balance)."""
    main = main_meter(get_device(conn, main_id))
    subs = sorted(d.id for d in list_devices(conn, frozenset({main.site_id})) if d.parent_id == main_id)
    if not subs:
        raise Conflict(f"main meter {main_id} has no sub-meters to balance")
    return [main_id, *subs]


def check_clean(
    conn: Connection, main_id: int, members: list[int], since: int, until: int, configured_ms: int
) -> dict[str, Any]:
    """What ``[since, until)`` would teach this main meter's balance (``members``: the main
    meter first, then its sub-meters): how many intervals and the base they give; ValueError
    naming what is wrong when it cannot teach it. A read, before the writer stores the vouch.
    The intervals are those of the balance the detectors saved, or ``configured_ms`` (the
    deployment's) before they saved one."""
    if until <= since:
        raise ValueError("until: must be after since (the period would end before it starts)")
    at = now_ms()
    if until > at:
        raise ValueError(
            f"until: the period is not over yet (it ends {-(-(until - at) // 60_000)} min from now);"
            " only a period that has ended can be vouched for"
        )
    saved = saved_state(conn, main_id)
    width = configured_ms if saved is None else saved.width_ms
    mains, subs = clean_intervals(conn, members, since, until, width)
    if len(mains) < MIN_INTERVALS:
        raise ValueError(
            f"since/until: the period has {len(mains)} intervals of {width // 60_000} min in which the main meter"
            f" and every sub-meter reported; the base is learned from at least {MIN_INTERVALS}"
        )
    learned = fit_balance(np.array(mains), np.array(subs))
    return {
        "intervals": len(mains),
        "base_wh_per_interval": learned.base_wh,
        "interval_ms": width,
        "state": "watching" if learned.steady else "not_watching",
        "reason": balance_verdict(learned),
    }


def vouch_clean(conn: Connection, main_id: int, since: int, until: int) -> dict[str, int]:
    """Store that ``[since, until)`` was clean on this main meter (checked by
    :func:`check_clean`); the detectors learn the base from it (``BalanceState.learn_clean``)."""
    vouched = {"since": since, "until": until, "at": now_ms()}
    save_model(conn, main_id, CLEAN_KIND, json.dumps(vouched).encode())
    return vouched


def vouched_clean(conn: Connection, main_id: int) -> dict[str, int] | None:
    """The period last vouched clean on this main meter, as stored."""
    stored = load_model(conn, main_id, CLEAN_KIND)
    return None if stored is None else {k: int(v) for k, v in json.loads(stored.data).items()}


def saved_state(conn: Connection, main_id: int) -> BalanceState | None:
    """The main meter's balance as the detectors last saved it (None: not saved yet)."""
    stored = load_model(conn, main_id, MODEL_KIND)
    return None if stored is None else BalanceState.from_dict(json.loads(stored.data))


def stored_status(conn: Connection, main_id: int) -> dict[str, Any]:
    """:func:`balance_status` of the main meter's balance as the detectors last saved it."""
    state = saved_state(conn, main_id)
    out = balance_status(state)
    vouched = vouched_clean(conn, main_id)
    if vouched is not None:
        # applied: the base now comes from it (not yet: the detectors have not seen it)
        out["clean_period"] = {**vouched, "applied": state is not None and state.clean == vouched}
    return out


def balance_status(state: BalanceState | None) -> dict[str, Any]:
    """What a person asks of a main meter's balance: is it watching, and if not, why."""
    if state is None:
        return {"state": "not_started", "reason": "No interval has been complete on every meter of the group yet."}
    model = state.engine_model()
    if model is None:
        needed = max(state.learn, MIN_INTERVALS)
        return {
            "state": "learning",
            "reason": f"Learning the unmetered base: {len(state.learn_main)} of {needed} intervals"
            f" of {state.width_ms // 60_000} min.",
            "interval_ms": state.width_ms,
        }
    return {
        "state": "watching" if model.steady else "not_watching",
        "reason": balance_verdict(model),
        "interval_ms": state.width_ms,  # what the base and the statistic are counted over
        "coverage": model.coverage,
        "min_detectable_share": model.min_detectable_share,
        "base_wh_per_interval": model.base_wh,
        "statistic": state.stat / model.limit,  # 1.0 is the alarm level
        "alarmed": state.alarmed,
    }
