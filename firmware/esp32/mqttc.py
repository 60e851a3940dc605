# A small MQTT 3.1.1 client (QoS 0/1 publish with PUBACK, QoS 1 subscribe, keepalive),
# the part of umqtt.simple the firmware needs, so the same code runs on the unix port.
import select
import socket
import struct
import time


class MQTTError(OSError):
    pass


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def _packet(kind, body):
    n = len(body)
    size = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        size += bytes((byte | (0x80 if n else 0),))
        if not n:
            break
    return bytes((kind,)) + size + body


class Client:
    def __init__(self, client_id, host, port=1883, user=None, password=None, keepalive=30):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.sock = None
        self.pid = 0
        self.on_message = None
        self.last_io = 0

    def connect(self, clean=False, timeout=5):
        addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        flags = 0 if not clean else 0x02
        payload = _str(self.client_id)
        if self.user is not None:
            flags |= 0x80
            payload += _str(self.user)
            if self.password is not None:
                flags |= 0x40
                payload += _str(self.password)
        var = _str("MQTT") + bytes((4, flags)) + struct.pack(">H", self.keepalive)
        self.sock.write(_packet(0x10, var + payload))
        kind, body = self._read_packet()
        if kind != 0x20 or body[1] != 0:
            raise MQTTError("CONNACK refused (code %d)" % (body[1] if len(body) > 1 else -1))
        self.last_io = time.ticks_ms()
        return body[0] & 1  # session present

    def close(self):
        if self.sock:
            try:
                self.sock.write(b"\xe0\x00")
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def _read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.read(n - len(data))
            if not chunk:
                raise MQTTError("connection lost")
            data += chunk
        return data

    def _read_packet(self):
        kind = self._read_exact(1)[0]
        n = 0
        shift = 0
        while True:
            b = self._read_exact(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return kind, self._read_exact(n) if n else b""

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _handle(self, kind, body):
        """Deal with one incoming packet; returns the packet id of a PUBACK/SUBACK."""
        if kind & 0xF0 == 0x30:
            qos = (kind >> 1) & 3
            tlen = struct.unpack(">H", body[:2])[0]
            topic = body[2 : 2 + tlen].decode()
            pos = 2 + tlen
            if qos:
                pid = struct.unpack(">H", body[pos : pos + 2])[0]
                pos += 2
            if self.on_message:
                self.on_message(topic, body[pos:])
            if qos == 1:
                self.sock.write(b"\x40\x02" + struct.pack(">H", pid))
            return None
        if kind in (0x40, 0x90):
            return struct.unpack(">H", body[:2])[0]
        return None

    def _wait_for(self, pid, timeout_ms=5000):
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            kind, body = self._read_packet()
            if self._handle(kind, body) == pid:
                return True
        raise MQTTError("no acknowledgement for packet %d" % pid)

    def publish(self, topic, msg, qos=1):
        body = _str(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += struct.pack(">H", pid)
        self.sock.write(_packet(0x30 | (qos << 1), body + (msg.encode() if isinstance(msg, str) else msg)))
        self.last_io = time.ticks_ms()
        if qos:
            self._wait_for(pid)

    def subscribe(self, topic, qos=1):
        pid = self._next_pid()
        self.sock.write(_packet(0x82, struct.pack(">H", pid) + _str(topic) + bytes((qos,))))
        self._wait_for(pid)

    def check_msg(self):
        """Handle whatever has arrived, without waiting; ping when the keepalive is due."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while poller.poll(0):
            kind, body = self._read_packet()
            self._handle(kind, body)
        if time.ticks_diff(time.ticks_ms(), self.last_io) > self.keepalive * 500:
            self.sock.write(b"\xc0\x00")
            self.last_io = time.ticks_ms()
