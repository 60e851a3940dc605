"""Sign in and out of the browser: a session is a personal token kept in an HttpOnly cookie.

The dashboard's sign-in page is a plain HTML form posting here, so signing in works before
any script has loaded and password managers recognise it. Scripts may post JSON instead.
Because the cookie holds an ordinary API token, the REST API and the live WebSocket accept
a signed-in browser exactly as they accept ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse

from wattwise.api.body import read_json
from wattwise.api.deps import SESSION_COOKIE, ServicesDep
from wattwise.store.tokens import SESSION_TOKEN_NAME, end_session
from wattwise.store.users import authenticate, create_token

router = APIRouter(tags=["accounts"])

SESSION_MAX_AGE_S = 30 * 86_400
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() in _FORM_TYPES


async def _credentials(request: Request, max_bytes: int) -> dict[str, str]:
    if _is_form(request):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    body: Any = await read_json(request, max_bytes)
    if not isinstance(body, dict):
        raise HTTPException(422, detail="body: send {'username': …, 'password': …}")
    return {k: v for k, v in body.items() if isinstance(v, str)}


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@router.post("/api/v1/session", summary="Sign in (sets the session cookie)")
async def sign_in(request: Request, services: ServicesDep) -> Response:
    """Check ``username`` and ``password`` (form or JSON) and set the ``wattwise_session`` cookie.

    A form post is answered with a redirect: to ``next`` on success, back to ``/login`` with
    an error otherwise. A JSON post is answered with 200 or 401.
    """
    fields = await _credentials(request, services.settings.max_body_bytes)
    target = safe_next(fields.get("next"))
    with services.engine.begin() as conn:
        user = authenticate(conn, fields.get("username", "").strip(), fields.get("password", ""))
        token = None if user is None else create_token(conn, user.id, SESSION_TOKEN_NAME)
    if token is None:
        if _is_form(request):
            return RedirectResponse(f"/login?error=1&next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong username or password")
    response: Response = (
        RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
        if _is_form(request)
        else Response(status_code=status.HTTP_204_NO_CONTENT)
    )
    set_session_cookie(response, request, token)
    return response


@router.post("/api/v1/session/logout", summary="Sign out (ends the session)")
def sign_out(request: Request, services: ServicesDep) -> Response:
    """End the browser's session (the token in its cookie stops working) and clear the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with services.engine.begin() as conn:
            end_session(conn, token)
    response: Response = (
        RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
        if _is_form(request) or "text/html" in request.headers.get("accept", "")
        else Response(status_code=status.HTTP_204_NO_CONTENT)
    )
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
