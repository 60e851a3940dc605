"""Errors the store raises for callers to turn into 4xx answers or CLI messages."""


class NotFound(LookupError):
    """The named site, device or user does not exist."""


class Conflict(ValueError):
    """The change would break a uniqueness rule (e.g. two meters with one name in a site)."""
