"""Loaders that turn the public data sets (and any user CSV) into the frames the models use.

Every loader returns a pandas DataFrame with an integer ``ts`` column (epoch milliseconds;
sets recorded in naive local time keep their wall clock, i.e. are read as if UTC) and the
quantities in SI units (W, V, A, Hz), so that the anomaly, theft and classification engines
never see a data set's own quirks. Each quirk handled here is named where it is handled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wattwise.analysis import classify
from wattwise.domain.timestamps import timestamps_ms

ANOMALY_SET = "appliance-anomaly-1min"
IHEPC = "ihepc-1min"
REFIT = "refit-house2-8s"
AMPDS2 = "ampds2-1min"
OMPM = "ompm-pzem004t-1hz"
LAB = "lab-1hz-kettle-vacuum-waterheater"
UCR = "ucr-appliance-classification"

TIME_COLUMNS = ("timestamp", "ts", "time", "ctime", "datetime", "date_time", "date")
POWER_COLUMNS = ("power", "power_w", "active_power", "activepower", "active_power_w", "p")


class DataFormatError(ValueError):
    """A file does not have the columns or values a model needs; the message says which."""


def default_data_dir() -> Path:
    """``../shared/data`` relative to the working directory, as the project's convention says."""
    return Path("..") / "shared" / "data"


def _pick(columns: list[str], wanted: tuple[str, ...], what: str, path: Path) -> str:
    norm = {re.sub(r"[^a-z0-9]", "_", c.strip().lower()).strip("_"): c for c in columns}
    for name in wanted:
        if name in norm:
            return norm[name]
    raise DataFormatError(f"{path}: no {what} column; expected one of {', '.join(wanted)}, found {', '.join(columns)}")


def read_power_csv(path: Path, *, need_label: bool = False) -> pd.DataFrame:
    """Read any CSV with a timestamp column and a ``power`` column in W (``label`` 0/1 optional).

    The interval does not matter; rows are sorted by time and rows without a power value are
    dropped (they carry no information), which the caller can see from the row count.
    """
    raw = pd.read_csv(path, encoding="utf-8-sig")
    cols = [str(c) for c in raw.columns]
    tcol = _pick(cols, TIME_COLUMNS, "timestamp", path)
    pcol = _pick(cols, POWER_COLUMNS, "power (W)", path)
    out = pd.DataFrame(
        {
            "ts": timestamps_ms(raw[tcol]),
            "power": pd.to_numeric(raw[pcol], errors="coerce").to_numpy(dtype="float64"),
        }
    )
    for extra in ("voltage", "current", "pf", "frequency"):
        if extra in raw.columns:
            out[extra] = pd.to_numeric(raw[extra], errors="coerce").to_numpy(dtype="float64")
    if "label" in raw.columns:
        labels = pd.to_numeric(raw["label"], errors="coerce")
        bad = ~labels.isin([0, 1])
        if bool(bad.any()):
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise DataFormatError(f"{path}: line {row}: label must be 0 or 1, got {raw['label'].iloc[row - 2]!r}")
        out["label"] = labels.to_numpy(dtype="int64")
    elif need_label:
        raise DataFormatError(f"{path}: a test file needs a 0/1 'label' column")
    out = out[np.isfinite(out["power"].to_numpy())]
    if out.empty:
        raise DataFormatError(f"{path}: no rows with a numeric power value")
    ordered: pd.DataFrame = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return ordered


# --------------------------------------------------------------------------- anomaly set


@dataclass(frozen=True)
class AnomalyDay:
    """One day of the appliance-anomaly set: the day number, its fault type and the frame."""

    appliance: str
    day: int
    fault: str
    frame: pd.DataFrame


def _day_number(path: Path) -> int:
    match = re.search(r"day(\d+)", path.name)
    if match is None:
        raise DataFormatError(f"{path}: file name has no day number")
    return int(match.group(1))


def anomaly_appliances(data_dir: Path) -> list[str]:
    """Appliance folders of the appliance-anomaly set (e.g. ``Fridge/Fridge_1``)."""
    root = data_dir / ANOMALY_SET / "data"
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*") if p.is_dir())


def load_anomaly_normal(data_dir: Path, appliance: str) -> list[AnomalyDay]:
    """The appliance's normal days (BOM-prefixed ``ctime,activePower`` files)."""
    folder = data_dir / ANOMALY_SET / "data" / appliance / "Normal"
    days = []
    for path in sorted(folder.glob("*.csv"), key=_day_number):
        raw = pd.read_csv(path, encoding="utf-8-sig")
        frame = pd.DataFrame({"ts": timestamps_ms(raw["ctime"]), "power": raw["activePower"].astype("float64")})
        days.append(AnomalyDay(appliance, _day_number(path), "normal", frame))
    return days


def load_anomaly_faults(data_dir: Path, appliance: str) -> list[AnomalyDay]:
    """Every fault file of the appliance, labelled per minute.

    Quirk: a fault file is one of the normal days with minutes *inserted* (the simulated
    fault lengthens a cycle), so it has more rows than the normal day and its clock runs
    on past the day's end; we keep its own timestamps. Fault day N is built on normal day N,
    which is why evaluation must split by day number, never mix them.
    """
    base = data_dir / ANOMALY_SET / "data" / appliance
    days = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name.lower().startswith("anomaly_")):
        fault = folder.name.split("_", 1)[1]
        for path in sorted(folder.glob("*.csv"), key=_day_number):
            raw = pd.read_csv(path)
            frame = pd.DataFrame(
                {
                    "ts": timestamps_ms(raw["ctime"]),
                    "power": raw["activePower"].astype("float64"),
                    "label": raw["label"].astype("int64"),
                }
            )
            days.append(AnomalyDay(appliance, _day_number(path), fault, frame))
    return days


# --------------------------------------------------------------------------- households


def load_ihepc(data_dir: Path, *, summer: bool = False) -> pd.DataFrame:
    """IHEPC 1-min household: power, reactive power (W, var), voltage, current, sub-meters (W).

    Quirks: ``?`` marks missing minutes (dropped); the 11-day file's last line is cut mid-row
    (dropped by requiring every field); sub-meters are Wh per minute, so ×60 gives W.
    """
    name = "household_power_consumption_subset.txt" if summer else "household_power_consumption.txt"
    raw = pd.read_csv(data_dir / IHEPC / name, sep=";", na_values="?", dtype=str, keep_default_na=False)
    raw = raw.replace("", np.nan).dropna()
    ts = pd.to_datetime(raw["Date"] + " " + raw["Time"], format="%d/%m/%Y %H:%M:%S")
    num = raw.drop(columns=["Date", "Time"]).astype("float64")
    frame = pd.DataFrame(
        {
            "ts": ts.astype("datetime64[ms]").astype("int64").to_numpy(),
            "power": num["Global_active_power"].to_numpy() * 1000.0,
            "reactive": num["Global_reactive_power"].to_numpy() * 1000.0,
            "voltage": num["Voltage"].to_numpy(),
            "current": num["Global_intensity"].to_numpy(),
            "kitchen": num["Sub_metering_1"].to_numpy() * 60.0,
            "laundry": num["Sub_metering_2"].to_numpy() * 60.0,
            "heater_ac": num["Sub_metering_3"].to_numpy() * 60.0,
        }
    )
    return frame.reset_index(drop=True)


def load_refit(data_dir: Path) -> pd.DataFrame:
    """REFIT house 2 on its 8 s grid: aggregate (as ``power``) and four appliance channels.

    Quirk: single-sample glitches (e.g. fridge 32,768 W) are real rows of the recording and
    are left in; the anomaly evaluation treats them as unlabelled (they count against us).
    """
    raw = pd.read_csv(data_dir / REFIT / "REFIT_HF_validation.csv")
    frame = raw.rename(columns={"aggregate": "power"})
    frame["ts"] = timestamps_ms(raw["timestamp"])
    return frame.drop(columns=["timestamp"])[["ts", "power", "fridge", "washing_machine", "dishwasher", "microwave"]]


def load_ampds2(data_dir: Path) -> pd.DataFrame:
    """AMPds2 1-min: whole-house ``power`` and ``reactive`` plus four sub-meters, all splits."""
    parts = []
    for path in sorted((data_dir / AMPDS2).glob("ampds2_enriched_*.csv")):
        raw = pd.read_csv(path)
        part = raw.rename(
            columns={
                "main": "power",
                "main_Q": "reactive",
                "dish washer": "dishwasher",
                "heat pump": "heat_pump",
            }
        )
        part["ts"] = timestamps_ms(raw["timestamp"])
        parts.append(part.drop(columns=["timestamp"]))
    return pd.concat(parts).sort_values("ts").reset_index(drop=True)


# --------------------------------------------------------------------------- classification

OMPM_METERS = {
    "fan": "meter2_fan",
    "laptop": "meter3_laptop_computer",
    "incandescent_lamp": "meter4_incandescent_lamp",
    "led_lamp": "meter5_LED_lamp",
    "monitor": "meter6_fryer",  # the file's metadata says fryer; it is a 36 W monitor
}


def load_ompm(data_dir: Path) -> pd.DataFrame:
    """OMPM aggregate (V, I, P, f, PF) with each sub-meter's power aligned to it.

    Quirk: stored timestamps are quantised to 131 s blocks, so rows are aligned on the
    reconstructed ``timestamp_est`` (nearest within 2 s); sub-meters with fewer rows (the
    LED lamp has ~120 fewer) leave those aggregate rows without a label, and they are dropped.
    """
    folder = data_dir / OMPM / "csv_export"
    agg = pd.read_csv(folder / "meter1_aggregate.csv")
    frame = pd.DataFrame(
        {
            "ts": timestamps_ms(agg["timestamp_est"]),
            "voltage": agg["voltage_V"],
            "current": agg["current_A"],
            "power": agg["active_power_W"],
            "frequency": agg["frequency_Hz"],
            "pf": agg["pf"],
        }
    )
    for name, file in OMPM_METERS.items():
        sub = pd.read_csv(folder / f"{file}.csv")
        sub_frame = pd.DataFrame(
            {
                "ts": timestamps_ms(sub["timestamp_est"]),
                name: sub["active_power_W"],
                f"{name}_current": sub["current_A"],
            }
        ).sort_values("ts")
        frame = pd.merge_asof(frame.sort_values("ts"), sub_frame, on="ts", direction="nearest", tolerance=2000)
    return frame.dropna().reset_index(drop=True)


#: The laptop's own switching steps are 4.5–9.5 W; its sub-meter moves by at most 3.6 W
#: when another appliance switches.
OMPM_LAPTOP_STEP_W = 4.0
#: Sub-meter current (31-reading median) at and above which the LED lamp and the monitor
#: are on: the middle of the gap between what each picks up from its neighbours while off
#: (LED ≤ 0.05 A, monitor ≤ 0.08 A) and its own draw when on (≥ 0.09 A, ≥ 0.13 A).
OMPM_ON_CURRENT_A = {"led_lamp": 0.07, "monitor": 0.105}


def ompm_on_states(frame: pd.DataFrame) -> pd.DataFrame:
    """Each OMPM appliance's on/off, from its own sub-meter only (see
    ``docs/evaluation/classify.md``, "What counts as on").

    The fan and the incandescent lamp read 0 W when off: above 5 W is on. The laptop is
    never at 0 W: its "off" draw creeps from 1 to 13 W while it charges, so it is on from
    each rise of its own power of at least 4 W until its next fall. The LED lamp's and the
    monitor's sub-meters pick up part of the other loads' current (they read 3–25 W with
    their own appliance off), so they are judged by their own current, whose on level
    stays clear of what they pick up (:data:`OMPM_ON_CURRENT_A`).
    """
    ts = frame["ts"].to_numpy()
    states = {
        "fan": frame["fan"].to_numpy() > 5.0,
        "laptop": classify.on_by_steps(ts, frame["laptop"].to_numpy(), OMPM_LAPTOP_STEP_W),
        "incandescent_lamp": frame["incandescent_lamp"].to_numpy() > 5.0,
    }
    for name, amps in OMPM_ON_CURRENT_A.items():
        states[name] = classify.on_by_smoothed_level(frame[f"{name}_current"].to_numpy(), amps)
    return pd.DataFrame(states)[list(OMPM_METERS)]


LAB_COLUMNS = {
    "RMS Current": "current",
    "Active (W)": "power",
    "Reactive (W)": "reactive",
    "Apparent (W)": "apparent",
    "Power Factor": "pf",
    "Fundamental Frequency (50Hz)": "h1",
    "Third Harmonics (150Hz)": "h3",
    "Fifth (250Hz)": "h5",
    "Seventh (350Hz)": "h7",
    "Ninth (450Hz)": "h9",
}


def load_lab(data_dir: Path, session: str, split: str) -> pd.DataFrame:
    """One lab session (``2combi_kettle+vacuum`` or ``3combi_kettle+vacuum+wheater``) split.

    Aggregate features plus each appliance's active power (column named after the file).
    Quirk: the 2-appliance test files are named ``*._output.csv`` with another column order,
    so columns are taken by name.
    """
    folder = data_dir / LAB / session / f"{split}_data"
    files = {p.name.split(".")[0]: p for p in folder.glob("*.csv")}
    main = pd.read_csv(files.pop("main"))
    frame = main.rename(columns=LAB_COLUMNS)[["Timestamp", *LAB_COLUMNS.values()]]
    for name, path in sorted(files.items()):
        sub = pd.read_csv(path)
        frame[name] = sub["Active (W)"].to_numpy()[: len(frame)]
    frame["ts"] = timestamps_ms(frame.pop("Timestamp"))
    return frame.dropna().reset_index(drop=True)


def load_ucr(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A UCR archive problem as ``(x_train, y_train, x_test, y_test)``; series are rows."""
    folder = data_dir / UCR / name

    def read(split: str) -> tuple[np.ndarray, np.ndarray]:
        arr = np.loadtxt(folder / f"{name}_{split}.tsv", delimiter="\t")
        return arr[:, 1:], arr[:, 0].astype("int64")

    x_train, y_train = read("TRAIN")
    x_test, y_test = read("TEST")
    return x_train, y_train, x_test, y_test


def household_meters(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Every whole-house and sub-meter power series of IHEPC, AMPds2 and REFIT as
    ``name: (ts, power W, holiday country)`` — the honest consumption theft is injected into.
    Sets missing from ``data_dir`` are skipped."""
    meters: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    sets = (
        ("ihepc", IHEPC, load_ihepc, ("power", "kitchen", "laundry", "heater_ac"), "FR"),
        ("ampds2", AMPDS2, load_ampds2, ("power", "dishwasher", "fridge", "basement", "heat_pump"), "CA"),
        ("refit", REFIT, load_refit, ("power", "fridge", "washing_machine", "dishwasher", "microwave"), "GB"),
    )
    for name, folder, loader, columns, country in sets:
        if not (data_dir / folder).is_dir():
            continue
        frame = loader(data_dir)
        for column in columns:
            meters[f"{name}/{column}"] = (
                frame["ts"].to_numpy(dtype="int64"),
                frame[column].to_numpy(dtype="float64"),
                country,
            )
    return meters
