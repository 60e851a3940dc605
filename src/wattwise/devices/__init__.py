"""Talking to meters: the PZEM-004T driver and emulator, the serial gateway, the household simulator."""
