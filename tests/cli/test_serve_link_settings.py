"""``wattwise serve --link`` (and ``--mqtt``): an address the link could never use, or a link
on the embedded SQLite database, is refused before the server starts, naming what to change."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattwise.cli.main import app as cli


def said(output: str) -> str:
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize("flag", ["--link", "--mqtt"])
@pytest.mark.parametrize("bad", ["mqtt.local:abc", "mqtt.local:70000", "mqtt.local:0"])
def test_serve_refuses_a_broker_address_it_could_never_connect_to(tmp_path: Path, flag: str, bad: str) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", flag, bad])
    assert answer.exit_code == 2, answer.output
    assert f"Invalid value for {flag}: must be a broker's host:port" in said(answer.output)
    assert not (tmp_path / "wattwise.db").exists()  # nothing started


def test_a_bad_link_address_in_the_environment_is_named_without_a_traceback(tmp_path: Path) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve"], env={"WATTWISE_BUS_LINK": "mqtt:x"})
    assert answer.exit_code == 2
    assert answer.output.startswith("WATTWISE_BUS_LINK: must be a broker's host:port")
    assert "Traceback" not in answer.output


@pytest.mark.parametrize("given", [["--link", "127.0.0.1:1883"], []])
def test_a_link_on_the_embedded_sqlite_database_is_refused(tmp_path: Path, given: list[str]) -> None:
    """Every process on SQLite leads: linked, each would store and send every alert again."""
    env = {} if given else {"WATTWISE_BUS_LINK": "127.0.0.1:1883"}
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", *given], env=env)
    assert answer.exit_code == 2, answer.output
    assert "must share a PostgreSQL database" in said(answer.output)
    assert not (tmp_path / "wattwise.db").exists()
