# Overload cut-off, after Tasmota's MaxPower: power above max_power_w for hold_s cuts the
# relay; after window_s it is switched on again to try; after `retries` such tries the
# relay stays off until a relay_on command. A manual relay_off is never undone by it.


class OverloadGuard:
    def __init__(self, relay, max_power_w=0, hold_s=10, window_s=30, retries=3):
        self.relay = relay
        self.max_power_w = max_power_w  # 0: no protection
        self.hold_ms = int(hold_s * 1000)
        self.window_ms = int(window_s * 1000)
        self.retries = retries
        self.over_since = None
        self.tripped_at = None
        self.tries = 0
        self.locked = False
        self.manual_off = False
        self.ok_since = None

    def check(self, power, now_ms, diff):
        """Feed one power reading; returns "cut", "retry", "locked" or None (nothing done)."""
        if self.max_power_w <= 0 or self.manual_off:
            return None
        if self.tripped_at is not None:
            if self.locked or diff(now_ms, self.tripped_at) < self.window_ms:
                return None
            self.tripped_at = None
            self.over_since = None
            self.relay.on()
            return "retry"
        if power <= self.max_power_w:
            self.over_since = None
            if self.tries:
                if self.ok_since is None:
                    self.ok_since = now_ms
                elif diff(now_ms, self.ok_since) >= self.window_ms:
                    self.tries = 0  # behaved for a whole window after a retry: forgive
            return None
        self.ok_since = None
        if self.over_since is None:
            self.over_since = now_ms
        if diff(now_ms, self.over_since) < self.hold_ms:
            return None
        self.relay.off()
        self.tripped_at = now_ms
        self.tries += 1
        if self.tries > self.retries:
            self.locked = True
            return "locked"
        return "cut"

    def command(self, on):
        """A user's relay command: it overrides and clears the protection state."""
        self.over_since = None
        self.tripped_at = None
        self.tries = 0
        self.locked = False
        self.manual_off = not on
        if on:
            self.relay.on()
        else:
            self.relay.off()
