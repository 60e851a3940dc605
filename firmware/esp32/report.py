# Report by exception: send a reading when it differs enough from the last one sent,
# or when the heartbeat is due, so a steady load costs one message per heartbeat.


class ReportFilter:
    def __init__(self, power_w=5.0, power_pct=5.0, voltage_v=3.0, current_a=0.05, heartbeat_s=60):
        self.power_w = power_w
        self.power_pct = power_pct
        self.voltage_v = voltage_v
        self.current_a = current_a
        self.heartbeat_ms = int(heartbeat_s * 1000)
        self.last = None
        self.last_ms = 0

    def reason(self, reading, now_ms, diff):
        """Why ``reading`` must be sent now ("first", "power", …, "heartbeat"), or None."""
        last = self.last
        if last is None:
            return "first"
        dp = abs(reading["power"] - last["power"])
        if dp > self.power_w and dp > last["power"] * self.power_pct / 100:
            return "power"
        if abs(reading["voltage"] - last["voltage"]) > self.voltage_v:
            return "voltage"
        if abs(reading["current"] - last["current"]) > self.current_a:
            return "current"
        if reading.get("alarm") != last.get("alarm"):
            return "alarm"
        if diff(now_ms, self.last_ms) >= self.heartbeat_ms:
            return "heartbeat"
        return None

    def sent(self, reading, now_ms):
        self.last = reading
        self.last_ms = now_ms
