"""The store's errors as HTTP answers that say what is wrong: one mapping for every route."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status

from wattwise.store.errors import Conflict, NotFound


def http_error(exc: NotFound | Conflict | ValueError) -> HTTPException:
    """404 for what does not exist, 409 for a clash, 422 for a bad value."""
    if isinstance(exc, NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if isinstance(exc, Conflict):
        return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except (NotFound, Conflict, ValueError) as exc:
        raise http_error(exc) from exc
