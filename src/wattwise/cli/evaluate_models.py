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

from wattwise.analysis import anomaly, classify, grid_events, model_data, theft

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


def _data_dir(data: Path | None, needed: str) -> Path:
    root = data or model_data.default_data_dir()
    if not (root / needed).is_dir():
        raise typer.BadParameter(f"{root / needed} not found; pass --data DIR (the shared data folder)")
    return root


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
) -> None:
    """Anomaly detection: precision, recall, F1 and delay, beside the seed's raw-power forest."""
    if (train is None) != (test is None):
        raise typer.BadParameter("--train and --test go together")
    if train is not None and test is not None:
        try:
            result = anomaly.compare_on_split(
                model_data.read_power_csv(train), [model_data.read_power_csv(test, need_label=True)]
            )
        except (model_data.DataFormatError, ValueError) as err:
            raise typer.BadParameter(str(err)) from err
        _emit({**result["ours"], "seed_raw_power_forest": result["seed_raw_power_forest"]}, json_path)
        return
    root = _data_dir(data, model_data.ANOMALY_SET)
    figures: dict[str, Any] = {}
    train_set = set(range(1, train_days + 1))
    appliances = model_data.anomaly_appliances(root)
    for appliance in appliances:
        normal = [d.frame for d in model_data.load_anomaly_normal(root, appliance) if d.day in train_set]
        faults = [(d.day, d.frame) for d in model_data.load_anomaly_faults(root, appliance)]
        figures[f"fault_set/{appliance}"] = anomaly.evaluate_fault_set(normal, faults, train_set)
    pooled = {
        method: _pool([figures[f"fault_set/{a}"][method] for a in appliances])
        for method in ("ours", "seed_raw_power_forest")
    }
    figures["fault_set/all"] = pooled
    figures["injected/ihepc"] = anomaly.evaluate_injected(model_data.load_ihepc(root), train_days=6, count=40, seed=1)
    figures["injected/refit"] = anomaly.evaluate_injected(model_data.load_refit(root), train_days=4, count=30, seed=1)
    figures["grid_steps"] = _grid_figures(root)
    _emit({**pooled["ours"], "details": figures}, json_path)


def _pool(parts: list[dict[str, float]]) -> dict[str, float]:
    """Per-reading metrics summed over appliances (from their counts), delay as the median."""
    tp = sum(p["tp"] for p in parts)
    fp = sum(p["fp"] for p in parts)
    fn = sum(p["fn"] for p in parts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = [p["delay_s"] for p in parts if not math.isnan(p["delay_s"])]
    events = sum(p["events"] for p in parts)
    detected = sum(p["events_detected"] for p in parts)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "delay_s": float(np.median(delays)) if delays else float("nan"),
        "events": events,
        "events_detected": detected,
        "event_recall": detected / events if events else float("nan"),
        "false_alarm_runs": sum(p["false_alarm_runs"] for p in parts),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _grid_figures(root: Path) -> dict[str, Any]:
    ihepc = model_data.load_ihepc(root)
    subs = ihepc[["kitchen", "laundry", "heater_ac"]].to_numpy()
    switched = np.concatenate([[False], (np.diff(subs, axis=0) > 500).any(axis=1)])
    volts = ihepc["voltage"].to_numpy()
    quiet_jumps = (np.abs(np.diff(volts)) > grid_events.SURGE_VOLTS) & (np.abs(np.diff(subs, axis=0)).max(axis=1) < 1)
    ompm = model_data.load_ompm(root)
    states = ompm[list(model_data.OMPM_METERS)].to_numpy()
    ompm_on = np.concatenate([[False], (np.diff(states, axis=0) > 15).any(axis=1)])
    return {
        "ihepc_switch_ons": grid_events.step_agreement(ihepc["power"].to_numpy(), volts, switched),
        "ihepc_voltage_jumps_over_5v_with_submeters_quiet": float(quiet_jumps.sum()),
        "ihepc_voltage_events": float(len(grid_events.voltage_events(ihepc["ts"].to_numpy(), volts))),
        "ompm_switch_ons": grid_events.step_agreement(ompm["power"].to_numpy(), ompm["voltage"].to_numpy(), ompm_on),
        "ompm_frequency_events": float(
            len(grid_events.frequency_events(ompm["ts"].to_numpy(), ompm["frequency"].to_numpy()))
        ),
    }


def theft_command(data: DataOpt = None, json_path: JsonOpt = None) -> None:
    """Theft and loss: forest ROC-AUC and precision at the top-k on held-out meters and days
    with injected theft; energy-balance detection delay for a 5 % and a 20 % loss."""
    root = _data_dir(data, model_data.IHEPC)
    rows = theft.rows_from_series(model_data.household_meters(root))
    ompm = model_data.load_ompm(root)
    ihepc = model_data.load_ihepc(root)
    figures = {
        "forest_held_out_meters": theft.evaluate_by_meter(rows),
        "forest_held_out_days": theft.evaluate_by_days(rows),
        "balance_ompm_30s": theft.evaluate_balance(
            ompm["ts"].to_numpy(),
            ompm["power"].to_numpy(),
            ompm[list(model_data.OMPM_METERS)].sum(axis=1).to_numpy(),
            interval="30s",
        ),
        "balance_ihepc_15min": theft.evaluate_balance(
            ihepc["ts"].to_numpy(),
            ihepc["power"].to_numpy(),
            ihepc[["kitchen", "laundry", "heater_ac"]].sum(axis=1).to_numpy(),
            interval="15min",
        ),
    }
    _emit(figures, json_path)


def classify_command(data: DataOpt = None, json_path: JsonOpt = None) -> None:
    """Load classification: OMPM combinations (first hour / rest), the lab set, UCR ACSF1."""
    root = _data_dir(data, model_data.OMPM)
    ompm = model_data.load_ompm(root)
    cut = int(ompm["ts"].min()) + 3_600_000
    figures: dict[str, Any] = {
        "ompm_first_hour_vs_rest": classify.evaluate_split(
            ompm[ompm["ts"] < cut], ompm[ompm["ts"] >= cut], list(model_data.OMPM_METERS)
        )
    }
    for session in ("2combi_kettle+vacuum", "3combi_kettle+vacuum+wheater"):
        train = model_data.load_lab(root, session, "train")
        test = model_data.load_lab(root, session, "test")
        appliances = [c for c in ("kettle", "vacuum", "water_heater") if c in train.columns]
        figures[f"lab/{session}"] = classify.evaluate_split(train, test, appliances)
    figures["ucr/ACSF1"] = classify.evaluate_shape(*model_data.load_ucr(root, "ACSF1"))
    _emit(figures, json_path)


app = typer.Typer(help="Evaluate the anomaly, theft and classification models on real data.")
app.command("anomaly")(anomaly_command)
app.command("theft")(theft_command)
app.command("classify")(classify_command)
