"""The command line refuses bad values with a message naming them, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import wattwise
from wattwise.cli.main import app as cli


def test_site_add_refuses_a_time_zone_name_too_long_for_a_file(tmp_path: Path) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "site", "add", "x", "--timezone", "Z" * 300])
    assert answer.exit_code != 0
    assert answer.exception is None or isinstance(answer.exception, SystemExit), answer.exception
    assert "timezone: unknown time zone" in answer.output


def test_site_add_refuses_a_currency_the_api_would_refuse(tmp_path: Path) -> None:
    """The API asks 3 to 8 characters; the command line stored an empty currency."""
    runner = CliRunner()
    answer = runner.invoke(cli, ["--data-dir", str(tmp_path), "site", "add", "x", "--currency", ""])
    assert answer.exit_code != 0
    assert "currency:" in answer.output
    listed = runner.invoke(cli, ["--data-dir", str(tmp_path), "site", "list"])
    assert "x" not in listed.output.split()


def test_serve_and_demo_refuse_a_port_past_65535_before_anything_starts(tmp_path: Path) -> None:
    """``serve --port 99999`` said it ran on 127.0.0.1:99999 and listened on 34463 (the port
    modulo 65536), where nobody would look."""
    for command in (["serve", "--port", "99999"], ["demo", "--port", "99999"], ["serve", "--port", "0"]):
        answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *command])
        assert answer.exit_code == 2, (command, answer.output)
        assert "--port" in answer.output
        assert not (tmp_path / "wattwise.db").exists()  # nothing started


def test_a_database_that_cannot_be_opened_is_named_without_a_traceback(tmp_path: Path) -> None:
    cases = {
        "postgresql://postgres@127.0.0.1:1/none": "Connection refused",
        "nosuchdb://x": "nosuchdb",
    }
    for url, reason in cases.items():
        answer = CliRunner().invoke(cli, ["--database", url, "site", "list"])
        assert answer.exit_code == 2, (url, answer.output)
        assert isinstance(answer.exception, SystemExit), answer.exception
        assert answer.output.startswith("error: --database: cannot open the database: "), answer.output
        assert reason in answer.output


def test_an_empty_meter_or_site_name_is_refused_naming_it(tmp_path: Path) -> None:
    """The API asks a name of at least one character; the command line made a meter called ''
    and, for ``--site ''``, a site called '' too."""
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    for args, field in (
        (["device", "add", "", "--site", "home"], "meter name"),
        (["device", "add", "kitchen", "--site", " "], "site name"),
        (["site", "add", ""], "site name"),
    ):
        answer = runner.invoke(cli, [*base, *args])
        assert answer.exit_code == 2, (args, answer.output)
        assert f"{field}: must not be empty" in answer.output, answer.output
    listed = runner.invoke(cli, [*base, "device", "list"])
    assert listed.output.strip() == ""


def test_tariff_bill_names_units_it_cannot_bill() -> None:
    """'--units 1e30' or '--units abc' answered '[<class 'decimal.InvalidOperation'>]'."""
    base = ["tariff", "bill", "--tariff", "in-tn-domestic", "--cycle", "2025-01-01:2025-03-01", "--units"]
    for units, said in (
        ("1e30", "at most 1,000,000,000"),
        ("abc", "not a number"),
        ("NaN", "not a number"),
        ("-5", "from 0"),
    ):
        answer = CliRunner().invoke(cli, [*base, units])
        assert answer.exit_code != 0 and isinstance(answer.exception, SystemExit), (units, answer.output)
        assert "--units" in answer.output and said in answer.output, (units, answer.output)


def test_export_names_the_time_past_the_calendar(tmp_path: Path) -> None:
    """'--until 99999999999999999999' was blamed on --since (its default, a day before)."""
    base = ["--data-dir", str(tmp_path), "export", "--device", "1"]
    answer = CliRunner().invoke(cli, [*base, "--until", "99999999999999999999"])
    assert answer.exit_code == 2
    assert answer.output.startswith("error: until: must be a time in the years 1 to 9999"), answer.output


def test_mqtt_credentials_names_a_folder_it_cannot_write(tmp_path: Path) -> None:
    """A folder that cannot be made was a FileNotFoundError traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ["--data-dir", str(tmp_path), "mqtt", "credentials", "--out", str(blocker / "mosquitto")]
    answer = CliRunner().invoke(cli, [*args, "--server-password", "s3cret-pass"])
    assert answer.exit_code == 2 and isinstance(answer.exception, SystemExit), answer.output
    assert answer.output.startswith(f"error: --out: cannot write {blocker / 'mosquitto'}: "), answer.output


def test_user_add_prints_only_a_password_it_made_up(tmp_path: Path) -> None:
    base = ["--data-dir", str(tmp_path), "user", "add"]
    chosen = CliRunner().invoke(cli, [*base, "warden", "--password", "the warden's own secret"])
    assert chosen.exit_code == 0, chosen.output
    assert "the warden's own secret" not in chosen.output
    assert chosen.output.strip() == "user 1 'warden'; password as given"
    made = CliRunner().invoke(cli, [*base, "admin", "--admin"])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("user 2 'admin' (admin) password (shown once): ")
    assert len(made.output.strip().rsplit(" ", 1)[1]) >= 16


def test_running_the_main_module_runs_the_command_line() -> None:
    """``python -m wattwise.cli.main --help`` printed nothing and exited 0: the module only
    defines the app, so a person who ran it (as guides for typer apps show) saw nothing happen."""
    answer = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(wattwise.__file__).parents[1])},
    )
    assert answer.returncode == 0, answer.stderr
    assert "Usage:" in answer.stdout and "serve" in answer.stdout


def test_serve_and_demo_refuse_a_port_another_server_listens_on(tmp_path: Path) -> None:
    """``demo --port P`` with P taken printed 'Wattwise demo is running at http://127.0.0.1:P'
    with a login and a key, beside uvicorn's bind error: the URL led to the other server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in (["serve", "--port", port], ["demo", "--port", port]):
            answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *command])
            assert answer.exit_code == 2, (command, answer.output)
            assert f"--port: 127.0.0.1:{port} is in use (another server listens there); choose another port" in (
                " ".join(answer.output.replace("│", "").split())
            )
            assert "running at" not in answer.output
            assert not (tmp_path / "wattwise.db").exists()  # nothing started
