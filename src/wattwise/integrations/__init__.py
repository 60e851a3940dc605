"""Wattwise seen from other systems over MQTT (Home Assistant discovery)."""
