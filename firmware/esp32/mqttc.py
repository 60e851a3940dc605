# A small MQTT 5 client (QoS 0/1 publish with PUBACK, QoS 1 subscribe, keepalive, a session
# kept by the broker), enough for the firmware and the same on the unix port. MQTT 5 rather
# than 3.1.1 because its PUBACK tells "no matching subscribers": readings published while
# the server is not listening are then kept in the ring instead of being dropped by the broker.
import select
import socket
import struct
import time

NO_MATCHING_SUBSCRIBERS = 0x10
SESSION_EXPIRY_S = 7 * 24 * 3600


class MQTTError(OSError):
    pass


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def _varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        out += bytes((byte | (0x80 if n else 0),))
        if not n:
            return out


def _read_varint(buf, pos):
    n = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def _packet(kind, body):
    return bytes((kind,)) + _varint(len(body)) + body


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
        self.acks = {}

    def connect(self, clean=False, timeout=5):
        addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        flags = 0x02 if clean else 0
        payload = _str(self.client_id)
        if self.user is not None:
            flags |= 0x80
            payload += _str(self.user)
            if self.password is not None:
                flags |= 0x40
                payload += _str(self.password)
        props = b"\x11" + struct.pack(">I", SESSION_EXPIRY_S)  # keep our session (commands)
        var = _str("MQTT") + bytes((5, flags)) + struct.pack(">H", self.keepalive) + _varint(len(props)) + props
        self.sock.write(_packet(0x10, var + payload))
        kind, body = self._read_packet()
        if kind != 0x20 or len(body) < 2 or body[1] != 0:
            raise MQTTError("CONNACK refused (reason %d)" % (body[1] if len(body) > 1 else -1))
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
        """Deal with one incoming packet; acknowledgements are noted in self.acks."""
        if kind & 0xF0 == 0x30:
            qos = (kind >> 1) & 3
            tlen = struct.unpack(">H", body[:2])[0]
            topic = body[2 : 2 + tlen].decode()
            pos = 2 + tlen
            pid = 0
            if qos:
                pid = struct.unpack(">H", body[pos : pos + 2])[0]
                pos += 2
            plen, pos = _read_varint(body, pos)  # properties: not needed here
            if self.on_message:
                self.on_message(topic, body[pos + plen :])
            if qos == 1:
                self.sock.write(b"\x40\x02" + struct.pack(">H", pid))
        elif kind == 0x40:  # PUBACK: packet id, then a reason code when not plain success
            self.acks[struct.unpack(">H", body[:2])[0]] = body[2] if len(body) > 2 else 0
        elif kind == 0x90:  # SUBACK: packet id, properties, reason codes
            plen, pos = _read_varint(body, 2)
            self.acks[struct.unpack(">H", body[:2])[0]] = body[pos + plen] if len(body) > pos + plen else 0

    def _wait_for(self, pid, timeout_ms=5000):
        start = time.ticks_ms()
        while pid not in self.acks:
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                raise MQTTError("no acknowledgement for packet %d" % pid)
            kind, body = self._read_packet()
            self._handle(kind, body)
        return self.acks.pop(pid)

    def publish(self, topic, msg, qos=1):
        """Publish; with QoS 1 returns the PUBACK's reason code (0, or 0x10 when nobody listens)."""
        body = _str(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += struct.pack(">H", pid)
        body += b"\x00"  # no properties
        self.sock.write(_packet(0x30 | (qos << 1), body + (msg.encode() if isinstance(msg, str) else msg)))
        self.last_io = time.ticks_ms()
        if qos:
            return self._wait_for(pid)
        return 0

    def subscribe(self, topic, qos=1):
        pid = self._next_pid()
        self.sock.write(_packet(0x82, struct.pack(">H", pid) + b"\x00" + _str(topic) + bytes((qos,))))
        reason = self._wait_for(pid)
        if reason > 2:
            raise MQTTError("SUBACK refused %s (reason %d)" % (topic, reason))

    def wait_msg(self, timeout_ms):
        """Handle one incoming packet if it comes within ``timeout_ms``; whether one came."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if not poller.poll(timeout_ms):
            return False
        kind, body = self._read_packet()
        self._handle(kind, body)
        return True

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
