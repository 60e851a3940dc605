"""``wattwise evaluate anomaly|theft|classify``: reproduce the models' figures on real data.

Thin wrappers: the protocols live in ``wattwise.analysis`` (anomaly, theft, classify,
grid_events) and the data loaders in ``wattwise.analysis.model_data``. Every command
prints a readable summary and, with ``--json FILE``, writes the figures for machines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from wattwise.analysis import anomaly_evaluation, classify, grid_events, model_data, theft

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Folder of the public data sets (default ../shared/data)."),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")]


def _clean(value: Any) -> Any:
    """NaN becomes null so the JSON is valid; numpy numbers become plain ones."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else round(float(value), 4)
    return value


def _emit(figures: dict[str, Any], json_path: Path | None) -> None:
    clean = _clean(figures)
    typer.echo(json.dumps(clean, indent=2))
    if json_path is not None:
        json_path.write_text(json.dumps(clean, indent=2) + "\n")
        typer.echo(f"figures written to {json_path}")


def anomaly_command(
    data: DataOpt = None,
    train: Annotated[Path | None, typer.Option(help="CSV to learn from (timestamp, power in W).")] = None,
    test: Annotated[Path | None, typer.Option(help="CSV to score (timestamp, power in W, label 0/1).")] = None,
    json_path: JsonOpt = None,
    train_days: Annotated[int, typer.Option(help="Anomaly set: normal days 1..N train, faults of the rest test.")] = 5,
    protocol: Annotated[
        str,
        typer.Option(
            help="Anomaly set only: 'split' (days 1..N learn, the rest test), 'validation' "
            "(each of days 1-5 held out in turn; no test day used) or 'rotation' (two of "
            "the ten days held out at a time, eight days of history)."
        ),
    ] = "split",
) -> None:
    """Anomaly detection: precision, recall, F1 and delay, beside the seed's raw-power forest."""
    if (train is None) != (test is None):
        raise typer.BadParameter("--train and --test go together")
    if protocol != "split":
        if protocol not in anomaly_evaluation.HELD_OUT_PROTOCOLS:
            raise typer.BadParameter(f"--protocol: unknown '{protocol}'; known: split, validation, rotation")
        root = data or model_data.default_data_dir()
        if not (root / model_data.ANOMALY_SET).is_dir():
            raise typer.BadParameter(f"the appliance-anomaly set is not in {root}; pass --data DIR")
        held_out = anomaly_evaluation.fault_set_held_out_figures(root, protocol)
        _emit({**held_out["all"], "protocol": protocol, "details": held_out}, json_path)
        return
    if train is not None and test is not None:
        try:
            result = anomaly_evaluation.compare_on_split(
                model_data.read_power_csv(train), [model_data.read_power_csv(test, need_label=True)]
            )
        except (model_data.DataFormatError, ValueError) as err:
            raise typer.BadParameter(str(err)) from err
        _emit({**result["ours"], "seed_raw_power_forest": result["seed_raw_power_forest"]}, json_path)
        return
    root = data or model_data.default_data_dir()
    figures: dict[str, Any] = {}
    train_set = set(range(1, train_days + 1))
    evaluated = []
    if _present(root, model_data.ANOMALY_SET, figures):
        for appliance in model_data.anomaly_appliances(root):
            normal = [d.frame for d in model_data.load_anomaly_normal(root, appliance) if d.day in train_set]
            faults = [(d.day, d.frame) for d in model_data.load_anomaly_faults(root, appliance)]
            if not normal or not any(day not in train_set for day, _ in faults):
                continue
            figures[f"fault_set/{appliance}"] = anomaly_evaluation.evaluate_fault_set(normal, faults, train_set)
            evaluated.append(appliance)
    pooled = {
        method: anomaly_evaluation.pool_metrics([figures[f"fault_set/{a}"][method] for a in evaluated])
        for method in ("ours", "seed_raw_power_forest")
    }
    if evaluated:
        figures["fault_set/all"] = pooled
    if _present(root, model_data.IHEPC, figures):
        ihepc = model_data.load_ihepc(root)
        days = min(6.0, _days(ihepc) * 0.6)
        figures["injected/ihepc"] = anomaly_evaluation.evaluate_injected(ihepc, train_days=days, count=40, seed=1)
        figures["grid_steps/ihepc"] = _grid_ihepc(ihepc)
    if _present(root, model_data.REFIT, figures):
        figures["injected/refit"] = anomaly_evaluation.evaluate_injected(
            model_data.load_refit(root), train_days=4, count=30, seed=1
        )
    if _present(root, model_data.OMPM, figures):
        figures["grid_steps/ompm"] = _grid_ompm(model_data.load_ompm(root))
    if len(figures) == len([k for k in figures if k.startswith("missing/")]):
        raise typer.BadParameter(f"none of the evaluation sets is in {root}; pass --data DIR")
    headline = pooled["ours"] if evaluated else {}
    _emit({**headline, "details": figures}, json_path)


def _present(root: Path, folder: str, figures: dict[str, Any]) -> bool:
    """Whether a data set is there; a missing one is recorded, not fatal."""
    if (root / folder).is_dir():
        return True
    figures[f"missing/{folder}"] = f"not found in {root}"
    return False


def _days(frame: Any) -> float:
    return float(frame["ts"].max() - frame["ts"].min()) / 86_400_000


def _grid_ihepc(ihepc: Any) -> dict[str, Any]:
    """Recorded switch-ons (a sub-meter rising by 500 W in a minute) and what the rules call them."""
    subs = ihepc[["kitchen", "laundry", "heater_ac"]].to_numpy()
    switched = np.concatenate([[False], (np.diff(subs, axis=0) > 500).any(axis=1)])
    volts = ihepc["voltage"].to_numpy()
    quiet = (np.abs(np.diff(volts)) > grid_events.SURGE_VOLTS) & (np.abs(np.diff(subs, axis=0)).max(axis=1) < 1)
    return {
        "switch_ons": grid_events.step_agreement(ihepc["power"].to_numpy(), volts, switched),
        "voltage_jumps_over_5v_with_submeters_quiet": float(quiet.sum()),
        "voltage_events": float(len(grid_events.voltage_events(ihepc["ts"].to_numpy(), volts))),
    }


def _grid_ompm(ompm: Any) -> dict[str, Any]:
    states = ompm[list(model_data.OMPM_METERS)].to_numpy()
    switched = np.concatenate([[False], (np.diff(states, axis=0) > 15).any(axis=1)])
    ts = ompm["ts"].to_numpy()
    return {
        "switch_ons": grid_events.step_agreement(ompm["power"].to_numpy(), ompm["voltage"].to_numpy(), switched),
        "voltage_events": float(len(grid_events.voltage_events(ts, ompm["voltage"].to_numpy()))),
        "frequency_events": float(len(grid_events.frequency_events(ts, ompm["frequency"].to_numpy()))),
    }


def theft_command(data: DataOpt = None, json_path: JsonOpt = None) -> None:
    """Theft and loss: forest ROC-AUC and precision at the top-k on held-out meters and days
    with injected theft; energy-balance detection delay for a 5 % and a 20 % loss."""
    root = data or model_data.default_data_dir()
    figures: dict[str, Any] = {}
    meters = model_data.household_meters(root)
    if meters:
        rows = theft.rows_from_series(meters)
        figures["forest_held_out_meters"] = theft.evaluate_by_meter(rows)
        figures["forest_held_out_days"] = theft.evaluate_by_days(rows)
    else:
        figures["missing/households"] = f"none of IHEPC, AMPds2, REFIT in {root}"
    if _present(root, model_data.OMPM, figures):
        ompm = model_data.load_ompm(root)
        figures["balance_ompm_30s"] = theft.evaluate_balance(
            ompm["ts"].to_numpy(),
            ompm["power"].to_numpy(),
            ompm[list(model_data.OMPM_METERS)].sum(axis=1).to_numpy(),
            interval="30s" if _days(ompm) > 1 / 24 else "10s",
        )
    if _present(root, model_data.IHEPC, figures):
        ihepc = model_data.load_ihepc(root)
        figures["balance_ihepc_15min"] = theft.evaluate_balance(
            ihepc["ts"].to_numpy(),
            ihepc["power"].to_numpy(),
            ihepc[["kitchen", "laundry", "heater_ac"]].sum(axis=1).to_numpy(),
            interval="15min",
        )
    _emit(figures, json_path)


def classify_command(data: DataOpt = None, json_path: JsonOpt = None) -> None:
    """Load classification: OMPM combinations (first hour / rest), the lab set, UCR ACSF1."""
    root = data or model_data.default_data_dir()
    figures: dict[str, Any] = {}
    if _present(root, model_data.OMPM, figures):
        ompm = model_data.load_ompm(root)
        cut = int(ompm["ts"].min()) + (3_600_000 if _days(ompm) > 1.5 / 24 else int(_days(ompm) * 0.55 * 86_400_000))
        truth = model_data.ompm_on_states(ompm)
        first = (ompm["ts"] < cut).to_numpy()
        figures["ompm_first_hour_vs_rest"] = classify.evaluate_split(
            ompm[first], ompm[~first], list(model_data.OMPM_METERS), truth=(truth[first], truth[~first])
        )
    if _present(root, model_data.LAB, figures):
        for session in ("2combi_kettle+vacuum", "3combi_kettle+vacuum+wheater"):
            if not (root / model_data.LAB / session).is_dir():
                continue
            train = model_data.load_lab(root, session, "train")
            test = model_data.load_lab(root, session, "test")
            appliances = [c for c in ("kettle", "vacuum", "water_heater") if c in train.columns]
            figures[f"lab/{session}"] = classify.evaluate_split(train, test, appliances)
    if _present(root, model_data.UCR, figures):
        figures["ucr/ACSF1"] = classify.evaluate_shape(*model_data.load_ucr(root, "ACSF1"))
    _emit(figures, json_path)
