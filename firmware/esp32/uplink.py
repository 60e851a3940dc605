# The two ways to Wattwise, one interface: send(batch) -> (delivered, commands),
# report(id, result) -> bool, poll() -> (commands, manifests). Contracts: see docs/devices.md.
import json
import time

import httpc

PREFIX = "wattwise"


def fetch_json(url, headers, timeout):
    status, body = httpc.request("GET", url, None, headers, timeout)
    return json.loads(body) if status == 200 else None


class HttpLink:
    def __init__(self, server, key, timeout=5):
        self.server = server.rstrip("/")
        self.headers = {"Authorization": "Bearer " + key}
        self.timeout = timeout

    def send(self, batch):
        status, body = httpc.request("POST", self.server + "/api/v1/ingest", batch, self.headers, self.timeout)
        if status in (200, 422):
            answer = json.loads(body) if body else {}
            return True, answer.get("commands") or [], status
        return False, [], status

    def report(self, command_id, result):
        url = "%s/api/v1/commands/%s/result" % (self.server, command_id)
        status, _ = httpc.request("POST", url, result, self.headers, self.timeout)
        return 200 <= status < 300 or status == 404

    def poll(self):
        return [], []

    def fetch_manifest(self, url):
        return fetch_json(url, self.headers, self.timeout)


class MqttLink:
    def __init__(self, host, port, device_id, key, keepalive=30):
        import mqttc

        self.nobody = mqttc.NO_MATCHING_SUBSCRIBERS
        self.base = "%s/%s" % (PREFIX, device_id)
        self.client = mqttc.Client(
            "wattwise-esp32-%s" % device_id, host, port, user=str(device_id), password=key, keepalive=keepalive
        )
        self.client.on_message = self._message
        self.connected = False
        self.retry_ms = 5000
        self.next_try = None  # after a failure, no reconnect before this (ticks_ms)
        self.commands = []
        self.manifests = []
        self.answers = []  # the server's confirmations of our batches
        self.confirm_ms = 3000

    def _message(self, topic, payload):
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if topic == self.base + "/ingest/result":
            self.answers.append(data)
        elif topic == self.base + "/commands":
            self.commands.extend(data if isinstance(data, list) else [data])
        elif topic == self.base + "/ota":
            self.manifests.append(data)

    def _ensure(self):
        if not self.connected:
            if self.next_try is not None and time.ticks_diff(self.next_try, time.ticks_ms()) > 0:
                raise OSError("broker unreachable, next try later")
            self.client.connect(clean=False)
            self.client.subscribe(self.base + "/commands", 1)
            self.client.subscribe(self.base + "/ota", 1)
            self.client.subscribe(self.base + "/ingest/result", 1)
            self.connected = True
            self.next_try = None

    def _guard(self, fn):
        try:
            self._ensure()
            fn()
            return True
        except OSError:
            self.client.close()
            if self.connected or self.next_try is None or time.ticks_diff(self.next_try, time.ticks_ms()) <= 0:
                self.next_try = time.ticks_add(time.ticks_ms(), self.retry_ms)
            self.connected = False
            return False

    def _publish(self, topic, body):
        """True once the broker took it and someone (the server) subscribed."""
        reason = []
        if not self._guard(lambda: reason.append(self.client.publish(topic, json.dumps(body), 1))):
            return False, "offline"
        if reason[0] == self.nobody:
            return False, "no subscriber: the server is not listening"
        if reason[0] >= 0x80:
            return False, "broker refused (reason %d)" % reason[0]
        return True, "PUBACK"

    def send(self, batch):
        """Delivered once the server confirmed the batch on ingest/result, as over HTTP:
        a PUBACK is the broker's word only, and a server stopping loses what it had in flight."""
        self.answers = []
        ok, detail = self._publish(self.base + "/readings", batch)
        if not ok:
            return False, [], detail
        deadline = time.ticks_add(time.ticks_ms(), self.confirm_ms)
        while not self.answers:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return False, [], "the server did not confirm the batch"
            if not self._guard(lambda: self.client.wait_msg(min(left, 100))):
                return False, [], "offline"
        answer = self.answers.pop(0)
        counted = (answer.get("accepted") or 0) + (answer.get("duplicates") or 0) + len(answer.get("rejected") or [])
        if counted != len(batch):
            return False, [], "the server's answer counts %d of %d readings" % (counted, len(batch))
        return True, [], "confirmed"

    def report(self, command_id, result):
        body = dict(result)
        body["id"] = command_id
        return self._publish(self.base + "/commands/result", body)[0]

    def poll(self):
        self._guard(self.client.check_msg)
        commands, manifests = self.commands, self.manifests
        self.commands, self.manifests = [], []
        return commands, manifests

    def fetch_manifest(self, url):
        return fetch_json(url, {}, 5)
