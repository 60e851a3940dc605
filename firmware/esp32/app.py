# The meter's main loop: read the PZEM, protect the load, report by exception, buffer in
# flash while offline, carry out commands once, check OTA manifests, feed the watchdog.
# Every decision is printed as one JSON line (the serial console on a board).
import json
import time

import hw
import ota
import overload
import pzem
import report
import ring
import uplink

DEFAULTS = {
    "device_id": None,
    "key": "",
    "transport": "http",
    "server": "http://192.168.1.10:8000",
    "mqtt": {"host": "192.168.1.10", "port": 1883, "keepalive": 30},
    "wifi": {"ssid": "", "password": ""},
    "pzem": {"uart": 2, "tx": 17, "rx": 16, "address": 1, "timeout_ms": 200, "retries": 2},
    "poll_s": 1.0,
    "report": {"power_w": 5.0, "power_pct": 5.0, "voltage_v": 3.0, "current_a": 0.05, "heartbeat_s": 60},
    "buffer": {"path": "buffer.bin", "max_records": 5000, "batch": 50},
    "retry_s": 10.0,
    "http_timeout_s": 5,
    "relay": {"pin": 26, "active_low": True, "max_power_w": 0, "hold_s": 10, "window_s": 30, "retries": 3},
    "ota": {"manifest_url": "", "check_s": 3600},
    "watchdog_ms": 30000,
    "state_path": "state.json",
    "run_s": 0,
}
KEEP_DONE = 32  # command ids remembered across reboots


def load_config(path="config.json"):
    with open(path) as f:
        given = json.load(f)
    cfg = {}
    for k, v in DEFAULTS.items():
        if isinstance(v, dict):
            merged = dict(v)
            merged.update(given.get(k) or {})
            cfg[k] = merged
        else:
            cfg[k] = given.get(k, v)
    return cfg


def log(event, **fields):
    fields["event"] = event
    print(json.dumps(fields))


def ms(seconds):
    return int(seconds * 1000)


class App:
    def __init__(self, cfg):
        self.cfg = cfg
        self.wdt = hw.watchdog(cfg["watchdog_ms"])
        if not hw.connect_network(cfg["wifi"], self.wdt):
            log("wifi_failed")
        hw.sync_clock()
        p = cfg["pzem"]
        self.meter = pzem.Pzem(hw.open_uart(p), p["address"], p["timeout_ms"], p["retries"])
        r = cfg["relay"]
        self.relay = hw.relay(r)
        self.guard = overload.OverloadGuard(self.relay, r["max_power_w"], r["hold_s"], r["window_s"], r["retries"])
        self.filter = report.ReportFilter(**cfg["report"])
        b = cfg["buffer"]
        self.buffer = ring.Ring(b["path"], b["max_records"])
        self.dropped_seen = self.buffer.dropped
        if cfg["transport"] == "mqtt":
            m = cfg["mqtt"]
            self.link = uplink.MqttLink(m["host"], m["port"], cfg["device_id"], cfg["key"], m["keepalive"])
            self.link.retry_ms = ms(cfg["retry_s"])
            self.link.confirm_ms = min(ms(cfg["http_timeout_s"]), cfg["watchdog_ms"] // 3)
        else:
            self.link = uplink.HttpLink(cfg["server"], cfg["key"], cfg["http_timeout_s"])
        self.state = self._load_state()
        self.offline_until = None
        self.next_ota = time.ticks_ms()
        log(
            "boot",
            version=ota.current_version(),
            transport=cfg["transport"],
            buffered=len(self.buffer),
            dropped=self.buffer.dropped,
        )

    # -- commands, remembered in flash so a reboot never repeats one ---------------------

    def _load_state(self):
        try:
            with open(self.cfg["state_path"]) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"done": [], "results": {}, "pending": []}

    def _save_state(self):
        with open(self.cfg["state_path"], "w") as f:
            json.dump(self.state, f)

    def relay_state(self):
        return "on" if self.relay.value() else "off"

    def carry_out(self, command):
        cid = str(command.get("id"))
        if cid in self.state["done"]:
            if cid not in self.state["pending"]:
                self.state["pending"].append(cid)  # asked again: the result, not the action
                self._save_state()
            return
        action = command.get("action")
        ok, detail = True, ""
        if action in ("relay_on", "relay_off"):
            self.guard.command(action == "relay_on")
            detail = "relay switched " + action[6:]
        elif action == "reset_energy":
            try:
                self.meter.reset_energy()
                detail = "energy counter reset"
            except pzem.PzemError as exc:
                ok, detail = False, "energy reset failed: %s" % exc
        else:
            ok, detail = False, "unknown action %s" % action
        result = {"ok": ok, "relay": self.relay_state(), "detail": detail}
        self.state["done"] = (self.state["done"] + [cid])[-KEEP_DONE:]
        self.state["results"][cid] = result
        for old in list(self.state["results"]):
            if old not in self.state["done"]:
                del self.state["results"][old]
        self.state["pending"].append(cid)
        self._save_state()
        log("command", id=cid, action=action, ok=ok, relay=result["relay"], detail=detail)

    def report_results(self):
        for cid in list(self.state["pending"]):
            result = self.state["results"].get(cid)
            if result is None or self.link.report(cid, result):
                self.state["pending"].remove(cid)
                self._save_state()
                log("result_sent", id=cid)
            else:
                return False
        return True

    # -- readings ------------------------------------------------------------------------

    def flush(self, now):
        if self.offline_until is not None and time.ticks_diff(self.offline_until, now) > 0:
            return
        batch_size = self.cfg["buffer"]["batch"]
        while len(self.buffer):
            batch = self.buffer.peek(batch_size)
            try:
                delivered, commands, detail = self.link.send(batch)
            except OSError as exc:
                delivered, commands, detail = False, [], str(exc)
            if not delivered:
                if self.offline_until is None:
                    log("offline", detail=str(detail), buffered=len(self.buffer))
                self.offline_until = time.ticks_add(now, ms(self.cfg["retry_s"]))
                return
            self.buffer.drop(len(batch))
            if self.offline_until is not None:
                log("online", buffered=len(self.buffer))
                self.offline_until = None
            log("sent", n=len(batch), detail=str(detail))
            for command in commands:
                self.carry_out(command)
            self.wdt.feed()

    def measure(self, now):
        try:
            reading = self.meter.read()
        except pzem.PzemError as exc:
            log("meter_error", detail=str(exc))
            return
        action = self.guard.check(reading["power"], now, time.ticks_diff)
        if action:
            log("relay", state=self.relay_state(), reason=action, power=reading["power"])
        why = self.filter.reason(reading, now, time.ticks_diff)
        if why is None:
            return
        self.filter.sent(reading, now)
        sample = {"ts": hw.now_ms()}
        for k in ring.FIELDS:
            sample[k] = reading[k]
        self.buffer.append(sample)
        log("report", why=why, power=reading["power"], energy=reading["energy"])
        if self.buffer.dropped != self.dropped_seen:
            log("buffer_dropped", total=self.buffer.dropped)  # oldest reading overwritten
            self.dropped_seen = self.buffer.dropped

    def check_ota(self, manifest):
        outcome, detail = ota.check(manifest, self.wdt)
        log("ota", outcome=outcome, detail=detail)
        if outcome == "applied":
            hw.reset()

    def step(self):
        now = time.ticks_ms()
        self.flush(now)  # what is buffered goes first, so the ring has room for the new
        self.measure(now)
        self.flush(now)
        try:
            commands, manifests = self.link.poll()
        except OSError:
            commands, manifests = [], []
        for command in commands:
            self.carry_out(command)
        for manifest in manifests:
            self.check_ota(manifest)
        try:
            self.report_results()
        except OSError:
            pass
        url = self.cfg["ota"]["manifest_url"]
        if url and time.ticks_diff(now, self.next_ota) >= 0:
            self.next_ota = time.ticks_add(now, ms(self.cfg["ota"]["check_s"]))
            try:
                manifest = self.link.fetch_manifest(url)
            except (OSError, ValueError) as exc:
                manifest = None
                log("ota", outcome="error", detail=str(exc))
            if manifest:
                self.check_ota(manifest)
        self.wdt.feed()

    def run(self):
        start = time.ticks_ms()
        period = ms(self.cfg["poll_s"])
        run_ms = ms(self.cfg["run_s"])
        try:
            while not run_ms or time.ticks_diff(time.ticks_ms(), start) < run_ms:
                began = time.ticks_ms()
                self.step()
                left = period - time.ticks_diff(time.ticks_ms(), began)
                if left > 0:
                    time.sleep_ms(left)
        except KeyboardInterrupt:  # Ctrl-C on the console (mpremote), or SIGINT on the host
            pass
        log("stopped", buffered=len(self.buffer), dropped=self.buffer.dropped)


def main(path="config.json"):
    App(load_config(path)).run()
