"""Personal API tokens and browser sessions (a session is a token named "browser session")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from wattwise.store.schema import api_tokens
from wattwise.store.secrets import sha256_hex

SESSION_TOKEN_NAME = "browser session"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a user may know about one of their tokens: never the token itself."""

    id: int
    name: str
    created_ms: int


def list_tokens(conn: Connection, user_id: int, *, include_sessions: bool = False) -> list[TokenInfo]:
    query = select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.created_ms).where(api_tokens.c.user_id == user_id)
    if not include_sessions:
        query = query.where(api_tokens.c.name != SESSION_TOKEN_NAME)
    rows = conn.execute(query.order_by(api_tokens.c.created_ms, api_tokens.c.id))
    return [TokenInfo(id=int(r.id), name=str(r.name), created_ms=int(r.created_ms)) for r in rows]


def revoke_token(conn: Connection, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False if they have no token with that id."""
    result = conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id))
    return result.rowcount > 0


def end_session(conn: Connection, token: str) -> None:
    """Forget a token by its value (signing out); unknown values are ignored."""
    conn.execute(delete(api_tokens).where(api_tokens.c.token_hash == sha256_hex(token)))
