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
from wattwise.detectors.report import Report
from wattwise.store.detector_models import load_model

log = logging.getLogger(__name__)

KIND = "balance_loss"
MODEL_KIND = "balance"


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
            if len(self.learn_main) >= max(self.learn, 10):
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


def stored_status(conn: Connection, main_id: int) -> dict[str, Any]:
    """:func:`balance_status` of the main meter's balance as the detectors last saved it."""
    stored = load_model(conn, main_id, MODEL_KIND)
    return balance_status(None if stored is None else BalanceState.from_dict(json.loads(stored.data)))


def balance_status(state: BalanceState | None) -> dict[str, Any]:
    """What a person asks of a main meter's balance: is it watching, and if not, why."""
    if state is None:
        return {"state": "not_started", "reason": "No interval has been complete on every meter of the group yet."}
    model = state.engine_model()
    if model is None:
        return {
            "state": "learning",
            "reason": f"Learning the unmetered base: {len(state.learn_main)} of {max(state.learn, 10)} intervals.",
        }
    return {
        "state": "watching" if model.steady else "not_watching",
        "reason": balance_verdict(model),
        "coverage": model.coverage,
        "min_detectable_share": model.min_detectable_share,
        "base_wh_per_interval": model.base_wh,
        "statistic": state.stat / model.limit,  # 1.0 is the alarm level
        "alarmed": state.alarmed,
    }
