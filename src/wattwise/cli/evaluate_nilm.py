"""`wattwise evaluate nilm`: score appliance detection on sub-metered recordings.

Runs our method, a "predict 0 W" reference and, when their virtual environment exists,
the NILMTK peers (CO, FHMM over several seeds, Hart85) on the same split, and prints
one table; ``--json`` writes the figures for machines.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer

from wattwise.analysis.nilm.evaluate import (
    LOADERS,
    OmpmTruth,
    SetSpec,
    evaluate_set,
    load_sets,
    read_peer_predictions,
    read_refit_layout,
    write_peer_inputs,
)

DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DEFAULT_PEER_PYTHON = Path(os.environ.get("WATTWISE_NILMTK_VENV", "/work/nilmtk-venv")) / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "peers" / "nilmtk_peer.py"
PEER_METHODS = ("co", "fhmm", "hart85")


def run_peers(spec: SetSpec, python: Path, seeds: list[int], echo: Any = typer.echo) -> dict[str, Any]:
    """NILMTK's CO, FHMM (per seed) and Hart85 on the set's split, scored by us."""
    if not python.exists() or not PEER_SCRIPT.exists():
        echo(f"  NILMTK peers NOT run: no peer environment at {python.parent.parent}")
        return {}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nilm-peers-") as tmp:
        folder = Path(tmp)
        write_peer_inputs(spec, folder)
        for method in PEER_METHODS:
            for seed in seeds if method in ("co", "fhmm") else [0]:
                cmd = [str(python), str(PEER_SCRIPT), str(folder), method, str(seed)]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                key = f"nilmtk_{method}" + (f"_seed{seed}" if method != "hart85" else "")
                if proc.returncode != 0:  # shown in the table as this method's row
                    out[key] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1]}
                    continue
                scored = read_peer_predictions(spec, folder, f"{method}_{seed}")
                if scored is not None:
                    out[key] = scored
    return out


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def print_table(result: dict[str, Any], echo: Any = typer.echo) -> None:
    echo(f"\n== {result['set']} ({result['split']}; events within ±{result['tolerance_s']} s)")
    ours = result["methods"]["wattwise"]
    for name, m in result["methods"].items():
        if "event_f1" not in m:
            continue
        echo(
            "  {} events: P {} R {} F1 {} (true events {}); identification acc {} "
            "macro-F1 {}; confidence ECE {}".format(
                name,
                *(_fmt(m[k]) for k in ("event_precision", "event_recall", "event_f1")),
                m["true_events"],
                _fmt(m["identification_accuracy"]),
                _fmt(m["identification_macro_f1"]),
                _fmt(m["calibration"]["ece"]),
            )
        )
    apps = list(ours["appliances"])
    head = f"  {'method':<22}" + "".join(f"{a[:14]:>30}" for a in apps) + f"{'FTE':>8}"
    echo(head)
    echo(f"  {'':<22}" + "".join(f"{'on/off F1   MAE W':>30}" for _ in apps))
    for name, m in result["methods"].items():
        if "error" in m:
            echo(f"  {name:<22} failed: {m['error']}")
            continue
        cells = "".join(
            f"{_fmt(m['appliances'][a]['on_off_f1']):>19}{m['appliances'][a]['mae_w']:>11.1f}" for a in apps
        )
        echo(f"  {name:<22}{cells}{_fmt(m['fte']):>8}")
    curve = result.get("learning_curve")
    if curve:
        echo(
            "  learning curve (identification macro-F1 after n labels per appliance): "
            + ", ".join(f"n={n}: {_fmt(v['macro_f1'])}" for n, v in curve.items())
        )
    cluster = result.get("cluster_labelling")
    if cluster:
        per_app = ", ".join(
            f"{a}: {v['named']:.0f} named, {_fmt(v['right'])} right" for a, v in cluster["appliances"].items()
        )
        echo(
            "  one label per appliance, look-alikes named with it: identification macro-F1 "
            f"{_fmt(cluster['macro_f1'])} [{_fmt(cluster['min'])}-{_fmt(cluster['max'])}] ({per_app})"
        )
    learnt_from_labels = (
        ("burst_label_curve", "bursts from n labelled uses"),
        ("rhythm_label_curve", "rhythm from n labelled runs, live"),
    )
    for key, what in learnt_from_labels:
        for app, by_n in result.get(key, {}).items():
            labelled = [
                f"n={n}: {_fmt(v['on_off_f1'])} [{_fmt(v['min'])}-{_fmt(v['max'])}] / {v['mae_w']:.1f}, {v['learnt']}"
                for n, v in by_n.items()
            ]
            head = f"  {app} {what}, no sub-meter (on/off F1 mean [min-max] / MAE W, seeds learnt): "
            echo(head + ", ".join(labelled))


def nilm(
    train: Annotated[Path | None, typer.Option(help="training CSV in the REFIT layout", exists=True)] = None,
    test: Annotated[Path | None, typer.Option(help="test CSV in the REFIT layout", exists=True)] = None,
    data: Annotated[Path | None, typer.Option(help="folder of the real sets (default ../shared/data)")] = None,
    sets: Annotated[str, typer.Option(help=f"comma-separated sets under --data: {','.join(LOADERS)}")] = ",".join(
        LOADERS
    ),
    event_min_w: Annotated[float, typer.Option(help="smallest sub-meter step that counts as a true event (W)")] = 50.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write figures here")] = None,
    peers: Annotated[bool, typer.Option(help="also run the NILMTK peers if installed")] = True,
    peer_python: Annotated[Path, typer.Option(help="python of the NILMTK venv")] = DEFAULT_PEER_PYTHON,
    seeds: Annotated[str, typer.Option(help="seeds for the random peers (CO, FHMM)")] = "0,1,2",
    curve: Annotated[bool, typer.Option(help="also measure the learning curve")] = True,
    ompm_truth: Annotated[
        str,
        typer.Option(
            help="OMPM truth: 'states' (on/off from each sub-meter, 0 W where off) or "
            "'sub-meter-watts' (the raw sub-meter watts, as before 2026-11-24)"
        ),
    ] = "states",
) -> None:
    """Evaluate appliance detection: events, identification, on/off F1, MAE, FTE."""
    specs: list[SetSpec]
    if train is not None or test is not None:
        if train is None or test is None:
            raise typer.BadParameter("--train and --test go together")
        specs = [
            SetSpec(
                f"{train.name} → {test.name}",
                [read_refit_layout(train)],
                [read_refit_layout(test)],
                event_min_w=event_min_w,
                split=f"learn {train.name}, test {test.name}",
            )
        ]
        missing = set(specs[0].appliances) ^ set(specs[0].test[0].appliances)
        if missing:
            raise typer.BadParameter(f"train and test appliances differ: {sorted(missing)}")
    else:
        folder = data or DEFAULT_DATA
        if not folder.exists():
            raise typer.BadParameter(f"data folder {folder} does not exist; give --data DIR")
        wanted = [s.strip() for s in sets.split(",") if s.strip()]
        unknown = set(wanted) - set(LOADERS)
        if unknown:
            raise typer.BadParameter(f"unknown sets {sorted(unknown)}; known: {list(LOADERS)}")
        if ompm_truth not in get_args(OmpmTruth):
            raise typer.BadParameter(f"--ompm-truth must be one of {', '.join(get_args(OmpmTruth))}")
        specs = load_sets(folder, wanted, cast(OmpmTruth, ompm_truth))
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    results = []
    for spec in specs:
        res = evaluate_set(spec, curve=curve)
        if peers:
            res["methods"].update(run_peers(spec, peer_python, seed_list))
        else:
            typer.echo("  NILMTK peers NOT run (--no-peers)")
        print_table(res)
        results.append(res)
    if json_out is not None:
        json_out.write_text(json.dumps({"sets": results}, indent=1, default=str))
        typer.echo(f"\nfigures written to {json_out}")
