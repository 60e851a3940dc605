# PZEM-004T v3 over a UART (MicroPython). Framing as in wattwise.devices.modbus_frames.
import struct
import time


class PzemError(Exception):
    pass


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def frame(body):
    return bytes(body) + struct.pack("<H", crc16(body))


class Pzem:
    """One meter on a UART: read() -> dict of the ten input registers; reset_energy()."""

    def __init__(self, uart, address=1, timeout_ms=200, retries=2):
        self.uart = uart
        self.address = address
        self.timeout_ms = timeout_ms
        self.retries = retries

    def _receive(self, n):
        got = b""
        start = time.ticks_ms()
        while len(got) < n and time.ticks_diff(time.ticks_ms(), start) < self.timeout_ms:
            chunk = self.uart.read(n - len(got))
            if chunk:
                got += chunk
            else:
                time.sleep_ms(2)
        return got

    def _drain(self):
        while self.uart.read(64):
            pass

    def _ask(self, request, reply_len):
        error = None
        for attempt in range(self.retries + 1):
            self._drain()
            self.uart.write(request)
            reply = self._receive(reply_len)
            if len(reply) >= 5 and reply[1] & 0x80 and crc16(reply[:3]) == struct.unpack("<H", reply[3:5])[0]:
                raise PzemError("exception code %d" % reply[2])
            if len(reply) < reply_len:
                error = "timeout" if not reply else "short answer (%d of %d bytes)" % (len(reply), reply_len)
            elif crc16(reply[:-2]) != struct.unpack("<H", reply[-2:])[0]:
                error = "bad CRC"
            elif reply[0] != self.address or reply[1] != request[1]:
                error = "answer from address %d function %d" % (reply[0], reply[1])
            else:
                return reply
            time.sleep_ms(20 << attempt)
        raise PzemError(error)

    def read(self):
        reply = self._ask(frame(struct.pack(">BBHH", self.address, 4, 0, 10)), 25)
        r = struct.unpack(">10H", reply[3:23])
        return {
            "voltage": r[0] / 10,
            "current": ((r[2] << 16) | r[1]) / 1000,
            "power": ((r[4] << 16) | r[3]) / 10,
            "energy": float((r[6] << 16) | r[5]),
            "frequency": r[7] / 10,
            "pf": r[8] / 100,
            "alarm": r[9] == 0xFFFF,
        }

    def reset_energy(self):
        request = frame(bytes((self.address, 0x42)))
        self._ask(request, 4)
