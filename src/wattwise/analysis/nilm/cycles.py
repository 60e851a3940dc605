"""Appliances that cycle on their own (a fridge's compressor): decode their runs as a chain.

A fridge switches on and off all day at a rhythm its thermostat sets: ON for roughly
the same time, OFF for roughly the same time. One event alone (+85 W) looks like many
other loads in a house, so the signature library often cannot tell; the rhythm can. The
decoder chooses, among the events of about the right size, the chain of alternating
ON and OFF events whose sizes and ON/OFF durations best fit what the training part
showed (a dynamic programme over events, like a semi-Markov model), and the chain's
ON→OFF pairs become the appliance's runs. A missed event breaks the chain, at a cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from wattwise.analysis.nilm.events import Event

FloatArray = npt.NDArray[np.float64]
#: an ON event and the OFF event that ends it; either may be missing, never both
Pair = tuple[Event | None, Event | None]


@dataclass(frozen=True, slots=True)
class CycleModel:
    """What a self-cycling appliance's rhythm looks like (all learnt from training).

    ``on_w``/``off_w``: median |ΔP| of its ON and of its OFF steps in the aggregate (a
    compressor starts higher than it stops), ``rel_tol`` their relative spread;
    ``on_s``/``off_s``: median ON and OFF durations, ``on_log_sd``/``off_log_sd``
    their spread (natural log).
    """

    on_w: float
    off_w: float
    rel_tol: float
    on_s: float
    on_log_sd: float
    off_s: float
    off_log_sd: float
    #: median ΔQ (var, signed to move with ΔP) of its ON and OFF steps, and its spread,
    #: where the meter gives Q: a fridge's compressor and a lamp of the same watts differ
    on_var: float | None = None
    off_var: float | None = None
    var_tol: float = 5.0
    event_bonus: float = 2.0
    duration_bonus: float = 2.0
    break_cost: float = 4.0
    signature_weight: float = 0.5
    #: what taking a bigger step as this appliance's switching plus another load's
    #: costs (at 1 min another load often switches in the same sample); None: never
    composite_cost: float | None = None
    #: the largest step a shared step may be: the appliance's own plus the largest step
    #: of a single other load the training part showed, plus the spread (None: no bound,
    #: as models stored before it existed)
    composite_max_w: float | None = None
    #: learnt from a person's labels (:mod:`.rhythm_labels`), not a sub-meter: a relabel
    #: that takes the evidence away takes this model away too
    from_labels: bool = False

    def __post_init__(self) -> None:
        if min(self.on_w, self.off_w, self.rel_tol, self.on_s, self.off_s) <= 0:
            raise ValueError("step sizes, spread and durations of a cycling appliance must be > 0")


def learn_cycle(
    on_s: Sequence[float],
    off_s: Sequence[float],
    step_w: Sequence[float],
    span_s: float,
    min_cycles: int = 8,
    max_log_sd: float = 0.6,
    min_coverage: float = 0.5,
    min_rel_tol: float = 0.2,
    min_log_sd: float = 0.35,
    step_var: Sequence[float | None] = (),
    min_var_tol: float = 5.0,
    partner_w: float | None = None,
) -> CycleModel | None:
    """A :class:`CycleModel` when the training runs are many, regular and go on all day
    (their cycles cover ``min_coverage`` of the ``span_s`` seconds learnt from), else
    None: a kettle has no rhythm, and a dishwasher's heater cycles only within a wash.
    ``partner_w``, the largest single step of any other load in the training part,
    bounds the steps a chain may take as this appliance's plus another's."""
    if min(len(on_s), len(off_s)) < min_cycles or not step_w:
        return None
    lon, loff = np.log(np.asarray(on_s, dtype=float)), np.log(np.asarray(off_s, dtype=float))
    sd_on, sd_off = _robust_sd(lon), _robust_sd(loff)
    period = float(np.exp(np.median(lon)) + np.exp(np.median(loff)))
    if max(sd_on, sd_off) > max_log_sd or len(on_s) * period < min_coverage * span_s:
        return None
    steps = np.asarray(step_w, dtype=float)
    ups, downs = steps[steps > 0], -steps[steps < 0]
    if ups.size < 2 or downs.size < 2:
        return None
    on_w, off_w = float(np.median(ups)), float(np.median(downs))
    spread = max(_robust_sd(ups) / on_w, _robust_sd(downs) / off_w, min_rel_tol)
    rhythm = CycleModel(
        on_w,
        off_w,
        spread,
        float(np.exp(np.median(lon))),
        max(min_log_sd, sd_on),
        float(np.exp(np.median(loff))),
        max(min_log_sd, sd_off),
        composite_max_w=None if partner_w is None else composite_bound(max(on_w, off_w), partner_w, spread),
    )
    known = [(w, q) for w, q in zip(steps, step_var, strict=False) if q is not None]
    q_up = np.array([q for w, q in known if w > 0])
    q_down = np.array([q for w, q in known if w < 0])
    if q_up.size < 2 or q_down.size < 2:
        return rhythm
    q_tol = max(_robust_sd(q_up), _robust_sd(q_down), min_var_tol)
    return replace(rhythm, on_var=float(np.median(q_up)), off_var=float(np.median(q_down)), var_tol=q_tol)


def composite_bound(own_w: float, partner_w: float, rel_tol: float) -> float:
    """The largest step that can be this appliance's switching plus one other load's:
    both at their largest, plus the appliance's spread (a 7 kW step at the fridge's
    usual time is not a fridge plus anything the house has shown)."""
    return (own_w + abs(partner_w)) * (1.0 + rel_tol)


def _robust_sd(x: FloatArray) -> float:
    """Spread that a few odd cycles (a defrost, a door left open) do not inflate."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _size_score(e: Event, m: CycleModel) -> float:
    typical = m.on_w if e.is_on else m.off_w
    z = (abs(e.delta_p) - typical) / (m.rel_tol * typical)
    var = m.on_var if e.is_on else m.off_var
    if var is not None and e.delta_q is not None:
        along = e.delta_q if e.is_on else -e.delta_q
        zq = (along - var) / m.var_tol
        return m.event_bonus - 0.5 * (z * z + zq * zq)
    return m.event_bonus - 0.5 * z * z


def _signature_score(e: Event, name: str, m: CycleModel) -> float:
    if not name or not e.scores:
        return 0.0
    p = min(max(e.scores.get(name, 0.0), 0.02), 0.98)
    return m.signature_weight * math.log(p / (1.0 - p))


def _duration_score(seconds: float, median_s: float, log_sd: float, m: CycleModel) -> float:
    if seconds <= 0:
        return -math.inf
    z = (math.log(seconds) - math.log(median_s)) / log_sd
    return m.duration_bonus - 0.5 * z * z


def decode_cycles(events: Sequence[Event], m: CycleModel, name: str = "") -> list[Pair]:
    """The best sequence of chains of alternating ON/OFF events, one at a time (an
    appliance has one rhythm), as (ON, OFF) pairs in time order (OFF None where a chain
    breaks after an ON, ON None where it starts with an OFF). With ``name``, an event's
    signature score for that appliance (``Event.scores``, when identified) adds its
    say."""
    cand = [e for e in sorted(events, key=lambda e: e.ts) if is_candidate(e, m)]
    n = len(cand)
    if n == 0:
        return []
    best = np.full(n, -math.inf)
    prev = np.full(n, -1, dtype=np.int64)
    linked = np.zeros(n, dtype=bool)
    horizon = {True: m.on_s * math.exp(3 * m.on_log_sd), False: m.off_s * math.exp(3 * m.off_log_sd)}
    widest = max(horizon.values())
    run_max, run_arg = 0.0, -1  # best score of any sequence ending before j
    for j, e in enumerate(cand):
        if j > 0 and best[j - 1] > run_max:
            run_max, run_arg = float(best[j - 1]), j - 1
        own = _event_score(e, m, name)
        best[j], prev[j] = own - m.break_cost + run_max, run_arg
        for i in range(j - 1, -1, -1):
            a = cand[i]
            gap = (e.ts - a.ts) / 1000.0
            if gap > widest:
                break
            if a.is_on == e.is_on or gap > horizon[a.is_on]:
                continue
            med, sd = (m.on_s, m.on_log_sd) if a.is_on else (m.off_s, m.off_log_sd)
            s = best[i] + _duration_score(gap, med, sd, m) + own
            if s > best[j]:
                best[j], prev[j], linked[j] = s, i, True
    out: list[Pair] = []
    for chain in _backtrack(best, prev, linked):
        out.extend(_pairs([_own_part(cand[k], m) for k in chain]))
    return sorted(out, key=_pair_ts)


def is_candidate(e: Event, m: CycleModel) -> bool:
    """Whether a chain may take the event: about the appliance's step size, or (with
    shared steps allowed) bigger."""
    return _size_score(e, m) > 0 or _composite(e, m)


def _event_score(e: Event, m: CycleModel, name: str) -> float:
    """What an event adds to a chain: how well its size and signature fit the appliance,
    or for a shared step (whose size and signature are mostly the other load's) only the
    price of taking it."""
    if m.composite_cost is not None and _composite(e, m):
        return -m.composite_cost
    return _size_score(e, m) + _signature_score(e, name, m)


def _composite(e: Event, m: CycleModel) -> bool:
    """A step bigger than any the appliance's own size score accepts, which may hold its
    switching plus another load's (only when shared steps are allowed).

    The size score falls to 0 at sqrt(2·``event_bonus``) spreads above the typical step
    (2 spreads with the default bonus), so shared steps begin where the appliance's own
    end: no step is both. A step beyond ``composite_max_w`` is more than this appliance
    and any one other load together, and is not shared."""
    if m.composite_cost is None:
        return False
    typical = m.on_w if e.is_on else m.off_w
    size = abs(e.delta_p)
    if m.composite_max_w is not None and size > m.composite_max_w:
        return False
    return size > (1.0 + math.sqrt(2.0 * m.event_bonus) * m.rel_tol) * typical


def _own_part(e: Event, m: CycleModel) -> Event:
    """The event itself, or for a composite step this appliance's typical share of it
    (a new event: the step itself keeps its own label)."""
    if not _composite(e, m):
        return e
    dp = m.on_w if e.is_on else -m.off_w
    return replace(e, delta_p=dp, delta_q=None, peak_w=dp, level_after=e.level_before + dp, scores={})


def _pair_ts(pair: Pair) -> int:
    first = pair[0] if pair[0] is not None else pair[1]
    return first.ts if first is not None else 0


def _backtrack(best: FloatArray, prev: npt.NDArray[np.int64], linked: npt.NDArray[np.bool_]) -> list[list[int]]:
    """The chains of the best sequence, walked back from its last event."""
    k = int(np.argmax(best))
    if best[k] <= 0:
        return []
    chains: list[list[int]] = [[]]
    while k >= 0:
        chains[-1].append(k)
        if not linked[k]:
            chains.append([])
        k = int(prev[k])
    return [c[::-1] for c in chains[::-1] if c]


def _pairs(chain: Sequence[Event]) -> list[Pair]:
    """ON→OFF pairs of one chain; a chain that starts with an OFF (its ON was missed)
    gives that OFF a pair of its own."""
    out: list[Pair] = []
    if chain and not chain[0].is_on:
        out.append((None, chain[0]))
    for a, b in itertools.zip_longest(chain, chain[1:]):
        if a is not None and a.is_on:
            out.append((a, b if b is not None and not b.is_on else None))
    return out
