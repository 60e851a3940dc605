"""The server's clock in the unit the store uses."""

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
