"""The dashboard's public address (``--public-url``, ``WATTWISE_PUBLIC_URL``): what notices
link to; anything a phone could not open is refused before the server starts, naming where
it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wattwise.cli.main import app as cli
from wattwise.config import Settings


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://wattwise.example.org/", "https://wattwise.example.org"),
        ("http://10.0.0.5:8000/ww", "http://10.0.0.5:8000/ww"),
        ("", ""),
    ],
)
def test_an_address_people_can_open_is_kept_without_its_trailing_slash(given: str, kept: str) -> None:
    assert Settings(public_url=given).public_url == kept


@pytest.mark.parametrize(
    "bad",
    [
        "wattwise.local",
        "ftp://wattwise.local",
        "https://",
        "http://host:99999",
        "https://u:p@host",
        "https://host/?x=1",
    ],
)
def test_serve_refuses_a_public_url_that_is_not_an_http_address(tmp_path: Path, bad: str) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--public-url", bad])
    assert answer.exit_code == 2
    said = " ".join(answer.output.replace("│", " ").split())
    assert "Invalid value for --public-url: must be the address people open the dashboard at" in said
    assert not (tmp_path / "wattwise.db").exists()  # nothing started


def test_a_bad_public_url_in_the_environment_is_named_without_a_traceback(tmp_path: Path) -> None:
    answer = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "serve"], env={"WATTWISE_PUBLIC_URL": "wattwise.local"}
    )
    assert answer.exit_code == 2
    assert answer.output.startswith("WATTWISE_PUBLIC_URL: must be the address people open the dashboard at")
    assert "got 'wattwise.local'" in answer.output and "Traceback" not in answer.output
