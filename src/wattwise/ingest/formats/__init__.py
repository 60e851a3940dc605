"""Payload formats of other firmware, each mapped onto our reading fields."""
