"""What a meter's anomaly and grid detectors hold between readings, kept for the next worker.

The NILM state has its own JSON (``library.save_state``); this is the rest of what the worker
holds in memory for a meter: the anomaly engine's carry (the previous reading, the run going
on, the last ten minutes' deviations, where the cycle model stands), when it last flagged
(so a flagged spell that goes on across a restart extends its finding), the grid detector's
tail (a sag still going on) and the findings still open. Stored with the NILM state and the
last reading scanned, in the same transaction (``service.Detectors._readings``), so a worker
that resumes from that reading (``Progress.resume``) carries on exactly where the last one
stood.

Pickled, as the fitted models are: these are the engines' own dataclasses. A state a later
version cannot read is dropped with a warning, and those detectors start afresh (as they did
before this was kept).
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass

from wattwise.analysis.anomaly import Carry
from wattwise.detectors.anomaly import MeterAnomaly
from wattwise.detectors.grid import MeterGrid

log = logging.getLogger(__name__)

KIND = "live_state"
VERSION = 1


@dataclass(frozen=True, slots=True)
class AnomalyPlace:
    carry: Carry | None
    last_ts: int
    last_flag_ts: int | None
    trained_until: int  # the model the carry was built with


@dataclass(frozen=True, slots=True)
class LiveState:
    anomaly: AnomalyPlace | None
    grid: MeterGrid
    open_findings: dict[str, int]


def dump(anomaly: MeterAnomaly | None, grid: MeterGrid, open_findings: dict[str, int]) -> bytes:
    place = (
        None
        if anomaly is None
        else AnomalyPlace(anomaly.carry, anomaly.last_ts, anomaly.last_flag_ts, anomaly.model.trained_until)
    )
    return pickle.dumps((VERSION, LiveState(place, grid, dict(open_findings))), protocol=pickle.HIGHEST_PROTOCOL)


def load(data: bytes, device_id: int) -> LiveState | None:
    try:
        version, state = pickle.loads(data)  # written by this installation's own detectors
    except Exception as exc:  # any class or field a later version changed
        log.warning("meter %s: saved anomaly/grid state unreadable (%s); those detectors start afresh", device_id, exc)
        return None
    if version != VERSION or not isinstance(state, LiveState):
        log.warning("meter %s: saved anomaly/grid state of another version; those detectors start afresh", device_id)
        return None
    return state


def resume(anomaly: MeterAnomaly | None, place: AnomalyPlace | None) -> None:
    """Put the saved place back into the meter's anomaly engine: its carry only if it was built
    with the model the engine scores with now (a new model starts its carry afresh, as
    ``MeterAnomaly.use_model`` does), where it stood and when it last flagged either way."""
    if anomaly is None or place is None:
        return
    if place.trained_until == anomaly.model.trained_until:
        anomaly.carry = place.carry
    anomaly.last_ts = max(anomaly.last_ts, place.last_ts)
    anomaly.last_flag_ts = place.last_flag_ts
