"""What routes declare they need: the services, an authenticated meter, a signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status

from wattwise.runtime import Services
from wattwise.store.users import Access, access_for, user_for_token

SESSION_COOKIE = "wattwise_session"


# Dependencies are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker
# thread, and two thread hops per upload cost more than the work (a cached key lookup).


async def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def unauthorized(detail: str) -> HTTPException:
    """401 with the challenge every client library understands."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def device_for_request(request: Request, services: ServicesDep) -> int:
    """The meter whose key is in ``Authorization: Bearer``, ``X-Device-Key`` or ``?key=``."""
    authorization = request.headers.get("authorization")
    key = bearer(authorization) or request.headers.get("x-device-key") or request.query_params.get("key")
    if not key:
        if authorization:  # a key sent bare, as many firmware examples do
            raise unauthorized(
                "Authorization: put the word Bearer before the key ('Authorization: Bearer <device key>')"
            )
        raise unauthorized("missing device key: send 'Authorization: Bearer <device key>'")
    device_id = services.pipeline.authenticate(key)
    if device_id is None:
        raise unauthorized("unknown or revoked device key")
    return device_id


DeviceDep = Annotated[int, Depends(device_for_request)]


def access_for_token(services: Services, token: str | None) -> Access | None:
    if not token:
        return None
    with services.engine.connect() as conn:
        user = user_for_token(conn, token)
        return None if user is None else access_for(conn, user)


def user_token(request: Request | WebSocket) -> str | None:
    """A personal API token from the header, the session cookie or (WebSocket) ``?token=``."""
    return (
        bearer(request.headers.get("authorization"))
        or request.cookies.get(SESSION_COOKIE)
        or request.query_params.get("token")
    )


def current_access(request: Request, services: ServicesDep) -> Access:
    access = access_for_token(services, user_token(request))
    if access is None:
        raise unauthorized("sign in: send 'Authorization: Bearer <API token>'")
    return access


AccessDep = Annotated[Access, Depends(current_access)]
