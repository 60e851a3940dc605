"""``wattwise tariff``: list presets, check a tariff file, bill or project a cycle offline.

Thin wrappers over ``wattwise.analysis.billing``; energy comes from a CSV with a ``ts``
column (ISO 8601 with offset, or epoch milliseconds in ``ts_ms``) and ``wh`` or ``kwh``.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from wattwise.analysis.billing.budget import Budget, budget_status
from wattwise.analysis.billing.compute import MAX_UNITS, Bill, Connection, bill_for_units, compute_bill
from wattwise.analysis.billing.ledger import close_cycle
from wattwise.analysis.billing.presets import load_preset, load_presets, preset_ids
from wattwise.analysis.billing.projection import daily_costs, project_bill
from wattwise.analysis.billing.render import render_bill_html
from wattwise.analysis.billing.serialize import bill_as_dict
from wattwise.analysis.billing.tariff import Tariff, TariffError, load_tariff
from wattwise.analysis.energy import BillingCycle, EnergySeries
from wattwise.cli.context import fail

tariff_app = typer.Typer(help="Tariffs: presets, validation, bills and projections.", no_args_is_help=True)


def _units(text: str) -> Decimal:
    """``--units`` as a finite number of kWh within what a bill can hold."""
    try:
        units = Decimal(text)
    except InvalidOperation:
        raise fail(f"--units {text!r}: not a number of kWh") from None
    if not units.is_finite():
        raise fail(f"--units {text!r}: not a number of kWh")
    if not 0 <= units <= MAX_UNITS:
        raise fail(f"--units {text}: from 0 to at most {MAX_UNITS:,} kWh")
    return units


def _tariff(ref: str) -> Tariff:
    """A preset id, or a path to a .toml/.json file."""
    try:
        if ref in preset_ids():
            return load_preset(ref)
        path = Path(ref)
        if not path.exists():
            raise fail(f"{ref}: neither a preset ({', '.join(preset_ids())}) nor an existing file")
        return load_tariff(path)
    except TariffError as exc:
        raise fail(str(exc)) from None


def _cycle(cycle: str) -> BillingCycle:
    """``START:END`` dates, END exclusive (the next cycle's first day)."""
    try:
        start, end = cycle.split(":")
        return BillingCycle(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        raise fail(f"--cycle {cycle!r}: want START:END as YYYY-MM-DD:YYYY-MM-DD, END exclusive ({exc})") from None


def _ts_ms(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return int(moment.timestamp() * 1000)


def read_energy_csv(path: Path, bucket_ms: int) -> EnergySeries:
    """Energy rows from a CSV; errors name the line and the column."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise fail(f"{path}: cannot read ({exc.strerror})") from None
    ts: list[int] = []
    wh: list[float] = []
    with handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        ts_col = next((c for c in ("ts_ms", "ts") if c in fields), None)
        e_col = next((c for c in ("wh", "kwh") if c in fields), None)
        if ts_col is None or e_col is None:
            raise fail(f"{path}: needs a ts (or ts_ms) column and a wh (or kwh) column; found {fields}")
        scale = 1000.0 if e_col == "kwh" else 1.0
        for n, row in enumerate(reader, start=2):
            try:
                ts.append(_ts_ms(row[ts_col]))
                wh.append(float(row[e_col]) * scale)
            except (ValueError, TypeError) as exc:
                raise fail(f"{path}:{n}: {exc}") from None
    try:
        return EnergySeries.of(ts, wh, bucket_ms)
    except ValueError as exc:
        raise fail(f"{path}: {exc}") from None


def _connection(phases: int, sanctioned_kw: str | None, no_subsidy: bool) -> Connection:
    try:
        kw = Decimal(sanctioned_kw) if sanctioned_kw is not None else None
    except InvalidOperation:
        raise fail(f"--sanctioned-kw {sanctioned_kw!r} is not a number") from None
    return Connection(phases=phases, sanctioned_kw=kw, subsidy=not no_subsidy)


def _with_flag(message: str) -> str:
    """The engine speaks of the connection; a command-line user needs the option that sets it."""
    if "sanctioned load" in message:
        return f"{message}\n  give it with --sanctioned-kw, e.g. --sanctioned-kw 3"
    return message


def _print_bill(bill: Bill) -> None:
    typer.echo(f"{bill.tariff_name}\ncycle {bill.cycle} ({bill.cycle.days} days), {bill.kwh.normalize():f} kWh")
    for part_no, part in enumerate(bill.parts):
        if len(bill.parts) > 1:
            typer.echo(f"-- {part.start} to {part.end}: version from {part.effective_from}, {part.kwh} kWh")
        for line in (ln for ln in bill.lines if ln.part == part_no):
            qty = f"{line.quantity.normalize():f} {line.quantity_unit}" if line.quantity is not None else ""
            rate = f"{line.rate.normalize():f}" if line.rate is not None else ""
            typer.echo(f"  {line.label:<58} {qty:>16} {rate:>9} {line.amount:>12}")
    typer.echo(f"  {'TOTAL ' + bill.currency:<58} {'':>16} {'':>9} {bill.total:>12}")


@tariff_app.command("presets")
def presets() -> None:
    """List the published tariffs that ship with Wattwise."""
    for pid, t in load_presets().items():
        kinds = sorted({v.kind for v in t.versions})
        latest = t.versions[-1].effective_from
        typer.echo(f"{pid:<18} {t.currency}  {'/'.join(kinds):<12} from {latest}  {t.name}")


@tariff_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a tariff file (for editors and the dashboard's form)."""
    typer.echo(json.dumps(Tariff.model_json_schema(), indent=2))


@tariff_app.command("validate")
def validate(path: Path) -> None:
    """Check a tariff file (TOML or JSON); every problem is named with where it is."""
    try:
        t = load_tariff(path)
    except TariffError as exc:
        raise fail(str(exc)) from None
    dates = ", ".join(str(v.effective_from) for v in t.versions)
    typer.echo(f"OK: {t.id} — {t.name} ({t.currency}); {len(t.versions)} version(s) from {dates}")


@tariff_app.command("bill")
def bill(
    tariff: str = typer.Option(..., "--tariff", help="preset id or tariff file"),
    cycle: str = typer.Option(..., "--cycle", help="START:END, END exclusive, e.g. 2025-01-01:2025-03-01"),
    units: str = typer.Option(None, "--units", help="kWh the meter read this cycle (no time of day)"),
    energy: Path = typer.Option(None, "--energy", help="CSV of ts,wh (readings or rollups)"),
    bucket_ms: int = typer.Option(0, "--bucket-ms", help="0: one row per reading; else rollup length"),
    tz: str = typer.Option(None, "--tz", help="site time zone (default: the tariff's)"),
    phases: int = typer.Option(1, "--phases"),
    sanctioned_kw: str = typer.Option(None, "--sanctioned-kw", help="the connection's sanctioned load in kW"),
    no_subsidy: bool = typer.Option(False, "--no-subsidy", help="not opted in to an opt-in subsidy"),
    html: Path = typer.Option(None, "--html", help="also write the printable bill here"),
    as_json: bool = typer.Option(False, "--json", help="print the bill as JSON"),
) -> None:
    """Compute one cycle's bill, line by line."""
    t = _tariff(tariff)
    c = _cycle(cycle)
    conn = _connection(phases, sanctioned_kw, no_subsidy)
    if (units is None) == (energy is None):
        raise fail("give exactly one of --units or --energy")
    try:
        if units is not None:
            b = bill_for_units(t, c, _units(units), conn)
        else:
            b = compute_bill(t, c, read_energy_csv(energy, bucket_ms), tz, conn)
    except (TariffError, ValueError, InvalidOperation) as exc:
        raise fail(_with_flag(str(exc))) from None
    if as_json:
        typer.echo(json.dumps(bill_as_dict(b), indent=2))
    else:
        _print_bill(b)
    if html is not None:
        issued = close_cycle("offline", b, int(datetime.now().timestamp() * 1000))
        html.write_text(render_bill_html(issued, t, tz_name=tz or t.timezone or "UTC"), encoding="utf-8")
        typer.echo(f"wrote {html}")


@tariff_app.command("project")
def project(
    tariff: str = typer.Option(..., "--tariff", help="preset id or tariff file"),
    cycle: str = typer.Option(..., "--cycle", help="START:END, END exclusive"),
    energy: Path = typer.Option(..., "--energy", help="CSV of ts,wh, reaching back a few weeks"),
    as_of: str = typer.Option(..., "--as-of", help="ISO time with offset, e.g. 2025-01-20T12:00+05:30"),
    bucket_ms: int = typer.Option(0, "--bucket-ms"),
    tz: str = typer.Option(None, "--tz"),
    budget: str = typer.Option(None, "--budget", help="budget for the cycle in money"),
    budget_kwh: str = typer.Option(None, "--budget-kwh", help="budget for the cycle in kWh"),
    phases: int = typer.Option(1, "--phases"),
    sanctioned_kw: str = typer.Option(None, "--sanctioned-kw", help="the connection's sanctioned load in kW"),
    no_subsidy: bool = typer.Option(False, "--no-subsidy"),
) -> None:
    """Bill so far, today's cost, the projected bill with its range, and budget status."""
    t = _tariff(tariff)
    c = _cycle(cycle)
    conn = _connection(phases, sanctioned_kw, no_subsidy)
    series = read_energy_csv(energy, bucket_ms)
    try:
        now = _ts_ms(as_of)
        p = project_bill(t, c, series, now, tz, conn)
        cur = t.currency
        typer.echo(f"cycle {c}; as of {as_of}; learnt from {p.history_days} recent day(s)")
        typer.echo(f"today ({p.today.day}): {p.today.kwh} kWh, {p.today.cost} {cur}")
        typer.echo(f"bill so far: {p.bill_to_date.total} {cur} for {p.bill_to_date.kwh} kWh")
        typer.echo(
            f"projected: {p.projected.total} {cur} (range {p.low} to {p.high}) for {p.projected.kwh} kWh "
            f"({p.low_kwh} to {p.high_kwh})"
        )
        budgets = [Budget(Decimal(budget), "money")] if budget is not None else []
        budgets += [Budget(Decimal(budget_kwh), "kwh")] if budget_kwh is not None else []
        past = daily_costs(t, c, series, p.as_of_ms, tz, conn) if budgets else []
        for b in budgets:
            status = budget_status(b, p, past)
            when = f", crossed on {status.crossing}" if status.crossing else ""
            typer.echo(
                f"budget {status.limit} {status.unit}: {status.state.replace('_', ' ')}, "
                f"{status.fraction_used:.0%} used, {status.probability_over:.0%} chance to end over{when}"
            )
    except (TariffError, ValueError, InvalidOperation) as exc:
        raise fail(_with_flag(str(exc))) from None
