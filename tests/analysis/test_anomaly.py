"""Anomaly detection on real recordings kept in tests/fixtures/anomaly (see NOTICE.md there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattwise.analysis import anomaly, anomaly_evaluation, model_data
from wattwise.analysis.features import dump_model, load_model
from wattwise.domain.readings import Reading

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
FRIDGE = "Fridge/Fridge_1"
TRAIN_DAYS = {1, 2, 3, 4, 5}


@pytest.fixture(scope="module")
def fridge_model() -> anomaly.AnomalyModel:
    days = model_data.load_anomaly_normal(DATA, FRIDGE)
    history = pd.concat([d.frame.assign(segment=d.day) for d in days if d.day in TRAIN_DAYS])
    return anomaly.fit_anomaly_model(history)


def _fault_days(fault: str) -> list[tuple[int, pd.DataFrame]]:
    return [(d.day, d.frame) for d in model_data.load_anomaly_faults(DATA, FRIDGE) if d.fault == fault]


def _ours_and_seed(fault: str) -> tuple[dict[str, float], dict[str, float]]:
    """Learn from normal days 1–5, score the fault's files of the other days."""
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, FRIDGE) if d.day in TRAIN_DAYS]
    result = anomaly_evaluation.evaluate_fault_set(normal, _fault_days(fault), TRAIN_DAYS)
    return result["ours"], result["seed_raw_power_forest"]


def test_days_held_out_in_turn_pool_every_fault_file_once_and_never_learn_its_day() -> None:
    normal = {d.day: d.frame for d in model_data.load_anomaly_normal(DATA, FRIDGE)}
    faults = _fault_days("Faulty_Compressor")
    one_split = anomaly_evaluation.evaluate_fault_set(list(normal.values()), faults, TRAIN_DAYS)
    held_out = anomaly_evaluation.evaluate_fault_set_held_out(normal, faults, [{6, 7}])
    assert held_out == one_split
    # Fault files of day 6 scored on a history of days 2-5 (day 1 held out with them) and of
    # day 7 on days 1, 3-5: two folds, every labelled reading counted once.
    folds = anomaly_evaluation.evaluate_fault_set_held_out(normal, faults, [{1, 6}, {2, 7}])
    assert folds["ours"]["tp"] + folds["ours"]["fn"] == one_split["ours"]["tp"] + one_split["ours"]["fn"]
    assert folds["ours"]["events"] == one_split["ours"]["events"]


def test_the_rotation_protocol_reports_each_appliance_and_their_pooled_counts() -> None:
    figures = anomaly_evaluation.fault_set_held_out_figures(DATA, "rotation")
    appliances = [name for name in figures if name != "all"]
    assert FRIDGE in appliances
    for count in ("tp", "fp", "fn"):
        assert figures["all"][count] == sum(figures[name][count] for name in appliances)
    # Measured on the excerpts: fridge F1 0.96, all pooled 0.95.
    assert figures[FRIDGE]["f1"] >= 0.85
    with pytest.raises(ValueError, match="held-out days"):
        anomaly_evaluation.evaluate_fault_set_held_out({1: _fault_days("Minor_7.50")[0][1]}, [], [{1}])


def test_errors_are_split_into_the_clean_days_own_and_those_beside_a_fault() -> None:
    normal = {d.day: d.frame for d in model_data.load_anomaly_normal(DATA, FRIDGE)}
    day = normal[5].assign(label=0)
    # A fault file the way the data set builds one: two minutes inserted at a cycle's end.
    on = day["power"].to_numpy() > 30
    end = int(np.flatnonzero(on[:-1] & ~on[1:])[3])
    inserted = day.iloc[[end, end]].assign(label=1)
    fault = pd.concat([day.iloc[: end + 1], inserted, day.iloc[end + 1 :]], ignore_index=True)
    fault["ts"] = day["ts"].iloc[0] + 60_000 * np.arange(len(fault))
    split = anomaly_evaluation.fault_set_error_split(normal, [(5, fault)], [{5}])
    assert split["tp"] + split["fn"] == 2
    assert split["clean_readings"] == len(day)
    scored, _ = anomaly.score_frame(
        anomaly.fit_anomaly_model(pd.concat([f.assign(segment=d) for d, f in normal.items() if d != 5])), fault
    )
    flagged_normal = int(((anomaly.decided_at(scored) >= 0) & (fault["label"].to_numpy() == 0)).sum())
    assert split["fp_clean"] + split["fp_beside"] == flagged_normal
    assert split["fp_clean"] <= split["clean_flagged"]
    with pytest.raises(ValueError, match="more normal readings"):
        anomaly_evaluation.fault_set_error_split(normal, [(5, pd.concat([fault, fault.tail(3)]))], [{5}])


def test_a_fridge_with_a_failing_compressor_is_caught_and_the_seed_method_is_not_enough() -> None:
    ours, seed = _ours_and_seed("Faulty_Compressor")
    # Measured on this excerpt: F1 0.98 (precision 0.98, recall 0.99); seed forest F1 0.35.
    assert ours["f1"] >= 0.85
    assert ours["precision"] >= 0.85
    assert ours["event_recall"] >= 0.9
    assert ours["f1"] > seed["f1"] + 0.3


def test_the_reason_for_a_long_fridge_cycle_is_in_plain_words(fridge_model: anomaly.AnomalyModel) -> None:
    _, frame = _fault_days("Faulty_Compressor")[0]
    scored, _ = anomaly.score_frame(fridge_model, frame)
    flagged = scored[scored["anomalous"] & (frame["label"].to_numpy() == 1)]
    assert not flagged.empty
    reasons = " ".join(flagged["reason"])
    assert "longer than expected" in reasons or "longest run in its history" in reasons
    assert all(r for r in flagged["reason"])
    assert not any(scored.loc[~scored["anomalous"], "reason"])


def _score_in_chunks(model: anomaly.AnomalyModel, frame: pd.DataFrame, size: int) -> pd.DataFrame:
    carry = None
    parts = []
    for start in range(0, len(frame), size):
        part, carry = anomaly.score_frame(model, frame.iloc[start : start + size], carry)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_scoring_chunk_by_chunk_or_reading_by_reading_gives_the_same_answer(
    fridge_model: anomaly.AnomalyModel,
) -> None:
    _, frame = _fault_days("Faulty_Compressor")[1]
    whole, _ = anomaly.score_frame(fridge_model, frame)
    chunked = _score_in_chunks(fridge_model, frame, 97)
    assert chunked["anomalous"].tolist() == whole["anomalous"].tolist()
    assert chunked["earlier"].tolist() == whole["earlier"].tolist()
    assert chunked["reason"].tolist() == whole["reason"].tolist()
    np.testing.assert_allclose(chunked["score"], whole["score"])

    carry = None
    flags = []
    stamps, watts = frame["ts"].to_numpy(dtype="int64"), frame["power"].to_numpy(dtype="float64")
    for ts, power in zip(stamps[:40], watts[:40], strict=True):
        reading = Reading(device_id=1, ts=int(ts), power=float(power))
        finding, carry = anomaly.score_reading(fridge_model, reading, carry)
        flags.append(finding is not None)
    assert flags == whole["anomalous"].iloc[:40].tolist()


def test_a_live_meters_few_readings_at_a_time_score_as_a_long_file_does(
    fridge_model: anomaly.AnomalyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long file's sustained deviation is pandas' sliding median; a live meter's few readings
    a step take a lighter path (``FEW_ROWS``), which must give the very same figures."""
    _, frame = _fault_days("Faulty_Compressor")[1]
    chunked = _score_in_chunks(fridge_model, frame, 7)
    monkeypatch.setattr(anomaly, "FEW_ROWS", 0)  # the whole file as a long one: pandas
    whole, _ = anomaly.score_frame(fridge_model, frame)
    assert chunked["anomalous"].tolist() == whole["anomalous"].tolist()
    assert chunked["reason"].tolist() == whole["reason"].tolist()
    assert chunked["score"].tolist() == whole["score"].tolist()


def test_the_live_sustained_deviation_is_pandas_sliding_median_on_awkward_clocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 random chunks with what meters do to clocks (gaps, repeats, going back, a new
    segment) and to values (NaN, tiny and huge scales): the live path's medians are pandas'."""
    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(1, 300))
        steps = rng.choice([1000, 2000, 10_000, 60_000, 0, -5000, 700_000], size=n)
        ts = (1_700_000_000_000 + np.cumsum(steps)).astype("int64")
        dev = rng.normal(size=n) * rng.choice([1.0, 1e6, 1e-6])
        dev[rng.random(n) < (0.2 if case % 3 == 0 else 0.0)] = np.nan
        k = int(rng.integers(0, n))
        before = tuple((int(t), float(d)) for t, d in zip(ts[:k], dev[:k], strict=True))
        segment = rng.random(n - k) < 0.02
        live, _ = anomaly._sustained(ts[k:], dev[k:], before, segment)
        monkeypatch.setattr(anomaly, "FEW_ROWS", 0)
        offline, _ = anomaly._sustained(ts[k:], dev[k:], before, segment)
        monkeypatch.undo()
        np.testing.assert_array_equal(live, offline, err_msg=f"case {case}")


def test_cycles_one_minute_too_long_are_caught_by_adding_up_the_evidence() -> None:
    ours, seed = _ours_and_seed("Minor_7.50")
    # Every cycle is one minute (7.5 %) longer, less than a cycle's own scatter.
    # Measured on this excerpt: F1 0.96 (precision 1.0, recall 0.93); seed forest F1 0.11.
    assert ours["f1"] >= 0.7
    assert ours["precision"] >= 0.75
    assert ours["f1"] > seed["f1"] + 0.4


def test_the_first_long_cycles_are_flagged_once_the_evidence_is_in_and_the_delay_says_so(
    fridge_model: anomaly.AnomalyModel,
) -> None:
    _, frame = _fault_days("Minor_7.50")[0]
    scored, _ = anomaly.score_frame(fridge_model, frame)
    verdicts = scored[scored["earlier"].map(len) > 0]
    alarms = verdicts[verdicts["earlier_reason"].str.contains("cycles each ran past their expected length")]
    assert len(alarms) == 1
    row = alarms.iloc[0]
    # After the alarm, each cycle that ran long has its last minutes (as many as its recent
    # cycles ran over) judged when it ends.
    tails = verdicts[verdicts["ts"] > row["ts"]]
    assert len(tails) == len(verdicts) - 1
    assert tails["earlier_reason"].str.contains("expected length").all()
    assert all(len(spans) == 1 and spans[0][1] < ts for spans, ts in zip(tails["earlier"], tails["ts"], strict=True))
    decided = anomaly.decided_at(scored)
    first_span = row["earlier"][0]
    inside = (scored["ts"] >= first_span[0]) & (scored["ts"] <= first_span[1])
    assert (decided[inside.to_numpy()] == row["ts"]).all()
    labels = frame["label"].to_numpy()
    late = anomaly_evaluation.detection_metrics(labels, decided >= 0, scored["ts"].to_numpy(), decided)
    at_once = anomaly_evaluation.detection_metrics(labels, decided >= 0, scored["ts"].to_numpy())
    assert late["delay_s"] >= at_once["delay_s"]
    assert late["events_detected"] == at_once["events_detected"]


def test_a_water_heaters_baths_do_not_hide_runs_one_minute_too_long() -> None:
    """Its usual runs last 5-7 min, a few baths 20-36 min; the fault adds a minute or two."""
    heater = "Water_Heater/Water_Heater_1"
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, heater) if d.day in TRAIN_DAYS]
    model = anomaly.fit_anomaly_model(pd.concat([d.assign(segment=i) for i, d in enumerate(normal)]))
    assert model.cycles is not None
    # The baths no longer set the scatter (317 s with a plain least-squares line; 46 s measured).
    assert model.cycles.scatter_s < 90
    faults = [(d.day, d.frame) for d in model_data.load_anomaly_faults(DATA, heater)]
    result = anomaly_evaluation.evaluate_fault_set(normal, faults, TRAIN_DAYS)
    # Heating_Element day 8, measured: ours F1 0.77 (P 0.93; 0.70 while every minute past the
    # expected length was flagged; 0.16 before the robust line); seed 0.29.
    assert result["ours"]["f1"] >= 0.5
    assert result["ours"]["f1"] > result["seed_raw_power_forest"]["f1"] + 0.2


def test_a_water_heater_with_a_long_bath_in_its_history_keeps_its_cycle_model() -> None:
    """Normal day 7 holds a 54-minute run; with it, the plain std/mean of the run lengths
    passed 1 (1.09) and the heater was no longer treated as cycling. Its thermostat runs
    are as regular as ever (robust spread over median 0.30 either way)."""
    heater = "Water_Heater/Water_Heater_1"
    normal = [d for d in model_data.load_anomaly_normal(DATA, heater) if d.day in TRAIN_DAYS | {7}]
    assert {d.day for d in normal} == TRAIN_DAYS | {7}
    history = pd.concat([d.frame.assign(segment=d.day) for d in normal])
    model = anomaly.fit_anomaly_model(history)
    assert model.cycles is not None
    assert model.typical_run_s > 0
    faults = [(d.day, d.frame) for d in model_data.load_anomaly_faults(DATA, heater)]
    result = anomaly_evaluation.evaluate_fault_set([d.frame for d in normal], faults, TRAIN_DAYS | {7})
    # Heating_Element day 8, measured: F1 0.77 (P 0.93); seed 0.29.
    assert result["ours"]["f1"] >= 0.5
    assert result["ours"]["f1"] > result["seed_raw_power_forest"]["f1"] + 0.2


def test_a_normal_day_it_has_not_seen_raises_no_cycle_alarm() -> None:
    days = model_data.load_anomaly_normal(DATA, FRIDGE)
    history = pd.concat([d.frame.assign(segment=d.day) for d in days if d.day in {1, 2, 3, 4}])
    model = anomaly.fit_anomaly_model(history)
    assert model.cycles is not None
    scored, _ = anomaly.score_frame(model, next(d.frame for d in days if d.day == 5))
    assert not scored["reason"].str.contains("longer than expected").any()
    assert not scored["earlier"].map(len).any()


def test_a_fridge_is_quiet_on_normal_days_it_has_not_seen() -> None:
    """Each of the five normal days held out in turn, the model learned from the other four.

    Measured: day 5 no flag at all (3 when the forest could flag a fridge's defrost heater
    on its own), all five days together 17 readings (38 before; 13 while a recording's
    first two cycles added no evidence), every one of them on day 4, where the cycle alarm
    stands.
    """
    days = model_data.load_anomaly_normal(DATA, FRIDGE)
    flagged = {}
    for held_out in TRAIN_DAYS:
        history = pd.concat([d.frame.assign(segment=d.day) for d in days if d.day != held_out])
        model = anomaly.fit_anomaly_model(history)
        scored, _ = anomaly.score_frame(model, next(d.frame for d in days if d.day == held_out))
        flagged[held_out] = int((anomaly.decided_at(scored) >= 0).sum())
    assert flagged[5] == 0
    assert sum(flagged.values()) <= 20


def test_a_washing_machine_is_watched_as_an_appliance_and_its_long_heating_is_caught() -> None:
    """Its programs are too irregular to count as cycling, and day 3 of its history has a
    reading without a power value; neither may make it look like a whole house."""
    washer = "Washing_Machine/Washing_machine_1"
    normal = [d.frame for d in model_data.load_anomaly_normal(DATA, washer) if d.day in TRAIN_DAYS]
    assert any(frame["power"].isna().any() for frame in normal)
    model = anomaly.fit_anomaly_model(pd.concat([d.assign(segment=i) for i, d in enumerate(normal)]))
    # A tenth of its 2 kW heating (199 W measured); the missing reading made it the 5 W floor.
    assert model.on_threshold > 100
    assert not model.blocks
    assert model.power_floor == 0
    faults = [(d.day, d.frame) for d in model_data.load_anomaly_faults(DATA, washer)]
    result = anomaly_evaluation.evaluate_fault_set(normal, faults, TRAIN_DAYS)
    # Thermostat day 10 (its heating runs 75 % long), measured: F1 0.80 (P 0.67, R 1.0); seed 0.39.
    assert result["ours"]["f1"] >= 0.7
    assert result["ours"]["f1"] > result["seed_raw_power_forest"]["f1"] + 0.3


def test_a_stored_model_scores_exactly_like_the_fitted_one(fridge_model: anomaly.AnomalyModel) -> None:
    _, frame = _fault_days("Minor_7.50")[0]
    restored = load_model(dump_model(fridge_model), anomaly.AnomalyModel)
    a, _ = anomaly.score_frame(fridge_model, frame)
    b, _ = anomaly.score_frame(restored, frame)
    assert a.equals(b)
    with pytest.raises(TypeError, match="AnomalyModel"):
        load_model(dump_model({"not": "a model"}), anomaly.AnomalyModel)


def test_household_anomalies_are_found_without_crying_wolf_on_normal_days() -> None:
    ihepc = model_data.load_ihepc(DATA)
    result = anomaly_evaluation.evaluate_injected(ihepc, train_days=4, count=12, seed=1)
    ours, seed = result["ours"], result["seed_raw_power_forest"]
    # Measured: ours F1 0.75 at precision 0.81 (0.74 at 0.80 before blocks were judged against
    # the house's lower level, 0.55 at 0.96 before blocks of extra load were looked for); the
    # seed forest F1 0.34 at precision 0.23.
    assert ours["precision"] >= 0.7
    assert ours["f1"] >= 0.65
    assert ours["f1"] > seed["f1"] + 0.3

    cut = int(ihepc["ts"].min()) + 4 * 86_400_000
    model = anomaly.fit_anomaly_model(ihepc[ihepc["ts"] < cut][["ts", "power"]])
    clean, _ = anomaly.score_frame(model, ihepc[ihepc["ts"] >= cut][["ts", "power"]])
    # Counting the blocks reported after the fact too (0 measured; 0.2 % while a house with a
    # short history was also flagged by its hour's usual level and the forest alone).
    assert (anomaly.decided_at(clean) >= 0).mean() <= 0.01


def test_a_house_with_days_of_history_is_not_flagged_by_the_hours_usual_level_alone() -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power"]]
    cut = int(ihepc["ts"].min()) + 4 * 86_400_000
    model = anomaly.fit_anomaly_model(ihepc[ihepc["ts"] < cut])
    later = ihepc[ihepc["ts"] >= cut].reset_index(drop=True)
    # Half a kilowatt over the usual all evening: inside what a house does, not a fault.
    hours = pd.to_datetime(later["ts"], unit="ms").dt.hour.to_numpy()
    evening = later.assign(power=later["power"] + np.where((hours >= 18) & (hours < 23), 500.0, 0.0))
    scored, _ = anomaly.score_frame(model, evening)
    assert not scored["anomalous"].any()
    # A dead meter is still caught at once.
    dead, _ = anomaly.score_frame(model, later.assign(power=0.0).iloc[:30])
    assert dead["anomalous"].all()


def test_injected_validation_uses_only_the_training_days_and_splits_errors_by_kind() -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power"]]
    cut = int(ihepc["ts"].min()) + 4 * 86_400_000
    figures = anomaly_evaluation.evaluate_injected_held_out(ihepc, train_days=4, count_per_day=4, seeds=(11,))
    # Whatever the later days hold, the validation figures do not move.
    scrambled = ihepc.assign(power=np.where(ihepc["ts"] >= cut, 7000.0, ihepc["power"]))
    again = anomaly_evaluation.evaluate_injected_held_out(scrambled, train_days=4, count_per_day=4, seeds=(11,))
    assert again["ours"] == figures["ours"]
    # One of each kind per held-out day; measured F1 0.78 (seed forest 0.29), clean days 2.3 %.
    assert {k: figures[k]["events"] for k in anomaly_evaluation.INJECTED_KINDS} == dict.fromkeys(
        anomaly_evaluation.INJECTED_KINDS, 4.0
    )
    assert figures["dropout"]["found"] == 4.0
    assert figures["ours"]["f1"] >= 0.65
    assert figures["ours"]["f1"] > figures["seed_raw_power_forest"]["f1"] + 0.3
    assert figures["clean"]["share"] <= 0.05


def _household_with_block(extra_w: float, minutes: int) -> tuple[anomaly.AnomalyModel, pd.DataFrame, int, int]:
    """IHEPC: learn from 4 days; add ``extra_w`` for ``minutes`` at 03:00 on the 5th day."""
    ihepc = model_data.load_ihepc(DATA)[["ts", "power"]]
    cut = int(ihepc["ts"].min()) + 4 * 86_400_000
    model = anomaly.fit_anomaly_model(ihepc[ihepc["ts"] < cut])
    test = ihepc[ihepc["ts"] >= cut].reset_index(drop=True)
    hours = pd.to_datetime(test["ts"], unit="ms").dt.hour.to_numpy()
    first = int(np.flatnonzero(hours == 3)[0])
    power = test["power"].to_numpy(dtype="float64").copy()
    power[first : first + minutes] += extra_w
    ts = test["ts"].to_numpy(dtype="int64")
    return model, test.assign(power=power), int(ts[first]), int(ts[first + minutes - 1])


def test_a_block_of_extra_load_is_reported_when_it_ends_with_its_span_and_reason() -> None:
    model, frame, first, last = _household_with_block(1500.0, 40)
    scored, _ = anomaly.score_frame(model, frame)
    decided = anomaly.decided_at(scored)
    ts = frame["ts"].to_numpy(dtype="int64")
    inside = (ts >= first) & (ts <= last)
    assert (decided[inside] >= 0).all()
    # Known only at the step down, the first reading after the block.
    assert decided[inside].min() == int(ts[np.flatnonzero(inside)[-1] + 1])
    row = scored[scored["earlier"].map(lambda spans: (first, last) in spans)]
    assert len(row) == 1
    reason = str(row["earlier_reason"].iloc[0])
    assert "rose by 1.5 kW" in reason and "40 min" in reason


def test_a_block_is_found_when_a_house_load_that_was_on_before_it_goes_off_inside_it() -> None:
    model, frame, first, last = _household_with_block(1500.0, 40)
    ts = frame["ts"].to_numpy(dtype="int64")
    start = int(np.flatnonzero(ts == first)[0])
    own = np.zeros(len(frame))
    own[start - 5 : start + 5] = 800.0  # the house's own 800 W, on for 5 min either side of the step
    scored, _ = anomaly.score_frame(model, frame.assign(power=frame["power"] + own))
    assert any((first, last) in spans for spans in scored["earlier"])


def test_a_block_of_twenty_one_minute_readings_lasts_twenty_minutes() -> None:
    model, frame, first, last = _household_with_block(1500.0, 20)
    scored, _ = anomaly.score_frame(model, frame)
    assert any((first, last) in spans for spans in scored["earlier"])


def _household_with_spells(spells: list[tuple[int, int, float]]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """IHEPC learned from 4 days, the 5th day scored with ``(from, to, watts)`` spells set
    around 03:00 (minutes relative to it); the scores, when each reading was decided, and
    where 03:00 is."""
    model, frame, first, _ = _household_with_block(0.0, 1)
    start = int(np.flatnonzero(frame["ts"].to_numpy(dtype="int64") == first)[0])
    power = frame["power"].to_numpy(dtype="float64").copy()
    for a, b, watts in spells:
        power[start + a : start + b] = watts
    scored, _ = anomaly.score_frame(model, frame.assign(power=power))
    return scored, anomaly.decided_at(scored), start


def test_a_meter_going_dead_does_not_confirm_a_block_before_it() -> None:
    # 100 W, then 2.1 kW for 40 min, then nothing: the drop to 0 W matches the step up.
    scored, decided, start = _household_with_spells([(-10, 0, 100.0), (0, 40, 2100.0), (40, 70, 0.0)])
    assert (decided[start + 40 : start + 70] >= 0).all()  # the dead meter, as it happens
    assert not any(spans for spans in scored["earlier"])


def test_a_meter_coming_back_to_life_does_not_open_a_block() -> None:
    # Nothing for 30 min, back at 1.6 kW for 40 min, then the house's own 1.5 kW goes off:
    # the step up out of the dead spell matches that step down.
    scored, decided, start = _household_with_spells([(-30, 0, 0.0), (0, 40, 1600.0), (40, 70, 100.0)])
    assert (decided[start - 30 : start] >= 0).all()  # the dead meter, as it happens
    assert (decided[start : start + 40] < 0).all()
    assert not any(spans for spans in scored["earlier"])


def test_one_step_down_ends_one_block_the_one_it_matches() -> None:
    # The house's own 1.5 kW goes on 30 min before a 1.5 kW block of 40 min: the block's step
    # down matches both step ups; only the block itself is reported, not the 70 minutes.
    spells = [(-40, -30, 300.0), (-30, 0, 1800.0), (0, 40, 3300.0), (40, 60, 1800.0), (60, 80, 300.0)]
    scored, _, start = _household_with_spells(spells)
    ts = scored["ts"].to_numpy(dtype="int64")
    reported = [span for spans in scored["earlier"] for span in spans]
    assert reported == [(int(ts[start]), int(ts[start + 39]))]


def test_a_short_appliance_run_is_not_a_block() -> None:
    model, frame, first, last = _household_with_block(1500.0, 10)
    scored, _ = anomaly.score_frame(model, frame)
    assert not any((first, last) in spans for spans in scored["earlier"])


def test_blocks_are_found_the_same_chunk_by_chunk() -> None:
    model, frame, _, _ = _household_with_block(1500.0, 40)
    whole, _ = anomaly.score_frame(model, frame)
    chunked = _score_in_chunks(model, frame, 53)
    assert chunked["earlier"].tolist() == whole["earlier"].tolist()
    assert chunked["earlier_reason"].tolist() == whole["earlier_reason"].tolist()
    assert chunked["anomalous"].tolist() == whole["anomalous"].tolist()


@pytest.mark.parametrize("zero_filled_gap_in_history", [False, True])
def test_a_dead_meter_is_explained_as_such(zero_filled_gap_in_history: bool) -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power"]]
    history = ihepc.iloc[:4000].copy()
    if zero_filled_gap_in_history:  # a recorder's zero-filled gap, as in REFIT: not a dead house
        history.loc[history.index[1000:1020], "power"] = 0.0
    model = anomaly.fit_anomaly_model(history)
    later = ihepc.iloc[4000:4100].copy()
    later.loc[later.index[50:80], "power"] = 0.0
    scored, _ = anomaly.score_frame(model, later)
    assert scored["anomalous"].iloc[50:80].all()
    assert "below anything in its history" in scored["reason"].iloc[60]


def test_a_recorder_holding_one_value_for_hours_does_not_teach_the_usual_levels() -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power"]].iloc[:5000]
    stuck = ihepc.copy()
    stuck.loc[stuck.index[2000:2400], "power"] = 2730.0  # forward-filled for almost 7 hours
    clean_model = anomaly.fit_anomaly_model(ihepc.drop(ihepc.index[2000:2400]))
    stuck_model = anomaly.fit_anomaly_model(stuck)
    np.testing.assert_allclose(stuck_model.baseline, clean_model.baseline)
    assert stuck_model.n_train == clean_model.n_train


def test_refresh_is_due_when_the_history_doubles_or_a_week_passes(fridge_model: anomaly.AnomalyModel) -> None:
    until = fridge_model.trained_until
    assert not anomaly.needs_refresh(fridge_model, until + 3_600_000, fridge_model.n_train + 10)
    assert anomaly.needs_refresh(fridge_model, until + 3_600_000, 2 * fridge_model.n_train)
    assert anomaly.needs_refresh(fridge_model, until + 8 * 86_400_000, fridge_model.n_train + 10)


def test_too_little_history_is_refused_with_a_reason() -> None:
    frame = pd.DataFrame({"ts": np.arange(50) * 60_000, "power": np.ones(50)})
    with pytest.raises(ValueError, match="at least 100"):
        anomaly.fit_anomaly_model(frame)


def test_metrics_count_events_and_delay() -> None:
    labels = np.array([0, 1, 1, 1, 0, 0, 1, 1, 0, 0])
    flags = np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 0])
    ts = np.arange(10) * 60_000
    m = anomaly_evaluation.detection_metrics(labels, flags, ts)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 5)
    assert m["events"] == 2 and m["events_detected"] == 1
    assert m["delay_s"] == 60.0
    assert m["false_alarm_runs"] == 1


def test_a_voltage_never_seen_on_this_meter_is_flagged_and_named() -> None:
    ihepc = model_data.load_ihepc(DATA)[["ts", "power", "voltage", "current"]]
    model = anomaly.fit_anomaly_model(ihepc.iloc[:5000])
    later = ihepc.iloc[5000:5200].copy()
    later.loc[later.index[100:110], "voltage"] = 205.0
    scored, _ = anomaly.score_frame(model, later)
    assert scored["anomalous"].iloc[100:110].all()
    assert scored["reason"].iloc[100].startswith("voltage 205 V is far outside its usual range")
    assert scored["anomalous"].sum() <= 12


def _cycles(lengths_min: list[int], rest_min: int) -> tuple[np.ndarray, np.ndarray]:
    """One-minute readings of a load at 4 kW that runs ``lengths_min`` with ``rest_min`` off between."""
    power: list[float] = [0.0] * rest_min
    for length in lengths_min:
        power += [4000.0] * length + [0.0] * rest_min
    return 60_000 * np.arange(len(power), dtype="int64"), np.asarray(power)


def _six_minute_cycles() -> anomaly.CycleModel:
    """A cycle model whose cycles last 6 min whatever the rest, scatter 45 s, alarm at 2."""
    return anomaly.CycleModel(
        coef=np.array([360.0, 0.0, 0.0]),
        scatter_s=45.0,
        step_s=60.0,
        bridge_s=120.0,
        slack=0.5,
        alarm=2.0,
        typical_s=360.0,
    )


def test_a_cycle_that_ran_long_has_only_its_usual_excess_flagged_and_a_bath_is_not_a_fault() -> None:
    """While the alarm stands, a cycle's last minutes — as many as its recent cycles ran
    over — are flagged when it ends, and as it runs only from two scatters past its expected
    length up to that usual excess further; a bath (a run of 30 min against 6) is one long
    use, not 24 minutes of fault."""
    model = _six_minute_cycles()
    # Six cycles of 8 min against an expected 6 (two minutes each), then a 30-minute bath.
    ts, power = _cycles([8] * 6 + [30], rest_min=30)
    verdicts, carry, _ = anomaly._cycle_pass(
        model, ts, power, 100.0, np.zeros(len(ts), dtype=bool), anomaly.CycleCarry()
    )
    assert carry.cusum > model.alarm
    spans = [span for spans in verdicts.earlier for span in spans]
    assert all((last - first) // 60_000 + 1 == 2 for first, last in spans)  # the usual excess: 2 min
    assert verdicts.alarm.sum() == 1
    bath_start = int(ts[np.flatnonzero(power)[-30]])
    assert spans[-1] == (bath_start + 28 * 60_000, bath_start + 29 * 60_000)  # its last two minutes
    live = ts[verdicts.flagged]
    # As it runs: past 6 min + 2 scatters (7.5 min) up to 2 min further, i.e. its 8th and 9th minute.
    assert [int(t - bath_start) // 60_000 + 1 for t in live if t >= bath_start] == [8, 9]


def _dishwasher_day(day: int, first_min: int, second_min: int) -> pd.DataFrame:
    """A day of one-minute readings: standby 1 W, a program at 08:00 that heats (2.1 kW) for
    ``first_min``, rests an hour, then heats for ``second_min``."""
    power = np.ones(1440)
    power[480 : 480 + first_min] = 2100.0
    second = 480 + first_min + 60
    power[second : second + second_min] = 2100.0
    ts = (day * 1440 + np.arange(1440, dtype="int64")) * 60_000
    return pd.DataFrame({"ts": ts, "power": power})


def test_a_programs_first_heating_is_judged_against_first_heatings_not_the_longest_run() -> None:
    """The first heating (11 min) running 13 min is still shorter than the second (15 min),
    so "longer than any run" cannot see it; "longer than any first run of a program" can."""
    history = anomaly_evaluation.history_of([_dishwasher_day(d, 11, 15) for d in range(4)])
    model = anomaly.fit_anomaly_model(history)
    assert model.cycles is None and model.typical_run_s > 0
    assert [round(s / 60) for s in model.longest_at] == [10, 14]  # first to last reading
    scored, _ = anomaly.score_frame(model, _dishwasher_day(5, 13, 15))
    by_position = scored[scored["reason"].str.contains("run 1 of a program")]
    assert [int(t // 60_000 % 1440) - 480 + 1 for t in by_position["ts"]] == [12, 13]
    assert "at most 10 min" in by_position["reason"].iloc[0]
    second = scored["ts"].to_numpy() // 60_000 % 1440 >= 480 + 13 + 60
    assert not scored.loc[second, "reason"].str.contains("program|longest run").any()
    normal, _ = anomaly.score_frame(model, _dishwasher_day(6, 11, 15))
    assert not normal["reason"].str.contains("program|longest run").any()


def test_a_recordings_first_cycles_add_evidence_against_the_typical_cycle() -> None:
    """Before two rests are known the line cannot say how long a cycle should be; the
    typical cycle stands in, so a day whose cycles all run long is caught from its first."""
    model = _six_minute_cycles()
    ts, power = _cycles([8, 8, 8], rest_min=30)
    verdicts, _, rows = anomaly._cycle_pass(
        model, ts, power, 100.0, np.zeros(len(ts), dtype=bool), anomaly.CycleCarry()
    )
    first_end = int(np.flatnonzero(power)[7])
    assert np.flatnonzero(verdicts.alarm).tolist() == [first_end + 3]  # decided past the stutter allowance
    assert verdicts.earlier[first_end + 3] == ((ts[first_end - 1], ts[first_end]),)
    # The fit learns its line only from cycles with both rests known (the third here).
    assert [bool(np.isfinite(r[0])) for r in rows] == [False, False, True]
