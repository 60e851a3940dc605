"""Make and hash the secrets we hand out (device keys, API tokens) — only hashes are stored."""

from __future__ import annotations

import base64
import hashlib
import secrets

MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd's default for $7$ (PBKDF2-SHA512)


def new_secret(prefix: str) -> str:
    """A random key that says what it is (``wwd_`` device, ``wwt_`` user token)."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def sha256_hex(secret: str) -> str:
    """Lookup hash: keys are long and random, so a fast unsalted hash is safe and O(1) to find."""
    return hashlib.sha256(secret.encode()).hexdigest()


def mosquitto_hash(secret: str, *, salt: bytes | None = None) -> str:
    """Hash ``secret`` in Mosquitto's password-file format so the broker can check device keys."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, MOSQUITTO_ITERATIONS, 64)
    return f"$7${MOSQUITTO_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
