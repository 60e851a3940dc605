"""Serial gateway: PZEM meters on a USB RS-485 adapter, forwarded to Wattwise."""

from wattwise.devices.gateway.queue import DiskQueue
from wattwise.devices.gateway.service import Gateway, GatewayConfig, parse_meters
from wattwise.devices.gateway.uplink import HttpUplink, MeterLink, MqttUplink

__all__ = [
    "DiskQueue",
    "Gateway",
    "GatewayConfig",
    "HttpUplink",
    "MeterLink",
    "MqttUplink",
    "parse_meters",
]
