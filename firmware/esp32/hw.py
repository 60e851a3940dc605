# The board: ESP32 peripherals through `machine`, or stand-ins on the MicroPython unix port
# (used by the host tests): the PZEM's UART becomes a TCP link to the Wattwise emulator,
# the relay pin and the watchdog keep their state in memory, and Wi-Fi/NTP are no-ops.
import sys
import time

try:
    import machine

    ON_DEVICE = hasattr(machine, "UART")
except ImportError:
    machine = None
    ON_DEVICE = False

EPOCH_2000_S = 946684800  # older ESP32 ports count from 2000-01-01
_EPOCH_OFFSET_MS = EPOCH_2000_S * 1000 if time.gmtime(0)[0] == 2000 else 0


def now_ms():
    """Unix time in ms, or 0 while the clock is not set (the server then stamps arrival)."""
    if time.gmtime()[0] < 2024:
        return 0
    return time.time_ns() // 1000000 + _EPOCH_OFFSET_MS


class Relay:
    def __init__(self, pin, active_low=True):
        self.pin = pin
        self.active_low = active_low
        self.on()

    def on(self):
        self.pin.value(0 if self.active_low else 1)

    def off(self):
        self.pin.value(1 if self.active_low else 0)

    def value(self):
        return 1 if self.pin.value() == (0 if self.active_low else 1) else 0


class HostPin:
    def __init__(self):
        self._v = 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = v


class TcpUart:
    """A UART whose other end is the emulator's TCP-serial bridge."""

    def __init__(self, hostport):
        import select
        import socket

        host, _, port = hostport.partition(":")
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(host, int(port), 0, socket.SOCK_STREAM)[0][-1])
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)

    def write(self, data):
        self.sock.setblocking(True)
        self.sock.write(data)
        self.sock.setblocking(False)

    def read(self, n):
        if not self.poller.poll(0):
            return None
        return self.sock.read(n) or None


class HostWatchdog:
    """Like machine.WDT: a feed later than the timeout means the board would have reset."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.last = time.ticks_ms()
        self.feeds = 0

    def feed(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self.last) > self.timeout_ms:
            print('{"event": "watchdog_reset"}')
            sys.exit(4)
        self.last = now
        self.feeds += 1


def open_uart(cfg):
    if ON_DEVICE:
        return machine.UART(
            cfg.get("uart", 2),
            baudrate=9600,
            bits=8,
            parity=None,
            stop=1,
            tx=cfg.get("tx", 17),
            rx=cfg.get("rx", 16),
            timeout=0,
        )
    return TcpUart(cfg["tcp"])


def relay(cfg):
    pin = machine.Pin(cfg["pin"], machine.Pin.OUT) if ON_DEVICE else HostPin()
    return Relay(pin, cfg.get("active_low", True))


def watchdog(timeout_ms):
    return machine.WDT(timeout=timeout_ms) if ON_DEVICE else HostWatchdog(timeout_ms)


def connect_network(cfg, wdt, timeout_s=20):
    if not ON_DEVICE:
        return True
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg["ssid"], cfg["password"])
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < timeout_s * 1000:
            wdt.feed()
            time.sleep_ms(200)
    return wlan.isconnected()


def sync_clock():
    if not ON_DEVICE:
        return
    try:
        import ntptime

        ntptime.settime()
    except Exception as exc:  # no NTP yet: readings go without ts until it works
        print('{"event": "ntp_failed", "detail": "%s"}' % exc)


def reset():
    if ON_DEVICE:
        machine.reset()
    sys.exit(3)
