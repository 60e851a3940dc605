"""``python -m wattwise.cli`` — the same as the ``wattwise`` command."""

from wattwise.cli.main import app

app()
