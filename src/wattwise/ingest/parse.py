"""Turn what a meter sent into Readings, or into errors that name the field and why.

Each reading of a batch is judged on its own, so one bad reading never costs the good ones.
The pydantic model is also the published contract: it is what the OpenAPI document shows.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import ValidationError as CoreValidationError
from pydantic_core import core_schema as cs

from wattwise.domain.limits import MAX_BATCH, MAX_FUTURE_MS, MIN_TS_MS, RANGES, check_ts, check_values
from wattwise.domain.readings import METRICS, Reading
from wattwise.domain.timestamps import calendar_error, epoch_ms


class ReadingIn(BaseModel):
    """One reading as a meter sends it. At least one of ``power`` or ``current`` is required."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=True)

    ts: int | float | str | None = Field(
        default=None,
        description="RFC 3339 time with offset, or Unix time in seconds or milliseconds; "
        "the server's clock when absent.",
        examples=["2026-11-24T10:15:00+05:30", 1764000000, 1764000000000],
    )
    voltage: float | None = Field(default=None, description="RMS voltage, V")
    current: float | None = Field(default=None, description="RMS current, A")
    power: float | None = Field(default=None, description="Active power, W (negative = export)")
    energy: float | None = Field(default=None, description="The meter's cumulative counter, Wh")
    frequency: float | None = Field(default=None, description="Grid frequency, Hz")
    pf: float | None = Field(default=None, description="Power factor, -1…1")

    @field_validator("ts", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a time, not true/false")
        return value


def ts_to_ms(value: int | float | str | None, now_ms: int) -> int:
    """Milliseconds since the epoch from any accepted form of ``ts``."""
    if value is None:
        return now_ms
    if isinstance(value, str):
        try:
            return ts_to_ms(float(value), now_ms)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"ts: {value!r} is not RFC 3339 or a Unix time") from exc
        if parsed.tzinfo is None:
            raise ValueError(f"ts: {value!r} has no time zone offset (add Z or +hh:mm)")
        return int(parsed.timestamp() * 1000)
    if not math.isfinite(value):
        raise ValueError(f"ts: {value} is not a finite number")
    return epoch_ms(value)


def named_time(name: str, value: str, default: int) -> int:
    """A time a person gives (a query's ``since``, a command's ``--until``) in epoch ms, by
    the rules of ``ts``; a ValueError names it when it is none or lies outside years 1-9999."""
    try:
        ms = ts_to_ms(value, default)
    except ValueError as exc:
        raise ValueError(str(exc).replace("ts:", f"{name}:", 1)) from exc
    if (error := calendar_error(name, ms)) is not None:
        raise ValueError(error)
    return ms


def _plain(item: dict[str, Any], device_id: int, now_ms: int) -> Reading | None:
    """The common case — numbers within range — without building a model; None: look closer.

    It accepts nothing that ``parse_reading``'s full path would refuse, so the full path
    (which explains what is wrong) only runs for unusual or bad readings.
    """
    values: dict[str, float | None] = {}
    for metric in METRICS:
        value = item.get(metric)
        if value is not None:
            kind = type(value)
            if kind is not float and kind is not int:
                return None
            rng = RANGES[metric]
            if not rng.low <= value <= rng.high:  # also False for NaN
                return None
        values[metric] = value
    if values["power"] is None and values["current"] is None:
        return None
    ts = item.get("ts")
    if ts is not None and not ((type(ts) is int or type(ts) is float) and -1e15 < ts < 1e15):
        return None
    ts_ms = _plain_ts(ts, now_ms)
    if ts_ms is None:
        return None
    return Reading(device_id=device_id, ts=ts_ms, **values)


def _plain_ts(ts: float | None, now_ms: int) -> int | None:
    """A plain reading's time (a number, or absent: now) in epoch ms; None when it lies
    before 2000 or further ahead than a meter's clock may run (``check_ts`` says why)."""
    ts_ms = now_ms if ts is None else epoch_ms(ts)
    return ts_ms if MIN_TS_MS <= ts_ms <= now_ms + MAX_FUTURE_MS else None


def _plain_metric(metric: str) -> CoreSchema:
    """A number within the metric's range, or null/absent: what ``_plain`` lets through."""
    rng = RANGES[metric]
    number = cs.float_schema(strict=True, ge=rng.low, le=rng.high, allow_inf_nan=False)
    return cs.with_default_schema(cs.nullable_schema(number), default=None)


_PLAIN_TS = cs.with_default_schema(
    cs.nullable_schema(
        cs.union_schema(
            [
                cs.int_schema(strict=True, gt=-(10**15), lt=10**15),
                cs.float_schema(strict=True, gt=-1e15, lt=1e15, allow_inf_nan=False),
            ]
        )
    ),
    default=None,
)
# Straight into Reading: no dict per reading. ``device_id`` and ``ts`` are set afterwards; any
# key but ts and the metrics (or a device_id sent by the meter) sends the body the long way.
_PLAIN_READING = cs.dataclass_schema(
    Reading,
    cs.dataclass_args_schema(
        "Reading",
        [
            cs.dataclass_field("device_id", cs.with_default_schema(cs.int_schema(), default=0), init=False),
            cs.dataclass_field("ts", _PLAIN_TS),
            *(cs.dataclass_field(m, _plain_metric(m)) for m in METRICS),
        ],
        extra_behavior="forbid",
    ),
    ["device_id", "ts", *METRICS],
    slots=True,
)
_PLAIN_ONE = SchemaValidator(_PLAIN_READING)
_PLAIN_MANY = SchemaValidator(cs.list_schema(_PLAIN_READING, min_length=1, max_length=MAX_BATCH))


def plain_body(body: bytes, device_id: int, now_ms: int) -> list[Reading] | None:
    """Every reading of a JSON body in one pydantic-core call when all are plain; None: look closer.

    Parsing to Python objects and then judging each reading in Python cost more per reading
    than storing it. This accepts exactly what ``_plain`` accepts (numbers, or null, within
    range; ts absent or a number; power or current present; no other key), so a body it
    refuses — for any reason, even one bad reading — goes item by item through
    ``parse_reading``, which keeps the good readings and names what is wrong with the others.
    """
    try:
        if body.lstrip()[:1] == b"[":
            readings: list[Reading] = _PLAIN_MANY.validate_json(body)
        else:
            readings = [_PLAIN_ONE.validate_json(body)]
    except CoreValidationError:
        return None
    for reading in readings:
        if reading.power is None and reading.current is None:
            return None
        ts_ms = _plain_ts(reading.ts, now_ms)
        if ts_ms is None:
            return None
        reading.ts = ts_ms
        reading.device_id = device_id
    return readings


def parse_reading(item: Any, device_id: int, now_ms: int) -> Reading | list[str]:
    """A Reading, or the list of reasons it cannot be one."""
    if type(item) is dict and (plain := _plain(item, device_id, now_ms)) is not None:
        return plain
    if not isinstance(item, dict):
        return [f"reading: expected a JSON object, got {_json_kind(item)}"]
    try:
        model = ReadingIn.model_validate(item)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in err['loc']) or 'reading'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
    values = {m: getattr(model, m) for m in METRICS}
    errors = check_values(values)
    try:
        ts = ts_to_ms(model.ts, now_ms)
    except ValueError as exc:
        errors.append(str(exc))
    else:
        if (ts_error := check_ts(ts, now_ms)) is not None:
            errors.append(ts_error)
    if errors:
        if values["power"] is None and values["current"] is None and (unknown := [k for k in item if k not in FIELDS]):
            # another shape of reading (a Tasmota payload, the seed firmware's "Voltage"): say
            # which keys were not understood, not only that power and current are missing
            names = ", ".join(repr(str(k)[:40]) for k in unknown[:10])
            errors.append(f"reading: {names} are not fields of a reading; the fields are {', '.join(FIELDS)}")
        return errors
    return Reading(device_id=device_id, ts=ts, **values)


#: the keys of a reading (``ReadingIn``)
FIELDS = ("ts", *METRICS)


def _json_kind(value: Any) -> str:
    """What JSON calls the type of a value parsed from it, for a message to a meter's author."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__
