"""``wattwise tariff …`` from a shell: presets, validate, bill and project."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from wattwise.analysis.energy import HOUR_MS, local_midnight_ms
from wattwise.cli.tariff import tariff_app

runner = CliRunner()
IST = ZoneInfo("Asia/Kolkata")


def energy_csv(path: Path, first: date, last: date) -> Path:
    """Hourly readings: 10 kWh a weekday, 20 kWh a weekend day."""
    rows = ["ts_ms,wh"]
    d = first
    while d < last:
        per_hour = (20_000 if d.weekday() >= 5 else 10_000) / 24
        start = local_midnight_ms(d, IST)
        rows += [f"{start + (h + 1) * HOUR_MS},{per_hour}" for h in range(24)]
        d += timedelta(days=1)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_presets_lists_the_shipped_tariffs() -> None:
    result = runner.invoke(tariff_app, ["presets"])
    assert result.exit_code == 0
    assert "in-tn-domestic" in result.output and "us-pge-e-tou-c" in result.output
    assert "time-of-use" in result.output


def test_schema_describes_the_tariff_file() -> None:
    result = runner.invoke(tariff_app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert {"id", "name", "currency", "versions"} <= set(schema["required"])
    assert "TariffVersion" in schema["$defs"]


def test_validate_accepts_a_good_file_and_names_problems_in_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "flat.toml"
    good.write_text(
        'id = "flat"\nname = "Flat"\ncurrency = "EUR"\n[[versions]]\neffective_from = 2025-01-01\nenergy_rate = "0.3"\n'
    )
    ok = runner.invoke(tariff_app, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK: flat")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('energy_rate = "0.3"', ""))
    result = runner.invoke(tariff_app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "versions[0]: a version prices energy with exactly one of energy_rate, schedules, tou; got none" in (
        result.output
    )


def test_bill_from_meter_read_units_prints_each_slab() -> None:
    result = runner.invoke(
        tariff_app, ["bill", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01:2025-03-01", "--units", "450"]
    )
    assert result.exit_code == 0, result.output
    assert "Energy, units 101–200" in result.output
    assert result.output.rstrip().endswith("1490.00")


def test_bill_from_an_energy_csv_as_json_and_printable_html(tmp_path: Path) -> None:
    csv_path = energy_csv(tmp_path / "energy.csv", date(2025, 1, 1), date(2025, 3, 1))
    html = tmp_path / "bill.html"
    args = ["bill", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01:2025-03-01", "--energy", str(csv_path)]
    result = runner.invoke(tariff_app, [*args, "--json", "--html", str(html)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    # 43 weekdays x 10 + 16 weekend days x 20 = 750 units:
    # 0 + 300 x 4.70 + 100 x 6.30 + 100 x 8.40 + 150 x 9.45 = 1410 + 630 + 840 + 1417.50
    assert (data["kwh"], data["total"]) == ("750.000", "4297.50")
    assert "₹4,297.50" in html.read_text()


def test_project_with_a_budget(tmp_path: Path) -> None:
    csv_path = energy_csv(tmp_path / "energy.csv", date(2024, 12, 1), date(2025, 1, 20))
    args = ["project", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01:2025-03-01", "--energy", str(csv_path)]
    result = runner.invoke(tariff_app, [*args, "--as-of", "2025-01-20T00:00+05:30", "--budget", "3000"])
    assert result.exit_code == 0, result.output
    assert "bill so far: 470.00 INR for 250.000 kWh" in result.output
    assert "projected: 4297.50 INR" in result.output
    assert "budget 3000 INR: at risk" in result.output and "crossed on 2025-02-17" in result.output


def test_clear_errors_for_bad_arguments(tmp_path: Path) -> None:
    result = runner.invoke(
        tariff_app, ["bill", "--tariff", "nowhere", "--cycle", "2025-01-01:2025-03-01", "--units", "1"]
    )
    assert result.exit_code == 2 and "neither a preset" in result.output
    result = runner.invoke(tariff_app, ["bill", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01", "--units", "1"])
    assert result.exit_code == 2 and "want START:END" in result.output
    broken = tmp_path / "e.csv"
    broken.write_text("ts_ms,wh\n1000,5\nlater,6\n")
    args = ["bill", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01:2025-03-01", "--energy", str(broken)]
    result = runner.invoke(tariff_app, args)
    assert result.exit_code == 2 and "e.csv:3:" in result.output
    pge = ["bill", "--tariff", "us-pge-e-tou-c", "--cycle", "2025-01-01:2025-02-01", "--units", "300"]
    result = runner.invoke(tariff_app, pge)
    assert result.exit_code == 2 and "time-of-use needs energy per hour" in result.output


def test_a_bill_that_needs_the_sanctioned_load_names_the_option_that_gives_it() -> None:
    args = ["bill", "--tariff", "in-dl-domestic", "--cycle", "2025-01-01:2025-02-01", "--units", "250"]
    refused = runner.invoke(tariff_app, args)
    assert refused.exit_code == 2 and "give it with --sanctioned-kw" in refused.output
    assert runner.invoke(tariff_app, [*args, "--sanctioned-kw", "3"]).exit_code == 0
