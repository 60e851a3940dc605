"""The live detectors' tunables come from the environment (``WATTWISE_DETECTOR_*``), as the
other settings do: ``wattwise serve`` runs its detectors with them, and refuses a value they
could not work with before anything starts, naming the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from support import cli_process, free_port, wait_until
from wattwise.cli.main import app as cli
from wattwise.config import Settings
from wattwise.runtime import start_services
from wattwise.store.devices import create_device, set_role
from wattwise.store.sites import create_site
from wattwise.store.users import create_token, create_user

T0 = 1_763_942_400_000  # 2025-11-24 00:00 UTC
MINUTE = 60_000


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("WATTWISE_DETECTOR_REFRESH_S", "0", "must be a number of seconds above 0, got 0.0"),
        ("WATTWISE_DETECTOR_REFRESH_S", "soon", "Input should be a valid number"),
        (
            "WATTWISE_DETECTOR_ANOMALY_MIN_ROWS",
            "50",
            "must be at least 100 (the fewest readings the anomaly model learns from), got 50",
        ),
        ("WATTWISE_DETECTOR_ANOMALY_HISTORY_DAYS", "0", "must be at least 1 (a day), got 0"),
        ("WATTWISE_DETECTOR_ANOMALY_MERGE_MS", "-1", "must be at least 0 (milliseconds), got -1"),
        ("WATTWISE_DETECTOR_THEFT_MIN_DAYS", "0", "must be at least 1 (a day), got 0"),
        ("WATTWISE_DETECTOR_THEFT_HISTORY_DAYS", "7", "must be more than detector_theft_min_days (7)"),
        ("WATTWISE_DETECTOR_BALANCE_INTERVAL_MS", "90000", "must be a whole number of minutes in milliseconds"),
        ("WATTWISE_DETECTOR_BALANCE_INTERVAL_MS", "0", "from 60000 (1 min) to 86400000 (a day), got 0"),
        ("WATTWISE_DETECTOR_BALANCE_INTERVAL_MS", str(2 * 86_400_000), "to 86400000 (a day)"),
        (
            "WATTWISE_DETECTOR_BALANCE_LEARN_INTERVALS",
            "5",
            "must be at least 10 (the fewest intervals the base is learned from), got 5",
        ),
        ("WATTWISE_DETECTOR_BACKLOG_MAX", "0", "must be at least 1 (a reading), got 0"),
    ],
)
def test_serve_refuses_a_detector_setting_it_cannot_work_with(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    answer = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve"], env={variable: value})
    assert answer.exit_code == 2, answer.output
    assert answer.output.startswith(f"{variable}: "), answer.output
    assert says in answer.output
    assert "Traceback" not in answer.output
    assert not (tmp_path / "wattwise.db").exists()  # nothing started


def test_the_theft_history_is_checked_against_the_minimum_it_is_given() -> None:
    env = {"WATTWISE_DETECTOR_THEFT_MIN_DAYS": "30", "WATTWISE_DETECTOR_THEFT_HISTORY_DAYS": "20"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises(
            ValueError, match=r"detector_theft_history_days\n.*more than detector_theft_min_days \(30\)"
        ):
            Settings()
        patch.setenv("WATTWISE_DETECTOR_THEFT_HISTORY_DAYS", "31")
        assert Settings().detector_theft_history_days == 31


def balanced_site(hours: int) -> list[list[dict[str, Any]]]:
    """A main meter and two sub-meters every minute from T0; the main reads the sub-meters
    plus an unmetered 100 W base (8.3 Wh in 5 min, 25 Wh in 15)."""
    rng = np.random.default_rng(7)
    minute = np.arange(hours * 60)
    subs = [500 + 300 * np.sin(minute / 37.0) ** 2 + rng.normal(0, 10, minute.size), 300 + 200 * (minute % 90 < 40)]
    main = subs[0] + subs[1] + 100 + rng.normal(0, 5, minute.size)
    ts = T0 + MINUTE * (minute + 1)
    return [
        [{"ts": int(t), "power": round(float(p), 1)} for t, p in zip(ts, watts, strict=True)] for watts in [main, *subs]
    ]


def test_serve_balances_over_the_interval_set_in_the_environment(tmp_path: Path) -> None:
    svc = start_services(Settings(data_dir=tmp_path))
    with svc.engine.begin() as conn:
        site = create_site(conn, "Hostel")
        main, *subs = (create_device(conn, site_id=site.id, name=n) for n in ("main", "kitchen", "rooms"))
        set_role(conn, main.device.id, role="main")
        for sub in subs:
            set_role(conn, sub.device.id, role="sub", parent_id=main.device.id)
        token = create_token(conn, create_user(conn, "admin", "admin-password", is_admin=True).id, "tests")
    svc.close()
    port = free_port()
    env = {"WATTWISE_DETECTOR_BALANCE_INTERVAL_MS": "300000", "WATTWISE_DETECTOR_BALANCE_LEARN_INTERVALS": "12"}
    started = lambda lines: "Application startup complete" in "".join(lines)  # noqa: E731
    with cli_process(["--data-dir", str(tmp_path), "serve", "--port", str(port)], started, env=env):
        url = f"http://127.0.0.1:{port}"
        readings = balanced_site(hours=3)
        for start in range(0, 180, 60):  # an hour at a time, as a gateway catching up would
            for meter, rows in zip((main, *subs), readings, strict=True):
                posted = httpx.post(
                    f"{url}/api/v1/ingest",
                    json=rows[start : start + 60],
                    headers={"Authorization": f"Bearer {meter.key}"},
                )
                assert posted.json()["accepted"] == 60, posted.text

        def balance() -> dict[str, Any]:
            answer = httpx.get(
                f"{url}/api/v1/devices/{main.device.id}/balance", headers={"Authorization": f"Bearer {token}"}
            )
            return answer.json()  # type: ignore[no-any-return]

        wait_until(lambda: balance()["state"] == "watching", timeout=60)
        status = balance()
    assert status["interval_ms"] == 5 * MINUTE
    assert 6 < status["base_wh_per_interval"] < 11  # 100 W for 5 min, not the default 15 min's 25 Wh
