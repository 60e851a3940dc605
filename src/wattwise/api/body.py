"""Read a JSON request body without trusting its size, its syntax or its text."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import HTTPException, Request, status
from pydantic import BaseModel, Field, field_validator

from wattwise.api.errors import MAX_ID
from wattwise.domain.limits import MAX_BATCH

#: a row's id as a body names it: a whole number (``true`` is not site 1) that an integer
#: column holds (past ``MAX_ID`` PostgreSQL refuses it)
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]


async def read_json(request: Request, max_bytes: int) -> Any:
    """The parsed body; 413 past ``max_bytes`` (checked while streaming), 400 for broken JSON."""
    return decode_json(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body; 413 past ``max_bytes``, checked while streaming (a declared size first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """The parsed body; 422 when empty, 400 for broken JSON."""
    if not body.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="body: empty, send a reading")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"body: not valid JSON ({exc})") from exc


def readings_payload(payload: Any) -> list[Any]:
    """One reading or an array of at most ``MAX_BATCH``."""
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_BATCH:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"body: {len(items)} readings; send at most {MAX_BATCH} per request",
        )
    if not items:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="body: empty array")
    return items


def _nul_in(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(key) or _nul_in(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_nul_in(item) for item in value)
    return False


class BodyIn(BaseModel):
    """A request body of the REST API: its text may hold no NUL character, anywhere.

    JSON carries one as ``\\u0000``; PostgreSQL cannot store it in a text column (a 500 from
    deep in the store) and SQLite stores it silently, so the same request would answer
    differently on the two databases. Refused up front, it is a 422 naming the field.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _nul_in(value):
            raise ValueError("must not contain the NUL character (\\u0000)")
        return value


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=f"body: larger than {max_bytes} bytes; split the batch",
    )
