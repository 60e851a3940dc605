"""The one-call fast path for JSON bodies accepts only what the reading-by-reading path accepts."""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from wattwise.domain.limits import RANGES
from wattwise.domain.readings import METRICS
from wattwise.ingest.parse import plain_body
from wattwise.ingest.pipeline import validate

NOW = 1_764_000_000_000
METER = 7

_JUNK = st.one_of(st.booleans(), st.text(max_size=3), st.just("12"), st.integers(-(10**13), 10**13), st.floats())


def _metric(metric: str) -> st.SearchStrategy[Any]:
    """Mostly believable values, often right at or just past the range's edges, sometimes junk."""
    rng = RANGES[metric]
    edges = [rng.low, rng.high, math.nextafter(rng.low, -math.inf), math.nextafter(rng.high, math.inf)]
    return st.one_of(
        st.floats(min_value=rng.low, max_value=rng.high),
        st.integers(min_value=math.ceil(rng.low), max_value=math.floor(rng.high)),
        st.sampled_from(edges),
        st.none(),
        _JUNK,
    )


_TS = st.one_of(
    st.integers(min_value=-(10**16), max_value=10**16),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e16, max_value=1e16),
    st.sampled_from(
        [NOW, NOW // 1000, NOW + 300_000, NOW + 300_001, NOW / 1000 + 300.0, NOW / 1000 + 300.0006, NOW / 1000 + 0.5]
    ),
    st.sampled_from([10**11, 10**11 - 1, 1e11, 1e11 - 0.5, 0, -1, -0.0004, -0.0006, -0.001, 10**15 - 1, -(10**15) + 1]),
    st.none(),
    _JUNK,
)
_READING = st.fixed_dictionaries(
    {"power": st.one_of(st.floats(-1e6, 1e6), st.none())},
    optional={
        "ts": _TS,
        **{m: _metric(m) for m in METRICS if m != "power"},
        "note": st.just("x"),
        "device_id": st.just(3),
    },
)
_SMALL = st.integers(min_value=-1000, max_value=1000)
_ITEM = st.one_of(_READING, _READING, _READING, _SMALL, st.lists(_SMALL, max_size=2))


def _slow(body: bytes) -> tuple[list[Any], int]:
    payload = orjson.loads(body)
    good, bad = validate(payload if isinstance(payload, list) else [payload], METER, NOW)
    return good, len(bad)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.lists(_ITEM, max_size=6), _ITEM))
def test_whatever_the_fast_path_accepts_the_full_path_accepts_with_the_same_readings(payload: Any) -> None:
    body = orjson.dumps(payload)
    fast = plain_body(body, METER, NOW)
    good, rejected = _slow(body)
    if fast is not None:
        assert rejected == 0
        assert fast == good
    else:
        event("declined")


def test_a_well_formed_batch_takes_the_fast_path_and_an_odd_one_does_not() -> None:
    batch = [
        {"ts": NOW // 1000 + i, "voltage": 230.1, "current": 1.5, "power": 345, "energy": 1000.5 + i, "pf": 0.98}
        for i in range(1000)
    ]
    fast = plain_body(orjson.dumps(batch), METER, NOW + 1000_000)
    assert fast is not None and len(fast) == 1000
    assert fast[0].ts == NOW and fast[0].device_id == METER and fast[0].power == 345.0
    one = plain_body(b' {"power": 5}', METER, NOW)
    assert one is not None and one[0].ts == NOW  # no ts: the server's clock
    for odd in (
        [*batch[:3], {"ts": NOW // 1000, "power": "5"}],  # a string
        [*batch[:3], {"ts": NOW // 1000, "voltage": 230.0}],  # neither power nor current
        [*batch[:3], {"ts": NOW // 1000, "power": 5, "frequency": 30}],  # out of range
        [*batch[:3], {"ts": "2025-11-24T16:00:00Z", "power": 5}],  # RFC 3339: the full path
        [*batch[:3], {"ts": NOW // 1000, "power": 5, "relay": "on"}],  # an extra key
        [*batch[:3], 5],
        [],
    ):
        assert plain_body(orjson.dumps(odd), METER, NOW + 1000_000) is None
    assert plain_body(b"[{]", METER, NOW) is None
    assert plain_body(b"", METER, NOW) is None
    assert plain_body(orjson.dumps([{"power": 1.0}] * 10_001), METER, NOW) is None  # over MAX_BATCH: 413


_TS_EDGES = [
    NOW + 300_000,  # the last millisecond allowed ahead of the server's clock
    NOW + 300_001,
    NOW / 1000 + 300.0,
    NOW / 1000 + 300.0006,
    10**11,  # the smallest millisecond time
    10**11 - 1,  # seconds: far in the future
    1e11 - 0.5,
    0,
    -0.0004,  # rounds to 0 ms
    -0.0006,  # -1 ms: before 1970
    -0.001,
    10**15 - 1,
]


def test_numeric_timestamps_at_the_edges_are_judged_as_the_full_path_judges_them() -> None:
    for ts in _TS_EDGES:
        body = orjson.dumps([{"ts": ts, "power": 1.0}])
        fast = plain_body(body, METER, NOW)
        good, rejected = _slow(body)
        assert (fast is not None) == (rejected == 0), ts
        assert fast is None or fast == good, ts
