"""A meter's NILM model as stored, and the edits people make to it (label, relabel, rename, merge).

The model (detector settings plus the signature library) lives in ``detector_models`` as
JSON under kind "nilm". Every edit is a read-modify-write inside one writer transaction,
so two people labelling at once never lose each other's labels; the live detector reloads
the model when the bus says it changed.

The engine's library can add exemplars but not forget one; relabelling an event must
take back what its old label taught, so :func:`forget` does that here (wrapping the
engine, which is not ours to change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection

from wattwise.analysis.nilm.bursts import BurstModel, burst_model_from_labels
from wattwise.analysis.nilm.classify import Classifier
from wattwise.analysis.nilm.cycles import CycleModel
from wattwise.analysis.nilm.decode import renamed_states
from wattwise.analysis.nilm.events import DetectorConfig, Event
from wattwise.analysis.nilm.model import NilmModel
from wattwise.analysis.nilm.rhythm_labels import (
    MAX_REST_S,
    RUN_FACTOR,
    LabelledRun,
    cycle_model_from_labels,
    may_cycle,
)
from wattwise.analysis.nilm.signatures import UNIDENTIFIED, Features, SignatureLibrary, features_of
from wattwise.detectors.nilm import MeterNilm
from wattwise.store import detections
from wattwise.store.detections import StoredEvent, StoredRun
from wattwise.store.detector_models import covered_until, load_model, replace_data, save_model
from wattwise.store.errors import NotFound

KIND = "nilm"
STATE_KIND = "nilm_state"
#: Topic the REST edits publish on so live detectors reload the meter's model.
CHANGED_TOPIC = "appliances"


def new_model(utc_offset_s: int = 0, second: str = "pf") -> NilmModel:
    """A meter's first model: default thresholds, an empty library (everything unidentified)."""
    return NilmModel(detector=DetectorConfig(second=second), library=SignatureLibrary(), utc_offset_s=utc_offset_s)  # type: ignore[arg-type]


def load_nilm(conn: Connection, device_id: int) -> NilmModel | None:
    stored = load_model(conn, device_id, KIND)
    return None if stored is None else NilmModel.from_dict(json.loads(stored.data))


def save_nilm(conn: Connection, device_id: int, model: NilmModel) -> None:
    save_model(conn, device_id, KIND, json.dumps(model.to_dict()).encode())


def load_state(conn: Connection, device_id: int) -> dict[str, Any] | None:
    """The live detector's saved state (see ``MeterNilm.state``), if any."""
    stored = load_model(conn, device_id, STATE_KIND)
    return None if stored is None else dict(json.loads(stored.data))


def save_state(conn: Connection, device_id: int, state: dict[str, Any], scanned_ts: int | None) -> None:
    """Keep the live detector's state, and the last reading the detectors had scanned when
    it was taken (None: unchanged), from which a restart reads back (``scanned_until``)."""
    data = json.dumps(state).encode()
    if scanned_ts is None and load_model(conn, device_id, STATE_KIND) is not None:
        replace_data(conn, device_id, STATE_KIND, data)
    else:
        save_model(conn, device_id, STATE_KIND, data, trained_until=scanned_ts)


def scanned_until(conn: Connection) -> dict[int, int]:
    """Each meter's last reading the detectors had scanned when its state was saved."""
    return covered_until(conn, STATE_KIND)


def event_of(stored: StoredEvent) -> Event:
    """The engine's event for a stored one."""
    return Event(
        ts=stored.ts,
        delta_p=stored.delta_p,
        delta_q=stored.delta_q,
        peak_w=stored.peak_w,
        settle_ms=stored.settle_ms,
        level_before=stored.level_before,
        level_after=stored.level_after,
        label=stored.label,
        confidence=stored.confidence,
    )


def forget(library: SignatureLibrary, name: str, features: Features) -> None:
    """Take back one exemplar a label taught (the engine has no such call)."""
    app = library.appliances.get(name)
    if app is None or features not in app.exemplars:
        return
    app.exemplars.remove(features)
    if not app.exemplars:
        del library.appliances[name]
    library.version += 1


def refresh_bursts(model: NilmModel, names: set[str]) -> None:
    """Give each named appliance the burst model its labels now support, or take away
    one its labels no longer do (a relabel, a merge). A burst model fitted from a
    sub-meter is not the labels' to take away, and is kept."""
    for name in names:
        kept = model.bursts.get(name)
        if kept is not None and not kept.from_labels:
            continue
        app = model.library.appliances.get(name)
        learnt = None if app is None else burst_model_from_labels(app.exemplars)
        if learnt is None:
            model.bursts.pop(name, None)
        else:
            model.bursts[name] = learnt


#: the newest labelled runs a rhythm is learnt from
RHYTHM_RUNS = 50
#: at most this many stored events read per labelled run's rest
REST_EVENTS = 5000
#: the newest unidentified events searched for look-alikes: a year of a fridge's cycles and
#: more, so a house's whole cluster is named (the REST list's 500 would leave most of it out)
ALIKE_SEARCHED = 20_000


def refresh_rhythm(conn: Connection, device_id: int, model: NilmModel, names: set[str]) -> None:
    """Give each named appliance the rhythm its labelled runs now support (a fridge:
    :func:`cycle_model_from_labels`, the rests after them from the meter's stored
    events), or take away one they no longer do. A rhythm fitted from a sub-meter is
    not the labels' to take away, and is kept."""
    for name in names:
        kept = model.cyclers.get(name)
        if kept is not None and not kept.from_labels:
            continue
        named = detections.user_runs(conn, device_id, name, RHYTHM_RUNS)
        runs = [LabelledRun(event_of(on), event_of(off)) for on, off in named]
        learnt = cycle_model_from_labels(runs, _events_after(conn, device_id, runs)) if may_cycle(runs) else None
        if learnt is None:
            model.cyclers.pop(name, None)
        else:
            model.cyclers[name] = learnt


def _events_after(conn: Connection, device_id: int, runs: list[LabelledRun]) -> list[Event]:
    """The meter's stored events where the rests after ``runs`` are looked for, in time
    order, in one query (read only for runs that :func:`may_cycle`: a kettle's labels
    read nothing)."""
    longest_ms = int((MAX_REST_S + RUN_FACTOR * max(r.on_s for r in runs)) * 1000)
    spans = [(r.off.ts + 1, r.off.ts + longest_ms + 1) for r in runs]
    return [event_of(e) for e in detections.events_in_spans(conn, device_id, spans, REST_EVENTS * len(runs))]


def refresh_learnt(conn: Connection, device_id: int, model: NilmModel, names: set[str]) -> None:
    """What the labels of ``names`` teach beyond signatures: burst models and rhythms.

    Not to a model that decodes all loads jointly (``states``): the decoding gives every
    run there, offline and live, so a burst model or a rhythm would never be used, yet the
    Appliances page would call its runs a chain's (``rhythm``) and the meter would take
    the decoded runs of that name for a chain's (``MeterNilm._shared``)."""
    if model.states is not None:
        return
    refresh_bursts(model, names)
    refresh_rhythm(conn, device_id, model, names)


def check_name(name: str) -> str:
    """The name as stored, or ValueError naming what is wrong with it."""
    name = name.strip()
    if not name or name == UNIDENTIFIED or len(name) > 100:
        raise ValueError(f"name: must be 1-100 characters and not {UNIDENTIFIED!r}, got {name!r}")
    return name


def look_alikes(conn: Connection, event_id: int) -> list[int]:
    """The meter's unidentified events that look like this one (itself left out).

    "Looks like" is the same step, switching on or off: |ΔP|, ΔQ and inrush within
    ``classify.ALIKE_WITHIN`` of the classifier's scales (ΔP ±10 %, …), as the library compares an
    appliance's ON and OFF events alike. Time of day and run length are left out: a kettle
    boiled in the morning and one boiled at night are one cluster to name."""
    stored = detections.get_event(conn, event_id)
    return alike_among_waiting(conn, stored.device_id, [stored])[stored.id]


def alike_among_waiting(
    conn: Connection, device_id: int, anchors: list[StoredEvent], model: NilmModel | None = None
) -> dict[int, list[int]]:
    """For each of ``anchors`` (events of this meter), its look-alikes among the meter's
    unidentified events (``look_alikes``): one read of the queue and the model for all
    (``model``: the meter's, when the caller has read it already)."""
    if model is None:
        model = load_nilm(conn, device_id) or new_model()
    clf = Classifier(model.library, model.classifier)
    waiting = detections.list_events(conn, device_id, detections.Window(label=UNIDENTIFIED, limit=ALIKE_SEARCHED))
    shapes = [features_of(event_of(e)) for e in waiting]
    out: dict[int, list[int]] = {}
    for anchor in anchors:
        near = clf.similar(features_of(event_of(anchor)), shapes)
        out[anchor.id] = [waiting[i].id for i in near if waiting[i].id != anchor.id]
    return out


def label_event(conn: Connection, event_id: int, name: str, *, alike: bool = False) -> dict[str, Any]:
    """A person's label (or new label) for an event, and for the other event of its run;
    with ``alike``, for every unidentified event that looks like it too (``look_alikes``)
    and the other events of their runs.

    Each event teaches the meter's library with its run's duration when the run is closed,
    so the next switching of the same appliance is identified. A relabel first takes back
    what the old label taught. Returns the changed event ids and the event's run id.

    One event is a cluster of one: the model is read and saved once, and the labels and
    runs written in one statement each, however many look-alikes (a fridge's can be
    hundreds: ``bench/label_cluster.py``).
    """
    name = check_name(name)
    stored = detections.get_event(conn, event_id)
    model = load_nilm(conn, stored.device_id) or new_model()
    cluster = [stored.id]
    if alike:  # looked for before this label teaches the library
        cluster += alike_among_waiting(conn, stored.device_id, [stored], model)[stored.id]
    named = _teach_cluster(conn, model, cluster, name)
    detections.set_user_labels(conn, [(e.id, name, e.features) for e in named.events.values()])
    detections.set_runs_label(conn, [run.id for run in named.runs.values() if run is not None], name)
    refresh_learnt(conn, stored.device_id, model, named.touched)  # after the writes: the rhythm reads the labels
    save_nilm(conn, stored.device_id, model)
    run = named.runs[stored.id]
    return {"device_id": stored.device_id, "events": sorted(named.events), "run": None if run is None else run.id}


@dataclass
class _Named:
    """What naming a cluster changed: each named event as it is now (label, features
    taught), the run each labelled event went with (None: not paired), the names whose
    learning changed."""

    events: dict[int, StoredEvent] = field(default_factory=dict)
    runs: dict[int, StoredRun | None] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


def _teach_cluster(conn: Connection, model: NilmModel, cluster: list[int], name: str) -> _Named:
    """Teach ``model``'s library each event of ``cluster`` in turn (its run's events with
    it, with the run's duration), skipping one already named as another's run partner.

    Events of a run are taught in id order, a relabelled one's old exemplar taken back
    first: what labelling them one request at a time taught (the library keeps each
    appliance's newest exemplars, so the order matters)."""
    runs = detections.runs_of_events(conn, cluster)
    partners = [i for run in runs.values() for i in (run.on_event_id, run.off_event_id) if i is not None]
    current = {e.id: e for e in detections.get_events(conn, sorted({*cluster, *partners}))}
    named = _Named(touched={name})
    for event_id in cluster:
        if event_id in named.events:
            continue
        run = runs.get(event_id)
        named.runs[event_id] = run
        ids, duration = [event_id], None
        if run is not None:
            ids = [i for i in (run.on_event_id, run.off_event_id) if i is not None]
            if run.off_event_id is not None:
                duration = (run.end_ts - run.start_ts) / 1000.0
        for ev in sorted((current[i] for i in ids if i in current), key=lambda e: e.id):
            if ev.source == detections.USER and ev.features is not None:
                forget(model.library, ev.label, Features.from_dict(ev.features))
                named.touched.add(ev.label)
            features = model.features(event_of(ev), duration)
            model.library.add(name, features)
            current[ev.id] = named.events[ev.id] = replace(
                ev, label=name, confidence=1.0, source=detections.USER, features=features.to_dict()
            )
    return named


def check_rename(conn: Connection, device_id: int, old: str, new: str, *, merge: bool) -> NilmModel:
    """The meter's model if ``old`` may become ``new``; NotFound or ValueError saying why not."""
    new = check_name(new)
    model = load_nilm(conn, device_id)
    if model is None or old not in model.library.appliances:
        raise NotFound(f"meter {device_id} has no appliance named {old!r}")
    if new in model.library.appliances and not merge and new != old:
        raise ValueError(f"name: the meter already has an appliance named {new!r}; merge them instead")
    if model.states is not None:
        renamed_states(model.states, old, new)  # ValueError: two loads the decoding tells apart
    return model


Learnt = TypeVar("Learnt", BurstModel, CycleModel)


def follow_rename(models: dict[str, Learnt], old: str, new: str) -> None:
    """A sub-meter's model of ``old`` goes to ``new``, and wins over one people's labels
    gave ``new`` (a merge): the labels' is learnt again from them, a sub-meter's could
    not come back. A model the labels gave ``old`` stays for :func:`refresh_learnt` to
    judge."""
    moved = models.get(old)
    if old == new or moved is None or moved.from_labels:
        return
    del models[old]
    if new not in models or models[new].from_labels:
        models[new] = moved


def rename_appliance(conn: Connection, device_id: int, old: str, new: str, *, merge: bool) -> int:
    """Rename ``old`` to ``new`` (``merge`` allows ``new`` to exist); returns the events relabelled."""
    model = check_rename(conn, device_id, old, new, merge=merge)
    new = check_name(new)
    model.library.merge(old, new)
    if old != new:  # a sub-meter's models follow the name
        follow_rename(model.bursts, old, new)
        follow_rename(model.cyclers, old, new)
        if model.states is not None:  # the joint decoding's runs come out under the new name
            model.states = renamed_states(model.states, old, new)
    changed = detections.rename_label(conn, device_id, old, new)  # first: the rhythm reads the stored labels
    refresh_learnt(conn, device_id, model, {old, new})
    save_nilm(conn, device_id, model)
    rename_in_state(conn, device_id, model, old, new)
    return changed


def rename_in_state(conn: Connection, device_id: int, model: NilmModel, old: str, new: str) -> None:
    """The saved live state follows a rename too (a meter the detectors have not loaded
    since their start resumes from it; a loaded one is told on the bus): the runs it
    holds are stored under the new name when they become final."""
    state = load_state(conn, device_id)
    if state is None:
        return
    try:
        meter = MeterNilm.start(model, state)
    except (KeyError, ValueError, TypeError):
        return  # unreadable: the detectors start that meter afresh (Detectors._meter)
    meter.rename(old, new)
    save_state(conn, device_id, meter.state(), None)


def appliances(conn: Connection, device_id: int) -> list[dict[str, Any]]:
    """Every appliance the meter's library knows, with its signature and what it ran."""
    model = load_nilm(conn, device_id)
    used = detections.label_counts(conn, device_id)
    out = []
    if model is None:
        return []
    for name in model.library.names():
        app = model.library.appliances[name]
        stats = used.get(name, {"runs": 0, "provisional_runs": 0, "energy_wh": 0.0, "last_ts": 0})
        out.append(
            {
                "name": name,
                "labelled_events": len(app.exemplars),
                "typical_power_w": app.typical_power_w,
                "typical_duration_s": app.typical_duration_s,
                # short and strong: its runs come from its bursts, sample by sample
                "bursts": name in model.bursts,
                # cycles on its own (a fridge): its runs come from its rhythm chain
                "rhythm": name in model.cyclers,
                "runs": int(stats["runs"]),
                # of them, still provisional (a fridge running now; may still change)
                "provisional_runs": int(stats["provisional_runs"]),
                "energy_wh": stats["energy_wh"],
                "last_run_ts": int(stats["last_ts"]) or None,
            }
        )
    return out
