"""The command line refuses bad values with a message naming them, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from wattwise.cli.main import app as cli


def test_site_add_refuses_a_time_zone_name_too_long_for_a_file(tmp_path: Path) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "site", "add", "x", "--timezone", "Z" * 300])
    assert answer.exit_code != 0
    assert answer.exception is None or isinstance(answer.exception, SystemExit), answer.exception
    assert "timezone: unknown time zone" in answer.output
