# A bounded ring of readings in flash: oldest dropped first when full, and counted.
# File: header (magic, capacity, head, count, dropped) then fixed 32-byte slots
# (ts ms u64, then voltage, current, power, energy, frequency, pf as float32).
import struct

HEADER = "<4sIIII"
HEADER_SIZE = struct.calcsize(HEADER)
SLOT = "<Qffffff"
SLOT_SIZE = struct.calcsize(SLOT)
FIELDS = ("voltage", "current", "power", "energy", "frequency", "pf")
DECIMALS = (1, 3, 1, 0, 1, 2)  # the PZEM's resolution: float32 storage loses nothing of it


class Ring:
    def __init__(self, path, capacity):
        self.path = path
        try:
            with open(path, "rb") as f:
                magic, cap, head, count, dropped = struct.unpack(HEADER, f.read(HEADER_SIZE))
            if magic != b"WWRB" or cap != capacity:
                raise ValueError("another layout")
            self.capacity, self.head, self.count, self.dropped = cap, head, count, dropped
        except (OSError, ValueError):
            self.capacity, self.head, self.count, self.dropped = capacity, 0, 0, 0
            with open(path, "wb") as f:
                f.write(struct.pack(HEADER, b"WWRB", capacity, 0, 0, 0))

    def __len__(self):
        return self.count

    def _header(self, f):
        f.seek(0)
        f.write(struct.pack(HEADER, b"WWRB", self.capacity, self.head, self.count, self.dropped))

    def append(self, reading):
        slot = (self.head + self.count) % self.capacity
        if self.count == self.capacity:
            self.head = (self.head + 1) % self.capacity
            self.dropped += 1
        else:
            self.count += 1
        values = [float(reading.get(k) or 0.0) for k in FIELDS]
        with open(self.path, "r+b") as f:
            f.seek(HEADER_SIZE + slot * SLOT_SIZE)
            f.write(struct.pack(SLOT, int(reading.get("ts") or 0), *values))
            self._header(f)

    def peek(self, n):
        out = []
        with open(self.path, "rb") as f:
            for i in range(min(n, self.count)):
                f.seek(HEADER_SIZE + ((self.head + i) % self.capacity) * SLOT_SIZE)
                raw = struct.unpack(SLOT, f.read(SLOT_SIZE))
                reading = {}
                if raw[0]:
                    reading["ts"] = raw[0]
                for k, d, v in zip(FIELDS, DECIMALS, raw[1:]):
                    reading[k] = round(v, d)
                out.append(reading)
        return out

    def drop(self, n):
        n = min(n, self.count)
        self.head = (self.head + n) % self.capacity
        self.count -= n
        with open(self.path, "r+b") as f:
            self._header(f)
