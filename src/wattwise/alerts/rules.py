"""Alert rules and the state machine that decides when an alert fires, repeats and clears.

Pure: rules are parsed from their stored JSON here (every bad field is named in the
error), and each kind turns what it observes into two yes/no answers — is the trigger
condition met, is the clear condition met — that one generic machine, :func:`advance`,
follows:

* **fire** once the trigger condition has held for ``hold_ms`` (from the first observation
  that met it to one at least ``hold_ms`` later, every observation between meeting it);
* **clear** once, after firing, the clear condition has held for ``hold_ms``;
* **repeat** when, after firing and before clearing, the value left the trigger zone
  (without clearing) and came back into it for ``hold_ms`` — the engine counts these
  on the open alert instead of raising a new one.

Hysteresis is a clear level apart from the trigger level: a power rule above 2000 W that
clears below 1800 W does not flap at 1990–2010 W.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from wattwise.domain.readings import UNITS

RULE_KINDS = ("threshold", "offline", "budget", "finding", "appliance")
QUANTITIES = ("power", "current", "voltage", "frequency", "pf")
#: finding kinds of the detectors (``detectors.service.PATTERN_KINDS`` and theft)
GRID_KINDS = ("sag", "swell", "interruption", "under_frequency", "over_frequency", "grid_surge", "grid_dip")
FINDING_KINDS = ("anomaly", "theft", "balance_loss", *GRID_KINDS)
#: a rule may name "grid" for every grid event kind
FINDING_GROUPS = {"grid": GRID_KINDS}

NAMES = {"power": "Power", "current": "Current", "voltage": "Voltage", "frequency": "Frequency", "pf": "Power factor"}

Phase = Literal["fire", "repeat", "clear"]


# ---------------------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """A quantity above (or below) ``trigger`` for ``for_s``; clears past ``clear`` for ``for_s``."""

    quantity: str
    direction: Literal["above", "below"]
    trigger: float
    clear: float
    for_s: float = 0.0

    def breached(self, value: float) -> bool:
        return value > self.trigger if self.direction == "above" else value < self.trigger

    def cleared(self, value: float) -> bool:
        return value < self.clear if self.direction == "above" else value > self.clear


@dataclass(frozen=True, slots=True, kw_only=True)
class Offline:
    """No reading received from the meter for ``after_s``; clears at its next reading."""

    after_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetRule:
    """The site's budget: ``used_pct`` or more of it used, or (``projected``) the cycle
    projected to end above it (the budget's state is ``at_risk`` or ``over``)."""

    used_pct: float | None = None
    projected: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingRule:
    """A finding of one of ``kinds`` from the detectors, with a score of ``min_score`` or more."""

    kinds: tuple[str, ...]
    min_score: float | None = None

    def matches(self, kind: str, score: float) -> bool:
        return kind in self.kinds and (self.min_score is None or score >= self.min_score)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplianceRule:
    """An appliance (its NILM label) switches on; or, with ``on_longer_than_s``, stays on
    that long ("the iron is still on"). Clears when it switches off."""

    label: str
    on_longer_than_s: float | None = None

    def is_it(self, label: str) -> bool:
        return label.strip().casefold() == self.label.strip().casefold()


Params = Threshold | Offline | BudgetRule | FindingRule | ApplianceRule


def _number(params: dict[str, Any], key: str, *, minimum: float | None = None, default: Any = ...) -> Any:
    if key not in params or params[key] is None:
        if default is ...:
            raise ValueError(f"params.{key}: required")
        return default
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"params.{key}: must be a number, got {value!r}")
    if not math.isfinite(value):  # JSON as Python reads it admits NaN and Infinity
        raise ValueError(f"params.{key}: must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"params.{key}: must be at least {minimum:g}, got {value!r}")
    return float(value)


def _unknown(params: dict[str, Any], known: tuple[str, ...]) -> None:
    extra = sorted(set(params) - set(known))
    if extra:
        raise ValueError(f"params.{extra[0]}: not a setting of this rule kind (known: {', '.join(known)})")


def _threshold(params: dict[str, Any]) -> Threshold:
    _unknown(params, ("quantity", "direction", "trigger", "clear", "for_s"))
    quantity = params.get("quantity")
    if quantity not in QUANTITIES:
        raise ValueError(f"params.quantity: must be one of {', '.join(QUANTITIES)}, got {quantity!r}")
    direction = params.get("direction")
    if direction not in ("above", "below"):
        raise ValueError(f"params.direction: must be 'above' or 'below', got {direction!r}")
    trigger = _number(params, "trigger")
    clear = _number(params, "clear", default=trigger)
    if direction == "above" and clear > trigger:
        raise ValueError(f"params.clear: must be at or below the trigger {trigger:g} for an 'above' rule")
    if direction == "below" and clear < trigger:
        raise ValueError(f"params.clear: must be at or above the trigger {trigger:g} for a 'below' rule")
    return Threshold(
        quantity=quantity,
        direction=direction,
        trigger=trigger,
        clear=clear,
        for_s=_number(params, "for_s", minimum=0, default=0.0),
    )


def _budget(params: dict[str, Any]) -> BudgetRule:
    _unknown(params, ("used_pct", "projected"))
    used = _number(params, "used_pct", minimum=1, default=None)
    projected = params.get("projected", False)
    if not isinstance(projected, bool):
        raise ValueError(f"params.projected: must be true or false, got {projected!r}")
    if used is None and not projected:
        raise ValueError("params.used_pct: required unless params.projected is true")
    return BudgetRule(used_pct=used, projected=projected)


def _finding(params: dict[str, Any]) -> FindingRule:
    _unknown(params, ("kinds", "min_score"))
    kinds = params.get("kinds")
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise ValueError("params.kinds: must be a non-empty list of finding kinds")
    known = (*FINDING_KINDS, *FINDING_GROUPS)
    bad = [k for k in kinds if k not in known]
    if bad:
        raise ValueError(f"params.kinds: unknown {', '.join(bad)}; known: {', '.join(known)}")
    expanded = tuple(dict.fromkeys(x for k in kinds for x in FINDING_GROUPS.get(k, (k,))))
    return FindingRule(kinds=expanded, min_score=_number(params, "min_score", default=None))


def _appliance(params: dict[str, Any]) -> ApplianceRule:
    _unknown(params, ("label", "on_longer_than_s"))
    label = params.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 100:
        raise ValueError("params.label: must be an appliance name (1 to 100 characters)")
    longer = _number(params, "on_longer_than_s", minimum=1, default=None)
    return ApplianceRule(label=label.strip(), on_longer_than_s=longer)


def parse_params(kind: str, params: dict[str, Any]) -> Params:
    """The rule of ``kind`` its stored ``params`` describe; ValueError naming the bad field."""
    if not isinstance(params, dict):
        raise ValueError("params: must be an object")
    if kind == "threshold":
        return _threshold(params)
    if kind == "offline":
        _unknown(params, ("after_s",))
        return Offline(after_s=_number(params, "after_s", minimum=1))
    if kind == "budget":
        return _budget(params)
    if kind == "finding":
        return _finding(params)
    if kind == "appliance":
        return _appliance(params)
    raise ValueError(f"kind: must be one of {', '.join(RULE_KINDS)}, got {kind!r}")


def may_cut_relay(rule: Params) -> bool:
    """Only an overload rule (power or current above a level) may switch a meter's relay off."""
    return isinstance(rule, Threshold) and rule.direction == "above" and rule.quantity in ("power", "current")


# ---------------------------------------------------------------------------- the state machine


@dataclass(frozen=True, slots=True)
class Hold:
    """Where one rule stands on one meter (or site)."""

    active: bool = False  # fired and not cleared
    pending: Phase | None = None  # the phase whose condition holds since ``since``
    since: int | None = None
    rearmed: bool = False  # while active: left the trigger zone, so a return is a repeat
    last_ts: int | None = None  # latest observation (older ones, late data, are skipped)


@dataclass(frozen=True, slots=True)
class Transition:
    phase: Phase
    ts: int
    value: float | None = None


def advance(
    hold: Hold, ts: int, on: bool, off: bool, hold_ms: int, value: float | None = None
) -> tuple[Hold, Transition | None]:
    """One observation at ``ts``: ``on`` the trigger condition is met, ``off`` the clear one.

    Called for every reading and rule, so states are built directly (``dataclasses.replace``
    costs three times as much)."""
    if hold.last_ts is not None and ts < hold.last_ts:
        return hold, None
    active, rearmed = hold.active, hold.rearmed
    if not active:
        if not on:
            return Hold(last_ts=ts), None
        phase: Phase = "fire"
    elif off:
        phase = "clear"
    elif on and rearmed:
        phase = "repeat"
    else:
        return Hold(True, None, None, rearmed or not on, ts), None
    since = hold.since if hold.pending == phase and hold.since is not None else ts
    if ts - since < hold_ms:
        return Hold(active, phase, since, rearmed or phase == "clear", ts), None
    if phase == "clear":
        return Hold(last_ts=ts), Transition("clear", ts, value)
    return Hold(active=True, last_ts=ts), Transition(phase, ts, value)


def step(rule: Threshold, hold: Hold, ts: int, value: float | None) -> tuple[Hold, Transition | None]:
    """A reading's value of the rule's quantity (None: the meter does not measure it)."""
    if value is None:
        return hold, None
    return advance(hold, ts, rule.breached(value), rule.cleared(value), round(rule.for_s * 1000), value)


def step_offline(rule: Offline, hold: Hold, now_ms: int, last_seen_ms: int) -> tuple[Hold, Transition | None]:
    """A look at the clock: silent for ``after_s`` fires; the ts of the fire is when it went quiet."""
    silent_ms = now_ms - last_seen_ms
    on = silent_ms >= rule.after_s * 1000
    hold, t = advance(hold, now_ms, on, not on, 0, silent_ms / 1000)
    if t is not None and t.phase == "fire":
        t = Transition("fire", last_seen_ms + round(rule.after_s * 1000), silent_ms / 1000)
    return hold, t


def budget_breached(rule: BudgetRule, fraction_used: float, state: str) -> bool:
    """Whether the site's budget status (``analysis.billing.budget``) meets the rule."""
    used = rule.used_pct is not None and fraction_used * 100 >= rule.used_pct
    return used or (rule.projected and state in ("at_risk", "over"))


@dataclass(frozen=True, slots=True)
class ApplianceHold:
    """An appliance rule on one meter: the machine, and since when the appliance is on."""

    hold: Hold = Hold()
    on_since: int | None = None


def step_appliance(
    rule: ApplianceRule, state: ApplianceHold, ts: int, switched: Literal["on", "off"] | None
) -> tuple[ApplianceHold, Transition | None]:
    """An ON/OFF event of the rule's appliance (``switched``), or time passing (a reading).

    Events reach the engine after the readings they were found in, so an event's own time
    may be behind the latest reading's: the machine takes it as happening now (the
    appliance's time on still counts from the event's own time)."""
    now = ts if state.hold.last_ts is None else max(ts, state.hold.last_ts)
    on_since = state.on_since
    if switched == "on":
        on_since = on_since if on_since is not None else ts
    elif switched == "off":
        on_since = None
    if rule.on_longer_than_s is None:
        if switched is None:  # time passing changes nothing for a "switches on" rule
            return state, None
        on, ran_s = switched == "on", 0.0
    else:
        ran_s = 0.0 if on_since is None else (now - on_since) / 1000
        on = on_since is not None and ran_s >= rule.on_longer_than_s
    hold, t = advance(state.hold, now, on, on_since is None, 0, ran_s)
    return ApplianceHold(hold, on_since), t


# ---------------------------------------------------------------------------- plain words


def duration(seconds: float) -> str:
    """12 s, 5 min, 2 h 30 min."""
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h" if m == 0 else f"{h} h {m} min"


def _amount(quantity: str, value: float) -> str:
    unit = UNITS.get(quantity, "")
    text = f"{value:.2f}" if quantity == "pf" else f"{value:.1f}".removesuffix(".0")
    return f"{text} {unit}".rstrip()


def threshold_message(rule: Threshold, value: float | None) -> str:
    """ "Power above 2000 W for 30 s (2450 W now)"."""
    text = f"{NAMES[rule.quantity]} {rule.direction} {_amount(rule.quantity, rule.trigger)}"
    if rule.for_s > 0:
        text += f" for {duration(rule.for_s)}"
    return text if value is None else f"{text} ({_amount(rule.quantity, value)} now)"


def offline_message(rule: Offline, silent_s: float | None) -> str:
    return f"No reading for {duration(silent_s if silent_s is not None else rule.after_s)}"


def budget_message(rule: BudgetRule, fraction_used: float, state: str, used: str, limit: str, unit: str) -> str:
    head = f"Budget {round(fraction_used * 100)} % used ({used} of {limit} {unit})"
    if state == "over":
        return f"{head}: over budget"
    if state == "at_risk" and rule.projected:
        return f"{head}: this cycle may end above it"
    return head


def finding_message(kind: str, reason: str) -> str:
    return f"{kind.replace('_', ' ').capitalize()}: {reason}"


def appliance_message(rule: ApplianceRule, ran_s: float | None) -> str:
    name = rule.label[:1].upper() + rule.label[1:]
    if rule.on_longer_than_s is None:
        return f"{name} switched on"
    return f"{name} still on after {duration(ran_s if ran_s else rule.on_longer_than_s)}"


def describe(rule: Params) -> str:
    """A rule as its owner reads it in a list: what makes it fire, and what clears it."""
    if isinstance(rule, Threshold):
        text = threshold_message(rule, None)
        if rule.clear != rule.trigger:
            other = "below" if rule.direction == "above" else "above"
            text += f"; clears {other} {_amount(rule.quantity, rule.clear)}"
        return text
    if isinstance(rule, Offline):
        return f"No reading for {duration(rule.after_s)}"
    if isinstance(rule, BudgetRule):
        parts = [f"{rule.used_pct:g} % of the budget used"] if rule.used_pct is not None else []
        parts += ["the cycle projected to end above the budget"] if rule.projected else []
        return " or ".join(parts).capitalize()
    if isinstance(rule, FindingRule):
        kinds = ", ".join(k.replace("_", " ") for k in rule.kinds)
        text = f"A finding: {kinds}"
        return text if rule.min_score is None else f"{text} (score {rule.min_score:g} or more)"
    return appliance_message(rule, None)
