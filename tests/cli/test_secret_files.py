"""Files the command line writes with secrets in them are readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from wattwise.cli.main import app as cli


def test_the_brokers_password_file_is_never_readable_by_others(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    out.mkdir()
    (out / "passwd").write_text("an earlier file, readable by everyone\n")
    (out / "passwd").chmod(0o644)
    database = f"sqlite:///{tmp_path / 'wattwise.db'}"
    args = ["--database", database, "mqtt", "credentials", "--out", str(out), "--server-password", "s3cret"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o600
    assert (out / "passwd").read_text().startswith("wattwise-server:")
    assert sorted(p.name for p in out.iterdir()) == ["acl", "passwd"], "no temporary file left behind"
