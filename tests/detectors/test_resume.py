"""Detectors that start where others stopped (a restart, a crash, a standby taking the lead)
scan the readings stored while none ran, and find nothing twice.

The streams are those of ``test_backlog_bound`` (kettle switchings, a sag, a swell, a
low-frequency spell, a grid surge); what meters find when one detector keeps up all along
is the reference.
"""

from __future__ import annotations

from typing import Any

import pytest

from detectors.live_world import LiveWorld, live_world
from detectors.test_backlog_bound import READINGS, meters, post_interleaved, stored, stream
from wattwise.detectors import Detectors, DetectorSettings
from wattwise.runtime import Services

STOP_AT = 250  # the detectors stop after this many readings of each stream
BACK_AT = 450  # and are back when this many are stored


def nothing() -> None:
    pass


def reference(live: LiveWorld, streams: list[list[dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """What meters find when the detectors keep up with the whole streams."""
    kept_up = meters(live, len(streams), "kept up")
    post_interleaved(live, [k for _, k in kept_up], streams, nothing)
    live.detectors.flush()
    found: list[list[tuple[Any, ...]]] = stored(live.world.services, [d for d, _ in kept_up])
    return found


def with_a_gap(
    live: LiveWorld, streams: list[list[dict[str, Any]]], crash: bool, stop_at: int = STOP_AT, back_at: int = BACK_AT
) -> list[list[tuple[Any, ...]]]:
    """What new meters find when their detectors stop (or crash) after ``stop_at`` readings
    and are back, fresh, when ``back_at`` are stored."""
    gap = meters(live, len(streams), f"gap {stop_at}-{back_at} {'crash' if crash else 'stop'}")
    keys = [k for _, k in gap]
    post_interleaved(live, keys, [s[:stop_at] for s in streams], nothing)
    live.detectors.flush()
    if crash:
        # kill -9: nothing is saved on the way out (`test_serve_processes` kills a real
        # process; here the detectors' own exit is cut short)
        live.detectors._save_states = nothing
    live.detectors()  # the leader stops; the standby has not taken over yet
    post_interleaved(live, keys, [s[stop_at:back_at] for s in streams], nothing)
    live.detectors = Detectors(live.world.services, DetectorSettings()).start()
    post_interleaved(live, keys, [s[back_at:] for s in streams], nothing)
    live.detectors.flush()
    found: list[list[tuple[Any, ...]]] = stored(live.world.services, [d for d, _ in gap])
    return found


def test_readings_stored_while_no_detector_ran_are_scanned_when_one_starts(services: Services) -> None:
    streams = [stream(seed) for seed in range(2)]
    with live_world(services) as live:
        expected = reference(live, streams)
        found = with_a_gap(live, streams, crash=False)
        # the swell (reading 300) and the second kettle use (350) came while none ran
        assert all(any(row[0] == "swell" for row in rows) for rows in found)
        assert found == expected
        progress = live.detectors.progress
        assert progress.reread >= 2 * (BACK_AT - STOP_AT)
        assert progress.backlog == 0 and progress.processed == 2 * (READINGS - STOP_AT)


def test_a_crashed_detector_resumes_from_its_last_finding_and_repeats_none(services: Services) -> None:
    """Killed, a detector saves nothing on its way out: the next one goes on from the last
    batch whose findings were stored (with the state that found them), so the readings
    scanned since are scanned again and what they found is not stored a second time."""
    streams = [stream(seed) for seed in range(2)]
    with live_world(services) as live:
        expected = reference(live, streams)
        found = with_a_gap(live, streams, crash=True)
        # read back from the last batch with a finding (the sag ends at reading 203), not
        # from where the crashed one had got to (250)
        assert live.detectors.progress.reread > 2 * (BACK_AT - STOP_AT)
        assert found == expected


def test_a_restart_after_a_clean_stop_reads_nothing_back(services: Services) -> None:
    streams = [stream(seed) for seed in range(1)]
    with live_world(services) as live:
        expected = reference(live, streams)
        live.restart()
        live.detectors.flush()
        assert live.detectors.progress.reread == 0
        again = meters(live, 1, "again")
        post_interleaved(live, [k for _, k in again], streams, nothing)
        live.detectors.flush()
        assert stored(services, [d for d, _ in again]) == expected


def test_a_sag_a_swell_a_kettle_and_a_low_frequency_going_on_across_a_restart_or_a_crash_are_found_once(
    services: Services,
) -> None:
    """The grid detector's tail (a sag still going on) and the anomaly engine's place are kept
    with the NILM state: detectors restarted, or crashed, in the middle of an episode find it
    as detectors that ran on would, with its true start."""
    streams = [stream(seed) for seed in range(1)]
    with live_world(services) as live:
        expected = reference(live, streams)
        for inside in (201, 301, 365, 405):  # the sag, the swell, the second kettle use, the 49.3 Hz spell
            for crash in (False, True):
                found = with_a_gap(live, streams, crash, stop_at=inside, back_at=inside)
                assert found == expected, (inside, crash)


def test_after_more_than_a_day_without_detectors_only_the_last_day_is_read_back(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Detectors off for two days: reading all of it back would hold up every meter's live
    readings; the last day is scanned and the log names the meter and the gap."""
    day_ms, step_ms = 86_400_000, 600_000
    with live_world(services) as live:
        ((device_id, key),) = meters(live, 1, "away")
        t0 = stream(0)[0]["ts"]
        post_interleaved(live, [key], [[{"ts": t0, "power": 400.0, "voltage": 230.0}]], nothing)
        live.detectors.flush()
        live.detectors()
        away = [{"ts": t0 + step_ms * i, "power": 400.0, "voltage": 230.0} for i in range(1, 289)]  # 2 days
        post_interleaved(live, [key], [away], nothing)
        live.detectors = Detectors(services, DetectorSettings()).start()
        live.detectors.flush()
        last = away[-1]["ts"]
        assert live.detectors.progress.reread == sum(1 for r in away if r["ts"] >= last - day_ms)
        assert any(f"meter {device_id}: 2.0 days of readings stored" in r.getMessage() for r in caplog.records)
